//! `validator`: turns an uploaded package `validating` → `published` | `rejected`.
//!
//! Triggered by the package bucket's `ObjectCreated` events on `packages/`.

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::LambdaEvent;
use shared::{ConfigError, Env};

/// Everything an invocation needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub packages_table: String,
    pub bucket: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            packages_table: env.required("PACKAGES_TABLE")?,
            bucket: env.required("PACKAGE_BUCKET")?,
            dynamodb: shared::aws::dynamodb(aws),
            s3: shared::aws::s3(aws),
        })
    }
}

/// An uploaded object this function was told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedObject {
    pub bucket: String,
    pub key: String,
    pub size: Option<i64>,
}

/// The package objects named by an S3 event. Records of other buckets are
/// skipped: an event this function cannot act on is not a failure to retry.
pub fn uploaded_objects(event: &S3Event, bucket: &str) -> Vec<UploadedObject> {
    event
        .records
        .iter()
        .filter_map(|record| {
            let object_bucket = record.s3.bucket.name.clone()?;
            let key = record.s3.object.key.clone()?;
            if object_bucket != bucket {
                tracing::warn!(bucket = %object_bucket, "event for another bucket ignored");
                return None;
            }
            Some(UploadedObject {
                bucket: object_bucket,
                key: decode_key(&key),
                size: record.s3.object.size,
            })
        })
        .collect()
}

/// S3 event keys are form-encoded: `+` for space, `%XX` for other bytes.
fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// Handles one S3 event.
pub async fn handle(
    event: LambdaEvent<S3Event>,
    state: &State,
) -> Result<(), lambda_runtime::Error> {
    for object in uploaded_objects(&event.payload, &state.bucket) {
        tracing::info!(key = %object.key, size = object.size, "package object created");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_form_decoded() {
        assert_eq!(
            decode_key("packages/a+b/1.0.0/a%2Bb-1.0.0.zip"),
            "packages/a b/1.0.0/a+b-1.0.0.zip"
        );
        assert_eq!(decode_key("bad%zz%"), "bad%zz%");
        assert_eq!(decode_key("plain"), "plain");
    }

    #[test]
    fn records_of_other_buckets_are_ignored() {
        let sample = include_str!("../../../events/validator-object-created.json");
        let mut event: serde_json::Value = serde_json::from_str(sample).unwrap();
        let mut foreign = event["Records"][0].clone();
        foreign["s3"]["bucket"]["name"] = "theirs".into();
        event["Records"].as_array_mut().unwrap().push(foreign);
        let event: S3Event = serde_json::from_value(event).unwrap();
        let objects = uploaded_objects(&event, "cloudkeep-dev-packages-123456789012-us-east-1");
        assert_eq!(objects.len(), 1);
        assert_eq!(
            objects[0].key,
            "packages/demo-tool/1.0.0/demo-tool-1.0.0.zip"
        );
        assert_eq!(objects[0].size, Some(7340032));
    }
}
