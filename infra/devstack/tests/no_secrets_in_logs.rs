//! Tokens, passwords, refresh tokens, API keys and the signing key never
//! appear in the logs: a whole auth flow runs with logging captured, and the
//! capture is searched for every secret it handled.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use shared::auth::Role;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_of_a_full_auth_flow_reaches_the_logs() {
    let capture = Capture::default();
    shared::telemetry::init_with_writer(capture.clone());

    let (aws, template, stack) = support::stack("nologs").await;
    let api = support::Api::new(support::serve(&aws, &template, &stack).await);
    let admin_password = support::user(&aws, &stack, "root1", &[Role::Admin], &[]).await;
    let password = "my very secret password";
    let (status, _) = api
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"username": "olga", "email": "o@example.com", "password": password})),
        )
        .await;
    assert_eq!(status, 201);
    api.call(
        "POST",
        "/v1/auth/login",
        None,
        Some(json!({"username": "olga", "password": "wrong but secret pw"})),
    )
    .await;
    let pair = api.login("olga", password).await;
    let access = pair["access_token"].as_str().expect("access").to_owned();
    let refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();
    let bearer = format!("Bearer {access}");
    let (_, second) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    let second_access = second["access_token"].as_str().expect("access").to_owned();
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    api.call(
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    let (_, key) = api
        .call(
            "POST",
            "/v1/auth/api-keys",
            Some(&bearer),
            Some(json!({"name": "k"})),
        )
        .await;
    let key = key["key"].as_str().expect("key").to_owned();
    api.call("GET", "/v1/auth/me", Some(&format!("ApiKey {key}")), None)
        .await;
    api.call("GET", "/v1/users", Some(&format!("ApiKey {key}")), None)
        .await;
    let admin = api.bearer("root1", &admin_password).await;
    api.call(
        "PATCH",
        "/v1/users/olga",
        Some(&admin),
        Some(json!({"disabled": true})),
    )
    .await;
    api.call("GET", "/v1/auth/me", Some(&bearer), None).await;
    api.call(
        "POST",
        "/v1/auth/logout",
        Some(&bearer),
        Some(json!({"refresh_token": second_refresh})),
    )
    .await;
    let signing_key = shared::aws::secrets_manager(&aws)
        .get_secret_value()
        .secret_id(&stack.environments["auth"]["SIGNING_SECRET_ARN"])
        .send()
        .await
        .expect("secret")
        .secret_string()
        .expect("value")
        .to_owned();

    let logs = String::from_utf8(capture.0.lock().expect("capture").clone()).expect("utf-8 logs");
    assert!(
        logs.contains("logged in"),
        "the flow was logged at all:\n{logs}"
    );
    for (what, secret) in [
        ("password", password),
        ("wrong password", "wrong but secret pw"),
        ("admin password", admin_password.as_str()),
        ("access token", access.as_str()),
        ("second access token", second_access.as_str()),
        ("refresh token", refresh.as_str()),
        ("second refresh token", second_refresh.as_str()),
        ("API key", key.as_str()),
        ("signing key", signing_key.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
    // Nor any token's signature part alone.
    let signature = access.rsplit('.').next().expect("signature");
    assert!(
        !logs.contains(signature),
        "a token signature appears in the logs"
    );
}
