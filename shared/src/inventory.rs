//! What the inventory and the scanner share about accounts, scans and jobs:
//! their types and states, how a scan is planned, and the two store calls
//! both make (listing the registered accounts, queueing a scan). Each
//! function's own calls live in its crate (`inventory::store`,
//! `scanner::store`).
//!
//! Keys: `ACCOUNT#{id}/META` (listed through `gsi1` = `ACCOUNTS`),
//! `SCAN#{id}/META` (listed newest first through `gsi1` = `SCANS`/started_at);
//! jobs: `SCAN#{scan}/JOB#{account}#{region}`, `region` = `global` for the
//! account-wide services (IAM, the S3 bucket list).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dynamo::{self, Item, StoreError, Table, n, s};

/// The job region of account-wide services.
pub const GLOBAL: &str = "global";

/// A service the scanner lists (and `sts`, where assuming a role fails).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Ec2,
    Rds,
    Lambda,
    Elbv2,
    Logs,
    Kms,
    Secretsmanager,
    Dynamodb,
    Iam,
    S3,
    /// Not scanned: the place of an error assuming the account's role.
    Sts,
}

impl Service {
    /// Services scanned in every region.
    pub const REGIONAL: &[Service] = &[
        Self::Ec2,
        Self::Rds,
        Self::Lambda,
        Self::Elbv2,
        Self::Logs,
        Self::Kms,
        Self::Secretsmanager,
        Self::Dynamodb,
    ];
    /// Services scanned once per account (the `global` job).
    pub const GLOBAL: &[Service] = &[Self::Iam, Self::S3];

    /// The wire name (`ec2`, `secretsmanager`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ec2 => "ec2",
            Self::Rds => "rds",
            Self::Lambda => "lambda",
            Self::Elbv2 => "elbv2",
            Self::Logs => "logs",
            Self::Kms => "kms",
            Self::Secretsmanager => "secretsmanager",
            Self::Dynamodb => "dynamodb",
            Self::Iam => "iam",
            Self::S3 => "s3",
            Self::Sts => "sts",
        }
    }

    /// Every service a scan can be asked for.
    pub fn scanned() -> impl Iterator<Item = Service> {
        Self::REGIONAL.iter().chain(Self::GLOBAL).copied()
    }

    /// A scanned service by its wire name; `None` for anything else (`sts` included).
    pub fn parse_scanned(name: &str) -> Option<Service> {
        Self::scanned().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a scan is: `queued → running → succeeded | partial | failed`, or
/// straight from `queued` to an end when its jobs finish together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    Queued,
    Running,
    Succeeded,
    /// Finished, with errors in some listings.
    Partial,
    Failed,
}

impl ScanStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Partial | Self::Failed)
    }

    /// Whether a scan may move from `self` to `to`: forward only, never out of an end.
    pub fn may_move(self, to: ScanStatus) -> bool {
        match (self, to) {
            (Self::Queued, Self::Running) => true,
            (Self::Queued | Self::Running, end) => end.is_final(),
            _ => false,
        }
    }

    /// The end of a scan whose every job is counted.
    pub fn ended(errors: &[ScanError]) -> ScanStatus {
        if errors.is_empty() {
            Self::Succeeded
        } else {
            Self::Partial
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }
}

/// Where a job is: `pending → running → done | partial`, and `running →
/// pending` when a run fails after its claim (so the stream's retry runs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    /// Done, with errors in some listings.
    Partial,
}

impl JobStatus {
    pub fn may_move(self, to: JobStatus) -> bool {
        matches!(
            (self, to),
            (Self::Pending, Self::Running)
                | (Self::Running, Self::Pending | Self::Done | Self::Partial)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Partial => "partial",
        }
    }
}

/// What started a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanTrigger {
    /// `POST /v1/scans`.
    #[default]
    Api,
    /// The EventBridge schedule.
    Schedule,
}

impl ScanTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Schedule => "schedule",
        }
    }
}

