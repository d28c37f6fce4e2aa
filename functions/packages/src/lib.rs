//! `packages`: uploads, versions and downloads (`/v1/packages/*`, `/v1/uploads/*`).

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
    pub packages_table: String,
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
            packages_table: env.required("PACKAGES_TABLE")?,
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
