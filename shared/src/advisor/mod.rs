//! The advisor: a catalogue of checks, each a small pure function of one
//! inventoried resource (and, where it needs them, the other resources of the
//! same listing), that turns the inventory into findings a person acts on.
//!
//! One file per service; adding a check is one [`Check`] in its service's
//! `CHECKS` and its two tests (one resource that fails it, one that passes).
//! A check that our data cannot decide answers `None`: no finding is better
//! than a false one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::inventory::Service;
use crate::resources::Resource;

pub mod dynamodb;
pub mod ec2;
pub mod elbv2;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod rds;
pub mod s3;
pub mod secretsmanager;
pub mod utilization;

/// How urgent a finding is, most urgent first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Critical, Self::High, Self::Medium, Self::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The position in a to-do list: 0 for critical.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

/// What a finding is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Security,
    Cost,
    Reliability,
}

impl Category {
    pub const ALL: [Category; 3] = [Self::Security, Self::Cost, Self::Reliability];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Cost => "cost",
            Self::Reliability => "reliability",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The resources of one listing (a job: one account and region, or an
/// account's global services), for checks that look beyond their resource:
/// a volume's instance, the route tables that use a NAT gateway.
pub struct Estate<'a> {
    resources: &'a [Resource],
    by_id: HashMap<&'a str, &'a Resource>,
}

impl<'a> Estate<'a> {
    pub fn new(resources: &'a [Resource]) -> Self {
        let by_id = resources.iter().map(|r| (r.id.as_str(), r)).collect();
        Self { resources, by_id }
    }

    pub fn resources(&self) -> &'a [Resource] {
        self.resources
    }

    /// The resource with this id (an instance id, a VPC id, a bucket name).
    pub fn by_id(&self, id: &str) -> Option<&'a Resource> {
        self.by_id.get(id).copied()
    }

    /// Every resource of a type, such as `ec2:route-table`.
    pub fn of_type<'s>(
        &'s self,
        resource_type: &'s str,
    ) -> impl Iterator<Item = &'a Resource> + 's {
        self.resources
            .iter()
            .filter(move |r| r.resource_type == resource_type)
    }
}

/// Why one resource fails a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What exactly is wrong with this resource, in one sentence (it goes
    /// before the check's recommendation).
    pub detail: String,
    /// For cost checks, the monthly dollars fixing it saves; 0 otherwise.
    pub monthly_savings_usd: f64,
}

impl Failure {
    /// A failure that saves nothing when fixed (security, reliability).
    pub fn because(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            monthly_savings_usd: 0.0,
        }
    }

    /// A cost failure whose fix saves `usd` a month.
    pub fn saving(detail: impl Into<String>, usd: f64) -> Self {
        Self {
            detail: detail.into(),
            monthly_savings_usd: usd.max(0.0),
        }
    }
}

/// One check of the catalogue.
pub struct Check {
    /// Stable, `service.snake_case_name`: findings are keyed by it.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// The resource type it applies to (`ec2:volume`); others are not evaluated.
    pub resource_type: &'static str,
    /// What to do, in plain English with the exact console path or CLI
    /// command; `{id}`, `{name}` and `{region}` are replaced by the resource's.
    pub recommendation: &'static str,
    /// Whether it reads CloudWatch metrics (`properties.utilization`): such
    /// a finding is resolved only by a listing whose metrics were read.
    pub needs_metrics: bool,
    /// `Some` when the resource fails; `None` when it passes or our data
    /// cannot decide.
    pub evaluate: fn(&Resource, &Estate<'_>) -> Option<Failure>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl Check {
    /// The service this check's resources come from.
    pub fn service(&self) -> Option<Service> {
        Service::parse_scanned(self.resource_type.split(':').next().unwrap_or_default())
    }

    /// The recommendation for one resource.
    pub fn recommendation_for(&self, resource: &Resource) -> String {
        self.recommendation
            .replace("{id}", &resource.id)
            .replace("{name}", resource.name.as_deref().unwrap_or(&resource.id))
            .replace("{region}", &resource.region)
    }
}

/// Every check, service by service.
pub fn catalogue() -> impl Iterator<Item = &'static Check> {
    [
        ec2::CHECKS,
        rds::CHECKS,
        s3::CHECKS,
        lambda::CHECKS,
        elbv2::CHECKS,
        iam::CHECKS,
        kms::CHECKS,
        secretsmanager::CHECKS,
        logs::CHECKS,
        dynamodb::CHECKS,
        utilization::CHECKS,
    ]
    .into_iter()
    .flatten()
}

/// The check with this id.
pub fn check(id: &str) -> Option<&'static Check> {
    catalogue().find(|c| c.id == id)
}

/// A check a resource fails: what becomes (or keeps) a finding.
#[derive(Debug, Clone)]
pub struct Raised<'a> {
    pub check: &'static Check,
    pub resource: &'a Resource,
    pub failure: Failure,
}

