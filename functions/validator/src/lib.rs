//! `validator`: turns an uploaded package `validating` → `published` | `rejected`.
//!
//! Triggered by the package bucket's `ObjectCreated` events on `packages/`.
//! The object is read with ranged GETs only (see [`source`]): the end records
//! and central directory first, then one streaming pass, in bounded memory.

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::LambdaEvent;
use shared::domain::{PackageName, Version};
use shared::packages::{PackagesStore, Status};
use shared::{ConfigError, Env};

pub mod checks;
pub mod source;
pub mod stream;
#[cfg(feature = "test-util")]
pub mod testzip;
pub mod validate;
pub mod zip;

pub use validate::{Expectation, Report, validate};

/// Everything an invocation needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub packages: PackagesStore,
    pub bucket: String,
    pub s3: aws_sdk_s3::Client,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            packages: PackagesStore::new(
                shared::aws::dynamodb(aws),
                env.required("PACKAGES_TABLE")?,
            ),
            bucket: env.required("PACKAGE_BUCKET")?,
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
    pub version_id: Option<String>,
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
                version_id: record
                    .s3
                    .object
                    .version_id
                    .clone()
                    .filter(|v| !v.is_empty() && v != "null"),
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

/// The package and version a key names: `packages/{name}/{version}/{name}-{version}.zip`.
pub fn package_of(key: &str) -> Option<(PackageName, Version)> {
    let mut parts = key.strip_prefix("packages/")?.split('/');
    let (name, version, file, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    let name = PackageName::parse(name).ok()?;
    let version = Version::parse(version).ok()?;
    (rest.is_none() && file == format!("{name}-{version}.zip")).then_some((name, version))
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Published,
    Rejected,
    /// Not a pending upload (already decided, unknown, or not a package key).
    Ignored(&'static str),
}

/// Validates one uploaded object and records the verdict. Idempotent: only a
/// version still `validating` moves, and only once (conditional update).
pub async fn process(
    state: &State,
    object: &UploadedObject,
) -> Result<Outcome, lambda_runtime::Error> {
    let Some((name, version)) = package_of(&object.key) else {
        tracing::warn!(key = %object.key, "object is not a package upload; ignored");
        return Ok(Outcome::Ignored("not a package key"));
    };
    let Some(record) = state.packages.get_version(&name, &version).await? else {
        tracing::warn!(package = %name, version = %version, "no such version; ignored");
        return Ok(Outcome::Ignored("no such version"));
    };
    if record.status != Status::Validating {
        tracing::info!(package = %name, version = %version, status = record.status.as_str(), "not pending; ignored");
        return Ok(Outcome::Ignored("not validating"));
    }
    let source = source::S3Source::open(
        state.s3.clone(),
        &object.bucket,
        &object.key,
        object.version_id.as_deref(),
    )
    .await?;
    let expect = Expectation {
        name: name.to_string(),
        version: version.to_string(),
        sha256: record.sha256.clone(),
    };
    let report = validate(&source, &expect).await?;
    let json = serde_json::to_value(&report)?;
    let (moved, outcome) = match (&report.sha256, report.passed()) {
        (Some(sha), true) => (
            state
                .packages
                .mark_published(&name, &version, sha, &json)
                .await?,
            Outcome::Published,
        ),
        _ => (
            state.packages.mark_rejected(&name, &version, &json).await?,
            Outcome::Rejected,
        ),
    };
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.id)
        .collect();
    tracing::info!(
        package = %name, version = %version, outcome = ?outcome, failed = ?failed,
        size = source::Source::len(&source), fetched = source::Source::fetched(&source), "validated"
    );
    Ok(if moved {
        outcome
    } else {
        Outcome::Ignored("decided concurrently")
    })
}

/// Handles one S3 event.
pub async fn handle(
    event: LambdaEvent<S3Event>,
    state: &State,
) -> Result<(), lambda_runtime::Error> {
    for object in uploaded_objects(&event.payload, &state.bucket) {
        process(state, &object).await?;
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
    fn only_package_keys_name_a_package() {
        let (name, version) = package_of("packages/tool/1.0.0/tool-1.0.0.zip").unwrap();
        assert_eq!((name.as_str(), version.as_str()), ("tool", "1.0.0"));
        for bad in [
            "reports/x.csv",
            "packages/tool/1.0.0/other-1.0.0.zip",
            "packages/tool/1.0.0/tool-1.0.0.zip/x",
            "packages/Tool/1.0.0/Tool-1.0.0.zip",
            "packages/tool/latest/tool-latest.zip",
        ] {
            assert!(package_of(bad).is_none(), "{bad}");
        }
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
