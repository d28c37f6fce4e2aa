//! `inventory`: accounts, scans, resources, findings, summary and reports.

use aws_config::SdkConfig;
use axum::Router;
use shared::health::{Health, Probe};
use shared::{ConfigError, Env};
use utoipa::OpenApi;

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub users_table: String,
    pub inventory_table: String,
    pub scan_jobs_table: String,
    pub bucket: String,
    pub kms_key_arn: String,
    pub signing_secret_arn: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
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
            inventory_table: env.required("INVENTORY_TABLE")?,
            scan_jobs_table: env.required("SCAN_JOBS_TABLE")?,
            bucket: env.required("PACKAGE_BUCKET")?,
            kms_key_arn: env.required("KMS_KEY_ARN")?,
            signing_secret_arn: env.required("SIGNING_SECRET_ARN")?,
            dynamodb: shared::aws::dynamodb(aws),
            s3: shared::aws::s3(aws),
            secrets: shared::aws::secrets_manager(aws),
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