impl Raised<'_> {
    /// The finding's stable id: the same check on the same resource is the
    /// same finding across scans.
    pub fn finding_id(&self) -> String {
        finding_id(self.check.id, &self.resource.arn)
    }

    /// The detail, then what to do about it.
    pub fn recommendation(&self) -> String {
        format!(
            "{} {}",
            self.failure.detail,
            self.check.recommendation_for(self.resource)
        )
    }
}

/// `hex(sha256(check_id \n arn))[..32]`: URL-safe, fixed length, stable.
pub fn finding_id(check_id: &str, arn: &str) -> String {
    let digest = Sha256::new()
        .chain_update(check_id.as_bytes())
        .chain_update(b"\n")
        .chain_update(arn.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` is shaped like a finding id.
pub fn plausible_finding_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every check every resource of a listing fails, in catalogue order.
pub fn evaluate(resources: &[Resource]) -> Vec<Raised<'_>> {
    let estate = Estate::new(resources);
    let checks: Vec<&'static Check> = catalogue().collect();
    let mut raised = Vec::new();
    for resource in resources {
        if resource.state.as_deref() == Some("gone") {
            continue;
        }
        for &check in checks
            .iter()
            .filter(|c| c.resource_type == resource.resource_type)
        {
            if let Some(failure) = (check.evaluate)(resource, &estate) {
                raised.push(Raised {
                    check,
                    resource,
                    failure,
                });
            }
        }
    }
    raised
}

/// Reading properties without ceremony: checks read what collectors wrote.
pub mod props {
    use serde_json::Value;

    use crate::resources::Resource;

    pub fn get<'a>(r: &'a Resource, key: &str) -> Option<&'a Value> {
        r.properties.get(key).filter(|v| !v.is_null())
    }

    pub fn bool(r: &Resource, key: &str) -> Option<bool> {
        get(r, key)?.as_bool()
    }

    pub fn f64(r: &Resource, key: &str) -> Option<f64> {
        get(r, key)?.as_f64()
    }

    pub fn str<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
        get(r, key)?.as_str()
    }

    pub fn array<'a>(r: &'a Resource, key: &str) -> &'a [Value] {
        get(r, key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Days from an RFC 3339 timestamp to `now` (seconds since the epoch).
pub fn days_since(timestamp: &str, now: i64) -> Option<i64> {
    let then = chrono::DateTime::parse_from_rfc3339(timestamp).ok()?;
    Some((now - then.timestamp()) / 86_400)
}

/// Test fixtures: a resource of a type with properties, as a collector writes it.
#[cfg(test)]
pub(crate) mod fixture {
    use std::collections::BTreeMap;

    use crate::inventory::Service;
    use crate::resources::Resource;

    pub fn resource(resource_type: &str, id: &str, properties: serde_json::Value) -> Resource {
        let (service, kind) = resource_type.split_once(':').unwrap_or((resource_type, ""));
        let service = Service::parse_scanned(service).unwrap_or(Service::Ec2);
        Resource {
            arn: format!("arn:aws:{service}:eu-west-1:111111111111:{kind}/{id}"),
            id: id.to_owned(),
            resource_type: resource_type.to_owned(),
            service,
            region: "eu-west-1".into(),
            account_id: "111111111111".into(),
            name: None,
            state: None,
            tags: BTreeMap::new(),
            created_at: None,
            monthly_cost_usd: 0.0,
            properties,
            last_seen: "2026-12-01T00:00:00Z".into(),
        }
    }

    /// Runs one check against a resource within an estate of `others`.
    pub fn run(
        check: &super::Check,
        resource: &Resource,
        others: &[Resource],
    ) -> Option<super::Failure> {
        let mut all = others.to_vec();
        all.push(resource.clone());
        let estate = super::Estate::new(&all);
        (check.evaluate)(resource, &estate)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn check_ids_are_unique_stable_and_named_after_their_service() {
        let mut seen = HashSet::new();
        for check in catalogue() {
            assert!(seen.insert(check.id), "{} twice", check.id);
            let service = check.service().map(Service::as_str);
            assert!(service.is_some(), "{}: unknown resource type", check.id);
            assert!(
                check.id.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || b == b'.'),
                "{}",
                check.id
            );
            assert!(
                !check.title.is_empty() && !check.recommendation.is_empty(),
                "{}",
                check.id
            );
        }
    }

    #[test]
    fn a_finding_id_is_the_same_for_the_same_check_and_resource_only() {
        let a = finding_id(
            "ec2.volume_unattached",
            "arn:aws:ec2:eu-west-1:1:volume/vol-1",
        );
        assert_eq!(
            a,
            finding_id(
                "ec2.volume_unattached",
                "arn:aws:ec2:eu-west-1:1:volume/vol-1"
            )
        );
        assert_ne!(
            a,
            finding_id(
                "ec2.volume_unencrypted",
                "arn:aws:ec2:eu-west-1:1:volume/vol-1"
            )
        );
        assert!(plausible_finding_id(&a), "{a}");
        assert!(!plausible_finding_id("../etc"));
    }
}
