//! Durations as Karpenter's API writes them: Go duration strings (`1m`, `720h`, `1h30m`), and
//! for `consolidateAfter`/`expireAfter` also `Never`.
//!
//! The text is kept exactly as written so objects round-trip unchanged; accessors parse it.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The literal that disables a [`NillableDuration`].
pub const NEVER: &str = "Never";

/// Why a duration string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a Go duration (`300ms`, `1.5h`, `1h30m`); negative durations are refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    // kube's parser reads "" as zero; Go's time.ParseDuration refuses it.
    if text.trim().is_empty() {
        return Err(DurationError {
            text: text.to_owned(),
            reason: "empty".into(),
        });
    }
    let parsed: kube_core::Duration = text.parse().map_err(|e| DurationError {
        text: text.to_owned(),
        reason: format!("{e}"),
    })?;
    if parsed.is_negative() {
        return Err(DurationError {
            text: text.to_owned(),
            reason: "negative".into(),
        });
    }
    Ok(parsed.into())
}

/// Formats a duration the way Go's `time.Duration.String()` does for whole seconds (`1h30m0s`),
/// and in milliseconds otherwise.
pub fn format_go_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// A duration that may be `Never` (Karpenter's `NillableDuration`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct NillableDuration(String);

impl NillableDuration {
    /// `Never`.
    pub fn never() -> Self {
        Self(NEVER.into())
    }

    /// A finite duration, written as Go writes it.
    pub fn from_duration(d: Duration) -> Self {
        Self(format_go_duration(d))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `Never`.
    pub fn is_never(&self) -> bool {
        self.0 == NEVER
    }

    /// The duration, `None` for `Never`.
    pub fn duration(&self) -> Result<Option<Duration>, DurationError> {
        if self.is_never() {
            Ok(None)
        } else {
            parse_go_duration(&self.0).map(Some)
        }
    }
}

impl From<&str> for NillableDuration {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl fmt::Display for NillableDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plain duration (Kubernetes' `metav1.Duration`), e.g. `terminationGracePeriod`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct GoDuration(String);

impl GoDuration {
    /// A duration, written as Go writes it.
    pub fn from_duration(d: Duration) -> Self {
        Self(format_go_duration(d))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The duration.
    pub fn duration(&self) -> Result<Duration, DurationError> {
        parse_go_duration(&self.0)
    }
}

impl From<&str> for GoDuration {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_guide_and_upstream_defaults() {
        assert_eq!(
            NillableDuration::from("1m").duration(),
            Ok(Some(Duration::from_secs(60)))
        );
        assert_eq!(
            NillableDuration::from("720h").duration(),
            Ok(Some(Duration::from_secs(720 * 3600)))
        );
        assert_eq!(
            NillableDuration::from("0s").duration(),
            Ok(Some(Duration::ZERO))
        );
        assert_eq!(NillableDuration::never().duration(), Ok(None));
        assert_eq!(
            GoDuration::from("1h30m").duration(),
            Ok(Duration::from_secs(5400))
        );
    }

    #[test]
    fn refuses_garbage_and_negative() {
        assert!(NillableDuration::from("soon").duration().is_err());
        assert!(NillableDuration::from("never").duration().is_err());
        assert!(GoDuration::from("-5m").duration().is_err());
        assert!(GoDuration::from("").duration().is_err());
    }

    #[test]
    fn keeps_the_text_as_written() {
        let d: NillableDuration = serde_json::from_str("\"60m\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"60m\"");
    }

    proptest! {
        #[test]
        fn formatted_durations_parse_back(secs in 0u64..10_000_000) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(NillableDuration::from_duration(d).duration(), Ok(Some(d)));
            prop_assert_eq!(GoDuration::from_duration(d).duration(), Ok(d));
        }
    }
}
