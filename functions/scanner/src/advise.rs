//! After a job's listings: the advisor's verdicts become findings (raised,
//! or resolved when a successful listing shows them passing or gone), and
//! the listing's numbers become its part of the summary.

use std::collections::{BTreeMap, HashMap};

use shared::advisor;
use shared::findings::{Finding, Record};
use shared::inventory::{Job, ScanError, Service};
use shared::summary::ServicePart;

use crate::State;
use crate::collect::Listing;
use crate::store::{FindingWrites, Settle, SummaryWrites};

/// What advising one job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Advice {
    pub raised: usize,
    /// Of those raised, the new, changed or reopened ones (the rest were
    /// already stored as they are).
    pub written: usize,
    pub resolved: u64,
}

/// Raises and resolves the job's findings and writes its summary part; a
/// store failure becomes a scan error of the services it concerns.
pub async fn advise(state: &State, job: &Job, listing: &Listing) -> (Advice, Vec<ScanError>) {
    let now = shared::dynamo::rfc3339(shared::dynamo::now());
    let raised = advisor::evaluate(&listing.resources);
    let error = |service: Service, what: &str, e: shared::dynamo::StoreError| {
        tracing::error!(error = %e, scan = %job.scan_id, account = %job.account_id, region = %job.region, "{what} failed");
        ScanError {
            account_id: job.account_id.clone(),
            region: job.region.clone(),
            service,
            code: "StoreFailed".into(),
            message: format!("{what}: the inventory table failed"),
        }
    };
    let listed: Vec<Service> = listing.counts.keys().copied().collect();

    // A finding no longer raised is resolved only where this job could
    // decide it: its service's listing succeeded, and, for a check that
    // reads metrics, the resource is gone or its metrics were read.
    let present: HashMap<&str, &shared::resources::Resource> = listing
        .resources
        .iter()
        .map(|r| (r.arn.as_str(), r))
        .collect();
    let resolvable = |record: &Record| {
        if !listing.counts.contains_key(&record.service) {
            return false;
        }
        match advisor::check(&record.check_id) {
            Some(check) if check.needs_metrics => present
                .get(record.resource_arn.as_str())
                .is_none_or(|r| advisor::props::get(r, "utilization").is_some()),
            _ => true,
        }
    };
    let settle = Settle {
        account: &job.account_id,
        listing: &job.region,
        scan_id: &job.scan_id,
        now: &now,
        raised: &raised,
        listed: &listed,
        resolvable: &resolvable,
    };
    let settled = match state.resources.settle(&settle).await {
        Ok(settled) => settled,
        Err(e) => {
            let errors = listed
                .iter()
                .map(|&s| error(s, "settling findings", e.clone()))
                .collect();
            return (Advice::default(), errors);
        }
    };
    let mut errors = Vec::new();
    let records = settled.records;

    let shown: Vec<Finding> = records.into_iter().map(|r| r.finding(&now)).collect();
    let parts: BTreeMap<Service, ServicePart> = listed
        .iter()
        .map(|&service| {
            let part = ServicePart::of(
                listing.resources.iter().filter(|r| r.service == service),
                shown.iter().filter(|f| f.service == service),
            );
            (service, part)
        })
        .collect();
    if let Err(e) = state
        .resources
        .write_part(&job.account_id, &job.region, &parts)
        .await
    {
        errors.extend(listed.iter().map(|&s| error(s, "the summary", e.clone())));
    }
    (
        Advice {
            raised: shown.len(),
            written: settled.written,
            resolved: settled.resolved,
        },
        errors,
    )
}
