//! `inventory`: accounts, scans, resources, findings, summary and reports.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use shared::auth::{Authenticator, HasAuthenticator};
use shared::health::{Health, Probe};
use shared::{ConfigError, Env};
use utoipa::OpenApi;

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub inventory_table: String,
    pub scan_jobs_table: String,
    pub bucket: String,
    pub kms_key_arn: String,
    /// Verifies every request's credentials (shared with the other HTTP functions).
    pub auth: Arc<Authenticator>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            inventory_table: env.required("INVENTORY_TABLE")?,
            scan_jobs_table: env.required("SCAN_JOBS_TABLE")?,
            bucket: env.required("PACKAGE_BUCKET")?,
            kms_key_arn: env.required("KMS_KEY_ARN")?,
            auth: Arc::new(Authenticator::from_env(env, aws)?),
            dynamodb: shared::aws::dynamodb(aws),
            s3: shared::aws::s3(aws),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![
            Probe::DynamoDbTable {
                name: "inventory_table",
                client: self.dynamodb.clone(),
                table: self.inventory_table.clone(),
            },
            Probe::DynamoDbTable {
                name: "scan_jobs_table",
                client: self.dynamodb.clone(),
                table: self.scan_jobs_table.clone(),
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
    shared::http::service(Router::new(), health)
}

#[derive(OpenApi)]
#[openapi(paths())]
struct Api;

/// This function's routes in the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}
