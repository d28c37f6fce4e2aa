//! The local stack: the emulator bootstrapped from `template.yaml`, a demo
//! estate, a dev server that serves every route of the template by composing
//! the functions' routers, and the relays that deliver S3 and DynamoDB-stream
//! events to the event functions the way AWS would.

use std::path::PathBuf;

pub mod bootstrap;
pub mod gateway;
pub mod relay;
pub mod seed;
pub mod template;

/// The repository root (this crate lives in `infra/devstack`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The whole API's OpenAPI document, composed from every function's routes.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = shared::openapi::base();
    for part in [
        auth::openapi(),
        packages::openapi(),
        inventory::openapi(),
        actions::openapi(),
        web::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

/// `openapi.json` as committed: pretty-printed, with a final newline.
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi_document()).unwrap_or_else(|e| {
        // Serialising a document built from our own types cannot fail; say so loudly if it does.
        panic!("the OpenAPI document does not serialise: {e}")
    });
    text.push('\n');
    text
}
