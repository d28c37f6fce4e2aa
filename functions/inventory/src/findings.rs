//! Findings: the advisor's to-do list, suppressions, and the summary.

use std::sync::Arc;

use axum::extract::State as Extract;
use serde::Deserialize;
use shared::ApiError;
use shared::advisor::{self, Category, Severity};
use shared::auth::{Caller, Role};
use shared::error::ErrorBody;
use shared::findings::{Finding, FindingStatus, Suppression};
use shared::http::{Json, Path, Query};
use shared::inventory::{GLOBAL, Service, plausible_account_id, plausible_region};
use shared::pagination::{Limit, Page};
use shared::summary::Summary;
use utoipa::{IntoParams, ToSchema};

use crate::State;
use crate::store::{FindingFilters, FindingQueries, SummaryReads, Suppressions, now_text};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// `critical`, `high`, `medium` or `low`.
    severity: Option<String>,
    /// `security`, `cost` or `reliability`.
    category: Option<String>,
    /// A check id of the catalogue, e.g. `ec2.volume_unattached`.
    check_id: Option<String>,
    /// A scanned service, e.g. `ec2`.
    service: Option<String>,
    /// 12 digits.
    account_id: Option<String>,
    /// A region name, or `global`.
    region: Option<String>,
    /// `open`, `resolved` or `suppressed`.
    status: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Limit,
    cursor: Option<String>,
}

/// One optional value parsed by `parse`, or a `422` naming the field and its values.
fn parsed<T>(
    field: &'static str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    rule: &str,
) -> Result<Option<T>, ApiError> {
    value
        .as_deref()
        .map(|v| parse(v).ok_or_else(|| ApiError::invalid(field, rule)))
        .transpose()
}

/// The query's filters, each checked against what it names.
pub fn filters(q: &FindingQuery) -> Result<FindingFilters, ApiError> {
    let services: Vec<&str> = Service::scanned().map(Service::as_str).collect();
    Ok(FindingFilters {
        severity: parsed(
            "severity",
            &q.severity,
            Severity::parse,
            "critical, high, medium or low",
        )?,
        category: parsed(
            "category",
            &q.category,
            Category::parse,
            "security, cost or reliability",
        )?,
        check_id: parsed(
            "check_id",
            &q.check_id,
            |id| advisor::check(id).map(|c| c.id.to_owned()),
            "a check id of the catalogue, such as ec2.volume_unattached",
        )?,
        service: parsed(
            "service",
            &q.service,
            Service::parse_scanned,
            &format!("one of {}", services.join(", ")),
        )?,
        account_id: parsed(
            "account_id",
            &q.account_id,
            |a| plausible_account_id(a).then(|| a.to_owned()),
            "an AWS account id is 12 digits",
        )?,
        region: parsed(
            "region",
            &q.region,
            |r| (r == GLOBAL || plausible_region(r)).then(|| r.to_owned()),
            "a region name such as eu-west-1, or global",
        )?,
        status: parsed(
            "status",
            &q.status,
            FindingStatus::parse,
            "open, resolved or suppressed",
        )?,
    })
}

/// The to-do list: findings by severity, then by the dollars fixing them
/// saves a month. Evaluates at most 1,000 findings a request: a filter that
/// matches little answers a partial page with a `next_cursor`.
#[utoipa::path(
    get, path = "/v1/findings", tag = "inventory", operation_id = "list_findings", params(FindingQuery),
    responses((status = 200, body = Page<Finding>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(q): Query<FindingQuery>,
) -> Result<Json<Page<Finding>>, ApiError> {
    caller.require(Role::Reader)?;
    let filters = filters(&q)?;
    let scope = format!("findings?{filters:?}");
    let pager = state.auth.pager(scope.as_str()).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state
        .resources
        .findings(&filters, q.limit.get(), after)
        .await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page { items, next_cursor }))
}

/// `/v1/findings/{finding_id}/suppress`
#[derive(Debug, Deserialize)]
pub struct FindingPath {
    finding_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressRequest {
    /// Why, for whoever reads the audit later: 1 to 500 characters.
    reason: String,
    /// RFC 3339, in the future: the finding shows again after it. Absent: until unsuppressed.
    until: Option<String>,
}

/// The finding named by the path, or `404`.
async fn stored(state: &State, finding_id: &str) -> Result<shared::findings::Record, ApiError> {
    if !advisor::plausible_finding_id(finding_id) {
        return Err(ApiError::invalid("finding_id", "32 hexadecimal digits"));
    }
    state
        .resources
        .finding(finding_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such finding"))
}

/// Suppresses a finding, with a reason and an optional expiry; it stays
/// suppressed across scans until `until` passes or it is unsuppressed.
#[utoipa::path(
    post, path = "/v1/findings/{finding_id}/suppress", tag = "inventory", operation_id = "suppress_finding",
    params(("finding_id" = String, Path, pattern = "^[0-9a-f]{32}$")),
    request_body = SuppressRequest,
    responses((status = 200, body = Finding), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn suppress(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(FindingPath { finding_id }): Path<FindingPath>,
    Json(req): Json<SuppressRequest>,
) -> Result<Json<Finding>, ApiError> {
    caller.require(Role::Admin)?;
    let reason = req.reason.trim();
    if !(1..=500).contains(&reason.chars().count()) || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid("reason", "1 to 500 characters of text"));
    }
    let now = now_text();
    let until = match &req.until {
        None => None,
        Some(text) => {
            let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| {
                ApiError::invalid("until", "an RFC 3339 time, such as 2027-01-31T00:00:00Z")
            })?;
            let until = shared::dynamo::rfc3339(at.timestamp());
            if until <= now {
                return Err(ApiError::invalid("until", "must be in the future"));
            }
            Some(until)
        }
    };
    let record = stored(&state, &finding_id).await?;
    let suppression = Suppression {
        by: caller.username.to_string(),
        reason: reason.to_owned(),
        at: now.clone(),
        until,
    };
    let record = state
        .resources
        .suppress(&record, &suppression)
        .await?
        .ok_or_else(|| ApiError::not_found("no such finding"))?;
    tracing::info!(finding = %finding_id, by = %caller.username, "finding suppressed");
    Ok(Json(record.finding(&now)))
}

/// Lifts a finding's suppression: back to `open`, or `resolved` if it passes now.
#[utoipa::path(
    delete, path = "/v1/findings/{finding_id}/suppress", tag = "inventory", operation_id = "unsuppress_finding",
    params(("finding_id" = String, Path, pattern = "^[0-9a-f]{32}$")),
    responses((status = 200, body = Finding), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn unsuppress(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(FindingPath { finding_id }): Path<FindingPath>,
) -> Result<Json<Finding>, ApiError> {
    caller.require(Role::Admin)?;
    let record = stored(&state, &finding_id).await?;
    let record = state
        .resources
        .unsuppress(&record, &caller.username.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("no such finding"))?;
    tracing::info!(finding = %finding_id, by = %caller.username, "finding unsuppressed");
    Ok(Json(record.finding(&now_text())))
}

/// Counts by service, region and type, the total monthly cost, the monthly
/// savings of open findings, findings by severity and category, and the
/// last scan: aggregates kept when each scan closes (one read).
#[utoipa::path(
    get, path = "/v1/summary", tag = "inventory", operation_id = "get_summary",
    responses((status = 200, body = Summary), (status = 401, body = ErrorBody))
)]
pub async fn summary(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
) -> Result<Json<Summary>, ApiError> {
    caller.require(Role::Reader)?;
    Ok(Json(state.resources.summary().await?))
}
