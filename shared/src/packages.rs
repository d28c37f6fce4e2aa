//! The packages table: packages, versions, upload sessions, download audit.
//!
//! Keys: `PKG#{name}/META` (listed through `gsi1` = `PACKAGES`/name),
//! `PKG#{name}/V#{version}`, `UPLOAD#{id}/SESSION`, `PKG#{name}/DL#{at}#{uuid}`.
//! A version item is the reservation: it is written once, conditionally, and
//! its status moves `uploading → validating → published | rejected`,
//! `published → yanked`, each step conditional on the one before.

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{PackageName, UploadId, Username, Version};
use crate::dynamo::{self, Item, StoreError, b, get_b, get_list, get_n, get_s, list, n, s};

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

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "uploading" => Self::Uploading,
            "validating" => Self::Validating,
            "published" => Self::Published,
            "rejected" => Self::Rejected,
            "yanked" => Self::Yanked,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: PackageName,
    pub owner: Username,
    pub description: String,
    pub sensitive: bool,
    pub groups: Vec<String>,
    pub latest_version: Option<String>,
    pub created_at: String,
    pub updated_at: String,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: UploadId,
    pub name: PackageName,
    pub version: Version,
    pub key: String,
    pub s3_upload_id: String,
    pub size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub sha256: Option<String>,
    pub created_by: Username,
    pub status: SessionStatus,
    /// When the `completing` claim was taken (Unix seconds); `None` otherwise.
    pub claimed_at: Option<i64>,
    /// Unix seconds after which the session (and its reservation) lapse.
    pub expires_at: i64,
}

/// Where an upload session is: `open → completing → completed`, or
/// `open → aborted`; `completing → open` when a claimed `complete` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Completing,
    Completed,
    Aborted,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completing => "completing",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "completing" => Self::Completing,
            "completed" => Self::Completed,
            "aborted" => Self::Aborted,
            _ => return None,
        })
    }
}

/// A `completing` claim older than this belongs to an invocation that is
/// gone (the function's timeout is 15 s), and may be taken over.
pub const CLAIM_SECS: i64 = 60;

/// One request's hold on a `completing` session: only its holder moves the
/// session on (to `completed`, or back to `open`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub token: String,
    pub at: i64,
}

impl Claim {
    pub fn new(now: i64) -> Self {
        Self {
            token: uuid::Uuid::new_v4().to_string(),
            at: now,
        }
    }
}

