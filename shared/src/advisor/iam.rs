//! IAM checks: users' console MFA and access keys (age, use, how many), and
//! the account itself (`iam:account`: the root user's credentials and the
//! password policy).
//!
//! The thresholds are the CIS AWS Foundations Benchmark's (v1.4.0 and later
//! number them 1.4 root access keys, 1.5 root MFA, 1.8/1.9 password length
//! and reuse, 1.10 console MFA, 1.12 unused credentials, 1.13 one active
//! key, 1.14 key rotation).

use serde_json::{Map, Value};

use super::{Category, Check, Estate, Failure, Severity, days_since, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "iam.console_user_without_mfa",
        title: "IAM user with a console password has no MFA",
        severity: Severity::High,
        category: Category::Security,
        resource_type: "iam:user",
        recommendation: "Assign an MFA device (Console: IAM > Users > {name} > Security credentials > Multi-factor authentication (MFA) > Assign MFA device), or, if the user does not sign in to the console, remove its password: `aws iam delete-login-profile --user-name {name}`.",
        needs_metrics: false,
        evaluate: console_user_without_mfa,
    },
    Check {
        id: "iam.access_key_not_rotated",
        title: "Active IAM access key older than 90 days",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "iam:user",
        recommendation: "Rotate it: create a new key (`aws iam create-access-key --user-name {name}`), move what uses the old key to the new one, then deactivate and delete the old one (`aws iam update-access-key --user-name {name} --access-key-id <old key id> --status Inactive`, then `aws iam delete-access-key --user-name {name} --access-key-id <old key id>`) (Console: IAM > Users > {name} > Security credentials > Access keys).",
        needs_metrics: false,
        evaluate: access_key_not_rotated,
    },
    Check {
        id: "iam.access_key_unused",
        title: "Active IAM access key unused for 90 days",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "iam:user",
        recommendation: "Deactivate it (`aws iam update-access-key --user-name {name} --access-key-id <key id> --status Inactive`) and, once nothing has broken, delete it (`aws iam delete-access-key --user-name {name} --access-key-id <key id>`) (Console: IAM > Users > {name} > Security credentials > Access keys).",
        needs_metrics: false,
        evaluate: access_key_unused,
    },
    Check {
        id: "iam.user_two_active_keys",
        title: "IAM user has two active access keys",
        severity: Severity::Low,
        category: Category::Security,
        resource_type: "iam:user",
        recommendation: "Keep one active key: move what uses one key to the other, then deactivate it (`aws iam update-access-key --user-name {name} --access-key-id <key id> --status Inactive`) (Console: IAM > Users > {name} > Security credentials > Access keys).",
        needs_metrics: false,
        evaluate: user_two_active_keys,
    },
    Check {
        id: "iam.root_access_keys",
        title: "Root user has access keys",
        severity: Severity::Critical,
        category: Category::Security,
        resource_type: "iam:account",
        recommendation: "Sign in as the root user and delete its access keys (Console: account name > Security credentials > Access keys > Actions > Delete); give programs an IAM role instead.",
        needs_metrics: false,
        evaluate: root_access_keys,
    },
    Check {
        id: "iam.root_without_mfa",
        title: "Root user has no MFA",
        severity: Severity::Critical,
        category: Category::Security,
        resource_type: "iam:account",
        recommendation: "Sign in as the root user and assign an MFA device (Console: account name > Security credentials > Multi-factor authentication (MFA) > Assign MFA device).",
        needs_metrics: false,
        evaluate: root_without_mfa,
    },
    Check {
        id: "iam.password_policy_weak",
        title: "Account password policy is missing or weak",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "iam:account",
        recommendation: "Set a policy of at least 14 characters with every character class and no reuse of the last 24 passwords: `aws iam update-account-password-policy --minimum-password-length 14 --require-uppercase-characters --require-lowercase-characters --require-numbers --require-symbols --password-reuse-prevention 24 --allow-users-to-change-password` (Console: IAM > Account settings > Password policy > Edit).",
        needs_metrics: false,
        evaluate: password_policy_weak,
    },
];

/// An active access key older than this many days should have been rotated
/// (CIS AWS Foundations Benchmark 1.14: "rotated every 90 days or less").
pub const KEY_MAX_AGE_DAYS: i64 = 90;

