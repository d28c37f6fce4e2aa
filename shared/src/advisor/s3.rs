//! S3 checks: a bucket's public-access block, default encryption,
//! versioning, lifecycle rules and bucket policy (public statements, TLS).

use serde_json::Value;

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "s3.public_access_block_off",
        title: "Bucket does not block public access",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "s3:bucket",
        recommendation: "Unless the bucket must serve the public, turn on all four Block Public Access settings: `aws s3api put-public-access-block --bucket {id} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true --region {region}` (Console: S3 > Buckets > {name} > Permissions > Block public access (bucket settings) > Edit).",
        needs_metrics: false,
        evaluate: public_access_block_off,
    },
    Check {
        id: "s3.default_encryption_missing",
        title: "Bucket has no default encryption",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "s3:bucket",
        recommendation: "Encrypt new objects by default: `aws s3api put-bucket-encryption --bucket {id} --server-side-encryption-configuration '{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"AES256\"}}]}' --region {region}` (Console: S3 > Buckets > {name} > Properties > Default encryption > Edit).",
        needs_metrics: false,
        evaluate: default_encryption_missing,
    },
    Check {
        id: "s3.versioning_off",
        title: "Bucket versioning is off",
        severity: Severity::Medium,
        category: Category::Reliability,
        resource_type: "s3:bucket",
        recommendation: "Keep overwritten and deleted objects recoverable: `aws s3api put-bucket-versioning --bucket {id} --versioning-configuration Status=Enabled --region {region}` (Console: S3 > Buckets > {name} > Properties > Bucket Versioning > Edit), with a lifecycle rule expiring noncurrent versions so they do not pile up.",
        needs_metrics: false,
        evaluate: versioning_off,
    },
    Check {
        id: "s3.no_lifecycle_rule",
        title: "Bucket has no lifecycle rule",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "s3:bucket",
        recommendation: "Add lifecycle rules that abort incomplete multipart uploads and expire or transition what is no longer needed, at least: `aws s3api put-bucket-lifecycle-configuration --bucket {id} --lifecycle-configuration '{\"Rules\":[{\"ID\":\"abort-incomplete-uploads\",\"Status\":\"Enabled\",\"Filter\":{},\"AbortIncompleteMultipartUpload\":{\"DaysAfterInitiation\":7}}]}' --region {region}` (Console: S3 > Buckets > {name} > Management > Create lifecycle rule).",
        needs_metrics: false,
        evaluate: no_lifecycle_rule,
    },
    Check {
        id: "s3.policy_public",
        title: "Bucket policy lets anyone read or write",
        severity: Severity::Critical,
        category: Category::Security,
        resource_type: "s3:bucket",
        recommendation: "Remove the public statement from the bucket policy, or restrict it with a Condition (a source VPC endpoint, an organization): review it with `aws s3api get-bucket-policy --bucket {id} --region {region}` and write the corrected one with `aws s3api put-bucket-policy --bucket {id} --policy file://policy.json --region {region}`, or delete it with `aws s3api delete-bucket-policy --bucket {id} --region {region}` (Console: S3 > Buckets > {name} > Permissions > Bucket policy > Edit).",
        needs_metrics: false,
        evaluate: policy_public,
    },
    Check {
        id: "s3.tls_not_enforced",
        title: "Bucket policy does not require TLS",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "s3:bucket",
        recommendation: "Add this statement to the bucket policy (keeping its other statements) so that plain-HTTP requests are refused: `{\"Sid\":\"DenyInsecureTransport\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":[\"arn:aws:s3:::{id}\",\"arn:aws:s3:::{id}/*\"],\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}`, then `aws s3api put-bucket-policy --bucket {id} --policy file://policy.json --region {region}` (Console: S3 > Buckets > {name} > Permissions > Bucket policy > Edit).",
        needs_metrics: false,
        evaluate: tls_not_enforced,
    },
];

fn public_access_block_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "public_access_block")?).then(|| {
        Failure::because(
            "Its Block Public Access settings are not all on: a public ACL or bucket policy would take effect.",
        )
    })
}