impl UploadSession {
    /// Whether the session is `completing` under a claim nobody holds any more.
    pub fn claim_is_stale(&self, now: i64) -> bool {
        self.status == SessionStatus::Completing
            && self.claimed_at.is_none_or(|at| at + CLAIM_SECS <= now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DownloadRecord {
    pub version: String,
    pub username: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub allowed: bool,
    pub reason: String,
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

#[derive(Clone, Debug)]
pub struct PackagesStore {
    table: dynamo::Table,
}

fn pkg_pk(name: &PackageName) -> AttributeValue {
    s(format!("PKG#{name}"))
}

fn version_sk(version: &Version) -> AttributeValue {
    s(format!("V#{version}"))
}

fn opt_s(item: &Item, key: &str) -> Option<String> {
    get_s(item, key).map(str::to_owned)
}

fn package_from(item: &Item) -> Option<Package> {
    Some(Package {
        name: PackageName::parse(get_s(item, "name")?).ok()?,
        owner: Username::parse(get_s(item, "owner")?).ok()?,
        description: opt_s(item, "description").unwrap_or_default(),
        sensitive: get_b(item, "sensitive").unwrap_or(false),
        groups: get_list(item, "groups"),
        latest_version: opt_s(item, "latest_version"),
        created_at: opt_s(item, "created_at").unwrap_or_default(),
        updated_at: opt_s(item, "updated_at").unwrap_or_default(),
    })
}

fn version_from(item: &Item) -> Option<VersionRecord> {
    Some(VersionRecord {
        name: PackageName::parse(get_s(item, "name")?).ok()?,
        version: Version::parse(get_s(item, "version")?).ok()?,
        status: Status::parse(get_s(item, "status")?)?,
        size: get_n(item, "size").unwrap_or(0).max(0) as u64,
        sha256: opt_s(item, "sha256"),
        upload_id: opt_s(item, "upload_id").unwrap_or_default(),
        uploaded_by: Username::parse(get_s(item, "uploaded_by")?).ok()?,
        created_at: opt_s(item, "created_at").unwrap_or_default(),
        published_at: opt_s(item, "published_at"),
        yanked_reason: opt_s(item, "yanked_reason"),
        validation: get_s(item, "validation").and_then(|v| serde_json::from_str(v).ok()),
    })
}

fn session_from(item: &Item) -> Option<UploadSession> {
    Some(UploadSession {
        id: UploadId::parse(get_s(item, "upload_id")?).ok()?,
        name: PackageName::parse(get_s(item, "name")?).ok()?,
        version: Version::parse(get_s(item, "version")?).ok()?,
        key: opt_s(item, "key")?,
        s3_upload_id: opt_s(item, "s3_upload_id")?,
        size: get_n(item, "size")?.max(0) as u64,
        part_size: get_n(item, "part_size")?.max(0) as u64,
        part_count: get_n(item, "part_count")?.clamp(0, i64::from(u32::MAX)) as u32,
        sha256: opt_s(item, "sha256"),
        created_by: Username::parse(get_s(item, "created_by")?).ok()?,
        status: SessionStatus::parse(get_s(item, "status")?)?,
        claimed_at: get_n(item, "claimed_at"),
        expires_at: get_n(item, "expires_at").unwrap_or(0),
    })
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

/// The fields of a new upload that its reservation records.
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

impl PackagesStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            table: dynamo::Table::new(client, table),
        }
    }

    pub fn table(&self) -> &str {
        &self.table.name
    }

    pub async fn get_package(&self, name: &PackageName) -> Result<Option<Package>, StoreError> {
        Ok(self
            .table
            .get(pkg_pk(name), s("META"))
            .await?
            .as_ref()
            .and_then(package_from))
    }

    pub async fn get_version(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<VersionRecord>, StoreError> {
        Ok(self
            .table
            .get(pkg_pk(name), version_sk(version))
            .await?
            .as_ref()
            .and_then(version_from))
    }

    /// Every live version of a package (lapsed reservations are absent).
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
            .expression_attribute_values(":pk", pkg_pk(name))
            .expression_attribute_values(":v", s("V#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut versions = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
            if !dynamo::expired(&item, now) {
                versions.extend(version_from(&item));
            }
        }
        versions.sort_by(|a, b| b.version.semver().cmp(&a.version.semver()));
        Ok(versions)
    }

    /// Reserves `name@version` for an upload, creating the package (owned by
    /// the caller) on its first upload. One transaction: the version must not
    /// exist (a lapsed reservation may be taken over), and the package must be
    /// new or the caller's (or the caller an admin). Never races two winners.
    pub async fn reserve_version(&self, new: &NewUpload<'_>) -> Result<Reservation, StoreError> {
        let existing = self.get_package(new.name).await?;
        if let Some(pkg) = &existing {
            if &pkg.owner != new.caller && !new.caller_is_admin {
                return Ok(Reservation::NotOwner);
            }
        }
        let now_text = dynamo::rfc3339(new.now);
        let mut version = Put::builder()
            .table_name(&self.table.name)
            .item("pk", pkg_pk(new.name))
            .item("sk", version_sk(new.version))
            .item("name", s(new.name.as_str()))
            .item("version", s(new.version.as_str()))
            .item("status", s(Status::Uploading.as_str()))
            .item("size", n(new.size))
            .item("upload_id", s(new.upload_id.as_str()))
            .item("uploaded_by", s(new.caller.as_str()))
            .item("created_at", s(&now_text))
            .item("ttl", n(new.expires_at))
            // A version never seen, or a reservation whose upload lapsed.
            .condition_expression(
                "attribute_not_exists(#pk) OR (#status = :uploading AND #ttl <= :now)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":uploading", s(Status::Uploading.as_str()))
            .expression_attribute_values(":now", n(new.now));
        if let Some(sha) = new.sha256 {
            version = version.item("sha256", s(sha));
        }
        let version = version
            .build()
            .map_err(|e| StoreError::sdk("TransactWriteItems", &e))?;
        let package = match &existing {
            None => {
                let put = Put::builder()
                    .table_name(&self.table.name)
                    .item("pk", pkg_pk(new.name))
                    .item("sk", s("META"))
                    .item("gsi1pk", s("PACKAGES"))
                    .item("gsi1sk", s(new.name.as_str()))
                    .item("name", s(new.name.as_str()))
                    .item("owner", s(new.caller.as_str()))
                    .item("description", s(new.description.unwrap_or_default()))
                    .item(
                        "description_lc",
                        s(new.description.unwrap_or_default().to_lowercase()),
                    )
                    .item("sensitive", b(new.sensitive.unwrap_or(false)))
                    .item(
                        "groups",
                        list(new.groups.unwrap_or_default().iter().cloned()),
                    )
                    .item("created_at", s(&now_text))
                    .item("updated_at", s(&now_text))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", "pk")
                    .build()
                    .map_err(|e| StoreError::sdk("TransactWriteItems", &e))?;
                TransactWriteItem::builder().put(put).build()
            }
            Some(pkg) => {
                let mut sets = vec!["#updated_at = :now_text"];
                let mut update = aws_sdk_dynamodb::types::Update::builder()
                    .table_name(&self.table.name)
                    .key("pk", pkg_pk(new.name))
                    .key("sk", s("META"))
                    .condition_expression("#owner = :owner")
                    .expression_attribute_names("#owner", "owner")
                    .expression_attribute_values(":owner", s(pkg.owner.as_str()))
                    .expression_attribute_names("#updated_at", "updated_at")
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
                    .map_err(|e| StoreError::sdk("TransactWriteItems", &e))?;
                TransactWriteItem::builder().update(update).build()
            }
        };
        let result = self
            .table
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
                if self.get_version(new.name, new.version).await?.is_some() {
                    Ok(Reservation::VersionTaken)
                } else {
                    match self.get_package(new.name).await? {
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

    /// Deletes an `uploading` reservation of `upload_id` (abort, or an upload
    /// that could not start), freeing the version number.
    pub async fn release_reservation(
        &self,
        name: &PackageName,
        version: &Version,
        upload_id: &UploadId,
    ) -> Result<bool, StoreError> {
        match self
            .table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", pkg_pk(name))
            .key("sk", version_sk(version))
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

    pub async fn put_session(&self, session: &UploadSession) -> Result<(), StoreError> {
        let mut put = self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .item("pk", s(format!("UPLOAD#{}", session.id)))
            .item("sk", s("SESSION"))
            .item("upload_id", s(session.id.as_str()))
            .item("name", s(session.name.as_str()))
            .item("version", s(session.version.as_str()))
            .item("key", s(&session.key))
            .item("s3_upload_id", s(&session.s3_upload_id))
            .item("size", n(session.size))
            .item("part_size", n(session.part_size))
            .item("part_count", n(session.part_count))
            .item("created_by", s(session.created_by.as_str()))
            .item("status", s(session.status.as_str()))
            .item("expires_at", n(session.expires_at))
            .item("ttl", n(session.expires_at))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk");
        if let Some(sha) = &session.sha256 {
            put = put.item("sha256", s(sha));
        }
        put.send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    /// A session; a lapsed one is absent, except once completed (it then
    /// records what was published, for an idempotent second `complete`).
    pub async fn get_session(&self, id: &UploadId) -> Result<Option<UploadSession>, StoreError> {
        let out = self
            .table
            .client
            .get_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("UPLOAD#{id}")))
            .key("sk", s("SESSION"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", &e))?;
        Ok(out.item.as_ref().and_then(session_from).filter(|session| {
            session.status == SessionStatus::Completed || session.expires_at > dynamo::now()
        }))
    }

    /// The one place a session's status moves: `from → to`, conditional on
    /// `from`; false when the session was not there (someone moved it first).
    ///
    /// Moving to `completing` takes `claim`, and also takes over a stale
    /// claim (older than [`CLAIM_SECS`], or unrecorded): a request that died
    /// holding it never gives it back. Moving on from `completing` needs the
    /// same `claim`, so only its holder completes or releases the session.
    pub async fn transition_session(
        &self,
        id: &UploadId,
        from: SessionStatus,
        to: SessionStatus,
        claim: Option<&Claim>,
    ) -> Result<bool, StoreError> {
        let claimed = from == SessionStatus::Completing || to == SessionStatus::Completing;
        let claim = match claim {
            Some(claim) => claim,
            None if claimed => {
                return Err(StoreError::corrupt(
                    "UpdateItem",
                    format!("UPLOAD#{id}: a move through completing needs a claim"),
                ));
            }
            None => &Claim::new(0),
        };
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("UPLOAD#{id}")))
            .key("sk", s("SESSION"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()));
        request = if to == SessionStatus::Completing {
            request
                .update_expression("SET #status = :to, #claim = :claim, #claimed_at = :now")
                .condition_expression(
                    "#status = :from OR (#status = :to AND (attribute_not_exists(#claimed_at) OR #claimed_at <= :stale))",
                )
                .expression_attribute_names("#claim", "claim")
                .expression_attribute_names("#claimed_at", "claimed_at")
                .expression_attribute_values(":claim", s(&claim.token))
                .expression_attribute_values(":now", n(claim.at))
                .expression_attribute_values(":stale", n(claim.at - CLAIM_SECS))
        } else if from == SessionStatus::Completing {
            request
                .update_expression("SET #status = :to REMOVE #claim, #claimed_at")
                .condition_expression("#status = :from AND #claim = :claim")
                .expression_attribute_names("#claim", "claim")
                .expression_attribute_names("#claimed_at", "claimed_at")
                .expression_attribute_values(":claim", s(&claim.token))
        } else {
            request
                .update_expression("SET #status = :to")
                .condition_expression("#status = :from")
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    /// `uploading → validating` for the upload `upload_id`; the reservation's
    /// TTL is removed: from here on the version is permanent.
    pub async fn mark_validating(
        &self,
        name: &PackageName,
        version: &Version,
        upload_id: &UploadId,
    ) -> Result<bool, StoreError> {
        self.transition_version(
            name,
            version,
            Status::Uploading,
            Status::Validating,
            Some(upload_id),
            |u| {
                u.update_expression("SET #status = :to REMOVE #ttl")
                    .expression_attribute_names("#ttl", "ttl")
            },
        )
        .await
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
            .transition_version(name, version, Status::Validating, Status::Published, None, |u| {
                u.update_expression("SET #status = :to, #sha256 = :sha, #published_at = :at, #validation = :report")
                    .expression_attribute_names("#sha256", "sha256")
                    .expression_attribute_names("#published_at", "published_at")
                    .expression_attribute_names("#validation", "validation")
                    .expression_attribute_values(":sha", s(sha256))
                    .expression_attribute_values(":at", s(&now))
                    .expression_attribute_values(":report", s(&validation))
            })
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

    /// `published → yanked`, with the reason; `latest_version` is recomputed.
    pub async fn yank(
        &self,
        name: &PackageName,
        version: &Version,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = dynamo::rfc3339(dynamo::now());
        let yanked = self
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
            self.refresh_latest(name).await?;
        }
        Ok(yanked)
    }

    async fn transition_version(
        &self,
        name: &PackageName,
        version: &Version,
        from: Status,
        to: Status,
        upload_id: Option<&UploadId>,
        set: impl FnOnce(
            aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        )
            -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", pkg_pk(name))
            .key("sk", version_sk(version))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(ReturnValue::None);
        request = match upload_id {
            Some(id) => request
                .condition_expression("#status = :from AND #upload_id = :id")
                .expression_attribute_names("#upload_id", "upload_id")
                .expression_attribute_values(":id", s(id.as_str())),
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
            .key("pk", pkg_pk(name))
            .key("sk", s("META"))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":now", s(now));
        let request = match latest {
            Some(v) => request
                .update_expression("SET #latest = :v, #updated_at = :now")
                .expression_attribute_names("#latest", "latest_version")
                .expression_attribute_values(":v", s(v)),
            None => request
                .update_expression("SET #updated_at = :now REMOVE #latest")
                .expression_attribute_names("#latest", "latest_version"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Ok(()),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    /// A page of packages in name order, keeping those whose name or
    /// description contains `q` (case-insensitive) and that are `visible`.
    pub async fn list_packages(
        &self,
        q: Option<&str>,
        visible: impl Fn(&Package) -> bool,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<Package>, Option<Item>), StoreError> {
        let mut found = Vec::new();
        let mut start = after;
        loop {
            let mut request = self
                .table
                .client
                .query()
                .table_name(&self.table.name)
                .index_name("gsi1")
                .key_condition_expression("#gsi1pk = :p")
                .expression_attribute_names("#gsi1pk", "gsi1pk")
                .expression_attribute_values(":p", s("PACKAGES"))
                .limit((limit - found.len() as u32).max(1) as i32)
                .set_exclusive_start_key(start.take());
            if let Some(q) = q {
                request = request
                    .filter_expression("contains(#name, :q) OR contains(#description_lc, :q)")
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_names("#description_lc", "description_lc")
                    .expression_attribute_values(":q", s(q.to_lowercase()));
            }
            let out = request
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query", &e))?;
            found.extend(
                out.items()
                    .iter()
                    .filter_map(package_from)
                    .filter(|p| visible(p)),
            );
            match out.last_evaluated_key {
                Some(key) if (found.len() as u32) < limit => start = Some(key),
                last => return Ok((found, last)),
            }
        }
    }

    /// Appends one download decision to the package's audit.
    pub async fn audit_download(
        &self,
        name: &PackageName,
        record: &DownloadRecord,
    ) -> Result<(), StoreError> {
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .item("pk", pkg_pk(name))
            // Microseconds, zero-padded: the audit sorts newest first even within a second.
            .item(
                "sk",
                s(format!(
                    "DL#{:020}#{}",
                    dynamo::now_micros(),
                    uuid::Uuid::new_v4()
                )),
            )
            .item("version", s(&record.version))
            .item("username", s(&record.username))
            .item("at", s(&record.at))
            .item("allowed", b(record.allowed))
            .item("reason", s(&record.reason))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    /// A page of a package's download audit, newest first.
    pub async fn downloads(
        &self,
        name: &PackageName,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<DownloadRecord>, Option<Item>), StoreError> {
        let out = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :dl)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", pkg_pk(name))
            .expression_attribute_values(":dl", s("DL#"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let records = out
            .items()
            .iter()
            .map(|item| DownloadRecord {
                version: opt_s(item, "version").unwrap_or_default(),
                username: opt_s(item, "username").unwrap_or_default(),
                at: opt_s(item, "at").unwrap_or_default(),
                allowed: get_b(item, "allowed").unwrap_or(false),
                reason: opt_s(item, "reason").unwrap_or_default(),
            })
            .collect();
        Ok((records, out.last_evaluated_key))
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
}
