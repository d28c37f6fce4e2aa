//! `auth`: users, tokens and API keys (`/v1/auth/*`, `/v1/users/*`).

use aws_config::SdkConfig;
use axum::Router;
use shared::health::{Health, Probe};
use shared::{ConfigError, Env};
use utoipa::OpenApi;

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub users_table: String,
    pub signing_secret_arn: String,
    pub signup_enabled: bool,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            users_table: env.required("USERS_TABLE")?,
            signing_secret_arn: env.required("SIGNING_SECRET_ARN")?,
            signup_enabled: env.flag("SIGNUP_ENABLED", false)?,
            dynamodb: shared::aws::dynamodb(aws),
            secrets: shared::aws::secrets_manager(aws),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![Probe::DynamoDbTable {
            name: "users_table",
            client: self.dynamodb.clone(),
            table: self.users_table.clone(),
        }])
    }
}

/// The function's HTTP service.
pub fn router(state: State) -> Router {
    let health = state.health();
    shared::http::service(Router::new(), health)
}

#[derive(OpenApi)]
#[openapi(paths())]
struct Api;

/// This function's routes in the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}
