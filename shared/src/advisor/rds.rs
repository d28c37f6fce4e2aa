//! RDS checks: database instances (exposure, encryption, backups,
//! availability, deletion protection, engine support) and snapshots
//! (public sharing).

use chrono::NaiveDate;

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "rds.instance_publicly_accessible",
        title: "Database instance is publicly accessible",
        severity: Severity::High,
        category: Category::Security,
        resource_type: "rds:db-instance",
        recommendation: "Unless clients outside its VPC must reach it, make it private: `aws rds modify-db-instance --db-instance-identifier {id} --no-publicly-accessible --apply-immediately --region {region}` (Console: RDS > Databases > {name} > Modify > Connectivity > Public access: Not publicly accessible).",
        needs_metrics: false,
        evaluate: publicly_accessible,
    },
    Check {
        id: "rds.storage_unencrypted",
        title: "Database storage is not encrypted",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "rds:db-instance",
        recommendation: "Encryption cannot be turned on in place: snapshot the instance, copy the snapshot with encryption and restore from the copy: `aws rds create-db-snapshot --db-instance-identifier {id} --db-snapshot-identifier {id}-plain --region {region}`, `aws rds copy-db-snapshot --source-db-snapshot-identifier {id}-plain --target-db-snapshot-identifier {id}-encrypted --kms-key-id alias/aws/rds --region {region}`, then `aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {id}-encrypted --db-snapshot-identifier {id}-encrypted --region {region}` and move clients to the new instance (Console: RDS > Snapshots > Actions > Copy snapshot > Enable encryption).",
        needs_metrics: false,
        evaluate: storage_unencrypted,
    },
    Check {
        id: "rds.backup_retention_short",
        title: "Database backups are off or kept less than 7 days",
        severity: Severity::Medium,
        category: Category::Reliability,
        resource_type: "rds:db-instance",
        recommendation: "Keep automated backups at least 7 days: `aws rds modify-db-instance --db-instance-identifier {id} --backup-retention-period 7 --apply-immediately --region {region}` (Console: RDS > Databases > {name} > Modify > Backup > Backup retention period).",
        needs_metrics: false,
        evaluate: backup_retention_short,
    },
    Check {
        id: "rds.production_single_az",
        title: "Production database runs in a single Availability Zone",
        severity: Severity::Medium,
        category: Category::Reliability,
        resource_type: "rds:db-instance",
        recommendation: "Run it Multi-AZ so that losing a zone fails over to a standby (this about doubles the instance's cost): `aws rds modify-db-instance --db-instance-identifier {id} --multi-az --apply-immediately --region {region}` (Console: RDS > Databases > {name} > Modify > Availability and durability > Multi-AZ DB instance).",
        needs_metrics: false,
        evaluate: production_single_az,
    },
    Check {
        id: "rds.deletion_protection_off",
        title: "Database deletion protection is off",
        severity: Severity::Low,
        category: Category::Reliability,
        resource_type: "rds:db-instance",
        recommendation: "Turn on deletion protection so that no one deletes it by mistake: `aws rds modify-db-instance --db-instance-identifier {id} --deletion-protection --apply-immediately --region {region}` (Console: RDS > Databases > {name} > Modify > Deletion protection).",
        needs_metrics: false,
        evaluate: deletion_protection_off,
    },
    Check {
        id: "rds.snapshot_public",
        title: "Database snapshot is public",
        severity: Severity::Critical,
        category: Category::Security,
        resource_type: "rds:db-snapshot",
        recommendation: "Anyone with an AWS account can restore this snapshot and read the database: stop sharing it publicly with `aws rds modify-db-snapshot-attribute --db-snapshot-identifier {id} --attribute-name restore --values-to-remove all --region {region}` (Console: RDS > Snapshots > {name} > Actions > Share snapshot > DB snapshot visibility: Private).",
        needs_metrics: false,
        evaluate: snapshot_public,
    },
    Check {
        id: "rds.engine_end_of_standard_support",
        title: "Database engine version is past RDS end of standard support",
        severity: Severity::Medium,
        category: Category::Reliability,
        resource_type: "rds:db-instance",
        recommendation: "Upgrade to a major version still in standard support, after testing it on a restored snapshot. Its upgrade targets are listed under ValidUpgradeTarget by `aws rds describe-db-engine-versions --engine <engine> --engine-version <version> --region {region}`; then `aws rds modify-db-instance --db-instance-identifier {id} --engine-version <target-version> --allow-major-version-upgrade --region {region}` (Console: RDS > Databases > {name} > Modify > DB engine version).",
        needs_metrics: false,
        evaluate: engine_end_of_standard_support,
    },
];

