//! The summary of `GET /v1/summary`, kept as aggregates so that a request
//! reads one item, never the tables.
//!
//! Each job writes its listing's part (`SUMMARY#PARTS` / `{account}#{listing}`),
//! one attribute per service it listed successfully, so a failed listing
//! keeps the last good numbers of its service. The job that closes a scan
//! sums every part into `SUMMARY` / `TOTAL`; a suppression adjusts the total
//! in place.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::advisor::{Category, Severity};
use crate::dynamo::{Item, StoreError};
use crate::findings::{Finding, FindingStatus, cents};
use crate::inventory::{Scan, ScanStatus, Service};
use crate::resources::Resource;

/// Resources and their monthly cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    pub resources: u64,
    pub monthly_cost_usd: f64,
}

impl Tally {
    fn add(&mut self, resources: u64, cost: f64) {
        self.resources += resources;
        self.monthly_cost_usd = cents(self.monthly_cost_usd + cost);
    }
}

/// Open findings: how many, what fixing them saves, by severity and category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FindingTally {
    pub open: u64,
    pub suppressed: u64,
    /// The monthly savings of the open findings.
    pub monthly_savings_usd: f64,
    pub by_severity: BTreeMap<Severity, u64>,
    pub by_category: BTreeMap<Category, u64>,
}

impl FindingTally {
    /// Counts one finding in (`sign` 1) or out (`sign` -1).
    pub fn count(
        &mut self,
        status: FindingStatus,
        severity: Severity,
        category: Category,
        savings: f64,
        sign: i64,
    ) {
        let bump = |n: &mut u64| *n = n.saturating_add_signed(sign);
        match status {
            FindingStatus::Open => {
                bump(&mut self.open);
                bump(self.by_severity.entry(severity).or_default());
                bump(self.by_category.entry(category).or_default());
                self.monthly_savings_usd =
                    cents((self.monthly_savings_usd + sign as f64 * savings).max(0.0));
            }
            FindingStatus::Suppressed => bump(&mut self.suppressed),
            FindingStatus::Resolved => {}
        }
        self.by_severity.retain(|_, n| *n > 0);
        self.by_category.retain(|_, n| *n > 0);
    }

    fn merge(&mut self, other: &FindingTally) {
        self.open += other.open;
        self.suppressed += other.suppressed;
        self.monthly_savings_usd = cents(self.monthly_savings_usd + other.monthly_savings_usd);
        for (k, v) in &other.by_severity {
            *self.by_severity.entry(*k).or_default() += v;
        }
        for (k, v) in &other.by_category {
            *self.by_category.entry(*k).or_default() += v;
        }
    }
}

/// One service's numbers in one listing: a part of the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePart {
    pub by_region: BTreeMap<String, Tally>,
    pub by_type: BTreeMap<String, Tally>,
    pub findings: FindingTally,
}

impl ServicePart {
    /// The part of one service from a listing's resources (gone ones left
    /// out) and the findings it raised.
    pub fn of<'a>(
        resources: impl IntoIterator<Item = &'a Resource>,
        findings: impl IntoIterator<Item = &'a Finding>,
    ) -> Self {
        let mut part = Self::default();
        for r in resources {
            if r.state.as_deref() == Some("gone") {
                continue;
            }
            part.by_region
                .entry(r.region.clone())
                .or_default()
                .add(1, r.monthly_cost_usd);
            part.by_type
                .entry(r.resource_type.clone())
                .or_default()
                .add(1, r.monthly_cost_usd);
        }
        for f in findings {
            part.findings
                .count(f.status, f.severity, f.category, f.monthly_savings_usd, 1);
        }
        part
    }
}

/// The last scan, as the summary names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastScan {
    pub scan_id: String,
    pub status: ScanStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl From<&Scan> for LastScan {
    fn from(scan: &Scan) -> Self {
        Self {
            scan_id: scan.scan_id.clone(),
            status: scan.status,
            started_at: scan.started_at.clone(),
            finished_at: scan.finished_at.clone(),
        }
    }
}

