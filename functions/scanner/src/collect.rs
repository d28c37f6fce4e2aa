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
use shared::inventory::{
    GLOBAL, Job, ScanError, Service, global_region, partition_of_arn, partition_of_region,
};
use shared::resources::Resource;

use crate::State;
use crate::store::{Listed, ResourceWrites};

/// What every job calls in the scanned account before listing: its role.
pub const IAM_ACTIONS: &[&str] = &["sts:AssumeRole"];

/// Every collector's read-only calls, as IAM names them.
pub fn collectors_iam_actions() -> impl Iterator<Item = &'static str> {
    [
        ec2::IAM_ACTIONS,
        rds::IAM_ACTIONS,
        kms::IAM_ACTIONS,
        secretsmanager::IAM_ACTIONS,
        dynamodb::IAM_ACTIONS,
        logs::IAM_ACTIONS,
        lambda::IAM_ACTIONS,
        elbv2::IAM_ACTIONS,
        iam::IAM_ACTIONS,
        s3::IAM_ACTIONS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

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
    /// The account's AWS partition (`aws`, `aws-cn`, `aws-us-gov`), for the ARNs we build.
    pub partition: &'a str,
    pub now: String,
}

impl Context<'_> {
    pub fn region(&self) -> &str {
        self.config
            .region()
            .map(|r| r.as_ref())
            .unwrap_or("us-east-1")
    }

    /// The ARN of a resource of this account and region, in the account's partition.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition,
            self.region(),
            self.job.account_id
        )
    }

    /// The ARN of an S3 bucket (which names no region or account).
    pub fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition)
    }

    /// A resource of this job with the fields every collector fills the same way.
    pub fn resource(&self, service: Service, kind: &str, arn: String, id: &str) -> Resource {
        Resource {
            arn,
            id: id.to_owned(),
            resource_type: format!("{service}:{kind}"),
            service,
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

/// A failed listing: AWS's error code and message, for the scan's errors
/// (which clients read: never the SDK's debug text, which goes to the log).
#[derive(Debug, Clone)]
pub struct CollectError {
    pub code: String,
    pub message: String,
}

impl<E> From<shared::aws::SdkError<E>> for CollectError
where
    E: shared::aws::ProvideErrorMetadata + std::error::Error + 'static,
{
    fn from(err: shared::aws::SdkError<E>) -> Self {
        use aws_sdk_ec2::error::SdkError as E0;
        let code = match &err {
            E0::ServiceError(e) => e.err().code().unwrap_or("Unknown").to_owned(),
            E0::TimeoutError(_) => "Timeout".to_owned(),
            E0::DispatchFailure(_) => "Unreachable".to_owned(),
            _ => "Error".to_owned(),
        };
        tracing::warn!(code = %code, error = %shared::aws::describe(&err), "a listing failed");
        Self {
            code,
            message: shared::aws::client_text(&err),
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

/// The collector of a service, if there is one.
pub fn collector(service: Service) -> Option<for<'a> fn(&'a Context<'a>) -> Collected<'a>> {
    match service {
        Service::Ec2 => Some(|cx| Box::pin(ec2::collect(cx))),
        Service::Rds => Some(|cx| Box::pin(rds::collect(cx))),
        Service::Kms => Some(|cx| Box::pin(kms::collect(cx))),
        Service::Secretsmanager => Some(|cx| Box::pin(secretsmanager::collect(cx))),
        Service::Dynamodb => Some(|cx| Box::pin(dynamodb::collect(cx))),
        Service::Logs => Some(|cx| Box::pin(logs::collect(cx))),
        Service::Lambda => Some(|cx| Box::pin(lambda::collect(cx))),
        Service::Elbv2 => Some(|cx| Box::pin(elbv2::collect(cx))),
        Service::Iam => Some(|cx| Box::pin(iam::collect(cx))),
        Service::S3 => Some(|cx| Box::pin(s3::collect(cx))),
        Service::Sts => None,
    }
}

/// The partition of the job's account: its role's ARN names it; the
/// backend's own account is in the partition of the backend's region.
pub fn partition(job: &Job, backend_region: Option<&str>) -> &'static str {
    let region = if job.region == GLOBAL {
        backend_region.unwrap_or("us-east-1")
    } else {
        job.region.as_str()
    };
    match job.role_arn.as_deref().and_then(partition_of_arn) {
        Some("aws-cn") => "aws-cn",
        Some("aws-us-gov") => "aws-us-gov",
        Some("aws-iso") => "aws-iso",
        Some("aws-iso-b") => "aws-iso-b",
        Some(_) => "aws",
        None => partition_of_region(region),
    }
}

fn backend_region(state: &State) -> Option<&str> {
    state.aws.region().map(|r| r.as_ref())
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
        global_region(partition(job, backend_region(state))).to_owned()
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

/// What one job's listings found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Resources listed, by service whose listing succeeded (and was stored).
    pub counts: BTreeMap<Service, u64>,
    pub errors: Vec<ScanError>,
    /// Everything listed and stored, for the advisor.
    pub resources: Vec<Resource>,
}

/// Runs the job's collectors concurrently and stores what each found; then
/// marks gone what the successful listings no longer return.
pub async fn run(state: &State, job: &Job, config: &SdkConfig) -> Listing {
    let cx = Context {
        job,
        config,
        partition: partition(job, backend_region(state)),
        now: shared::dynamo::rfc3339(shared::dynamo::now()),
    };
    let cx = &cx;
    // Collectors hand what they found to one writer, which stores the job's
    // resources 25 to a request whichever services they came from. The
    // services with utilization checks go through the measurer first, which
    // waits for all of them so that their metrics share calls.
    let (found, to_write) = tokio::sync::mpsc::channel(CONCURRENT_SERVICES);
    let (to_measure, measuring) = tokio::sync::mpsc::channel(CONCURRENT_SERVICES);
    let mut work: Vec<BoxFuture<'_, (Service, Result<u64, CollectError>)>> = Vec::new();
    for &service in &job.services {
        let next = if state.findings && crate::metrics::MEASURED.contains(&service) {
            to_measure.clone()
        } else {
            found.clone()
        };
        match collector(service) {
            Some(collect) => work.push(Box::pin(run_one(cx, service, collect, next))),
            None => tracing::debug!(service = service.as_str(), "no collector for this service"),
        }
    }
    drop(to_measure);
    let listings = futures::stream::iter(work)
        .buffer_unordered(CONCURRENT_SERVICES)
        .collect::<Vec<_>>();
    let (results, unmeasured, (unwritten, resources)) = tokio::join!(
        listings,
        measure(cx, measuring, found),
        write(state, job, to_write)
    );
    let mut counts = BTreeMap::new();
    let mut errors = Vec::new();
    let error = |service: Service, e: CollectError| ScanError {
        account_id: job.account_id.clone(),
        region: job.region.clone(),
        service,
        code: e.code,
        message: e.message,
    };
    for (service, e) in unmeasured {
        errors.push(error(service, e));
    }
    for (service, outcome) in results {
        match (outcome, unwritten.get(&service)) {
            (Ok(n), None) => {
                counts.insert(service, n);
            }
            (Ok(_), Some(e)) => errors.push(error(service, store_error(e.clone()))),
            (Err(e), _) => errors.push(error(service, e)),
        }
    }
    // Gone is decided once every listing is in, and only for the services
    // whose listing succeeded (`counts`).
    let listed: Vec<Service> = counts.keys().copied().collect();
    let gone = if job.region == GLOBAL {
        let mut failed = Vec::new();
        for &service in &listed {
            let listed = Listed::AccountWide { service };
            if let Err(e) = state
                .resources
                .mark_gone_except(&job.account_id, listed, &job.scan_id)
                .await
            {
                failed.push((service, e));
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
            Err(e) => listed.iter().map(|&service| (service, e.clone())).collect(),
        }
    };
    for (service, e) in gone {
        errors.push(error(service, store_error(e)));
    }
    Listing {
        counts,
        errors,
        resources,
    }
}

/// Lists one service and hands what it found to the writer. A resource
/// whose ARN the inventory cannot key (over `MAX_ARN_BYTES`) is left out
/// and logged, rather than failing the batch it would be written in.
async fn run_one<'a>(
    cx: &'a Context<'a>,
    service: Service,
    collect: for<'c> fn(&'c Context<'c>) -> Collected<'c>,
    writer: tokio::sync::mpsc::Sender<(Service, Vec<Resource>)>,
) -> (Service, Result<u64, CollectError>) {
    let outcome = match collect(cx).await {
        Ok(mut resources) => {
            resources.retain(|r| {
                let storable = shared::resources::storable_arn(&r.arn);
                if !storable {
                    tracing::warn!(service = service.as_str(), id = %r.id, bytes = r.arn.len(), "a resource whose ARN cannot be stored is left out");
                }
                storable
            });
            let n = resources.len() as u64;
            // The writer outlives every collector: a send fails only if it panicked.
            let _ = writer.send((service, resources)).await;
            Ok(n)
        }
        Err(e) => Err(e),
    };
    (service, outcome)
}

/// Stores a job's resources in full batches as they arrive; returns the
/// services some of whose resources could not be stored, with the error,
/// and every resource it was handed.
/// Attaches the utilization of every resource sent to it, once every
/// measured service's listing is in, then hands them on to the writer. A
/// failed metrics read is an error of each service it left unmeasured.
async fn measure(
    cx: &Context<'_>,
    mut listed: tokio::sync::mpsc::Receiver<(Service, Vec<Resource>)>,
    writer: tokio::sync::mpsc::Sender<(Service, Vec<Resource>)>,
) -> Vec<(Service, CollectError)> {
    let mut held = Vec::new();
    while let Some(listing) = listed.recv().await {
        held.push(listing);
    }
    if held.iter().all(|(_, resources)| resources.is_empty()) {
        return Vec::new();
    }
    let client = aws_sdk_cloudwatch::Client::new(cx.config);
    let mut all: Vec<&mut Resource> = held.iter_mut().flat_map(|(_, r)| r.iter_mut()).collect();
    let started = std::time::Instant::now();
    let (measured, failed) = crate::metrics::attach(&client, &mut all, shared::dynamo::now()).await;
    tracing::info!(
        scan = %cx.job.scan_id,
        region = %cx.job.region,
        resources = measured.resources,
        metric_queries = measured.queries,
        metric_calls = measured.calls,
        metrics_ms = started.elapsed().as_millis() as u64,
        "metrics read"
    );
    let errors = match failed {
        Some(e) => held
            .iter()
            .filter(|(_, resources)| !resources.is_empty())
            .map(|(service, _)| {
                let e = CollectError {
                    code: e.code.clone(),
                    message: format!("CloudWatch metrics: {}", e.message),
                };
                (*service, e)
            })
            .collect(),
        None => Vec::new(),
    };
    for listing in held {
        // The writer outlives the measurer: a send fails only if it panicked.
        let _ = writer.send(listing).await;
    }
    errors
}

async fn write(
    state: &State,
    job: &Job,
    mut found: tokio::sync::mpsc::Receiver<(Service, Vec<Resource>)>,
) -> (BTreeMap<Service, shared::dynamo::StoreError>, Vec<Resource>) {
    const BATCH: usize = 25;
    let mut failed = BTreeMap::new();
    let mut all = Vec::new();
    let mut batch: Vec<(Service, Resource)> = Vec::with_capacity(BATCH);
    let mut flush = async |batch: &mut Vec<(Service, Resource)>| {
        let resources: Vec<&Resource> = batch.iter().map(|(_, r)| r).collect();
        if let Err(e) = state.resources.upsert(resources, &job.scan_id).await {
            tracing::error!(error = %e, scan = %job.scan_id, "storing a batch of resources failed");
            for (service, _) in batch.iter() {
                failed.entry(*service).or_insert_with(|| e.clone());
            }
        }
    };
    while let Some((service, resources)) = found.recv().await {
        for resource in resources {
            batch.push((service, resource));
            if batch.len() == BATCH {
                flush(&mut batch).await;
                all.extend(batch.drain(..).map(|(_, r)| r));
            }
        }
    }
    if !batch.is_empty() {
        flush(&mut batch).await;
        all.extend(batch.drain(..).map(|(_, r)| r));
    }
    (failed, all)
}

/// A store failure, as the scan's errors show it: what failed and whether a
/// retry may help; its detail (the SDK's) is in the log.
fn store_error(e: shared::dynamo::StoreError) -> CollectError {
    tracing::error!(error = %e, "the inventory table failed");
    let why = match e.kind {
        shared::aws::FailureKind::Unavailable => "the inventory table was unavailable",
        shared::aws::FailureKind::Bug => "the inventory table refused the request",
    };
    CollectError {
        code: "StoreFailed".into(),
        message: format!("{}: {why}", e.operation),
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

#[cfg(test)]
mod tests {
    use shared::inventory::ScanTrigger;

    use super::*;

    fn job(region: &str, role_arn: Option<&str>) -> Job {
        Job {
            scan_id: "s".into(),
            account_id: "111111111111".into(),
            region: region.into(),
            role_arn: role_arn.map(str::to_owned),
            external_id: None,
            services: vec![Service::Ec2],
            trigger: ScanTrigger::Api,
        }
    }

    #[test]
    fn arns_are_built_in_the_accounts_partition() {
        let china = job(
            "cn-north-1",
            Some("arn:aws-cn:iam::111111111111:role/cloudkeep-r"),
        );
        let config = SdkConfig::builder()
            .region(aws_config::Region::new("cn-north-1"))
            .build();
        let cx = Context {
            job: &china,
            config: &config,
            partition: partition(&china, Some("cn-north-1")),
            now: String::new(),
        };
        assert_eq!(
            cx.arn("ec2", "volume/vol-1"),
            "arn:aws-cn:ec2:cn-north-1:111111111111:volume/vol-1"
        );
        assert_eq!(cx.bucket_arn("b"), "arn:aws-cn:s3:::b");
        assert_eq!(partition(&job("us-gov-west-1", None), None), "aws-us-gov");
        assert_eq!(
            partition(&job(GLOBAL, None), Some("cn-northwest-1")),
            "aws-cn"
        );
        assert_eq!(partition(&job(GLOBAL, None), None), "aws");
        assert_eq!(
            partition(
                &job(GLOBAL, Some("arn:aws-us-gov:iam::111111111111:role/x")),
                Some("us-east-1")
            ),
            "aws-us-gov"
        );
    }

    #[test]
    fn every_collector_declares_its_calls() {
        let all: Vec<&str> = collectors_iam_actions().collect();
        for service in Service::scanned() {
            let prefix = match service {
                Service::Elbv2 => "elasticloadbalancing:".to_owned(),
                other => format!("{other}:"),
            };
            assert!(all.iter().any(|a| a.starts_with(&prefix)), "{service}");
        }
    }
}
