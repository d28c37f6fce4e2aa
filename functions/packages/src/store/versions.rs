//! A package's versions: read them, and yank a published one.

use std::future::Future;

use shared::domain::{PackageName, Version};
use shared::dynamo::{self, StoreError, s};
use shared::packages::{PackagesStore, Status, VersionRecord};

use super::Store;

/// Reading versions.
pub trait VersionReads {
    const IAM_ACTIONS: &'static [&'static str];

    /// One version; a lapsed reservation is absent.
    fn version(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> impl Future<Output = Result<Option<VersionRecord>, StoreError>> + Send;

    /// Every live version of a package, newest first.
    fn versions(
        &self,
        name: &PackageName,
    ) -> impl Future<Output = Result<Vec<VersionRecord>, StoreError>> + Send;
}

impl VersionReads for Store {
    /// `GetItem` (a version), `Query` (a package's versions).
    const IAM_ACTIONS: &'static [&'static str] = &["dynamodb:GetItem", "dynamodb:Query"];

    async fn version(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<VersionRecord>, StoreError> {
        self.shared().get_version(name, version).await
    }

    async fn versions(&self, name: &PackageName) -> Result<Vec<VersionRecord>, StoreError> {
        self.shared().versions(name).await
    }
}

/// Yanking a version.
pub trait Yanks {
    const IAM_ACTIONS: &'static [&'static str];

    /// `published → yanked`, with the reason, conditional on `published`;
    /// the package's `latest_version` is recomputed.
    fn yank(
        &self,
        name: &PackageName,
        version: &Version,
        reason: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl Yanks for Store {
    /// `UpdateItem` (the version, the package's latest), `Query` (its versions).
    const IAM_ACTIONS: &'static [&'static str] = PackagesStore::IAM_ACTIONS;

    async fn yank(
        &self,
        name: &PackageName,
        version: &Version,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = dynamo::rfc3339(dynamo::now());
        let yanked = self
            .shared()
            .transition_version(
                name,
                version,
                Status::Published,
                Status::Yanked,
                None,
                |u| {
                    u.update_expression(
                        "SET #status = :to, #yanked_reason = :reason, #yanked_at = :at",
                    )
                    .expression_attribute_names("#yanked_reason", "yanked_reason")
                    .expression_attribute_names("#yanked_at", "yanked_at")
                    .expression_attribute_values(":reason", s(reason))
                    .expression_attribute_values(":at", s(&now))
                },
            )
            .await?;
        if yanked {
            self.shared().refresh_latest(name).await?;
        }
        Ok(yanked)
    }
}
