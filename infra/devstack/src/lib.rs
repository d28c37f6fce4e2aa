//! The local stack: the emulator bootstrapped from `template.yaml`, a demo
//! estate, a dev server that serves every route of the template by composing
//! the functions' routers, and the relays that deliver S3 and DynamoDB-stream
//! events to the event functions the way AWS would.

use std::path::PathBuf;

pub mod bootstrap;
pub mod template;

/// The repository root (this crate lives in `infra/devstack`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
