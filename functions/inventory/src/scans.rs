//! Scans: `POST /v1/scans` writes the scan and its jobs; the jobs table's
//! stream runs them in the scanner, one Lambda per job.

use std::sync::Arc;

use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::dynamo::now;
use shared::error::ErrorBody;
use shared::http::{Json, Path, Query};
use shared::inventory::{
    QueueScans, RegisteredAccounts, Scan, ScanStatus, ScanTrigger, Service, plan_jobs,
    plausible_region,
};
use shared::pagination::{Limit, Page};
use utoipa::{IntoParams, ToSchema};

use crate::State;
use crate::store::{JobProgress, ScanHistory};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartScan {
    /// Only these registered accounts (default: all).
    account_ids: Option<Vec<String>>,
    /// Only these regions (default: each account's regions).
    regions: Option<Vec<String>>,
    /// Only these services (default: all).
    services: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    scan_id: String,
    /// `queued` (or `succeeded` when there was nothing to scan).
    status: ScanStatus,
    jobs: u64,
}

/// Starts a scan of every registered account (or those named), all regions at once.
#[utoipa::path(
    post, path = "/v1/scans", tag = "inventory", operation_id = "start_scan",
    request_body = StartScan,
    responses((status = 202, body = Queued), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn start(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    // The body is optional: no body scans everything.
    let req: StartScan = if body.iter().all(u8::is_ascii_whitespace) {
        StartScan::default()
    } else {
        shared::http::parse_json(&body)?
    };
    if let Some(regions) = &req.regions {
        if let Some(bad) = regions.iter().find(|r| !plausible_region(r)) {
            let shown: String = bad.chars().take(64).collect();
            return Err(ApiError::invalid(
                "regions",
                format!("{shown:?} is not a region name"),
            ));
        }
    }
    let services = match &req.services {
        Some(names) => Some(
            names
                .iter()
                .map(|name| {
                    Service::parse_scanned(name).ok_or_else(|| {
                        let all: Vec<&str> = Service::scanned().map(Service::as_str).collect();
                        let shown: String = name.chars().take(64).collect();
                        ApiError::invalid(
                            "services",
                            format!("{shown:?} is not one of {}", all.join(", ")),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let mut accounts = state.inventory.accounts().await?;
    if let Some(ids) = &req.account_ids {
        if let Some(unknown) = ids
            .iter()
            .find(|id| !accounts.iter().any(|a| &a.account_id == *id))
        {
            let shown: String = unknown.chars().take(64).collect();
            return Err(ApiError::invalid(
                "account_ids",
                format!("{shown:?} is not a registered account"),
            ));
        }
        accounts.retain(|a| ids.contains(&a.account_id));
    }
    let scan = start_scan(
        &state,
        ScanTrigger::Api,
        &accounts,
        req.regions.as_deref(),
        services.as_deref(),
    )
    .await?;
    let body = Queued {
        scan_id: scan.scan_id,
        status: scan.status,
        jobs: scan.jobs_total,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn start_scan(
    state: &State,
    trigger: ScanTrigger,
    accounts: &[shared::inventory::Account],
    regions: Option<&[String]>,
    services: Option<&[Service]>,
) -> Result<Scan, ApiError> {
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = plan_jobs(&scan_id, trigger, accounts, regions, services);
    let scan = state
        .inventory
        .create_scan(&scan_id, trigger, &jobs, now())
        .await?;
    tracing::info!(scan = %scan_id, jobs = jobs.len(), trigger = trigger.as_str(), "scan queued");
    Ok(scan)
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

/// Scans, newest first.
#[utoipa::path(
    get, path = "/v1/scans", tag = "inventory", operation_id = "list_scans", params(PageQuery),
    responses((status = 200, body = Page<Scan>), (status = 401, body = ErrorBody))
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Scan>>, ApiError> {
    caller.require(Role::Reader)?;
    let pager = state.auth.pager("scans").await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state.inventory.scans(q.limit.get(), after).await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page { items, next_cursor }))
}

/// `/v1/scans/{scan_id}`
#[derive(Debug, Deserialize)]
pub struct ScanPath {
    scan_id: String,
}

/// One scan: its status, per-service counts and every error.
#[utoipa::path(
    get, path = "/v1/scans/{scan_id}", tag = "inventory", operation_id = "get_scan",
    params(("scan_id" = String, Path)),
    responses((status = 200, body = Scan), (status = 404, body = ErrorBody))
)]
pub async fn get(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(ScanPath { scan_id }): Path<ScanPath>,
) -> Result<Json<Scan>, ApiError> {
    caller.require(Role::Reader)?;
    known_scan(&state, &scan_id).await.map(Json)
}

/// The scan `scan_id` names; only the canonical form we issue reaches the table.
async fn known_scan(state: &State, scan_id: &str) -> Result<Scan, ApiError> {
    if uuid::Uuid::parse_str(scan_id).map_or(true, |id| id.hyphenated().to_string() != scan_id) {
        return Err(ApiError::invalid("scan_id", "a scan id is a UUID"));
    }
    state
        .inventory
        .scan(scan_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such scan"))
}

/// A scan's jobs (one per account and region, and one per account for its
/// global services), each with where it is: the progress of a scan, job by job.
#[utoipa::path(
    get, path = "/v1/scans/{scan_id}/jobs", tag = "inventory", operation_id = "list_scan_jobs",
    params(("scan_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<JobProgress>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn jobs(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(ScanPath { scan_id }): Path<ScanPath>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<JobProgress>>, ApiError> {
    caller.require(Role::Reader)?;
    known_scan(&state, &scan_id).await?;
    // A cursor names its scan: one scan's cursor is refused on another.
    let pager = state.auth.pager(format!("scan-jobs/{scan_id}")).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state.inventory.jobs(&scan_id, q.limit.get(), after).await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page { items, next_cursor }))
}
