//! The client's access-rule matching (`karpenter_ovhcloud::ovh::glob`) and the simulator's
//! (`sim/src/ovh/auth.rs`) are written apart on purpose; here they must agree, on the guide's
//! rules against the paths the controller calls and on every short pattern and path.

use karpenter_ovhcloud::ovh::AccessRule;
use karpenter_ovhcloud_sim::ovh::auth;

fn both(method: &str, pattern: &str, req_method: &str, path: &str) -> (bool, bool) {
    let client = AccessRule {
        method: method.to_string(),
        path: pattern.to_string(),
    }
    .grants(req_method, path);
    let sim = auth::AccessRule::new(method, pattern).grants(req_method, path);
    (client, sim)
}

#[test]
fn client_and_simulator_agree_on_the_guides_rules() {
    let paths = [
        "/cloud/project/p1/kube/k1",
        "/cloud/project/p1/kube/k1/nodepool",
        "/cloud/project/p1/kube/k1/nodepool/n1",
        "/cloud/project/p1/kube/k1/nodepool/n1/nodes",
        "/cloud/project/p1/kube/k1/flavors",
        "/cloud/project/p1/capabilities/kube/flavors",
        "/cloud/project/p1/capabilities/kube/regions",
        "/auth/currentCredential",
        "/me",
    ];
    for rule in auth::guide_rules().iter().chain(&auth::all_rules()) {
        for method in ["GET", "POST", "PUT", "DELETE", "get"] {
            for path in paths {
                let (client, sim) = both(&rule.method, &rule.path, method, path);
                assert_eq!(client, sim, "{rule:?} on {method} {path}");
            }
        }
    }
}

#[test]
fn client_and_simulator_agree_on_every_short_pattern_and_path() {
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
    for pattern in strings(&['a', '/', '*'], 5) {
        for path in strings(&['a', 'b', '/'], 5) {
            let (client, sim) = both("GET", &pattern, "GET", &path);
            assert_eq!(client, sim, "pattern {pattern:?}, path {path:?}");
        }
    }
}
