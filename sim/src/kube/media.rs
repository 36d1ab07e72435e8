//! Content negotiation as kube-apiserver does it: which media type a response is written in
//! (`Accept`), and which a request body is read as (`Content-Type`).

use super::error::{ApiError, ApiResult};
use super::pb;
use super::table::IncludeObject;

/// The request and response media types of built-in kinds.
pub const ALL: [&str; 3] = ["application/json", "application/yaml", pb::MEDIA_TYPE];

/// The request media types of custom resources (and of kinds with no protobuf message).
pub const JSON_ONLY: [&str; 2] = ["application/json", "application/yaml"];

/// The encoding of a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `application/json`.
    Json,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

/// What a response is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Body encoding.
    pub wire: Wire,
    /// A `meta.k8s.io` Table (always JSON) instead of the object, and what its rows embed.
    pub table: Option<IncludeObject>,
}

impl Output {
    /// Plain JSON.
    pub const JSON: Output = Output {
        wire: Wire::Json,
        table: None,
    };
}

/// One range of an Accept header.
struct Range<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
    q: f32,
}

fn parse(accept: &str) -> Vec<Range<'_>> {
    let mut out: Vec<Range<'_>> = accept
        .split(',')
        .filter_map(|r| {
            let mut parts = r.split(';').map(str::trim);
            let essence = parts.next().filter(|e| !e.is_empty())?;
            let mut q = 1.0;
            let mut params = Vec::new();
            for p in parts {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                if k.eq_ignore_ascii_case("q") {
                    q = v.parse().unwrap_or(0.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(Range { essence, params, q })
        })
        .collect();
    // Stable: equal q keep their order.
    out.sort_by(|a, b| b.q.total_cmp(&a.q));
    out
}

/// The response media type for an `Accept` header. `protobuf_ok`: the resource has a protobuf
/// form (a built-in kind, with protobuf responses enabled). `include` is the `includeObject`
/// query parameter, for Tables. No acceptable range gives 406, as kube-apiserver answers
/// before doing any work; an absent or empty Accept means JSON.
pub fn negotiate(
    accept: Option<&str>,
    protobuf_ok: bool,
    include: Option<&str>,
) -> ApiResult<Output> {
    let accept = accept.map(str::trim).unwrap_or_default();
    if accept.is_empty() {
        return Ok(Output::JSON);
    }
    for range in parse(accept) {
        if range.q <= 0.0 {
            continue;
        }
        let e = range.essence.to_ascii_lowercase();
        let wire = match e.as_str() {
            "application/json" | "*/*" | "application/*" => Wire::Json,
            m if m == pb::MEDIA_TYPE && protobuf_ok => Wire::Protobuf,
            _ => continue,
        };
        let param = |k: &str| {
            range
                .params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| *v)
        };
        match param("as") {
            None => return Ok(Output { wire, table: None }),
            Some("Table")
                if wire == Wire::Json
                    && param("g") == Some("meta.k8s.io")
                    && matches!(param("v"), Some("v1" | "v1beta1")) =>
            {
                return Ok(Output {
                    wire,
                    table: Some(IncludeObject::parse(include)),
                })
            }
            // Protobuf Tables and PartialObjectMetadata are not served: try the next range.
            Some(_) => continue,
        }
    }
    Err(ApiError::not_acceptable())
}

/// The encoding of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// Kubernetes protobuf.
    Protobuf,
}

/// The encoding of a create/update body from its Content-Type (absent means JSON). Anything
/// else gives 415 listing what is accepted.
pub fn input(content_type: Option<&str>) -> ApiResult<Input> {
    let ct = content_type.unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "" | "application/json" => Ok(Input::Json),
        "application/yaml" => Ok(Input::Yaml),
        m if m == pb::MEDIA_TYPE => Ok(Input::Protobuf),
        _ => Err(ApiError::unsupported_media_type(ct, &ALL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECTL: &str = "application/vnd.kubernetes.protobuf,application/json";
    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    fn out(accept: &str, protobuf_ok: bool) -> ApiResult<Output> {
        negotiate(Some(accept), protobuf_ok, None)
    }

    #[test]
    fn accept_table() {
        let json = Output::JSON;
        let proto = Output {
            wire: Wire::Protobuf,
            table: None,
        };
        let table = Output {
            wire: Wire::Json,
            table: Some(IncludeObject::parse(None)),
        };
        for (accept, builtin, want) in [
            (KUBECTL, true, &proto),
            (KUBECTL, false, &json),
            (pb::MEDIA_TYPE, true, &proto),
            (KUBECTL_GET, true, &table),
            (KUBECTL_GET, false, &table),
            (
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json",
                true,
                &json,
            ),
            (
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json",
                true,
                &json,
            ),
            ("*/*", true, &json),
            ("application/*", false, &json),
            ("", false, &json),
            (
                "application/json;q=0.5, application/vnd.kubernetes.protobuf",
                true,
                &proto,
            ),
            (
                "application/vnd.kubernetes.protobuf;q=0.5, application/json",
                true,
                &json,
            ),
            (
                "application/vnd.kubernetes.protobuf;q=0, application/json",
                true,
                &json,
            ),
            ("text/plain, */*;q=0.1", true, &json),
        ] {
            assert_eq!(
                &out(accept, builtin).unwrap(),
                want,
                "{accept} (built-in: {builtin})"
            );
        }
        for (accept, builtin) in [
            (pb::MEDIA_TYPE, false),
            ("text/plain", true),
            ("application/cbor", false),
        ] {
            let e = out(accept, builtin).unwrap_err();
            assert_eq!((e.code, e.reason), (406, "NotAcceptable"), "{accept}");
        }
        let e = out("text/plain", true).unwrap_err();
        assert!(
            e.message.ends_with(
                "application/json, application/yaml, application/vnd.kubernetes.protobuf"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(input(None).unwrap(), Input::Json);
        assert_eq!(
            input(Some("application/json; charset=utf-8")).unwrap(),
            Input::Json
        );
        assert_eq!(input(Some("application/yaml")).unwrap(), Input::Yaml);
        assert_eq!(input(Some(pb::MEDIA_TYPE)).unwrap(), Input::Protobuf);
        let e = input(Some("application/cbor")).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(e.message.contains(
            "accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        ));
    }
}
