//! `packages`: uploads, versions and downloads (`/v1/packages/*`, `/v1/uploads/*`).

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::routing::{get, post};
use shared::auth::{Authenticator, HasAuthenticator};
use shared::health::{Health, Probe};
use shared::{ConfigError, Env};
use utoipa::OpenApi;

mod presign;
mod read;
pub mod store;
mod uploads;

use store::{
    DownloadAudit, PackageCatalog, Reservations, Store, UploadSessions, VersionReads, Yanks,
};

pub use presign::{DOWNLOAD_URL_TTL, PART_URL_TTL, object_key};
pub use uploads::{PartPlan, plan_parts};

/// Everything a request needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub packages: Store,
    pub bucket: String,
    pub kms_key_arn: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    /// Verifies every request's credentials (shared with the other HTTP functions).
    pub auth: Arc<Authenticator>,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        let dynamodb = shared::aws::dynamodb(aws);
        Ok(Self {
            packages: Store::new(dynamodb.clone(), env.required("PACKAGES_TABLE")?),
            bucket: env.required("PACKAGE_BUCKET")?,
            kms_key_arn: env.required("KMS_KEY_ARN")?,
            dynamodb,
            s3: shared::aws::s3(aws),
            auth: Arc::new(Authenticator::from_env(env, aws)?),
        })
    }

    fn health(&self) -> Health {
        Health::new(vec![
            Probe::DynamoDbTable {
                name: "packages_table",
                client: self.dynamodb.clone(),
                table: self.packages.table().to_owned(),
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

/// Every AWS action this function's code calls: the authenticator's (users
/// table, signing secret), its stores', the S3 calls and presigned URLs of
/// uploads and downloads, and the health probes'.
pub fn iam_actions() -> BTreeSet<&'static str> {
    let mut actions = shared::auth::iam_actions();
    actions.extend(
        [
            <Store as PackageCatalog>::IAM_ACTIONS,
            <Store as VersionReads>::IAM_ACTIONS,
            <Store as Reservations>::IAM_ACTIONS,
            <Store as UploadSessions>::IAM_ACTIONS,
            <Store as Yanks>::IAM_ACTIONS,
            <Store as DownloadAudit>::IAM_ACTIONS,
            uploads::S3_IAM_ACTIONS,
            presign::IAM_ACTIONS,
            Probe::TABLE_IAM_ACTIONS,
            Probe::BUCKET_IAM_ACTIONS,
        ]
        .concat(),
    );
    actions
}

/// The function's HTTP service.
pub fn router(state: State) -> Router {
    let health = state.health();
    let routes = Router::new()
        .route(
            "/v1/packages/{name}/versions/{version}/uploads",
            post(uploads::start),
        )
        .route("/v1/uploads/{upload_id}/parts", post(uploads::sign_parts))
        .route(
            "/v1/uploads/{upload_id}",
            get(uploads::status).delete(uploads::abort),
        )
        .route("/v1/uploads/{upload_id}/complete", post(uploads::complete))
        .route("/v1/packages", get(read::list))
        .route("/v1/packages/{name}", get(read::package))
        .route("/v1/packages/{name}/versions/{version}", get(read::version))
        .route(
            "/v1/packages/{name}/versions/{version}/download",
            get(read::download),
        )
        .route(
            "/v1/packages/{name}/versions/{version}/yank",
            post(read::yank),
        )
        .route("/v1/packages/{name}/downloads", get(read::downloads))
        .with_state(Arc::new(state));
    shared::http::service(routes, health)
}

#[derive(OpenApi)]
#[openapi(paths(
    uploads::start,
    uploads::sign_parts,
    uploads::status,
    uploads::complete,
    uploads::abort,
    read::list,
    read::package,
    read::version,
    read::download,
    read::yank,
    read::downloads,
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
        let actions: Vec<&str> = super::iam_actions().into_iter().collect();
        assert_eq!(
            actions,
            [
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "s3:AbortMultipartUpload",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
                "secretsmanager:GetSecretValue",
            ]
        );
    }
}
