//! Request authentication as OVH does it: application key, consumer key, timestamp window,
//! `$1$` SHA-1 signature, and the consumer key's access rules.
//!
//! This is the *server's* implementation of the scheme, written independently of the client's
//! signing code on purpose: a shared function would hide a bug on both sides at once. Both are
//! tested against the signature test vectors (host/src/ovh/signature.rs).

use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::error::ApiError;

/// One access rule of a consumer key: a method and a path glob where `*` matches anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    /// HTTP method (`GET`, `POST`, `PUT`, `DELETE`).
    pub method: String,
    /// Path under `/1.0`, e.g. `/cloud/project/*/kube/*/nodepool`.
    pub path: String,
}

impl AccessRule {
    /// A rule.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
        }
    }

    /// Whether this rule grants `method path`.
    pub fn grants(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && glob(self.path.as_bytes(), path.as_bytes())
    }
}

/// The access rules the guide tells operators to grant.
pub fn guide_rules() -> Vec<AccessRule> {
    [
        ("GET", "/cloud/project/*/kube/*"),
        ("POST", "/cloud/project/*/kube/*/nodepool"),
        ("PUT", "/cloud/project/*/kube/*/nodepool/*"),
        ("DELETE", "/cloud/project/*/kube/*/nodepool/*"),
        ("GET", "/cloud/project/*/kube/*/nodepool"),
        ("GET", "/cloud/project/*/kube/*/nodepool/*/nodes"),
        ("GET", "/cloud/project/*/kube/*/flavors"),
        ("GET", "/cloud/project/*/capabilities/kube/*"),
    ]
    .into_iter()
    .map(|(m, p)| AccessRule::new(m, p))
    .collect()
}

/// Rules granting everything.
pub fn all_rules() -> Vec<AccessRule> {
    ["GET", "POST", "PUT", "DELETE"]
        .into_iter()
        .map(|m| AccessRule::new(m, "/*"))
        .collect()
}

/// `*` matches any sequence of characters (including `/`), as in OVH's access rules.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((bp, bt)) = backtrack {
            p = bp + 1;
            t = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// An application + consumer key pair the simulator accepts.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCredential {
    /// Application key (`OVH_APPLICATION_KEY`).
    pub application_key: String,
    /// Application secret (`OVH_APPLICATION_SECRET`).
    pub application_secret: String,
    /// Consumer key (`OVH_CONSUMER_KEY`).
    pub consumer_key: String,
    /// What the consumer key may call.
    pub rules: Vec<AccessRule>,
}

impl std::fmt::Debug for SimCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCredential")
            .field("application_key", &self.application_key)
            .field("application_secret", &"<redacted>")
            .field("consumer_key", &"<redacted>")
            .field("rules", &self.rules)
            .finish()
    }
}

/// `"$1$" + hex(sha1(AS+CK+METHOD+URL+BODY+TS))`.
pub fn expected_signature(
    secret: &str,
    consumer: &str,
    method: &str,
    url: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let mut h = Sha1::new();
    for (i, part) in [secret, consumer, method, url].iter().enumerate() {
        if i > 0 {
            h.update(b"+");
        }
        h.update(part.as_bytes());
    }
    h.update(b"+");
    h.update(body);
    h.update(b"+");
    h.update(timestamp.as_bytes());
    format!("$1${}", hex::encode(h.finalize()))
}

/// Authenticates a signed request and checks its access rules. `path` is relative to `/1.0`.
#[allow(clippy::too_many_arguments)]
pub fn authenticate<'a>(
    credentials: &'a [SimCredential],
    headers: &HeaderMap,
    method: &Method,
    full_url: &str,
    path: &str,
    body: &[u8],
    server_now: i64,
    window_secs: i64,
) -> Result<&'a SimCredential, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let not_logged = || {
        ApiError::auth(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHENTICATED",
            "You must login first",
        )
    };
    let app = header("x-ovh-application").ok_or_else(not_logged)?;
    let consumer = header("x-ovh-consumer").ok_or_else(not_logged)?;
    let timestamp = header("x-ovh-timestamp").ok_or_else(not_logged)?;
    let signature = header("x-ovh-signature").ok_or_else(not_logged)?;
    if !credentials.iter().any(|c| c.application_key == app) {
        return Err(ApiError::auth(
            StatusCode::FORBIDDEN,
            "INVALID_KEY",
            "This application key is invalid",
        ));
    }
    let cred = credentials
        .iter()
        .find(|c| c.application_key == app && c.consumer_key == consumer)
        .ok_or_else(|| {
            ApiError::auth(
                StatusCode::FORBIDDEN,
                "INVALID_CREDENTIAL",
                "This credential does not exist",
            )
        })?;
    let ts: i64 = timestamp.parse().map_err(|_| {
        ApiError::auth(
            StatusCode::BAD_REQUEST,
            "INVALID_TIMESTAMP",
            "Invalid timestamp",
        )
    })?;
    if (ts - server_now).abs() > window_secs {
        return Err(ApiError::auth(
            StatusCode::BAD_REQUEST,
            "QUERY_TIME_OUT",
            "Query out of time",
        ));
    }
    let expected = expected_signature(
        &cred.application_secret,
        &cred.consumer_key,
        method.as_str(),
        full_url,
        body,
        timestamp,
    );
    if expected != signature {
        return Err(ApiError::auth(
            StatusCode::BAD_REQUEST,
            "INVALID_SIGNATURE",
            "Invalid signature",
        ));
    }
    // OVH always lets a consumer key read its own credential.
    let own = *method == Method::GET && path.starts_with("/auth/");
    if !own && !cred.rules.iter().any(|r| r.grants(method.as_str(), path)) {
        return Err(ApiError::auth(
            StatusCode::FORBIDDEN,
            "NOT_GRANTED_CALL",
            "This call has not been granted",
        ));
    }
    Ok(cred)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AS: &str = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk";
    const CK: &str = "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY";
    const URL: &str = "https://eu.api.ovh.com/1.0/auth";

    #[test]
    fn design_vectors() {
        assert_eq!(
            expected_signature(AS, CK, "GET", URL, b"", "1457018875"),
            "$1$e9556054b6309771395efa467c22e627407461ad"
        );
        assert_eq!(
            expected_signature(AS, CK, "POST", URL, br#"{"a":"b","c":"d"}"#, "1457018875"),
            "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1"
        );
    }

    #[test]
    fn rules_glob_like_ovh() {
        let rules = guide_rules();
        let grants = |m: &str, p: &str| rules.iter().any(|r| r.grants(m, p));
        assert!(grants("GET", "/cloud/project/abc/kube/k1"));
        assert!(grants("GET", "/cloud/project/abc/kube/k1/node"));
        assert!(grants("PUT", "/cloud/project/abc/kube/k1/nodepool/p1"));
        assert!(grants(
            "GET",
            "/cloud/project/abc/capabilities/kube/flavors"
        ));
        assert!(!grants("DELETE", "/cloud/project/abc/kube/k1/node/n1"));
        assert!(!grants("POST", "/cloud/project/abc/kube/k1/nodepool/p1"));
        assert!(!grants("GET", "/me"));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b", b"axxbc"));
    }
}
