//! The few Kubernetes protobuf bodies clients send whatever the server prefers.
//!
//! kubectl posts some built-in kinds as `application/vnd.kubernetes.protobuf` and does not fall
//! back to JSON on 415 (`kubectl auth can-i` and its SelfSubjectAccessReview). This module
//! decodes those kinds into the JSON the rest of the server handles; answers stay JSON, which
//! the clients accept. Wire format: the 4-byte magic `k8s\0`, then a `runtime.Unknown` message
//! (typeMeta = 1, raw = 2) whose `raw` is the object's own message.

use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};

const MAGIC: &[u8] = b"k8s\0";

/// One field of a protobuf message: its number and, for the wire types the Kubernetes kinds
/// here use, its value.
enum Field<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf body: {what}"))
}

fn varint(buf: &mut &[u8]) -> ApiResult<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or_else(|| bad("truncated varint"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("varint too long"))
}

/// The fields of one message, in order.
fn fields(mut buf: &[u8]) -> ApiResult<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = match key & 7 {
            0 => {
                varint(&mut buf)?;
                Field::Varint
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                buf = buf.get(n..).ok_or_else(|| bad("truncated fixed field"))?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| bad("length"))?;
                let (bytes, rest) = buf
                    .split_at_checked(len)
                    .ok_or_else(|| bad("truncated length-delimited field"))?;
                buf = rest;
                Field::Bytes(bytes)
            }
            w => return Err(bad(&format!("unsupported wire type {w}"))),
        };
        out.push((key >> 3, field));
    }
    Ok(out)
}

/// The string fields of a message, by field number, as a JSON object with `names[n-1]` keys.
fn strings(buf: &[u8], names: &[&str]) -> ApiResult<Value> {
    let mut obj = Map::new();
    for (number, field) in fields(buf)? {
        let name = usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| names.get(i));
        if let (Some(name), Field::Bytes(b)) = (name, field) {
            let text = std::str::from_utf8(b).map_err(|_| bad("string is not UTF-8"))?;
            obj.insert((*name).to_string(), json!(text));
        }
    }
    Ok(Value::Object(obj))
}

fn message<'a>(fields: &[(u64, Field<'a>)], number: u64) -> Option<&'a [u8]> {
    fields.iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if *n == number => Some(*b),
        _ => None,
    })
}

/// A protobuf request body as JSON, for the kinds clients insist on sending as protobuf.
/// Other kinds are refused with 415 (client-go then retries in JSON where it can).
pub fn decode(body: &[u8], content_type: &str) -> ApiResult<Value> {
    let unsupported = || ApiError::unsupported_media_type(content_type);
    let envelope = body.strip_prefix(MAGIC).ok_or_else(unsupported)?;
    let envelope = fields(envelope)?;
    let type_meta = strings(
        message(&envelope, 1).unwrap_or_default(),
        &["apiVersion", "kind"],
    )?;
    let raw = message(&envelope, 2).unwrap_or_default();
    let api_version = type_meta["apiVersion"].as_str().unwrap_or_default();
    match (api_version, type_meta["kind"].as_str().unwrap_or_default()) {
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            let object = fields(raw)?;
            let spec = fields(message(&object, 2).unwrap_or_default())?;
            let mut out_spec = Map::new();
            if let Some(ra) = message(&spec, 1) {
                let names = [
                    "namespace",
                    "verb",
                    "group",
                    "version",
                    "resource",
                    "subresource",
                    "name",
                ];
                out_spec.insert("resourceAttributes".into(), strings(ra, &names)?);
            }
            if let Some(nra) = message(&spec, 2) {
                out_spec.insert(
                    "nonResourceAttributes".into(),
                    strings(nra, &["path", "verb"])?,
                );
            }
            Ok(json!({
                "apiVersion": api_version,
                "kind": "SelfSubjectAccessReview",
                "metadata": {},
                "spec": out_spec,
            }))
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn self_subject_access_review_decodes() {
        let ra = [field(1, b"default"), field(2, b"list"), field(5, b"pods")].concat();
        let spec = field(1, &ra);
        let object = [field(1, &[]), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &object)].concat();
        let v = decode(&body, "application/vnd.kubernetes.protobuf").unwrap();
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "list", "resource": "pods"})
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        let type_meta = [field(1, b"v1"), field(2, b"Pod")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta)].concat();
        assert_eq!(decode(&body, "x").unwrap_err().code, 415);
        assert_eq!(decode(b"k8s\0\x0a\xff", "x").unwrap_err().code, 400);
        assert_eq!(decode(b"{}", "x").unwrap_err().code, 415);
    }
}
