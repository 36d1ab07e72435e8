//! Kubernetes protobuf messages ⇄ the JSON Go's encoding/json writes for the same objects.
//!
//! Plain fields map one to one (proto names are the JSON names, except [`gotags::RENAME`]).
//! What a proto does not say comes from the Go struct tags ([`gotags`]): non-pointer scalars Go
//! omits when zero, and embedded structs JSON flattens. The types with their own JSON form
//! (Time, MicroTime, Duration, IntOrString, Quantity, raw JSON, the apiextensions unions) are
//! matched on their message names.

use super::gotags;
use base64::Engine as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage, Value as Pb};
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

const TIME: &str = "apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "apimachinery.pkg.apis.meta.v1.FieldsV1";
const VERBS: &str = "apimachinery.pkg.apis.meta.v1.Verbs";
const INT_OR_STRING: &str = "apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "apimachinery.pkg.runtime.RawExtension";
const EXTRA_VALUE: &str = "api.authorization.v1.ExtraValue";
const APIEXT: &str = "apiextensions_apiserver.pkg.apis.apiextensions.v1.";

static OMIT_ZERO: LazyLock<HashSet<(&str, &str)>> =
    LazyLock::new(|| gotags::OMIT_ZERO.iter().copied().collect());

/// Inline fields by message.
static INLINE: LazyLock<HashMap<&str, Vec<&str>>> = LazyLock::new(|| {
    let mut m: HashMap<&str, Vec<&str>> = HashMap::new();
    for (msg, field) in gotags::INLINE {
        m.entry(msg).or_default().push(field);
    }
    m
});

/// (message, proto name) → JSON name.
static TO_JSON_NAME: LazyLock<HashMap<(&str, &str), &str>> = LazyLock::new(|| {
    gotags::RENAME
        .iter()
        .map(|(m, f, j)| ((*m, *f), *j))
        .collect()
});

/// (message, JSON name) → proto name.
static FROM_JSON_NAME: LazyLock<HashMap<(&str, &str), &str>> = LazyLock::new(|| {
    gotags::RENAME
        .iter()
        .map(|(m, f, j)| ((*m, *j), *f))
        .collect()
});

/// Why a JSON value could not be put into a message.
pub type EncodeError = String;

// ---------------------------------------------------------------------------------------------
// protobuf → JSON

/// A decoded message as Go's JSON of it.
pub fn to_json(msg: &DynamicMessage) -> Value {
    let name = msg.descriptor().full_name().to_string();
    if let Some(v) = special_to_json(&name, msg) {
        return v;
    }
    let mut out = Map::new();
    fields_to_json(msg, &name, &mut out);
    Value::Object(out)
}

fn fields_to_json(msg: &DynamicMessage, name: &str, out: &mut Map<String, Value>) {
    let inline = INLINE.get(name);
    for (fd, value) in msg.fields() {
        let field = fd.name();
        if inline.is_some_and(|i| i.contains(&field)) {
            if let Pb::Message(sub) = value {
                fields_to_json(sub, sub.descriptor().full_name(), out);
            }
            continue;
        }
        let key = TO_JSON_NAME.get(&(name, field)).copied().unwrap_or(field);
        let v = match value {
            Pb::List(items) if items.is_empty() => continue,
            Pb::List(items) => Value::Array(items.iter().map(value_to_json).collect()),
            Pb::Map(entries) => {
                let mut keys: Vec<(&MapKey, &Pb)> = entries.iter().collect();
                keys.sort_by(|a, b| a.0.cmp(b.0));
                let mut m = Map::new();
                for (k, v) in keys {
                    let k = match k {
                        MapKey::String(s) => s.clone(),
                        MapKey::Bool(b) => b.to_string(),
                        MapKey::I32(n) => n.to_string(),
                        MapKey::I64(n) => n.to_string(),
                        MapKey::U32(n) => n.to_string(),
                        MapKey::U64(n) => n.to_string(),
                    };
                    m.insert(k, value_to_json(v));
                }
                Value::Object(m)
            }
            scalar => {
                if OMIT_ZERO.contains(&(name, field)) && is_zero(scalar) {
                    continue;
                }
                value_to_json(scalar)
            }
        };
        out.insert(key.to_string(), v);
    }
}

