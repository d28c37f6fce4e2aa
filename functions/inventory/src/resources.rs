//! The inventory's query side: resources by account, service, type, region,
//! state, tag or text; one resource by ARN.

use std::sync::Arc;

use axum::extract::State as Extract;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::error::ErrorBody;
use shared::http::{Json, Path, Query};
use shared::pagination::Limit;
use shared::resources::{Filters, Resource};
use utoipa::{IntoParams, ToSchema};

use crate::State;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResourceQuery {
    account_id: Option<String>,
    region: Option<String>,
    service: Option<String>,
    /// `service:kind`, e.g. `ec2:instance`.
    #[serde(rename = "type")]
    resource_type: Option<String>,
    /// e.g. `running`, `stopped`, `available`, or `gone`.
    state: Option<String>,
    /// `key:value`
    tag: Option<String>,
    /// A substring of the ARN or name.
    q: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Limit,
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    items: Vec<Resource>,
    next_cursor: Option<String>,
}

fn bounded(field: &'static str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.is_empty() || v.len() > 256 => {
            Err(ApiError::invalid(field, "must be 1 to 256 characters"))
        }
        _ => Ok(()),
    }
}

/// Resources matching every given filter.
#[utoipa::path(
    get, path = "/v1/resources", tag = "inventory", operation_id = "list_resources", params(ResourceQuery),
    responses((status = 200, body = ResourcePage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(q): Query<ResourceQuery>,
) -> Result<Json<ResourcePage>, ApiError> {
    caller.require(Role::Reader)?;
    for (field, value) in [
        ("account_id", &q.account_id),
        ("region", &q.region),
        ("service", &q.service),
        ("type", &q.resource_type),
        ("state", &q.state),
        ("tag", &q.tag),
        ("q", &q.q),
    ] {
        bounded(field, value)?;
    }
    let tag = match &q.tag {
        Some(t) => Some(
            t.split_once(':')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| ApiError::invalid("tag", "must be key:value"))?,
        ),
        None => None,
    };
    let filters = Filters {
        account_id: q.account_id.clone(),
        region: q.region.clone(),
        service: q.service.clone(),
        resource_type: q.resource_type.clone(),
        state: q.state.clone(),
        tag,
        q: q.q.clone(),
    };
    // The cursor belongs to this exact combination of filters.
    let scope = format!("resources?{:?}", filters);
    let pager = state.auth.pager(scope.as_str()).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state.resources.list(&filters, q.limit.get(), after).await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(ResourcePage { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDetail {
    #[serde(flatten)]
    resource: Resource,
    /// The resource's findings (the advisor is not built yet: always empty).
    #[schema(value_type = Vec<Object>)]
    findings: Vec<serde_json::Value>,
}

/// `/v1/resources/{arn}` (the ARN URL-encoded)
#[derive(Debug, Deserialize)]
pub struct ArnPath {
    arn: String,
}

/// One resource by ARN.
#[utoipa::path(
    get, path = "/v1/resources/{arn}", tag = "inventory", operation_id = "get_resource",
    params(("arn" = String, Path, description = "The ARN, URL-encoded")),
    responses((status = 200, body = ResourceDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn get(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(ArnPath { arn }): Path<ArnPath>,
) -> Result<Json<ResourceDetail>, ApiError> {
    caller.require(Role::Reader)?;
    if !arn.starts_with("arn:") || arn.len() > 2048 || arn.split(':').count() < 6 {
        return Err(ApiError::invalid("arn", "not an ARN"));
    }
    let resource = state
        .resources
        .by_arn(&arn)
        .await?
        .ok_or_else(|| ApiError::not_found("no such resource"))?;
    Ok(Json(ResourceDetail {
        resource,
        findings: vec![],
    }))
}
