//! What the scanner does with its tables, named after what a job does:
//! claim it, count it into its scan (closing the scan with the last job),
//! give it back when its run fails; store what it found and mark gone what a
//! successful listing no longer returns.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::advisor::Raised;
use shared::dynamo::condition_held;
use shared::dynamo::{self, Item, StoreError, b, n, s};
use shared::finding_writes::{raise, resolve, unless_rewritten};
use shared::findings::{self, Evaluated, Record};
use shared::inventory::{InventoryStore, Job, JobStatus, Scan, ScanError, ScanStatus, Service};
use shared::resources::{Resource, ResourcesStore};
use shared::summary::{self, LastScan, ServicePart, Summary};

/// How claiming a job ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This invocation runs the job.
    Claimed,
    /// Someone already did (a re-delivered stream record): skip it.
    Taken,
}

/// A job's life in the scanner.
pub trait JobRuns {
    /// Claims a job for this invocation: `pending → running`, conditionally,
    /// so a re-delivered stream record never scans twice.
    fn claim_job(&self, job: &Job) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Gives a claimed job back after its run failed (`running → pending`),
    /// so the stream's retry runs it again instead of skipping it as taken.
    fn release_job(&self, job: &Job) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counts a finished job into its scan, with its resource counts and
    /// errors, once however often it is retried; the job whose count reaches
    /// the total closes the scan: `succeeded`, or `partial` when anything
    /// failed.
    fn finish_job(
        &self,
        job: &Job,
        counts: &BTreeMap<Service, u64>,
        errors: &[ScanError],
    ) -> impl Future<Output = Result<Option<Scan>, StoreError>> + Send;

    /// A scan as stored now.
    fn scan(&self, scan_id: &str) -> impl Future<Output = Result<Option<Scan>, StoreError>> + Send;
}

/// [`JobRuns`]'s calls: `UpdateItem` on jobs and scans, `GetItem` on a scan.
pub const JOB_RUNS_IAM_ACTIONS: &[&str] = &["dynamodb:UpdateItem", "dynamodb:GetItem"];

/// Moves a job from status `from` to `to` (stamping `status_at`), only if
/// it is still in `from`; `false` when it was not.
async fn move_job(
    store: &InventoryStore,
    job: &Job,
    from: JobStatus,
    to: JobStatus,
) -> Result<bool, StoreError> {
    if !from.may_move(to) {
        return Err(StoreError::corrupt(
            "UpdateItem",
            format!("a job never moves {} → {}", from.as_str(), to.as_str()),
        ));
    }
    let (pk, sk) = job.key();
    let moved = store
        .jobs
        .client
        .update_item()
        .table_name(&store.jobs.name)
        .key("pk", pk)
        .key("sk", sk)
        .update_expression("SET #status = :to, #status_at = :now")
        .condition_expression("#status = :from")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#status_at", "status_at")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":now", s(dynamo::rfc3339(dynamo::now())))
        .send()
        .await;
    match moved {
        Ok(_) => Ok(true),
        Err(e) if dynamo::condition_failed(&e) => Ok(false),
        Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
    }
}

/// Moves a scan to `to` if it is in one of `from` (stamping `finished_at`
/// when `to` is an end); `false` when it was in none of them.
async fn move_scan(
    store: &InventoryStore,
    scan_id: &str,
    from: &[ScanStatus],
    to: ScanStatus,
) -> Result<bool, StoreError> {
    if let Some(bad) = from.iter().find(|f| !f.may_move(to)) {
        return Err(StoreError::corrupt(
            "UpdateItem",
            format!("a scan never moves {} → {}", bad.as_str(), to.as_str()),
        ));
    }
    let (pk, sk) = Scan::key(scan_id);
    let froms: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
    let mut update = store
        .table
        .client
        .update_item()
        .table_name(&store.table.name)
        .key("pk", pk)
        .key("sk", sk)
        .condition_expression(format!("#status IN ({})", froms.join(", ")))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":to", s(to.as_str()));
    for (placeholder, status) in froms.iter().zip(from) {
        update = update.expression_attribute_values(placeholder, s(status.as_str()));
    }
    update = if to.is_final() {
        update
            .update_expression("SET #status = :to, #finished_at = :now")
            .expression_attribute_names("#finished_at", "finished_at")
            .expression_attribute_values(":now", s(dynamo::rfc3339(dynamo::now())))
    } else {
        update.update_expression("SET #status = :to")
    };
    match update.send().await {
        Ok(_) => Ok(true),
        Err(e) if dynamo::condition_failed(&e) => Ok(false),
        Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
    }
}

