//! DynamoDB checks: point-in-time recovery and deletion protection of tables.

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "dynamodb.pitr_off",
        title: "Table has no point-in-time recovery",
        severity: Severity::Medium,
        category: Category::Reliability,
        resource_type: "dynamodb:table",
        recommendation: "Turn on point-in-time recovery (billed per GB of table and index data): `aws dynamodb update-continuous-backups --table-name {id} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true --region {region}` (Console: DynamoDB > Tables > {name} > Backups > Point-in-time recovery > Edit).",
        needs_metrics: false,
        evaluate: pitr_off,
    },
    Check {
        id: "dynamodb.deletion_protection_off",
        title: "Table deletion protection is off",
        severity: Severity::Low,
        category: Category::Reliability,
        resource_type: "dynamodb:table",
        recommendation: "Turn on deletion protection so that no one deletes it by mistake: `aws dynamodb update-table --table-name {id} --deletion-protection-enabled --region {region}` (Console: DynamoDB > Tables > {name} > Additional settings > Deletion protection > Turn on).",
        needs_metrics: false,
        evaluate: deletion_protection_off,
    },
];

fn pitr_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "point_in_time_recovery")?).then(|| {
        Failure::because(
            "Point-in-time recovery is off: a bad write or delete can be undone only from an on-demand backup, if there is one.",
        )
    })
}

fn deletion_protection_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "deletion_protection")?)
        .then(|| Failure::because("Anyone allowed to delete it can do so in one call."))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn table(properties: serde_json::Value) -> Resource {
        resource("dynamodb:table", "orders", properties)
    }

    fn the(id: &str) -> &'static Check {
        check(id).expect("a check of the catalogue")
    }

    #[test]
    fn a_table_without_point_in_time_recovery_fails() {
        assert!(
            run(
                the("dynamodb.pitr_off"),
                &table(json!({"point_in_time_recovery": false})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn a_table_with_point_in_time_recovery_passes() {
        let check = the("dynamodb.pitr_off");
        assert_eq!(
            run(check, &table(json!({"point_in_time_recovery": true})), &[]),
            None
        );
        assert_eq!(run(check, &table(json!({})), &[]), None);
    }

    #[test]
    fn a_table_without_deletion_protection_fails() {
        assert!(
            run(
                the("dynamodb.deletion_protection_off"),
                &table(json!({"deletion_protection": false})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn a_protected_table_passes_and_one_listed_before_it_was_collected_is_not_decided() {
        let check = the("dynamodb.deletion_protection_off");
        assert_eq!(
            run(check, &table(json!({"deletion_protection": true})), &[]),
            None
        );
        assert_eq!(
            run(check, &table(json!({"point_in_time_recovery": true})), &[]),
            None
        );
    }
}
