//! Collectors: one small function per service, each listing every resource
//! of its service in one account and region (paginating fully), in the
//! uniform shape of `API.md`. Adding a service is one file in `collect/` and
//! one line in [`collector`].

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use futures::StreamExt;
use futures::future::BoxFuture;
use shared::inventory::{GLOBAL, Job, ScanError};
use shared::resources::{Listed, Resource};

use crate::State;

mod dynamodb;
mod ec2;
mod elbv2;
mod iam;
mod kms;
mod lambda;
mod logs;
mod rds;
mod s3;
mod secretsmanager;

/// Services of one job listed at once: all of a region's. AWS throttles per
/// account, region and API, so services do not compete for one budget.
const CONCURRENT_SERVICES: usize = 8;
/// Per-resource calls (tags, rotation, MFA, ...) in flight at once within one
/// listing, so a listing costs its round trips, not one per resource.
const CONCURRENT_DETAILS: usize = 8;
/// The longest one AWS call may take, retries included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a collector needs: where it is, and the SDK configuration to get there.
pub struct Context<'a> {
    pub job: &'a Job,
    pub config: &'a SdkConfig,
    pub now: String,
}

impl Context<'_> {
    pub fn region(&self) -> &str {
        self.config
            .region()
            .map(|r| r.as_ref())
            .unwrap_or("us-east-1")
    }

    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region(),
            self.job.account_id
        )
    }

    /// A resource of this job with the fields every collector fills the same way.
    pub fn resource(&self, service: &str, kind: &str, arn: String, id: &str) -> Resource {
        Resource {
            arn,
            id: id.to_owned(),
            resource_type: format!("{service}:{kind}"),
            service: service.to_owned(),
            region: self.region().to_owned(),
            account_id: self.job.account_id.clone(),
            name: None,
            state: None,
            tags: BTreeMap::new(),
            created_at: None,
            monthly_cost_usd: 0.0,
            properties: serde_json::Value::Null,
            last_seen: self.now.clone(),
        }
    }
}

/// A failed listing: AWS's error code and message, for the scan's errors.
#[derive(Debug, Clone)]
pub struct CollectError {
    pub code: String,
    pub message: String,
}

impl<E, R> From<aws_sdk_ec2::error::SdkError<E, R>> for CollectError
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(err: aws_sdk_ec2::error::SdkError<E, R>) -> Self {
        let code = match &err {
            aws_sdk_ec2::error::SdkError::ServiceError(e) => {
                e.err().code().unwrap_or("Unknown").to_owned()
            }
            aws_sdk_ec2::error::SdkError::TimeoutError(_) => "Timeout".to_owned(),
            aws_sdk_ec2::error::SdkError::DispatchFailure(_) => "Unreachable".to_owned(),
            _ => "Error".to_owned(),
        };
        Self {
            code,
            message: shared::aws::describe(&err),
        }
    }
}

