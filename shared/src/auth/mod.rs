//! Who is calling: access tokens and API keys turned into a [`Caller`], and
//! the role and group checks every HTTP function uses.

pub mod jwt;
pub mod keys;
pub mod password;

mod authenticator;

pub use authenticator::{Authenticator, HasAuthenticator, USER_CACHE_TTL, iam_actions, token_hash};

/// 256 random bits from the OS, URL-safe base64: every secret or unguessable
/// id we hand out (refresh tokens, API keys, token ids, session epochs).
pub fn random_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Username;
use crate::error::ApiError;

/// Roles are cumulative: `admin` ⊇ `publisher` ⊇ `reader`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Publisher,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Publisher => "publisher",
            Self::Admin => "admin",
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    AccessToken { jti: String },
    ApiKey { id: String },
}

/// An authenticated caller, with the roles and groups of their current user record.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: Username,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
    pub credential: Credential,
}

impl Caller {
    /// Whether the caller holds `role` or a role above it.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| *r >= role)
    }

    /// `403` unless the caller holds `role` (or above).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// Whether the caller belongs to at least one of `groups` (admins always do).
    pub fn in_any_group(&self, groups: &[String]) -> bool {
        self.is_admin() || groups.iter().any(|g| self.groups.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], groups: &[&str]) -> Caller {
        Caller {
            username: Username::parse("alice").unwrap(),
            roles: roles.to_vec(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            credential: Credential::AccessToken { jti: "j".into() },
        }
    }

    #[test]
    fn random_tokens_carry_256_bits_and_differ() {
        use base64::Engine as _;
        let a = random_token();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        assert_ne!(a, random_token());
    }

    #[test]
    fn roles_are_cumulative() {
        let admin = caller(&[Role::Admin], &[]);
        assert!(admin.has_role(Role::Reader) && admin.has_role(Role::Publisher));
        let reader = caller(&[Role::Reader], &[]);
        assert!(!reader.has_role(Role::Publisher));
        assert_eq!(reader.require(Role::Admin).unwrap_err().code(), "forbidden");
    }

    #[test]
    fn group_membership_gates_and_admins_pass() {
        let groups = vec!["security".to_owned()];
        assert!(caller(&[Role::Reader], &["security"]).in_any_group(&groups));
        assert!(!caller(&[Role::Reader], &["ops"]).in_any_group(&groups));
        assert!(caller(&[Role::Admin], &[]).in_any_group(&groups));
    }
}