/// Tag keys that may name a resource's environment (compared without regard to case).
pub const PRODUCTION_TAG_KEYS: &[&str] = &["environment", "env", "stage"];
/// Values of those tags that mean production (compared without regard to case).
pub const PRODUCTION_TAG_VALUES: &[&str] = &["prod", "production"];

/// Whether a resource is tagged as production: one of
/// [`PRODUCTION_TAG_KEYS`] set to one of [`PRODUCTION_TAG_VALUES`].
pub fn is_production(r: &Resource) -> bool {
    r.tags.iter().any(|(key, value)| {
        PRODUCTION_TAG_KEYS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key.trim()))
            && PRODUCTION_TAG_VALUES
                .iter()
                .any(|v| v.eq_ignore_ascii_case(value.trim()))
    })
}

/// Whether an instance belongs to an Aurora cluster (or is a read replica):
/// then its backups, deletion protection and availability are set on the
/// cluster or the source, and the instance's own values say nothing.
fn managed_elsewhere(r: &Resource) -> bool {
    props::str(r, "db_cluster").is_some() || props::str(r, "replica_of").is_some()
}

fn publicly_accessible(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    props::bool(r, "publicly_accessible")?.then(|| {
        Failure::because(
            "It has a public DNS address that resolves to a public IP: only its security groups stand between it and the internet.",
        )
    })
}

fn storage_unencrypted(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "storage_encrypted")?).then(|| {
        Failure::because(
            "Its storage, automated backups, replicas and snapshots are not encrypted at rest.",
        )
    })
}

/// Seven days of automated backups: the point-in-time window below which a
/// problem found after a long weekend can no longer be undone.
const MIN_BACKUP_RETENTION_DAYS: i64 = 7;

fn backup_retention_short(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if managed_elsewhere(r) {
        return None;
    }
    let days = props::get(r, "backup_retention_days")?.as_i64()?;
    match days {
        0 => Some(Failure::because(
            "Automated backups are off: it cannot be restored to a point in time.",
        )),
        d if d < MIN_BACKUP_RETENTION_DAYS => Some(Failure::because(format!(
            "Automated backups are kept only {d} day{}.",
            if d == 1 { "" } else { "s" }
        ))),
        _ => None,
    }
}

/// Engines whose instances cannot be Multi-AZ (SQL Server Express and Web).
const NO_MULTI_AZ_ENGINES: &[&str] = &["sqlserver-ex", "sqlserver-web"];

fn production_single_az(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if managed_elsewhere(r) || !is_production(r) {
        return None;
    }
    let engine = props::str(r, "engine")?;
    if NO_MULTI_AZ_ENGINES.contains(&engine) {
        return None;
    }
    (!props::bool(r, "multi_az")?).then(|| {
        Failure::because(
            "It is tagged as production but has no standby in another Availability Zone: a zone outage takes it down.",
        )
    })
}

fn deletion_protection_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if managed_elsewhere(r) {
        return None;
    }
    (!props::bool(r, "deletion_protection")?)
        .then(|| Failure::because("Anyone allowed to delete it can do so in one call."))
}

fn snapshot_public(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    props::bool(r, "public")?
        .then(|| Failure::because("Its restore permission is shared with all AWS accounts."))
}

