//! `GET /v1/health`: is this function's own path to its dependencies alive?
//!
//! Each probe is one cheap read-only call (DescribeTable, HeadBucket) bounded
//! by [`PROBE_TIMEOUT`], run concurrently, so a dead dependency answers `503`
//! in about two seconds instead of hanging the caller.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorDetail};

/// The longest a probe may take before its dependency counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One dependency to probe, under a name the health body reports.
#[derive(Clone, Debug)]
pub enum Probe {
    DynamoDbTable {
        name: &'static str,
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
    S3Bucket {
        name: &'static str,
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyStatus {
    Ok,
    /// It did not answer within the probe timeout.
    Timeout,
    /// It answered with an error, or could not be reached.
    Failing,
}

impl Probe {
    /// What a table probe calls (IAM: `dynamodb:DescribeTable` on that table).
    pub const TABLE_IAM_ACTIONS: &'static [&'static str] = &["dynamodb:DescribeTable"];
    /// What a bucket probe calls: `HeadBucket` is authorised by `s3:ListBucket`.
    pub const BUCKET_IAM_ACTIONS: &'static [&'static str] = &["s3:ListBucket"];

    fn name(&self) -> &'static str {
        match self {
            Self::DynamoDbTable { name, .. } | Self::S3Bucket { name, .. } => name,
        }
    }

    async fn call(&self) -> Result<(), String> {
        match self {
            Self::DynamoDbTable { client, table, .. } => client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::aws::describe(&e)),
            Self::S3Bucket { client, bucket, .. } => client
                .head_bucket()
                .bucket(bucket)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::aws::describe(&e)),
        }
    }

    async fn run(&self) -> DependencyStatus {
        match tokio::time::timeout(PROBE_TIMEOUT, self.call()).await {
            Ok(Ok(())) => DependencyStatus::Ok,
            Ok(Err(error)) => {
                tracing::warn!(dependency = self.name(), %error, "health probe failed");
                DependencyStatus::Failing
            }
            Err(_) => {
                tracing::warn!(dependency = self.name(), "health probe timed out");
                DependencyStatus::Timeout
            }
        }
    }
}

/// The probes of one function, cheap to clone into a router.
#[derive(Clone, Debug, Default)]
pub struct Health {
    probes: Arc<Vec<Probe>>,
}

impl Health {
    pub fn new(probes: Vec<Probe>) -> Self {
        Self {
            probes: Arc::new(probes),
        }
    }

    /// Runs every probe concurrently.
    pub async fn check(&self) -> BTreeMap<&'static str, DependencyStatus> {
        let results = futures::future::join_all(self.probes.iter().map(Probe::run)).await;
        self.probes.iter().map(Probe::name).zip(results).collect()
    }
}

/// `200`: the function and all its dependencies answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOk {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    pub dependencies: BTreeMap<&'static str, DependencyStatus>,
}

/// `503`: the error body of `API.md` plus the status of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDown {
    pub error: ErrorDetail,
    pub request_id: String,
    #[schema(example = "unavailable")]
    pub status: &'static str,
    pub version: &'static str,
    pub dependencies: BTreeMap<&'static str, DependencyStatus>,
}

/// Reports whether this function can reach its dependencies.
#[utoipa::path(
    get,
    path = "/v1/health",
    operation_id = "health",
    tag = "service",
    security(()),
    responses(
        (status = 200, description = "Every dependency answers", body = HealthOk),
        (status = 503, description = "A dependency is down (each probe gives up after 2 s)", body = HealthDown),
    )
)]
pub async fn handler(State(health): State<Health>) -> Response {
    let dependencies = health.check().await;
    if dependencies.values().all(|s| *s == DependencyStatus::Ok) {
        return Json(HealthOk {
            status: "ok",
            version: VERSION,
            dependencies,
        })
        .into_response();
    }
    let failing: Vec<_> = dependencies
        .iter()
        .filter(|(_, status)| **status != DependencyStatus::Ok)
        .map(|(name, status)| {
            crate::error::FieldProblem::new(*name, format!("{status:?}").to_lowercase())
        })
        .collect();
    let body = ApiError::Validation(failing).body();
    let error = ErrorDetail {
        code: "upstream_unavailable".to_owned(),
        message: "A dependency of this service is unavailable.".to_owned(),
        details: body.error.details,
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(HealthDown {
            error,
            request_id: body.request_id,
            status: "unavailable",
            version: VERSION,
            dependencies,
        }),
    )
        .into_response()
}
