//! Which OVH API to talk to: one of OVH's regions or a custom base URL (the simulator).

use std::fmt;
use std::str::FromStr;

/// An OVH API endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://eu.api.ovh.com/1.0`.
    #[default]
    OvhEu,
    /// `https://ca.api.ovh.com/1.0`.
    OvhCa,
    /// `https://api.us.ovhcloud.com/1.0`.
    OvhUs,
    /// Any base URL including the version prefix, e.g. `http://127.0.0.1:4321/1.0`.
    Custom(String),
}

impl Endpoint {
    /// Base URL without a trailing slash; paths such as `/auth/time` are appended to it.
    pub fn base_url(&self) -> &str {
        match self {
            Endpoint::OvhEu => "https://eu.api.ovh.com/1.0",
            Endpoint::OvhCa => "https://ca.api.ovh.com/1.0",
            Endpoint::OvhUs => "https://api.us.ovhcloud.com/1.0",
            Endpoint::Custom(url) => url,
        }
    }
}

/// An endpoint string that is neither a known name nor an http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("invalid OVH endpoint {0:?}: expected ovh-eu, ovh-ca, ovh-us or an http(s):// base URL")]
pub struct InvalidEndpoint(String);

impl FromStr for Endpoint {
    type Err = InvalidEndpoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ovh-eu" => Ok(Endpoint::OvhEu),
            "ovh-ca" => Ok(Endpoint::OvhCa),
            "ovh-us" => Ok(Endpoint::OvhUs),
            url if url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) =>
            {
                Ok(Endpoint::Custom(url.trim_end_matches('/').to_string()))
            }
            other => Err(InvalidEndpoint(other.to_string())),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::OvhEu => f.write_str("ovh-eu"),
            Endpoint::OvhCa => f.write_str("ovh-ca"),
            Endpoint::OvhUs => f.write_str("ovh-us"),
            Endpoint::Custom(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_parse() {
        assert_eq!(
            "ovh-eu".parse::<Endpoint>().unwrap().base_url(),
            "https://eu.api.ovh.com/1.0"
        );
        assert_eq!(
            "ovh-ca".parse::<Endpoint>().unwrap().base_url(),
            "https://ca.api.ovh.com/1.0"
        );
        assert_eq!(
            "ovh-us".parse::<Endpoint>().unwrap().base_url(),
            "https://api.us.ovhcloud.com/1.0"
        );
        assert_eq!(
            "http://127.0.0.1:9/1.0/"
                .parse::<Endpoint>()
                .unwrap()
                .base_url(),
            "http://127.0.0.1:9/1.0"
        );
        assert!("ovh-xx".parse::<Endpoint>().is_err());
        assert!("ftp://x/1.0".parse::<Endpoint>().is_err());
    }
}
