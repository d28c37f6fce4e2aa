//! Auth over HTTP on the dev stack, against the emulator: the whole flow, the
//! authorization matrix of `API.md`, refresh rotation and its races,
//! throttling, API keys and signing-key rotation.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_secretsmanager::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_secretsmanager::error::BoxError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use shared::auth::keys::SigningKeys;
use shared::auth::{Authenticator, Role, jwt};
use support::Api;

async fn api(hint: &str) -> (aws_config::SdkConfig, devstack::bootstrap::Stack, Api) {
    let (aws, template, stack) = support::stack(hint).await;
    let base = support::serve(&aws, &template, &stack).await;
    (aws, stack, Api::new(base))
}

/// The signing secret's current version and value, as the auth function sees them.
async fn signing_key(
    aws: &aws_config::SdkConfig,
    stack: &devstack::bootstrap::Stack,
) -> (String, String) {
    let secrets = shared::aws::secrets_manager(aws);
    let out = secrets
        .get_secret_value()
        .secret_id(&stack.environments["auth"]["SIGNING_SECRET_ARN"])
        .send()
        .await
        .expect("secret");
    (
        out.version_id().expect("version").to_owned(),
        out.secret_string().expect("value").to_owned(),
    )
}

/// A version of the signing secret by stage, as Secrets Manager holds it.
async fn signing_key_at(
    aws: &aws_config::SdkConfig,
    stack: &devstack::bootstrap::Stack,
    stage: &str,
) -> (String, String) {
    let out = shared::aws::secrets_manager(aws)
        .get_secret_value()
        .secret_id(&stack.environments["auth"]["SIGNING_SECRET_ARN"])
        .version_stage(stage)
        .send()
        .await
        .expect("secret");
    (
        out.version_id().expect("version").to_owned(),
        out.secret_string().expect("value").to_owned(),
    )
}