fn is_zero(v: &Pb) -> bool {
    match v {
        Pb::Bool(b) => !b,
        Pb::I32(n) | Pb::EnumNumber(n) => *n == 0,
        Pb::I64(n) => *n == 0,
        Pb::U32(n) => *n == 0,
        Pb::U64(n) => *n == 0,
        Pb::F32(n) => *n == 0.0,
        Pb::F64(n) => *n == 0.0,
        Pb::String(s) => s.is_empty(),
        Pb::Bytes(b) => b.is_empty(),
        _ => false,
    }
}

fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        // Go writes integral floats without a fraction.
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn value_to_json(v: &Pb) -> Value {
    match v {
        Pb::Bool(b) => Value::Bool(*b),
        Pb::I32(n) | Pb::EnumNumber(n) => Value::from(*n),
        Pb::I64(n) => Value::from(*n),
        Pb::U32(n) => Value::from(*n),
        Pb::U64(n) => Value::from(*n),
        Pb::F32(n) => float(f64::from(*n)),
        Pb::F64(n) => float(*n),
        Pb::String(s) => Value::String(s.clone()),
        Pb::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Pb::Message(m) => to_json(m),
        Pb::List(items) => Value::Array(items.iter().map(value_to_json).collect()),
        Pb::Map(_) => Value::Null,
    }
}

fn num_field(msg: &DynamicMessage, number: u32) -> i64 {
    match msg.get_field_by_number(number).as_deref() {
        Some(Pb::I64(n)) => *n,
        Some(Pb::I32(n)) => i64::from(*n),
        _ => 0,
    }
}