/// `GET /v1/summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub resources: u64,
    /// The estimated monthly cost of every resource.
    pub monthly_cost_usd: f64,
    /// What fixing every open finding would save a month.
    pub monthly_savings_usd: f64,
    pub by_service: BTreeMap<Service, Tally>,
    pub by_region: BTreeMap<String, Tally>,
    pub by_type: BTreeMap<String, Tally>,
    pub findings: FindingTally,
    pub last_scan: Option<LastScan>,
    /// When these numbers were summed (the last scan's end, or a suppression since).
    pub updated_at: Option<String>,
}

impl Summary {
    /// Sums the parts of every listing.
    pub fn of_parts<'a>(parts: impl IntoIterator<Item = (Service, &'a ServicePart)>) -> Self {
        let mut summary = Summary::default();
        for (service, part) in parts {
            for (region, t) in &part.by_region {
                summary
                    .by_region
                    .entry(region.clone())
                    .or_default()
                    .add(t.resources, t.monthly_cost_usd);
                summary
                    .by_service
                    .entry(service)
                    .or_default()
                    .add(t.resources, t.monthly_cost_usd);
                summary.resources += t.resources;
                summary.monthly_cost_usd = cents(summary.monthly_cost_usd + t.monthly_cost_usd);
            }
            for (kind, t) in &part.by_type {
                summary
                    .by_type
                    .entry(kind.clone())
                    .or_default()
                    .add(t.resources, t.monthly_cost_usd);
            }
            summary.findings.merge(&part.findings);
        }
        summary.monthly_savings_usd = summary.findings.monthly_savings_usd;
        summary
    }

    /// Moves one finding from status `from` to `to` (a suppression or its end).
    pub fn recount(&mut self, finding: &Finding, from: FindingStatus, to: FindingStatus) {
        let f = &mut self.findings;
        f.count(
            from,
            finding.severity,
            finding.category,
            finding.monthly_savings_usd,
            -1,
        );
        f.count(
            to,
            finding.severity,
            finding.category,
            finding.monthly_savings_usd,
            1,
        );
        self.monthly_savings_usd = f.monthly_savings_usd;
    }
}

impl Summary {
    /// Takes one resource out of the tallies (an action deleted it), or
    /// moves its cost from `cost_before` to what it costs now (an action
    /// stopped or started it).
    pub fn recount_resource(&mut self, resource: &Resource, cost_before: f64, gone: bool) {
        let (count, cost) = if gone {
            (-1, -cost_before)
        } else {
            (0, resource.monthly_cost_usd - cost_before)
        };
        let tallies = [
            self.by_service.get_mut(&resource.service),
            self.by_region.get_mut(&resource.region),
            self.by_type.get_mut(&resource.resource_type),
        ];
        for tally in tallies.into_iter().flatten() {
            tally.resources = tally.resources.saturating_add_signed(count);
            tally.monthly_cost_usd = cents((tally.monthly_cost_usd + cost).max(0.0));
        }
        self.resources = self.resources.saturating_add_signed(count);
        self.monthly_cost_usd = cents((self.monthly_cost_usd + cost).max(0.0));
    }
}

/// Changes the summary's total in place: read it, change it, write it
/// back if no one else did meanwhile (a few tries). Before the first scan
/// closes there is no total, and nothing to change: that scan counts it.
pub async fn change_total(
    table: &crate::dynamo::Table,
    change: impl Fn(&mut Summary),
) -> Result<(), StoreError> {
    let (pk, sk) = total_key();
    for _ in 0..5 {
        let Some(item) = table.get(pk.clone(), sk.clone()).await? else {
            return Ok(());
        };
        let version = item
            .get("version")
            .cloned()
            .unwrap_or_else(|| crate::dynamo::s(""));
        let mut total = Summary::from_total_item("GetItem", &item)?;
        change(&mut total);
        total.updated_at = Some(crate::dynamo::rfc3339(crate::dynamo::now()));
        let put = table
            .client
            .put_item()
            .table_name(&table.name)
            .set_item(Some(total.total_item()?))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", version)
            .send()
            .await;
        match put {
            Ok(_) => return Ok(()),
            Err(e) if crate::dynamo::condition_failed(&e) => continue,
            Err(e) => return Err(StoreError::sdk("PutItem", &e)),
        }
    }
    Err(StoreError::unavailable(
        "PutItem",
        "the summary total kept changing under five tries",
    ))
}

