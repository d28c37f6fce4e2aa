//! The one error type at the HTTP edge and the error body of `API.md`.
//!
//! Domain code returns its own `thiserror` enums; handlers convert them into
//! [`ApiError`], which picks the status and stable `code`. Internal failures
//! are logged here with their source and answered without any detail.

use std::fmt;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// Where the problem is: a body field (`size`, `parts[2].etag`), a path or query parameter.
    pub field: String,
    /// What is wrong with it, in words.
    pub problem: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            problem: problem.to_string(),
        }
    }
}

/// Every way a request can fail, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the request is invalid")]
    Validation(Vec<FieldProblem>),
    #[error("missing, invalid or expired credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// An AWS dependency failed; the request is safe to retry.
    #[error("a dependency is unavailable")]
    Upstream(#[source] Source),
    /// A bug or an impossible state. Logged, never described to the client.
    #[error("internal error")]
    Internal(#[source] Source),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A single-field validation failure.
    pub fn invalid(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self::Validation(vec![FieldProblem::new(field, problem)])
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn upstream(source: impl Into<Source>) -> Self {
        Self::Upstream(source.into())
    }

    pub fn internal(source: impl Into<Source>) -> Self {
        Self::Internal(source.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of `API.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Validation(_) => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Upstream(_) => "upstream_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The body this error renders as, for the request being served.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Self::Upstream(_) => {
                "A service this request depends on is unavailable; it is safe to retry.".to_owned()
            }
            Self::Internal(_) => {
                "Something went wrong on our side. Quote the request id if you report it."
                    .to_owned()
            }
            other => other.to_string(),
        };
        let details = match self {
            Self::Validation(problems) => Some(problems.clone()),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                details,
            },
            request_id: request_id::current(),
        }
    }
}

/// `{"error": {"code", "message", "details"?}, "request_id"}`: every non-2xx body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code: `bad_request`, `validation_failed`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `payload_too_large`, `rate_limited`, `upstream_unavailable`, `internal`.
    pub code: String,
    /// A sentence for humans; never contains internals.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldProblem>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Upstream(source) => {
                tracing::error!(error = %chain(source.as_ref()), "dependency failed")
            }
            Self::Internal(source) => {
                tracing::error!(error = %chain(source.as_ref()), "internal error")
            }
            other => tracing::info!(
                status = other.status().as_u16(),
                code = other.code(),
                "request refused"
            ),
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// The error and all its sources, `: `-separated, for logs.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        out.push_str(": ");
        out.push_str(&source.to_string());
        next = source.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(err: ApiError) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = request_id::scope("req-1".into(), async { err.into_response() }).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_error_body_never_carries_its_source() {
        let secret_detail = "dispatch failure: arn:aws:dynamodb:us-east-1:123456789012:table/users";
        let (status, _, body) = render(ApiError::internal(secret_detail)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["request_id"], "req-1");
        assert!(!body.to_string().contains("arn:aws"), "{body}");
    }

    #[tokio::test]
    async fn upstream_failure_is_a_retryable_503_without_detail() {
        let (status, _, body) = render(ApiError::upstream("connection refused 127.0.0.1")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "upstream_unavailable");
        assert!(!body.to_string().contains("127.0.0.1"));
    }

    #[tokio::test]
    async fn validation_failure_lists_each_field() {
        let err = ApiError::Validation(vec![
            FieldProblem::new("size", "must be at least 1 byte"),
            FieldProblem::new("part_size", "must be at least 5 MiB"),
        ]);
        let (status, _, body) = render(err).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["details"][1]["field"], "part_size");
    }

    #[tokio::test]
    async fn rate_limited_carries_retry_after() {
        let (status, headers, body) = render(ApiError::RateLimited {
            retry_after_secs: 42,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "42");
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(body["error"].get("details").is_none());
    }
}