fn str_field(msg: &DynamicMessage, number: u32) -> String {
    msg.get_field_by_number(number)
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn raw_json(msg: &DynamicMessage) -> Value {
    let Some(raw) = msg.get_field_by_number(1) else {
        return Value::Null;
    };
    let Some(raw) = raw.as_bytes() else {
        return Value::Null;
    };
    if raw.is_empty() {
        return Value::Null;
    }
    if raw.starts_with(super::MAGIC) {
        return super::decode(raw).unwrap_or(Value::Null);
    }
    serde_json::from_slice(raw).unwrap_or(Value::Null)
}

fn special_to_json(name: &str, msg: &DynamicMessage) -> Option<Value> {
    Some(match name {
        TIME => {
            let (s, n) = (num_field(msg, 1), num_field(msg, 2));
            if s == 0 && n == 0 {
                Value::Null
            } else {
                Value::String(format_time(s, None))
            }
        }
        MICRO_TIME => {
            let (s, n) = (num_field(msg, 1), num_field(msg, 2));
            if s == 0 && n == 0 {
                Value::Null
            } else {
                Value::String(format_time(s, Some(n)))
            }
        }
        DURATION => Value::String(format_duration(num_field(msg, 1))),
        INT_OR_STRING => {
            if num_field(msg, 1) == 1 {
                Value::String(str_field(msg, 3))
            } else {
                Value::from(num_field(msg, 2))
            }
        }
        QUANTITY => Value::String(str_field(msg, 1)),
        RAW_EXTENSION | FIELDS_V1 => raw_json(msg),
        VERBS | EXTRA_VALUE => match msg.get_field_by_number(1).as_deref() {
            Some(Pb::List(items)) => Value::Array(items.iter().map(value_to_json).collect()),
            _ => Value::Array(Vec::new()),
        },
        _ => match name.strip_prefix(APIEXT)? {
            "JSON" => raw_json(msg),
            "JSONSchemaPropsOrBool" => match msg.get_field_by_number(2) {
                Some(s) if msg.has_field_by_number(2) => value_to_json(&s),
                _ => Value::Bool(matches!(
                    msg.get_field_by_number(1).as_deref(),
                    Some(Pb::Bool(true))
                )),
            },
            "JSONSchemaPropsOrArray" => match msg.get_field_by_number(2).as_deref() {
                Some(Pb::List(items)) if !items.is_empty() => {
                    Value::Array(items.iter().map(value_to_json).collect())
                }
                _ => msg
                    .get_field_by_number(1)
                    .map(|s| value_to_json(&s))
                    .unwrap_or(Value::Null),
            },
            "JSONSchemaPropsOrStringArray" => match msg.get_field_by_number(2).as_deref() {
                Some(Pb::List(items)) if !items.is_empty() => {
                    Value::Array(items.iter().map(value_to_json).collect())
                }
                _ => msg
                    .get_field_by_number(1)
                    .map(|s| value_to_json(&s))
                    .unwrap_or(Value::Null),
            },
            _ => return None,
        },
    })
}

/// `2006-01-02T15:04:05Z`, or with microseconds (`MicroTime`).
fn format_time(seconds: i64, nanos: Option<i64>) -> String {
    let ts = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    match nanos {
        Some(n) => format!("{base}.{:06}Z", n.clamp(0, 999_999_999) / 1000),
        None => format!("{base}Z"),
    }
}

/// Go's `time.Duration.String()`.
fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |v: u64, unit: u64, suffix: &str| {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            format!("{sign}{whole}{suffix}")
        } else {
            let digits = unit.ilog10() as usize;
            let f = format!("{rest:0digits$}");
            format!("{sign}{whole}.{}{suffix}", f.trim_end_matches('0'))
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return frac(u, 1_000, "µs");
    }
    if u < 1_000_000_000 {
        return frac(u, 1_000_000, "ms");
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let s = if sub == 0 {
        format!("{s}")
    } else {
        let f = format!("{sub:09}");
        format!("{s}.{}", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * unit;
    }
    let total = total.round() as i64;
    Some(if neg { -total } else { total })
}

// ---------------------------------------------------------------------------------------------
// JSON → protobuf

/// A JSON object as a message of `desc` (the inverse of [`to_json`]). Unknown keys and nulls
/// are skipped, as are `apiVersion` and `kind` (TypeMeta is not part of the messages).
pub fn from_json(desc: &MessageDescriptor, v: &Value) -> Result<DynamicMessage, EncodeError> {
    let name = desc.full_name();
    let mut msg = DynamicMessage::new(desc.clone());
    if special_from_json(name, &mut msg, v)? {
        return Ok(msg);
    }
    let Value::Object(obj) = v else {
        return Err(format!("expected an object for {name}, got {}", kind_of(v)));
    };
    let inline = INLINE.get(name);
    let mut nested: Vec<(&str, Map<String, Value>)> = Vec::new();
    for (key, value) in obj {
        let proto = FROM_JSON_NAME
            .get(&(name, key.as_str()))
            .copied()
            .unwrap_or(key);
        let fd = desc
            .get_field_by_name(proto)
            .filter(|fd| !inline.is_some_and(|i| i.contains(&fd.name())));
        if let Some(fd) = fd {
            if value.is_null() {
                // Go writes `null` for a non-pointer struct at its zero (an empty Time), which
                // gogo encodes as an empty message; pointers at nil are omitted, not null.
                if let (Kind::Message(m), false, false) = (fd.kind(), fd.is_list(), fd.is_map()) {
                    msg.set_field(&fd, Pb::Message(DynamicMessage::new(m)));
                }
                continue;
            }
            let value = field_from_json(&fd, value).map_err(|e| format!("{key}: {e}"))?;
            if let Some(value) = value {
                msg.set_field(&fd, value);
            }
            continue;
        }
        if value.is_null() {
            continue;
        }
        let holder = inline.and_then(|fields| {
            fields.iter().find(|f| {
                desc.get_field_by_name(f)
                    .is_some_and(|fd| matches!(fd.kind(), Kind::Message(m) if accepts(&m, key)))
            })
        });
        match holder {
            Some(f) => match nested.iter_mut().find(|(n, _)| n == f) {
                Some((_, m)) => {
                    m.insert(key.clone(), value.clone());
                }
                None => {
                    let mut m = Map::new();
                    m.insert(key.clone(), value.clone());
                    nested.push((f, m));
                }
            },
            None if key == "apiVersion" || key == "kind" => {}
            None => tracing::debug!(message = name, field = %key, "unknown JSON field skipped"),
        }
    }
    for (field, obj) in nested {
        if let Some(fd) = desc.get_field_by_name(field) {
            if let Kind::Message(m) = fd.kind() {
                msg.set_field(&fd, Pb::Message(from_json(&m, &Value::Object(obj))?));
            }
        }
    }
    Ok(msg)
}

/// Whether a JSON key belongs in `desc`, directly or through its own inline fields.
fn accepts(desc: &MessageDescriptor, key: &str) -> bool {
    let name = desc.full_name();
    let proto = FROM_JSON_NAME.get(&(name, key)).copied().unwrap_or(key);
    let inline = INLINE.get(name);
    if desc
        .get_field_by_name(proto)
        .is_some_and(|fd| !inline.is_some_and(|i| i.contains(&fd.name())))
    {
        return true;
    }
    inline.is_some_and(|fields| {
        fields.iter().any(|f| {
            desc.get_field_by_name(f)
                .is_some_and(|fd| matches!(fd.kind(), Kind::Message(m) if accepts(&m, key)))
        })
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn field_from_json(
    fd: &prost_reflect::FieldDescriptor,
    v: &Value,
) -> Result<Option<Pb>, EncodeError> {
    if fd.is_map() {
        let Value::Object(obj) = v else {
            return Err(format!("expected an object, got {}", kind_of(v)));
        };
        let Kind::Message(entry) = fd.kind() else {
            return Ok(None);
        };
        let value_kind = entry.map_entry_value_field().kind();
        let mut out = HashMap::with_capacity(obj.len());
        for (k, x) in obj {
            if x.is_null() {
                continue;
            }
            out.insert(
                MapKey::String(k.clone()),
                scalar_from_json(&value_kind, x).map_err(|e| format!("{k}: {e}"))?,
            );
        }
        return Ok(Some(Pb::Map(out)));
    }
    if fd.is_list() {
        let Value::Array(items) = v else {
            return Err(format!("expected an array, got {}", kind_of(v)));
        };
        let kind = fd.kind();
        let items = items
            .iter()
            .filter(|x| !x.is_null())
            .map(|x| scalar_from_json(&kind, x))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(Pb::List(items)));
    }
    scalar_from_json(&fd.kind(), v).map(Some)
}

fn int_of(v: &Value) -> Result<i64, EncodeError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok()))
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s.parse().map_err(|_| format!("{s:?} is not an integer")),
        other => Err(format!("expected a number, got {}", kind_of(other))),
    }
}

