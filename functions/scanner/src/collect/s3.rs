//! S3 (an account-wide listing): every bucket with its region, default
//! encryption, public-access block, versioning, lifecycle and tags.

use serde_json::json;
use shared::resources::Resource;

use super::{CollectError, Context, tag_map};

/// Whether a bucket sub-resource call failed only because it is not configured.
fn not_configured<E: aws_sdk_s3::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|code| {
            matches!(
                code,
                "ServerSideEncryptionConfigurationNotFoundError"
                    | "NoSuchPublicAccessBlockConfiguration"
                    | "NoSuchLifecycleConfiguration"
                    | "NoSuchTagSet"
            )
        })
}

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let s3 = shared::aws::s3(cx.config);
    let mut out = Vec::new();
    let mut pages = s3.list_buckets().into_paginator().send();
    while let Some(page) = pages.next().await {
        for bucket in page?.buckets() {
            let Some(name) = bucket.name() else { continue };
            let region = match s3
                .get_bucket_location()
                .bucket(name)
                .send()
                .await?
                .location_constraint()
            {
                Some(c) if !c.as_str().is_empty() => c.as_str().to_owned(),
                _ => "us-east-1".to_owned(),
            };
            let encryption = match s3.get_bucket_encryption().bucket(name).send().await {
                Ok(out) => out
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str().to_owned()),
                Err(e) if not_configured(&e) => None,
                Err(e) => return Err(e.into()),
            };
            let public_access_block = match s3.get_public_access_block().bucket(name).send().await {
                Ok(out) => out.public_access_block_configuration().map(|c| {
                    c.block_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                }),
                Err(e) if not_configured(&e) => Some(false),
                Err(e) => return Err(e.into()),
            };
            let versioning = s3
                .get_bucket_versioning()
                .bucket(name)
                .send()
                .await?
                .status()
                .map(|s| s.as_str().to_owned());
            let lifecycle_rules = match s3
                .get_bucket_lifecycle_configuration()
                .bucket(name)
                .send()
                .await
            {
                Ok(out) => out.rules().len(),
                Err(e) if not_configured(&e) => 0,
                Err(e) => return Err(e.into()),
            };
            let tags = match s3.get_bucket_tagging().bucket(name).send().await {
                Ok(out) => tag_map(
                    out.tag_set()
                        .iter()
                        .map(|t| (Some(t.key()), Some(t.value()))),
                ),
                Err(e) if not_configured(&e) => Default::default(),
                Err(e) => return Err(e.into()),
            };
            let mut r = cx.resource("s3", "bucket", format!("arn:aws:s3:::{name}"), name);
            r.region = region;
            r.name = Some(name.to_owned());
            r.tags = tags;
            r.created_at = bucket.creation_date().map(|t| t.to_string());
            r.properties = json!({
                "encryption": encryption,
                "public_access_block": public_access_block,
                "versioning": versioning.unwrap_or_else(|| "Disabled".into()),
                "lifecycle_rules": lifecycle_rules,
            });
            out.push(r);
        }
    }
    Ok(out)
}
