//! KMS: customer-managed keys, with their state and rotation.

use serde_json::json;
use shared::resources::Resource;

use super::{CollectError, Context, tag_map};
use crate::costs::prices;

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let kms = aws_sdk_kms::Client::new(cx.config);
    let mut out = Vec::new();
    let mut pages = kms.list_keys().into_paginator().items().send();
    while let Some(key) = pages.next().await {
        let key = key?;
        let Some(id) = key.key_id() else { continue };
        let Some(meta) = kms
            .describe_key()
            .key_id(id)
            .send()
            .await?
            .key_metadata()
            .cloned()
        else {
            continue;
        };
        // AWS-managed keys (aws/ebs, aws/s3, ...) are AWS's, free, and not remediable.
        if meta.key_manager().map(|m| m.as_str()) != Some("CUSTOMER") {
            continue;
        }
        let arn = meta
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| cx.arn("kms", &format!("key/{id}")));
        let mut r = cx.resource("kms", "key", arn, id);
        let state = meta.key_state().map(|s| s.as_str().to_owned());
        let symmetric = meta.key_spec().map(|s| s.as_str()) == Some("SYMMETRIC_DEFAULT");
        let rotation = if symmetric && state.as_deref() == Some("Enabled") {
            kms.get_key_rotation_status()
                .key_id(id)
                .send()
                .await?
                .key_rotation_enabled()
        } else {
            false
        };
        let tags = kms.list_resource_tags().key_id(id).send().await?;
        r.tags = tag_map(
            tags.tags()
                .iter()
                .map(|t| (Some(t.tag_key()), Some(t.tag_value()))),
        );
        r.name = meta
            .description()
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        r.monthly_cost_usd = if state.as_deref() == Some("PendingDeletion") {
            0.0
        } else {
            prices().kms_key()
        };
        r.state = state;
        r.created_at = meta.creation_date().map(|t| t.to_string());
        r.properties = json!({"key_spec": meta.key_spec().map(|s| s.as_str()), "rotation_enabled": rotation, "usage": meta.key_usage().map(|u| u.as_str())});
        out.push(r);
    }
    Ok(out)
}
