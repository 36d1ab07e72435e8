//! `x-kubernetes-validations`: CEL rules evaluated with the `cel` crate, as
//! apiextensions-apiserver 1.32 evaluates them (`pkg/apiserver/schema/cel/validation.go`).
//!
//! The environment is cel's standard library (macros `has`, `all`, `exists`, `exists_one`,
//! `map`, `filter`; `size`, `in`, conversions, `matches`, `startsWith`, `endsWith`,
//! `contains`, optionals), the strings extension (`charAt`, `indexOf`, `lastIndexOf`,
//! `lowerAscii`, `upperAscii`, `replace`, `split`, `substring`, `trim`, `join`, `format`,
//! `strings.quote`) and Kubernetes' regex library (`find`, `findAll`).
//!
//! Not supported (no rule of the project's or Karpenter's CRDs uses them): the Kubernetes
//! lists library (`isSorted`, `sum`, `min`, `max`, list `indexOf`), `quantity()`, `url()`,
//! `ip()`/`cidr()`, `format.*()`, the sets extension, two-variable comprehensions,
//! `duration()`/`timestamp()`; no type checking (a rule is only parsed at CRD registration)
//! and no cost budget.

use super::errors::{BadValue, ErrorType, FieldError};
use super::node::{Additional, Node};
use cel::common::types::{CelInt, CelList, CelOptional, CelString};
use cel::common::value::Val;
use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program};
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// The shared CEL environment.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    if let Err(e) = env.add_extension(cel::extensions::strings) {
        tracing::error!("CEL strings extension: {e}");
    }
    if let Err(e) = env.add_extension(k8s_regex) {
        tracing::error!("CEL regex library: {e}");
    }
    env.set_error_on_duplicate_map_keys(false);
    Arc::new(env)
});

/// Kubernetes' regex library: `find` and `findAll`.
fn k8s_regex(env: &mut Env) -> Result<(), cel::DeclarationError> {
    cel::add_member_overload!(env, fn find: (CelString, CelString) -> Result<CelString>)?;
    cel::add_member_overload!(env, fn find_all: (CelString, CelString) -> Result<CelList>)?;
    cel::add_member_overload!(env, fn find_all_n: (CelString, CelString, CelInt) -> Result<CelList>,
        name = "findAll")?;
    Ok(())
}

/// Regexes compiled by `find`/`findAll` (rules use constant patterns: a few entries).
static REGEXES: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Default::default);

fn regex(function: &str, re: &str) -> Result<Regex, ExecutionError> {
    let mut cache = REGEXES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = cache.get(re) {
        return Ok(r.clone());
    }
    let r = Regex::new(re)
        .map_err(|e| ExecutionError::function_error(function, format!("Illegal regex: {e}")))?;
    if cache.len() > 1024 {
        cache.clear();
    }
    cache.insert(re.to_string(), r.clone());
    Ok(r)
}

fn find(this: &CelString<'_>, re: &CelString<'_>) -> Result<CelString<'static>, ExecutionError> {
    let r = regex("find", re.inner())?;
    Ok(CelString::from(
        r.find(this.inner())
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
    ))
}

fn find_all(this: &CelString<'_>, re: &CelString<'_>) -> Result<CelList<'static>, ExecutionError> {
    find_all_n(this, re, &CelInt::from(-1))
}

fn find_all_n(
    this: &CelString<'_>,
    re: &CelString<'_>,
    n: &CelInt,
) -> Result<CelList<'static>, ExecutionError> {
    let r = regex("findAll", re.inner())?;
    let n = usize::try_from(*n.inner()).unwrap_or(usize::MAX);
    Ok(r.find_iter(this.inner())
        .take(n)
        .map(|m| Box::new(CelString::from(m.as_str().to_string())) as Box<dyn Val>)
        .collect::<Vec<_>>()
        .into())
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// The rule's text.
    pub source: String,
    program: Program,
    message: String,
    message_expression: Option<Program>,
    reason: Option<String>,
    field_path: Option<String>,
    optional_old_self: bool,
    /// Uses `oldSelf`: a transition rule, evaluated on update only.
    pub uses_old_self: bool,
}

