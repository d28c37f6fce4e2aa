//! Findings as OCSF 1.1 Detection Findings (class 2004 of the Findings
//! category), one JSON array, the shape Prowler's `json-ocsf` output and
//! Security Lake ingest: each finding its own event, with the resource, the
//! cloud account and the remediation.

use serde::Serialize;
use shared::advisor::Severity;
use shared::findings::{Finding, FindingStatus};

use super::json::JsonArray;
use super::{Encoder, Totals};

pub const SCHEMA_VERSION: &str = "1.1.0";
const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;

#[derive(Debug, Serialize)]
pub struct DetectionFinding<'a> {
    pub activity_id: u8,
    pub activity_name: &'static str,
    pub category_uid: u32,
    pub category_name: &'static str,
    pub class_uid: u32,
    pub class_name: &'static str,
    pub type_uid: u32,
    pub type_name: String,
    pub severity_id: u8,
    pub severity: &'static str,
    pub status_id: u8,
    pub status: &'static str,
    /// When the finding was last evaluated, epoch milliseconds.
    pub time: i64,
    pub message: &'a str,
    pub finding_info: FindingInfo<'a>,
    pub resources: [ResourceDetails<'a>; 1],
    pub cloud: Cloud<'a>,
    pub remediation: Remediation<'a>,
    pub metadata: Metadata,
    /// Ours, with no OCSF attribute: the check's category and saving.
    pub unmapped: Unmapped<'a>,
}

#[derive(Debug, Serialize)]
pub struct FindingInfo<'a> {
    pub uid: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    pub types: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_time: Option<i64>,
    pub product_uid: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ResourceDetails<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub resource_type: &'a str,
    pub region: &'a str,
    pub cloud_partition: &'a str,
    pub group: Group<'a>,
}

#[derive(Debug, Serialize)]
pub struct Group<'a> {
    pub name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Cloud<'a> {
    pub provider: &'static str,
    pub account: Account<'a>,
    pub region: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Account<'a> {
    pub uid: &'a str,
    #[serde(rename = "type")]
    pub account_type: &'static str,
    pub type_id: u8,
}

#[derive(Debug, Serialize)]
pub struct Remediation<'a> {
    pub desc: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub product: Product,
    pub version: &'static str,
    pub profiles: [&'static str; 1],
}

#[derive(Debug, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub uid: &'static str,
    pub vendor_name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Unmapped<'a> {
    pub category: &'static str,
    pub check_id: &'a str,
    pub monthly_savings_usd: f64,
}

/// OCSF's `severity_id`: 2 Low, 3 Medium, 4 High, 5 Critical.
pub fn severity_id(severity: Severity) -> (u8, &'static str) {
    match severity {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// The finding's state as OCSF's `status_id` (1 New, 3 Suppressed, 4
/// Resolved) and the activity that put it there (1 Create, 2 Update, 3 Close).
pub fn status_and_activity(status: FindingStatus) -> ((u8, &'static str), (u8, &'static str)) {
    match status {
        FindingStatus::Open => ((1, "New"), (1, "Create")),
        FindingStatus::Suppressed => ((3, "Suppressed"), (2, "Update")),
        FindingStatus::Resolved => ((4, "Resolved"), (3, "Close")),
    }
}

/// RFC 3339 to epoch milliseconds; `None` for anything else.
fn millis(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`).
fn partition(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

pub fn detection_finding(f: &Finding) -> DetectionFinding<'_> {
    let (severity_id, severity) = severity_id(f.severity);
    let ((status_id, status), (activity_id, activity_name)) = status_and_activity(f.status);
    let last_seen = millis(&f.last_seen);
    DetectionFinding {
        activity_id,
        activity_name,
        category_uid: CATEGORY_UID,
        category_name: "Findings",
        class_uid: CLASS_UID,
        class_name: "Detection Finding",
        type_uid: CLASS_UID * 100 + activity_id as u32,
        type_name: format!("Detection Finding: {activity_name}"),
        severity_id,
        severity,
        status_id,
        status,
        time: last_seen.unwrap_or_default(),
        message: &f.title,
        finding_info: FindingInfo {
            uid: &f.finding_id,
            title: &f.title,
            desc: &f.title,
            types: [f.category.as_str()],
            first_seen_time: millis(&f.first_seen),
            last_seen_time: last_seen,
            product_uid: "cloudkeep",
        },
        resources: [ResourceDetails {
            uid: &f.resource_arn,
            name: &f.resource_id,
            resource_type: &f.resource_type,
            region: &f.region,
            cloud_partition: partition(&f.resource_arn),
            group: Group {
                name: f.service.as_str(),
            },
        }],
        cloud: Cloud {
            provider: "AWS",
            account: Account {
                uid: &f.account_id,
                account_type: "AWS Account",
                type_id: 10,
            },
            region: &f.region,
        },
        remediation: Remediation {
            desc: &f.recommendation,
        },
        metadata: Metadata {
            product: Product {
                name: "cloudkeep",
                uid: "cloudkeep",
                vendor_name: "cloudkeep",
                version: env!("CARGO_PKG_VERSION"),
            },
            version: SCHEMA_VERSION,
            profiles: ["cloud"],
        },
        unmapped: Unmapped {
            category: f.category.as_str(),
            check_id: &f.check_id,
            monthly_savings_usd: f.monthly_savings_usd,
        },
    }
}

#[derive(Default)]
pub struct Ocsf {
    array: JsonArray,
}

impl Encoder<Finding> for Ocsf {
    fn start(&mut self, out: &mut Vec<u8>) {
        JsonArray::open(out);
    }

    fn row(&mut self, row: &Finding, out: &mut Vec<u8>) {
        self.array.element(&detection_finding(row), out);
    }

    fn finish(&mut self, _totals: &Totals, out: &mut Vec<u8>) {
        self.array.close(out);
    }
}
