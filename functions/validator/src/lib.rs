//! `validator`: turns an uploaded package `validating` → `published` | `rejected`.
//!
//! Triggered by the package bucket's `ObjectCreated` events on `packages/`.
//! The object is read with ranged GETs only (see [`source`]): the end records
//! and central directory first, then one streaming pass, in bounded memory.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::LambdaEvent;
use shared::domain::{PackageName, Version};
use shared::packages::{Status, VersionRecord};
use shared::{ConfigError, Env};

pub mod checks;
pub mod source;
pub mod stream;
#[cfg(feature = "test-util")]
pub mod testzip;
pub mod validate;
pub mod verdicts;
pub mod zip;

pub use checks::CheckId;
use source::{S3Source, SourceError};
pub use validate::{Expectation, Report, validate};
use verdicts::{PackagesVerdicts, Recorded, Verdict, VersionVerdicts};

/// The S3 actions the validator calls: `HeadObject` and ranged `GetObject`
/// (both authorised by `s3:GetObject`, or `s3:GetObjectVersion` when the
/// event names a version).
pub const S3_ACTIONS: &[&str] = &["s3:GetObject", "s3:GetObjectVersion"];

/// Every AWS action this function's code calls.
pub fn iam_actions() -> BTreeSet<&'static str> {
    verdicts::IAM_ACTIONS
        .iter()
        .chain(S3_ACTIONS)
        .copied()
        .collect()
}

/// Attempts Lambda makes at one S3 event: the first, then the template's
/// `MaximumRetryAttempts: 2`. The last one that fails records `rejected`.
pub const MAX_ATTEMPTS: u32 = 3;
/// Time kept back from an invocation's deadline to record the verdict: an
/// attempt Lambda stops at its timeout cannot record anything.
pub const RESERVE: Duration = Duration::from_secs(10);

