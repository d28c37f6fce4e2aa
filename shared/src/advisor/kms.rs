//! KMS checks: customer keys without automatic rotation, and keys
//! scheduled for deletion.

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "kms.key_rotation_off",
        title: "Customer key has automatic rotation off",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "kms:key",
        recommendation: "Turn on yearly automatic rotation (old material stays available to decrypt): `aws kms enable-key-rotation --key-id {id} --region {region}` (Console: KMS > Customer managed keys > {id} > Key rotation > Automatically rotate this KMS key every year).",
        needs_metrics: false,
        evaluate: key_rotation_off,
    },
    Check {
        id: "kms.key_pending_deletion",
        title: "Key is scheduled for deletion",
        severity: Severity::High,
        category: Category::Reliability,
        resource_type: "kms:key",
        recommendation: "If anything still uses it (check CloudTrail for its recent Decrypt calls), cancel the deletion and re-enable it: `aws kms cancel-key-deletion --key-id {id} --region {region}` then `aws kms enable-key --key-id {id} --region {region}` (Console: KMS > Customer managed keys > {id} > Key actions > Cancel key deletion).",
        needs_metrics: false,
        evaluate: key_pending_deletion,
    },
];

fn key_rotation_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    // Only enabled symmetric keys with KMS-made material can rotate
    // automatically; the collector reads rotation for those alone.
    let rotatable = props::str(r, "key_spec") == Some("SYMMETRIC_DEFAULT")
        && props::str(r, "origin") == Some("AWS_KMS")
        && r.state.as_deref() == Some("Enabled");
    if !rotatable {
        return None;
    }
    (!props::bool(r, "rotation_enabled")?).then(|| {
        Failure::because("Its key material is never rotated: everything it ever encrypted stays under the same material.")
    })
}

fn key_pending_deletion(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !matches!(
        r.state.as_deref(),
        Some("PendingDeletion" | "PendingReplicaDeletion")
    ) {
        return None;
    }
    let when = props::str(r, "deletion_date")
        .map(|date| {
            let day = chrono::DateTime::parse_from_rfc3339(date)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|_| date.to_owned());
            format!(" on {day}")
        })
        .unwrap_or_default();
    Some(Failure::because(format!(
        "It will be deleted{when}: whatever it encrypts can never be decrypted after that."
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn key(state: &str, properties: serde_json::Value) -> Resource {
        let mut r = resource(
            "kms:key",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            properties,
        );
        r.state = Some(state.into());
        r
    }

    fn the(id: &str) -> &'static Check {
        check(id).expect("a check of the catalogue")
    }

    const SYMMETRIC: &str = "SYMMETRIC_DEFAULT";

    #[test]
    fn an_enabled_symmetric_key_without_rotation_fails() {
        let r = key(
            "Enabled",
            json!({"key_spec": SYMMETRIC, "origin": "AWS_KMS", "rotation_enabled": false}),
        );
        assert!(run(the("kms.key_rotation_off"), &r, &[]).is_some());
    }

    #[test]
    fn a_rotating_key_passes_and_keys_that_cannot_rotate_are_not_judged() {
        let check = the("kms.key_rotation_off");
        let rotating = key(
            "Enabled",
            json!({"key_spec": SYMMETRIC, "origin": "AWS_KMS", "rotation_enabled": true}),
        );
        assert_eq!(run(check, &rotating, &[]), None);
        let asymmetric = key(
            "Enabled",
            json!({"key_spec": "RSA_2048", "origin": "AWS_KMS", "rotation_enabled": null}),
        );
        assert_eq!(run(check, &asymmetric, &[]), None);
        let imported = key(
            "Enabled",
            json!({"key_spec": SYMMETRIC, "origin": "EXTERNAL", "rotation_enabled": false}),
        );
        assert_eq!(run(check, &imported, &[]), None);
        let disabled = key(
            "Disabled",
            json!({"key_spec": SYMMETRIC, "origin": "AWS_KMS", "rotation_enabled": false}),
        );
        assert_eq!(run(check, &disabled, &[]), None);
    }

    #[test]
    fn a_key_pending_deletion_fails_naming_the_date() {
        let r = key(
            "PendingDeletion",
            json!({"deletion_date": "2026-12-31T10:00:00Z"}),
        );
        let failure = run(the("kms.key_pending_deletion"), &r, &[]).expect("fails");
        assert!(
            failure.detail.contains("on 2026-12-31"),
            "{}",
            failure.detail
        );
        let undated = key("PendingDeletion", json!({}));
        assert!(run(the("kms.key_pending_deletion"), &undated, &[]).is_some());
    }

    #[test]
    fn an_enabled_or_disabled_key_passes() {
        let check = the("kms.key_pending_deletion");
        assert_eq!(run(check, &key("Enabled", json!({})), &[]), None);
        assert_eq!(run(check, &key("Disabled", json!({})), &[]), None);
    }
}
