//! `POST /v1/actions`, `POST /v1/actions/bulk` and `GET /v1/actions`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State as Extract;
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::error::ErrorBody;
use shared::http::{Json, Query};
use shared::pagination::{Limit, Page};
use shared::resources::storable_arn;
use utoipa::{IntoParams, ToSchema};

use crate::State;
use crate::action::{ActionKind, Status, Target};
use crate::audit::{ActionRecord, AuditLog, Idempotency, LogFilters, Replay};
use crate::run::{Session, run};

/// `POST /v1/actions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The resource's ARN (a bucket's: `arn:aws:s3:::name`).
    resource_arn: String,
    /// One of the eight actions, e.g. `ec2.delete_volume`.
    #[schema(value_type = ActionKind)]
    action: String,
    /// `true` unless `false` is sent: a dry run reads, checks and (on EC2)
    /// asks AWS, but changes nothing.
    #[serde(default)]
    dry_run: Option<bool>,
    /// Why (1–500 characters); required for a real action.
    #[serde(default)]
    reason: Option<String>,
}

/// One item of a bulk request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkItem {
    resource_arn: String,
    #[schema(value_type = ActionKind)]
    action: String,
}

/// `POST /v1/actions/bulk`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// 1 to 100 items; a repeated item is done once.
    items: Vec<BulkItem>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
}

/// Each item's record, in the order asked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkAnswer {
    items: Vec<ActionRecord>,
}

/// The most items a bulk request may hold.
const MAX_BULK: usize = 100;
/// Bulk items acted on at once.
const CONCURRENCY: usize = 8;

fn target(field: &str, arn: &str, action: &str) -> Result<Target, ApiError> {
    let kind = ActionKind::parse(action).ok_or_else(|| {
        ApiError::invalid(
            format!("{field}action"),
            format!("one of {}", ActionKind::names()),
        )
    })?;
    Target::parse(kind, arn)
        .map_err(|problem| ApiError::invalid(format!("{field}resource_arn"), problem))
}

/// Dry run unless `false`; a real action needs a reason.
fn intent(
    dry_run: Option<bool>,
    reason: &Option<String>,
) -> Result<(bool, Option<String>), ApiError> {
    let dry_run = dry_run.unwrap_or(true);
    let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    match reason {
        Some(r) if r.chars().count() > 500 => {
            Err(ApiError::invalid("reason", "at most 500 characters"))
        }
        None if !dry_run => Err(ApiError::invalid(
            "reason",
            "a real action (dry_run: false) needs a reason, for the audit log",
        )),
        r => Ok((dry_run, r.map(str::to_owned))),
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "1 to 255 visible ASCII characters"))
}

/// Answers `answer()` once per idempotency key: a repeat within 24 hours
/// gets the first answer without acting again.
async fn once<T, F>(
    state: &State,
    caller: &Caller,
    headers: &HeaderMap,
    request: &impl Serialize,
    answer: F,
) -> Result<Json<T>, ApiError>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: AsyncFnOnce() -> Result<T, ApiError>,
{
    let Some(key) = idempotency_key(headers)? else {
        return answer().await.map(Json);
    };
    let text = serde_json::to_string(request).map_err(ApiError::internal)?;
    let fingerprint: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let who = caller.username.as_str();
    let now = shared::dynamo::now();
    match state.audit.claim(who, &key, &fingerprint, now).await? {
        Replay::First => {}
        Replay::Answered(first) => {
            return serde_json::from_str(&first)
                .map(Json)
                .map_err(ApiError::internal);
        }
        Replay::InFlight => {
            return Err(ApiError::conflict(
                "a request with this Idempotency-Key is still being answered; retry in a moment",
            ));
        }
        Replay::Mismatch => {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "was sent in the last 24 hours with a different request",
            ));
        }
    }
    match answer().await {
        Ok(value) => {
            let text = serde_json::to_string(&value).map_err(ApiError::internal)?;
            state
                .audit
                .remember(who, &key, &fingerprint, &text, now)
                .await?;
            Ok(Json(value))
        }
        Err(e) => {
            state.audit.forget(who, &key).await?;
            Err(e)
        }
    }
}

/// What an idempotent request is compared by: everything it asks.
#[derive(Serialize)]
struct Asked<'a> {
    route: &'static str,
    items: Vec<(&'a str, &'a str)>,
    dry_run: bool,
    reason: Option<&'a str>,
}