/// When RDS standard support of an engine's major version ends: the day
/// after, RDS bills RDS Extended Support for it (or upgrades it, if
/// Extended Support was declined).
pub struct StandardSupport {
    pub engine: &'static str,
    /// `(major, minor)` of the major version: PostgreSQL 13 is `(13, 0)`,
    /// PostgreSQL 9.6 `(9, 6)`, MySQL 8.0 `(8, 0)`.
    pub major: (u32, u32),
    /// The last day of standard support, `YYYY-MM-DD`.
    pub ends: &'static str,
}

/// RDS end of standard support for RDS for PostgreSQL and RDS for MySQL, by
/// major version. Sources: "Release calendar for Amazon RDS for PostgreSQL"
/// (Amazon RDS for PostgreSQL Release Notes) and "Supported MySQL major
/// versions on Amazon RDS" (Amazon RDS User Guide), read December 2026.
/// A major version older than every one listed for its engine (PostgreSQL
/// 9.x and 10, MySQL 5.6 and older) ended before RDS Extended Support
/// existed; one newer than every one listed is not decided. Aurora and the
/// commercial engines have calendars of their own and are not listed.
pub const END_OF_STANDARD_SUPPORT: &[StandardSupport] = &[
    StandardSupport {
        engine: "postgres",
        major: (11, 0),
        ends: "2024-02-29",
    },
    StandardSupport {
        engine: "postgres",
        major: (12, 0),
        ends: "2025-02-28",
    },
    StandardSupport {
        engine: "postgres",
        major: (13, 0),
        ends: "2026-02-28",
    },
    StandardSupport {
        engine: "postgres",
        major: (14, 0),
        ends: "2027-02-28",
    },
    StandardSupport {
        engine: "postgres",
        major: (15, 0),
        ends: "2028-02-29",
    },
    StandardSupport {
        engine: "postgres",
        major: (16, 0),
        ends: "2029-02-28",
    },
    StandardSupport {
        engine: "postgres",
        major: (17, 0),
        ends: "2030-02-28",
    },
    StandardSupport {
        engine: "mysql",
        major: (5, 7),
        ends: "2024-02-29",
    },
    StandardSupport {
        engine: "mysql",
        major: (8, 0),
        ends: "2026-07-31",
    },
    StandardSupport {
        engine: "mysql",
        major: (8, 4),
        ends: "2029-07-31",
    },
];

