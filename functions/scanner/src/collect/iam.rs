//! IAM (account-wide): users with MFA, access keys (age, last use) and
//! console access; roles; and the account itself (root credentials and the
//! password policy) as one `iam:account` resource.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{PasswordPolicy, SummaryKeyType, User};
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "iam:ListUsers",
    "iam:ListMFADevices",
    "iam:GetLoginProfile",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:ListRoles",
    "iam:GetAccountSummary",
    "iam:GetAccountPasswordPolicy",
];

fn not_found<E: aws_sdk_iam::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_iam::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("NoSuchEntity")
}

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let iam = &Client::new(cx.config);
    let mut users = Vec::new();
    let mut pages = iam.list_users().into_paginator().send();
    while let Some(page) = pages.next().await {
        users.extend(page?.users().iter().cloned());
    }
    let mut out = detailed(users, |user| describe_user(cx, iam, user)).await?;
    out.push(account(cx, iam).await?);

    let mut pages = iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        for role in page?.roles() {
            let mut r = cx.resource(Service::Iam, "role", role.arn().to_owned(), role.role_id());
            r.region = "global".into();
            r.name = Some(role.role_name().to_owned());
            r.state = Some("active".into());
            r.created_at = Some(role.create_date().to_string());
            r.properties = json!({"path": role.path(), "last_used": role.role_last_used().and_then(|u| u.last_used_date()).map(|d| d.to_string())});
            out.push(r);
        }
    }
    Ok(out)
}

/// A user with MFA, console access and each access key's age and last use;
/// the user's calls run concurrently.
async fn describe_user(
    cx: &Context<'_>,
    iam: &Client,
    user: User,
) -> Result<Option<Resource>, CollectError> {
    let now = shared::dynamo::now();
    let name = user.user_name();
    let (mfa, console, keys) = futures::try_join!(
        async {
            Ok::<_, CollectError>(
                iam.list_mfa_devices()
                    .user_name(name)
                    .send()
                    .await?
                    .mfa_devices()
                    .len(),
            )
        },
        async {
            match iam.get_login_profile().user_name(name).send().await {
                Ok(_) => Ok(true),
                Err(e) if not_found(&e) => Ok(false),
                Err(e) => Err(CollectError::from(e)),
            }
        },
        async {
            Ok::<_, CollectError>(
                iam.list_access_keys()
                    .user_name(name)
                    .send()
                    .await?
                    .access_key_metadata()
                    .to_vec(),
            )
        },
    )?;
    let keys = futures::future::try_join_all(keys.iter().filter_map(|key| {
        let id = key.access_key_id()?;
        Some(async move {
            let last_used = iam
                .get_access_key_last_used()
                .access_key_id(id)
                .send()
                .await?
                .access_key_last_used()
                .and_then(|u| u.last_used_date())
                .map(|d| d.secs());
            let created = key.create_date().map(|d| d.secs());
            Ok::<_, CollectError>(json!({
                // The id identifies the key; it is not a secret (the secret key is never readable).
                "id": id,
                "status": key.status().map(|s| s.as_str()),
                "age_days": created.map(|c| (now - c) / 86_400),
                "last_used_days_ago": last_used.map(|u| (now - u) / 86_400),
                // The instants themselves, so a check ages them to its own
                // now; `last_used_at` is null for a key never used.
                "created_at": created.map(shared::dynamo::rfc3339),
                "last_used_at": last_used.map(shared::dynamo::rfc3339),
            }))
        })
    }))
    .await?;
    let mut r = cx.resource(Service::Iam, "user", user.arn().to_owned(), user.user_id());
    r.region = "global".into();
    r.name = Some(name.to_owned());
    r.tags = tag_map(user.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
    r.state = Some("active".into());
    r.created_at = Some(user.create_date().to_string());
    r.properties = json!({
        "mfa_devices": mfa,
        "console_access": console,
        "access_keys": keys,
        "password_last_used": user.password_last_used().map(|d| d.to_string()),
    });
    Ok(Some(r))
}

/// The account as one resource (`iam:account`, its root user's ARN): whether
/// the root user has access keys and MFA (GetAccountSummary) and the
/// password policy, `null` when the account has none (NoSuchEntity).
async fn account(cx: &Context<'_>, iam: &Client) -> Result<Resource, CollectError> {
    let (summary, policy) = futures::try_join!(
        async { Ok::<_, CollectError>(iam.get_account_summary().send().await?) },
        async {
            match iam.get_account_password_policy().send().await {
                Ok(out) => Ok(out.password_policy().map(password_policy)),
                Err(e) if not_found(&e) => Ok(None),
                Err(e) => Err(CollectError::from(e)),
            }
        },
    )?;
    let flag = |key: SummaryKeyType| {
        summary
            .summary_map()
            .and_then(|m| m.get(&key))
            .map(|n| *n > 0)
    };
    let account = &cx.job.account_id;
    let arn = format!("arn:{}:iam::{account}:root", cx.partition);
    let mut r = cx.resource(Service::Iam, "account", arn, account);
    r.region = "global".into();
    r.state = Some("active".into());
    r.properties = json!({
        "root_access_keys_present": flag(SummaryKeyType::AccountAccessKeysPresent),
        "root_mfa_enabled": flag(SummaryKeyType::AccountMfaEnabled),
        "password_policy_present": policy.is_some(),
        "password_policy": policy,
    });
    Ok(r)
}

fn password_policy(p: &PasswordPolicy) -> serde_json::Value {
    json!({
        "minimum_password_length": p.minimum_password_length(),
        "require_symbols": p.require_symbols(),
        "require_numbers": p.require_numbers(),
        "require_uppercase_characters": p.require_uppercase_characters(),
        "require_lowercase_characters": p.require_lowercase_characters(),
        "password_reuse_prevention": p.password_reuse_prevention(),
        "max_password_age": p.max_password_age(),
        "expire_passwords": p.expire_passwords(),
        "allow_users_to_change_password": p.allow_users_to_change_password(),
        "hard_expiry": p.hard_expiry(),
    })
}