fn default_encryption_missing(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    // The collector writes `encryption` for every bucket it describes: the
    // default algorithm, or null when the bucket has none.
    let encryption = r.properties.get("encryption")?;
    encryption.is_null().then(|| {
        Failure::because("It has no default encryption: objects uploaded without encryption headers are stored unencrypted.")
    })
}

fn versioning_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let status = props::str(r, "versioning")?;
    (status != "Enabled").then(|| {
        Failure::because(format!(
            "Versioning is {}: an overwritten or deleted object is gone for good.",
            status.to_lowercase()
        ))
    })
}

fn no_lifecycle_rule(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let rules = props::get(r, "lifecycle_rules")?.as_u64()?;
    (rules == 0).then(|| {
        Failure::saving(
            "It has no lifecycle rule: incomplete multipart uploads, old objects and noncurrent versions are kept and billed forever. The saving depends on what the rules expire, which the inventory does not know, so none is estimated.",
            0.0,
        )
    })
}

/// The object and listing actions that make a bucket's data public when
/// anyone is allowed them.
const PUBLIC_DATA_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectAcl",
];

/// A policy's statements: `Statement` is one object or a list of them.
fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// A policy element that is one string or a list of strings.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether a statement's `Principal` is everyone: `"*"` or `{"AWS": "*"}`.
fn anyone(statement: &Value) -> bool {
    match statement.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(p)) => strings(p.get("AWS")).contains(&"*"),
        _ => false,
    }
}

/// Whether an IAM action pattern (`s3:Get*`, `*`) matches an action;
/// action names are case-insensitive.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], a) || (!a.is_empty() && glob(p, &a[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => glob(&p[1..], &a[1..]),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

/// The [`PUBLIC_DATA_ACTIONS`] a statement names (through `Action`, or all
/// those `NotAction` leaves out).
fn data_actions(statement: &Value) -> Vec<&'static str> {
    let matched =
        |patterns: &[&str], action: &str| patterns.iter().any(|p| action_matches(p, action));
    let actions = strings(statement.get("Action"));
    let not_actions = strings(statement.get("NotAction"));
    PUBLIC_DATA_ACTIONS
        .iter()
        .copied()
        .filter(|action| {
            if statement.get("NotAction").is_some() {
                !matched(&not_actions, action)
            } else {
                matched(&actions, action)
            }
        })
        .collect()
}

fn effect(statement: &Value) -> Option<&str> {
    statement.get("Effect").and_then(Value::as_str)
}

fn unconditional(statement: &Value) -> bool {
    statement
        .get("Condition")
        .is_none_or(|c| c.is_null() || c.as_object().is_some_and(|o| o.is_empty()))
}

/// Whether a statement denies everyone every S3 action over plain HTTP:
/// `Deny`, anyone, `s3:*` (or `*`), `{"Bool": {"aws:SecureTransport": "false"}}`.
fn denies_insecure_transport(statement: &Value) -> bool {
    let insecure = statement
        .get("Condition")
        .and_then(Value::as_object)
        .is_some_and(|conditions| {
            !conditions.is_empty()
                && conditions.iter().all(|(operator, keys)| {
                    matches!(operator.as_str(), "Bool" | "BoolIfExists")
                        && keys.as_object().is_some_and(|keys| {
                            !keys.is_empty()
                                && keys.iter().all(|(key, value)| {
                                    key.eq_ignore_ascii_case("aws:SecureTransport")
                                        && is_false(value)
                                })
                        })
                })
        });
    effect(statement) == Some("Deny")
        && anyone(statement)
        && statement.get("NotAction").is_none()
        && strings(statement.get("Action"))
            .iter()
            .any(|p| *p == "*" || p.eq_ignore_ascii_case("s3:*"))
        && insecure
}

/// `false`, `"false"` or a list holding only those.
fn is_false(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::String(s) => s.eq_ignore_ascii_case("false"),
        Value::Array(list) => !list.is_empty() && list.iter().all(is_false),
        _ => false,
    }
}

