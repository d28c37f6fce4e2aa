//! Secrets Manager: secrets (never their values), rotation and last access.

use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it (never GetSecretValue).
pub const IAM_ACTIONS: &[&str] = &["secretsmanager:ListSecrets"];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let secrets = aws_sdk_secretsmanager::Client::new(cx.config);
    let mut out = Vec::new();
    let mut pages = secrets.list_secrets().into_paginator().send();
    while let Some(page) = pages.next().await {
        for secret in page?.secret_list() {
            let Some(arn) = secret.arn() else { continue };
            let name = secret.name().unwrap_or_default();
            let mut r = cx.resource(Service::Secretsmanager, "secret", arn.to_owned(), name);
            r.name = Some(name.to_owned());
            r.tags = tag_map(secret.tags().iter().map(|t| (t.key(), t.value())));
            r.state = Some(
                if secret.deleted_date().is_some() {
                    "deleted"
                } else {
                    "active"
                }
                .into(),
            );
            r.monthly_cost_usd = if secret.deleted_date().is_some() {
                0.0
            } else {
                prices().secret()
            };
            r.created_at = secret.created_date().map(|t| t.to_string());
            r.properties = json!({
                "rotation_enabled": secret.rotation_enabled().unwrap_or(false),
                "last_rotated": secret.last_rotated_date().map(|t| t.to_string()),
                "last_accessed": secret.last_accessed_date().map(|t| t.to_string()),
                "kms_key_id": secret.kms_key_id(),
            });
            out.push(r);
        }
    }
    Ok(out)
}
