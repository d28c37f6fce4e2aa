//! The inventory tables: accounts and scans in the inventory table, one job
//! per (scan, account, region) in the scan-jobs table, whose stream fans the
//! scan out to the scanner.
//!
//! Keys: `ACCOUNT#{id}/META` (listed through `gsi1` = `ACCOUNTS`),
//! `SCAN#{id}/META` (listed newest first through `gsi1` = `SCANS`/started_at);
//! jobs: `SCAN#{scan}/JOB#{account}#{region}`, `region` = `global` for the
//! account-wide services (IAM, the S3 bucket list).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dynamo::{self, Item, StoreError, Table, get_list, get_n, get_s, list, n, s};

/// The job region of account-wide services.
pub const GLOBAL: &str = "global";
/// Services scanned in every region.
pub const REGIONAL_SERVICES: &[&str] = &[
    "ec2",
    "rds",
    "lambda",
    "elbv2",
    "logs",
    "kms",
    "secretsmanager",
    "dynamodb",
];
/// Services scanned once per account (the `global` job).
pub const GLOBAL_SERVICES: &[&str] = &["iam", "s3"];

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

/// The regions of one partition: DescribeRegions may list China and GovCloud
/// regions too, which the caller's credentials can never reach.
pub fn regions_of_partition<'a>(
    regions: impl IntoIterator<Item = &'a str>,
    partition: &str,
) -> Vec<String> {
    let in_partition = |r: &str| match partition {
        "aws-cn" => r.starts_with("cn-"),
        "aws-us-gov" => r.starts_with("us-gov-"),
        _ => !r.starts_with("cn-") && !r.starts_with("us-gov-") && !r.starts_with("us-iso"),
    };
    let mut out: Vec<String> = regions
        .into_iter()
        .filter(|r| in_partition(r))
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
    trigger: &str,
    accounts: &[Account],
    regions: Option<&[String]>,
    services: Option<&[String]>,
) -> Vec<Job> {
    let wanted = |list: &[&str]| -> Vec<String> {
        list.iter()
            .filter(|service| services.is_none_or(|s| s.iter().any(|x| x == *service)))
            .map(|s| s.to_string())
            .collect()
    };
    let regional = wanted(REGIONAL_SERVICES);
    let global = wanted(GLOBAL_SERVICES);
    let mut jobs = Vec::new();
    for account in accounts {
        let job = |region: &str, services: &[String]| Job {
            scan_id: scan_id.to_owned(),
            account_id: account.account_id.clone(),
            region: region.to_owned(),
            role_arn: account.role_arn.clone(),
            external_id: account.external_id.clone(),
            services: services.to_vec(),
            trigger: trigger.to_owned(),
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
    pub regions: Vec<String>,
    pub created_at: String,
}

/// One failure inside a scan: the scan goes on, and ends `partial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanError {
    pub account_id: String,
    pub region: String,
    pub service: String,
    /// AWS's error code (`AccessDenied`, `Throttling`, …) or ours.
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Scan {
    pub scan_id: String,
    /// `queued`, `running`, `succeeded`, `partial` or `failed`.
    pub status: String,
    /// `api` or `schedule`.
    pub trigger: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub jobs_total: u64,
    pub jobs_done: u64,
    pub counts: std::collections::BTreeMap<String, u64>,
    pub errors: Vec<ScanError>,
}

/// One unit of scanning work: an account in a region (or its global services).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub scan_id: String,
    pub account_id: String,
    pub region: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub services: Vec<String>,
    pub trigger: String,
}

impl Job {
    pub fn key(&self) -> (AttributeValue, AttributeValue) {
        (
            s(format!("SCAN#{}", self.scan_id)),
            s(format!("JOB#{}#{}", self.account_id, self.region)),
        )
    }

    /// A job from a stream record's new image (or a table item).
    pub fn from_item(item: &Item) -> Option<Self> {
        Some(Self {
            scan_id: get_s(item, "scan_id")?.to_owned(),
            account_id: get_s(item, "account_id")?.to_owned(),
            region: get_s(item, "region")?.to_owned(),
            role_arn: get_s(item, "role_arn").map(str::to_owned),
            external_id: get_s(item, "external_id").map(str::to_owned),
            services: get_list(item, "services"),
            trigger: get_s(item, "trigger").unwrap_or("api").to_owned(),
        })
    }

    fn item(&self, now: i64) -> Item {
        let (pk, sk) = self.key();
        let mut item = Item::from([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("scan_id".to_owned(), s(&self.scan_id)),
            ("account_id".to_owned(), s(&self.account_id)),
            ("region".to_owned(), s(&self.region)),
            (
                "kind".to_owned(),
                s(if self.region == GLOBAL {
                    "global"
                } else {
                    "regional"
                }),
            ),
            ("services".to_owned(), list(self.services.iter().cloned())),
            ("status".to_owned(), s("pending")),
            ("trigger".to_owned(), s(&self.trigger)),
            ("created_at".to_owned(), s(dynamo::rfc3339(now))),
            ("ttl".to_owned(), n(now + JOB_TTL_SECS)),
        ]);
        if let Some(role) = &self.role_arn {
            item.insert("role_arn".into(), s(role));
        }
        if let Some(external) = &self.external_id {
            item.insert("external_id".into(), s(external));
        }
        item
    }
}

#[derive(Clone, Debug)]
pub struct InventoryStore {
    table: Table,
    jobs: Table,
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
        let jobs = plan_jobs("s", "api", &accounts, None, None);
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
        assert_eq!(jobs[2].services, ["iam", "s3"]);
    }

    #[test]
    fn filters_narrow_regions_and_services() {
        let accounts = [account("111111111111", &["us-east-1", "eu-west-1"])];
        let jobs = plan_jobs(
            "s",
            "api",
            &accounts,
            Some(&["eu-west-1".into()]),
            Some(&["ec2".into()]),
        );
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].region.as_str(), jobs[0].services.as_slice()),
            ("eu-west-1", &["ec2".to_owned()][..])
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
}