/// The actions a policy grants anyone without a condition, and the
/// statement (its `Sid` or position) that grants them. `None` when nothing
/// is public or when a Deny statement other than the TLS one may take the
/// access back (our reading cannot tell who it still reaches).
fn public_grant(policy: &Value) -> Option<(String, Vec<&'static str>)> {
    let all = statements(policy);
    let (index, statement, actions) = all.iter().enumerate().find_map(|(i, s)| {
        let granted = effect(s) == Some("Allow")
            && s.get("NotPrincipal").is_none()
            && anyone(s)
            && unconditional(s);
        let actions = if granted { data_actions(s) } else { Vec::new() };
        (!actions.is_empty()).then_some((i, *s, actions))
    })?;
    let taken_back = all.iter().any(|s| {
        effect(s) == Some("Deny")
            && !denies_insecure_transport(s)
            && data_actions(s).iter().any(|a| actions.contains(a))
    });
    if taken_back {
        return None;
    }
    let name = statement
        .get("Sid")
        .and_then(Value::as_str)
        .filter(|sid| !sid.is_empty())
        .map(|sid| format!("statement \"{sid}\""))
        .unwrap_or_else(|| format!("statement {}", index + 1));
    Some((name, actions))
}

fn policy_public(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    // With all of Block Public Access on, S3 ignores a public policy
    // (RestrictPublicBuckets) and refuses new ones (BlockPublicPolicy).
    if props::bool(r, "public_access_block")? {
        return None;
    }
    let (statement, actions) = public_grant(props::get(r, "policy")?)?;
    Some(Failure::because(format!(
        "Its bucket policy's {statement} allows anyone, without a condition, {}.",
        actions.join(", ")
    )))
}