/// An active access key unused for this many days (or never used and this
/// old) is likely not needed.
pub const KEY_MAX_UNUSED_DAYS: i64 = 90;

/// What a password policy must require.
pub struct PasswordRule {
    pub min_length: i64,
    /// How many previous passwords a new one may not repeat.
    pub reuse_prevention: i64,
    /// The policy's flags that must be set, with what each requires.
    pub character_classes: &'static [(&'static str, &'static str)],
}

/// The CIS AWS Foundations Benchmark's password policy: v1.2.0
/// recommendations 1.5 to 1.8 (an uppercase letter, a lowercase letter, a
/// symbol, a number), 1.9 (at least 14 characters) and 1.10 (no reuse of the
/// last 24); v1.4.0 and later keep the length and reuse rules as 1.8 and 1.9.
pub const CIS_PASSWORD_POLICY: PasswordRule = PasswordRule {
    min_length: 14,
    reuse_prevention: 24,
    character_classes: &[
        ("require_uppercase_characters", "an uppercase letter"),
        ("require_lowercase_characters", "a lowercase letter"),
        ("require_symbols", "a symbol"),
        ("require_numbers", "a number"),
    ],
};

fn console_user_without_mfa(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let console = props::bool(r, "console_access")?;
    let devices = props::get(r, "mfa_devices")?.as_u64()?;
    (console && devices == 0)
        .then(|| Failure::because("This user can sign in to the console with a password alone."))
}

/// The user's active access keys, as the collector wrote them.
fn active_keys(r: &Resource) -> impl Iterator<Item = &Map<String, Value>> {
    props::array(r, "access_keys")
        .iter()
        .filter_map(Value::as_object)
        .filter(|k| k.get("status").and_then(Value::as_str) == Some("Active"))
}

fn key_id(key: &Map<String, Value>) -> &str {
    key.get("id")
        .and_then(Value::as_str)
        .unwrap_or("(unknown id)")
}

/// Days from the key's creation to `now`.
fn key_age(key: &Map<String, Value>, now: i64) -> Option<i64> {
    days_since(key.get("created_at")?.as_str()?, now)
}

/// Days the key has gone unused at `now`: since its last use, or since its
/// creation if it was never used (`last_used_at` null). `None` when the
/// listing did not say (no `last_used_at` at all).
fn key_unused_for(key: &Map<String, Value>, now: i64) -> Option<i64> {
    match key.get("last_used_at")? {
        Value::String(used) => days_since(used, now),
        Value::Null => key_age(key, now),
        _ => None,
    }
}

/// Sentences naming each key a rule picks, or `None` if it picks none.
fn keys_detail<'a>(keys: impl Iterator<Item = (&'a str, i64)>, what: &str) -> Option<String> {
    let parts: Vec<String> = keys
        .map(|(id, days)| format!("Access key {id} {what} {days} days."))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// [`access_key_not_rotated`] as of `now` (seconds since the epoch).
pub fn access_key_not_rotated_at(r: &Resource, now: i64) -> Option<Failure> {
    let old = active_keys(r).filter_map(|k| {
        let age = key_age(k, now)?;
        (age > KEY_MAX_AGE_DAYS).then(|| (key_id(k), age))
    });
    keys_detail(old, "has been active for").map(Failure::because)
}

fn access_key_not_rotated(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    access_key_not_rotated_at(r, crate::dynamo::now())
}

/// [`access_key_unused`] as of `now` (seconds since the epoch).
pub fn access_key_unused_at(r: &Resource, now: i64) -> Option<Failure> {
    let unused = active_keys(r).filter_map(|k| {
        let days = key_unused_for(k, now)?;
        (days >= KEY_MAX_UNUSED_DAYS).then(|| (key_id(k), days))
    });
    keys_detail(unused, "is active but unused for").map(Failure::because)
}

fn access_key_unused(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    access_key_unused_at(r, crate::dynamo::now())
}

fn user_two_active_keys(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let ids: Vec<&str> = active_keys(r).map(key_id).collect();
    (ids.len() >= 2).then(|| {
        Failure::because(format!(
            "This user has {} active access keys: {}.",
            ids.len(),
            ids.join(", ")
        ))
    })
}

fn root_access_keys(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    props::bool(r, "root_access_keys_present")?.then(|| {
        Failure::because("The root user has access keys, which can do anything in the account and cannot be limited by a policy.")
    })
}

fn root_without_mfa(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "root_mfa_enabled")?)
        .then(|| Failure::because("The root user signs in with a password alone."))
}