/// Whether `name` looks like an AWS region (`eu-west-1`, `us-gov-east-1`).
pub fn plausible_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    (3..=4).contains(&parts.len())
        && name.len() <= 32
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Whether `id` is an AWS account id: 12 digits.
pub fn plausible_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|c| c.is_ascii_digit())
}

/// The AWS partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The partition an ARN names (`arn:aws-cn:iam::…` → `aws-cn`), if it is an ARN.
pub fn partition_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next()) {
        (Some("arn"), Some(partition)) if partition.starts_with("aws") => Some(partition),
        _ => None,
    }
}

/// Where a partition's account-wide services (IAM, the S3 bucket list) answer.
pub fn global_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// The regions of one partition: DescribeRegions may list China and GovCloud
/// regions too, which the caller's credentials can never reach.
pub fn regions_of_partition<'a>(
    regions: impl IntoIterator<Item = &'a str>,
    partition: &str,
) -> Vec<String> {
    let mut out: Vec<String> = regions
        .into_iter()
        .filter(|r| partition_of_region(r) == partition)
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The jobs of a scan: each account in each of its regions (narrowed by
/// `regions`), plus one global job per account, for the chosen services.
pub fn plan_jobs(
    scan_id: &str,
    trigger: ScanTrigger,
    accounts: &[Account],
    regions: Option<&[String]>,
    services: Option<&[Service]>,
) -> Vec<Job> {
    let wanted = |list: &[Service]| -> Vec<Service> {
        list.iter()
            .filter(|service| services.is_none_or(|s| s.contains(service)))
            .copied()
            .collect()
    };
    let regional = wanted(Service::REGIONAL);
    let global = wanted(Service::GLOBAL);
    let mut jobs = Vec::new();
    for account in accounts {
        let job = |region: &str, services: &[Service]| Job {
            scan_id: scan_id.to_owned(),
            account_id: account.account_id.clone(),
            region: region.to_owned(),
            role_arn: account.role_arn.clone(),
            external_id: account.external_id.clone(),
            services: services.to_vec(),
            trigger,
        };
        if !regional.is_empty() {
            for region in account
                .regions
                .iter()
                .filter(|r| regions.is_none_or(|want| want.contains(r)))
            {
                jobs.push(job(region, &regional));
            }
        }
        if !global.is_empty() {
            jobs.push(job(GLOBAL, &global));
        }
    }
    jobs
}

/// Jobs expire from the jobs table a week after their scan.
const JOB_TTL_SECS: i64 = 7 * 24 * 3600;

/// A registered AWS account. Never holds credentials: a role to assume, or
/// none for the backend's own account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub role_arn: Option<String>,
    /// The confused-deputy guard the customer's role requires.
    pub external_id: Option<String>,
    /// A second role in the account, trusting cloudkeep's actions role,
    /// that may make exactly the remediation calls (the read-only scan role
    /// cannot act); absent means no action is taken in the account. Assumed
    /// with the same external id.
    #[serde(default)]
    pub remediation_role_arn: Option<String>,
    pub regions: Vec<String>,
    pub created_at: String,
}

impl Account {
    pub fn key(account_id: &str) -> (AttributeValue, AttributeValue) {
        (s(format!("ACCOUNT#{account_id}")), s("META"))
    }

    /// The stored item: the account, its key and its place in the accounts index.
    pub fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode("PutItem", self, || format!("account {}", self.account_id))?;
        let (pk, sk) = Self::key(&self.account_id);
        item.extend([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("gsi1pk".to_owned(), s("ACCOUNTS")),
            ("gsi1sk".to_owned(), s(&self.account_id)),
        ]);
        Ok(item)
    }
}

