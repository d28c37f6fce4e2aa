//! Domain newtypes that validate on construction: below the HTTP edge, a
//! value of one of these types is valid by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// `^[a-z0-9][a-z0-9_.-]{2,31}$` (`API.md`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok && (3..=32).contains(&s.len()) {
            Ok(Self(s))
        } else {
            Err(NameError(
                "a username is 3 to 32 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> Self {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_api_rules() {
        for good in ["abc", "a.b-c_d", "0day", &"a".repeat(32)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Abc",
            "_abc",
            "-abc",
            "a b c",
            "abc/",
            "ábc",
            &"a".repeat(33),
            "",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_parse_at_the_serde_edge() {
        assert!(serde_json::from_str::<Username>(r#""Admin""#).is_err());
        assert_eq!(
            serde_json::from_str::<Username>(r#""admin""#)
                .unwrap()
                .as_str(),
            "admin"
        );
    }
}
