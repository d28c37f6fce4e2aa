//! Secrets Manager checks: secrets that never rotate, and secrets no one reads.

use super::{Category, Check, Estate, Failure, Severity, days_since, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "secretsmanager.rotation_off",
        title: "Secret is never rotated",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "secretsmanager:secret",
        recommendation: "Rotate it automatically with a rotation function (AWS provides templates for RDS, Redshift and DocumentDB credentials): `aws secretsmanager rotate-secret --secret-id {id} --rotation-lambda-arn <rotation-function-arn> --rotation-rules AutomaticallyAfterDays=30 --region {region}` (Console: Secrets Manager > Secrets > {name} > Rotation > Edit rotation).",
        needs_metrics: false,
        evaluate: rotation_off,
    },
    Check {
        id: "secretsmanager.unused",
        title: "Secret not read in 90 days",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "secretsmanager:secret",
        recommendation: "If nothing needs it any more (check CloudTrail for GetSecretValue calls), delete it; it stays recoverable for the recovery window: `aws secretsmanager delete-secret --secret-id {id} --recovery-window-in-days 30 --region {region}` (Console: Secrets Manager > Secrets > {name} > Actions > Delete secret).",
        needs_metrics: false,
        evaluate: unused,
    },
];

fn active(r: &Resource) -> bool {
    r.state.as_deref() != Some("deleted")
}

fn rotation_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !active(r) {
        return None;
    }
    (!props::bool(r, "rotation_enabled")?).then(|| {
        Failure::because("Automatic rotation is off: a leaked value stays valid until someone changes it by hand.")
    })
}

/// Days without a read after which a secret counts as unused.
pub const UNUSED_DAYS: i64 = 90;

/// Why a secret counts as unused at `now` (seconds): how long since it was
/// last read (`last_accessed`) or, never read, since it was created. `None`
/// when read within [`UNUSED_DAYS`], younger than that, or not known.
pub fn unused_for(last_accessed: Option<&str>, created: Option<&str>, now: i64) -> Option<String> {
    match last_accessed {
        Some(read) => {
            let days = days_since(read, now)?;
            (days >= UNUSED_DAYS).then(|| format!("It was last read {days} days ago."))
        }
        None => {
            let days = days_since(created?, now)?;
            (days >= UNUSED_DAYS)
                .then(|| format!("It has not been read since it was created {days} days ago."))
        }
    }
}

fn unused(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !active(r) {
        return None;
    }
    let why = unused_for(
        props::str(r, "last_accessed"),
        r.created_at.as_deref(),
        crate::dynamo::now(),
    )?;
    Some(Failure::saving(
        format!(
            "{why} Deleting it saves its ${:.2} a month.",
            r.monthly_cost_usd
        ),
        r.monthly_cost_usd,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn secret(properties: serde_json::Value) -> Resource {
        let mut r = resource("secretsmanager:secret", "orders/db", properties);
        r.state = Some("active".into());
        r.monthly_cost_usd = 0.4;
        r
    }

    fn the(id: &str) -> &'static Check {
        check(id).expect("a check of the catalogue")
    }

    fn ago(days: i64) -> String {
        crate::dynamo::rfc3339(crate::dynamo::now() - days * 86_400)
    }

    #[test]
    fn a_secret_without_rotation_fails() {
        assert!(
            run(
                the("secretsmanager.rotation_off"),
                &secret(json!({"rotation_enabled": false})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn a_rotating_or_deleted_secret_passes() {
        let check = the("secretsmanager.rotation_off");
        assert_eq!(
            run(check, &secret(json!({"rotation_enabled": true})), &[]),
            None
        );
        let mut deleted = secret(json!({"rotation_enabled": false}));
        deleted.state = Some("deleted".into());
        assert_eq!(run(check, &deleted, &[]), None);
    }

    #[test]
    fn a_secret_unread_for_90_days_fails_saving_its_cost() {
        let check = the("secretsmanager.unused");
        let mut stale = secret(json!({"last_accessed": ago(120)}));
        stale.created_at = Some(ago(400));
        let failure = run(check, &stale, &[]).expect("fails");
        assert_eq!(failure.monthly_savings_usd, 0.4);
        assert!(failure.detail.contains("120 days"), "{}", failure.detail);
        let mut never = secret(json!({"last_accessed": null}));
        never.created_at = Some(ago(200));
        assert!(run(check, &never, &[]).is_some());
    }

    #[test]
    fn a_recently_read_or_young_secret_passes() {
        let check = the("secretsmanager.unused");
        let mut read = secret(json!({"last_accessed": ago(3)}));
        read.created_at = Some(ago(400));
        assert_eq!(run(check, &read, &[]), None);
        let mut young = secret(json!({"last_accessed": null}));
        young.created_at = Some(ago(10));
        assert_eq!(run(check, &young, &[]), None);
        assert_eq!(
            run(check, &secret(json!({"last_accessed": null})), &[]),
            None
        );
    }

    #[test]
    fn unused_counts_whole_days_from_the_last_read_or_the_creation() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .expect("date")
            .timestamp();
        assert!(unused_for(Some("2026-09-02T00:00:00Z"), None, now).is_some());
        assert_eq!(unused_for(Some("2026-09-03T00:00:01Z"), None, now), None);
        assert!(
            unused_for(None, Some("2026-01-01T00:00:00Z"), now)
                .is_some_and(|w| w.contains("since it was created"))
        );
        assert_eq!(unused_for(None, Some("2026-11-01T00:00:00Z"), now), None);
        assert_eq!(unused_for(None, None, now), None);
    }
}