/// Rotates the signing secret as a rotation would: a new `AWSCURRENT` version.
async fn rotate(aws: &aws_config::SdkConfig, stack: &devstack::bootstrap::Stack) {
    shared::aws::secrets_manager(aws)
        .put_secret_value()
        .secret_id(&stack.environments["auth"]["SIGNING_SECRET_ARN"])
        .secret_string(format!(
            "rotated-{}-{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
        .send()
        .await
        .expect("rotated");
}

/// A signed access token, as a `Bearer` header.
fn bearer_signed(claims: &jwt::Claims, kid: &str, key: &str) -> String {
    format!(
        "Bearer {}",
        jwt::sign(claims, kid, key.as_bytes()).expect("signed")
    )
}

/// Counts the Secrets Manager calls of one client, and fails them on demand.
#[derive(Debug, Default, Clone)]
struct SecretsCalls {
    made: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl SecretsCalls {
    fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl Intercept for SecretsCalls {
    fn name(&self) -> &'static str {
        "SecretsCalls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.made.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            Err("Secrets Manager is unreachable (the test says so)".into())
        } else {
            Ok(())
        }
    }
}

/// An authenticator as every function builds one, whose Secrets Manager calls
/// the test counts and can break.
fn counted_authenticator(
    aws: &aws_config::SdkConfig,
    stack: &devstack::bootstrap::Stack,
) -> (Authenticator, SecretsCalls) {
    let calls = SecretsCalls::default();
    let config = aws_sdk_secretsmanager::config::Builder::from(aws)
        .interceptor(calls.clone())
        .build();
    let keys = SigningKeys::new(
        aws_sdk_secretsmanager::Client::from_conf(config),
        &stack.environments["auth"]["SIGNING_SECRET_ARN"],
    );
    (
        Authenticator::new(support::users_store(aws, stack), keys),
        calls,
    )
}

fn claims_for(username: &str, iat: i64, exp: i64) -> jwt::Claims {
    jwt::Claims {
        sub: username.into(),
        roles: vec![Role::Admin],
        groups: vec![],
        iat,
        exp,
        jti: "test".into(),
        iss: jwt::ISSUER.into(),
        aud: jwt::AUDIENCE.into(),
    }
}

#[tokio::test]
async fn a_newcomer_registers_logs_in_refreshes_and_logs_out() {
    let (_aws, _stack, api) = api("flow").await;
    let register = json!({"username": "carol", "email": "carol@example.com", "password": "a long enough password"});
    let (status, user) = api
        .call("POST", "/v1/auth/register", None, Some(register.clone()))
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["roles"], json!(["reader"]));
    assert!(
        user.get("password_hash").is_none() && !user.to_string().contains("argon2"),
        "{user}"
    );
    let (status, body) = api
        .call("POST", "/v1/auth/register", None, Some(register))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );

    let pair = api.login("carol", "a long enough password").await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let refresh_token = pair["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert!(
        URL_SAFE_NO_PAD
            .decode(&refresh_token)
            .expect("base64url")
            .len()
            >= 32,
        "at least 256 bits"
    );
    let bearer = format!("Bearer {}", pair["access_token"].as_str().expect("access"));
    let (status, me) = api.call("GET", "/v1/auth/me", Some(&bearer), None).await;
    assert_eq!((status, me["username"].as_str()), (200, Some("carol")));

    let (status, second) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_token})),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], refresh_token);

    let (status, _) = api
        .call(
            "POST",
            "/v1/auth/logout",
            Some(&bearer),
            Some(json!({"refresh_token": second["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": second["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 401, "a logged-out family refreshes no more");
}

#[tokio::test]
async fn spent_refresh_token_revokes_its_family() {
    let (aws, stack, api) = api("reuse").await;
    let password = support::user(&aws, &stack, "dave", &[Role::Reader], &[]).await;
    let first = api.login("dave", &password).await;
    let (status, second) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": first["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 200);
    // The thief replays the first token: refused, and the rightful holder's new token dies with it.
    let (status, body) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": first["refresh_token"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": second["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_succeed() {
    let (aws, stack, api) = api("race").await;
    let password = support::user(&aws, &stack, "erin", &[Role::Reader], &[]).await;
    let pair = api.login("erin", &password).await;
    let body = json!({"refresh_token": pair["refresh_token"]});
    let attempts = (0..10).map(|_| {
        let api = api.clone();
        let body = body.clone();
        tokio::spawn(async move {
            api.call("POST", "/v1/auth/refresh", None, Some(body))
                .await
                .0
        })
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let (aws, stack, api) = api("same401").await;
    support::user(&aws, &stack, "frank", &[Role::Reader], &[]).await;
    let (s1, b1) = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"username": "frank", "password": "wrong password!"})),
        )
        .await;
    let (s2, b2) = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "wrong password!"})),
        )
        .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1["error"], b2["error"]);
}

