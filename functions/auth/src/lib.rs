//! `auth`: users, tokens and API keys (`/v1/auth/*`, `/v1/users/*`).

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use http::StatusCode;
use serde::Deserialize;
use shared::auth::{Authenticator, Caller, HasAuthenticator, Role};
use shared::health::{Health, Probe};
use shared::http::{Json, Path, Query};
use shared::pagination::Page;
use shared::{ApiError, ConfigError, Env};
use utoipa::{OpenApi, ToSchema};

pub mod store;
mod tokens;

use store::{
    Accounts, ApiKeys, AuthStore, CreateError, LoginAttempts, RefreshFamilies, UserChanges,
};
pub use tokens::{ACCESS_TOKEN_SECS, REFRESH_TOKEN_SECS};

/// Everything a request needs, built once per cold start.
#[derive(Debug)]
pub struct State {
    pub signup_enabled: bool,
    pub auth: Authenticator,
    store: AuthStore,
    dynamodb: aws_sdk_dynamodb::Client,
}

/// The AWS actions this function's code calls: its stores, the
/// authenticator's reads and signing key, and the health probe.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    let mut actions = shared::auth::iam_actions();
    actions.extend(<AuthStore as Accounts>::IAM_ACTIONS);
    actions.extend(<AuthStore as RefreshFamilies>::IAM_ACTIONS);
    actions.extend(<AuthStore as ApiKeys>::IAM_ACTIONS);
    actions.extend(<AuthStore as LoginAttempts>::IAM_ACTIONS);
    // `GET /v1/health` describes the users table.
    actions.insert("dynamodb:DescribeTable");
    actions
}

impl HasAuthenticator for State {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        let auth = Authenticator::from_env(env, aws)?;
        Ok(Self {
            signup_enabled: env.flag("SIGNUP_ENABLED", false)?,
            store: AuthStore::new(auth.users()),
            auth,
            dynamodb: shared::aws::dynamodb(aws),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![Probe::DynamoDbTable {
            name: "users_table",
            client: self.dynamodb.clone(),
            table: self.store.table().to_owned(),
        }])
    }
}

type AppState = Extract<Arc<State>>;

/// The function's HTTP service.
pub fn router(state: State) -> Router {
    let health = state.health();
    let routes = Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(tokens::login))
        .route("/v1/auth/refresh", post(tokens::refresh))
        .route("/v1/auth/logout", post(tokens::logout))
        .route("/v1/auth/me", get(me))
        .route(
            "/v1/auth/api-keys",
            post(tokens::create_api_key).get(tokens::list_api_keys),
        )
        .route("/v1/auth/api-keys/{id}", delete(tokens::delete_api_key))
        .route("/v1/users", get(list_users))
        .route("/v1/users/{username}", patch(update_user))
        .with_state(Arc::new(state));
    shared::http::service(routes, health)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        register,
        tokens::login,
        tokens::refresh,
        tokens::logout,
        me,
        tokens::create_api_key,
        tokens::list_api_keys,
        tokens::delete_api_key,
        list_users,
        update_user
    ),
    components(schemas(shared::users::UserView, Role))
)]
struct Api;

/// This function's routes in the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

use shared::domain::Username;
use shared::users::{User, UserView};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `^[a-z0-9][a-z0-9_.-]{2,31}$`
    #[schema(value_type = String, example = "alice")]
    username: Username,
    #[schema(example = "alice@example.com")]
    email: String,
    /// At least 12 characters.
    password: String,
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if plausible {
        Ok(())
    } else {
        Err(ApiError::invalid("email", "not an e-mail address"))
    }
}

fn check_password(password: &str) -> Result<(), ApiError> {
    use shared::auth::password::{MAX_LENGTH, MIN_LENGTH};
    match password.chars().count() {
        n if n < MIN_LENGTH => Err(ApiError::invalid(
            "password",
            format!("must be at least {MIN_LENGTH} characters"),
        )),
        n if n > MAX_LENGTH => Err(ApiError::invalid(
            "password",
            format!("must be at most {MAX_LENGTH} characters"),
        )),
        _ => Ok(()),
    }
}

