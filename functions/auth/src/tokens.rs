//! Login, refresh-token rotation, logout and API keys.

use std::sync::Arc;

use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::ApiError;
pub use shared::auth::jwt::ACCESS_TOKEN_SECS;
use shared::auth::{Authenticator, Caller, Credential, jwt, password, random_token, token_hash};
use shared::domain::Username;
use shared::dynamo::now;
pub(crate) use shared::dynamo::rfc3339;
use shared::http::{Json, Path};
use shared::pagination::Page;
use shared::users::{ApiKeyRecord, User};
use utoipa::ToSchema;

use crate::State;
use crate::store::{Accounts, ApiKeys, Attempt, LoginAttempts, RefreshFamilies, Spend};

/// Refresh tokens live 30 days.
pub const REFRESH_TOKEN_SECS: i64 = 30 * 24 * 3600;
/// Login attempts allowed per username per window; the next ones are `429`
/// without a password being checked.
const MAX_ATTEMPTS: u32 = 5;
const ATTEMPT_WINDOW_SECS: i64 = 15 * 60;
/// Usernames longer than this cannot exist; they are not even counted.
const MAX_USERNAME_LEN: usize = 32;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    expires_in: i64,
    /// Opaque; spend it at /v1/auth/refresh for a new pair.
    refresh_token: String,
}

