//! `actions`: the only function allowed to change customer resources.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use shared::auth::{Authenticator, HasAuthenticator};
use shared::health::{Health, Probe};
use shared::{ConfigError, Env};
use utoipa::OpenApi;

/// The AWS actions this function's code calls: the authenticator's reads and
/// the health probe of the audit table. The rights to act, and the audit
/// log's writes, arrive with the actions themselves.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    let mut actions = shared::auth::iam_actions();
    actions.extend(Probe::TABLE_IAM_ACTIONS);
    actions
}

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub inventory_table: String,
    pub audit_table: String,
    /// Verifies every request's credentials (shared with the other HTTP functions).
    pub auth: Arc<Authenticator>,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            inventory_table: env.required("INVENTORY_TABLE")?,
            audit_table: env.required("AUDIT_TABLE")?,
            auth: Arc::new(Authenticator::from_env(env, aws)?),
            dynamodb: shared::aws::dynamodb(aws),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![Probe::DynamoDbTable {
            name: "audit_table",
            client: self.dynamodb.clone(),
            table: self.audit_table.clone(),
        }])
    }
}

impl HasAuthenticator for State {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
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