impl JobRuns for InventoryStore {
    async fn claim_job(&self, job: &Job) -> Result<Claim, StoreError> {
        Ok(
            if move_job(self, job, JobStatus::Pending, JobStatus::Running).await? {
                Claim::Claimed
            } else {
                Claim::Taken
            },
        )
    }

    async fn release_job(&self, job: &Job) -> Result<(), StoreError> {
        move_job(self, job, JobStatus::Running, JobStatus::Pending)
            .await
            .map(drop)
    }

    async fn finish_job(
        &self,
        job: &Job,
        counts: &BTreeMap<Service, u64>,
        errors: &[ScanError],
    ) -> Result<Option<Scan>, StoreError> {
        // One atomic update counts the job in and adds its counts and errors:
        // DynamoDB applies concurrent updates one at a time, so no job's
        // numbers are lost however many finish together, and exactly one job
        // sees `jobs_done` reach `jobs_total`. `jobs_counted` makes it
        // idempotent: a retried job is never counted twice.
        let (_, job_key) = job.key();
        let (pk, sk) = Scan::key(&job.scan_id);
        let mut update = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .expression_attribute_names("#jobs_done", "jobs_done")
            .expression_attribute_names("#jobs_total", "jobs_total")
            .expression_attribute_names("#jobs_counted", "jobs_counted");
        if !counts.is_empty() {
            // Every name given must be used: only a job that counted something names `counts`.
            update = update.expression_attribute_names("#counts", "counts");
        }
        let mut add = vec![
            "#jobs_done :one".to_owned(),
            "#jobs_counted :job_set".to_owned(),
        ];
        for (i, (service, count)) in counts.iter().enumerate() {
            add.push(format!("#counts.#s{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), service.as_str())
                .expression_attribute_values(format!(":c{i}"), n(count));
        }
        let mut expression = format!("ADD {}", add.join(", "));
        if !errors.is_empty() {
            expression.push_str(" SET #errors = list_append(#errors, :errors)");
            let errors = serde_dynamo::to_attribute_value(errors).map_err(|e| {
                StoreError::corrupt(
                    "UpdateItem",
                    format!("scan {} errors do not encode: {e}", job.scan_id),
                )
            })?;
            update = update
                .expression_attribute_names("#errors", "errors")
                .expression_attribute_values(":errors", errors);
        }
        let job_key = job_key.as_s().cloned().unwrap_or_default();
        let counted = update
            .update_expression(expression)
            .condition_expression("#jobs_done < #jobs_total AND NOT contains(#jobs_counted, :job)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":job", s(&job_key))
            .expression_attribute_values(":job_set", AttributeValue::Ss(vec![job_key.clone()]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let scan = match counted {
            Ok(out) => out
                .attributes
                .map(|item| Scan::from_item("UpdateItem", &item))
                .transpose()?,
            // Counted by an earlier try, or every job is: nothing counts twice,
            // but an earlier try may have failed before closing the scan.
            Err(e) if dynamo::condition_failed(&e) => self.scan(&job.scan_id).await?,
            Err(e) => return Err(StoreError::sdk("UpdateItem", &e)),
        };
        let scan = match scan {
            Some(scan) => Some(advance(self, scan).await?),
            None => None,
        };
        let done = if errors.is_empty() {
            JobStatus::Done
        } else {
            JobStatus::Partial
        };
        move_job(self, job, JobStatus::Running, done).await?;
        Ok(scan)
    }

    async fn scan(&self, scan_id: &str) -> Result<Option<Scan>, StoreError> {
        let (pk, sk) = Scan::key(scan_id);
        self.table
            .get(pk, sk)
            .await?
            .map(|item| Scan::from_item("GetItem", &item))
            .transpose()
    }
}

/// Moves a scan on after a job is counted in: the first job's count makes it
/// `running`; the count that completes it closes it, once, `succeeded` or
/// `partial`.
async fn advance(store: &InventoryStore, mut scan: Scan) -> Result<Scan, StoreError> {
    if scan.status.is_final() {
        return Ok(scan);
    }
    if scan.jobs_done < scan.jobs_total {
        if scan.status == ScanStatus::Queued
            && move_scan(
                store,
                &scan.scan_id,
                &[ScanStatus::Queued],
                ScanStatus::Running,
            )
            .await?
        {
            scan.status = ScanStatus::Running;
        }
        return Ok(scan);
    }
    let end = ScanStatus::ended(&scan.errors);
    // Closed meanwhile by another try of the same job when this is `false`.
    if move_scan(
        store,
        &scan.scan_id,
        &[ScanStatus::Queued, ScanStatus::Running],
        end,
    )
    .await?
    {
        if let Some(closed) = store.scan(&scan.scan_id).await? {
            return Ok(closed);
        }
    }
    Ok(scan)
}

/// What a successful listing speaks for, when marking resources gone.
#[derive(Debug, Clone, Copy)]
pub enum Listed<'a> {
    /// These services, listed in one region: one query on the region index.
    Region {
        region: &'a str,
        services: &'a [Service],
    },
    /// An account-wide service (S3's bucket list, IAM), on its service index.
    AccountWide { service: Service },
}

/// Storing what a job found.
pub trait ResourceWrites {
    /// Upserts resources seen by scan `scan_id`, 25 to a request.
    fn upsert<'r>(
        &self,
        resources: impl IntoIterator<Item = &'r Resource> + Send,
        scan_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks gone every resource a successful listing speaks for that scan
    /// `scan_id` did not see. Call only after listings that succeeded: never
    /// after AccessDenied or throttling, which prove nothing about existence.
    fn mark_gone_except(
        &self,
        account: &str,
        listed: Listed<'_>,
        scan_id: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// [`ResourceWrites`]'s calls, on the inventory table and its indexes.
pub const RESOURCE_WRITES_IAM_ACTIONS: &[&str] = &[
    "dynamodb:BatchWriteItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

impl ResourceWrites for ResourcesStore {
    async fn upsert<'r>(
        &self,
        resources: impl IntoIterator<Item = &'r Resource> + Send,
        scan_id: &str,
    ) -> Result<(), StoreError> {
        let items = resources
            .into_iter()
            .map(|r| r.item(scan_id))
            .collect::<Result<Vec<_>, _>>()?;
        self.table.batch_put(items).await
    }

    async fn mark_gone_except(
        &self,
        account: &str,
        listed: Listed<'_>,
        scan_id: &str,
    ) -> Result<u64, StoreError> {
        let query = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .expression_attribute_names("#scan_id", "scan_id")
            .expression_attribute_names("#gone", "gone")
            .expression_attribute_values(":scan", s(scan_id))
            .expression_attribute_values(":no", b(false));
        let query = match listed {
            Listed::Region { services: [], .. } => return Ok(0),
            // One query on the region index for all of a job's services.
            Listed::Region { region, services } => {
                let names: Vec<String> = (0..services.len()).map(|i| format!(":s{i}")).collect();
                services
                    .iter()
                    .zip(&names)
                    .fold(query, |q, (service, name)| {
                        q.expression_attribute_values(name, s(service.as_str()))
                    })
                    .index_name("gsi3")
                    .key_condition_expression("#gsi3pk = :p AND begins_with(#gsi3sk, :place)")
                    .filter_expression(format!(
                        "#scan_id <> :scan AND #gone = :no AND #service IN ({})",
                        names.join(", ")
                    ))
                    .expression_attribute_names("#gsi3pk", "gsi3pk")
                    .expression_attribute_names("#gsi3sk", "gsi3sk")
                    .expression_attribute_names("#service", "service")
                    .expression_attribute_values(":p", s(format!("REGION#{region}")))
                    .expression_attribute_values(":place", s(format!("{account}#{region}#")))
            }
            Listed::AccountWide { service } => query
                .index_name("gsi1")
                .key_condition_expression("#gsi1pk = :p AND begins_with(#gsi1sk, :place)")
                .filter_expression("#scan_id <> :scan AND #gone = :no")
                .expression_attribute_names("#gsi1pk", "gsi1pk")
                .expression_attribute_names("#gsi1sk", "gsi1sk")
                .expression_attribute_values(":p", s(format!("SVC#{service}")))
                .expression_attribute_values(":place", s(format!("{account}#"))),
        };
        let mut pages = query.into_paginator().items().send();
        let mut gone = 0;
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
            let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned()) else {
                return Err(StoreError::corrupt(
                    "Query",
                    "an item of the resource indexes has no pk/sk",
                ));
            };
            self.table
                .client
                .update_item()
                .table_name(&self.table.name)
                .key("pk", pk)
                .key("sk", sk)
                .update_expression("SET #gone = :yes, #gone_since = :now")
                // A later scan may have seen it again meanwhile: only mark what it has not.
                .condition_expression("#scan_id <> :scan")
                .expression_attribute_names("#gone", "gone")
                .expression_attribute_names("#gone_since", "gone_since")
                .expression_attribute_names("#scan_id", "scan_id")
                .expression_attribute_values(":yes", b(true))
                .expression_attribute_values(":now", s(dynamo::rfc3339(dynamo::now())))
                .expression_attribute_values(":scan", s(scan_id))
                .send()
                .await
                .map(drop)
                .or_else(|e| {
                    if dynamo::condition_failed(&e) {
                        Ok(())
                    } else {
                        Err(StoreError::sdk("UpdateItem", &e))
                    }
                })?;
            gone += 1;
        }
        Ok(gone)
    }
}

/// What settling one listing's findings needs from its job.
pub struct Settle<'a> {
    pub account: &'a str,
    /// The job's region, or `global`.
    pub listing: &'a str,
    pub scan_id: &'a str,
    pub now: &'a str,
    /// What the advisor raised from the listing.
    pub raised: &'a [Raised<'a>],
    /// The services whose listing succeeded.
    pub listed: &'a [Service],
    /// Whether a finding the job did not raise may be resolved: its
    /// service's listing succeeded and could decide it.
    pub resolvable: &'a (dyn Fn(&Record) -> bool + Sync),
}

/// What settling did.
#[derive(Debug)]
pub struct Settled {
    /// Every raised finding as stored now, in the order raised.
    pub records: Vec<Record>,
    /// Findings written because they were new, changed or reopened.
    pub written: usize,
    pub resolved: u64,
}

/// Keeping one listing's findings in step with what its job saw.
pub trait FindingWrites {
    /// Reads the listing's findings once, then writes only what changed: a
    /// finding new, changed or reopened is raised (its `first_seen` and
    /// any suppression kept); one still open and unchanged is not written
    /// at all; an open one not raised is resolved where `resolvable`
    /// allows, or marked `undecided` when its service was listed but could
    /// not decide it. Last, the listing's settled mark moves to `now` for
    /// each listed service: it stands for the `last_seen` of every open,
    /// decided finding of that service ([`findings::SettledMarks`]).
    fn settle(&self, job: &Settle<'_>) -> impl Future<Output = Result<Settled, StoreError>> + Send;
}

/// [`FindingWrites`]' calls, on the inventory table.
pub const FINDING_WRITES_IAM_ACTIONS: &[&str] =
    &["dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"];

/// Finding writes in flight at once within one job.
const CONCURRENT_FINDING_WRITES: usize = 16;

impl FindingWrites for ResourcesStore {
    async fn settle(&self, job: &Settle<'_>) -> Result<Settled, StoreError> {
        use futures::StreamExt;
        let mut stored = listing_findings(self, job.account, job.listing).await?;
        // The marks as the last job left them: the `last_seen` of what it
        // decided, kept on what this job resolves or cannot decide.
        let mut marks = findings::SettledMarks::default();
        let (pk, sk) = findings::settled_key(job.account, job.listing);
        if let Some(item) = self.table.get(pk, sk).await? {
            marks.insert(item);
        }

        let mut records: Vec<Option<Record>> = vec![None; job.raised.len()];
        let mut writes = Vec::new();
        for (i, finding) in job.raised.iter().enumerate() {
            let sk = findings::sort_key(finding.check.id, &finding.resource.arn);
            let values = findings::raised_values(finding, job.scan_id, job.now);
            match stored.remove(&sk) {
                Some(item) if findings::unchanged(&item, &values) => {
                    records[i] =
                        Some(findings::unchanged_record(&values, &item)?.seen(Some(job.now)));
                }
                _ => writes
                    .push(async move { (i, raise(self, finding, job.scan_id, job.now).await) }),
            }
        }
        let written = writes.len();
        let mut raised = futures::stream::iter(writes).buffer_unordered(CONCURRENT_FINDING_WRITES);
        while let Some((i, record)) = raised.next().await {
            records[i] = Some(record?);
        }
        let records = records.into_iter().flatten().collect();

        // What is left was not raised by this job: read whole what is still open.
        let mut resolved = 0;
        for (sk, item) in stored {
            if item.get("state") != Some(&s("open")) {
                continue;
            }
            let pk = s(findings::partition(job.account, job.listing));
            let Some(item) = self.table.get(pk, s(sk)).await? else {
                continue;
            };
            let record = marks.apply(Record::from_item("GetItem", &item)?);
            if record.state != Evaluated::Open || !job.listed.contains(&record.service) {
                // Resolved already, or its listing failed: its service's
                // settled mark does not move, so its `last_seen` stays.
                continue;
            }
            if (job.resolvable)(&record) {
                resolved += u64::from(resolve(self, &record, job.now).await?);
            } else if !record.undecided {
                mark_undecided(self, &record).await?;
            }
        }
        mark_settled(self, job).await?;
        Ok(Settled {
            records,
            written,
            resolved,
        })
    }
}

/// Every finding of one listing, by sort key: only the attributes that
/// tell whether it changed ([`findings::SETTLE_PROJECTION`]; reading every
/// attribute of every finding made the emulator four times busier).
async fn listing_findings(
    store: &ResourcesStore,
    account: &str,
    listing: &str,
) -> Result<HashMap<String, Item>, StoreError> {
    let query = store
        .table
        .client
        .query()
        .table_name(&store.table.name)
        .key_condition_expression("#pk = :p")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_values(":p", s(findings::partition(account, listing)));
    let names: Vec<String> = findings::SETTLE_PROJECTION
        .iter()
        .map(|name| format!("#{name}"))
        .collect();
    let query = findings::SETTLE_PROJECTION
        .iter()
        .zip(&names)
        .fold(query, |q, (name, escaped)| {
            q.expression_attribute_names(escaped, *name)
        })
        .projection_expression(names.join(", "));
    let mut pages = query.into_paginator().items().send();
    let mut stored = HashMap::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
        if let Some(sk) = dynamo::get_s(&item, "sk") {
            stored.insert(sk.to_owned(), item);
        }
    }
    Ok(stored)
}

/// Marks an open finding its listing could not decide, so the settled
/// mark no longer stands for its `last_seen`.
async fn mark_undecided(store: &ResourcesStore, record: &Record) -> Result<(), StoreError> {
    let update = unless_rewritten(store, record)
        .update_expression("SET #undecided = :yes, #last_seen = :seen")
        .expression_attribute_names("#undecided", "undecided")
        .expression_attribute_names("#last_seen", "last_seen")
        .expression_attribute_values(":seen", s(&record.last_seen))
        .expression_attribute_values(":yes", b(true))
        .send()
        .await;
    condition_held("UpdateItem", update).map(drop)
}

/// Moves the listing's settled mark to `now` for each listed service,
/// unless a later job of the listing already did.
async fn mark_settled(store: &ResourcesStore, job: &Settle<'_>) -> Result<(), StoreError> {
    if job.listed.is_empty() {
        return Ok(());
    }
    let (pk, sk) = findings::settled_key(job.account, job.listing);
    let mut update = store
        .table
        .client
        .update_item()
        .table_name(&store.table.name)
        .key("pk", pk)
        .key("sk", sk)
        .condition_expression("attribute_not_exists(#at) OR #at <= :now")
        .expression_attribute_names("#at", findings::SETTLED_AT)
        .expression_attribute_values(":now", s(job.now));
    let mut sets = vec!["#at = :now".to_owned()];
    for (i, service) in job.listed.iter().enumerate() {
        sets.push(format!("#s{i} = :now"));
        update = update
            .expression_attribute_names(format!("#s{i}"), findings::settled_attribute(*service));
    }
    let update = update
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await;
    condition_held("UpdateItem", update).map(drop)
}

/// Keeping the summary's aggregates: a listing's part, and the total when
/// a scan closes.
pub trait SummaryWrites {
    /// Replaces the numbers of `services` in one listing's part.
    fn write_part(
        &self,
        account: &str,
        listing: &str,
        parts: &BTreeMap<Service, ServicePart>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sums every part into the total, naming the scan that just closed.
    fn write_total(&self, scan: &Scan) -> impl Future<Output = Result<Summary, StoreError>> + Send;
}

/// [`SummaryWrites`]' calls, on the inventory table.
pub const SUMMARY_WRITES_IAM_ACTIONS: &[&str] =
    &["dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:PutItem"];

fn json_text<T: serde::Serialize>(
    operation: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::corrupt(operation, format!("summary does not encode: {e}")))
}

impl SummaryWrites for ResourcesStore {
    async fn write_part(
        &self,
        account: &str,
        listing: &str,
        parts: &BTreeMap<Service, ServicePart>,
    ) -> Result<(), StoreError> {
        if parts.is_empty() {
            return Ok(());
        }
        let (pk, sk) = summary::part_key(account, listing);
        let mut update = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk);
        let mut sets = Vec::new();
        for (i, (service, part)) in parts.iter().enumerate() {
            sets.push(format!("#s{i} = :s{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), summary::part_attribute(*service))
                .expression_attribute_values(format!(":s{i}"), s(json_text("UpdateItem", part)?));
        }
        update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .map_err(|e| StoreError::sdk("UpdateItem", &e))?;
        Ok(())
    }

    async fn write_total(&self, scan: &Scan) -> Result<Summary, StoreError> {
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("#pk = :p")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":p", s(summary::PARTS_PARTITION))
            .into_paginator()
            .items()
            .send();
        let mut parts: Vec<(Service, ServicePart)> = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
            for service in Service::scanned() {
                let Some(text) = item
                    .get(&summary::part_attribute(service))
                    .and_then(|v| v.as_s().ok())
                else {
                    continue;
                };
                let part = serde_json::from_str(text).map_err(|e| {
                    StoreError::corrupt("Query", format!("a summary part does not decode: {e}"))
                })?;
                parts.push((service, part));
            }
        }
        let mut total = Summary::of_parts(parts.iter().map(|(s, p)| (*s, p)));
        total.last_scan = Some(LastScan::from(scan));
        total.updated_at = Some(dynamo::rfc3339(dynamo::now()));
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(total.total_item()?))
            .send()
            .await
            .map_err(|e| StoreError::sdk("PutItem", &e))?;
        Ok(total)
    }
}
