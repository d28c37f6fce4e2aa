//! Findings, in the inventory table: the shape the scanner writes (raising
//! and resolving them after each listing) and the inventory reads (listing,
//! suppressing, reporting).
//!
//! `FIND#{account}#{listing}` / `{check_id}#{arn}`, where `listing` is the
//! region of the job that lists the resource (`global` for IAM and S3), so
//! one job's findings are one partition; indexed for the to-do list on
//! `gsi1` (`FINDINGS` / `{severity rank}#{savings, largest first}#{id}`) and
//! by id on `gsi2` (`FINDING#{id}`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::advisor::{Category, Raised, Severity};
use crate::dynamo::{Item, StoreError, s};
use crate::inventory::{GLOBAL, Service};

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindingStatus {
    Open,
    Resolved,
    Suppressed,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Resolved, Self::Suppressed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What the last evaluation said: the check failed (`open`) or, on a later
/// successful listing, passed or the resource was gone (`resolved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evaluated {
    Open,
    Resolved,
}

/// An admin's decision to stop seeing a finding, until a time or for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Suppression {
    /// The admin's user id.
    pub by: String,
    pub reason: String,
    pub at: String,
    /// RFC 3339; absent means until unsuppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Suppression {
    /// Whether it still holds at `now` (RFC 3339 UTC, which sorts as text).
    pub fn holds(&self, now: &str) -> bool {
        self.until.as_deref().is_none_or(|until| until > now)
    }
}

/// One entry of a finding's suppression history: who did what, when, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuppressionEvent {
    /// `suppress` or `unsuppress`.
    pub action: String,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A finding as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// 32 hex digits, stable for one check on one resource.
    pub finding_id: String,
    pub check_id: String,
    pub title: String,
    pub severity: Severity,
    pub category: Category,
    pub service: Service,
    pub resource_arn: String,
    pub resource_type: String,
    pub resource_id: String,
    pub region: String,
    pub account_id: String,
    pub recommendation: String,
    pub monthly_savings_usd: f64,
    pub status: FindingStatus,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
}

/// A finding as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub finding_id: String,
    pub check_id: String,
    pub title: String,
    pub severity: Severity,
    pub category: Category,
    pub service: Service,
    pub resource_arn: String,
    pub resource_type: String,
    pub resource_id: String,
    pub region: String,
    pub account_id: String,
    pub recommendation: String,
    pub monthly_savings_usd: f64,
    pub state: Evaluated,
    pub first_seen: String,
    pub last_seen: String,
    /// The scan that last raised it.
    pub scan_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppression_log: Vec<SuppressionEvent>,
    /// The last job that listed its service could not decide it (its
    /// metrics were not read), so its listing's settled mark does not stand
    /// for its `last_seen`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub undecided: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Record {
    /// With its `last_seen` as of `settled`, when a job last settled its
    /// service's findings in its listing: an open finding that job decided
    /// was raised by it, written or not.
    pub fn seen(mut self, settled: Option<&str>) -> Record {
        if let Some(at) = settled
            && self.state == Evaluated::Open
            && !self.undecided
            && at > self.last_seen.as_str()
        {
            self.last_seen = at.to_owned();
        }
        self
    }

    /// How it shows at `now`: a suppression that has expired no longer hides it.
    pub fn finding(self, now: &str) -> Finding {
        let status = match (&self.suppression, self.state) {
            (Some(s), _) if s.holds(now) => FindingStatus::Suppressed,
            (_, Evaluated::Open) => FindingStatus::Open,
            (_, Evaluated::Resolved) => FindingStatus::Resolved,
        };
        Finding {
            finding_id: self.finding_id,
            check_id: self.check_id,
            title: self.title,
            severity: self.severity,
            category: self.category,
            service: self.service,
            resource_arn: self.resource_arn,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            region: self.region,
            account_id: self.account_id,
            recommendation: self.recommendation,
            monthly_savings_usd: self.monthly_savings_usd,
            status,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            resolved_at: self.resolved_at,
            suppression: self.suppression.filter(|s| s.holds(now)),
        }
    }

    pub fn from_item(operation: &'static str, item: &Item) -> Result<Record, StoreError> {
        crate::inventory::decode(operation, item)
    }
}

