//! Errors of the OVH client: every API error keeps its HTTP status, OVH class, message and
//! `X-Ovh-QueryID`, and is classified so callers decide without parsing text.

/// What an error means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Credentials invalid, expired, not granted, bad signature or timestamp (401, 403,
    /// signature/time 400s).
    Auth,
    /// The resource does not exist (404).
    NotFound,
    /// The resource is busy or in conflict (409, or 400 on a pool that is mid-operation):
    /// retry later.
    Busy,
    /// A quota is exhausted (412, `Insufficient...Quota`).
    Quota,
    /// The flavor is out of stock.
    OutOfStock,
    /// The request is invalid (other 400s): retrying the same request will not help.
    InvalidRequest,
    /// Transient (429, 5xx, timeouts, connection errors): retried with back-off.
    Transient,
    /// Anything else.
    Other,
}

/// An error of the OVH client.
#[derive(Debug, thiserror::Error)]
pub enum OvhError {
    /// OVH answered with an error status.
    #[error("OVH {method} {path}: HTTP {status} {}: {message} (query id {})",
        .class.as_deref().unwrap_or("-"), .query_id.as_deref().unwrap_or("-"))]
    Api {
        /// HTTP method.
        method: String,
        /// Path under the API base (no query string).
        path: String,
        /// HTTP status.
        status: u16,
        /// OVH error class, e.g. `Client::NotFound`.
        class: Option<String>,
        /// OVH `errorCode`, e.g. `INVALID_SIGNATURE`.
        error_code: Option<String>,
        /// Message.
        message: String,
        /// `X-Ovh-QueryID`, to quote to OVH support.
        query_id: Option<String>,
        /// Classification.
        kind: ErrorKind,
    },
    /// No usable answer: connection refused or dropped, timeout, body cut.
    #[error("OVH {method} {path}: transport error: {source}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Path under the API base.
        path: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A success answer whose body is not what the API documents.
    #[error("OVH {method} {path}: unexpected response (query id {}): {source}",
        .query_id.as_deref().unwrap_or("-"))]
    Decode {
        /// HTTP method.
        method: String,
        /// Path under the API base.
        path: String,
        /// `X-Ovh-QueryID`.
        query_id: Option<String>,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The client could not be built or the request could not be formed.
    #[error("OVH client: {0}")]
    Config(String),
}

impl OvhError {
    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OvhError::Api { kind, .. } => *kind,
            OvhError::Transport { .. } => ErrorKind::Transient,
            OvhError::Decode { .. } | OvhError::Config(_) => ErrorKind::Other,
        }
    }

    /// HTTP status, when OVH answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            OvhError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `X-Ovh-QueryID`, when OVH answered.
    pub fn query_id(&self) -> Option<&str> {
        match self {
            OvhError::Api { query_id, .. } | OvhError::Decode { query_id, .. } => {
                query_id.as_deref()
            }
            _ => None,
        }
    }

    /// OVH error class, when OVH answered with one.
    pub fn class(&self) -> Option<&str> {
        match self {
            OvhError::Api { class, .. } => class.as_deref(),
            _ => None,
        }
    }

    /// OVH message, when OVH answered.
    pub fn message(&self) -> Option<&str> {
        match self {
            OvhError::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// Whether the server refused the request's timestamp (the clock offset needs a refresh).
    pub(crate) fn is_time_error(&self) -> bool {
        matches!(self, OvhError::Api { error_code: Some(c), .. }
            if c == "QUERY_TIME_OUT" || c == "INVALID_TIMESTAMP")
    }
}

/// Classifies an OVH error answer.
pub fn classify(
    status: u16,
    class: Option<&str>,
    error_code: Option<&str>,
    message: &str,
) -> ErrorKind {
    let text = message.to_ascii_lowercase();
    let auth_code = matches!(
        error_code,
        Some(
            "INVALID_SIGNATURE"
                | "QUERY_TIME_OUT"
                | "INVALID_TIMESTAMP"
                | "INVALID_KEY"
                | "INVALID_CREDENTIAL"
                | "NOT_GRANTED_CALL"
                | "NOT_AUTHENTICATED"
        )
    );
    match status {
        401 | 403 => ErrorKind::Auth,
        _ if auth_code => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Busy,
        412 if text.contains("stock") => ErrorKind::OutOfStock,
        412 => ErrorKind::Quota,
        429 | 500..=599 => ErrorKind::Transient,
        400 | 422 => {
            if text.contains("out of stock") || text.contains("outofstock") {
                ErrorKind::OutOfStock
            } else if text.contains("quota") {
                ErrorKind::Quota
            } else if [
                "upscaling",
                "downscaling",
                "installing",
                "being deleted",
                "retry",
                "not ready",
                "in progress",
            ]
            .iter()
            .any(|w| text.contains(w))
            {
                ErrorKind::Busy
            } else {
                ErrorKind::InvalidRequest
            }
        }
        _ if class.is_some_and(|c| c.starts_with("Server::")) => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        use ErrorKind::*;
        let c = |s, code: Option<&str>, m| classify(s, None, code, m);
        assert_eq!(c(401, None, "You must login first"), Auth);
        assert_eq!(
            c(
                403,
                Some("NOT_GRANTED_CALL"),
                "This call has not been granted"
            ),
            Auth
        );
        assert_eq!(c(400, Some("INVALID_SIGNATURE"), "Invalid signature"), Auth);
        assert_eq!(c(404, None, "Node pool x not found"), NotFound);
        assert_eq!(c(409, None, "exists"), Busy);
        assert_eq!(c(412, None, "InsufficientVCPUsQuota: ..."), Quota);
        assert_eq!(c(429, None, "slow down"), Transient);
        assert_eq!(c(503, None, ""), Transient);
        assert_eq!(
            c(
                400,
                None,
                "Node pool p is UPSCALING and cannot be deleted now"
            ),
            Busy
        );
        assert_eq!(
            c(400, None, "Invalid parameter template.spec.taints"),
            InvalidRequest
        );
        assert_eq!(c(400, None, "flavor b3-8 is out of stock"), OutOfStock);
        assert_eq!(c(418, None, "teapot"), Other);
    }
}