fn tls_not_enforced(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !props::bool(r, "policy_configured")? {
        return Some(Failure::because(
            "It has no bucket policy, so nothing refuses requests over plain HTTP.",
        ));
    }
    let policy = props::get(r, "policy")?;
    (!statements(policy).into_iter().any(denies_insecure_transport)).then(|| {
        Failure::because("Its bucket policy has no statement denying requests over plain HTTP (aws:SecureTransport false).")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn bucket(properties: Value) -> Resource {
        resource("s3:bucket", "orders-exports", properties)
    }

    fn the(id: &str) -> &'static Check {
        check(id).expect("a check of the catalogue")
    }

    fn with_policy(statements: Value) -> Resource {
        bucket(json!({
            "public_access_block": false, "policy_configured": true,
            "policy": {"Version": "2012-10-17", "Statement": statements},
        }))
    }

    const TLS_ONLY: &str = r#"{"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#;

    fn tls_only() -> Value {
        serde_json::from_str(TLS_ONLY).expect("json")
    }

    #[test]
    fn a_bucket_without_a_full_public_access_block_fails() {
        assert!(
            run(
                the("s3.public_access_block_off"),
                &bucket(json!({"public_access_block": false})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn a_bucket_blocking_public_access_passes() {
        let check = the("s3.public_access_block_off");
        assert_eq!(
            run(check, &bucket(json!({"public_access_block": true})), &[]),
            None
        );
        assert_eq!(run(check, &bucket(json!({})), &[]), None);
    }

    #[test]
    fn a_bucket_without_default_encryption_fails() {
        assert!(
            run(
                the("s3.default_encryption_missing"),
                &bucket(json!({"encryption": null})),
                &[]
            )
            .is_some()
        );
    }

    #[test]
    fn an_encrypted_bucket_passes_and_one_never_described_is_not_decided() {
        let check = the("s3.default_encryption_missing");
        assert_eq!(
            run(check, &bucket(json!({"encryption": "aws:kms"})), &[]),
            None
        );
        assert_eq!(run(check, &bucket(json!({})), &[]), None);
    }

    #[test]
    fn an_unversioned_or_suspended_bucket_fails() {
        let check = the("s3.versioning_off");
        assert!(run(check, &bucket(json!({"versioning": "Disabled"})), &[]).is_some());
        let suspended =
            run(check, &bucket(json!({"versioning": "Suspended"})), &[]).expect("fails");
        assert!(
            suspended.detail.contains("suspended"),
            "{}",
            suspended.detail
        );
    }

    #[test]
    fn a_versioned_bucket_passes() {
        assert_eq!(
            run(
                the("s3.versioning_off"),
                &bucket(json!({"versioning": "Enabled"})),
                &[]
            ),
            None
        );
    }

    #[test]
    fn a_bucket_without_lifecycle_rules_fails_with_no_saving_estimated() {
        let failure = run(
            the("s3.no_lifecycle_rule"),
            &bucket(json!({"lifecycle_rules": 0})),
            &[],
        )
        .expect("fails");
        assert_eq!(failure.monthly_savings_usd, 0.0);
        assert!(
            failure.detail.contains("none is estimated"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn a_bucket_with_a_lifecycle_rule_passes() {
        assert_eq!(
            run(
                the("s3.no_lifecycle_rule"),
                &bucket(json!({"lifecycle_rules": 2})),
                &[]
            ),
            None
        );
    }

    #[test]
    fn a_policy_letting_anyone_read_or_write_fails() {
        let check = the("s3.policy_public");
        let read = with_policy(
            json!([{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}, tls_only()]),
        );
        let failure = run(check, &read, &[]).expect("fails");
        assert!(
            failure.detail.contains("\"PublicRead\"") && failure.detail.contains("s3:GetObject"),
            "{}",
            failure.detail
        );
        let write = with_policy(
            json!({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:put*"], "Resource": "arn:aws:s3:::b/*"}),
        );
        let failure = run(check, &write, &[]).expect("fails");
        assert!(
            failure.detail.contains("statement 1") && failure.detail.contains("s3:PutObject"),
            "{}",
            failure.detail
        );
        let everything = with_policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}]),
        );
        assert!(run(check, &everything, &[]).is_some());
    }

    #[test]
    fn a_policy_restricted_by_a_condition_or_to_named_principals_passes() {
        let check = the("s3.policy_public");
        let conditioned = with_policy(
            json!([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]),
        );
        assert_eq!(run(check, &conditioned, &[]), None);
        let named = with_policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:*", "Resource": "*"}]),
        );
        assert_eq!(run(check, &named, &[]), None);
        let config_only = with_policy(
            json!([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::b"}]),
        );
        assert_eq!(run(check, &config_only, &[]), None);
        let denied_back = with_policy(json!([
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}},
        ]));
        assert_eq!(run(check, &denied_back, &[]), None);
        let mut blocked = with_policy(
            json!([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]),
        );
        blocked.properties["public_access_block"] = json!(true);
        assert_eq!(run(check, &blocked, &[]), None);
    }

    #[test]
    fn a_bucket_with_no_policy_or_no_tls_statement_fails() {
        let check = the("s3.tls_not_enforced");
        let none = bucket(json!({"policy_configured": false, "policy": null}));
        assert!(run(check, &none, &[]).is_some());
        let other = with_policy(
            json!([{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::b"}]),
        );
        assert!(run(check, &other, &[]).is_some());
        let only_reads = with_policy(
            json!([{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
        );
        assert!(run(check, &only_reads, &[]).is_some());
    }

    #[test]
    fn a_policy_denying_plain_http_passes_and_an_unreadable_one_is_not_decided() {
        let check = the("s3.tls_not_enforced");
        assert_eq!(run(check, &with_policy(json!([tls_only()])), &[]), None);
        let single = with_policy(
            json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["*"], "Resource": "*", "Condition": {"Bool": {"aws:securetransport": false}}}),
        );
        assert_eq!(run(check, &single, &[]), None);
        let unreadable = bucket(json!({"policy_configured": true, "policy": null}));
        assert_eq!(run(check, &unreadable, &[]), None);
    }

    #[test]
    fn action_patterns_match_like_iam() {
        assert!(action_matches("s3:*", "s3:GetObject"));
        assert!(action_matches("S3:getobject", "s3:GetObject"));
        assert!(action_matches("s3:Get*", "s3:GetObjectVersion"));
        assert!(action_matches("s3:?etObject", "s3:GetObject"));
        assert!(!action_matches("s3:Get", "s3:GetObject"));
        assert!(!action_matches("s3:List*", "s3:GetObject"));
    }
}
