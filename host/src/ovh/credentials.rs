//! OVH API credentials, from a Kubernetes Secret or the environment. Never printed: `Debug`
//! redacts the secret parts and there is no `Display`.

use std::collections::BTreeMap;
use std::fmt;

/// Secret key of the application secret in a Kubernetes Secret (and the guide's env var).
pub const SECRET_KEY_APPLICATION_KEY: &str = "applicationKey";
/// Secret key of the application secret.
pub const SECRET_KEY_APPLICATION_SECRET: &str = "applicationSecret";
/// Secret key of the consumer key.
pub const SECRET_KEY_CONSUMER_KEY: &str = "consumerKey";
/// Environment variable of the application key.
pub const ENV_APPLICATION_KEY: &str = "OVH_APPLICATION_KEY";
/// Environment variable of the application secret.
pub const ENV_APPLICATION_SECRET: &str = "OVH_APPLICATION_SECRET";
/// Environment variable of the consumer key.
pub const ENV_CONSUMER_KEY: &str = "OVH_CONSUMER_KEY";

/// Why credentials could not be built. Names the missing key, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    /// A key is absent.
    #[error("OVH credentials: {0} is missing")]
    Missing(String),
    /// A key is empty.
    #[error("OVH credentials: {0} is empty")]
    Empty(String),
    /// A Secret value is not UTF-8.
    #[error("OVH credentials: {0} is not valid UTF-8")]
    NotUtf8(String),
}

/// A string that never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Application key, application secret and consumer key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    application_key: Secret,
    application_secret: Secret,
    consumer_key: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("application_key", &self.application_key)
            .field("application_secret", &self.application_secret)
            .field("consumer_key", &self.consumer_key)
            .finish()
    }
}

impl Credentials {
    /// From the three values; each must be non-empty.
    pub fn new(
        application_key: impl Into<String>,
        application_secret: impl Into<String>,
        consumer_key: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let check = |name: &str, v: String| {
            let v = v.trim().to_string();
            if v.is_empty() {
                Err(CredentialsError::Empty(name.to_string()))
            } else {
                Ok(Secret(v))
            }
        };
        Ok(Self {
            application_key: check(SECRET_KEY_APPLICATION_KEY, application_key.into())?,
            application_secret: check(SECRET_KEY_APPLICATION_SECRET, application_secret.into())?,
            consumer_key: check(SECRET_KEY_CONSUMER_KEY, consumer_key.into())?,
        })
    }

    /// From `OVH_APPLICATION_KEY`, `OVH_APPLICATION_SECRET`, `OVH_CONSUMER_KEY`.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From an environment-like lookup (the env var names above).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let get = |k: &str| lookup(k).ok_or_else(|| CredentialsError::Missing(k.to_string()));
        let ak = get(ENV_APPLICATION_KEY)?;
        let as_ = get(ENV_APPLICATION_SECRET)?;
        let ck = get(ENV_CONSUMER_KEY)?;
        Self::new(ak, as_, ck).map_err(|e| match e {
            CredentialsError::Empty(k) => CredentialsError::Empty(env_name(&k).to_string()),
            other => other,
        })
    }

    /// From a Kubernetes Secret's `data` (keys `applicationKey`, `applicationSecret`,
    /// `consumerKey`).
    pub fn from_secret_data(
        data: &BTreeMap<String, k8s_openapi::ByteString>,
    ) -> Result<Self, CredentialsError> {
        Self::from_bytes(|k| data.get(k).map(|b| b.0.as_slice()))
    }

    /// From a map of raw bytes with the Secret's keys.
    pub fn from_bytes_map(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, CredentialsError> {
        Self::from_bytes(|k| data.get(k).map(Vec::as_slice))
    }

    fn from_bytes<'a>(get: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Self, CredentialsError> {
        let text = |k: &str| -> Result<String, CredentialsError> {
            let bytes = get(k).ok_or_else(|| CredentialsError::Missing(k.to_string()))?;
            String::from_utf8(bytes.to_vec()).map_err(|_| CredentialsError::NotUtf8(k.to_string()))
        };
        Self::new(
            text(SECRET_KEY_APPLICATION_KEY)?,
            text(SECRET_KEY_APPLICATION_SECRET)?,
            text(SECRET_KEY_CONSUMER_KEY)?,
        )
    }

    /// The application key (sent as `X-Ovh-Application`).
    pub fn application_key(&self) -> &str {
        &self.application_key.0
    }

    pub(crate) fn application_secret(&self) -> &str {
        &self.application_secret.0
    }

    pub(crate) fn consumer_key(&self) -> &str {
        &self.consumer_key.0
    }
}

fn env_name(secret_key: &str) -> &'static str {
    match secret_key {
        SECRET_KEY_APPLICATION_KEY => ENV_APPLICATION_KEY,
        SECRET_KEY_APPLICATION_SECRET => ENV_APPLICATION_SECRET,
        _ => ENV_CONSUMER_KEY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_everything_secret() {
        let c = Credentials::new("AK-visible?", "AS-s3cr3t", "CK-s3cr3t").unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in ["AK-visible?", "AS-s3cr3t", "CK-s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn from_secret_data_and_errors_name_keys_only() {
        let mut data = BTreeMap::new();
        data.insert(
            "applicationKey".to_string(),
            k8s_openapi::ByteString(b"ak".to_vec()),
        );
        data.insert(
            "applicationSecret".to_string(),
            k8s_openapi::ByteString(b"as".to_vec()),
        );
        assert_eq!(
            Credentials::from_secret_data(&data).unwrap_err(),
            CredentialsError::Missing("consumerKey".into())
        );
        data.insert(
            "consumerKey".to_string(),
            k8s_openapi::ByteString(b"ck".to_vec()),
        );
        let c = Credentials::from_secret_data(&data).unwrap();
        assert_eq!(
            (
                c.application_key(),
                c.application_secret(),
                c.consumer_key()
            ),
            ("ak", "as", "ck")
        );
        let mut raw = BTreeMap::new();
        raw.insert("applicationKey".to_string(), vec![0xff]);
        raw.insert("applicationSecret".to_string(), b"x".to_vec());
        raw.insert("consumerKey".to_string(), b"y".to_vec());
        assert_eq!(
            Credentials::from_bytes_map(&raw).unwrap_err(),
            CredentialsError::NotUtf8("applicationKey".into())
        );
    }

    #[test]
    fn from_env_lookup() {
        let env = |k: &str| match k {
            "OVH_APPLICATION_KEY" => Some("ak".to_string()),
            "OVH_APPLICATION_SECRET" => Some(" ".to_string()),
            "OVH_CONSUMER_KEY" => Some("ck".to_string()),
            _ => None,
        };
        assert_eq!(
            Credentials::from_lookup(env).unwrap_err(),
            CredentialsError::Empty("OVH_APPLICATION_SECRET".into())
        );
        assert_eq!(
            Credentials::from_lookup(|_| None).unwrap_err(),
            CredentialsError::Missing("OVH_APPLICATION_KEY".into())
        );
    }
}