/// One failure inside a scan: the scan goes on, and ends `partial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanError {
    pub account_id: String,
    pub region: String,
    pub service: Service,
    /// AWS's error code (`AccessDenied`, `Throttling`, …) or ours.
    pub code: String,
    /// AWS's message, or ours: never the SDK's debug text.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Scan {
    pub scan_id: String,
    pub status: ScanStatus,
    pub trigger: ScanTrigger,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub jobs_total: u64,
    pub jobs_done: u64,
    pub counts: BTreeMap<Service, u64>,
    pub errors: Vec<ScanError>,
}

impl Scan {
    pub fn key(scan_id: &str) -> (AttributeValue, AttributeValue) {
        (s(format!("SCAN#{scan_id}")), s("META"))
    }

    /// A scan from its stored item; one that does not decode is a bug naming its key.
    pub fn from_item(operation: &'static str, item: &Item) -> Result<Scan, StoreError> {
        decode(operation, item)
    }

    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode("PutItem", self, || format!("scan {}", self.scan_id))?;
        let (pk, sk) = Self::key(&self.scan_id);
        item.extend([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("gsi1pk".to_owned(), s("SCANS")),
            (
                "gsi1sk".to_owned(),
                s(format!("{}#{}", self.started_at, self.scan_id)),
            ),
        ]);
        Ok(item)
    }
}

/// One unit of scanning work: an account in a region (or its global services).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub scan_id: String,
    pub account_id: String,
    pub region: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub services: Vec<Service>,
    #[serde(default)]
    pub trigger: ScanTrigger,
}

impl Job {
    pub fn key(&self) -> (AttributeValue, AttributeValue) {
        (
            s(format!("SCAN#{}", self.scan_id)),
            s(format!("JOB#{}#{}", self.account_id, self.region)),
        )
    }

    /// A job from a table item (or a stream record's new image, converted).
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        decode("Query", item)
    }

    fn item(&self, now: i64) -> Result<Item, StoreError> {
        let mut item = encode("BatchWriteItem", self, || {
            format!("job {}/{}/{}", self.scan_id, self.account_id, self.region)
        })?;
        let (pk, sk) = self.key();
        let kind = if self.region == GLOBAL {
            "global"
        } else {
            "regional"
        };
        item.extend([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("kind".to_owned(), s(kind)),
            ("status".to_owned(), s(JobStatus::Pending.as_str())),
            ("created_at".to_owned(), s(dynamo::rfc3339(now))),
            ("ttl".to_owned(), n(now + JOB_TTL_SECS)),
        ]);
        Ok(item)
    }
}

/// `value` as an item (its key attributes are added by the caller).
fn encode<T: Serialize>(
    operation: &'static str,
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value)
        .map_err(|e| StoreError::corrupt(operation, format!("{} does not encode: {e}", what())))
}

/// `item` as a `T`; one that does not decode is a bug, logged with its key.
pub fn decode<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    item: &Item,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| {
        let key = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str)
                .to_owned()
        };
        StoreError::corrupt(
            operation,
            format!("item {}/{} does not decode: {e}", key("pk"), key("sk")),
        )
    })
}

/// The inventory and scan-jobs tables, as both functions see them.
#[derive(Clone, Debug)]
pub struct InventoryStore {
    pub table: Table,
    pub jobs: Table,
}

impl InventoryStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        jobs_table: impl Into<String>,
    ) -> Self {
        Self {
            table: Table::new(client.clone(), table),
            jobs: Table::new(client, jobs_table),
        }
    }

    pub fn table(&self) -> &str {
        &self.table.name
    }

    pub fn jobs_table(&self) -> &str {
        &self.jobs.name
    }
}

/// Reading the registered accounts (both functions plan scans from them).
pub trait RegisteredAccounts {
    /// Every registered account (a team registers tens, not thousands).
    fn accounts(&self) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;
}

/// Queueing a scan: its item, then its jobs (whose stream starts the scanner).
pub trait QueueScans {
    /// Writes a scan and its jobs. The scan is written first, so every job
    /// the scanner sees has a scan to count down.
    fn create_scan(
        &self,
        scan_id: &str,
        trigger: ScanTrigger,
        jobs: &[Job],
        now: i64,
    ) -> impl Future<Output = Result<Scan, StoreError>> + Send;
}

