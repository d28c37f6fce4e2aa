//! `scanner`: runs scan jobs.
//!
//! Two triggers: the EventBridge schedule (start a scan of every account) and
//! the scan-jobs table's stream (run one inserted job). Each job is claimed
//! with a conditional update first, so a re-delivered record never scans twice.

use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord as StreamRecord};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use shared::inventory::{
    InventoryStore, Job, QueueScans, RegisteredAccounts, ScanError, ScanTrigger, Service, plan_jobs,
};
use shared::{ConfigError, Env};

use crate::store::{Claim, JobRuns, SummaryWrites};

pub mod advise;
pub mod collect;
pub use shared::costs;
pub mod metrics;
pub mod store;

/// Every AWS action this function's code calls: its stores' on its own
/// tables, and, in each scanned account, `sts:AssumeRole` into the
/// customer's role, every collector's read-only listing and the metrics read.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    [
        InventoryStore::ACCOUNTS_IAM_ACTIONS,
        InventoryStore::QUEUE_IAM_ACTIONS,
        store::JOB_RUNS_IAM_ACTIONS,
        store::RESOURCE_WRITES_IAM_ACTIONS,
        store::FINDING_WRITES_IAM_ACTIONS,
        store::SUMMARY_WRITES_IAM_ACTIONS,
        collect::IAM_ACTIONS,
        metrics::IAM_ACTIONS,
    ]
    .concat()
    .into_iter()
    .chain(collect::collectors_iam_actions())
    .collect()
}

/// AWS requests one scanner process has in flight at most. Up to
/// [`CONCURRENT_JOBS`] jobs × every service × eight per-resource calls could
/// otherwise open more sockets than Lambda's 1,024 file descriptors.
pub const MAX_IN_FLIGHT: usize = 128;

/// Everything an invocation needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub inventory: InventoryStore,
    pub resources: shared::resources::ResourcesStore,
    /// The backend's own AWS configuration; customer roles are assumed from it.
    pub aws: SdkConfig,
    /// Whether jobs read metrics and raise findings after listing (`FINDINGS`,
    /// default on). Off, a scan only lists and stores the inventory: what
    /// `make bench-scan` compares against, and a way to shed load.
    pub findings: bool,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        let aws = &shared::aws::bounded(aws, MAX_IN_FLIGHT);
        let dynamodb = shared::aws::dynamodb(aws);
        let table = env.required("INVENTORY_TABLE")?;
        Ok(Self {
            inventory: InventoryStore::new(
                dynamodb.clone(),
                table.clone(),
                env.required("SCAN_JOBS_TABLE")?,
            ),
            resources: shared::resources::ResourcesStore::new(dynamodb, table),
            aws: aws.clone(),
            findings: env.flag("FINDINGS", true)?,
        })
    }
}

/// What woke the scanner.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Records of the scan-jobs table's stream.
    Jobs(StreamEvent),
    /// The EventBridge schedule.
    Schedule(EventBridgeEvent<serde_json::Value>),
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(de)?;
        if value.get("Records").is_some() {
            serde_json::from_value(value)
                .map(Trigger::Jobs)
                .map_err(D::Error::custom)
        } else if value.get("detail-type").is_some() {
            serde_json::from_value(value)
                .map(Trigger::Schedule)
                .map_err(D::Error::custom)
        } else {
            Err(D::Error::custom(
                "neither a DynamoDB stream batch nor an EventBridge event",
            ))
        }
    }
}

/// Starts a scan of every registered account (the schedule's work).
pub async fn scheduled_scan(
    state: &State,
) -> Result<shared::inventory::Scan, lambda_runtime::Error> {
    let accounts = state.inventory.accounts().await?;
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = plan_jobs(&scan_id, ScanTrigger::Schedule, &accounts, None, None);
    let scan = state
        .inventory
        .create_scan(
            &scan_id,
            ScanTrigger::Schedule,
            &jobs,
            shared::dynamo::now(),
        )
        .await?;
    tracing::info!(scan = %scan_id, accounts = accounts.len(), jobs = jobs.len(), "scheduled scan queued");
    Ok(scan)
}

/// What became of one job record.
#[derive(Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Ran {
        resources: u64,
        errors: usize,
    },
    /// Claimed by an earlier delivery of the same record.
    AlreadyClaimed,
}

