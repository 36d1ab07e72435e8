//! OVH's access-rule matching, as the client needs it to tell what the current credential may
//! call (`karpenter-ovhcloud ovh check`): a rule grants a request when its method is the
//! request's (case aside) and its path glob matches the whole path, `*` standing for any run of
//! characters, `/` included, the empty run too. No other character is special.
//!
//! The simulator (`sim/src/ovh/auth.rs`) has its own implementation of the same rule, on
//! purpose: it judges the client, and a function shared by both would hide a bug on both sides
//! at once. This one is also kept out of the simulator's crate so that the production image,
//! built without the `simulators` feature, has it.

/// Whether a rule of `rule_method` on `rule_path` grants `method path`: same method (ASCII case
/// ignored) and `rule_path` matching all of `path` (see [`path_matches`]).
pub fn grants(rule_method: &str, rule_path: &str, method: &str, path: &str) -> bool {
    rule_method.eq_ignore_ascii_case(method) && path_matches(rule_path, path)
}

/// Whether the glob `pattern` matches all of `path`: `*` matches any sequence of characters
/// (`/` included, possibly empty), every other character itself.
///
/// The pattern is cut at its stars: the first piece must start the path, the last one end it,
/// and the pieces between must occur in order in what lies between, without overlapping. Taking
/// each middle piece at its leftmost occurrence is enough: it leaves the most room to the rest.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut pieces = pattern.split('*');
    // `split` yields at least one piece; with no star there is exactly one.
    let first = pieces.next().unwrap_or("");
    let Some(rest) = path.strip_prefix(first) else {
        return false;
    };
    let mut middle: Vec<&str> = pieces.collect();
    let Some(last) = middle.pop() else {
        // No star: the pattern is the path.
        return rest.is_empty();
    };
    // The last piece is anchored at the end; the prefix already consumed cannot be reused.
    let Some(mut between) = rest.strip_suffix(last) else {
        return false;
    };
    for piece in middle {
        match between.find(piece) {
            Some(at) => between = &between[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_star_the_pattern_is_the_path() {
        assert!(path_matches("/cloud/project", "/cloud/project"));
        assert!(!path_matches("/cloud/project", "/cloud/project/"));
        assert!(!path_matches("/cloud/project", "/cloud/projec"));
        assert!(!path_matches("/cloud/project", "/CLOUD/project"));
        assert!(path_matches("", ""));
        assert!(!path_matches("", "/"));
    }

    #[test]
    fn a_star_matches_any_run_slashes_and_the_empty_one_included() {
        assert!(path_matches("/*", "/cloud/project/abc/kube/def/nodepool"));
        assert!(path_matches("/*", "/"));
        assert!(!path_matches("/*", ""));
        assert!(path_matches("*", ""));
        assert!(path_matches("**", "anything/at/all"));
        let rule = "/cloud/project/*/kube/*/nodepool";
        assert!(path_matches(rule, "/cloud/project/p1/kube/k1/nodepool"));
        // `*` crosses `/`, as OVH's rules do.
        assert!(path_matches(
            rule,
            "/cloud/project/p1/kube/x/kube/k1/nodepool"
        ));
        assert!(path_matches(rule, "/cloud/project//kube//nodepool"));
        assert!(!path_matches(rule, "/cloud/project/p1/kube/k1/nodepool/n1"));
        assert!(!path_matches(rule, "/cloud/project/p1/kube/k1/nodepools"));
        assert!(!path_matches(rule, "/cloud/project/p1/kube/k1"));
    }

    #[test]
    fn a_trailing_star_covers_everything_below() {
        let rule = "/cloud/project/*/kube/*";
        assert!(path_matches(rule, "/cloud/project/p1/kube/k1"));
        assert!(path_matches(
            rule,
            "/cloud/project/p1/kube/k1/nodepool/n1/nodes"
        ));
        assert!(path_matches(rule, "/cloud/project/p1/kube/"));
        assert!(!path_matches(rule, "/cloud/project/p1/kube"));
        assert!(!path_matches(
            rule,
            "/cloud/project/p1/capabilities/flavors"
        ));
        // The first `*` crosses `/` too: any `/kube/` further down will do.
        assert!(path_matches(
            rule,
            "/cloud/project/p1/capabilities/kube/flavors"
        ));
    }

    #[test]
    fn the_prefix_and_the_suffix_do_not_share_characters() {
        assert!(!path_matches("a*a", "a"));
        assert!(path_matches("a*a", "aa"));
        assert!(!path_matches("ab*ba", "aba"));
        assert!(path_matches("ab*ba", "abba"));
        assert!(path_matches("a*b*a", "aba"));
        assert!(!path_matches("a*b*a", "aa"));
        // A middle piece may not reach into the suffix.
        assert!(!path_matches("/x*ab*b", "/xab"));
        assert!(path_matches("/x*ab*b", "/xabb"));
    }

    #[test]
    fn the_method_must_match_its_case_aside() {
        let path = "/cloud/project/p1/kube/k1/nodepool";
        assert!(grants(
            "POST",
            "/cloud/project/*/kube/*/nodepool",
            "POST",
            path
        ));
        assert!(grants(
            "post",
            "/cloud/project/*/kube/*/nodepool",
            "POST",
            path
        ));
        assert!(!grants(
            "GET",
            "/cloud/project/*/kube/*/nodepool",
            "POST",
            path
        ));
        assert!(!grants(
            "POST",
            "/cloud/project/*/kube/*/nodepool",
            "POST",
            "/me"
        ));
    }

    /// The definition, by recursion on the pattern: slow, obviously right.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| reference(rest, &text[i..])),
            Some((c, rest)) => text.first() == Some(c) && reference(rest, &text[1..]),
        }
    }

    /// Every string of `alphabet` up to `max` characters long.
    fn strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_the_definition_on_every_short_pattern_and_path() {
        let patterns = strings(&['a', '/', '*'], 6);
        let paths = strings(&['a', 'b', '/'], 5);
        for pattern in &patterns {
            for path in &paths {
                assert_eq!(
                    path_matches(pattern, path),
                    reference(pattern.as_bytes(), path.as_bytes()),
                    "pattern {pattern:?}, path {path:?}"
                );
            }
        }
    }
}