impl InventoryStore {
    /// [`RegisteredAccounts`]: a query on the inventory table's `gsi1`.
    pub const ACCOUNTS_IAM_ACTIONS: &[&str] = &["dynamodb:Query"];
    /// [`QueueScans`]: the scan (inventory table), its jobs (jobs table).
    pub const QUEUE_IAM_ACTIONS: &[&str] = &["dynamodb:PutItem", "dynamodb:BatchWriteItem"];
}

impl RegisteredAccounts for InventoryStore {
    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut pages = self
            .table
            .query_gsi1("ACCOUNTS")
            .into_paginator()
            .items()
            .send();
        let mut accounts = Vec::new();
        while let Some(item) = pages.next().await {
            accounts.push(decode(
                "Query",
                &item.map_err(|e| StoreError::sdk("Query", &e))?,
            )?);
        }
        Ok(accounts)
    }
}

impl QueueScans for InventoryStore {
    async fn create_scan(
        &self,
        scan_id: &str,
        trigger: ScanTrigger,
        jobs: &[Job],
        now: i64,
    ) -> Result<Scan, StoreError> {
        let started = dynamo::rfc3339(now);
        let scan = Scan {
            scan_id: scan_id.to_owned(),
            status: if jobs.is_empty() {
                ScanStatus::Succeeded
            } else {
                ScanStatus::Queued
            },
            trigger,
            finished_at: jobs.is_empty().then(|| started.clone()),
            started_at: started,
            jobs_total: jobs.len() as u64,
            jobs_done: 0,
            counts: BTreeMap::new(),
            errors: vec![],
        };
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(scan.item()?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await
            .map_err(|e| StoreError::sdk("PutItem", &e))?;
        let items = jobs
            .iter()
            .map(|job| job.item(now))
            .collect::<Result<Vec<_>, _>>()?;
        self.jobs.batch_put(items).await?;
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, regions: &[&str]) -> Account {
        Account {
            account_id: id.into(),
            name: id.into(),
            role_arn: None,
            external_id: None,
            remediation_role_arn: None,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            created_at: String::new(),
        }
    }

    #[test]
    fn a_scan_is_one_job_per_account_region_plus_one_global_job_per_account() {
        let accounts = [
            account("111111111111", &["us-east-1", "eu-west-1"]),
            account("222222222222", &["us-east-1"]),
        ];
        let jobs = plan_jobs("s", ScanTrigger::Api, &accounts, None, None);
        let keys: Vec<(&str, &str)> = jobs
            .iter()
            .map(|j| (j.account_id.as_str(), j.region.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("111111111111", "us-east-1"),
                ("111111111111", "eu-west-1"),
                ("111111111111", "global"),
                ("222222222222", "us-east-1"),
                ("222222222222", "global")
            ]
        );
        assert_eq!(jobs[2].services, [Service::Iam, Service::S3]);
    }

    #[test]
    fn filters_narrow_regions_and_services() {
        let accounts = [account("111111111111", &["us-east-1", "eu-west-1"])];
        let jobs = plan_jobs(
            "s",
            ScanTrigger::Api,
            &accounts,
            Some(&["eu-west-1".into()]),
            Some(&[Service::Ec2]),
        );
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].region.as_str(), jobs[0].services.as_slice()),
            ("eu-west-1", &[Service::Ec2][..])
        );
    }

    #[test]
    fn only_the_callers_partition_is_kept() {
        let all = [
            "us-east-1",
            "cn-north-1",
            "us-gov-west-1",
            "eu-west-1",
            "us-east-1",
        ];
        assert_eq!(regions_of_partition(all, "aws"), ["eu-west-1", "us-east-1"]);
        assert_eq!(regions_of_partition(all, "aws-cn"), ["cn-north-1"]);
        assert_eq!(regions_of_partition(all, "aws-us-gov"), ["us-gov-west-1"]);
    }

    #[test]
    fn partitions_come_from_regions_and_arns() {
        assert_eq!(partition_of_region("cn-northwest-1"), "aws-cn");
        assert_eq!(partition_of_region("us-gov-east-1"), "aws-us-gov");
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(
            partition_of_arn("arn:aws-cn:iam::123456789012:role/x"),
            Some("aws-cn")
        );
        assert_eq!(partition_of_arn("not an arn"), None);
        assert_eq!(global_region("aws-cn"), "cn-north-1");
    }

    #[test]
    fn region_names_are_checked() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(plausible_region(good), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1a",
            "../x",
        ] {
            assert!(!plausible_region(bad), "{bad}");
        }
    }

    #[test]
    fn states_and_services_keep_their_wire_names() {
        let json = |v: &dyn erased::Json| v.json();
        assert_eq!(json(&ScanStatus::Succeeded), r#""succeeded""#);
        assert_eq!(json(&ScanTrigger::Schedule), r#""schedule""#);
        assert_eq!(json(&JobStatus::Partial), r#""partial""#);
        for service in Service::scanned().chain([Service::Sts]) {
            assert_eq!(json(&service), format!("\"{}\"", service.as_str()));
        }
        assert_eq!(
            Service::parse_scanned("secretsmanager"),
            Some(Service::Secretsmanager)
        );
        assert_eq!(Service::parse_scanned("sts"), None);
    }

    mod erased {
        pub trait Json {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Json for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap_or_default()
            }
        }
    }

    #[test]
    fn a_scan_moves_forward_only() {
        use ScanStatus::*;
        assert!(
            Queued.may_move(Running) && Running.may_move(Partial) && Queued.may_move(Succeeded)
        );
        assert!(
            !Running.may_move(Queued)
                && !Succeeded.may_move(Running)
                && !Partial.may_move(Succeeded)
        );
        assert!(JobStatus::Running.may_move(JobStatus::Pending));
        assert!(!JobStatus::Done.may_move(JobStatus::Running));
    }

    #[test]
    fn scans_jobs_and_accounts_round_trip_through_their_items() {
        let scan = Scan {
            scan_id: "s1".into(),
            status: ScanStatus::Partial,
            trigger: ScanTrigger::Schedule,
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: None,
            jobs_total: 2,
            jobs_done: 1,
            counts: BTreeMap::from([(Service::Ec2, 3)]),
            errors: vec![ScanError {
                account_id: "111111111111".into(),
                region: "eu-west-1".into(),
                service: Service::Sts,
                code: "AccessDenied".into(),
                message: "no".into(),
            }],
        };
        let item = scan.item().unwrap();
        assert_eq!(item["status"], s("partial"));
        assert_eq!(item["counts"].as_m().unwrap()["ec2"], n(3));
        assert_eq!(Scan::from_item("GetItem", &item).unwrap(), scan);
        let job = plan_jobs(
            "s1",
            ScanTrigger::Api,
            &[account("111111111111", &["eu-west-1"])],
            None,
            None,
        )
        .remove(0);
        let item = job.item(0).unwrap();
        assert_eq!(item["services"].as_l().unwrap()[0], s("ec2"));
        assert_eq!(Job::from_item(&item).unwrap(), job);
        let a = account("111111111111", &["eu-west-1"]);
        assert_eq!(decode::<Account>("Query", &a.item().unwrap()).unwrap(), a);
    }

    #[test]
    fn an_item_that_does_not_decode_names_its_key() {
        let item = Item::from([
            ("pk".to_owned(), s("SCAN#s1")),
            ("sk".to_owned(), s("META")),
            ("status".to_owned(), s("exploded")),
        ]);
        let err = Scan::from_item("GetItem", &item).unwrap_err();
        assert_eq!(err.kind, crate::aws::FailureKind::Bug);
        assert!(err.detail.contains("SCAN#s1/META"), "{err}");
    }
}