fn account_from(item: &Item) -> Option<Account> {
    Some(Account {
        account_id: get_s(item, "account_id")?.to_owned(),
        name: get_s(item, "name").unwrap_or_default().to_owned(),
        role_arn: get_s(item, "role_arn").map(str::to_owned),
        external_id: get_s(item, "external_id").map(str::to_owned),
        regions: get_list(item, "regions"),
        created_at: get_s(item, "created_at").unwrap_or_default().to_owned(),
    })
}

fn scan_from(item: &Item) -> Option<Scan> {
    // `errors`: a list of JSON ScanErrors; `counts`: a map of service to number.
    let errors = item
        .get("errors")
        .and_then(|v| v.as_l().ok())
        .map(|l| {
            l.iter()
                .filter_map(|e| serde_json::from_str(e.as_s().ok()?).ok())
                .collect()
        })
        .unwrap_or_default();
    let counts = item
        .get("counts")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(service, count)| {
                    Some((service.clone(), count.as_n().ok()?.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Scan {
        scan_id: get_s(item, "scan_id")?.to_owned(),
        status: get_s(item, "status")?.to_owned(),
        trigger: get_s(item, "trigger").unwrap_or("api").to_owned(),
        started_at: get_s(item, "started_at").unwrap_or_default().to_owned(),
        finished_at: get_s(item, "finished_at").map(str::to_owned),
        jobs_total: get_n(item, "jobs_total").unwrap_or(0).max(0) as u64,
        jobs_done: get_n(item, "jobs_done").unwrap_or(0).max(0) as u64,
        counts,
        errors,
    })
}

/// How claiming a job ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This invocation runs the job.
    Claimed,
    /// Someone already did (a re-delivered stream record): skip it.
    Taken,
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

    /// Registers an account; `false` when it is registered already.
    pub async fn put_account(&self, account: &Account) -> Result<bool, StoreError> {
        let mut put = self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .item("pk", s(format!("ACCOUNT#{}", account.account_id)))
            .item("sk", s("META"))
            .item("gsi1pk", s("ACCOUNTS"))
            .item("gsi1sk", s(&account.account_id))
            .item("account_id", s(&account.account_id))
            .item("name", s(&account.name))
            .item("regions", list(account.regions.iter().cloned()))
            .item("created_at", s(&account.created_at))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(role) = &account.role_arn {
            put = put.item("role_arn", s(role));
        }
        if let Some(external) = &account.external_id {
            put = put.item("external_id", s(external));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("PutItem", &e)),
        }
    }

    /// Every registered account (a team registers tens, not thousands).
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s("ACCOUNTS"))
            .into_paginator()
            .items()
            .send();
        let mut accounts = Vec::new();
        while let Some(item) = pages.next().await {
            accounts.extend(account_from(
                &item.map_err(|e| StoreError::sdk("Query", &e))?,
            ));
        }
        Ok(accounts)
    }

    /// Removes an account; `false` when there was none.
    pub async fn delete_account(&self, account_id: &str) -> Result<bool, StoreError> {
        let out = self
            .table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("ACCOUNT#{account_id}")))
            .key("sk", s("META"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::sdk("DeleteItem", &e))?;
        Ok(out.attributes.is_some())
    }

    /// Writes a scan and its jobs. The scan is written first, so every job
    /// the scanner sees has a scan to count down.
    pub async fn create_scan(
        &self,
        scan_id: &str,
        trigger: &str,
        jobs: &[Job],
        now: i64,
    ) -> Result<Scan, StoreError> {
        let started = dynamo::rfc3339(now);
        let status = if jobs.is_empty() {
            "succeeded"
        } else {
            "queued"
        };
        let mut put = self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .item("pk", s(format!("SCAN#{scan_id}")))
            .item("sk", s("META"))
            .item("gsi1pk", s("SCANS"))
            .item("gsi1sk", s(format!("{started}#{scan_id}")))
            .item("scan_id", s(scan_id))
            .item("status", s(status))
            .item("trigger", s(trigger))
            .item("started_at", s(&started))
            .item("jobs_total", n(jobs.len()))
            .item("jobs_done", n(0))
            .item("counts", AttributeValue::M(Default::default()))
            .item("errors", AttributeValue::L(Vec::new()))
            .condition_expression("attribute_not_exists(pk)");
        if jobs.is_empty() {
            put = put.item("finished_at", s(&started));
        }
        put.send()
            .await
            .map_err(|e| StoreError::sdk("PutItem", &e))?;
        self.jobs
            .batch_put(jobs.iter().map(|job| job.item(now)))
            .await?;
        Ok(Scan {
            scan_id: scan_id.to_owned(),
            status: status.to_owned(),
            trigger: trigger.to_owned(),
            started_at: started.clone(),
            finished_at: jobs.is_empty().then_some(started),
            jobs_total: jobs.len() as u64,
            jobs_done: 0,
            counts: Default::default(),
            errors: vec![],
        })
    }

    pub async fn get_scan(&self, scan_id: &str) -> Result<Option<Scan>, StoreError> {
        Ok(self
            .table
            .get(s(format!("SCAN#{scan_id}")), s("META"))
            .await?
            .as_ref()
            .and_then(scan_from))
    }

    /// A page of scans, newest first.
    pub async fn scans(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<Scan>, Option<Item>), StoreError> {
        let out = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s("SCANS"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        Ok((
            out.items().iter().filter_map(scan_from).collect(),
            out.last_evaluated_key,
        ))
    }

    /// Moves a job from status `from` to `to` (stamping `status_at`), only if
    /// it is still in `from`; `false` when it was not.
    async fn move_job(&self, job: &Job, from: &str, to: &str) -> Result<bool, StoreError> {
        let (pk, sk) = job.key();
        let moved = self
            .jobs
            .client
            .update_item()
            .table_name(&self.jobs.name)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression("SET #status = :to, status_at = :now")
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":now", s(dynamo::rfc3339(dynamo::now())))
            .send()
            .await;
        match moved {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    /// Claims a job for this invocation: `pending → running`, conditionally,
    /// so a re-delivered stream record never scans twice.
    pub async fn claim_job(&self, job: &Job) -> Result<Claim, StoreError> {
        Ok(if self.move_job(job, "pending", "running").await? {
            Claim::Claimed
        } else {
            Claim::Taken
        })
    }

    /// Gives a claimed job back after its run failed (`running → pending`),
    /// so the stream's retry runs it again instead of skipping it as taken.
    pub async fn release_job(&self, job: &Job) -> Result<(), StoreError> {
        self.move_job(job, "running", "pending").await.map(drop)
    }

    /// Counts a finished job into its scan, with its resource counts and
    /// errors, once however often it is retried; the job whose count reaches
    /// the total closes the scan: `succeeded`, or `partial` when anything
    /// failed.
    pub async fn finish_job(
        &self,
        job: &Job,
        counts: &std::collections::BTreeMap<String, u64>,
        errors: &[ScanError],
    ) -> Result<Option<Scan>, StoreError> {
        // One atomic update counts the job in and adds its counts and errors:
        // DynamoDB applies concurrent updates one at a time, so no job's
        // numbers are lost however many finish together, and exactly one job
        // sees `jobs_done` reach `jobs_total`. `jobs_counted` makes it
        // idempotent: a retried job is never counted twice.
        let (_, job_key) = job.key();
        let mut update = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("SCAN#{}", job.scan_id)))
            .key("sk", s("META"))
            .expression_attribute_names("#status", "status");
        let mut add = vec![
            "jobs_done :one".to_owned(),
            "jobs_counted :job_set".to_owned(),
        ];
        for (i, (service, count)) in counts.iter().enumerate() {
            add.push(format!("counts.#s{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), service)
                .expression_attribute_values(format!(":c{i}"), n(count));
        }
        let mut set = vec!["#status = :running"];
        if !errors.is_empty() {
            set.push("errors = list_append(errors, :errors)");
            update = update.expression_attribute_values(
                ":errors",
                list(
                    errors
                        .iter()
                        .map(|e| serde_json::to_string(e).unwrap_or_default()),
                ),
            );
        }
        let counted = update
            .update_expression(format!("ADD {} SET {}", add.join(", "), set.join(", ")))
            .condition_expression("jobs_done < jobs_total AND NOT contains(jobs_counted, :job)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":job", job_key.clone())
            .expression_attribute_values(
                ":job_set",
                AttributeValue::Ss(vec![job_key.as_s().cloned().unwrap_or_default()]),
            )
            .expression_attribute_values(":running", s("running"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let scan = match counted {
            Ok(out) => out.attributes.as_ref().and_then(scan_from),
            // Counted by an earlier try, or every job is: nothing counts twice,
            // but an earlier try may have failed before closing the scan.
            Err(e) if dynamo::condition_failed(&e) => self.get_scan(&job.scan_id).await?,
            Err(e) => return Err(StoreError::sdk("UpdateItem", &e)),
        };
        let scan = match scan {
            Some(scan) => Some(self.close_if_complete(scan).await?),
            None => None,
        };
        let done = if errors.is_empty() { "done" } else { "partial" };
        self.move_job(job, "running", done).await?;
        Ok(scan)
    }

    /// Closes a scan whose every job is counted, once: `succeeded`, or
    /// `partial` when anything failed.
    async fn close_if_complete(&self, mut scan: Scan) -> Result<Scan, StoreError> {
        if scan.jobs_done < scan.jobs_total || scan.finished_at.is_some() {
            return Ok(scan);
        }
        scan.status = if scan.errors.is_empty() {
            "succeeded"
        } else {
            "partial"
        }
        .into();
        let finished = dynamo::rfc3339(dynamo::now());
        let closed = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("SCAN#{}", scan.scan_id)))
            .key("sk", s("META"))
            .update_expression("SET #status = :final, finished_at = :finished")
            .condition_expression("attribute_not_exists(finished_at)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":final", s(&scan.status))
            .expression_attribute_values(":finished", s(&finished))
            .send()
            .await;
        match closed {
            Ok(_) => {
                scan.finished_at = Some(finished);
                Ok(scan)
            }
            // Closed meanwhile by another try of the same job.
            Err(e) if dynamo::condition_failed(&e) => Ok(scan),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }
}
