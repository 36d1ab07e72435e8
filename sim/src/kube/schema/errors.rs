//! Field errors as kube-apiserver 1.32 prints them (`k8s.io/apimachinery/pkg/util/validation/field`):
//! `<field>: <Type>[: <value>][: <detail>]`, with Go's `%q` / `%v` / `%#v` value printing.

use serde_json::Value;
use std::fmt;

/// The type of a field error, which gives the cause's `reason` and the body's first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `Required value` (`FieldValueRequired`).
    Required,
    /// `Unsupported value` (`FieldValueNotSupported`).
    NotSupported,
    /// `Too long` (`FieldValueTooLong`).
    TooLong,
    /// `Too many` (`FieldValueTooMany`).
    TooMany,
    /// `Duplicate value` (`FieldValueDuplicate`).
    Duplicate,
    /// `Invalid value` (`FieldValueInvalid`).
    Invalid,
    /// `Invalid value` (`FieldValueTypeInvalid`).
    TypeInvalid,
    /// `Forbidden` (`FieldValueForbidden`).
    Forbidden,
}

impl ErrorType {
    /// The cause's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
            ErrorType::Forbidden => "FieldValueForbidden",
        }
    }

    /// The first words of the error body.
    pub fn text(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::Forbidden => "Forbidden",
        }
    }

    /// Whether this error keeps the CEL rules from running (`hasBlockingErr`).
    pub fn blocking(self) -> bool {
        matches!(
            self,
            ErrorType::NotSupported
                | ErrorType::Required
                | ErrorType::TooLong
                | ErrorType::TooMany
                | ErrorType::TypeInvalid
        )
    }
}

/// The bad value of a field error, as Go would print it.
#[derive(Debug, Clone, PartialEq)]
pub enum BadValue {
    /// Not printed.
    Omit,
    /// `nil`: printed `"null"`.
    Null,
    /// A string, printed with `%q`.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float, printed with `%v`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Anything else, pre-rendered (`%#v` of maps and lists).
    Raw(String),
}

impl BadValue {
    /// The value of a JSON scalar (objects and arrays as Go's `%#v` would print them).
    pub fn of(v: &Value) -> BadValue {
        match v {
            Value::Null => BadValue::Null,
            Value::Bool(b) => BadValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => BadValue::Int(i),
                None => BadValue::Float(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => BadValue::Str(s.clone()),
            other => BadValue::Raw(go_sharp_v(other)),
        }
    }

    fn render(&self) -> Option<String> {
        match self {
            BadValue::Omit => None,
            BadValue::Null => Some("\"null\"".into()),
            BadValue::Str(s) => Some(go_quote(s)),
            BadValue::Int(i) => Some(i.to_string()),
            BadValue::Float(f) => Some(go_float(*f)),
            BadValue::Bool(b) => Some(b.to_string()),
            BadValue::Raw(r) => Some(r.clone()),
        }
    }
}

/// One field error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Its type.
    pub kind: ErrorType,
    /// The field path (`spec.x[0].y`; `<nil>` for none).
    pub field: String,
    /// The bad value.
    pub value: BadValue,
    /// The detail, after the value.
    pub detail: String,
}

impl FieldError {
    /// A new error.
    pub fn new(
        kind: ErrorType,
        field: impl Into<String>,
        value: BadValue,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    /// `Required value`.
    pub fn required(field: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, BadValue::Omit, "")
    }

    /// `Invalid value: <v>: <detail>`.
    pub fn invalid(field: impl Into<String>, value: BadValue, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, value, detail)
    }

    /// `Too long: may not be more than <n> bytes`.
    pub fn too_long(field: impl Into<String>, max: u64) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            BadValue::Omit,
            format!("may not be more than {max} bytes"),
        )
    }

    /// `Too many: <n>: must have at most <max> items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: u64) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            BadValue::Int(i64::try_from(actual).unwrap_or(i64::MAX)),
            format!("must have at most {max} items"),
        )
    }

    /// The body: everything after `<field>: `.
    pub fn body(&self) -> String {
        let mut s = self.kind.text().to_string();
        let omit = matches!(
            self.kind,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong
        );
        if !omit {
            if let Some(v) = self.value.render() {
                s.push_str(": ");
                s.push_str(&v);
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The `details.causes` entry.
    pub fn cause(&self) -> Value {
        serde_json::json!({"reason": self.kind.reason(), "message": self.body(), "field": self.field})
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// The aggregate message: the one error, or `[e1, e2, ...]` with exact duplicates dropped.
pub fn aggregate(errs: &[FieldError]) -> String {
    let mut seen = std::collections::HashSet::new();
    let texts: Vec<String> = errs
        .iter()
        .map(ToString::to_string)
        .filter(|t| seen.insert(t.clone()))
        .collect();
    if texts.len() == 1 {
        texts.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", texts.join(", "))
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`: `0.5`, `100000`, `1e+06`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest digits and decimal exponent, from Rust's `{:e}` (`1.234e6`).
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mant.replace('.', "");
    let nd = i32::try_from(digits.len()).unwrap_or(1);
    let dp = exp + 1;
    let mut eprec = 6;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let sign = if f < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let es = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `%#v` of a decoded JSON value (`map[string]interface {}{"type":"Ready"}`).
pub fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => go_quote(s),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&m[k.as_str()])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_and_reasons() {
        let e = FieldError::new(
            ErrorType::NotSupported,
            "spec.p",
            BadValue::Str("foo".into()),
            "supported values: \"a\", \"b\"",
        );
        assert_eq!(
            e.to_string(),
            "spec.p: Unsupported value: \"foo\": supported values: \"a\", \"b\""
        );
        assert_eq!(e.cause()["reason"], "FieldValueNotSupported");
        assert_eq!(
            FieldError::too_long("a", 63).to_string(),
            "a: Too long: may not be more than 63 bytes"
        );
        assert_eq!(
            FieldError::too_many("a", 101, 100).body(),
            "Too many: 101: must have at most 100 items"
        );
        assert_eq!(FieldError::required("x").body(), "Required value");
        assert_eq!(
            FieldError::invalid("<nil>", BadValue::Null, "d").to_string(),
            "<nil>: Invalid value: \"null\": d"
        );
    }

    #[test]
    fn aggregate_drops_duplicates() {
        let a = FieldError::required("a");
        let b = FieldError::required("b");
        assert_eq!(aggregate(std::slice::from_ref(&a)), "a: Required value");
        assert_eq!(
            aggregate(&[a.clone(), b, a]),
            "[a: Required value, b: Required value]"
        );
    }

    #[test]
    fn go_printing() {
        assert_eq!(go_quote("a\"b\\c\n\u{0}é"), "\"a\\\"b\\\\c\\n\\x00é\"");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(-0.5), "-0.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(50.0), "50");
        assert_eq!(
            go_sharp_v(&json!({"type": "Ready", "a": 1})),
            "map[string]interface {}{\"a\":1, \"type\":\"Ready\"}"
        );
    }
}
