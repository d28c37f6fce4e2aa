//! Every function binary, run as Lambda runs it: spawned with
//! `AWS_LAMBDA_RUNTIME_API` pointing at an emulated Runtime API, fed each of
//! its `events/<function>-*.json` samples, its responses checked.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use support::runtime_api::{Outcome, RuntimeApi};
use tokio::process::{Child, Command};

const WITHIN: Duration = Duration::from_secs(20);

/// The built binary of `function` (`make test` builds every binary first).
fn binary(function: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(function);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

fn events_of(function: &str) -> Vec<(String, String)> {
    let dir = devstack::repo_root().join("events");
    let mut events: Vec<_> = std::fs::read_dir(&dir)
        .expect("events/ exists")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("{function}-")) && name.ends_with(".json"))
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).expect("event readable");
            (name, text)
        })
        .collect();
    events.sort();
    assert!(!events.is_empty(), "no events/{function}-*.json sample");
    events
}

fn spawn(
    function: &str,
    env: &std::collections::HashMap<String, String>,
    runtime_api: &str,
) -> Child {
    spawn_logging(function, env, runtime_api, "WARN", Stdio::null())
}

fn spawn_logging(
    function: &str,
    env: &std::collections::HashMap<String, String>,
    runtime_api: &str,
    level: &str,
    stdout: Stdio,
) -> Child {
    Command::new(binary(function))
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "harness")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", level)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("function binary starts")
}

/// Checks the binary's answer to one sample, by what the sample is.
fn check(function: &str, name: &str, event: &str, outcome: Outcome) {
    let event: serde_json::Value = serde_json::from_str(event).expect("sample is JSON");
    match outcome {
        Outcome::Error { error_type, body } => {
            panic!("{name}: {function} failed: {error_type} {body}")
        }
        Outcome::Response(response) => {
            let Some(status) = response.get("statusCode").and_then(|s| s.as_u64()) else {
                // An event function: a response (not an error) is success.
                assert!(
                    event.get("requestContext").is_none(),
                    "{name}: HTTP event without statusCode: {response}"
                );
                return;
            };
            let request_id = event["requestContext"]["requestId"]
                .as_str()
                .expect("sample has a requestId");
            let headers = &response["headers"];
            assert_eq!(
                headers["x-request-id"], request_id,
                "{name}: x-request-id is API Gateway's request id"
            );
            if name.ends_with("-page.json") {
                // A page, not JSON: HTML with the console's security headers.
                assert_eq!(status, 200, "{name}");
                let kind = headers["content-type"].as_str().unwrap_or_default();
                assert!(kind.starts_with("text/html"), "{name}: {kind}");
                assert!(
                    headers["content-security-policy"].is_string(),
                    "{name}: {headers}"
                );
                return;
            }
            let body: serde_json::Value =
                serde_json::from_str(response["body"].as_str().unwrap_or("null"))
                    .expect("body is JSON");
            if name.ends_with("-health.json") {
                assert_eq!(status, 200, "{name}: {body}");
                assert_eq!(body["status"], "ok", "{name}: {body}");
            } else {
                // Bad input: a 4xx with API.md's error body, never a 5xx.
                assert!(
                    (400..500).contains(&status),
                    "{name}: status {status}: {body}"
                );
                assert!(body["error"]["code"].is_string(), "{name}: {body}");
                assert_eq!(body["request_id"], request_id, "{name}: {body}");
            }
        }
    }
}

async fn runs_every_sample_event(function: &str) {
    let (_aws, _template, stack) = support::stack(&format!("rt-{function}")).await;
    let (api, addr) = RuntimeApi::start().await;
    let mut child = spawn(function, &stack.environments[function], &addr);
    for (name, event) in events_of(function) {
        let id = api.invoke(event.clone()).await;
        let outcome = api.outcome(&id, WITHIN).await;
        let outcome = match outcome {
            Some(o) => o,
            None => {
                let _ = child.start_kill();
                let out = child.wait_with_output().await.expect("child output");
                panic!(
                    "{name}: no answer from {function}; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        check(function, &name, &event, outcome);
    }
    // After its last event the function asks for the next one, as a warm Lambda does.
    let samples = events_of(function).len();
    assert!(
        api.next_calls(samples + 1, WITHIN).await,
        "{function} did not poll for the next event"
    );
    assert!(api.init_errors().await.is_empty());
}

#[tokio::test]
async fn web_binary_answers_its_events_through_the_runtime_api() {
    runs_every_sample_event("web").await;
}

#[tokio::test]
async fn auth_binary_answers_its_events_through_the_runtime_api() {
    runs_every_sample_event("auth").await;
}

#[tokio::test]
async fn packages_binary_answers_its_events_through_the_runtime_api() {
    runs_every_sample_event("packages").await;
}

#[tokio::test]
async fn inventory_binary_answers_its_events_through_the_runtime_api() {
    runs_every_sample_event("inventory").await;
}

#[tokio::test]
async fn actions_binary_answers_its_events_through_the_runtime_api() {
    runs_every_sample_event("actions").await;
}

#[tokio::test]
async fn validator_binary_handles_its_events_through_the_runtime_api() {
    runs_every_sample_event("validator").await;
}

#[tokio::test]
async fn scanner_binary_handles_its_events_through_the_runtime_api() {
    runs_every_sample_event("scanner").await;
}

#[tokio::test]
async fn missing_variable_fails_the_cold_start_naming_it() {
    let (_aws, _template, stack) = support::stack("rt-init").await;
    let (api, addr) = RuntimeApi::start().await;
    let mut env = stack.environments["packages"].clone();
    env.remove("PACKAGES_TABLE");
    let child = spawn("packages", &env, &addr);
    let out = tokio::time::timeout(WITHIN, child.wait_with_output())
        .await
        .expect("the function exits")
        .expect("exit status");
    assert!(
        !out.status.success(),
        "a function without its table must not start"
    );
    let errors = api.init_errors().await;
    assert_eq!(errors.len(), 1, "exactly one init error is reported");
    assert_eq!(errors[0]["errorType"], "Runtime.ConfigError");
    assert!(
        errors[0]["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("PACKAGES_TABLE"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn trace_logging_never_prints_a_raw_lambda_event() {
    // lambda_runtime logs each raw event at TRACE: a login's body is a password.
    let (_aws, _template, stack) = support::stack("rt-trace").await;
    let (api, addr) = RuntimeApi::start().await;
    let child = spawn_logging(
        "auth",
        &stack.environments["auth"],
        &addr,
        "TRACE",
        Stdio::piped(),
    );
    let password = "trace-level-secret-password";
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(devstack::repo_root().join("events/auth-login-bad-json.json"))
            .expect("sample readable"),
    )
    .expect("sample is JSON");
    event["body"] = serde_json::json!({"username": "nobody-here", "password": password})
        .to_string()
        .into();
    let id = api.invoke(event.to_string()).await;
    let outcome = api.outcome(&id, WITHIN).await.expect("an answer");
    let Outcome::Response(response) = outcome else {
        panic!("auth failed: {outcome:?}");
    };
    assert_eq!(response["statusCode"], 401, "{response}");
    let mut child = child;
    let _ = child.start_kill();
    let out = child.wait_with_output().await.expect("child output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"DEBUG\""),
        "verbose logging was on: {stdout}"
    );
    assert!(!stdout.contains(password), "the request body was logged");
}