/// The major version of an engine version as [`StandardSupport::major`]
/// spells it: PostgreSQL from 10 on is its first number, before 10 its first
/// two; MySQL is always its first two (`8.0.35` is 8.0).
fn major_version(engine: &str, version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let first: u32 = parts.next()?.parse().ok()?;
    let second: Option<u32> = parts.next().and_then(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    match engine {
        "postgres" if first >= 10 => Some((first, 0)),
        "postgres" | "mysql" => Some((first, second?)),
        _ => None,
    }
}

/// How a major version's standard support ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportEnded {
    /// After this last day (`YYYY-MM-DD`) of [`END_OF_STANDARD_SUPPORT`].
    After(&'static str),
    /// Before the oldest version the table lists.
    BeforeTheTable,
}

/// Whether `engine` `version` is past RDS end of standard support at `now`
/// (seconds since the epoch); `None` while supported or when not known.
pub fn standard_support_ended(engine: &str, version: &str, now: i64) -> Option<SupportEnded> {
    let major = major_version(engine, version)?;
    let listed = || {
        END_OF_STANDARD_SUPPORT
            .iter()
            .filter(|s| s.engine == engine)
    };
    if let Some(entry) = listed().find(|s| s.major == major) {
        let last_day = NaiveDate::parse_from_str(entry.ends, "%Y-%m-%d").ok()?;
        let first_day_after = last_day
            .succ_opt()?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp();
        return (now >= first_day_after).then_some(SupportEnded::After(entry.ends));
    }
    let oldest = listed().map(|s| s.major).min()?;
    (major < oldest).then_some(SupportEnded::BeforeTheTable)
}

fn engine_end_of_standard_support(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let engine = props::str(r, "engine")?;
    let version = props::str(r, "engine_version")?;
    let when = match standard_support_ended(engine, version, crate::dynamo::now())? {
        SupportEnded::After(day) => format!("left RDS standard support after {day}"),
        SupportEnded::BeforeTheTable => {
            "is older than every major version RDS still supports".to_owned()
        }
    };
    Some(Failure::because(format!(
        "{engine} {version} {when}: RDS bills it for Extended Support, or upgrades it on its own schedule, until it is upgraded."
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn db(properties: serde_json::Value) -> Resource {
        resource("rds:db-instance", "orders", properties)
    }

    fn tagged(mut r: Resource, key: &str, value: &str) -> Resource {
        r.tags.insert(key.into(), value.into());
        r
    }

    fn the(id: &str) -> &'static Check {
        check(id).expect("a check of the catalogue")
    }

    #[test]
    fn a_publicly_accessible_instance_fails() {
        let failure = run(
            the("rds.instance_publicly_accessible"),
            &db(json!({"publicly_accessible": true})),
            &[],
        );
        assert!(failure.is_some_and(|f| f.monthly_savings_usd == 0.0));
    }

    #[test]
    fn a_private_instance_passes_and_an_unknown_one_is_not_decided() {
        let check = the("rds.instance_publicly_accessible");
        assert_eq!(
            run(check, &db(json!({"publicly_accessible": false})), &[]),
            None
        );
        assert_eq!(run(check, &db(json!({})), &[]), None);
    }

    #[test]
    fn an_unencrypted_instance_fails() {
        assert!(
            run(
                the("rds.storage_unencrypted"),
                &db(json!({"storage_encrypted": false})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn an_encrypted_instance_passes() {
        assert_eq!(
            run(
                the("rds.storage_unencrypted"),
                &db(json!({"storage_encrypted": true})),
                &[]
            ),
            None
        );
    }

    #[test]
    fn backups_off_or_kept_under_a_week_fail() {
        let check = the("rds.backup_retention_short");
        let off = run(check, &db(json!({"backup_retention_days": 0})), &[]).expect("fails");
        assert!(off.detail.contains("off"), "{}", off.detail);
        let short = run(check, &db(json!({"backup_retention_days": 3})), &[]).expect("fails");
        assert!(short.detail.contains("3 days"), "{}", short.detail);
    }

    #[test]
    fn a_week_of_backups_passes_and_cluster_members_and_replicas_are_not_judged() {
        let check = the("rds.backup_retention_short");
        assert_eq!(
            run(check, &db(json!({"backup_retention_days": 7})), &[]),
            None
        );
        let aurora = db(json!({"backup_retention_days": 1, "db_cluster": "orders-cluster"}));
        assert_eq!(run(check, &aurora, &[]), None);
        let replica = db(json!({"backup_retention_days": 0, "replica_of": "orders"}));
        assert_eq!(run(check, &replica, &[]), None);
    }

    #[test]
    fn a_single_az_instance_tagged_production_fails_whatever_the_case() {
        let check = the("rds.production_single_az");
        let single = json!({"engine": "postgres", "multi_az": false});
        for (key, value) in [
            ("environment", "production"),
            ("Env", "PROD"),
            ("STAGE", "Prod"),
        ] {
            let r = tagged(db(single.clone()), key, value);
            assert!(run(check, &r, &[]).is_some(), "{key}={value}");
        }
    }

    #[test]
    fn a_multi_az_or_non_production_instance_passes() {
        let check = the("rds.production_single_az");
        let multi = tagged(
            db(json!({"engine": "postgres", "multi_az": true})),
            "env",
            "prod",
        );
        assert_eq!(run(check, &multi, &[]), None);
        let staging = tagged(
            db(json!({"engine": "postgres", "multi_az": false})),
            "env",
            "staging",
        );
        assert_eq!(run(check, &staging, &[]), None);
        let untagged = db(json!({"engine": "postgres", "multi_az": false}));
        assert_eq!(run(check, &untagged, &[]), None);
        let express = tagged(
            db(json!({"engine": "sqlserver-ex", "multi_az": false})),
            "env",
            "prod",
        );
        assert_eq!(run(check, &express, &[]), None);
    }

    #[test]
    fn an_instance_without_deletion_protection_fails() {
        assert!(
            run(
                the("rds.deletion_protection_off"),
                &db(json!({"deletion_protection": false})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn a_protected_instance_passes_and_an_aurora_member_is_not_judged() {
        let check = the("rds.deletion_protection_off");
        assert_eq!(
            run(check, &db(json!({"deletion_protection": true})), &[]),
            None
        );
        let aurora = db(json!({"deletion_protection": false, "db_cluster": "orders-cluster"}));
        assert_eq!(run(check, &aurora, &[]), None);
    }

    #[test]
    fn a_snapshot_restorable_by_all_fails() {
        let snapshot = resource(
            "rds:db-snapshot",
            "orders-final",
            json!({"snapshot_type": "manual", "public": true}),
        );
        assert!(run(the("rds.snapshot_public"), &snapshot, &[]).is_some());
    }

    #[test]
    fn a_private_or_automated_snapshot_passes() {
        let check = the("rds.snapshot_public");
        let private = resource(
            "rds:db-snapshot",
            "orders-final",
            json!({"snapshot_type": "manual", "public": false}),
        );
        assert_eq!(run(check, &private, &[]), None);
        let automated = resource(
            "rds:db-snapshot",
            "rds:orders-2026-12-01",
            json!({"snapshot_type": "automated", "public": null}),
        );
        assert_eq!(run(check, &automated, &[]), None);
    }

    #[test]
    fn an_engine_past_standard_support_fails_with_its_date() {
        let check = the("rds.engine_end_of_standard_support");
        let old = db(json!({"engine": "postgres", "engine_version": "11.22"}));
        let failure = run(check, &old, &[]).expect("fails");
        assert!(failure.detail.contains("2024-02-29"), "{}", failure.detail);
        let ancient = db(json!({"engine": "mysql", "engine_version": "5.6.51"}));
        assert!(run(check, &ancient, &[]).is_some());
    }

    #[test]
    fn a_supported_or_unknown_engine_version_passes() {
        let check = the("rds.engine_end_of_standard_support");
        let current = db(json!({"engine": "postgres", "engine_version": "17.2"}));
        assert_eq!(run(check, &current, &[]), None);
        for (engine, version) in [
            ("postgres", "99.1"),
            ("aurora-postgresql", "11.9"),
            ("oracle-ee", "19.0.0.0.ru-2024-01.rur-2024-01.r1"),
            ("mysql", "eight"),
        ] {
            let unknown = db(json!({"engine": engine, "engine_version": version}));
            assert_eq!(run(check, &unknown, &[]), None, "{engine} {version}");
        }
    }

    #[test]
    fn standard_support_ends_at_the_end_of_its_last_day() {
        let day = |d: &str| {
            chrono::DateTime::parse_from_rfc3339(d)
                .expect("date")
                .timestamp()
        };
        let ended = |engine, version, at| standard_support_ended(engine, version, day(at));
        assert_eq!(ended("mysql", "8.0.40", "2026-07-31T23:59:59Z"), None);
        assert_eq!(
            ended("mysql", "8.0.40", "2026-08-01T00:00:00Z"),
            Some(SupportEnded::After("2026-07-31"))
        );
        assert_eq!(
            ended("postgres", "13.7", "2026-03-01T00:00:00Z"),
            Some(SupportEnded::After("2026-02-28"))
        );
        assert_eq!(
            ended("postgres", "9.6.22", "2020-01-01T00:00:00Z"),
            Some(SupportEnded::BeforeTheTable)
        );
        assert_eq!(ended("postgres", "18.1", "2026-03-01T00:00:00Z"), None);
        assert_eq!(major_version("mysql", "5.7.44-rds.20240529"), Some((5, 7)));
        assert_eq!(
            major_version("postgres", "11.22-rds.20241121"),
            Some((11, 0))
        );
    }
}
