//! KMS: customer-managed keys, with their state, origin, rotation and
//! scheduled deletion date.

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "kms:ListKeys",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let kms = &Client::new(cx.config);
    let mut ids = Vec::new();
    let mut pages = kms.list_keys().into_paginator().items().send();
    while let Some(key) = pages.next().await {
        ids.extend(key?.key_id().map(str::to_owned));
    }
    detailed(ids, |id| describe(cx, kms, id)).await
}

async fn describe(
    cx: &Context<'_>,
    kms: &Client,
    id: String,
) -> Result<Option<Resource>, CollectError> {
    let Some(meta) = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await?
        .key_metadata()
        .cloned()
    else {
        return Ok(None);
    };
    // AWS-managed keys (aws/ebs, aws/s3, ...) are AWS's, free, and not remediable.
    if meta.key_manager() != Some(&KeyManagerType::Customer) {
        return Ok(None);
    }
    let key_state = meta.key_state();
    let state = key_state.map(|s| s.as_str().to_owned());
    // Automatic rotation exists only for enabled symmetric keys whose
    // material KMS generated (not imported, not in a custom key store):
    // GetKeyRotationStatus refuses the others, and their rotation is null.
    let rotatable = meta.key_spec() == Some(&KeySpec::SymmetricDefault)
        && meta.origin() == Some(&OriginType::AwsKms)
        && key_state == Some(&KeyState::Enabled);
    let (rotation, tags) = futures::try_join!(
        async {
            if rotatable {
                Ok::<_, CollectError>(Some(
                    kms.get_key_rotation_status()
                        .key_id(&id)
                        .send()
                        .await?
                        .key_rotation_enabled(),
                ))
            } else {
                Ok(None)
            }
        },
        async { Ok::<_, CollectError>(kms.list_resource_tags().key_id(&id).send().await?) },
    )?;
    let arn = meta
        .arn()
        .map(str::to_owned)
        .unwrap_or_else(|| cx.arn("kms", &format!("key/{id}")));
    let mut r = cx.resource(Service::Kms, "key", arn, &id);
    r.tags = tag_map(
        tags.tags()
            .iter()
            .map(|t| (Some(t.tag_key()), Some(t.tag_value()))),
    );
    r.name = meta
        .description()
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    r.monthly_cost_usd = if key_state == Some(&KeyState::PendingDeletion) {
        0.0
    } else {
        prices().kms_key()
    };
    r.state = state;
    r.created_at = meta.creation_date().map(|t| t.to_string());
    r.properties = json!({
        "key_spec": meta.key_spec().map(|s| s.as_str()), "rotation_enabled": rotation,
        "usage": meta.key_usage().map(|u| u.as_str()), "origin": meta.origin().map(|o| o.as_str()),
        "deletion_date": meta.deletion_date().map(|t| t.to_string()),
    });
    Ok(Some(r))
}
