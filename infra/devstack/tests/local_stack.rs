//! The dev server end to end over HTTP: the routes of the template, the
//! shared edge (request ids, error bodies, body limit), health.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[tokio::test]
async fn health_answers_ok_naming_each_dependency() {
    let (aws, template, stack) = support::stack("health").await;
    let base = support::serve(&aws, &template, &stack).await;
    let response = client()
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .expect("health answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["dependencies"]["packages_table"], "ok");
    assert_eq!(body["dependencies"]["package_bucket"], "ok");
}

#[tokio::test]
async fn health_is_503_within_seconds_when_the_emulator_is_unreachable() {
    let (_aws, template, stack) = support::stack("health-down").await;
    // The same stack, through an SDK whose endpoint nothing listens on.
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .load()
            .await
    };
    let base = support::serve(&dead, &template, &stack).await;
    let started = Instant::now();
    let response = client()
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .expect("health answers");
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(elapsed < Duration::from_secs(4), "health took {elapsed:?}");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["dependencies"]["packages_table"], "ok");
    assert_ne!(body["dependencies"]["package_bucket"], "ok");
    assert!(body["request_id"].is_string());
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internals in the body: {body}"
    );
}

#[tokio::test]
async fn unknown_route_is_a_json_404_with_the_request_id() {
    let (aws, template, stack) = support::stack("notfound").await;
    let base = support::serve(&aws, &template, &stack).await;
    for (method, path) in [
        ("GET", "/v1/nope"),
        ("POST", "/v1/health"),
        ("GET", "/nope"),
    ] {
        let response = client()
            .request(method.parse().expect("method"), format!("{base}{path}"))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let header = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["request_id"], header.as_str());
    }
}

#[tokio::test]
async fn body_over_one_mebibyte_is_refused_with_413() {
    let (aws, template, stack) = support::stack("toolarge").await;
    let base = support::serve(&aws, &template, &stack).await;
    let body = vec![b' '; 1024 * 1024 + 1];
    let response = client()
        .post(format!("{base}/v1/auth/login"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn openapi_document_is_served_publicly() {
    let (aws, template, stack) = support::stack("openapi").await;
    let base = support::serve(&aws, &template, &stack).await;
    let response = client()
        .get(format!("{base}/v1/openapi.json"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/health"]["get"].is_object());
}
