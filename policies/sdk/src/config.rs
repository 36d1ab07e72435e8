//! The policy's own JSON configuration (`data.config.json` of its ConfigMap).
//!
//! A small strict JSON reader instead of `serde_json`: configs are a handful of fields, and
//! `serde_json` (with the float formatting its error messages pull in) would triple the size
//! of a component. Read a config with [`Config::parse`], take each field with a typed
//! accessor, then call [`Config::finish`], which refuses fields nobody took (typos).
//!
//! ```
//! use karpenter_ovhcloud_policy_sdk::config::Config;
//!
//! let mut cfg = Config::parse(r#"{"maxFlavors": 3, "zones": ["a", "b"]}"#).unwrap();
//! assert_eq!(cfg.u32("maxFlavors").unwrap(), Some(3));
//! assert_eq!(cfg.strings("zones").unwrap(), Some(vec!["a".to_string(), "b".to_string()]));
//! assert_eq!(cfg.f64("threshold").unwrap(), None);
//! cfg.finish().unwrap();
//!
//! let mut typo = Config::parse(r#"{"maxFlavor": 3}"#).unwrap();
//! assert_eq!(typo.u32("maxFlavors").unwrap(), None);
//! assert_eq!(typo.finish().unwrap_err(), "invalid policy config: unknown field `maxFlavor`");
//! ```

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written (so integers stay exact).
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object: its members in document order.
    Object(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Nesting deeper than this is refused (no config needs it; it bounds recursion).
const MAX_DEPTH: usize = 32;

/// Parses one JSON document (RFC 8259; surrounding whitespace allowed).
pub fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.i)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end")),
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a field name"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(self.err("expected `:`"));
                    }
                    let v = self.value(depth + 1)?;
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(format!("duplicate field `{key}`"));
                    }
                    fields.push((key, v));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Object(fields));
                    }
                    return Err(self.err("expected `,` or `}`"));
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Array(items));
                    }
                    return Err(self.err("expected `,` or `]`"));
                }
            }
            Some(b'"') => self.string().map(Json::String),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i > from
        };
        self.eat("-");
        let int_start = self.i;
        if !digits(self) || (self.s[int_start] == b'0' && self.i - int_start > 1) {
            return Err(self.err("malformed number"));
        }
        if self.eat(".") && !digits(self) {
            return Err(self.err("malformed number"));
        }
        if self.eat("e") || self.eat("E") {
            if !self.eat("+") {
                self.eat("-");
            }
            if !digits(self) {
                return Err(self.err("malformed number"));
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i])
            .map_err(|_| self.err("malformed number"))?;
        Ok(Json::Number(text.to_string()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp) && self.eat("\\u") {
                                let low = self.hex4()?;
                                if (0xdc00..0xe000).contains(&low) {
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                                }
                            }
                            out.push(char::from_u32(cp).ok_or_else(|| self.err("bad \\u escape"))?);
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                0..=0x1f => return Err(self.err("control character in string")),
                _ => {
                    // Copy the whole UTF-8 sequence (the input is a &str, so it is valid).
                    let start = self.i - 1;
                    let len = match c {
                        0xf0..=0xff => 4,
                        0xe0..=0xef => 3,
                        0xc0..=0xdf => 2,
                        _ => 1,
                    };
                    let end = (start + len).min(self.s.len());
                    out.push_str(
                        std::str::from_utf8(&self.s[start..end])
                            .map_err(|_| self.err("invalid UTF-8"))?,
                    );
                    self.i = end;
                }
            }
        }
    }
}

/// A policy config being read: a JSON object whose fields are taken one by one.
#[derive(Debug, Clone, Default)]
pub struct Config {
    fields: Vec<(String, Json)>,
}

fn invalid(msg: String) -> String {
    format!("invalid policy config: {msg}")
}

