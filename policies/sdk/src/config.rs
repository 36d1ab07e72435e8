//! The policy's own JSON configuration (`data.config.json` of its ConfigMap).

use serde::de::DeserializeOwned;

/// Parses a policy config: the empty (or blank) string gives `T::default()`; anything else
/// must be a JSON document of `T`. Use `#[serde(deny_unknown_fields)]` on `T` so a typo is an
/// error rather than a silently ignored setting.
pub fn parse<T: DeserializeOwned + Default>(config: &str) -> Result<T, String> {
    if config.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(config).map_err(|e| format!("invalid policy config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Cfg {
        max_things: Option<u32>,
    }

    #[test]
    fn empty_is_default_and_typos_are_errors() {
        assert_eq!(parse::<Cfg>("  ").unwrap(), Cfg::default());
        assert_eq!(
            parse::<Cfg>(r#"{"maxThings": 3}"#).unwrap().max_things,
            Some(3)
        );
        let err = parse::<Cfg>(r#"{"maxThing": 3}"#).unwrap_err();
        assert!(
            err.starts_with("invalid policy config: unknown field `maxThing`"),
            "{err}"
        );
        assert!(parse::<Cfg>("{").is_err());
    }
}