/// Registers a user (role `reader`), when sign-up is enabled.
#[utoipa::path(
    post, path = "/v1/auth/register", tag = "auth", operation_id = "register", security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, body = UserView),
        (status = 403, description = "Sign-up is disabled", body = shared::error::ErrorBody),
        (status = 409, description = "The username is taken", body = shared::error::ErrorBody),
        (status = 422, body = shared::error::ErrorBody),
    )
)]
async fn register(
    Extract(state): AppState,
    Json(req): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    if !state.signup_enabled {
        return Err(ApiError::forbidden(
            "sign-up is disabled; ask an administrator for an account",
        ));
    }
    check_email(&req.email)?;
    check_password(&req.password)?;
    let password_hash = shared::auth::password::hash(&req.password).map_err(ApiError::internal)?;
    let user = User {
        username: req.username,
        email: req.email,
        password_hash,
        roles: vec![Role::Reader],
        groups: vec![],
        disabled: false,
        created_at: tokens::rfc3339(shared::dynamo::now()),
    };
    match state.store.create_user(&user).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response()),
        Err(CreateError::Exists) => Err(ApiError::conflict("that username is taken")),
        Err(CreateError::Store(e)) => Err(e.into()),
    }
}

/// The caller's own user record.
#[utoipa::path(
    get, path = "/v1/auth/me", tag = "auth", operation_id = "me",
    responses((status = 200, body = UserView), (status = 401, body = shared::error::ErrorBody))
)]
async fn me(Extract(state): AppState, caller: Caller) -> Result<Json<UserView>, ApiError> {
    let user = state
        .auth
        .user(&caller.username)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: shared::pagination::Limit,
    #[serde(default)]
    cursor: Option<String>,
}

/// Every user, in username order.
#[utoipa::path(
    get, path = "/v1/users", tag = "auth", operation_id = "list_users", params(ListUsersQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, body = shared::error::ErrorBody))
)]
async fn list_users(
    Extract(state): AppState,
    caller: Caller,
    Query(q): Query<ListUsersQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    caller.require(Role::Admin)?;
    let pager = state.auth.pager("users").await?;
    let (users, last) = state
        .store
        .list_users(q.limit.get(), pager.start(q.cursor.as_deref())?)
        .await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page {
        items: users.iter().map(UserView::from).collect(),
        next_cursor,
    }))
}

/// `/v1/users/{username}`
#[derive(Debug, Deserialize)]
pub struct UserPath {
    username: Username,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    roles: Option<Vec<Role>>,
    groups: Option<Vec<String>>,
    /// A disabled user's tokens and keys stop working within 30 seconds, and
    /// every refresh token they hold stops for good (re-enabling does not revive it).
    disabled: Option<bool>,
}

/// Changes a user's roles, groups or disabled flag.
#[utoipa::path(
    patch, path = "/v1/users/{username}", tag = "auth", operation_id = "update_user",
    params(("username" = String, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = 403, body = shared::error::ErrorBody),
        (status = 404, body = shared::error::ErrorBody),
        (status = 422, body = shared::error::ErrorBody),
    )
)]
async fn update_user(
    Extract(state): AppState,
    caller: Caller,
    Path(UserPath { username }): Path<UserPath>,
    Json(req): Json<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(Role::Admin)?;
    if let Some(roles) = &req.roles {
        if roles.is_empty() {
            return Err(ApiError::invalid("roles", "a user needs at least one role"));
        }
    }
    if let Some(groups) = &req.groups {
        shared::domain::check_groups(groups).map_err(|e| ApiError::invalid("groups", e))?;
    }
    let mut roles = req.roles;
    if let Some(r) = roles.as_mut() {
        r.sort();
        r.dedup();
    }
    let changes = UserChanges {
        roles: roles.as_deref(),
        groups: req.groups.as_deref(),
        disabled: req.disabled,
    };
    let user = state
        .store
        .update_user(&username, &changes)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    state.auth.forget(&username).await;
    tracing::info!(user = %username, disabled = user.disabled, "user updated by an admin");
    Ok(Json(UserView::from(&user)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The policy `template.yaml` owes this function: its stores, the
    /// authenticator and the health probe — and no Secrets Manager action
    /// but `GetSecretValue` (the keys are read by stage).
    #[test]
    fn iam_actions_are_what_the_auth_code_calls() {
        let expected: BTreeSet<&str> = [
            "dynamodb:ConditionCheckItem",
            "dynamodb:DeleteItem",
            "dynamodb:DescribeTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "secretsmanager:GetSecretValue",
        ]
        .into();
        assert_eq!(super::iam_actions(), expected);
    }
}
