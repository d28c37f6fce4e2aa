//! What the validator may do to a version, and nothing more: read it, count
//! an attempt at validating it, and record its verdict once. Over the
//! packages table (`shared::packages`), with the AWS actions it calls.

use aws_sdk_dynamodb::types::ReturnValue;
use shared::domain::{PackageName, Version};
use shared::dynamo::{self, StoreError, n, s};
use shared::packages::{PackagesStore, Status, VersionRecord, key, package_pk, version_sk};

/// The DynamoDB actions [`PackagesVerdicts`] calls: `GetItem` (the version),
/// `UpdateItem` (the attempt count, the verdict, the package's latest
/// version) and `Query` (a package's versions, to recompute its latest).
pub const IAM_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"];

/// The verdict on one version, with its report (JSON, at most
/// `validate::MAX_REPORT_BYTES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Published { sha256: String, report: String },
    Rejected { report: String },
}

/// Whether a verdict was recorded, or the version was no longer `validating`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Recorded,
    NotValidating,
}

/// What the validator may do to a version.
pub trait VersionVerdicts {
    /// The version; `None` when there is none.
    fn version(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> impl Future<Output = Result<Option<VersionRecord>, StoreError>> + Send;

    /// Counts one more attempt at validating a version still `validating`, in
    /// one conditional update (concurrent deliveries each count); the number
    /// of this attempt (1 for the first), or `None` when the version is not
    /// `validating` (absent or decided).
    fn count_attempt(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> impl Future<Output = Result<Option<u32>, StoreError>> + Send;

    /// `validating → published | rejected`, conditional on `validating`: a
    /// version is decided once, whoever races to decide it.
    fn record_verdict(
        &self,
        name: &PackageName,
        version: &Version,
        verdict: &Verdict,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// [`VersionVerdicts`] over the packages table.
#[derive(Clone, Debug)]
pub struct PackagesVerdicts {
    table: dynamo::Table,
    packages: PackagesStore,
}

impl PackagesVerdicts {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        let table = dynamo::Table::new(client, table);
        Self {
            packages: PackagesStore::new(table.client.clone(), table.name.clone()),
            table,
        }
    }

    fn update(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(key(package_pk(name), version_sk(version))))
            .condition_expression("#status = :validating")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":validating", s(Status::Validating.as_str()))
    }
}

impl VersionVerdicts for PackagesVerdicts {
    async fn version(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<VersionRecord>, StoreError> {
        self.packages.get_version(name, version).await
    }

    async fn count_attempt(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<u32>, StoreError> {
        let result = self
            .update(name, version)
            .update_expression("ADD #attempts :one")
            .expression_attribute_names("#attempts", "validation_attempts")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attempts = out
                    .attributes()
                    .and_then(|a| dynamo::get_n(a, "validation_attempts"))
                    .and_then(|count| u32::try_from(count).ok())
                    .ok_or_else(|| {
                        StoreError::corrupt(
                            "UpdateItem",
                            format!(
                                "{}/{}: no validation_attempts after ADD",
                                package_pk(name),
                                version_sk(version)
                            ),
                        )
                    })?;
                Ok(Some(attempts))
            }
            Err(e) if dynamo::condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    async fn record_verdict(
        &self,
        name: &PackageName,
        version: &Version,
        verdict: &Verdict,
    ) -> Result<Recorded, StoreError> {
        let request = self
            .update(name, version)
            .expression_attribute_names("#validation", "validation");
        let request = match verdict {
            Verdict::Published { sha256, report } => request
                .update_expression(
                    "SET #status = :to, #sha256 = :sha, #published_at = :at, #validation = :report",
                )
                .expression_attribute_names("#sha256", "sha256")
                .expression_attribute_names("#published_at", "published_at")
                .expression_attribute_values(":to", s(Status::Published.as_str()))
                .expression_attribute_values(":sha", s(sha256))
                .expression_attribute_values(":at", s(dynamo::rfc3339(dynamo::now())))
                .expression_attribute_values(":report", s(report)),
            Verdict::Rejected { report } => request
                .update_expression("SET #status = :to, #validation = :report")
                .expression_attribute_values(":to", s(Status::Rejected.as_str()))
                .expression_attribute_values(":report", s(report)),
        };
        match request.send().await {
            Ok(_) => {}
            Err(e) if dynamo::condition_failed(&e) => return Ok(Recorded::NotValidating),
            Err(e) => return Err(StoreError::sdk("UpdateItem", &e)),
        }
        if matches!(verdict, Verdict::Published { .. }) {
            self.packages.refresh_latest(name).await?;
        }
        Ok(Recorded::Recorded)
    }
}
