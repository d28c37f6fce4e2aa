//! Shared by the integration tests: the emulator `make test` started, a fresh
//! stack per test (unique names, so tests run in parallel on one emulator),
//! and the dev server's gateway on an ephemeral port.

#![allow(dead_code)]

use aws_config::SdkConfig;
use devstack::bootstrap::{self, Settings, Stack};
use devstack::template::Template;

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
