//! Configuration read from the environment once per cold start.
//!
//! A function's `State::from_env` reads what it needs through [`Env`]; a missing
//! or malformed variable fails the cold start with an error that names it. The
//! dev server and tests hand functions an [`Env`] built from a map instead of
//! mutating the process environment.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Why configuration could not be read. Always names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where configuration comes from: the process environment, or a fixed map.
#[derive(Clone, Default)]
pub struct Env {
    map: Option<HashMap<String, String>>,
}

impl fmt::Debug for Env {
    // Values may be secrets' ARNs or similar; list only the names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.map {
            None => f.write_str("Env(process)"),
            Some(m) => f.debug_set().entries(m.keys()).finish(),
        }
    }
}

impl Env {
    /// The process environment (what Lambda sets from `template.yaml`).
    pub fn process() -> Self {
        Self { map: None }
    }

    /// A fixed set of variables, for the dev server and tests.
    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self { map: Some(map) }
    }

    fn get(&self, name: &str) -> Option<String> {
        match &self.map {
            None => std::env::var(name).ok(),
            Some(m) => m.get(name).cloned(),
        }
        .filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set and non-empty.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    /// A variable that may be absent.
    pub fn optional(&self, name: &'static str) -> Option<String> {
        self.get(name)
    }

    /// A required variable parsed with `FromStr`.
    pub fn parse<T>(&self, name: &'static str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.required(name)?;
        raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })
    }

    /// A boolean flag: `true`/`false` (also `1`/`0`), defaulting when absent.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref().map(str::trim) {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got {other:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn missing_variable_is_named_in_the_error() {
        let err = env(&[]).required("USERS_TABLE").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable USERS_TABLE is not set"
        );
    }

    #[test]
    fn blank_variable_counts_as_missing() {
        let err = env(&[("USERS_TABLE", "  ")])
            .required("USERS_TABLE")
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "USERS_TABLE"
            }
        );
    }

    #[test]
    fn malformed_flag_is_rejected_with_its_name() {
        let err = env(&[("SIGNUP_ENABLED", "yes")])
            .flag("SIGNUP_ENABLED", false)
            .unwrap_err();
        assert!(err.to_string().contains("SIGNUP_ENABLED"), "{err}");
    }

    #[test]
    fn absent_flag_takes_its_default() {
        assert!(env(&[]).flag("SIGNUP_ENABLED", true).unwrap());
        assert!(
            !env(&[("SIGNUP_ENABLED", "false")])
                .flag("SIGNUP_ENABLED", true)
                .unwrap()
        );
    }

    #[test]
    fn debug_output_lists_names_but_never_values() {
        let shown = format!("{:?}", env(&[("SIGNING_SECRET_ARN", "arn:secret")]));
        assert!(shown.contains("SIGNING_SECRET_ARN") && !shown.contains("arn:secret"));
    }
}
