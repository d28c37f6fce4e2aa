//! What of the packages table more than one function uses: the keys, the
//! version item, and what the validator does to a version (read it, record
//! its verdict). Everything else (packages, reservations, upload sessions, the
//! download audit) is the `packages` function's own, in its crate.
//!
//! Keys: `PKG#{name}/META` (listed through `gsi1` = `PACKAGES`/name),
//! `PKG#{name}/V#{version}`, `UPLOAD#{id}/SESSION`, `PKG#{name}/DL#{at}#{uuid}`.
//! A version item is the reservation: it is written once, conditionally, and
//! its status moves `uploading → validating → published | rejected`,
//! `published → yanked`, each step conditional on the one before.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{PackageName, Username, Version};
use crate::dynamo::{self, Item, StoreError, s};

/// Where a version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Uploading,
    Validating,
    Published,
    Rejected,
    Yanked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Validating => "validating",
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Yanked => "yanked",
        }
    }
}

/// The partition of a package: its `META` item, versions and download audit.
pub fn package_pk(name: &PackageName) -> String {
    format!("PKG#{name}")
}

/// The sort key of a package's `META` item.
pub const META_SK: &str = "META";

pub fn version_sk(version: &Version) -> String {
    format!("V#{version}")
}

/// `(pk, sk)` as a key for `GetItem`/`UpdateItem`/`DeleteItem`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// The name a log gives an item: `pk/sk`.
pub fn key_text(key: &Item) -> String {
    let part = |k: &str| {
        key.get(k)
            .and_then(|v| v.as_s().ok())
            .map_or("?", String::as_str)
            .to_owned()
    };
    format!("{}/{}", part("pk"), part("sk"))
}

/// A stored item as `T`; one that does not decode is a bug, named by its key
/// (logged, answered 500), never a silent absence.
pub fn decode<T: DeserializeOwned>(operation: &'static str, item: Item) -> Result<T, StoreError> {
    let name = key_text(&item);
    serde_dynamo::from_item(item).map_err(|e| {
        StoreError::corrupt(operation, format!("the item {name} does not decode: {e}"))
    })
}

/// `value` as an item; failing means the type cannot be stored (a bug).
pub fn encode<T: Serialize>(operation: &'static str, value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value)
        .map_err(|e| StoreError::corrupt(operation, format!("an item does not encode: {e}")))
}

/// A version item as DynamoDB holds it. Written once by the reservation;
/// later moves set `status` and the fields of that step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionItem {
    pub pk: String,
    pub sk: String,
    pub name: PackageName,
    pub version: Version,
    pub status: Status,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub upload_id: String,
    pub uploaded_by: Username,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked_at: Option<String>,
    /// The validator's report, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<String>,
    /// A reservation lapses at its upload's end; a version from `validating`
    /// on has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub name: PackageName,
    pub version: Version,
    pub status: Status,
    pub size: u64,
    /// Declared by the uploader, or computed by the validator.
    pub sha256: Option<String>,
    pub upload_id: String,
    pub uploaded_by: Username,
    pub created_at: String,
    pub published_at: Option<String>,
    pub yanked_reason: Option<String>,
    /// The validator's report, as it wrote it.
    pub validation: Option<serde_json::Value>,
}

impl VersionRecord {
    /// A stored version item; one that does not decode (its report
    /// included) is a corrupt item, named by its key.
    pub fn from_item(operation: &'static str, item: Item) -> Result<Self, StoreError> {
        let v: VersionItem = decode(operation, item)?;
        let validation = v
            .validation
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| {
                StoreError::corrupt(
                    operation,
                    format!(
                        "the item {}/{}: its validation is not JSON: {e}",
                        v.pk, v.sk
                    ),
                )
            })?;
        Ok(Self {
            name: v.name,
            version: v.version,
            status: v.status,
            size: v.size,
            sha256: v.sha256,
            upload_id: v.upload_id,
            uploaded_by: v.uploaded_by,
            created_at: v.created_at,
            published_at: v.published_at,
            yanked_reason: v.yanked_reason,
            validation,
        })
    }
}

