//! S3 (an account-wide listing): every bucket with its region, default
//! encryption, public-access block, versioning, lifecycle, policy and tags.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::Bucket;
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};

/// What this collector calls, as IAM names it: ListBuckets is
/// `s3:ListAllMyBuckets`; GetBucketEncryption, GetPublicAccessBlock and
/// GetBucketLifecycleConfiguration are `s3:GetEncryptionConfiguration`,
/// `s3:GetBucketPublicAccessBlock` and `s3:GetLifecycleConfiguration`;
/// GetBucketPolicy is `s3:GetBucketPolicy`.
pub const IAM_ACTIONS: &[&str] = &[
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketVersioning",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketTagging",
    "s3:GetBucketPolicy",
];

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
                    | "NoSuchBucketPolicy"
            )
        })
}

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let s3 = &shared::aws::s3(cx.config);
    let mut buckets = Vec::new();
    let mut pages = s3.list_buckets().into_paginator().send();
    while let Some(page) = pages.next().await {
        buckets.extend(page?.buckets().iter().cloned());
    }
    detailed(buckets, |bucket| describe(cx, s3, bucket)).await
}

/// One bucket: its seven sub-resource calls run concurrently.
async fn describe(
    cx: &Context<'_>,
    s3: &Client,
    bucket: Bucket,
) -> Result<Option<Resource>, CollectError> {
    let Some(name) = bucket.name() else {
        return Ok(None);
    };
    let (region, encryption, public_access_block, versioning, lifecycle_rules, tags, policy) = futures::try_join!(
        async {
            let location = s3.get_bucket_location().bucket(name).send().await?;
            Ok::<_, CollectError>(match location.location_constraint() {
                Some(c) if !c.as_str().is_empty() => c.as_str().to_owned(),
                _ => "us-east-1".to_owned(),
            })
        },
        async {
            match s3.get_bucket_encryption().bucket(name).send().await {
                Ok(out) => Ok(out
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str().to_owned())),
                Err(e) if not_configured(&e) => Ok(None),
                Err(e) => Err(CollectError::from(e)),
            }
        },
        async {
            match s3.get_public_access_block().bucket(name).send().await {
                Ok(out) => Ok(out.public_access_block_configuration().map(|c| {
                    c.block_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                })),
                Err(e) if not_configured(&e) => Ok(Some(false)),
                Err(e) => Err(CollectError::from(e)),
            }
        },
        async {
            let versioning = s3.get_bucket_versioning().bucket(name).send().await?;
            Ok::<_, CollectError>(versioning.status().map(|s| s.as_str().to_owned()))
        },
        async {
            match s3
                .get_bucket_lifecycle_configuration()
                .bucket(name)
                .send()
                .await
            {
                Ok(out) => Ok(out.rules().len()),
                Err(e) if not_configured(&e) => Ok(0),
                Err(e) => Err(CollectError::from(e)),
            }
        },
        async {
            match s3.get_bucket_tagging().bucket(name).send().await {
                Ok(out) => Ok(tag_map(
                    out.tag_set()
                        .iter()
                        .map(|t| (Some(t.key()), Some(t.value()))),
                )),
                Err(e) if not_configured(&e) => Ok(Default::default()),
                Err(e) => Err(CollectError::from(e)),
            }
        },
        async {
            match s3.get_bucket_policy().bucket(name).send().await {
                Ok(out) => Ok(Some(out.policy().map(parse_policy).unwrap_or_default())),
                Err(e) if not_configured(&e) => Ok(None),
                Err(e) => Err(CollectError::from(e)),
            }
        },
    )?;
    let mut r = cx.resource(Service::S3, "bucket", cx.bucket_arn(name), name);
    r.region = region;
    r.name = Some(name.to_owned());
    r.tags = tags;
    r.created_at = bucket.creation_date().map(|t| t.to_string());
    r.properties = json!({
        "encryption": encryption,
        "public_access_block": public_access_block,
        "versioning": versioning.unwrap_or_else(|| "Disabled".into()),
        "lifecycle_rules": lifecycle_rules,
        // Whether the bucket has a policy, and the policy document itself
        // (null if it has none, or if its text is not JSON).
        "policy_configured": policy.is_some(),
        "policy": policy.flatten(),
    });
    Ok(Some(r))
}

/// A bucket policy's JSON document; `None` if the text does not parse.
fn parse_policy(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text)
        .ok()
        .filter(serde_json::Value::is_object)
}