#[tokio::test]
async fn five_failed_logins_lock_the_username_with_retry_after() {
    let (aws, stack, api) = api("throttle").await;
    let password = support::user(&aws, &stack, "gina", &[Role::Reader], &[]).await;
    for _ in 0..5 {
        let (status, _) = api
            .call(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({"username": "gina", "password": "guess guess guess"})),
            )
            .await;
        assert_eq!(status, 401);
    }
    let response = api
        .http
        .post(format!("{}/v1/auth/login", api.base))
        .json(&json!({"username": "gina", "password": password}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status().as_u16(),
        429,
        "even the right password waits out the window"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another username is not affected.
    let other = support::user(&aws, &stack, "hank", &[Role::Reader], &[]).await;
    api.login("hank", &other).await;
}

#[tokio::test]
async fn sign_up_can_be_disabled() {
    let (aws, template, mut stack) = support::stack("nosignup").await;
    stack
        .environments
        .get_mut("auth")
        .expect("auth env")
        .insert("SIGNUP_ENABLED".into(), "false".into());
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let (status, body) = api
        .call("POST", "/v1/auth/register", None, Some(json!({"username": "ivan", "email": "i@example.com", "password": "a long enough password"})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
}

#[tokio::test]
async fn register_refuses_bad_input_with_422_naming_the_field() {
    let (_aws, _stack, api) = api("badreg").await;
    for (body, field) in [
        (
            json!({"username": "Bad Name", "email": "a@b.io", "password": "long enough password"}),
            "username",
        ),
        (
            json!({"username": "okname", "email": "not-an-email", "password": "long enough password"}),
            "email",
        ),
        (
            json!({"username": "okname", "email": "a@b.io", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "okname", "email": "a@b.io", "password": "long enough password", "role": "admin"}),
            "role",
        ),
        (
            json!({"username": "okname", "email": "a@b.io", "password": 123456789012_u64}),
            "password",
        ),
    ] {
        let (status, response) = api
            .call("POST", "/v1/auth/register", None, Some(body))
            .await;
        assert_eq!(status, 422, "{response}");
        assert_eq!(
            response["error"]["details"][0]["field"], field,
            "{response}"
        );
    }
    let raw = api
        .http
        .post(format!("{}/v1/auth/register", api.base))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(raw.status().as_u16(), 400);
}

#[tokio::test]
async fn api_key_works_until_deleted_and_is_shown_once() {
    let (aws, stack, api) = api("apikey").await;
    let password = support::user(&aws, &stack, "judy", &[Role::Publisher], &[]).await;
    let bearer = api.bearer("judy", &password).await;
    let (status, created) = api
        .call(
            "POST",
            "/v1/auth/api-keys",
            Some(&bearer),
            Some(json!({"name": "ci", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with(created["prefix"].as_str().expect("prefix")));
    let header = format!("ApiKey {key}");
    let (status, me) = api.call("GET", "/v1/auth/me", Some(&header), None).await;
    assert_eq!((status, me["username"].as_str()), (200, Some("judy")));

    let (status, listed) = api
        .call("GET", "/v1/auth/api-keys", Some(&bearer), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert!(
        !listed.to_string().contains(&key),
        "the key is never shown again"
    );
    let stored = aws_sdk_dynamodb::Client::new(&aws)
        .scan()
        .table_name(stack.physical("UsersTable").expect("table"))
        .send()
        .await
        .expect("scan");
    assert!(
        !format!("{:?}", stored.items()).contains(&key),
        "only the hash is stored"
    );

    let id = created["id"].as_str().expect("id");
    let (status, _) = api
        .call(
            "DELETE",
            &format!("/v1/auth/api-keys/{id}"),
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.call("GET", "/v1/auth/me", Some(&header), None).await;
    assert_eq!(status, 401, "a deleted key stops working at once");
    let (status, _) = api
        .call(
            "DELETE",
            &format!("/v1/auth/api-keys/{id}"),
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn someone_elses_api_key_cannot_be_deleted() {
    let (aws, stack, api) = api("apikey2").await;
    let owner = support::user(&aws, &stack, "kate", &[Role::Reader], &[]).await;
    let other = support::user(&aws, &stack, "leo", &[Role::Reader], &[]).await;
    let owner_bearer = api.bearer("kate", &owner).await;
    let (_, created) = api
        .call(
            "POST",
            "/v1/auth/api-keys",
            Some(&owner_bearer),
            Some(json!({"name": "mine"})),
        )
        .await;
    let other_bearer = api.bearer("leo", &other).await;
    let (status, _) = api
        .call(
            "DELETE",
            &format!("/v1/auth/api-keys/{}", created["id"].as_str().expect("id")),
            Some(&other_bearer),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(
            "GET",
            "/v1/auth/me",
            Some(&format!("ApiKey {}", created["key"].as_str().expect("key"))),
            None,
        )
        .await;
    assert_eq!(status, 200);
}

/// Each route of the auth function × each kind of caller → the status of `API.md`.
#[tokio::test]
async fn authorization_matrix() {
    let (aws, stack, api) = api("matrix").await;
    let reader = support::user(&aws, &stack, "reader1", &[Role::Reader], &[]).await;
    let publisher = support::user(&aws, &stack, "publisher1", &[Role::Publisher], &[]).await;
    let admin = support::user(&aws, &stack, "admin1", &[Role::Admin], &[]).await;
    let disabled = support::user(&aws, &stack, "disabled1", &[Role::Admin], &[]).await;

    let reader_bearer = api.bearer("reader1", &reader).await;
    let publisher_bearer = api.bearer("publisher1", &publisher).await;
    let admin_bearer = api.bearer("admin1", &admin).await;
    let disabled_bearer = api.bearer("disabled1", &disabled).await;
    let (_, key) = api
        .call(
            "POST",
            "/v1/auth/api-keys",
            Some(&reader_bearer),
            Some(json!({"name": "m"})),
        )
        .await;
    let reader_key = format!("ApiKey {}", key["key"].as_str().expect("key"));
    let (_, admin_key) = api
        .call(
            "POST",
            "/v1/auth/api-keys",
            Some(&admin_bearer),
            Some(json!({"name": "m"})),
        )
        .await;
    let admin_key = format!("ApiKey {}", admin_key["key"].as_str().expect("key"));
    let (status, _) = api
        .call(
            "PATCH",
            "/v1/users/disabled1",
            Some(&admin_bearer),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 200);

    let (kid, secret) = signing_key(&aws, &stack).await;
    let now = shared::dynamo::now();
    let expired = format!(
        "Bearer {}",
        jwt::sign(
            &claims_for("admin1", now - 3600, now - 1800),
            &kid,
            secret.as_bytes()
        )
        .expect("signed")
    );
    let tampered = {
        let token = admin_bearer.trim_start_matches("Bearer ");
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64"))
                .expect("claims");
        claims["sub"] = json!("reader1");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("Bearer {}", parts.join("."))
    };
    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims_for("admin1", now, now + 900)).expect("json"));
        format!("Bearer {header}.{payload}.")
    };
    let wrong_key = format!(
        "Bearer {}",
        jwt::sign(
            &claims_for("admin1", now, now + 900),
            &kid,
            b"not the signing key at all, no sir"
        )
        .expect("signed")
    );

    let callers: Vec<(&str, Option<&str>)> = vec![
        ("anonymous", None),
        ("reader", Some(&reader_bearer)),
        ("publisher", Some(&publisher_bearer)),
        ("admin", Some(&admin_bearer)),
        ("disabled", Some(&disabled_bearer)),
        ("expired", Some(&expired)),
        ("tampered", Some(&tampered)),
        ("alg-none", Some(&alg_none)),
        ("wrong-key", Some(&wrong_key)),
        ("reader-api-key", Some(&reader_key)),
        ("admin-api-key", Some(&admin_key)),
        ("garbage", Some("Bearer not.a.token")),
        ("unknown-scheme", Some("Basic YWRtaW46YWRtaW4=")),
    ];
    // Expected status per caller, in the order above.
    let rejected = [401, 401, 401, 401, 401, 401]; // disabled, expired, tampered, alg-none, wrong-key (and anonymous)
    let _ = rejected;
    type Row = (
        &'static str,
        &'static str,
        Option<serde_json::Value>,
        [u16; 13],
    );
    let rows: Vec<Row> = vec![
        (
            "GET",
            "/v1/auth/me",
            None,
            [
                401, 200, 200, 200, 401, 401, 401, 401, 401, 200, 200, 401, 401,
            ],
        ),
        (
            "GET",
            "/v1/auth/api-keys",
            None,
            [
                401, 200, 200, 200, 401, 401, 401, 401, 401, 200, 200, 401, 401,
            ],
        ),
        (
            "POST",
            "/v1/auth/api-keys",
            Some(json!({"name": "x"})),
            [
                401, 201, 201, 201, 401, 401, 401, 401, 401, 201, 201, 401, 401,
            ],
        ),
        (
            "DELETE",
            "/v1/auth/api-keys/00000000-0000-4000-8000-000000000000",
            None,
            [
                401, 404, 404, 404, 401, 401, 401, 401, 401, 404, 404, 401, 401,
            ],
        ),
        (
            "GET",
            "/v1/users",
            None,
            [
                401, 403, 403, 200, 401, 401, 401, 401, 401, 403, 200, 401, 401,
            ],
        ),
        (
            "PATCH",
            "/v1/users/reader1",
            Some(json!({"groups": ["ops"]})),
            [
                401, 403, 403, 200, 401, 401, 401, 401, 401, 403, 200, 401, 401,
            ],
        ),
        (
            "PATCH",
            "/v1/users/nosuchuser",
            Some(json!({"groups": []})),
            [
                401, 403, 403, 404, 401, 401, 401, 401, 401, 403, 404, 401, 401,
            ],
        ),
        (
            "POST",
            "/v1/auth/logout",
            Some(json!({"refresh_token": "unknown"})),
            [
                401, 204, 204, 204, 401, 401, 401, 401, 401, 401, 401, 401, 401,
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, expected) in rows {
        for ((who, auth), want) in callers.iter().zip(expected) {
            let (got, response) = api.call(method, path, *auth, body.clone()).await;
            if got != want {
                failures.push(format!(
                    "{method} {path} as {who}: want {want}, got {got} {response}"
                ));
            } else if got >= 400 {
                assert_eq!(
                    response["error"]["code"].is_string(),
                    true,
                    "{method} {path} as {who}: {response}"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn rotated_signing_key_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_kid() {
    let (aws, template, stack) = support::stack("rotation").await;
    let password = support::user(&aws, &stack, "mia", &[Role::Reader], &[]).await;
    let before = Api::new(support::serve(&aws, &template, &stack).await);
    let old_bearer = before.bearer("mia", &password).await;
    let old_kid = jwt::key_id(old_bearer.trim_start_matches("Bearer ")).expect("kid");

    // Rotate: a new current version of the secret.
    let secrets = shared::aws::secrets_manager(&aws);
    secrets
        .put_secret_value()
        .secret_id(&stack.environments["auth"]["SIGNING_SECRET_ARN"])
        .secret_string("a-brand-new-signing-key-of-sixty-four-characters-0123456789abcdef")
        .send()
        .await
        .expect("rotated");

    // A container started after the rotation signs with the new version…
    let after = Api::new(support::serve(&aws, &template, &stack).await);
    let new_bearer = after.bearer("mia", &password).await;
    let new_kid = jwt::key_id(new_bearer.trim_start_matches("Bearer ")).expect("kid");
    assert_ne!(new_kid, old_kid);
    // …and still accepts tokens of the old version, fetching it once; the old container learns the new one.
    for (api, bearer) in [
        (&after, &old_bearer),
        (&before, &new_bearer),
        (&before, &old_bearer),
        (&after, &new_bearer),
    ] {
        let (status, _) = api.call("GET", "/v1/auth/me", Some(bearer), None).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn other_functions_authenticate_through_the_same_code() {
    let (aws, stack, _api) = api("shared-auth").await;
    let password = support::user(&aws, &stack, "nina", &[Role::Reader], &[]).await;
    let api = Api::new(
        support::serve(
            &aws,
            &devstack::template::Template::repo().expect("template"),
            &stack,
        )
        .await,
    );
    let bearer = api.bearer("nina", &password).await;
    for env_of in ["packages", "inventory", "actions"] {
        let auth =
            shared::auth::Authenticator::from_env(&stack.env(env_of), &aws).expect("authenticator");
        let caller = auth
            .authenticate(Some(&bearer))
            .await
            .expect("the same token works everywhere");
        assert_eq!(caller.username.as_str(), "nina");
        assert!(auth.authenticate(Some("Bearer x.y.z")).await.is_err());
    }
}

#[tokio::test]
async fn token_of_a_version_neither_current_nor_previous_is_refused() {
    let (aws, template, stack) = support::stack("retired").await;
    support::user(&aws, &stack, "pia", &[Role::Reader], &[]).await;
    let (first, first_key) = signing_key(&aws, &stack).await;
    rotate(&aws, &stack).await;
    rotate(&aws, &stack).await;
    let (previous, previous_key) = signing_key_at(&aws, &stack, "AWSPREVIOUS").await;
    assert_ne!(previous, first);
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let now = shared::dynamo::now();
    let claims = claims_for("pia", now, now + 900);

    let retired = bearer_signed(&claims, &first, &first_key);
    let (status, body) = api.call("GET", "/v1/auth/me", Some(&retired), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "a version two rotations old signs nothing any more"
    );
    let recent = bearer_signed(&claims, &previous, &previous_key);
    let (status, _) = api.call("GET", "/v1/auth/me", Some(&recent), None).await;
    assert_eq!(
        status, 200,
        "the previous version still verifies right after rotation"
    );
}

#[tokio::test]
async fn previous_version_is_refused_once_the_grace_window_has_passed() {
    let (aws, stack, api) = api("grace").await;
    let password = support::user(&aws, &stack, "rita", &[Role::Reader], &[]).await;
    let old_bearer = api.bearer("rita", &password).await;
    let (old, old_key) = signing_key(&aws, &stack).await;
    rotate(&aws, &stack).await;
    let rotated = shared::dynamo::now();
    let (current, current_key) = signing_key(&aws, &stack).await;
    let auth = Authenticator::from_env(&stack.env("packages"), &aws).expect("authenticator");

    auth.authenticate_at(Some(&old_bearer), rotated + 60)
        .await
        .expect("a token of the previous version, within its lifetime after the rotation");

    // Well past rotation + access-token lifetime, a token of the old version is
    // refused even when its own claims would pass; the current version's is not.
    let later = rotated + auth::ACCESS_TOKEN_SECS + 10 * 60;
    let claims = claims_for("rita", later - 60, later + 600);
    let late = bearer_signed(&claims, &old, &old_key);
    let refused = auth
        .authenticate_at(Some(&late), later)
        .await
        .expect_err("the previous version after its grace window");
    assert_eq!(refused.status(), 401);
    auth.authenticate_at(Some(&bearer_signed(&claims, &current, &current_key)), later)
        .await
        .expect("the current version");
}

#[tokio::test]
async fn token_claiming_a_longer_life_than_an_access_token_is_refused() {
    let (aws, stack, api) = api("lifetime").await;
    support::user(&aws, &stack, "quin", &[Role::Reader], &[]).await;
    let (kid, key) = signing_key(&aws, &stack).await;
    let now = shared::dynamo::now();
    let day_long = bearer_signed(&claims_for("quin", now, now + 24 * 3600), &kid, &key);
    let (status, _) = api.call("GET", "/v1/auth/me", Some(&day_long), None).await;
    assert_eq!(status, 401, "exp - iat beyond 15 minutes, validly signed");
    let lifetime = auth::ACCESS_TOKEN_SECS;
    let exact = bearer_signed(
        &claims_for("quin", now - 60, now - 60 + lifetime),
        &kid,
        &key,
    );
    let (status, _) = api.call("GET", "/v1/auth/me", Some(&exact), None).await;
    assert_eq!(status, 200, "exactly the access-token lifetime is fine");
}

#[tokio::test]
async fn malformed_key_id_is_refused_without_asking_secrets_manager() {
    let (aws, stack, api) = api("badkid").await;
    let password = support::user(&aws, &stack, "olga", &[Role::Reader], &[]).await;
    let bearer = api.bearer("olga", &password).await;
    let (auth, calls) = counted_authenticator(&aws, &stack);
    auth.authenticate(Some(&bearer))
        .await
        .expect("a real token");
    let before = calls.made();
    let (_, key) = signing_key(&aws, &stack).await;
    let now = shared::dynamo::now();
    let long = "a".repeat(65);
    for kid in [
        "v1",
        "not-a-version-id",
        long.as_str(),
        "../../etc/passwd",
        "",
    ] {
        let forged = bearer_signed(&claims_for("olga", now, now + 900), kid, &key);
        let refused = auth.authenticate(Some(&forged)).await.expect_err(kid);
        assert_eq!(refused.status(), 401, "{kid}");
    }
    assert_eq!(
        calls.made(),
        before,
        "no Secrets Manager call for a malformed kid"
    );
}

#[tokio::test]
async fn unknown_key_id_is_a_401_even_when_secrets_manager_fails() {
    let (aws, stack, api) = api("kid503").await;
    let password = support::user(&aws, &stack, "uma", &[Role::Reader], &[]).await;
    let bearer = api.bearer("uma", &password).await;
    let (auth, calls) = counted_authenticator(&aws, &stack);
    auth.authenticate(Some(&bearer))
        .await
        .expect("a real token");
    let (_, key) = signing_key(&aws, &stack).await;
    let now = shared::dynamo::now();
    let unknown = bearer_signed(
        &claims_for("uma", now, now + 900),
        &uuid::Uuid::new_v4().to_string(),
        &key,
    );
    calls.fail(true);
    for _ in 0..3 {
        let refused = auth
            .authenticate(Some(&unknown))
            .await
            .expect_err("unknown kid");
        assert_eq!(refused.status(), 401, "never a 503 for a key id nobody has");
    }
    auth.authenticate(Some(&bearer))
        .await
        .expect("a real token still verifies from the cached key");
}

#[tokio::test]
async fn unknown_well_formed_key_id_is_looked_up_once_at_most() {
    let (aws, stack, api) = api("kidonce").await;
    let password = support::user(&aws, &stack, "vera", &[Role::Reader], &[]).await;
    let bearer = api.bearer("vera", &password).await;
    let (auth, calls) = counted_authenticator(&aws, &stack);
    auth.authenticate(Some(&bearer))
        .await
        .expect("a real token");
    let (_, key) = signing_key(&aws, &stack).await;
    let now = shared::dynamo::now();
    let unknown = bearer_signed(
        &claims_for("vera", now, now + 900),
        &uuid::Uuid::new_v4().to_string(),
        &key,
    );
    let refused = auth
        .authenticate(Some(&unknown))
        .await
        .expect_err("unknown");
    assert_eq!(refused.status(), 401);
    let after_first = calls.made();
    for _ in 0..5 {
        let refused = auth
            .authenticate(Some(&unknown))
            .await
            .expect_err("unknown");
        assert_eq!(refused.status(), 401);
    }
    assert_eq!(calls.made(), after_first, "remembered as unknown");
}

async fn guess_concurrently(api: &Api, username: &str, n: usize) -> Vec<u16> {
    let attempts = (0..n).map(|_| {
        let api = api.clone();
        let body = json!({"username": username, "password": "guess guess guess"});
        tokio::spawn(async move { api.call("POST", "/v1/auth/login", None, Some(body)).await.0 })
    });
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

#[tokio::test]
async fn a_hundred_concurrent_wrong_guesses_evaluate_at_most_five_passwords() {
    let (aws, stack, api) = api("lockrace").await;
    let password = support::user(&aws, &stack, "sam", &[Role::Reader], &[]).await;
    // A 401 is a password evaluated; a 429 is an attempt refused before any.
    for username in ["sam", "nobody-at-all"] {
        let statuses = guess_concurrently(&api, username, 100).await;
        let evaluated = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert!(
            evaluated <= 5 && evaluated + refused == 100,
            "{username}: {evaluated} evaluated, {refused} refused: {statuses:?}"
        );
    }
    let response = api
        .http
        .post(format!("{}/v1/auth/login", api.base))
        .json(&json!({"username": "sam", "password": password}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status().as_u16(),
        429,
        "the right password waits too"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (800..=900).contains(&retry_after),
        "until the window that just opened closes: {retry_after}"
    );
}

#[tokio::test]
async fn a_correct_login_clears_the_failure_count() {
    let (aws, stack, api) = api("lockclear").await;
    let password = support::user(&aws, &stack, "theo", &[Role::Reader], &[]).await;
    let wrong = json!({"username": "theo", "password": "guess guess guess"});
    for _ in 0..4 {
        let (status, _) = api
            .call("POST", "/v1/auth/login", None, Some(wrong.clone()))
            .await;
        assert_eq!(status, 401);
    }
    api.login("theo", &password).await;
    for _ in 0..5 {
        let (status, _) = api
            .call("POST", "/v1/auth/login", None, Some(wrong.clone()))
            .await;
        assert_eq!(status, 401, "the count started again");
    }
    let (status, _) = api.call("POST", "/v1/auth/login", None, Some(wrong)).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn disabling_a_user_ends_their_refresh_families_for_good() {
    let (aws, stack, api) = api("disable").await;
    let admin = support::user(&aws, &stack, "admin2", &[Role::Admin], &[]).await;
    let password = support::user(&aws, &stack, "tess", &[Role::Reader], &[]).await;
    let admin_bearer = api.bearer("admin2", &admin).await;
    let pair = api.login("tess", &password).await;
    let refresh = json!({"refresh_token": pair["refresh_token"]});
    let set_disabled = |disabled: bool| {
        let api = api.clone();
        let admin_bearer = admin_bearer.clone();
        async move {
            let (status, body) = api
                .call(
                    "PATCH",
                    "/v1/users/tess",
                    Some(&admin_bearer),
                    Some(json!({"disabled": disabled})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    set_disabled(true).await;
    let (status, _) = api
        .call("POST", "/v1/auth/refresh", None, Some(refresh.clone()))
        .await;
    assert_eq!(status, 401, "a disabled user refreshes nothing");
    set_disabled(false).await;
    let (status, _) = api
        .call("POST", "/v1/auth/refresh", None, Some(refresh))
        .await;
    assert_eq!(
        status, 401,
        "re-enabling does not bring the old sessions back"
    );

    let fresh = api.login("tess", &password).await;
    let (status, _) = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": fresh["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 200, "a new session after re-enabling works");
}