fn scalar_from_json(kind: &Kind, v: &Value) -> Result<Pb, EncodeError> {
    let narrow = |n: i64| i32::try_from(n).map_err(|_| format!("{n} overflows int32"));
    Ok(match kind {
        Kind::Bool => Pb::Bool(
            v.as_bool()
                .ok_or_else(|| format!("expected a bool, got {}", kind_of(v)))?,
        ),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Pb::I32(narrow(int_of(v)?)?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Pb::I64(int_of(v)?),
        Kind::Uint32 | Kind::Fixed32 => {
            Pb::U32(u32::try_from(int_of(v)?).map_err(|_| "out of range for uint32")?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            Pb::U64(u64::try_from(int_of(v)?).map_err(|_| "out of range for uint64")?)
        }
        Kind::Double | Kind::Float => {
            let f = v
                .as_f64()
                .ok_or_else(|| format!("expected a number, got {}", kind_of(v)))?;
            if matches!(kind, Kind::Float) {
                Pb::F32(f as f32)
            } else {
                Pb::F64(f)
            }
        }
        Kind::String => Pb::String(match v {
            Value::String(s) => s.clone(),
            other => return Err(format!("expected a string, got {}", kind_of(other))),
        }),
        Kind::Bytes => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected a base64 string, got {}", kind_of(v)))?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("illegal base64 data: {e}"))?;
            Pb::Bytes(b.into())
        }
        Kind::Enum(_) => Pb::EnumNumber(narrow(int_of(v)?)?),
        Kind::Message(m) => Pb::Message(from_json(m, v)?),
    })
}

fn set(msg: &mut DynamicMessage, number: u32, v: Pb) {
    msg.set_field_by_number(number, v);
}

fn set_raw(msg: &mut DynamicMessage, v: &Value) -> Result<(), EncodeError> {
    let raw = serde_json::to_vec(v).map_err(|e| e.to_string())?;
    set(msg, 1, Pb::Bytes(raw.into()));
    Ok(())
}

/// Fills a message whose JSON is not an object of its fields; false for plain messages.
fn special_from_json(name: &str, msg: &mut DynamicMessage, v: &Value) -> Result<bool, EncodeError> {
    match name {
        TIME | MICRO_TIME => {
            let Value::String(s) = v else {
                return Err(format!("expected a time string, got {}", kind_of(v)));
            };
            let ts: jiff::Timestamp = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
            set(msg, 1, Pb::I64(ts.as_second()));
            // Go's Timestamp has non-pointer fields: gogo always writes both.
            set(msg, 2, Pb::I32(ts.subsec_nanosecond()));
        }
        DURATION => {
            let s = v.as_str().ok_or("expected a duration string")?;
            let ns = parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}"))?;
            set(msg, 1, Pb::I64(ns));
        }
        INT_OR_STRING => match v {
            Value::String(s) => {
                set(msg, 1, Pb::I64(1));
                set(msg, 3, Pb::String(s.clone()));
            }
            other => {
                set(msg, 1, Pb::I64(0));
                set(
                    msg,
                    2,
                    Pb::I32(i32::try_from(int_of(other)?).map_err(|_| "int32")?),
                );
            }
        },
        QUANTITY => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(format!("expected a quantity, got {}", kind_of(other))),
            };
            set(msg, 1, Pb::String(s));
        }
        RAW_EXTENSION | FIELDS_V1 => set_raw(msg, v)?,
        VERBS | EXTRA_VALUE => {
            let Value::Array(items) = v else {
                return Err(format!("expected an array, got {}", kind_of(v)));
            };
            let items = items
                .iter()
                .map(|x| scalar_from_json(&Kind::String, x))
                .collect::<Result<Vec<_>, _>>()?;
            set(msg, 1, Pb::List(items));
        }
        _ => {
            let Some(short) = name.strip_prefix(APIEXT) else {
                return Ok(false);
            };
            let schema = || {
                msg.descriptor()
                    .get_field(1)
                    .and_then(|f| match f.kind() {
                        Kind::Message(m) => Some(m),
                        _ => None,
                    })
                    .ok_or_else(|| format!("{name} has no schema field"))
            };
            match (short, v) {
                ("JSON", v) => set_raw(msg, v)?,
                ("JSONSchemaPropsOrBool", Value::Bool(b)) => set(msg, 1, Pb::Bool(*b)),
                ("JSONSchemaPropsOrBool", v) => {
                    let props = msg
                        .descriptor()
                        .get_field(2)
                        .and_then(|f| match f.kind() {
                            Kind::Message(m) => Some(m),
                            _ => None,
                        })
                        .ok_or("JSONSchemaPropsOrBool has no schema")?;
                    set(msg, 1, Pb::Bool(true));
                    set(msg, 2, Pb::Message(from_json(&props, v)?));
                }
                ("JSONSchemaPropsOrArray", Value::Array(items)) => {
                    let props = schema()?;
                    let items = items
                        .iter()
                        .map(|x| from_json(&props, x).map(Pb::Message))
                        .collect::<Result<Vec<_>, _>>()?;
                    set(msg, 2, Pb::List(items));
                }
                ("JSONSchemaPropsOrStringArray", Value::Array(items)) => {
                    let items = items
                        .iter()
                        .map(|x| scalar_from_json(&Kind::String, x))
                        .collect::<Result<Vec<_>, _>>()?;
                    set(msg, 2, Pb::List(items));
                }
                ("JSONSchemaPropsOrArray" | "JSONSchemaPropsOrStringArray", v) => {
                    let props = schema()?;
                    set(msg, 1, Pb::Message(from_json(&props, v)?));
                }
                _ => return Ok(false),
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_and_parse_as_go_does() {
        for (ns, s) in [
            (0, "0s"),
            (1_500_000_000, "1.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (90_000_000_000, "1m30s"),
            (2_000_000, "2ms"),
            (-5_000_000_000, "-5s"),
        ] {
            assert_eq!(format_duration(ns), s);
            assert_eq!(parse_duration(s), Some(ns), "{s}");
        }
        assert_eq!(parse_duration("1x"), None);
    }

    #[test]
    fn times_print_as_go_does() {
        assert_eq!(format_time(1_700_000_000, None), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_time(1_700_000_000, Some(123_456_789)),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
