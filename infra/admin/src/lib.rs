//! Creates or resets an admin user directly in the users table.
//!
//! Deployed stacks have no built-in user or password: an operator runs
//! `cloudkeep-admin` with AWS credentials to make the first admin, and again
//! to reset one who lost their password. The local stack uses the same code.

use anyhow::{Context, Result};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine as _;
use shared::auth::Role;
use shared::domain::Username;
use shared::users::{User, UsersStore};

/// A random password of 24 URL-safe characters (144 bits).
pub fn random_password() -> String {
    let mut bytes = [0u8; 18];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Creates `username` as an enabled admin with `password`, or resets an
/// existing user to that: admin role kept with their groups, enabled, new password.
pub async fn ensure_admin(
    users: &UsersStore,
    username: &Username,
    email: &str,
    password: &str,
) -> Result<User> {
    if password.chars().count() < shared::auth::password::MIN_LENGTH {
        anyhow::bail!(
            "the password must be at least {} characters",
            shared::auth::password::MIN_LENGTH
        );
    }
    let existing = users
        .get_user(username)
        .await
        .context("reading the users table")?;
    let password_hash = shared::auth::password::hash(password)?;
    let user = match existing {
        Some(mut user) => {
            if !user.roles.contains(&Role::Admin) {
                user.roles.push(Role::Admin);
            }
            user.disabled = false;
            user.password_hash = password_hash;
            user
        }
        None => User {
            username: username.clone(),
            email: email.to_owned(),
            password_hash,
            roles: vec![Role::Admin],
            groups: vec![],
            disabled: false,
            created_at: shared::dynamo::rfc3339(shared::dynamo::now()),
        },
    };
    users
        .put_user(&user)
        .await
        .context("writing the users table")?;
    Ok(user)
}