/// Compiles one `x-kubernetes-validations` entry (`path`: where it sits, for the error).
pub fn compile_rule(r: &Value, path: &str) -> Result<Rule, FieldError> {
    let source = r["rule"].as_str().unwrap_or_default().to_string();
    let program = ENV.compile(&source).map_err(|e| {
        FieldError::invalid(
            format!("{path}.rule"),
            BadValue::Str(source.clone()),
            format!("compilation failed: {e}"),
        )
    })?;
    let message_expression = match r["messageExpression"].as_str() {
        Some(m) => Some(ENV.compile(m).map_err(|e| {
            FieldError::invalid(
                format!("{path}.messageExpression"),
                BadValue::Str(m.into()),
                format!("messageExpression compilation failed: {e}"),
            )
        })?),
        None => None,
    };
    let uses_old_self = program.references().has_variable("oldSelf");
    Ok(Rule {
        message: r["message"].as_str().unwrap_or_default().trim().to_string(),
        message_expression,
        reason: r["reason"].as_str().map(String::from),
        field_path: r["fieldPath"].as_str().map(String::from),
        optional_old_self: r["optionalOldSelf"].as_bool() == Some(true),
        uses_old_self,
        source,
        program,
    })
}

impl Rule {
    /// `ruleErrorString`: the message, or the rule.
    fn error_string(&self) -> &str {
        if self.message.is_empty() {
            self.source.trim()
        } else {
            &self.message
        }
    }

    /// `ruleMessageOrDefault`.
    fn message_or_default(&self) -> String {
        if self.message.is_empty() {
            format!("failed rule: {}", self.source.trim())
        } else {
            self.message.clone()
        }
    }
}

/// CEL keywords a property name is escaped from (`__namespace__`).
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A property name as CEL sees it; `None` when it cannot be accessed.
pub fn escape(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// A JSON value as a CEL value of its schema (`integer`: int, `number`: double, objects with
/// properties: escaped names, `null`s absent; fields without a schema are not visible, as in
/// apiserver's `UnstructuredToVal`).
pub fn to_cel(node: Option<&Node>, v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => {
            let number = node.is_some_and(|s| s.type_ == "number");
            match n.as_i64() {
                Some(i) if !number => cel::Value::Int(i),
                _ => match (n.as_f64(), node.is_some_and(|s| s.type_ == "integer")) {
                    (Some(f), true) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                        cel::Value::Int(f as i64)
                    }
                    (f, _) => cel::Value::Float(f.unwrap_or(0.0)),
                },
            }
        }
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let s = node.and_then(|n| n.items.as_deref());
            cel::Value::List(Arc::new(items.iter().map(|x| to_cel(s, x)).collect()))
        }
        Value::Object(map) => {
            let mut out = HashMap::with_capacity(map.len());
            let with_props = node.is_some_and(|n| !n.properties.is_empty());
            for (k, x) in map {
                let Some(child) = node.and_then(|n| n.field(k)) else {
                    continue;
                };
                if with_props {
                    if x.is_null() {
                        continue;
                    }
                    let name = escape(k).unwrap_or_else(|| k.clone());
                    out.insert(Key::String(Arc::new(name)), to_cel(Some(child), x));
                } else {
                    out.insert(Key::String(Arc::new(k.clone())), to_cel(Some(child), x));
                }
            }
            cel::Value::Map(Map { map: Arc::new(out) })
        }
    }
}

/// cel-go's text of an evaluation error.
pub fn error_text(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::FunctionError { function, message } => {
            let target = match function.as_str() {
                "int" | "uint" | "double" => Some(function.as_str()),
                _ => None,
            };
            if message == "integer overflow" {
                "integer overflow".into()
            } else if let (Some(t), true) = (target, message.starts_with("string parse error")) {
                format!("type conversion error from 'string' to '{t}'")
            } else if let Some(rest) = message.strip_prefix("Type conversion error") {
                format!("type conversion error{rest}")
            } else {
                message.clone()
            }
        }
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".into(),
        ExecutionError::Overflow(..) => "integer overflow".into(),
        ExecutionError::IndexOutOfBounds(i) => match i {
            cel::Value::Int(i) => format!("index out of bounds: {i}"),
            cel::Value::UInt(i) => format!("index out of bounds: {i}"),
            other => format!("index out of bounds: {other:?}"),
        },
        ExecutionError::NoSuchOverload(_)
        | ExecutionError::UnexpectedType { .. }
        | ExecutionError::ValuesNotComparable(..)
        | ExecutionError::UnsupportedBinaryOperator(..)
        | ExecutionError::UnsupportedTargetType { .. }
        | ExecutionError::NotSupportedAsMethod { .. }
        | ExecutionError::UnsupportedIndex(..)
        | ExecutionError::UnsupportedKeyType(_) => "no such overload".into(),
        other => other.to_string(),
    }
}

