//! `packages`: uploads, versions and downloads (`/v1/packages/*`, `/v1/uploads/*`).

use aws_config::SdkConfig;
use axum::Router;
use shared::health::{Health, Probe};
use shared::{ConfigError, Env};
use utoipa::OpenApi;

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub users_table: String,
    pub packages_table: String,
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
            packages_table: env.required("PACKAGES_TABLE")?,
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
                name: "packages_table",
                client: self.dynamodb.clone(),
                table: self.packages_table.clone(),
            },
            Probe::S3Bucket {
                name: "package_bucket",
                client: self.s3.clone(),
                bucket: self.bucket.clone(),
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
