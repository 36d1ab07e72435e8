//! API errors and their `Status` bodies, shaped like kube-apiserver's.

use serde_json::{json, Value};

/// An error answered to a client as a `meta/v1` `Status` object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable message, worded as kube-apiserver words it.
    pub message: String,
    /// `details` of the Status (name, group, kind, causes), if any.
    pub details: Option<Value>,
}

/// Result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;

/// `pods` or `deployments.apps`: how the apiserver names a resource in messages.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(group: &str, plural: &str, name: &str) -> Value {
    json!({"name": name, "group": group, "kind": plural})
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 for a missing object.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 404 for an unknown path or resource type.
    pub fn no_route(path: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details =
            Some(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": path}]}));
        e
    }

    /// 409 when creating an object that exists.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 409 on a stale resourceVersion or failed precondition.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, plural)
            ),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 409 for the standard optimistic-concurrency failure.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 for server-side apply conflicts (`causes` lists the fields).
    pub fn apply_conflict(
        group: &str,
        plural: &str,
        name: &str,
        conflicts: &[(String, String)],
    ) -> Self {
        let n = conflicts.len();
        let mut msg = format!(
            "Apply failed with {n} conflict{}: ",
            if n == 1 { "" } else { "s" }
        );
        let parts: Vec<String> = conflicts
            .iter()
            .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
            .collect();
        msg.push_str(&parts.join("\n"));
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": f}))
            .collect();
        let mut e = Self::new(409, "Conflict", msg);
        e.details = Some(json!({"name": name, "group": group, "kind": plural, "causes": causes}));
        e
    }

    /// 422 with field causes.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<(String, String)>) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let msg = if text.len() == 1 {
            text[0].clone()
        } else {
            format!("[{}]", text.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!(
                "{kind}{} \"{name}\" is invalid: {msg}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!(".{group}")
                }
            ),
        );
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect();
        e.details = Some(json!({"name": name, "group": group, "kind": kind, "causes": causes}));
        e
    }

    /// 422 with typed field errors: the message aggregates them (exact duplicates dropped),
    /// every one is a cause with its own reason.
    pub fn invalid_fields(
        group: &str,
        kind: &str,
        name: &str,
        errs: &[super::schema::errors::FieldError],
    ) -> Self {
        let mut e = Self::new(
            422,
            "Invalid",
            format!(
                "{kind}{} \"{name}\" is invalid: {}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!(".{group}")
                },
                super::schema::errors::aggregate(errs)
            ),
        );
        let causes: Vec<Value> = errs.iter().map(|f| f.cause()).collect();
        e.details = Some(json!({"name": name, "group": group, "kind": kind, "causes": causes}));
        e
    }

    /// 413 for a request body over kube-apiserver's 3 MiB limit.
    pub fn entity_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 500 with etcd's refusal of an object over its request size limit.
    pub fn etcd_too_large() -> Self {
        Self::new(500, "", "etcdserver: request is too large")
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 410 for a watch or list from a compacted resourceVersion.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 415: the request body's media type (or patch type) is not one of `accepted`.
    pub fn unsupported_media_type(ct: &str, accepted: &[&str]) -> Self {
        let mut e = Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        );
        if !ct.is_empty() {
            e.details =
                Some(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": ct}]}));
        }
        e
    }

    /// 406: no Accept range can be served. kube-apiserver lists its serializers' media types.
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: {}",
                super::media::ALL.join(", ")
            ),
        )
    }

    /// 422 for a patch whose result has unknown fields under `fieldValidation=Strict`:
    /// kube-apiserver's `Invalid` with an empty kind and name on field `patch`.
    pub fn strict_patch(patched: &str, why: &str) -> Self {
        let m = format!(
            "Invalid value: {}: {why}",
            super::schema::errors::go_quote(patched)
        );
        let mut e = Self::new(422, "Invalid", format!(" \"\" is invalid: patch: {m}"));
        e.details = Some(
            json!({"causes": [{"reason": "FieldValueInvalid", "message": m, "field": "patch"}]}),
        );
        e
    }

    /// 500 (empty reason) for a server-side apply configuration with fields the schema does
    /// not declare: the typed conversion of the patch fails. `errs` are structured-merge-diff's
    /// (`.spec.foo: field not declared in schema`).
    pub fn typed_patch(gvk: &str, ns: &str, name: &str, errs: &[String]) -> Self {
        let text = match errs {
            [one] => one.clone(),
            _ => {
                let mut t = String::from("errors:\n");
                for e in errs {
                    t.push_str(&format!("  {e}\n"));
                }
                t
            }
        };
        Self::new(
            500,
            "",
            format!("failed to create typed patch object ({ns}/{name}; {gvk}): {text}"),
        )
    }

    /// 500 with the apiserver's empty reason.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 429 with causes (eviction blocked by a PodDisruptionBudget).
    pub fn too_many_requests(message: impl Into<String>, causes: Vec<Value>) -> Self {
        let mut e = Self::new(429, "TooManyRequests", message);
        e.details = Some(json!({"causes": causes}));
        e
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}
