//! The HTTP edge every function shares: request ids, body limits, JSON and
//! path extraction that answer bad input with `API.md`'s 4xx bodies, and the
//! fallbacks for unknown routes and methods.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::request::Parts;
use http::{HeaderValue, header};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{ApiError, FieldProblem};
use crate::health::{self, Health};
use crate::{openapi, request_id};

/// Largest accepted request body (`API.md`: bodies over 1 MiB are `413`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps a function's own routes into the service it runs as: the shared
/// `/v1/health` and `/v1/openapi.json` routes, JSON 404/405 fallbacks, the
/// body limit, and the request-id/tracing edge.
pub fn service(routes: Router, health: Health) -> Router {
    routes
        .merge(service_routes(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(edge))
}

fn service_routes(health: Health) -> Router {
    Router::new()
        .route("/v1/health", get(health::handler).with_state(health))
        .route("/v1/openapi.json", get(openapi::handler))
}

/// Gives each request its id and span, refuses oversized declared bodies
/// before reading them, and stamps `x-request-id` on every response.
async fn edge(req: Request, next: Next) -> Response {
    let id = request_id::for_request(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        caller = tracing::field::Empty,
    );
    let declared_too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES as u64);
    let header_value = HeaderValue::from_str(&id).ok();
    let mut response = request_id::scope(
        id,
        async move {
            if declared_too_large {
                return ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
                .into_response();
            }
            let response = next.run(req).await;
            tracing::info!(status = response.status().as_u16(), "served");
            response
        }
        .instrument(span),
    )
    .await;
    if let Some(value) = header_value {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::not_found("no such route for this method")
}

/// A JSON body. Malformed JSON is `400`; a well-formed body of the wrong shape
/// (wrong type, missing or unknown field, a value its newtype refuses) is `422`
/// naming the field; an oversized body is `413`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Parses a JSON document, mapping failures to `API.md`'s 400/422.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body must be a JSON document",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    match parsed {
        Ok(value) => match de.end() {
            Ok(()) => Ok(value),
            Err(trailing) => Err(ApiError::bad_request(format!(
                "the request body is not valid JSON: {trailing}"
            ))),
        },
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." { "body".to_owned() } else { path };
                    Err(ApiError::Validation(vec![FieldProblem::new(
                        field,
                        strip_position(&inner),
                    )]))
                }
                _ => Err(ApiError::bad_request(format!(
                    "the request body is not valid JSON: {inner}"
                ))),
            }
        }
    }
}

/// serde's data errors end in " at line L column C", which means nothing to a
/// client naming fields; keep the sentence.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }
    } else {
        ApiError::bad_request("the request body could not be read")
    }
}

/// Path parameters, into a struct with one named field per parameter; a
/// value its newtype refuses is `422` naming the parameter.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // axum's own path deserializer loses the parameter's name when a
        // newtype refuses its value; deserialising the (decoded) pairs as a
        // map through serde_path_to_error keeps it.
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        let pairs: Vec<(String, String)> = raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let map =
            serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(pairs.into_iter());
        serde_path_to_error::deserialize(map)
            .map(Path)
            .map_err(|err| {
                let field = err.path().to_string();
                ApiError::invalid(field, err.into_inner())
            })
    }
}

/// Query parameters; unknown or malformed ones are `400`/`422`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|rejection: QueryRejection| match rejection {
                QueryRejection::FailedToDeserializeQueryString(err) => ApiError::invalid(
                    "query",
                    err.body_text()
                        .trim_start_matches("Failed to deserialize query string: "),
                ),
                other => ApiError::bad_request(other.body_text()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Upload {
        size: u64,
        #[serde(default)]
        description: Option<String>,
    }

    fn problem(err: ApiError) -> (String, String) {
        match err {
            ApiError::Validation(mut problems) => {
                let p = problems.remove(0);
                (p.field, p.problem)
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let err = parse_json::<Upload>(br#"{"size": 1,"#).unwrap_err();
        assert_eq!(err.code(), "bad_request");
    }

    #[test]
    fn empty_body_is_a_bad_request() {
        assert_eq!(
            parse_json::<Upload>(b" \n").unwrap_err().code(),
            "bad_request"
        );
    }

    #[test]
    fn wrong_type_names_the_field() {
        let (field, problem) = problem(parse_json::<Upload>(br#"{"size": "big"}"#).unwrap_err());
        assert_eq!(field, "size");
        assert!(problem.contains("invalid type"), "{problem}");
        assert!(!problem.contains("line"), "{problem}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let (field, problem) =
            problem(parse_json::<Upload>(br#"{"size": 1, "sise": 2}"#).unwrap_err());
        assert_eq!(field, "sise");
        assert!(problem.contains("unknown field `sise`"), "{problem}");
    }

    #[test]
    fn missing_field_is_refused() {
        let (_, problem) = problem(parse_json::<Upload>(br#"{}"#).unwrap_err());
        assert!(problem.contains("missing field `size`"), "{problem}");
    }

    #[test]
    fn trailing_garbage_after_the_document_is_a_bad_request() {
        assert_eq!(
            parse_json::<Upload>(br#"{"size": 1} x"#)
                .unwrap_err()
                .code(),
            "bad_request"
        );
    }
}