impl Config {
    /// Parses a config: "" (or blank) is an empty object; anything else must be a JSON object.
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        match parse_json(text).map_err(invalid)? {
            Json::Object(fields) => Ok(Config { fields }),
            other => Err(invalid(format!(
                "expected an object, found {}",
                other.kind()
            ))),
        }
    }

    /// Takes field `key` (null counts as absent).
    pub fn take(&mut self, key: &str) -> Option<Json> {
        let i = self.fields.iter().position(|(k, _)| k == key)?;
        match self.fields.remove(i).1 {
            Json::Null => None,
            v => Some(v),
        }
    }

    fn number(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Number(n)) => Ok(Some(n)),
            Some(other) => Err(invalid(format!(
                "`{key}` must be a number, not {}",
                other.kind()
            ))),
        }
    }

    /// Field `key` as an unsigned 64-bit integer.
    pub fn u64(&mut self, key: &str) -> Result<Option<u64>, String> {
        self.number(key)?
            .map(|n| {
                n.parse().map_err(|_| {
                    invalid(format!("`{key}` must be a non-negative integer, not {n}"))
                })
            })
            .transpose()
    }

    /// Field `key` as an unsigned 32-bit integer.
    pub fn u32(&mut self, key: &str) -> Result<Option<u32>, String> {
        self.number(key)?
            .map(|n| {
                n.parse().map_err(|_| {
                    invalid(format!(
                        "`{key}` must be an integer from 0 to 4294967295, not {n}"
                    ))
                })
            })
            .transpose()
    }

    /// Field `key` as a finite number.
    pub fn f64(&mut self, key: &str) -> Result<Option<f64>, String> {
        self.number(key)?
            .map(|n| match n.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(invalid(format!("`{key}` must be a finite number, not {n}"))),
            })
            .transpose()
    }

    /// Field `key` as a boolean.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(invalid(format!(
                "`{key}` must be a boolean, not {}",
                other.kind()
            ))),
        }
    }

    /// Field `key` as a string.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(format!(
                "`{key}` must be a string, not {}",
                other.kind()
            ))),
        }
    }

    /// Field `key` as an array of strings.
    pub fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Json::String(s) => Ok(s),
                    other => Err(invalid(format!(
                        "`{key}` must hold strings, not {}",
                        other.kind()
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(invalid(format!(
                "`{key}` must be an array, not {}",
                other.kind()
            ))),
        }
    }

    /// Refuses the fields no accessor took.
    pub fn finish(self) -> Result<(), String> {
        match self.fields.first() {
            None => Ok(()),
            Some((k, _)) => Err(invalid(format!("unknown field `{k}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json() {
        let v = parse_json(
            r#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"\u00e9\ud83d\ude00\n"}} "#,
        )
        .unwrap();
        let Json::Object(f) = v else { panic!() };
        assert_eq!(
            f[0].1,
            Json::Array(vec![
                Json::Number("1".into()),
                Json::Number("-2.5e3".into()),
                Json::Bool(true),
                Json::Bool(false),
                Json::Null
            ])
        );
        assert_eq!(
            f[1].1,
            Json::Object(vec![("c".into(), Json::String("x\"é😀\n".into()))])
        );
        assert_eq!(
            parse_json("\"héllo\"").unwrap(),
            Json::String("héllo".into())
        );
    }

    #[test]
    fn refuses_malformed_json() {
        for bad in [
            "{",
            "{\"a\" 1}",
            "{\"a\": 1,}",
            "[1 2]",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"abc",
            "\"\\x\"",
            "{\"a\": 1} x",
            "{\"a\": 1, \"a\": 2}",
            "\"\u{1}\"",
            "",
        ] {
            assert!(parse_json(bad).is_err(), "{bad:?} should be refused");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse_json(&deep).unwrap_err().contains("too deep"));
    }

    #[test]
    fn typed_fields() {
        let mut c = Config::parse(
            r#"{"n": 42, "big": 5000000000, "f": 0.25, "b": true, "s": "x", "l": ["a"], "z": null}"#,
        )
        .unwrap();
        assert_eq!(c.u32("n").unwrap(), Some(42));
        assert!(c.u32("big").unwrap_err().contains("from 0 to 4294967295"));
        assert_eq!(c.f64("f").unwrap(), Some(0.25));
        assert_eq!(c.bool("b").unwrap(), Some(true));
        assert_eq!(c.string("s").unwrap(), Some("x".into()));
        assert_eq!(c.strings("l").unwrap(), Some(vec!["a".into()]));
        assert_eq!(c.u64("z").unwrap(), None);
        c.finish().unwrap();

        let mut c = Config::parse(r#"{"n": -1, "f": "x", "l": [1]}"#).unwrap();
        assert!(c
            .u64("n")
            .unwrap_err()
            .contains("non-negative integer, not -1"));
        assert!(c
            .f64("f")
            .unwrap_err()
            .contains("must be a number, not a string"));
        assert!(c.strings("l").unwrap_err().contains("must hold strings"));
        assert!(Config::parse("[1]")
            .unwrap_err()
            .contains("expected an object"));
        assert!(Config::parse("{")
            .unwrap_err()
            .starts_with("invalid policy config:"));
        assert!(Config::parse("  ").unwrap().finish().is_ok());
        assert!(Config::parse(r#"{"f": 1e999}"#).unwrap().f64("f").is_err());
    }
}
