//! What the per-service advisor tests share: a real scan of seeded
//! accounts through the scanner, the inventory it leaves, and the checks
//! those resources fail.

use std::collections::BTreeSet;

use inventory::store::ResourceQueries;
use scanner::store::JobRuns;
use shared::inventory::{QueueScans, ScanStatus, ScanTrigger, Service};
use shared::resources::Resource;

use super::role;

/// A fresh stack and the scanner's state on it, for tests that run jobs directly.
pub async fn scanner_stack(hint: &str) -> (aws_config::SdkConfig, scanner::State) {
    let (aws, _template, stack) = super::stack(hint).await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    (aws, state)
}

/// The account `id`, reached through its cloudkeep role, scanning `regions`.
pub fn registered(id: &str, regions: &[&str]) -> shared::inventory::Account {
    shared::inventory::Account {
        account_id: id.to_owned(),
        name: id.to_owned(),
        role_arn: Some(role(id)),
        external_id: None,
        remediation_role_arn: None,
        regions: regions.iter().map(|r| r.to_string()).collect(),
        created_at: "2026-11-26T00:00:00Z".into(),
    }
}

/// Scans `services` of `accounts` in us-east-1 (and their global job), as
/// the scanner does for a queued scan; every listing must succeed.
pub async fn scan(state: &scanner::State, accounts: &[&str], services: &[Service]) {
    scan_in(state, accounts, &["us-east-1"], Some(services)).await
}

/// Scans `services` (all, with `None`) of `accounts` in `regions` (and
/// their global job); every listing must succeed.
pub async fn scan_in(
    state: &scanner::State,
    accounts: &[&str],
    regions: &[&str],
    services: Option<&[Service]>,
) {
    let accounts: Vec<_> = accounts.iter().map(|a| registered(a, regions)).collect();
    let scan = run_scan(state, &accounts, services).await;
    assert_eq!(scan.status, ScanStatus::Succeeded, "{scan:?}");
}

/// Plans a scan of `accounts` as the API does, runs each of its jobs as the
/// scanner does for a queued scan, and answers the scan as stored then.
pub async fn run_scan(
    state: &scanner::State,
    accounts: &[shared::inventory::Account],
    services: Option<&[Service]>,
) -> shared::inventory::Scan {
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = shared::inventory::plan_jobs(&scan_id, ScanTrigger::Api, accounts, None, services);
    state
        .inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await
        .expect("scan");
    for job in &jobs {
        scanner::run_job(state, job).await.expect("ran");
    }
    JobRuns::scan(&state.inventory, &scan_id)
        .await
        .expect("store")
        .expect("scan")
}

pub async fn resources(state: &scanner::State, account: &str) -> Vec<Resource> {
    state
        .resources
        .resources_of_account(account)
        .await
        .expect("store")
}

/// (check id, resource name or id) for every check the resources fail now.
pub fn raised(resources: &[Resource]) -> BTreeSet<(&'static str, String)> {
    shared::advisor::evaluate(resources)
        .into_iter()
        .map(|r| {
            (
                r.check.id,
                r.resource
                    .name
                    .clone()
                    .unwrap_or_else(|| r.resource.id.clone()),
            )
        })
        .collect()
}

pub fn named<'a>(resources: &'a [Resource], resource_type: &str, name: &str) -> &'a Resource {
    resources
        .iter()
        .find(|r| r.resource_type == resource_type && r.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{resource_type} {name} was scanned"))
}

pub fn has(raised: &BTreeSet<(&'static str, String)>, check: &'static str, name: &str) -> bool {
    raised.contains(&(check, name.to_owned()))
}

/// A Lambda execution role in the account `config` reaches; its ARN.
pub async fn function_role(config: &aws_config::SdkConfig) -> String {
    let role = aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name("fn")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .expect("role");
    role.role().map(|r| r.arn().to_owned()).expect("role arn")
}

/// A one-file Python function's code.
pub fn function_code() -> aws_sdk_lambda::types::FunctionCode {
    aws_sdk_lambda::types::FunctionCode::builder()
        .zip_file(aws_sdk_lambda::primitives::Blob::new(
            validator::testzip::build(
                &[validator::testzip::Spec::stored(
                    "index.py",
                    b"def handler(e, c): return 1",
                )],
                &Default::default(),
            ),
        ))
        .build()
}
