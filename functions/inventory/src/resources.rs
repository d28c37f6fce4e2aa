//! The inventory's query side: resources by account, service, type, region,
//! state, tag or text; one resource by ARN.

use std::sync::Arc;

use axum::extract::State as Extract;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::error::ErrorBody;
use shared::http::{Json, Path, Query};
use shared::inventory::{
    GLOBAL, RegisteredAccounts, Service, plausible_account_id, plausible_region,
};
use shared::pagination::{Limit, Page};
use shared::resources::{MAX_ARN_BYTES, Resource, storable_arn};
use utoipa::{IntoParams, ToSchema};

use crate::State;
use crate::store::{Filters, FindingQueries, ResourceQueries, StateFilter};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResourceQuery {
    /// 12 digits.
    account_id: Option<String>,
    /// A region name, or `global` (IAM).
    region: Option<String>,
    /// `ec2`, `rds`, `lambda`, `elbv2`, `logs`, `kms`, `secretsmanager`, `dynamodb`, `iam` or `s3`.
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

/// One query parameter checked against its rule; the problem names the field.
fn check(
    field: &'static str,
    value: &Option<String>,
    ok: impl Fn(&str) -> bool,
    rule: &str,
) -> Result<(), ApiError> {
    match value {
        Some(v) if !ok(v) => Err(ApiError::invalid(field, rule)),
        _ => Ok(()),
    }
}

/// `1..=max` bytes of printable text.
fn text(max: usize) -> impl Fn(&str) -> bool {
    move |v: &str| (1..=max).contains(&v.len()) && !v.chars().any(char::is_control)
}

/// The query's filters, each within the limits of what it names; anything
/// else is a `422` before any table is read.
pub(crate) fn filters(q: &ResourceQuery) -> Result<Filters, ApiError> {
    check(
        "account_id",
        &q.account_id,
        plausible_account_id,
        "an AWS account id is 12 digits",
    )?;
    check(
        "region",
        &q.region,
        |r| r == GLOBAL || plausible_region(r),
        "a region name such as eu-west-1, or global",
    )?;
    let service = match &q.service {
        Some(name) => Some(Service::parse_scanned(name).ok_or_else(|| {
            let all: Vec<&str> = Service::scanned().map(Service::as_str).collect();
            ApiError::invalid("service", format!("one of {}", all.join(", ")))
        })?),
        None => None,
    };
    check(
        "type",
        &q.resource_type,
        |t| {
            t.split_once(':').is_some_and(|(service, kind)| {
                Service::parse_scanned(service).is_some()
                    && (1..=64).contains(&kind.len())
                    && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        },
        "service:kind, such as ec2:instance",
    )?;
    check("state", &q.state, text(64), "1 to 64 characters")?;
    check("q", &q.q, text(256), "1 to 256 characters")?;
    // AWS's own limits: a tag key is at most 128 characters, a value 256.
    let tag = match &q.tag {
        Some(t) => match t.split_once(':') {
            Some((k, v)) if text(128)(k) && (v.is_empty() || text(256)(v)) => {
                Some((k.to_owned(), v.to_owned()))
            }
            _ => {
                return Err(ApiError::invalid(
                    "tag",
                    "key:value, a key of 1 to 128 characters and a value of at most 256",
                ));
            }
        },
        None => None,
    };
    Ok(Filters {
        account_id: q.account_id.clone(),
        region: q.region.clone(),
        service,
        resource_type: q.resource_type.clone(),
        state: q.state.as_deref().map(StateFilter::parse),
        tag,
        q: q.q.clone(),
    })
}

/// Resources matching every given filter. A request evaluates at most 1,000
/// items: a filter that matches little answers a partial page, possibly
/// empty, with a `next_cursor` to go on from.
#[utoipa::path(
    get, path = "/v1/resources", tag = "inventory", operation_id = "list_resources", params(ResourceQuery),
    responses((status = 200, body = Page<Resource>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(q): Query<ResourceQuery>,
) -> Result<Json<Page<Resource>>, ApiError> {
    caller.require(Role::Reader)?;
    let filters = filters(&q)?;
    // The cursor belongs to this exact combination of filters.
    let scope = format!("resources?{:?}", filters);
    let pager = state.auth.pager(scope.as_str()).await?;
    let after = pager.start(q.cursor.as_deref())?;
    let (items, last) = state
        .resources
        .resources(&filters, q.limit.get(), after)
        .await?;
    let next_cursor = pager.next(last)?;
    Ok(Json(Page { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDetail {
    #[serde(flatten)]
    resource: Resource,
    /// The resource's findings: open, suppressed and resolved.
    findings: Vec<shared::findings::Finding>,
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
    if !storable_arn(&arn) {
        return Err(ApiError::invalid(
            "arn",
            format!(
                "an ARN (arn:partition:service:region:account:resource) of at most {MAX_ARN_BYTES} bytes"
            ),
        ));
    }
    // An ARN without an account (an S3 bucket's) is looked for in each registered account.
    let accounts = if arn.split(':').nth(4).is_some_and(str::is_empty) {
        state.inventory.accounts().await?
    } else {
        vec![]
    };
    let resource = state
        .resources
        .resource_by_arn(&arn, &accounts)
        .await?
        .ok_or_else(|| ApiError::not_found("no such resource"))?;
    let findings = state.resources.findings_of(&resource).await?;
    Ok(Json(ResourceDetail { resource, findings }))
}
