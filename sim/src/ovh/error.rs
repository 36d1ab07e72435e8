//! OVH-shaped API errors: status, `class`, `message` (and `errorCode` for auth errors).

use http::StatusCode;

/// An error answer of the simulated API, rendered as OVH renders it:
/// `{"class": "Client::BadRequest", "message": "..."}` with an `X-Ovh-QueryID` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OVH error class, e.g. `Client::NotFound`.
    pub class: &'static str,
    /// Human readable message.
    pub message: String,
    /// OVH `errorCode` (authentication errors carry one).
    pub error_code: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, class: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            class,
            message: message.into(),
            error_code: None,
        }
    }

    /// 400 `Client::BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Client::BadRequest", message)
    }

    /// 404 `Client::NotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Client::NotFound", message)
    }

    /// 409 `Client::Conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Client::Conflict", message)
    }

    /// 412 `Client::PreconditionFailed` (quotas).
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "Client::PreconditionFailed",
            message,
        )
    }

    /// An authentication or authorization error with its `errorCode`.
    pub fn auth(status: StatusCode, error_code: &'static str, message: &str) -> Self {
        let class = match status {
            StatusCode::UNAUTHORIZED => "Client::Unauthorized",
            StatusCode::FORBIDDEN => "Client::Forbidden",
            _ => "Client::BadRequest",
        };
        Self {
            error_code: Some(error_code),
            ..Self::new(status, class, message)
        }
    }

    /// 429 `Client::TooManyRequests`.
    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Client::TooManyRequests",
            "Too many requests, please retry later",
        )
    }

    /// A server error (5xx) with OVH's class for it.
    pub fn server(status: StatusCode) -> Self {
        let class = match status {
            StatusCode::SERVICE_UNAVAILABLE => "Server::ServiceUnavailable",
            StatusCode::BAD_GATEWAY => "Server::BadGateway",
            StatusCode::GATEWAY_TIMEOUT => "Server::GatewayTimeout",
            _ => "Server::InternalServerError",
        };
        Self::new(status, class, "Internal server error, please retry later")
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "class": self.class, "message": self.message });
        if let Some(code) = self.error_code {
            body["errorCode"] = code.into();
            body["httpCode"] = format!(
                "{} {}",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("")
            )
            .into();
        }
        body
    }
}
