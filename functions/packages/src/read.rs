//! The read side: list, package, version, download (audited), yank, download audit.

use std::sync::Arc;

use axum::extract::State as Extract;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::domain::{PackageName, Version};
use shared::dynamo::{now, rfc3339};
use shared::error::ErrorBody;
use shared::http::{Json, Path, Query};
use shared::packages::{Status, VersionRecord};
use shared::pagination::{Limit, Page};
use utoipa::{IntoParams, ToSchema};

use crate::State;
use crate::presign;
use crate::store::{
    DownloadAudit, DownloadRecord, Package, PackageCatalog, Search, VersionReads, Yanks,
};
use crate::uploads::VersionPath;

/// `/v1/packages/{name}/…`
#[derive(Debug, Deserialize)]
pub struct NamePath {
    name: PackageName,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A substring of the name or description (case-insensitive).
    q: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Limit,
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PackageSummary {
    name: String,
    /// The highest published, not yanked, version.
    latest_version: Option<String>,
    description: String,
    sensitive: bool,
    updated_at: String,
}

/// Lists the packages the caller may see, in name order. A request evaluates
/// at most 1,000 packages: a search that matches little answers a partial
/// page, possibly empty, with a `next_cursor` to go on from.
#[utoipa::path(
    get, path = "/v1/packages", tag = "packages", operation_id = "list_packages", params(ListQuery),
    responses((status = 200, body = Page<PackageSummary>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<PackageSummary>>, ApiError> {
    caller.require(Role::Reader)?;
    let needle = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if needle.is_some_and(|n| n.chars().count() > 128) {
        return Err(ApiError::invalid("q", "must be at most 128 characters"));
    }
    // The cursor is bound to the search, so it cannot be replayed against another.
    let scope = format!("packages?q={}", needle.unwrap_or_default());
    let pager = state.auth.pager(scope.as_str()).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let search = Search {
        q: needle,
        viewer: &caller,
        limit: q.limit.get(),
    };
    let page = state.packages.search(&search, after).await?;
    let next_cursor = pager.next(page.last)?;
    Ok(Json(Page {
        items: page
            .packages
            .into_iter()
            .map(|p| PackageSummary {
                name: p.name.to_string(),
                latest_version: p.latest_version,
                description: p.description,
                sensitive: p.sensitive,
                updated_at: p.updated_at,
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionSummary {
    version: String,
    #[schema(value_type = String)]
    status: Status,
    size: u64,
    sha256: Option<String>,
    published_at: Option<String>,
    yanked_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PackageDetail {
    name: String,
    owner: String,
    description: String,
    sensitive: bool,
    groups: Vec<String>,
    latest_version: Option<String>,
    /// Newest first.
    versions: Vec<VersionSummary>,
}

fn no_such_package() -> ApiError {
    ApiError::not_found("no such package")
}

/// The package, or `404` when there is none or `caller` may not see it
/// (the same answer, so that a refusal does not confirm the name).
async fn package_or_404(
    catalog: &impl PackageCatalog,
    caller: &Caller,
    name: &PackageName,
) -> Result<Package, ApiError> {
    match catalog.package(name).await? {
        Some(pkg) if pkg.visible_to(caller) => Ok(pkg),
        _ => Err(no_such_package()),
    }
}

/// A package and its versions.
#[utoipa::path(
    get, path = "/v1/packages/{name}", tag = "packages", operation_id = "get_package",
    params(("name" = String, Path)),
    responses((status = 200, body = PackageDetail), (status = 404, body = ErrorBody))
)]
pub async fn package(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(NamePath { name }): Path<NamePath>,
) -> Result<Json<PackageDetail>, ApiError> {
    caller.require(Role::Reader)?;
    let pkg = package_or_404(&state.packages, &caller, &name).await?;
    let versions = state.packages.versions(&name).await?;
    Ok(Json(PackageDetail {
        name: pkg.name.to_string(),
        owner: pkg.owner.to_string(),
        description: pkg.description,
        sensitive: pkg.sensitive,
        groups: pkg.groups,
        latest_version: pkg.latest_version,
        versions: versions
            .into_iter()
            .map(|v| VersionSummary {
                version: v.version.to_string(),
                status: v.status,
                size: v.size,
                sha256: v.sha256,
                published_at: v.published_at,
                yanked_reason: v.yanked_reason,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDetail {
    name: String,
    version: String,
    #[schema(value_type = String)]
    status: Status,
    size: u64,
    sha256: Option<String>,
    uploaded_by: String,
    created_at: String,
    published_at: Option<String>,
    yanked_reason: Option<String>,
    /// The validator's report: `{status, checks: [{id, ok, message}], entries, uncompressed_size, manifest}`;
    /// `null` until validation has run.
    #[schema(value_type = Option<Object>)]
    validation: Option<serde_json::Value>,
}

impl From<VersionRecord> for VersionDetail {
    fn from(v: VersionRecord) -> Self {
        Self {
            name: v.name.to_string(),
            version: v.version.to_string(),
            status: v.status,
            size: v.size,
            sha256: v.sha256,
            uploaded_by: v.uploaded_by.to_string(),
            created_at: v.created_at,
            published_at: v.published_at,
            yanked_reason: v.yanked_reason,
            validation: v.validation,
        }
    }
}

async fn version_or_404(
    versions: &impl VersionReads,
    name: &PackageName,
    version: &Version,
) -> Result<VersionRecord, ApiError> {
    versions
        .version(name, version)
        .await?
        .ok_or_else(|| ApiError::not_found("no such version"))
}

/// One version, with its validation report.
#[utoipa::path(
    get, path = "/v1/packages/{name}/versions/{version}", tag = "packages", operation_id = "get_version",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VersionDetail), (status = 404, body = ErrorBody))
)]
pub async fn version(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(VersionPath { name, version }): Path<VersionPath>,
) -> Result<Json<VersionDetail>, ApiError> {
    caller.require(Role::Reader)?;
    package_or_404(&state.packages, &caller, &name).await?;
    Ok(Json(
        version_or_404(&state.packages, &name, &version)
            .await?
            .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrl {
    /// A presigned `GET`, valid 15 minutes.
    url: String,
    expires_at: String,
    sha256: Option<String>,
    size: u64,
    /// A yanked version, downloaded because it was asked for by its exact version.
    yanked: bool,
    /// Why it was yanked (only when `yanked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    yank_reason: Option<String>,
}

/// A short-lived download URL of a published version, or of a yanked one (the
/// route names its exact version, so a pin keeps working; `yanked` says so).
/// Sensitive packages: only for admins, the owner and callers in one of the
/// package's groups; to anyone else the package does not exist (`404`).
/// Every decision, allowed or refused, is audited.
#[utoipa::path(
    get, path = "/v1/packages/{name}/versions/{version}/download", tag = "packages", operation_id = "download",
    params(("name" = String, Path), ("version" = String, Path)),
    responses(
        (status = 200, body = DownloadUrl),
        (status = 404, description = "No such package or version, or a sensitive package and a caller outside its groups (audited)", body = ErrorBody),
        (status = 409, description = "Neither published nor yanked", body = ErrorBody),
    )
)]
pub async fn download(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(VersionPath { name, version }): Path<VersionPath>,
) -> Result<Json<DownloadUrl>, ApiError> {
    caller.require(Role::Reader)?;
    let audit = |allowed: bool, reason: &str| DownloadRecord {
        version: version.to_string(),
        username: caller.username.to_string(),
        at: rfc3339(now()),
        allowed,
        reason: reason.to_owned(),
    };
    let pkg = state
        .packages
        .package(&name)
        .await?
        .ok_or_else(no_such_package)?;
    if !pkg.visible_to(&caller) {
        state
            .packages
            .record_download(&name, &audit(false, "not in the package's groups"))
            .await?;
        return Err(no_such_package());
    }
    let record = version_or_404(&state.packages, &name, &version).await?;
    if !matches!(record.status, Status::Published | Status::Yanked) {
        return Err(ApiError::conflict(format!(
            "{name} {version} is {}, not published",
            record.status.as_str()
        )));
    }
    let url = presign::download(&state.s3, &state.bucket, &name, &version).await?;
    let reason = if record.status == Status::Yanked {
        "yanked, pinned download"
    } else {
        "published"
    };
    state
        .packages
        .record_download(&name, &audit(true, reason))
        .await?;
    tracing::info!(package = %name, version = %version, "download granted");
    let yanked = record.status == Status::Yanked;
    Ok(Json(DownloadUrl {
        url,
        expires_at: rfc3339(now() + presign::DOWNLOAD_URL_TTL.as_secs() as i64),
        sha256: record.sha256,
        size: record.size,
        yanked,
        yank_reason: record.yanked_reason.filter(|_| yanked),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Yank {
    /// Why: shown beside the version.
    reason: String,
}

fn owner_or_admin(caller: &Caller, pkg: &Package) -> Result<(), ApiError> {
    if pkg.owner == caller.username || caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the package's owner or an admin may do this",
        ))
    }
}

/// Yanks a published version: it stays visible and downloadable when pinned,
/// but is never the latest version again.
#[utoipa::path(
    post, path = "/v1/packages/{name}/versions/{version}/yank", tag = "packages", operation_id = "yank",
    params(("name" = String, Path), ("version" = String, Path)),
    request_body = Yank,
    responses((status = 200, body = VersionDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn yank(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(VersionPath { name, version }): Path<VersionPath>,
    Json(req): Json<Yank>,
) -> Result<Json<VersionDetail>, ApiError> {
    let pkg = package_or_404(&state.packages, &caller, &name).await?;
    owner_or_admin(&caller, &pkg)?;
    let reason = req.reason.trim();
    if !(1..=500).contains(&reason.chars().count()) {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let record = version_or_404(&state.packages, &name, &version).await?;
    if !state.packages.yank(&name, &version, reason).await? {
        return Err(ApiError::conflict(format!(
            "{name} {version} is {}; only published versions can be yanked",
            record.status.as_str()
        )));
    }
    tracing::info!(package = %name, version = %version, "version yanked");
    Ok(Json(
        version_or_404(&state.packages, &name, &version)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Limit,
    cursor: Option<String>,
}

/// The package's download audit, newest first.
#[utoipa::path(
    get, path = "/v1/packages/{name}/downloads", tag = "packages", operation_id = "list_downloads",
    params(("name" = String, Path), PageQuery),
    responses((status = 200, body = Page<DownloadRecord>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn downloads(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(NamePath { name }): Path<NamePath>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<DownloadRecord>>, ApiError> {
    let pkg = package_or_404(&state.packages, &caller, &name).await?;
    owner_or_admin(&caller, &pkg)?;
    let scope = format!("downloads/{name}");
    let pager = state.auth.pager(scope.as_str()).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state
        .packages
        .downloads(&name, q.limit.get(), after)
        .await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page { items, next_cursor }))
}