/// Evaluates the rules of the whole object; `old`: the stored object on update.
pub fn validate(root: &Node, v: &Value, old: Option<&Value>, out: &mut Vec<FieldError>) {
    if root.has_rules {
        walk(root, v, old, "", true, out);
    }
}

/// The root as CEL sees it: its schema's fields, `apiVersion`, `kind`, and `metadata` with
/// only `name` and `generateName`.
fn root_to_cel(node: &Node, v: &Value) -> cel::Value {
    let mut m = match to_cel(Some(node), v) {
        cel::Value::Map(m) => (*m.map).clone(),
        _ => HashMap::new(),
    };
    for k in ["apiVersion", "kind"] {
        if let Some(s) = v[k].as_str() {
            m.insert(
                Key::String(Arc::new(k.into())),
                cel::Value::String(Arc::new(s.into())),
            );
        }
    }
    let mut meta = HashMap::new();
    for k in ["name", "generateName"] {
        if let Some(s) = v["metadata"][k].as_str() {
            meta.insert(
                Key::String(Arc::new(k.into())),
                cel::Value::String(Arc::new(s.into())),
            );
        }
    }
    m.insert(
        Key::String(Arc::new("metadata".into())),
        cel::Value::Map(Map {
            map: Arc::new(meta),
        }),
    );
    cel::Value::Map(Map { map: Arc::new(m) })
}

