//! The packages table as this function uses it, one narrow trait per access
//! pattern (what a handler may do, and the AWS actions that takes):
//!
//! - [`PackageCatalog`]: one package, or a bounded page of a search;
//! - [`VersionReads`]: one version, or a package's versions;
//! - [`Reservations`]: reserve a version for an upload, release it, or move
//!   it to `validating` once its upload completed;
//! - [`UploadSessions`]: an upload session and its status moves;
//! - [`Yanks`]: `published → yanked`;
//! - [`DownloadAudit`]: record a download decision, page through them.
//!
//! [`Store`] implements all of them over DynamoDB; what the validator shares
//! (keys, the version item, verdicts) is `shared::packages`.

use shared::dynamo::{self, StoreError};
use shared::packages::PackagesStore;

mod audit;
mod catalog;
mod reservations;
mod sessions;
mod versions;

pub use audit::{DownloadAudit, DownloadRecord};
pub use catalog::{CatalogPage, MAX_EVALUATED, Package, PackageCatalog, Search};
pub use reservations::{NewUpload, Reservation, Reservations};
pub use sessions::{CLAIM_SECS, Claim, SessionStatus, UploadSession, UploadSessions};
pub use versions::{VersionReads, Yanks};

/// The packages table over DynamoDB.
#[derive(Clone, Debug)]
pub struct Store {
    shared: PackagesStore,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            shared: PackagesStore::new(client, table),
        }
    }

    pub fn table(&self) -> &str {
        self.shared.table()
    }

    /// The version reads and moves shared with the validator.
    pub fn shared(&self) -> &PackagesStore {
        &self.shared
    }

    fn dynamo(&self) -> &dynamo::Table {
        self.shared.dynamo()
    }
}

/// A request that could not be built: our bug.
fn unbuildable(operation: &'static str, err: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(operation, format!("the request does not build: {err}"))
}
