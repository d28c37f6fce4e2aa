//! The request id every response and log line carries.
//!
//! API Gateway's request id when running behind it (so a client's report can be
//! found in the access log), a fresh UUID otherwise. It lives in a task-local so
//! an error rendered deep in a handler still knows it.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The current request's id, or `"unknown"` outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The id for a request: API Gateway's when present, else a new UUID.
pub fn for_request<B>(req: &http::Request<B>) -> String {
    use lambda_http::request::RequestContext;
    match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .filter(|id| !id.is_empty())
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