/// What `policy` (the collector's `password_policy`) lacks against `rule`;
/// empty when it meets it.
pub fn password_policy_shortfalls(policy: &Map<String, Value>, rule: &PasswordRule) -> Vec<String> {
    let mut short = Vec::new();
    // AWS always returns the minimum length of a policy; without it, say nothing of length.
    if let Some(length) = policy
        .get("minimum_password_length")
        .and_then(Value::as_i64)
        .filter(|n| *n < rule.min_length)
    {
        short.push(format!(
            "a minimum length of {length} (not {})",
            rule.min_length
        ));
    }
    for (flag, what) in rule.character_classes {
        if policy.get(*flag).and_then(Value::as_bool) == Some(false) {
            short.push(format!("no requirement for {what}"));
        }
    }
    // AWS leaves PasswordReusePrevention out when reuse is not prevented.
    match policy
        .get("password_reuse_prevention")
        .and_then(Value::as_i64)
    {
        Some(n) if n >= rule.reuse_prevention => {}
        Some(n) => short.push(format!(
            "reuse prevented for the last {n} passwords (not {})",
            rule.reuse_prevention
        )),
        None => short.push("no reuse prevention".to_owned()),
    }
    short
}

fn password_policy_weak(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !props::bool(r, "password_policy_present")? {
        return Some(Failure::because(
            "The account has no password policy, so IAM's default (8 characters, reuse allowed) applies.",
        ));
    }
    let policy = props::get(r, "password_policy")?.as_object()?;
    let short = password_policy_shortfalls(policy, &CIS_PASSWORD_POLICY);
    (!short.is_empty()).then(|| {
        Failure::because(format!(
            "The password policy has {} (CIS AWS Foundations Benchmark).",
            short.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixture::{resource, run};
    use super::*;

    fn check(id: &str) -> &'static Check {
        CHECKS.iter().find(|c| c.id == id).expect("check")
    }

    /// 2026-12-01T00:00:00Z.
    const NOW: i64 = 1_796_083_200;

    fn days_ago(days: i64) -> String {
        crate::dynamo::rfc3339(NOW - days * 86_400)
    }

    fn user(properties: Value) -> Resource {
        resource("iam:user", "AIDAEXAMPLE", properties)
    }

    fn key(id: &str, status: &str, created_days_ago: i64, last_used: Option<i64>) -> Value {
        json!({
            "id": id,
            "status": status,
            "created_at": days_ago(created_days_ago),
            "last_used_at": last_used.map(days_ago),
        })
    }

    #[test]
    fn a_console_user_without_mfa_fails() {
        let r = user(json!({"console_access": true, "mfa_devices": 0, "access_keys": []}));
        assert!(run(check("iam.console_user_without_mfa"), &r, &[]).is_some());
    }

    #[test]
    fn a_console_user_with_mfa_or_a_user_without_a_password_passes() {
        let with_mfa = user(json!({"console_access": true, "mfa_devices": 1}));
        let no_console = user(json!({"console_access": false, "mfa_devices": 0}));
        let unknown = user(json!({}));
        for r in [with_mfa, no_console, unknown] {
            assert_eq!(run(check("iam.console_user_without_mfa"), &r, &[]), None);
        }
    }

    #[test]
    fn an_active_key_of_91_days_fails_as_not_rotated_naming_the_key() {
        let r = user(json!({"access_keys": [key("AKIAOLD", "Active", 91, Some(1))]}));
        let failure = access_key_not_rotated_at(&r, NOW).expect("fails");
        assert!(failure.detail.contains("AKIAOLD"), "{}", failure.detail);
        assert!(failure.detail.contains("91 days"), "{}", failure.detail);
    }

    #[test]
    fn a_key_of_90_days_or_an_inactive_old_key_is_not_flagged_for_rotation() {
        let r = user(json!({"access_keys": [
            key("AKIANEW", "Active", 90, Some(1)),
            key("AKIAOFF", "Inactive", 400, None),
            {"id": "AKIANODATE", "status": "Active"},
        ]}));
        assert_eq!(access_key_not_rotated_at(&r, NOW), None);
    }

    #[test]
    fn a_key_last_used_90_days_ago_or_never_used_in_100_days_fails_as_unused() {
        let used_long_ago = user(json!({"access_keys": [key("AKIA1", "Active", 300, Some(90))]}));
        let never_used = user(json!({"access_keys": [key("AKIA2", "Active", 100, None)]}));
        assert!(access_key_unused_at(&used_long_ago, NOW).is_some());
        let failure = access_key_unused_at(&never_used, NOW).expect("fails");
        assert!(failure.detail.contains("AKIA2"), "{}", failure.detail);
    }

    #[test]
    fn a_recently_used_key_a_new_unused_key_or_an_unknown_last_use_passes_as_used() {
        let r = user(json!({"access_keys": [
            key("AKIA1", "Active", 300, Some(3)),
            key("AKIA2", "Active", 10, None),
            {"id": "AKIA3", "status": "Active", "created_at": days_ago(500)},
            key("AKIA4", "Inactive", 500, None),
        ]}));
        assert_eq!(access_key_unused_at(&r, NOW), None);
    }

    #[test]
    fn a_user_with_two_active_keys_fails() {
        let r = user(json!({"access_keys": [
            key("AKIA1", "Active", 1, None),
            key("AKIA2", "Active", 1, None),
        ]}));
        let failure = run(check("iam.user_two_active_keys"), &r, &[]).expect("fails");
        assert!(
            failure.detail.contains("AKIA1, AKIA2"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn a_user_with_one_active_key_and_one_inactive_passes() {
        let r = user(json!({"access_keys": [
            key("AKIA1", "Active", 1, None),
            key("AKIA2", "Inactive", 1, None),
        ]}));
        assert_eq!(run(check("iam.user_two_active_keys"), &r, &[]), None);
    }

    fn account(properties: Value) -> Resource {
        resource("iam:account", "111111111111", properties)
    }

    #[test]
    fn an_account_whose_root_has_access_keys_fails() {
        let r = account(json!({"root_access_keys_present": true}));
        assert!(run(check("iam.root_access_keys"), &r, &[]).is_some());
    }

    #[test]
    fn an_account_whose_root_has_no_keys_or_unknown_keys_passes() {
        for r in [
            account(json!({"root_access_keys_present": false})),
            account(json!({"root_access_keys_present": null})),
        ] {
            assert_eq!(run(check("iam.root_access_keys"), &r, &[]), None);
        }
    }

    #[test]
    fn an_account_whose_root_has_no_mfa_fails() {
        let r = account(json!({"root_mfa_enabled": false}));
        assert!(run(check("iam.root_without_mfa"), &r, &[]).is_some());
    }

    #[test]
    fn an_account_whose_root_has_mfa_or_unknown_mfa_passes() {
        for r in [
            account(json!({"root_mfa_enabled": true})),
            account(json!({})),
        ] {
            assert_eq!(run(check("iam.root_without_mfa"), &r, &[]), None);
        }
    }

    fn strong_policy() -> Value {
        json!({
            "minimum_password_length": 14,
            "require_symbols": true,
            "require_numbers": true,
            "require_uppercase_characters": true,
            "require_lowercase_characters": true,
            "password_reuse_prevention": 24,
        })
    }

    #[test]
    fn a_missing_or_short_or_reusable_password_policy_fails_saying_what_is_short() {
        let missing = account(json!({"password_policy_present": false, "password_policy": null}));
        assert!(run(check("iam.password_policy_weak"), &missing, &[]).is_some());
        let mut weak = strong_policy();
        weak["minimum_password_length"] = json!(8);
        weak["require_symbols"] = json!(false);
        weak["password_reuse_prevention"] = Value::Null;
        let r = account(json!({"password_policy_present": true, "password_policy": weak}));
        let failure = run(check("iam.password_policy_weak"), &r, &[]).expect("fails");
        for part in ["minimum length of 8", "a symbol", "no reuse prevention"] {
            assert!(failure.detail.contains(part), "{part}: {}", failure.detail);
        }
    }

    #[test]
    fn a_policy_meeting_cis_or_an_unknown_policy_passes() {
        let strong =
            account(json!({"password_policy_present": true, "password_policy": strong_policy()}));
        assert_eq!(run(check("iam.password_policy_weak"), &strong, &[]), None);
        assert_eq!(
            run(check("iam.password_policy_weak"), &account(json!({})), &[]),
            None
        );
    }
}