/// The listing (job region) a resource of `service` in `region` belongs to.
pub fn listing_of(service: Service, region: &str) -> &str {
    if Service::GLOBAL.contains(&service) {
        GLOBAL
    } else {
        region
    }
}

/// `FIND#{account}#{listing}` / `{check_id}#{arn}`.
pub fn key(
    account: &str,
    listing: &str,
    check_id: &str,
    arn: &str,
) -> (AttributeValue, AttributeValue) {
    (s(partition(account, listing)), s(sort_key(check_id, arn)))
}

/// A finding's sort key within its listing's partition.
pub fn sort_key(check_id: &str, arn: &str) -> String {
    format!("{check_id}#{arn}")
}

/// The partition of one listing's findings.
pub fn partition(account: &str, listing: &str) -> String {
    format!("FIND#{account}#{listing}")
}

/// `SETTLED#{account}#{listing}` / `SETTLED`: one listing's settled marks,
/// [`SETTLED_AT`] and one [`settled_attribute`] per service, each the time
/// a job last settled that service's findings there.
///
/// A job writes only the findings it raised that are new, changed or
/// reopened; one still open and unchanged is not written at all, so a daily
/// scan of a steady estate writes almost nothing. Its `last_seen` is then
/// the listing's settled mark for its service ([`Record::seen`]), which a
/// job moves only after it raised, resolved and marked `undecided` every
/// finding of that service.
pub fn settled_key(account: &str, listing: &str) -> (AttributeValue, AttributeValue) {
    (s(format!("SETTLED#{account}#{listing}")), s("SETTLED"))
}

/// When a job last settled any service of the listing: a later job's
/// marks are never overwritten by an earlier one's.
pub const SETTLED_AT: &str = "settled_at";

/// The settled mark of one service, on [`settled_key`]'s item.
pub fn settled_attribute(service: Service) -> String {
    format!("settled_{}", service.as_str())
}

/// The settled marks of the listings some findings belong to, read once.
#[derive(Debug, Default)]
pub struct SettledMarks(HashMap<String, Item>);

impl SettledMarks {
    /// The key of the item holding `record`'s listing's marks.
    pub fn key_of(record: &Record) -> (AttributeValue, AttributeValue) {
        settled_key(
            &record.account_id,
            listing_of(record.service, &record.region),
        )
    }

    /// Keeps one listing's marks, as read.
    pub fn insert(&mut self, item: Item) {
        if let Some(pk) = crate::dynamo::get_s(&item, "pk").map(str::to_owned) {
            self.0.insert(pk, item);
        }
    }

    /// `record` with its `last_seen` as of its listing's mark.
    pub fn apply(&self, record: Record) -> Record {
        let (pk, _) = Self::key_of(&record);
        let at = pk
            .as_s()
            .ok()
            .and_then(|pk| self.0.get(pk))
            .and_then(|item| crate::dynamo::get_s(item, &settled_attribute(record.service)))
            .map(str::to_owned);
        record.seen(at.as_deref())
    }
}