/// Everything an invocation needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub verdicts: PackagesVerdicts,
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
            verdicts: PackagesVerdicts::new(
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

/// S3 event keys are form-encoded: `+` for space, `%XX` for other bytes (a
/// literal `+` arrives as `%2B`, so spaces are restored before decoding).
fn decode_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
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

/// Why an attempt could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Incomplete {
    #[error(transparent)]
    Read(#[from] SourceError),
    #[error("the attempt ran out of time")]
    OutOfTime,
}

impl Incomplete {
    /// For the logs: the SDK's detail of a read failure.
    fn detail(&self) -> &str {
        match self {
            Self::Read(e) => e.detail(),
            Self::OutOfTime => "out of time",
        }
    }
}

/// Validates one uploaded object and records the verdict, with no deadline
/// (the dev server's relay, tests). See [`process_until`].
pub async fn process(
    state: &State,
    object: &UploadedObject,
) -> Result<Outcome, lambda_runtime::Error> {
    process_until(state, object, None).await
}

/// Validates one uploaded object and records the verdict. Idempotent: only a
/// version still `validating` moves, and only once (conditional update).
///
/// Never leaves a version `validating` for good: each attempt is counted on
/// the version before any work; an attempt that cannot finish (the object
/// unreadable, `deadline` reached) fails so that Lambda retries it, unless it
/// is the last of [`MAX_ATTEMPTS`], which records `rejected` with a failed
/// `validation.complete`. A delivery after the last attempt (S3 delivers at
/// least once; the last attempt may have been stopped) records the same.
pub async fn process_until(
    state: &State,
    object: &UploadedObject,
    deadline: Option<tokio::time::Instant>,
) -> Result<Outcome, lambda_runtime::Error> {
    decide(&state.verdicts, state, object, deadline).await
}

async fn decide(
    verdicts: &impl VersionVerdicts,
    state: &State,
    object: &UploadedObject,
    deadline: Option<tokio::time::Instant>,
) -> Result<Outcome, lambda_runtime::Error> {
    let Some((name, version)) = package_of(&object.key) else {
        tracing::warn!(key = %object.key, "object is not a package upload; ignored");
        return Ok(Outcome::Ignored("not a package key"));
    };
    let Some(record) = verdicts.version(&name, &version).await? else {
        tracing::warn!(package = %name, version = %version, "no such version; ignored");
        return Ok(Outcome::Ignored("no such version"));
    };
    if record.status != Status::Validating {
        tracing::info!(package = %name, version = %version, status = record.status.as_str(), "not pending; ignored");
        return Ok(Outcome::Ignored("not validating"));
    }
    let Some(attempt) = verdicts.count_attempt(&name, &version).await? else {
        return Ok(Outcome::Ignored("decided concurrently"));
    };
    if attempt > MAX_ATTEMPTS {
        let why = format!(
            "validation could not complete: {} attempts ended without a verdict (stopped or timed out)",
            attempt - 1
        );
        return give_up(verdicts, &name, &version, why).await;
    }
    let work = validate_object(state, object, &record);
    let result = match deadline {
        Some(at) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or(Err(Incomplete::OutOfTime)),
        None => work.await,
    };
    let (report, size, fetched) = match result {
        Ok(done) => done,
        Err(why) => {
            tracing::warn!(
                package = %name, version = %version, attempt, error = why.detail(),
                "validation could not complete"
            );
            if attempt < MAX_ATTEMPTS {
                return Err(Box::new(why));
            }
            let why = format!("validation could not complete in {attempt} attempts: {why}");
            return give_up(verdicts, &name, &version, why).await;
        }
    };
    let stored = report.to_stored_json();
    let (verdict, outcome) = match (&report.sha256, report.passed()) {
        (Some(sha), true) => (
            Verdict::Published {
                sha256: sha.clone(),
                report: stored,
            },
            Outcome::Published,
        ),
        _ => (Verdict::Rejected { report: stored }, Outcome::Rejected),
    };
    let recorded = verdicts.record_verdict(&name, &version, &verdict).await?;
    let failed: Vec<&str> = report.failed().into_iter().map(CheckId::as_str).collect();
    tracing::info!(
        package = %name, version = %version, outcome = ?outcome, failed = ?failed,
        attempt, size, fetched, "validated"
    );
    Ok(match recorded {
        Recorded::Recorded => outcome,
        Recorded::NotValidating => Outcome::Ignored("decided concurrently"),
    })
}

/// Reads and validates the object: `(report, object size, bytes fetched)`.
async fn validate_object(
    state: &State,
    object: &UploadedObject,
    record: &VersionRecord,
) -> Result<(Report, u64, u64), Incomplete> {
    let source = S3Source::open(
        state.s3.clone(),
        &object.bucket,
        &object.key,
        object.version_id.as_deref(),
    )
    .await?;
    let expect = Expectation {
        name: record.name.to_string(),
        version: record.version.to_string(),
        sha256: record.sha256.clone(),
    };
    let report = validate(&source, &expect).await?;
    Ok((
        report,
        source::Source::len(&source),
        source::Source::fetched(&source),
    ))
}

/// Records `rejected` with a failed `validation.complete` saying `why`.
async fn give_up(
    verdicts: &impl VersionVerdicts,
    name: &PackageName,
    version: &Version,
    why: String,
) -> Result<Outcome, lambda_runtime::Error> {
    tracing::warn!(package = %name, version = %version, reason = %why, "rejected: validation could not complete");
    let report = Report::incomplete(why).to_stored_json();
    Ok(
        match verdicts
            .record_verdict(name, version, &Verdict::Rejected { report })
            .await?
        {
            Recorded::Recorded => Outcome::Rejected,
            Recorded::NotValidating => Outcome::Ignored("decided concurrently"),
        },
    )
}

/// When this invocation must have recorded its verdict: Lambda's deadline
/// less [`RESERVE`]. `None` when the context has no deadline (0: the dev
/// server's relay).
pub fn deadline_of(context: &lambda_runtime::Context) -> Option<tokio::time::Instant> {
    if context.deadline == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(context.deadline).saturating_sub(now_ms);
    let left = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
    Some(tokio::time::Instant::now() + left.saturating_sub(RESERVE))
}

/// Handles one S3 event.
pub async fn handle(
    event: LambdaEvent<S3Event>,
    state: &State,
) -> Result<(), lambda_runtime::Error> {
    let deadline = deadline_of(&event.context);
    for object in uploaded_objects(&event.payload, &state.bucket) {
        process_until(state, &object, deadline).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_calls_what_its_policy_grants() {
        let actions: Vec<&str> = iam_actions().into_iter().collect();
        assert_eq!(
            actions,
            [
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "s3:GetObject",
                "s3:GetObjectVersion"
            ]
        );
    }

    #[test]
    fn a_deadline_keeps_time_back_to_record_the_verdict() {
        let mut context = lambda_runtime::Context::default();
        assert_eq!(deadline_of(&context), None, "no deadline: none imposed");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        context.deadline = now_ms + 60_000;
        let left = deadline_of(&context).unwrap() - tokio::time::Instant::now();
        assert!(
            left <= Duration::from_secs(50) && left > Duration::from_secs(45),
            "{left:?}"
        );
        context.deadline = now_ms + 1_000;
        let left = deadline_of(&context).unwrap() - tokio::time::Instant::now();
        assert!(left < Duration::from_millis(10), "{left:?}");
    }

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
