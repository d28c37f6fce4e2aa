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

/// Group names gate sensitive packages: up to 100 of them, each 1 to 64
/// characters of a-z, 0-9, `_`, `.`, `-`.
pub fn check_groups(groups: &[String]) -> Result<(), NameError> {
    let valid = |g: &String| {
        (1..=64).contains(&g.len())
            && g.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
            })
    };
    match groups.iter().find(|g| !valid(g)) {
        Some(g) => Err(NameError(format!(
            "{g:?}: a group is 1 to 64 characters of a-z, 0-9, '_', '.', '-'"
        ))),
        None if groups.len() > 100 => Err(NameError("at most 100 groups".into())),
        None => Ok(()),
    }
}

/// Implements the serde edge (`try_from`/`into` String) and `Display` for a
/// string newtype with a `parse` constructor.
macro_rules! string_newtype {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// `^[a-z0-9][a-z0-9._-]{0,127}$` (`API.md`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl PackageName {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if first_ok && rest_ok && s.len() <= 128 {
            Ok(Self(s))
        } else {
            Err(NameError(
                "a package name is 1 to 128 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit".into(),
            ))
        }
    }
}

string_newtype!(PackageName);

/// A SemVer 2.0 version (`1.2.3`, `1.0.0-rc.1`), kept in its canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl Version {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        match semver::Version::parse(&s) {
            Ok(v) if v.to_string() == s && s.len() <= 128 => Ok(Self(s)),
            _ => Err(NameError(format!(
                "{s:?} is not a SemVer 2.0 version such as 1.2.3 or 1.0.0-rc.1"
            ))),
        }
    }

    /// SemVer precedence (build metadata ignored).
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.0).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }
}

string_newtype!(Version);

/// The id of one of our upload sessions (a UUID we issue).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UploadId(String);

impl UploadId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        match uuid::Uuid::parse_str(&s) {
            Ok(id) if id.hyphenated().to_string() == s => Ok(Self(s)),
            _ => Err(NameError("an upload id is a UUID".into())),
        }
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

string_newtype!(UploadId);

/// An S3 multipart part number, `1..=10_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PartNumber(u32);

impl PartNumber {
    pub const MAX: u32 = 10_000;

    pub fn new(n: u32) -> Result<Self, NameError> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(NameError(format!(
                "a part number is between 1 and {}",
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for PartNumber {
    type Error = NameError;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<PartNumber> for u32 {
    fn from(p: PartNumber) -> Self {
        p.0
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
    fn group_names_are_checked() {
        assert!(check_groups(&["ops".into(), "sec-team.eu_1".into()]).is_ok());
        assert!(check_groups(&["Ops".into()]).is_err());
        assert!(check_groups(&["".into()]).is_err());
        assert!(check_groups(&vec!["g".to_owned(); 101]).is_err());
    }

    #[test]
    fn package_names_follow_the_api_rules() {
        for good in ["a", "0", "my-tool", "my_tool.v2", &"a".repeat(128)] {
            assert!(PackageName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", ".a", "A", "a/b", "a b", "..", &"a".repeat(129)] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_are_strict_semver() {
        for good in [
            "1.2.3",
            "0.0.0",
            "1.0.0-rc.1",
            "1.0.0+build.5",
            "10.20.30-alpha.beta",
        ] {
            assert!(Version::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "1", "1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3 ", "latest", "../1.0.0", "",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Version::parse("1.0.0-rc.1").unwrap().semver()
                < Version::parse("1.0.0").unwrap().semver()
        );
    }

    #[test]
    fn part_numbers_are_one_to_ten_thousand() {
        assert!(PartNumber::new(0).is_err() && PartNumber::new(10_001).is_err());
        assert_eq!(PartNumber::new(10_000).unwrap().get(), 10_000);
        assert!(serde_json::from_str::<PartNumber>("0").is_err());
    }

    #[test]
    fn upload_ids_are_canonical_uuids() {
        assert!(UploadId::parse(UploadId::new().to_string()).is_ok());
        assert!(UploadId::parse("not-a-uuid").is_err());
        assert!(UploadId::parse("A0000000-0000-4000-8000-000000000000").is_err());
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
