//! Accounts: registered after a live connection test; never raw keys.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::dynamo::{now, rfc3339};
use shared::error::ErrorBody;
use shared::http::{Json, Path};
use shared::inventory::{
    Account, RegisteredAccounts, partition_of_arn, partition_of_region, plausible_account_id,
    plausible_region, regions_of_partition,
};
use shared::pagination::Page;
use utoipa::ToSchema;

use crate::State;
use crate::store::AccountRegistry;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    /// 1 to 64 characters.
    name: String,
    /// A role in the account, trusting cloudkeep's scanner role; absent for the backend's own account.
    role_arn: Option<String>,
    /// The external id the role's trust policy requires.
    external_id: Option<String>,
    /// A role in the same account, trusting cloudkeep's actions role, that
    /// may make the remediation calls (`infra/cloudformation/customer-remediation-role.yaml`);
    /// without one no action is taken in the account. Needs a `role_arn`.
    remediation_role_arn: Option<String>,
    /// Regions to scan; by default every region enabled in the account.
    regions: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    ok: bool,
    account_id: Option<String>,
    regions_available: Vec<String>,
    /// Why the test failed, in words a person can act on.
    error: Option<String>,
}

/// `arn:aws:iam::123456789012:role/path/name` (any AWS partition), named
/// `field` in the answer when it is not.
fn check_role_arn(field: &'static str, arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty() && name.len() <= 512);
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be an IAM role ARN: arn:aws:iam::<12 digits>:role/<name>",
        ))
    }
}