/// Whether a stored finding already says what `values` (from
/// [`raised_values`]) would write, but for when and by which scan: still
/// open, decided, and the same [`DIGEST`] of its check, resource, words
/// and dollars. A finding stored without a digest (written before digests)
/// is rewritten once.
pub fn unchanged(stored: &Item, values: &[(&'static str, AttributeValue)]) -> bool {
    let digest = values
        .iter()
        .find(|(name, _)| *name == DIGEST)
        .map(|(_, v)| v);
    stored.get("undecided") != Some(&AttributeValue::Bool(true))
        && stored.get("state") == Some(&s("open"))
        && digest.is_some()
        && stored.get(DIGEST) == digest
}

/// The attribute holding a digest of everything a raise writes but when
/// and by which scan: a job compares it instead of reading each finding whole.
pub const DIGEST: &str = "digest";

/// What a job reads of each finding of its listing, to tell an unchanged
/// one (and show it in the summary) without reading it whole: its sort
/// key, [`DIGEST`], and what a raise keeps or does not write. Names are
/// `#`-escaped for the expression (`state` is a reserved word).
pub const SETTLE_PROJECTION: &[&str] = &[
    "sk",
    DIGEST,
    "state",
    "undecided",
    "scan_id",
    "last_seen",
    "first_seen",
    "suppression",
];

/// A finding as stored, from what a raise would write (`values`) and the
/// [`SETTLE_PROJECTION`] of the stored item: what an unchanged finding is,
/// without reading it whole.
pub fn unchanged_record(
    values: &[(&'static str, AttributeValue)],
    projected: &Item,
) -> Result<Record, StoreError> {
    let mut item: Item = values
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    item.extend(
        projected
            .iter()
            .filter(|(name, _)| name.as_str() != "sk")
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    Record::from_item("Query", &item)
}

/// The to-do list's partition on `gsi1`.
pub const LIST_PARTITION: &str = "FINDINGS";

/// The to-do list's order: severity, then the largest saving, then id.
pub fn list_sort_key(severity: Severity, savings_usd: f64, finding_id: &str) -> String {
    // Cents, inverted so the largest saving sorts first; capped at $10^10 a month.
    let cents = (savings_usd.max(0.0) * 100.0).round().min(1e12 - 1.0) as u64;
    format!(
        "{}#{:012}#{finding_id}",
        severity.rank(),
        999_999_999_999 - cents
    )
}

/// `gsi2`'s partition for one finding, looked up by id.
pub fn id_partition(finding_id: &str) -> String {
    format!("FINDING#{finding_id}")
}

/// Rounds dollars to cents, as findings store and sum them.
pub fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// The attributes a scan sets on a raised finding: everything but
/// `first_seen` (kept from the first raise) and the suppression (an admin's).
pub fn raised_values(
    raised: &Raised<'_>,
    scan_id: &str,
    now: &str,
) -> Vec<(&'static str, AttributeValue)> {
    let r = raised.resource;
    let id = raised.finding_id();
    let savings = cents(raised.failure.monthly_savings_usd);
    let mut values = vec![
        ("finding_id", s(&id)),
        ("check_id", s(raised.check.id)),
        ("title", s(raised.check.title)),
        ("severity", s(raised.check.severity.as_str())),
        ("category", s(raised.check.category.as_str())),
        ("service", s(r.service.as_str())),
        ("resource_arn", s(&r.arn)),
        ("resource_type", s(&r.resource_type)),
        ("resource_id", s(&r.id)),
        ("region", s(&r.region)),
        ("account_id", s(&r.account_id)),
        ("recommendation", s(raised.recommendation())),
        (
            "monthly_savings_usd",
            AttributeValue::N(savings.to_string()),
        ),
        ("state", s("open")),
        ("last_seen", s(now)),
        ("scan_id", s(scan_id)),
        ("gsi1pk", s(LIST_PARTITION)),
        (
            "gsi1sk",
            s(list_sort_key(raised.check.severity, savings, &id)),
        ),
        ("gsi2pk", s(id_partition(&id))),
        ("gsi2sk", s("FINDING")),
    ];
    values.push((DIGEST, s(digest(&values))));
    values
}

/// 32 hex digits over every name and value but `last_seen` and `scan_id`.
fn digest(values: &[(&'static str, AttributeValue)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, value) in values {
        if matches!(*name, "last_seen" | "scan_id") {
            continue;
        }
        let text = value
            .as_s()
            .or_else(|_| value.as_n())
            .map_or("", String::as_str);
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_to_do_list_sorts_by_severity_then_largest_saving() {
        let mut keys = [
            list_sort_key(Severity::Low, 500.0, "a"),
            list_sort_key(Severity::Critical, 0.0, "b"),
            list_sort_key(Severity::High, 3.5, "c"),
            list_sort_key(Severity::High, 120.0, "d"),
        ];
        keys.sort();
        let order: Vec<&str> = keys.iter().map(|k| &k[k.len() - 1..]).collect();
        assert_eq!(order, ["b", "d", "c", "a"]);
    }

    #[test]
    fn an_expired_suppression_no_longer_hides_a_finding() {
        let s = Suppression {
            by: "u".into(),
            reason: "known".into(),
            at: "2026-01-01T00:00:00Z".into(),
            until: Some("2026-06-01T00:00:00Z".into()),
        };
        assert!(s.holds("2026-05-31T23:59:59Z"));
        assert!(!s.holds("2026-06-01T00:00:00Z"));
        assert!(Suppression { until: None, ..s }.holds("2999-01-01T00:00:00Z"));
    }

    fn record(state: &str, last_seen: &str, undecided: bool) -> Record {
        serde_json::from_value(serde_json::json!({
            "finding_id": "f", "check_id": "ec2.volume_unattached", "title": "t",
            "severity": "low", "category": "cost", "service": "ec2",
            "resource_arn": "arn:aws:ec2:eu-west-1:123456789012:volume/vol-1",
            "resource_type": "ec2:volume", "resource_id": "vol-1", "region": "eu-west-1",
            "account_id": "123456789012", "recommendation": "r", "monthly_savings_usd": 8.0,
            "state": state, "first_seen": "2026-11-01T00:00:00Z", "last_seen": last_seen,
            "scan_id": "s", "undecided": undecided,
        }))
        .expect("a record")
    }

    #[test]
    fn an_open_finding_its_listing_decided_was_seen_when_the_listing_was_settled() {
        let settled = Some("2026-11-09T00:00:00Z");
        let seen = |r: Record| r.seen(settled).last_seen;
        assert_eq!(
            seen(record("open", "2026-11-01T00:00:00Z", false)),
            "2026-11-09T00:00:00Z"
        );
        // Undecided, resolved, or written after the mark: its own time.
        assert_eq!(
            seen(record("open", "2026-11-01T00:00:00Z", true)),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            seen(record("resolved", "2026-11-01T00:00:00Z", false)),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            seen(record("open", "2026-11-10T00:00:00Z", false)),
            "2026-11-10T00:00:00Z"
        );
    }

    #[test]
    fn a_finding_is_unchanged_only_when_everything_but_when_and_which_scan_is_the_same() {
        let values = |title: &str, last_seen: &str, scan: &str| {
            let mut values = vec![
                ("title", s(title)),
                ("state", s("open")),
                ("last_seen", s(last_seen)),
                ("scan_id", s(scan)),
            ];
            values.push((DIGEST, s(digest(&values))));
            values
        };
        let stored: Item = values("t", "then", "old")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert!(unchanged(&stored, &values("t", "now", "new")));
        assert!(!unchanged(&stored, &values("u", "now", "new")));
        let mut undecided = stored.clone();
        undecided.insert("undecided".into(), AttributeValue::Bool(true));
        assert!(!unchanged(&undecided, &values("t", "now", "new")));
        let mut resolved = stored.clone();
        resolved.insert("state".into(), s("resolved"));
        assert!(!unchanged(&resolved, &values("t", "now", "new")));
        let mut before_digests = stored.clone();
        before_digests.remove(DIGEST);
        assert!(!unchanged(&before_digests, &values("t", "now", "new")));
    }

    #[test]
    fn global_services_are_listed_once_per_account() {
        assert_eq!(listing_of(Service::S3, "eu-west-1"), GLOBAL);
        assert_eq!(listing_of(Service::Ec2, "eu-west-1"), "eu-west-1");
    }
}
