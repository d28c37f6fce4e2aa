//! `actions`: the only function allowed to change customer resources. Each
//! action reads the resource live, checks its precondition and protection
//! tag, writes the audit record before it calls AWS, and keeps the
//! inventory true after it.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::routing::post;
use shared::auth::{Authenticator, HasAuthenticator};
use shared::dynamo::Table;
use shared::health::{Health, Probe};
use shared::resources::ResourcesStore;
use shared::{ConfigError, Env};
use utoipa::OpenApi;

pub mod action;
pub mod aftermath;
pub mod audit;
mod http;
pub mod remediate;
pub mod run;

/// The AWS actions this function's code calls: the authenticator's reads,
/// the health probe of the audit table, the audit table's and inventory's
/// stores, assuming remediation roles, and the actions' reads and calls.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    let mut actions = shared::auth::iam_actions();
    actions.extend(Probe::TABLE_IAM_ACTIONS);
    actions.extend(
        [
            audit::IAM_ACTIONS,
            aftermath::IAM_ACTIONS,
            remediate::IAM_ACTIONS,
            &["sts:AssumeRole"],
        ]
        .concat(),
    );
    actions
}

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    /// The audit log, idempotency keys and locks.
    pub audit: Table,
    /// The inventory: accounts, resources, findings, the summary.
    pub inventory: ResourcesStore,
    /// Verifies every request's credentials (shared with the other HTTP functions).
    pub auth: Arc<Authenticator>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The backend's own AWS configuration: it acts in the backend's own
    /// account, and assumes remediation roles in the others.
    pub aws: SdkConfig,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        let dynamodb = shared::aws::dynamodb(aws);
        Ok(Self {
            audit: Table::new(dynamodb.clone(), env.required("AUDIT_TABLE")?),
            inventory: ResourcesStore::new(dynamodb.clone(), env.required("INVENTORY_TABLE")?),
            auth: Arc::new(Authenticator::from_env(env, aws)?),
            dynamodb,
            aws: aws.clone(),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![Probe::DynamoDbTable {
            name: "audit_table",
            client: self.dynamodb.clone(),
            table: self.audit.name.clone(),
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
    let routes = Router::new()
        .route("/v1/actions", post(http::act).get(http::list))
        .route("/v1/actions/bulk", post(http::bulk))
        .with_state(Arc::new(state));
    shared::http::service(routes, health)
}

#[derive(OpenApi)]
#[openapi(paths(http::act, http::bulk, http::list))]
struct Api;

/// This function's routes in the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}