fn child_path(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn walk(
    node: &Node,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    root: bool,
    out: &mut Vec<FieldError>,
) {
    if !node.has_rules || v.is_null() {
        return;
    }
    let unchanged = old == Some(v);
    if unchanged && !node.has_transition {
        return;
    }
    if !node.rules.is_empty() {
        eval_rules(node, v, old, path, unchanged, root, out);
    }
    match v {
        Value::Object(map) => {
            let old_map = old.and_then(Value::as_object);
            for (k, s) in &node.properties {
                if root && k == "metadata" {
                    continue;
                }
                if let Some(c) = map.get(k) {
                    let o = old_map.and_then(|m| m.get(k));
                    walk(s, c, o, &child_path(path, k), false, out);
                }
            }
            if let Additional::Schema(s) = &node.additional {
                let granular = node.map_type.as_deref() != Some("atomic");
                let mut keys: Vec<&String> = map
                    .keys()
                    .filter(|k| !node.properties.contains_key(*k))
                    .collect();
                keys.sort();
                for k in keys {
                    let o = old_map.filter(|_| granular).and_then(|m| m.get(k));
                    walk(s, &map[k.as_str()], o, &format!("{path}[{k}]"), false, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = &node.items {
                for (i, x) in items.iter().enumerate() {
                    let o = super::listtype::correlate(node, old, x);
                    walk(s, x, o, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

fn eval_rules(
    node: &Node,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    unchanged: bool,
    root: bool,
    out: &mut Vec<FieldError>,
) {
    let field = if path.is_empty() { "<nil>" } else { path };
    let convert = |x: &Value| {
        if root {
            root_to_cel(node, x)
        } else {
            to_cel(Some(node), x)
        }
    };
    let mut ctx = Context::with_env(ENV.clone());
    match Box::<dyn Val>::try_from(convert(v)) {
        Ok(s) => ctx.add_variable_as_val("self", s),
        Err(_) => return,
    }
    let old_cel = old.map(convert);
    for rule in &node.rules {
        if unchanged && !rule.uses_old_self {
            continue;
        }
        if rule.uses_old_self {
            let old_val = old_cel
                .clone()
                .and_then(|o| Box::<dyn Val>::try_from(o).ok());
            match (old_val, rule.optional_old_self) {
                (Some(o), false) => ctx.add_variable_as_val("oldSelf", o),
                (None, false) => continue,
                (o, true) => ctx.add_variable_as_val("oldSelf", Box::new(CelOptional::from(o))),
            }
        }
        let type_ = BadValue::Str(node.type_name().to_string());
        match rule.program.execute(&ctx) {
            Ok(cel::Value::Bool(true)) => {}
            Ok(cel::Value::Bool(false)) => {
                let msg = rule
                    .message_expression
                    .as_ref()
                    .and_then(|m| match m.execute(&ctx) {
                        Ok(cel::Value::String(s)) if !s.trim().is_empty() && !s.contains('\n') => {
                            Some(s.trim().to_string())
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| rule.message_or_default());
                let f = match &rule.field_path {
                    Some(fp) if !fp.is_empty() => {
                        let fp = fp
                            .strip_prefix('.')
                            .map_or_else(|| fp.clone(), |rest| format!(".{rest}"));
                        if path.is_empty() {
                            fp.trim_start_matches('.').to_string()
                        } else {
                            format!("{path}{fp}")
                        }
                    }
                    _ => field.to_string(),
                };
                out.push(match rule.reason.as_deref() {
                    Some("FieldValueForbidden") => {
                        FieldError::new(ErrorType::Forbidden, f, BadValue::Omit, msg)
                    }
                    Some("FieldValueRequired") => {
                        FieldError::new(ErrorType::Required, f, BadValue::Omit, msg)
                    }
                    Some("FieldValueDuplicate") => {
                        FieldError::new(ErrorType::Duplicate, f, type_, "")
                    }
                    _ => FieldError::invalid(f, type_, msg),
                });
            }
            Ok(_) => out.push(FieldError::invalid(
                field,
                type_,
                format!("rule did not evaluate to a bool: {}", rule.error_string()),
            )),
            Err(e) => {
                let text = error_text(&e);
                let detail = if text == "no such overload" {
                    format!(
                        "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {}",
                        rule.error_string()
                    )
                } else {
                    format!("{text} evaluating rule: {}", rule.error_string())
                };
                out.push(FieldError::invalid(field, type_, detail));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// JSON as CEL without a schema: every field visible, integers as ints.
    fn raw(v: &Value) -> cel::Value {
        match v {
            Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(raw).collect())),
            Value::Object(m) => cel::Value::Map(Map {
                map: Arc::new(
                    m.iter()
                        .map(|(k, x)| (Key::String(Arc::new(k.clone())), raw(x)))
                        .collect(),
                ),
            }),
            other => to_cel(None, other),
        }
    }

    fn eval(rule: &str, v: Value) -> Result<cel::Value, String> {
        let p = ENV.compile(rule).map_err(|e| e.to_string())?;
        let mut ctx = Context::with_env(ENV.clone());
        ctx.add_variable_as_val(
            "self",
            Box::<dyn Val>::try_from(raw(&v)).map_err(|_| "conv")?,
        );
        p.execute(&ctx).map_err(|e| error_text(&e))
    }

    #[test]
    fn functions_and_macros() {
        let t = |r: &str, v: Value| assert_eq!(eval(r, v), Ok(cel::Value::Bool(true)), "{r}");
        t(
            r#"self.find("^([^/]+)") == "karpenter.sh""#,
            json!("karpenter.sh/x"),
        );
        t(r#"self.find("^z") == """#, json!("karpenter.sh/x"));
        t(r#"self.findAll("[0-9]") == ["1", "2"]"#, json!("a1b2"));
        t(r#"self.findAll("[0-9]", 1) == ["1"]"#, json!("a1b2"));
        t("'a' in self && !('z' in self)", json!({"a": 1}));
        t("self.all(k, k != 'z')", json!({"a": 1}));
        t(
            "self.exists(x, x == 2) && self.exists_one(x, x == 1)",
            json!([1, 2]),
        );
        t(
            "self.map(x, x * 2) == [2, 4] && self.filter(x, x > 1) == [2]",
            json!([1, 2]),
        );
        t("size(self) == 2 && self.size() == 2", json!([1, 2]));
        t(
            "int(self) == 12 && self.startsWith('1') && self.endsWith('2') && self.contains('')",
            json!("12"),
        );
        t("self.matches('^[0-9]+$')", json!("12"));
        t(
            "self.lowerAscii() == 'ab' && self.split('B') == ['A', ''] && self.charAt(0) == 'A'",
            json!("AB"),
        );
        t(
            "self.substring(1) == 'B' && self.indexOf('B') == 1 && self.replace('A', 'x') == 'xB'",
            json!("AB"),
        );
        t(
            "self.trim() == 'a' && ['a', 'b'].join('-') == 'a-b'",
            json!(" a "),
        );
        t("!has(self.b) && has(self.a)", json!({"a": 1}));
        t("self == {'a': [1, 'x']}", json!({"a": [1, "x"]}));
        t("self.?b.orValue(3) == 3", json!({"a": 1}));
        assert_eq!(
            eval("int(self) > 0", json!("many")),
            Err("type conversion error from 'string' to 'int'".into())
        );
        assert_eq!(
            eval("self.b == 1", json!({"a": 1})),
            Err("no such key: b".into())
        );
        assert_eq!(
            eval("self[3] == 1", json!([1])),
            Err("index out of bounds: 3".into())
        );
        assert_eq!(
            eval("self / 0 == 1", json!(1)),
            Err("division by zero".into())
        );
        assert_eq!(
            eval("self + 'a' == 1", json!(1)),
            Err("no such overload".into())
        );
        assert!(eval("self.find('(') == ''", json!("a")).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("a-b.c/d"),
            Some("a__dash__b__dot__c__slash__d".into())
        );
        assert_eq!(escape("namespace"), Some("__namespace__".into()));
        assert_eq!(escape("a__b"), Some("a__underscores__b".into()));
        assert_eq!(escape("1a"), None);
        assert_eq!(escape("a b"), None);
    }

    fn rules(schema: Value, v: Value, old: Option<Value>) -> Vec<String> {
        let mut e = Vec::new();
        let n = Node::parse(&schema, "", &mut e);
        assert!(e.is_empty(), "{e:?}");
        let mut out = Vec::new();
        validate(&n, &v, old.as_ref(), &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn rule_errors() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.a == oldSelf.a", "message": "a is immutable"},
                {"rule": "self.a != 'bad'"},
                {"rule": "self.a != 'forbidden'", "message": "no", "reason": "FieldValueForbidden", "fieldPath": ".a"},
                {"rule": "self.a != 'expr'", "message": "static", "messageExpression": "'a is ' + self.a"},
                {"rule": "self.a != 'emptyexpr'", "message": "fallback", "messageExpression": "''"},
                {"rule": "self.b > 0", "message": "b"},
                {"rule": "has(oldSelf.a) || !has(oldSelf.a)", "optionalOldSelf": true, "message": "opt"}],
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}}});
        let obj = |a: &str| json!({"spec": {"a": a, "b": 1}});
        assert!(rules(schema.clone(), obj("x"), None).is_empty());
        assert_eq!(
            rules(schema.clone(), obj("x"), Some(obj("y"))),
            ["spec: Invalid value: \"object\": a is immutable"]
        );
        assert_eq!(
            rules(schema.clone(), obj("bad"), None),
            ["spec: Invalid value: \"object\": failed rule: self.a != 'bad'"]
        );
        assert_eq!(
            rules(schema.clone(), obj("forbidden"), None),
            ["spec.a: Forbidden: no"]
        );
        assert_eq!(
            rules(schema.clone(), obj("expr"), None),
            ["spec: Invalid value: \"object\": a is expr"]
        );
        assert_eq!(
            rules(schema.clone(), obj("emptyexpr"), None),
            ["spec: Invalid value: \"object\": fallback"]
        );
        assert_eq!(
            rules(schema.clone(), json!({"spec": {"a": "x"}}), None),
            ["spec: Invalid value: \"object\": no such key: b evaluating rule: b"]
        );
        // An unchanged subtree: only transition rules run again.
        assert!(rules(schema.clone(), obj("bad"), Some(obj("bad"))).is_empty());
    }

    #[test]
    fn root_rules_see_name_and_schema_fields_only() {
        let schema = json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('a') && self.kind == 'K' && !has(self.metadata.labels)", "message": "root"}],
            "properties": {"metadata": {"type": "object"}, "spec": {"type": "object",
                "x-kubernetes-validations": [{"rule": "!has(self.free) || size(self.free) == 0", "message": "free"}],
                "properties": {"free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let obj = |name: &str| json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": name, "labels": {"a": "b"}}, "spec": {"free": {"x": 1}}});
        assert!(rules(schema.clone(), obj("ab"), None).is_empty());
        assert_eq!(
            rules(schema, obj("b"), None),
            ["<nil>: Invalid value: \"object\": root"]
        );
    }

    #[test]
    fn compile_errors() {
        let mut e = Vec::new();
        Node::parse(
            &json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a ==="}]}),
            "spec.versions[0].schema.openAPIV3Schema",
            &mut e,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].field,
            "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule"
        );
        assert!(e[0].detail.starts_with("compilation failed: "));
    }

    #[test]
    fn compiled_schemas_are_send_and_sync() {
        fn f<T: Send + Sync>() {}
        f::<Node>();
    }
}
