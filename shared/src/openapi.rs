//! The OpenAPI document of the whole API.
//!
//! Each function describes its own routes (`<function>::openapi()`); the dev
//! stack composes them with [`base`] into `openapi.json` at the repository root,
//! and a test fails when that file drifts from the code. Every function serves
//! the committed file, so all of them answer `/v1/openapi.json` identically.

use axum::response::{IntoResponse, Response};
use http::header;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The committed document, generated from the code (see the module docs).
pub const DOCUMENT: &str = include_str!("../../openapi.json");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cloudkeep API",
        description = "Packages (presigned multipart uploads, validation, audited downloads) and AWS inventory (scans, costs, findings, remediation), behind one auth service.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(crate::health::handler, handler),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, crate::error::FieldProblem)),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = [])),
    tags(
        (name = "service", description = "Health and this document"),
        (name = "auth", description = "Users, tokens and API keys"),
        (name = "packages", description = "Package uploads, versions and downloads"),
        (name = "inventory", description = "Accounts, scans, resources and findings"),
        (name = "actions", description = "Remediation actions and their audit log"),
    ),
)]
struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <access token>` from /v1/auth/login",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Authorization: ApiKey <key>` with a key from /v1/auth/api-keys",
            ))),
        );
    }
}

/// The shared part of the document: info, security schemes, error schemas,
/// and the service routes every function serves.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = crate::health::VERSION.to_owned();
    doc
}

/// Serves the OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "service",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
)]
pub async fn handler() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}