async fn access_token(auth: &Authenticator, user: &User) -> Result<String, ApiError> {
    let (kid, key) = auth.keys().current().await.map_err(ApiError::upstream)?;
    let issued = now();
    let claims = jwt::Claims {
        sub: user.username.to_string(),
        roles: user.roles.clone(),
        groups: user.groups.clone(),
        iat: issued,
        exp: issued + ACCESS_TOKEN_SECS,
        jti: random_token(),
        iss: jwt::ISSUER.into(),
        aud: jwt::AUDIENCE.into(),
    };
    jwt::sign(&claims, &kid, &key).map_err(ApiError::internal)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

/// Exchanges a username and password for an access and a refresh token.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", operation_id = "login", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Unknown user or wrong password (the same answer)", body = shared::error::ErrorBody),
        (status = 429, description = "5 failed logins for this username in 15 minutes", body = shared::error::ErrorBody),
    )
)]
pub async fn login(
    Extract(state): Extract<Arc<State>>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let store = &state.store;
    // Counted before anything is checked, in one conditional write: however
    // many guesses arrive at once, at most MAX_ATTEMPTS passwords are
    // evaluated per window. Unknown usernames are counted the same way.
    if req.username.len() <= MAX_USERNAME_LEN {
        let attempt = store
            .count_attempt(&req.username, now(), MAX_ATTEMPTS, ATTEMPT_WINDOW_SECS)
            .await?;
        if let Attempt::Refused { retry_after_secs } = attempt {
            return Err(ApiError::RateLimited { retry_after_secs });
        }
    }
    let account = match Username::parse(req.username.clone()) {
        Ok(name) => store.account(&name).await?,
        Err(_) => None,
    };
    // The same work whether or not the user exists: timing must not tell.
    let verified = match &account {
        Some(a) => password::verify(&req.password, &a.user.password_hash),
        None => {
            password::verify_dummy(&req.password);
            false
        }
    };
    let account = match account {
        Some(a) if verified && !a.user.disabled => a,
        _ => return Err(ApiError::Unauthorized),
    };
    let user = account.user;
    store.clear_attempts(user.username.as_str()).await?;
    let refresh_token = random_token();
    store
        .start_family(
            &random_token(),
            &user.username,
            account.session_epoch.as_deref(),
            &token_hash(&refresh_token),
            now() + REFRESH_TOKEN_SECS,
        )
        .await?;
    tracing::info!(user = %user.username, "logged in");
    Ok(Json(TokenPair {
        access_token: access_token(&state.auth, &user).await?,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECS,
        refresh_token,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Spends a refresh token for a new pair. Re-using a spent token revokes its family.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth", operation_id = "refresh", security(()),
    request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = shared::error::ErrorBody))
)]
pub async fn refresh(
    Extract(state): Extract<Arc<State>>,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let store = &state.store;
    let old_hash = token_hash(&req.refresh_token);
    let token = store
        .refresh_token(&old_hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if token.spent {
        // A spent token presented again: whoever holds it stole it, or the
        // rightful client is replaying a stolen one's twin. End the session.
        store.revoke_family(&token.family).await?;
        tracing::warn!(user = %token.username, "spent refresh token re-used: family revoked");
        return Err(ApiError::Unauthorized);
    }
    if token.expires_at <= now() {
        return Err(ApiError::Unauthorized);
    }
    let family = match store.family(&token.family).await? {
        Some(f) if !f.revoked && f.username == token.username => f,
        _ => return Err(ApiError::Unauthorized),
    };
    let user = match store.account(&token.username).await? {
        // A family started before the user was disabled (or reset) ended then.
        Some(a) if !a.user.disabled && a.session_epoch == family.session_epoch => a.user,
        _ => return Err(ApiError::Unauthorized),
    };
    let refresh_token = random_token();
    let spend = store
        .spend_refresh_token(
            &token.family,
            &user.username,
            &old_hash,
            &token_hash(&refresh_token),
            now() + REFRESH_TOKEN_SECS,
        )
        .await?;
    if spend == Spend::Lost {
        // A concurrent refresh of the same token won the race: exactly one succeeds.
        return Err(ApiError::Unauthorized);
    }
    Ok(Json(TokenPair {
        access_token: access_token(&state.auth, &user).await?,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECS,
        refresh_token,
    }))
}

/// Ends the session of a refresh token: its whole family is revoked.
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth", operation_id = "logout",
    security(("bearer" = [])),
    request_body = RefreshRequest,
    responses((status = 204, description = "Logged out"), (status = 401, body = shared::error::ErrorBody))
)]
pub async fn logout(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Json(req): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    if !matches!(caller.credential, Credential::AccessToken { .. }) {
        return Err(ApiError::Unauthorized);
    }
    let store = &state.store;
    if let Some(token) = store.refresh_token(&token_hash(&req.refresh_token)).await? {
        // Only the owner's own sessions; anything else is answered the same, to tell nothing.
        if token.username == caller.username {
            store.revoke_family(&token.family).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 1 to 100 characters.
    name: String,
    /// 1 to 3650; absent for a key that does not expire.
    expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    id: String,
    name: String,
    /// The key itself: shown this once, stored only as a hash.
    key: String,
    /// The key's first characters, to recognise it later.
    prefix: String,
    expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    id: String,
    name: String,
    prefix: String,
    created_at: String,
    expires_at: Option<String>,
}

/// Length of the visible prefix: `ck_` and 8 characters of the key.
const PREFIX_LEN: usize = 11;

/// Creates an API key for the caller (`Authorization: ApiKey <key>`).
#[utoipa::path(
    post, path = "/v1/auth/api-keys", tag = "auth", operation_id = "create_api_key",
    request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = shared::error::ErrorBody), (status = 422, body = shared::error::ErrorBody))
)]
pub async fn create_api_key(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Json(req): Json<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    let name = req.name.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    let expires_at = match req.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => Some(now() + i64::from(days) * 86_400),
        Some(_) => {
            return Err(ApiError::invalid(
                "expires_in_days",
                "must be between 1 and 3650",
            ));
        }
    };
    let key = format!("ck_{}", random_token());
    let record = ApiKeyRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        username: caller.username.clone(),
        prefix: key[..PREFIX_LEN].to_owned(),
        created_at: rfc3339(now()),
        expires_at,
    };
    state.store.put_api_key(&token_hash(&key), &record).await?;
    let body = CreatedApiKey {
        id: record.id,
        name: record.name,
        key,
        prefix: record.prefix,
        expires_at: record.expires_at.map(rfc3339),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The caller's API keys (never the keys themselves).
#[utoipa::path(
    get, path = "/v1/auth/api-keys", tag = "auth", operation_id = "list_api_keys",
    responses((status = 200, body = Page<ApiKeyView>), (status = 401, body = shared::error::ErrorBody))
)]
pub async fn list_api_keys(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
) -> Result<Json<Page<ApiKeyView>>, ApiError> {
    let keys = state.store.list_api_keys(&caller.username).await?;
    Ok(Json(Page {
        items: keys
            .into_iter()
            .map(|(_, k)| ApiKeyView {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                created_at: k.created_at,
                expires_at: k.expires_at.map(rfc3339),
            })
            .collect(),
        next_cursor: None,
    }))
}

/// `/v1/auth/api-keys/{id}`
#[derive(Debug, Deserialize)]
pub struct KeyPath {
    id: String,
}

/// Deletes one of the caller's API keys; it stops working at once.
#[utoipa::path(
    delete, path = "/v1/auth/api-keys/{id}", tag = "auth", operation_id = "delete_api_key",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = shared::error::ErrorBody), (status = 404, body = shared::error::ErrorBody))
)]
pub async fn delete_api_key(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(KeyPath { id }): Path<KeyPath>,
) -> Result<StatusCode, ApiError> {
    let store = &state.store;
    let keys = store.list_api_keys(&caller.username).await?;
    let (hash, _) = keys
        .into_iter()
        .find(|(_, k)| k.id == id)
        .ok_or_else(|| ApiError::not_found("no such API key"))?;
    if store.delete_api_key(&hash, &caller.username).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such API key"))
    }
}
