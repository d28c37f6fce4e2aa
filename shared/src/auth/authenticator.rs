//! Turns an `Authorization` header into a [`Caller`], for every HTTP function.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use http::request::Parts;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::keys::{self, SigningKeys};
use super::{Caller, Credential, jwt};
use crate::domain::Username;
use crate::dynamo;
use crate::error::ApiError;
use crate::users::{CredentialLookup, User, UsersStore};

/// How long a container trusts its copy of a user record: a disabled user's
/// tokens and keys stop working within this time.
pub const USER_CACHE_TTL: Duration = Duration::from_secs(30);

/// Verifies credentials; shared by every request of a container.
pub struct Authenticator {
    users: UsersStore,
    keys: SigningKeys,
    cache: Mutex<HashMap<Username, (Instant, Option<User>)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// Router states that can authenticate a request.
pub trait HasAuthenticator {
    fn authenticator(&self) -> &Authenticator;
}

impl<T: HasAuthenticator> HasAuthenticator for Arc<T> {
    fn authenticator(&self) -> &Authenticator {
        (**self).authenticator()
    }
}

/// The AWS actions authenticating a request calls: user and API-key reads,
/// and the signing secret. Every HTTP function's policy needs them.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    <UsersStore as CredentialLookup>::IAM_ACTIONS
        .iter()
        .chain(keys::IAM_ACTIONS)
        .copied()
        .collect()
}

/// SHA-256, hex: how refresh tokens and API keys are stored. They carry 256
/// random bits, so a fast hash is enough; a slow one would only slow requests.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Authenticator {
    pub fn new(users: UsersStore, keys: SigningKeys) -> Self {
        Self {
            users,
            keys,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// From a function's environment: `USERS_TABLE` and `SIGNING_SECRET_ARN`.
    pub fn from_env(
        env: &crate::Env,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, crate::ConfigError> {
        let users = UsersStore::new(crate::aws::dynamodb(aws), env.required("USERS_TABLE")?);
        let keys = SigningKeys::new(
            crate::aws::secrets_manager(aws),
            env.required("SIGNING_SECRET_ARN")?,
        );
        Ok(Self::new(users, keys))
    }

    /// The users table this authenticator reads.
    pub fn users(&self) -> &UsersStore {
        &self.users
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// The codec for this deployment's pagination cursors; its key is derived
    /// from the signing key, so cursors are worthless outside this deployment.
    pub async fn cursor_codec(&self) -> Result<crate::cursor::CursorCodec, ApiError> {
        use hmac::Mac;
        let (_, key) = self.keys.current().await.map_err(ApiError::upstream)?;
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"cloudkeep pagination cursor key v1");
        Ok(crate::cursor::CursorCodec::new(
            mac.finalize().into_bytes().to_vec(),
        ))
    }

    /// The cursors of the list named `scope`.
    pub async fn pager(&self, scope: impl Into<String>) -> Result<crate::cursor::Pager, ApiError> {
        Ok(crate::cursor::Pager::new(self.cursor_codec().await?, scope))
    }

    /// The user record, from this container's cache when it is fresh enough.
    pub async fn user(&self, username: &Username) -> Result<Option<User>, ApiError> {
        if let Some((at, user)) = self.cache.lock().await.get(username) {
            if at.elapsed() < USER_CACHE_TTL {
                return Ok(user.clone());
            }
        }
        let user = CredentialLookup::get_user(&self.users, username).await?;
        let mut cache = self.cache.lock().await;
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < USER_CACHE_TTL);
        }
        cache.insert(username.clone(), (Instant::now(), user.clone()));
        Ok(user)
    }

    /// Drops a cached user record (after this container changed it).
    pub async fn forget(&self, username: &Username) {
        self.cache.lock().await.remove(username);
    }

    /// The caller of a request, from its `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        self.authenticate_at(authorization, dynamo::now()).await
    }

    /// [`Self::authenticate`] as it would answer at `now` (Unix seconds).
    pub async fn authenticate_at(
        &self,
        authorization: Option<&str>,
        now: i64,
    ) -> Result<Caller, ApiError> {
        let header = authorization.ok_or(ApiError::Unauthorized)?;
        let (scheme, credential) = header
            .trim()
            .split_once(' ')
            .ok_or(ApiError::Unauthorized)?;
        let credential = credential.trim();
        let (username, credential) = if scheme.eq_ignore_ascii_case("bearer") {
            let kid = jwt::key_id(credential).map_err(|e| refused(&e))?;
            let key = self
                .keys
                .verifying_key(&kid, now)
                .await
                .map_err(ApiError::upstream)?
                .ok_or_else(|| {
                    tracing::info!("token signed with a key that is not current or previous");
                    ApiError::Unauthorized
                })?;
            let claims = jwt::verify(credential, &key.key, now).map_err(|e| refused(&e))?;
            if key
                .issued_no_later_than
                .is_some_and(|limit| claims.iat > limit)
            {
                // Rotation retired that key for signing: such a token was not made by us.
                tracing::info!("token of the previous key issued after the rotation");
                return Err(ApiError::Unauthorized);
            }
            let username = Username::parse(claims.sub).map_err(|_| ApiError::Unauthorized)?;
            (username, Credential::AccessToken { jti: claims.jti })
        } else if scheme.eq_ignore_ascii_case("apikey") {
            let record = CredentialLookup::get_api_key(&self.users, &token_hash(credential))
                .await?
                .ok_or_else(|| {
                    tracing::info!("unknown API key");
                    ApiError::Unauthorized
                })?;
            if record.expires_at.is_some_and(|at| at <= now) {
                return Err(ApiError::Unauthorized);
            }
            (record.username, Credential::ApiKey { id: record.id })
        } else {
            return Err(ApiError::Unauthorized);
        };
        match self.user(&username).await? {
            Some(user) if !user.disabled => Ok(Caller {
                username,
                roles: user.roles,
                groups: user.groups,
                credential,
            }),
            _ => {
                tracing::info!(user = %username, "credential of a missing or disabled user");
                Err(ApiError::Unauthorized)
            }
        }
    }
}

fn refused(err: &jwt::TokenError) -> ApiError {
    tracing::info!(reason = %err, "access token refused");
    ApiError::Unauthorized
}

impl<S> FromRequestParts<S> for Caller
where
    S: HasAuthenticator + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = state.authenticator().authenticate(header).await?;
        tracing::Span::current().record("caller", caller.username.as_str());
        Ok(caller)
    }
}