fn check_request(req: &AccountRequest) -> Result<(), ApiError> {
    if !(1..=64).contains(&req.name.trim().chars().count()) {
        return Err(ApiError::invalid("name", "must be 1 to 64 characters"));
    }
    if let Some(arn) = &req.role_arn {
        check_role_arn("role_arn", arn)?;
    }
    if let Some(arn) = &req.remediation_role_arn {
        check_role_arn("remediation_role_arn", arn)?;
        let account = |arn: &str| arn.split(':').nth(4).map(str::to_owned);
        match &req.role_arn {
            None => {
                return Err(ApiError::invalid(
                    "remediation_role_arn",
                    "only meaningful with a role_arn: in the backend's own account, actions use the actions function's role",
                ));
            }
            Some(role) if account(role) != account(arn) => {
                return Err(ApiError::invalid(
                    "remediation_role_arn",
                    "must be a role in the same account as role_arn",
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(external) = &req.external_id {
        // AWS's own limits for sts:ExternalId.
        let ok = (2..=1224).contains(&external.len())
            && external
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
        if !ok {
            return Err(ApiError::invalid(
                "external_id",
                "2 to 1224 characters of letters, digits and +=,.@:/-_",
            ));
        }
        if req.role_arn.is_none() {
            return Err(ApiError::invalid(
                "external_id",
                "only meaningful with a role_arn",
            ));
        }
    }
    if let Some(regions) = &req.regions {
        if regions.is_empty() || regions.len() > 64 || !regions.iter().all(|r| plausible_region(r))
        {
            return Err(ApiError::invalid(
                "regions",
                "1 to 64 region names such as eu-west-1",
            ));
        }
    }
    Ok(())
}

/// What the connection test calls: the customer's role, who it is, and
/// which regions it has enabled.
pub const CONNECTION_TEST_IAM_ACTIONS: &[&str] = &[
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    "ec2:DescribeRegions",
];

/// Assumes the role (or uses our own credentials), asks who we are and which
/// regions are enabled. A failure says what AWS said (its code and message),
/// never the SDK's debug text.
async fn connect(
    aws: &SdkConfig,
    role_arn: Option<&str>,
    external_id: Option<&str>,
) -> ConnectionTest {
    let failed = |error: String| ConnectionTest {
        ok: false,
        account_id: None,
        regions_available: vec![],
        error: Some(error),
    };
    let config = match role_arn {
        Some(role) => {
            match shared::aws::assume_role(aws, role, external_id, "cloudkeep-connection-test")
                .await
            {
                Ok(c) => c,
                Err(e) => return failed(e.to_string()),
            }
        }
        None => aws.clone(),
    };
    let identity = match aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            tracing::info!(error = %shared::aws::describe(&e), "connection test: GetCallerIdentity failed");
            return failed(format!(
                "GetCallerIdentity failed: {}",
                shared::aws::client_text(&e)
            ));
        }
    };
    let Some(account_id) = identity.account().map(str::to_owned) else {
        return failed("GetCallerIdentity named no account".into());
    };
    let region = config.region().map_or("us-east-1", |r| r.as_ref());
    let partition = identity
        .arn()
        .and_then(partition_of_arn)
        .unwrap_or_else(|| partition_of_region(region))
        .to_owned();
    let regions = match aws_sdk_ec2::Client::new(&config)
        .describe_regions()
        .send()
        .await
    {
        Ok(out) => regions_of_partition(
            out.regions().iter().filter_map(|r| r.region_name()),
            &partition,
        ),
        Err(e) => {
            tracing::info!(error = %shared::aws::describe(&e), "connection test: DescribeRegions failed");
            return failed(format!(
                "DescribeRegions failed: {}",
                shared::aws::client_text(&e)
            ));
        }
    };
    ConnectionTest {
        ok: true,
        account_id: Some(account_id),
        regions_available: regions,
        error: None,
    }
}

/// Tests a connection without storing anything.
#[utoipa::path(
    post, path = "/v1/accounts/test", tag = "inventory", operation_id = "test_account",
    request_body = AccountRequest,
    responses((status = 200, body = ConnectionTest), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn test(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Json(req): Json<AccountRequest>,
) -> Result<Json<ConnectionTest>, ApiError> {
    caller.require(Role::Admin)?;
    check_request(&req)?;
    Ok(Json(
        connect(
            &state.aws,
            req.role_arn.as_deref(),
            req.external_id.as_deref(),
        )
        .await,
    ))
}

/// Registers an account after a live connection test.
#[utoipa::path(
    post, path = "/v1/accounts", tag = "inventory", operation_id = "create_account",
    request_body = AccountRequest,
    responses(
        (status = 201, body = Account),
        (status = 409, description = "Registered already", body = ErrorBody),
        (status = 422, description = "Invalid, or the connection test failed (the reason in details)", body = ErrorBody),
    )
)]
pub async fn create(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Json(req): Json<AccountRequest>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    check_request(&req)?;
    let test = connect(
        &state.aws,
        req.role_arn.as_deref(),
        req.external_id.as_deref(),
    )
    .await;
    let (Some(account_id), true) = (test.account_id, test.ok) else {
        return Err(ApiError::invalid(
            if req.role_arn.is_some() {
                "role_arn"
            } else {
                "account"
            },
            test.error
                .unwrap_or_else(|| "the connection test failed".into()),
        ));
    };
    let regions = match req.regions {
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|r| !test.regions_available.contains(r)) {
                return Err(ApiError::invalid(
                    "regions",
                    format!("{missing} is not enabled in account {account_id}"),
                ));
            }
            wanted
        }
        None => test.regions_available,
    };
    let account = Account {
        account_id,
        name: req.name.trim().to_owned(),
        role_arn: req.role_arn,
        external_id: req.external_id,
        remediation_role_arn: req.remediation_role_arn,
        regions,
        created_at: rfc3339(now()),
    };
    if !state.inventory.register_account(&account).await? {
        return Err(ApiError::conflict(format!(
            "account {} is registered already",
            account.account_id
        )));
    }
    tracing::info!(account = %account.account_id, regions = account.regions.len(), "account registered");
    Ok((StatusCode::CREATED, Json(account)).into_response())
}

/// Every registered account.
#[utoipa::path(
    get, path = "/v1/accounts", tag = "inventory", operation_id = "list_accounts",
    responses((status = 200, body = Page<Account>), (status = 403, body = ErrorBody))
)]
pub async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
) -> Result<Json<Page<Account>>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(Page {
        items: state.inventory.accounts().await?,
        next_cursor: None,
    }))
}

/// `/v1/accounts/{account_id}`
#[derive(Debug, Deserialize)]
pub struct AccountPath {
    account_id: String,
}

/// Stops scanning an account (its inventory stays until it ages out).
#[utoipa::path(
    delete, path = "/v1/accounts/{account_id}", tag = "inventory", operation_id = "delete_account",
    params(("account_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn delete(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(AccountPath { account_id }): Path<AccountPath>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    if !plausible_account_id(&account_id) {
        return Err(ApiError::invalid(
            "account_id",
            "an AWS account id is 12 digits",
        ));
    }
    if state.inventory.remove_account(&account_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such account"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked_at_the_edge() {
        assert!(
            check_role_arn(
                "role_arn",
                "arn:aws:iam::123456789012:role/cloudkeep-readonly"
            )
            .is_ok()
        );
        assert!(check_role_arn("role_arn", "arn:aws-us-gov:iam::123456789012:role/x/y").is_ok());
        for bad in [
            "",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(check_role_arn("role_arn", bad).is_err(), "{bad}");
        }
    }
}
