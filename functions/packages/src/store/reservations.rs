//! A version reserved for one upload: written once, in one transaction with
//! its package, freed again if the upload is aborted or lapses.

use std::future::Future;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use shared::domain::{PackageName, UploadId, Username, Version};
use shared::dynamo::{self, StoreError, b, list, n, s};
use shared::packages::{META_SK, Status, VersionItem, encode, key, package_pk, version_sk};

use super::catalog::{PACKAGES_GSI_PK, PackageItem};
use super::{PackageCatalog, Store, VersionReads, unbuildable};

/// The fields of a new upload that its reservation records.
#[derive(Debug)]
pub struct NewUpload<'a> {
    pub name: &'a PackageName,
    pub version: &'a Version,
    pub caller: &'a Username,
    pub caller_is_admin: bool,
    pub upload_id: &'a UploadId,
    pub size: u64,
    pub sha256: Option<&'a str>,
    pub description: Option<&'a str>,
    pub sensitive: Option<bool>,
    pub groups: Option<&'a [String]>,
    pub now: i64,
    pub expires_at: i64,
}

/// How a reservation attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    Reserved,
    /// The version exists (in any state, yanked included), or is reserved by a live upload.
    VersionTaken,
    /// The package belongs to someone else.
    NotOwner,
}

/// Reserving versions for uploads.
pub trait Reservations {
    const IAM_ACTIONS: &'static [&'static str];

    /// Reserves `name@version` for an upload, creating the package (owned by
    /// the caller) on its first upload. One transaction: the version must
    /// not exist (a lapsed reservation may be taken over), and the package
    /// must be new or the caller's (or the caller an admin). Never races two
    /// winners.
    fn reserve_version(
        &self,
        new: &NewUpload<'_>,
    ) -> impl Future<Output = Result<Reservation, StoreError>> + Send;

    /// Deletes an `uploading` reservation of `upload_id` (abort, or an upload
    /// that could not start), freeing the version number.
    fn release_reservation(
        &self,
        name: &PackageName,
        version: &Version,
        upload_id: &UploadId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `uploading → validating` for the upload `upload_id`; the reservation's
    /// TTL is removed: from here on the version is permanent.
    fn mark_validating(
        &self,
        name: &PackageName,
        version: &Version,
        upload_id: &UploadId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl Reservations for Store {
    /// `GetItem` (the package's owner; after a lost race, which condition
    /// failed), `PutItem` and `UpdateItem` (the transaction's version and
    /// package), `DeleteItem` (a release), `UpdateItem` (`validating`).
    const IAM_ACTIONS: &'static [&'static str] = &[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ];

    async fn reserve_version(&self, new: &NewUpload<'_>) -> Result<Reservation, StoreError> {
        let existing = self.package(new.name).await?;
        if let Some(pkg) = &existing {
            if &pkg.owner != new.caller && !new.caller_is_admin {
                return Ok(Reservation::NotOwner);
            }
        }
        let now_text = dynamo::rfc3339(new.now);
        let version_item = VersionItem {
            pk: package_pk(new.name),
            sk: version_sk(new.version),
            name: new.name.clone(),
            version: new.version.clone(),
            status: Status::Uploading,
            size: new.size,
            sha256: new.sha256.map(str::to_owned),
            upload_id: new.upload_id.to_string(),
            uploaded_by: new.caller.clone(),
            created_at: now_text.clone(),
            published_at: None,
            yanked_reason: None,
            yanked_at: None,
            validation: None,
            ttl: Some(new.expires_at),
        };
        let version = Put::builder()
            .table_name(self.table())
            .set_item(Some(encode("TransactWriteItems", &version_item)?))
            // A version never seen, or a reservation whose upload lapsed.
            .condition_expression(
                "attribute_not_exists(#pk) OR (#status = :uploading AND #ttl <= :now)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":uploading", s(Status::Uploading.as_str()))
            .expression_attribute_values(":now", n(new.now))
            .build()
            .map_err(|e| unbuildable("TransactWriteItems", e))?;
        let package = match &existing {
            None => {
                let description = new.description.unwrap_or_default();
                let item = PackageItem {
                    pk: package_pk(new.name),
                    sk: META_SK,
                    gsi1pk: PACKAGES_GSI_PK,
                    gsi1sk: new.name.as_str(),
                    name: new.name,
                    owner: new.caller,
                    description,
                    description_lc: description.to_lowercase(),
                    sensitive: new.sensitive.unwrap_or(false),
                    groups: new.groups.unwrap_or_default(),
                    created_at: &now_text,
                    updated_at: &now_text,
                };
                let put = Put::builder()
                    .table_name(self.table())
                    .set_item(Some(encode("TransactWriteItems", &item)?))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", "pk")
                    .build()
                    .map_err(|e| unbuildable("TransactWriteItems", e))?;
                TransactWriteItem::builder().put(put).build()
            }
            Some(pkg) => {
                let mut sets = vec!["#updated_at = :now_text"];
                let mut update = Update::builder()
                    .table_name(self.table())
                    .set_key(Some(key(package_pk(new.name), META_SK)))
                    .condition_expression("#owner = :owner")
                    .expression_attribute_names("#owner", "owner")
                    .expression_attribute_names("#updated_at", "updated_at")
                    .expression_attribute_values(":owner", s(pkg.owner.as_str()))
                    .expression_attribute_values(":now_text", s(&now_text));
                if let Some(d) = new.description {
                    sets.push("#description = :d, #description_lc = :dl");
                    update = update
                        .expression_attribute_names("#description", "description")
                        .expression_attribute_names("#description_lc", "description_lc")
                        .expression_attribute_values(":d", s(d))
                        .expression_attribute_values(":dl", s(d.to_lowercase()));
                }
                if let Some(sensitive) = new.sensitive {
                    sets.push("#sensitive = :sens");
                    update = update
                        .expression_attribute_names("#sensitive", "sensitive")
                        .expression_attribute_values(":sens", b(sensitive));
                }
                if let Some(groups) = new.groups {
                    sets.push("#groups = :groups");
                    update = update
                        .expression_attribute_names("#groups", "groups")
                        .expression_attribute_values(":groups", list(groups.iter().cloned()));
                }
                let update = update
                    .update_expression(format!("SET {}", sets.join(", ")))
                    .build()
                    .map_err(|e| unbuildable("TransactWriteItems", e))?;
                TransactWriteItem::builder().update(update).build()
            }
        };
        let result = self
            .dynamo()
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(version).build())
            .transact_items(package)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Reservation::Reserved),
            Err(e) if dynamo::condition_failed(&e) => {
                // Which condition failed? The version's is by far the common one.
                if self.version(new.name, new.version).await?.is_some() {
                    Ok(Reservation::VersionTaken)
                } else {
                    match self.package(new.name).await? {
                        Some(pkg) if &pkg.owner != new.caller && !new.caller_is_admin => {
                            Ok(Reservation::NotOwner)
                        }
                        _ => Ok(Reservation::VersionTaken),
                    }
                }
            }
            Err(e) => Err(StoreError::sdk("TransactWriteItems", &e)),
        }
    }

    async fn release_reservation(
        &self,
        name: &PackageName,
        version: &Version,
        upload_id: &UploadId,
    ) -> Result<bool, StoreError> {
        match self
            .dynamo()
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(package_pk(name), version_sk(version))))
            .condition_expression("#status = :uploading AND #upload_id = :id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#upload_id", "upload_id")
            .expression_attribute_values(":uploading", s(Status::Uploading.as_str()))
            .expression_attribute_values(":id", s(upload_id.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("DeleteItem", &e)),
        }
    }

    async fn mark_validating(
        &self,
        name: &PackageName,
        version: &Version,
        upload_id: &UploadId,
    ) -> Result<bool, StoreError> {
        self.shared()
            .transition_version(
                name,
                version,
                Status::Uploading,
                Status::Validating,
                Some(upload_id.as_str()),
                |u| {
                    u.update_expression("SET #status = :to REMOVE #ttl")
                        .expression_attribute_names("#ttl", "ttl")
                },
            )
            .await
    }
}
