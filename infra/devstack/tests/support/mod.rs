//! Shared by the integration tests: the emulator `make test` started, a fresh
//! stack per test (unique names, so tests run in parallel on one emulator),
//! and the dev server's gateway on an ephemeral port.

#![allow(dead_code)]

use aws_config::SdkConfig;
use devstack::bootstrap::{self, Settings, Stack};
use devstack::template::Template;

pub mod advisor;
pub mod browser;
pub mod runtime_api;

/// The SDK configuration for the emulator started by `make test`.
pub async fn emulator() -> SdkConfig {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if url.starts_with("http://127.") => shared::aws::load().await,
        _ => panic!("integration tests need the emulator: run them with `make test`"),
    }
}

/// A unique stack name: lower-case, short enough for bucket names.
pub fn unique(hint: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{hint}-{}", &id[..8])
}

/// A freshly bootstrapped stack of the repository's template.
pub async fn stack(hint: &str) -> (SdkConfig, Template, Stack) {
    let aws = emulator().await;
    let template = Template::repo().expect("template.yaml parses");
    let stack = bootstrap::bootstrap(&aws, &template, &Settings::new(unique(hint)))
        .await
        .expect("bootstrap succeeds");
    (aws, template, stack)
}

/// Serves the stack's gateway (every template route) on 127.0.0.1:<ephemeral>.
pub async fn serve(aws: &SdkConfig, template: &Template, stack: &Stack) -> String {
    let routers = devstack::gateway::function_routers(stack, aws).expect("function states build");
    let app = devstack::gateway::gateway(&template.routes(), &routers).expect("gateway builds");
    serve_router(app).await
}

pub async fn serve_router(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

/// A user made directly in the stack's users table, with a known password.
pub async fn user(
    aws: &SdkConfig,
    stack: &Stack,
    name: &str,
    roles: &[shared::auth::Role],
    groups: &[&str],
) -> String {
    let users = users_store(aws, stack);
    let password = format!("{name}-password-123");
    let user = shared::users::User {
        username: shared::domain::Username::parse(name).expect("valid username"),
        email: format!("{name}@example.com"),
        password_hash: shared::auth::password::hash(&password).expect("hash"),
        roles: roles.to_vec(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        disabled: false,
        created_at: "2026-11-26T00:00:00Z".into(),
    };
    users.put_user(&user).await.expect("user stored");
    password
}

pub fn users_store(aws: &SdkConfig, stack: &Stack) -> shared::users::UsersStore {
    shared::users::UsersStore::new(
        shared::aws::dynamodb(aws),
        stack.physical("UsersTable").expect("users table"),
    )
}

/// A small JSON client for the dev server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client");
        Self { base, http }
    }

    /// `(status, body)`; `auth` is a whole `Authorization` header value.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Logs in; panics unless it succeeds. Returns the token pair's body.
    pub async fn login(&self, username: &str, password: &str) -> serde_json::Value {
        let (status, body) = self
            .call(
                "POST",
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login of {username}: {body}");
        body
    }

    /// Starts a scan (`POST /v1/scans` with `body`) as `admin` and waits,
    /// as `reader`, until it has ended and the summary counts it (its total
    /// is written just after the last job ends the scan); answers the scan.
    pub async fn scan(
        &self,
        admin: &str,
        reader: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let (status, queued) = self
            .call("POST", "/v1/scans", Some(admin), Some(body))
            .await;
        assert_eq!(status, 202, "{queued}");
        let scan_id = queued["scan_id"].as_str().expect("id").to_owned();
        let started = std::time::Instant::now();
        loop {
            let (status, scan) = self
                .call("GET", &format!("/v1/scans/{scan_id}"), Some(reader), None)
                .await;
            assert_eq!(status, 200, "{scan}");
            let (_, summary) = self.call("GET", "/v1/summary", Some(reader), None).await;
            if scan["finished_at"].is_string()
                && summary["last_scan"]["scan_id"] == scan_id.as_str()
            {
                return scan;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "scan not done: {scan}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// A `Bearer` header for a fresh login.
    pub async fn bearer(&self, username: &str, password: &str) -> String {
        let pair = self.login(username, password).await;
        format!(
            "Bearer {}",
            pair["access_token"].as_str().expect("access token")
        )
    }
}

/// A fresh account id, so each test scans an estate of its own (the
/// emulator keeps every account id apart).
pub fn account_id() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 900_000_000_000 + 100_000_000_000;
    n.to_string()
}

/// The scanner's role in `account`.
pub fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/cloudkeep-readonly")
}

/// Credentials in `account` (through its role), in `region`: for seeding it.
pub async fn in_account(aws: &SdkConfig, account: &str, region: &str) -> SdkConfig {
    shared::aws::assume_role(aws, &role(account), Some("ext-123"), "seed")
        .await
        .expect("assume role")
        .to_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build()
}

/// An unattached volume of `gib` in `account`'s us-east-1a: a priced finding once scanned.
pub async fn unattached_volume(aws: &SdkConfig, account: &str, gib: i32) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&in_account(aws, account, "us-east-1").await);
    ec2.create_volume()
        .availability_zone("us-east-1a")
        .size(gib)
        .send()
        .await
        .expect("volume")
        .volume_id()
        .expect("id")
        .to_owned()
}

/// A valid package of `name@version` with a stored entry of `filler` bytes
/// (stored, so that the ZIP is as large as that), written to a file.
pub fn package_file(name: &str, version: &str, filler: usize) -> std::path::PathBuf {
    use validator::testzip::{Options, Spec, build, manifest};
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..filler)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let zip = build(
        &[
            Spec::deflated("package.json", &manifest(name, version)),
            Spec::stored("README.md", b"# from the browser"),
            Spec::stored("data.bin", &noise),
        ],
        &Options::default(),
    );
    let path = std::env::temp_dir().join(format!("{}-{name}-{version}.zip", uuid::Uuid::new_v4()));
    std::fs::write(&path, zip).expect("package written");
    path
}