/// Runs one action: a dry run unless `dry_run` is `false`.
#[utoipa::path(
    post, path = "/v1/actions", tag = "actions", operation_id = "run_action",
    request_body = ActionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeat within 24 hours answers the first answer and acts once")),
    responses(
        (status = 200, description = "The action's audit record: planned, done, refused or failed", body = ActionRecord),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The same Idempotency-Key is still being answered", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn act(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    headers: HeaderMap,
    Json(req): Json<ActionRequest>,
) -> Result<Json<ActionRecord>, ApiError> {
    caller.require(Role::Admin)?;
    let target = target("", &req.resource_arn, &req.action)?;
    let (dry_run, reason) = intent(req.dry_run, &req.reason)?;
    let asked = Asked {
        route: "action",
        items: vec![(&req.resource_arn, &req.action)],
        dry_run,
        reason: reason.as_deref(),
    };
    once(&state, &caller, &headers, &asked, async || {
        let session = Session::new(&state);
        Ok(run(&session, &caller, &target, dry_run, reason.as_deref()).await?)
    })
    .await
}

/// Runs up to 100 actions, each on its own: one refusal or failure stops
/// no other. A repeated item is done once and answered at each place.
#[utoipa::path(
    post, path = "/v1/actions/bulk", tag = "actions", operation_id = "run_bulk_actions",
    request_body = BulkRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeat within 24 hours answers the first answer and acts once")),
    responses(
        (status = 200, body = BulkAnswer),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn bulk(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    headers: HeaderMap,
    Json(req): Json<BulkRequest>,
) -> Result<Json<BulkAnswer>, ApiError> {
    use futures::StreamExt;
    caller.require(Role::Admin)?;
    if !(1..=MAX_BULK).contains(&req.items.len()) {
        return Err(ApiError::invalid("items", format!("1 to {MAX_BULK} items")));
    }
    let targets = req
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| target(&format!("items[{i}]."), &item.resource_arn, &item.action))
        .collect::<Result<Vec<_>, _>>()?;
    let (dry_run, reason) = intent(req.dry_run, &req.reason)?;
    let asked = Asked {
        route: "bulk",
        items: req
            .items
            .iter()
            .map(|i| (i.resource_arn.as_str(), i.action.as_str()))
            .collect(),
        dry_run,
        reason: reason.as_deref(),
    };
    once(&state, &caller, &headers, &asked, async || {
        let mut unique: Vec<Target> = Vec::new();
        for t in &targets {
            if !unique.contains(t) {
                unique.push(t.clone());
            }
        }
        let session = Session::new(&state);
        let (session, caller, reason) = (&session, &caller, reason.as_deref());
        let runs = unique.into_iter().map(|t| async move {
            let record = run(session, caller, &t, dry_run, reason).await;
            record.map(|r| (t, r))
        });
        let done: Vec<(Target, ActionRecord)> = futures::stream::iter(runs)
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let by_target: HashMap<Target, ActionRecord> = done.into_iter().collect();
        let items = targets
            .iter()
            .filter_map(|t| by_target.get(t).cloned())
            .collect();
        Ok(BulkAnswer { items })
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only actions on this resource.
    resource_arn: Option<String>,
    /// `pending`, `planned`, `done`, `refused` or `failed`.
    status: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Limit,
    cursor: Option<String>,
}

/// The audit log, newest first: every action, dry or real, whatever its end.
#[utoipa::path(
    get, path = "/v1/actions", tag = "actions", operation_id = "list_actions", params(LogQuery),
    responses(
        (status = 200, body = Page<ActionRecord>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(q): Query<LogQuery>,
) -> Result<Json<Page<ActionRecord>>, ApiError> {
    caller.require(Role::Admin)?;
    if q.resource_arn
        .as_deref()
        .is_some_and(|arn| !storable_arn(arn))
    {
        return Err(ApiError::invalid(
            "resource_arn",
            "an ARN of at most 960 bytes",
        ));
    }
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::invalid("status", "pending, planned, done, refused or failed")
            })
        })
        .transpose()?;
    let filters = LogFilters {
        resource_arn: q.resource_arn,
        status,
    };
    let pager = state.auth.pager(format!("actions?{filters:?}")).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state.audit.list(&filters, q.limit.get(), after).await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page { items, next_cursor }))
}