/// The newest published (not yanked) version: the highest stable one, or
/// the highest pre-release when there is no stable release.
pub fn latest<'a>(versions: impl IntoIterator<Item = &'a VersionRecord>) -> Option<&'a Version> {
    let published: Vec<&VersionRecord> = versions
        .into_iter()
        .filter(|v| v.status == Status::Published)
        .collect();
    let stable = published
        .iter()
        .filter(|v| v.version.semver().pre.is_empty())
        .max_by_key(|v| v.version.semver());
    stable
        .or_else(|| published.iter().max_by_key(|v| v.version.semver()))
        .map(|v| &v.version)
}

/// The packages table: the version reads and moves more than one function
/// makes (the validator's verdicts, the `packages` function's reads, yank).
#[derive(Clone, Debug)]
pub struct PackagesStore {
    table: dynamo::Table,
}

impl PackagesStore {
    /// What [`get_version`](Self::get_version), [`versions`](Self::versions),
    /// [`transition_version`](Self::transition_version) and
    /// [`refresh_latest`](Self::refresh_latest) call.
    pub const IAM_ACTIONS: &'static [&'static str] =
        &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"];

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            table: dynamo::Table::new(client, table),
        }
    }

    pub fn table(&self) -> &str {
        &self.table.name
    }

    /// The table itself, for the `packages` function's own stores over it.
    pub fn dynamo(&self) -> &dynamo::Table {
        &self.table
    }

    /// A version; a lapsed reservation is absent, a corrupt item an error.
    pub async fn get_version(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<VersionRecord>, StoreError> {
        self.table
            .get(s(package_pk(name)), s(version_sk(version)))
            .await?
            .map(|item| VersionRecord::from_item("GetItem", item))
            .transpose()
    }

    /// Every live version of a package, newest first (lapsed reservations are absent).
    pub async fn versions(&self, name: &PackageName) -> Result<Vec<VersionRecord>, StoreError> {
        let now = dynamo::now();
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :v)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", s(package_pk(name)))
            .expression_attribute_values(":v", s("V#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut versions = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
            if !dynamo::expired(&item, now) {
                versions.push(VersionRecord::from_item("Query", item)?);
            }
        }
        versions.sort_by(|a, b| b.version.semver().cmp(&a.version.semver()));
        Ok(versions)
    }

    /// `validating → published`, with the digest and report the validator computed.
    pub async fn mark_published(
        &self,
        name: &PackageName,
        version: &Version,
        sha256: &str,
        validation: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let now = dynamo::rfc3339(dynamo::now());
        let validation = validation.to_string();
        let published = self
            .transition_version(
                name,
                version,
                Status::Validating,
                Status::Published,
                None,
                |u| {
                    u.update_expression(
                        "SET #status = :to, #sha256 = :sha, #published_at = :at, #validation = :report",
                    )
                    .expression_attribute_names("#sha256", "sha256")
                    .expression_attribute_names("#published_at", "published_at")
                    .expression_attribute_names("#validation", "validation")
                    .expression_attribute_values(":sha", s(sha256))
                    .expression_attribute_values(":at", s(&now))
                    .expression_attribute_values(":report", s(&validation))
                },
            )
            .await?;
        if published {
            self.refresh_latest(name).await?;
        }
        Ok(published)
    }

    /// `validating → rejected`, with the report saying why.
    pub async fn mark_rejected(
        &self,
        name: &PackageName,
        version: &Version,
        validation: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let validation = validation.to_string();
        self.transition_version(
            name,
            version,
            Status::Validating,
            Status::Rejected,
            None,
            |u| {
                u.update_expression("SET #status = :to, #validation = :report")
                    .expression_attribute_names("#validation", "validation")
                    .expression_attribute_values(":report", s(&validation))
            },
        )
        .await
    }

    /// The one place a version's status moves: `from → to`, conditional on
    /// `from` (and on the upload that reserved it, when `upload_id` is
    /// given); `set` adds that step's fields to `SET #status = :to`. False
    /// when the version was not in `from` (someone moved it first).
    pub async fn transition_version(
        &self,
        name: &PackageName,
        version: &Version,
        from: Status,
        to: Status,
        upload_id: Option<&str>,
        set: impl FnOnce(UpdateItemFluentBuilder) -> UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(key(package_pk(name), version_sk(version))))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(ReturnValue::None);
        request = match upload_id {
            Some(id) => request
                .condition_expression("#status = :from AND #upload_id = :id")
                .expression_attribute_names("#upload_id", "upload_id")
                .expression_attribute_values(":id", s(id)),
            None => request.condition_expression("#status = :from"),
        };
        match set(request).send().await {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    /// Recomputes the package's `latest_version` from its versions.
    pub async fn refresh_latest(&self, name: &PackageName) -> Result<(), StoreError> {
        let versions = self.versions(name).await?;
        let latest = latest(&versions).map(|v| v.to_string());
        let now = dynamo::rfc3339(dynamo::now());
        let request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(key(package_pk(name), META_SK)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#latest", "latest_version")
            .expression_attribute_values(":now", s(now));
        let request = match latest {
            Some(v) => request
                .update_expression("SET #latest = :v, #updated_at = :now")
                .expression_attribute_values(":v", s(v)),
            None => request.update_expression("SET #updated_at = :now REMOVE #latest"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Ok(()),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: &str, status: Status) -> VersionRecord {
        VersionRecord {
            name: PackageName::parse("p").unwrap(),
            version: Version::parse(version).unwrap(),
            status,
            size: 1,
            sha256: None,
            upload_id: String::new(),
            uploaded_by: Username::parse("alice").unwrap(),
            created_at: String::new(),
            published_at: None,
            yanked_reason: None,
            validation: None,
        }
    }

    #[test]
    fn latest_is_the_highest_published_stable_version() {
        let versions = [
            v("1.2.0", Status::Published),
            v("1.10.0", Status::Published),
            v("2.0.0-rc.1", Status::Published),
            v("3.0.0", Status::Validating),
            v("1.11.0", Status::Yanked),
        ];
        assert_eq!(latest(&versions).map(Version::as_str), Some("1.10.0"));
    }

    #[test]
    fn latest_falls_back_to_a_pre_release_and_never_a_yanked_version() {
        assert_eq!(
            latest(&[v("1.0.0-rc.2", Status::Published)]).map(Version::as_str),
            Some("1.0.0-rc.2")
        );
        assert_eq!(latest(&[v("1.0.0", Status::Yanked)]), None);
    }

    fn stored_version() -> Item {
        use crate::dynamo::n;
        Item::from([
            ("pk".to_owned(), s("PKG#p")),
            ("sk".to_owned(), s("V#1.0.0")),
            ("name".to_owned(), s("p")),
            ("version".to_owned(), s("1.0.0")),
            ("status".to_owned(), s("published")),
            ("size".to_owned(), n(35)),
            ("upload_id".to_owned(), s("u")),
            ("uploaded_by".to_owned(), s("alice")),
            ("created_at".to_owned(), s("2026-11-26T00:00:00Z")),
            ("validation".to_owned(), s(r#"{"status":"passed"}"#)),
            // Written by the validator; not ours to read.
            ("validation_attempts".to_owned(), n(1)),
        ])
    }

    #[test]
    fn a_stored_version_decodes_with_its_report() {
        let record = VersionRecord::from_item("GetItem", stored_version()).unwrap();
        assert_eq!(record.status, Status::Published);
        assert_eq!(record.size, 35);
        assert_eq!(
            record.validation,
            Some(serde_json::json!({"status": "passed"}))
        );
    }

    #[test]
    fn a_version_that_does_not_decode_is_an_error_naming_its_key() {
        for (field, value) in [
            ("status", s("lost")),
            ("validation", s("{not json")),
            ("name", s("Not A Name")),
        ] {
            let mut item = stored_version();
            item.insert(field.to_owned(), value);
            let err = VersionRecord::from_item("GetItem", item).unwrap_err();
            assert_eq!(err.kind, crate::aws::FailureKind::Bug, "{field}");
            assert!(err.detail.contains("PKG#p/V#1.0.0"), "{field}: {err}");
        }
        let mut item = stored_version();
        item.remove("uploaded_by");
        assert!(VersionRecord::from_item("GetItem", item).is_err());
    }
}
