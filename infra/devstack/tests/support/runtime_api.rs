//! An emulator of the Lambda Runtime API (`/2018-06-01/runtime/...`), so the
//! real function binaries run as they do in Lambda: they poll `next`, get an
//! event, and post a `response` or an `error`; a failed cold start posts to
//! `init/error`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, Notify};

/// What a function posted back for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(serde_json::Value),
    Error {
        error_type: String,
        body: serde_json::Value,
    },
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(String, Bytes)>,
    outcomes: Vec<(String, Outcome)>,
    init_errors: Vec<serde_json::Value>,
    next_calls: usize,
}

#[derive(Clone, Default)]
pub struct RuntimeApi {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl RuntimeApi {
    /// Serves the API on 127.0.0.1:<ephemeral>; returns it and `host:port`.
    pub async fn start() -> (Self, String) {
        let api = Self::default();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve runtime api") });
        (api, addr)
    }

    /// Queues an invocation; returns its request id.
    pub async fn invoke(&self, event: impl Into<Bytes>) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.inner
            .lock()
            .await
            .queue
            .push_back((id.clone(), event.into()));
        self.changed.notify_waiters();
        id
    }

    /// Waits for the outcome of invocation `id`.
    pub async fn outcome(&self, id: &str, within: Duration) -> Option<Outcome> {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if let Some((_, o)) = self
                    .inner
                    .lock()
                    .await
                    .outcomes
                    .iter()
                    .find(|(i, _)| i == id)
                {
                    return o.clone();
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, wait).await.ok()
    }

    /// Waits until the function has called `next` `count` times in all.
    pub async fn next_calls(&self, count: usize, within: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if self.inner.lock().await.next_calls >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    pub async fn init_errors(&self) -> Vec<serde_json::Value> {
        self.inner.lock().await.init_errors.clone()
    }
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    {
        api.inner.lock().await.next_calls += 1;
        api.changed.notify_waiters();
    }
    loop {
        let notified = api.changed.notified();
        if let Some((id, event)) = api.inner.lock().await.queue.pop_front() {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                id.parse().expect("uuid header"),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().expect("number header"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:harness"
                    .parse()
                    .expect("arn header"),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000"
                    .parse()
                    .expect("trace"),
            );
            return (StatusCode::OK, headers, event).into_response();
        }
        notified.await;
    }
}

fn json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    api.inner
        .lock()
        .await
        .outcomes
        .push((id, Outcome::Response(json(&body))));
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    api.inner.lock().await.outcomes.push((
        id,
        Outcome::Error {
            error_type,
            body: json(&body),
        },
    ));
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    api.inner.lock().await.init_errors.push(json(&body));
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}