/// The parts' partition and the total's key.
pub const PARTS_PARTITION: &str = "SUMMARY#PARTS";

pub fn part_key(account: &str, listing: &str) -> (AttributeValue, AttributeValue) {
    (
        crate::dynamo::s(PARTS_PARTITION),
        crate::dynamo::s(format!("{account}#{listing}")),
    )
}

pub fn total_key() -> (AttributeValue, AttributeValue) {
    (crate::dynamo::s("SUMMARY"), crate::dynamo::s("TOTAL"))
}

impl Summary {
    /// The total's item: its key, the summary as JSON text, and a fresh
    /// `version` that a read-change-write conditions on.
    pub fn total_item(&self) -> Result<Item, StoreError> {
        let text = serde_json::to_string(self)
            .map_err(|e| StoreError::corrupt("PutItem", format!("summary does not encode: {e}")))?;
        let (pk, sk) = total_key();
        Ok(Item::from([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("summary".to_owned(), crate::dynamo::s(text)),
            (
                "version".to_owned(),
                crate::dynamo::s(uuid::Uuid::new_v4().to_string()),
            ),
        ]))
    }

    /// The summary held by the total's item.
    pub fn from_total_item(operation: &'static str, item: &Item) -> Result<Summary, StoreError> {
        item.get("summary")
            .and_then(|v| v.as_s().ok())
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| StoreError::corrupt(operation, "the summary total does not decode"))
    }
}

/// The attribute of a part holding one service's numbers (as JSON text).
pub fn part_attribute(service: Service) -> String {
    format!("svc_{}", service.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::fixture::resource;

    fn finding(status: FindingStatus, severity: Severity, savings: f64) -> Finding {
        Finding {
            finding_id: "0".repeat(32),
            check_id: "ec2.x".into(),
            title: "t".into(),
            severity,
            category: Category::Cost,
            service: Service::Ec2,
            resource_arn: "arn".into(),
            resource_type: "ec2:volume".into(),
            resource_id: "vol".into(),
            region: "eu-west-1".into(),
            account_id: "111111111111".into(),
            recommendation: "r".into(),
            monthly_savings_usd: savings,
            status,
            first_seen: "t".into(),
            last_seen: "t".into(),
            resolved_at: None,
            suppression: None,
        }
    }

    #[test]
    fn totals_are_the_sums_over_parts_and_suppressed_findings_save_nothing() {
        let mut a = resource("ec2:volume", "vol-1", serde_json::json!({}));
        a.monthly_cost_usd = 8.0;
        let mut b = resource("ec2:instance", "i-1", serde_json::json!({}));
        b.monthly_cost_usd = 70.08;
        b.region = "us-east-1".into();
        let mut gone = resource("ec2:volume", "vol-2", serde_json::json!({}));
        gone.state = Some("gone".into());
        gone.monthly_cost_usd = 100.0;
        let open = finding(FindingStatus::Open, Severity::High, 8.0);
        let hidden = finding(FindingStatus::Suppressed, Severity::Low, 50.0);
        let ec2 = ServicePart::of([&a, &b, &gone], [&open, &hidden]);
        let mut c = resource("kms:key", "k", serde_json::json!({}));
        c.monthly_cost_usd = 1.0;
        let kms = ServicePart::of([&c], []);
        let mut summary = Summary::of_parts([(Service::Ec2, &ec2), (Service::Kms, &kms)]);
        assert_eq!(summary.resources, 3);
        assert_eq!(summary.monthly_cost_usd, 79.08);
        assert_eq!(summary.by_region["eu-west-1"].monthly_cost_usd, 9.0);
        assert_eq!(summary.by_service[&Service::Ec2].resources, 2);
        assert_eq!(summary.monthly_savings_usd, 8.0);
        assert_eq!((summary.findings.open, summary.findings.suppressed), (1, 1));

        summary.recount(&open, FindingStatus::Open, FindingStatus::Suppressed);
        assert_eq!(summary.monthly_savings_usd, 0.0);
        assert!(summary.findings.by_severity.is_empty());
        assert_eq!(summary.findings.suppressed, 2);
    }
}