/// Claims and runs one job; its failures land in the scan's errors.
pub async fn run_job(state: &State, job: &Job) -> Result<JobOutcome, lambda_runtime::Error> {
    if state.inventory.claim_job(job).await? == Claim::Taken {
        tracing::info!(scan = %job.scan_id, account = %job.account_id, region = %job.region, "job already claimed; skipped");
        return Ok(JobOutcome::AlreadyClaimed);
    }
    let started = std::time::Instant::now();
    let listing = match collect::config_for(state, job).await {
        Ok(config) => collect::run(state, job, &config).await,
        Err(message) => collect::Listing {
            errors: vec![ScanError {
                account_id: job.account_id.clone(),
                region: job.region.clone(),
                service: Service::Sts,
                code: "AssumeRoleFailed".into(),
                message,
            }],
            ..Default::default()
        },
    };
    let listed = started.elapsed();
    let (advice, advice_errors) = if state.findings {
        advise::advise(state, job, &listing).await
    } else {
        Default::default()
    };
    let advised = started.elapsed() - listed;
    let collect::Listing {
        counts, mut errors, ..
    } = listing;
    errors.extend(advice_errors);
    let resources: u64 = counts.values().sum();
    let scan = match state.inventory.finish_job(job, &counts, &errors).await {
        Ok(scan) => scan,
        Err(e) => {
            // Give the job back, so the stream's retry runs it rather than skipping it.
            if let Err(release) = state.inventory.release_job(job).await {
                tracing::error!(error = %release, scan = %job.scan_id, "could not release the failed job");
            }
            return Err(e.into());
        }
    };
    // The job that closes the scan sums the parts into the summary; a
    // failure leaves the previous total, to be summed again by the next scan.
    if let Some(scan) = scan.filter(|s| s.status.is_final()) {
        if let Err(e) = state.resources.write_total(&scan).await {
            tracing::error!(error = %e, scan = %job.scan_id, "the summary total could not be written");
        }
    }
    // The two phases' times, for `make bench-scan`'s findings share.
    tracing::info!(
        scan = %job.scan_id, account = %job.account_id, region = %job.region, resources,
        errors = errors.len(), findings = advice.raised, written = advice.written, resolved = advice.resolved,
        listing_ms = listed.as_millis() as u64, advise_ms = advised.as_millis() as u64,
        "job done"
    );
    Ok(JobOutcome::Ran {
        resources,
        errors: errors.len(),
    })
}

/// Runs one stream record's job; the failure to report when it failed.
async fn run_record(state: &State, record: &StreamRecord) -> Option<DynamoDbBatchItemFailure> {
    let job: Job = match serde_dynamo::from_item(record.change.new_image.clone()) {
        Ok(job) => job,
        Err(e) => {
            // Not a job we wrote: retrying would not make it one.
            let key = |k: &str| match record.change.keys.get(k) {
                Some(serde_dynamo::AttributeValue::S(v)) => v.clone(),
                _ => "?".to_owned(),
            };
            tracing::error!(event_id = %record.event_id, pk = %key("pk"), sk = %key("sk"), error = %e, "stream record is not a scan job; ignored");
            return None;
        }
    };
    match run_job(state, &job).await {
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, scan = %job.scan_id, account = %job.account_id, region = %job.region, "job failed; reported for retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            Some(failure)
        }
    }
}

/// How many of a batch's jobs run at once: the whole batch the template's
/// `BatchSize` allows, so a scan's regions run side by side, not in turn.
pub const CONCURRENT_JOBS: usize = 25;

/// Handles one invocation. A stream batch's jobs run concurrently; a job that
/// fails is reported by its sequence number (`ReportBatchItemFailures`), so
/// Lambda retries from it and the claim skips the jobs that already ran.
pub async fn handle(
    event: LambdaEvent<Trigger>,
    state: &State,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let mut response = DynamoDbEventResponse::default();
    match event.payload {
        Trigger::Jobs(batch) => {
            // Boxed so the batch's futures have one nameable type.
            let mut runs: Vec<futures::future::BoxFuture<'_, Option<DynamoDbBatchItemFailure>>> =
                Vec::new();
            for record in &batch.records {
                if record.event_name == "INSERT" {
                    runs.push(Box::pin(run_record(state, record)));
                }
            }
            response.batch_item_failures = futures::stream::iter(runs)
                .buffer_unordered(CONCURRENT_JOBS)
                .filter_map(|failure| async move { failure })
                .collect()
                .await;
        }
        Trigger::Schedule(_) => {
            scheduled_scan(state).await?;
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_stream_record_is_a_job_with_its_services_and_trigger() {
        let trigger: Trigger =
            serde_json::from_str(include_str!("../../../events/scanner-scan-job-insert.json"))
                .expect("a stream batch");
        let Trigger::Jobs(batch) = trigger else {
            panic!("a stream batch");
        };
        let job: Job =
            serde_dynamo::from_item(batch.records[0].change.new_image.clone()).expect("a job");
        assert_eq!(
            (job.region.as_str(), job.trigger, job.services.as_slice()),
            (
                "us-east-1",
                ScanTrigger::Schedule,
                &[Service::Ec2, Service::Rds, Service::Lambda][..]
            )
        );
    }

    #[test]
    fn iam_actions_hold_every_call_on_scanned_accounts_and_no_destructive_one() {
        let actions = iam_actions();
        for call in [
            "sts:AssumeRole",
            "ec2:DescribeInstances",
            "s3:ListAllMyBuckets",
            "iam:GetAccessKeyLastUsed",
            "dynamodb:UpdateItem",
        ] {
            assert!(actions.contains(call), "{call}");
        }
        for unused in [
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "ec2:DescribeRegions",
            "secretsmanager:GetSecretValue",
        ] {
            assert!(!actions.contains(unused), "{unused}");
        }
    }
}
