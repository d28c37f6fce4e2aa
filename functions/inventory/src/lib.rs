//! `inventory`: accounts, scans, resources, findings, summary and reports.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::routing::{delete, get, post};
use shared::auth::{Authenticator, HasAuthenticator};
use shared::health::{Health, Probe};
use shared::inventory::InventoryStore;
use shared::{ConfigError, Env};
use utoipa::OpenApi;

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub inventory: InventoryStore,
    pub resources: shared::resources::ResourcesStore,
    pub bucket: String,
    pub kms_key_arn: String,
    /// Verifies every request's credentials (shared with the other HTTP functions).
    pub auth: Arc<Authenticator>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    /// The backend's own AWS configuration: accounts without a role are scanned with it,
    /// and roles are assumed from it.
    pub aws: SdkConfig,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        let dynamodb = shared::aws::dynamodb(aws);
        let table = env.required("INVENTORY_TABLE")?;
        Ok(Self {
            inventory: InventoryStore::new(
                dynamodb.clone(),
                table.clone(),
                env.required("SCAN_JOBS_TABLE")?,
            ),
            resources: shared::resources::ResourcesStore::new(dynamodb.clone(), table),
            bucket: env.required("PACKAGE_BUCKET")?,
            kms_key_arn: env.required("KMS_KEY_ARN")?,
            auth: Arc::new(Authenticator::from_env(env, aws)?),
            dynamodb,
            s3: shared::aws::s3(aws),
            aws: aws.clone(),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![
            Probe::DynamoDbTable {
                name: "inventory_table",
                client: self.dynamodb.clone(),
                table: self.inventory.table().to_owned(),
            },
            Probe::DynamoDbTable {
                name: "scan_jobs_table",
                client: self.dynamodb.clone(),
                table: self.inventory.jobs_table().to_owned(),
            },
        ])
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
        .route("/v1/accounts", post(accounts::create).get(accounts::list))
        .route("/v1/accounts/test", post(accounts::test))
        .route("/v1/accounts/{account_id}", delete(accounts::delete))
        .route("/v1/scans", post(scans::start).get(scans::list))
        .route("/v1/scans/{scan_id}", get(scans::get))
        .route("/v1/scans/{scan_id}/jobs", get(scans::jobs))
        .route("/v1/resources", get(resources::list))
        .route("/v1/resources/{arn}", get(resources::get))
        .route("/v1/findings", get(findings::list))
        .route(
            "/v1/findings/{finding_id}/suppress",
            post(findings::suppress).delete(findings::unsuppress),
        )
        .route("/v1/summary", get(findings::summary))
        .route("/v1/reports", post(reports::create))
        .with_state(Arc::new(state));
    shared::http::service(routes, health)
}

mod accounts;
mod findings;
pub mod reports;
mod resources;
mod scans;
pub mod store;

/// Every AWS action this function's code calls: the authenticator's, the
/// health probe's (both tables), its stores', the connection test's
/// (`sts:AssumeRole` into the customer's role, then who it is and which
/// regions it has), and the reports' writes to the bucket.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    let mut actions = shared::auth::iam_actions();
    actions.extend(Probe::TABLE_IAM_ACTIONS);
    actions.extend(
        [
            InventoryStore::ACCOUNTS_IAM_ACTIONS,
            InventoryStore::QUEUE_IAM_ACTIONS,
            store::ACCOUNT_REGISTRY_IAM_ACTIONS,
            store::SCAN_HISTORY_IAM_ACTIONS,
            store::RESOURCE_QUERIES_IAM_ACTIONS,
            store::FINDING_QUERIES_IAM_ACTIONS,
            store::SUPPRESSIONS_IAM_ACTIONS,
            store::SUMMARY_READS_IAM_ACTIONS,
            accounts::CONNECTION_TEST_IAM_ACTIONS,
            reports::IAM_ACTIONS,
        ]
        .concat(),
    );
    actions
}

#[derive(OpenApi)]
#[openapi(paths(
    accounts::create,
    accounts::test,
    accounts::list,
    accounts::delete,
    scans::start,
    scans::list,
    scans::get,
    scans::jobs,
    resources::list,
    resources::get,
    findings::list,
    findings::suppress,
    findings::unsuppress,
    findings::summary,
    reports::create
))]
struct Api;

/// This function's routes in the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn iam_actions_are_what_the_code_calls() {
        let actions = super::iam_actions();
        for call in [
            "dynamodb:DescribeTable",
            "dynamodb:Scan",
            "dynamodb:BatchWriteItem",
            "sts:AssumeRole",
            "sts:GetCallerIdentity",
            "ec2:DescribeRegions",
        ] {
            assert!(actions.contains(call), "{call}");
        }
        for unused in ["dynamodb:ConditionCheckItem", "s3:DeleteObject"] {
            assert!(!actions.contains(unused), "{unused}");
        }
    }
}