/// Describes each listed item, [`CONCURRENT_DETAILS`] at a time, in listing
/// order; `None` skips an item, and the first error fails the listing.
pub async fn detailed<T, F, Fut>(items: Vec<T>, describe: F) -> Result<Vec<Resource>, CollectError>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Resource>, CollectError>>,
{
    futures::stream::iter(items)
        .map(describe)
        .buffered(CONCURRENT_DETAILS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .filter_map(Result::transpose)
        .collect()
}

pub type Collected<'a> = BoxFuture<'a, Result<Vec<Resource>, CollectError>>;

/// The collector of a service, if there is one yet.
pub fn collector(service: &str) -> Option<for<'a> fn(&'a Context<'a>) -> Collected<'a>> {
    match service {
        "ec2" => Some(|cx| Box::pin(ec2::collect(cx))),
        "rds" => Some(|cx| Box::pin(rds::collect(cx))),
        "kms" => Some(|cx| Box::pin(kms::collect(cx))),
        "secretsmanager" => Some(|cx| Box::pin(secretsmanager::collect(cx))),
        "dynamodb" => Some(|cx| Box::pin(dynamodb::collect(cx))),
        "logs" => Some(|cx| Box::pin(logs::collect(cx))),
        "lambda" => Some(|cx| Box::pin(lambda::collect(cx))),
        "elbv2" => Some(|cx| Box::pin(elbv2::collect(cx))),
        "iam" => Some(|cx| Box::pin(iam::collect(cx))),
        "s3" => Some(|cx| Box::pin(s3::collect(cx))),
        _ => None,
    }
}

/// The job's SDK configuration: the customer's role assumed (or our own
/// credentials), its region, adaptive retries and a per-call timeout.
pub async fn config_for(state: &State, job: &Job) -> Result<SdkConfig, String> {
    let base = match &job.role_arn {
        Some(role) => shared::aws::assume_role(
            &state.aws,
            role,
            job.external_id.as_deref(),
            "cloudkeep-scanner",
        )
        .await
        .map_err(|e| e.to_string())?,
        None => state.aws.clone(),
    };
    let region = if job.region == GLOBAL {
        "us-east-1".to_owned()
    } else {
        job.region.clone()
    };
    Ok(base
        .to_builder()
        .region(aws_config::Region::new(region))
        .retry_config(RetryConfig::adaptive().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(CALL_TIMEOUT)
                .connect_timeout(Duration::from_secs(3))
                .build(),
        )
        .build())
}

/// Runs the job's collectors concurrently and stores what each found; then
/// marks gone what the successful listings no longer return.
pub async fn run(
    state: &State,
    job: &Job,
    config: &SdkConfig,
) -> (BTreeMap<String, u64>, Vec<ScanError>) {
    let cx = Context {
        job,
        config,
        now: shared::dynamo::rfc3339(shared::dynamo::now()),
    };
    let cx = &cx;
    // Collectors hand what they found to one writer, which stores the job's
    // resources 25 to a request whichever services they came from.
    let (found, to_write) = tokio::sync::mpsc::channel(CONCURRENT_SERVICES);
    let mut work: Vec<BoxFuture<'_, (String, Result<u64, CollectError>)>> = Vec::new();
    for service in &job.services {
        match collector(service) {
            Some(collect) => work.push(Box::pin(run_one(cx, service, collect, found.clone()))),
            None => tracing::debug!(service, "no collector for this service yet"),
        }
    }
    drop(found);
    let listings = futures::stream::iter(work)
        .buffer_unordered(CONCURRENT_SERVICES)
        .collect::<Vec<_>>();
    let (results, unwritten) = tokio::join!(listings, write(state, job, to_write));
    let mut counts = BTreeMap::new();
    let mut errors = Vec::new();
    let error = |service: &str, e: CollectError| ScanError {
        account_id: job.account_id.clone(),
        region: job.region.clone(),
        service: service.to_owned(),
        code: e.code,
        message: e.message,
    };
    for (service, outcome) in results {
        match (outcome, unwritten.get(&service)) {
            (Ok(n), None) => {
                counts.insert(service, n);
            }
            (Ok(_), Some(e)) => errors.push(error(&service, store_error(e.clone()))),
            (Err(e), _) => errors.push(error(&service, e)),
        }
    }
    // Gone is decided once every listing is in, and only for the services
    // whose listing succeeded (`counts`).
    let listed: Vec<String> = counts.keys().cloned().collect();
    let gone = if job.region == GLOBAL {
        let mut failed = Vec::new();
        for service in &listed {
            let listed = Listed::AccountWide { service };
            if let Err(e) = state
                .resources
                .mark_gone_except(&job.account_id, listed, &job.scan_id)
                .await
            {
                failed.push((service.clone(), e));
            }
        }
        failed
    } else {
        let listed_here = Listed::Region {
            region: &job.region,
            services: &listed,
        };
        match state
            .resources
            .mark_gone_except(&job.account_id, listed_here, &job.scan_id)
            .await
        {
            Ok(_) => Vec::new(),
            Err(e) => listed
                .iter()
                .map(|service| (service.clone(), e.clone()))
                .collect(),
        }
    };
    for (service, e) in gone {
        errors.push(error(&service, store_error(e)));
    }
    (counts, errors)
}

/// Lists one service and hands what it found to the writer.
async fn run_one<'a>(
    cx: &'a Context<'a>,
    service: &'a str,
    collect: for<'c> fn(&'c Context<'c>) -> Collected<'c>,
    writer: tokio::sync::mpsc::Sender<(String, Vec<Resource>)>,
) -> (String, Result<u64, CollectError>) {
    let outcome = match collect(cx).await {
        Ok(resources) => {
            let n = resources.len() as u64;
            // The writer outlives every collector: a send fails only if it panicked.
            let _ = writer.send((service.to_owned(), resources)).await;
            Ok(n)
        }
        Err(e) => Err(e),
    };
    (service.to_owned(), outcome)
}

/// Stores a job's resources in full batches as they arrive; returns the
/// services some of whose resources could not be stored, with the error.
async fn write(
    state: &State,
    job: &Job,
    mut found: tokio::sync::mpsc::Receiver<(String, Vec<Resource>)>,
) -> BTreeMap<String, shared::dynamo::StoreError> {
    const BATCH: usize = 25;
    let mut failed = BTreeMap::new();
    let mut batch: Vec<(String, Resource)> = Vec::with_capacity(BATCH);
    let mut flush = async |batch: &mut Vec<(String, Resource)>| {
        let resources: Vec<&Resource> = batch.iter().map(|(_, r)| r).collect();
        if let Err(e) = state.resources.upsert(resources, &job.scan_id).await {
            for (service, _) in batch.iter() {
                failed.entry(service.clone()).or_insert_with(|| e.clone());
            }
        }
        batch.clear();
    };
    while let Some((service, resources)) = found.recv().await {
        for resource in resources {
            batch.push((service.clone(), resource));
            if batch.len() == BATCH {
                flush(&mut batch).await;
            }
        }
    }
    if !batch.is_empty() {
        flush(&mut batch).await;
    }
    failed
}

fn store_error(e: shared::dynamo::StoreError) -> CollectError {
    CollectError {
        code: "StoreFailed".into(),
        message: e.to_string(),
    }
}

/// AWS tags as a map.
pub fn tag_map<'a>(
    tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter_map(|(k, v)| Some((k?.to_owned(), v.unwrap_or_default().to_owned())))
        .collect()
}
