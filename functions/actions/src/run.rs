//! One action, start to end: the audit record first, then the account's
//! credentials, the lock (real actions), the live read, the plan recorded,
//! the call, the inventory kept true, and the record completed. Whatever
//! happens after the record is written, the record says it.

use std::collections::HashMap;

use aws_config::SdkConfig;
use shared::auth::Caller;
use shared::dynamo::{StoreError, now, rfc3339};
use shared::inventory::Account;
use tokio::sync::Mutex;

use crate::State;
use crate::action::{Status, Target};
use crate::aftermath::Inventory;
use crate::audit::{ActionRecord, AuditLog, Locks};
use crate::remediate::{self, Clients, Verdict};

/// How an attempt ended, before it is written down.
struct Ended {
    status: Status,
    message: String,
    error_code: Option<String>,
}

impl Ended {
    fn refused(message: impl Into<String>) -> Self {
        Self {
            status: Status::Refused,
            message: message.into(),
            error_code: None,
        }
    }

    fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: Status::Failed,
            message: message.into(),
            error_code: Some(code.into()),
        }
    }
}

/// The credentials of the accounts one request acts in, each assumed once.
pub struct Session<'a> {
    state: &'a State,
    assumed: Mutex<HashMap<String, Result<SdkConfig, String>>>,
}

impl<'a> Session<'a> {
    pub fn new(state: &'a State) -> Self {
        Self {
            state,
            assumed: Mutex::new(HashMap::new()),
        }
    }

    /// The clients that act in `account`, in `region`: the function's own
    /// credentials in the backend's own account (registered without a
    /// role), else the account's remediation role, assumed.
    async fn clients(&self, account: &Account, region: &str) -> Result<Clients, Ended> {
        let base = match (&account.role_arn, &account.remediation_role_arn) {
            (None, _) => self.state.aws.clone(),
            (Some(_), None) => {
                return Err(Ended::refused(format!(
                    "account {} has no remediation role: cloudkeep only reads it. Deploy \
                     infra/cloudformation/customer-remediation-role.yaml there and register \
                     its ARN as remediation_role_arn",
                    account.account_id
                )));
            }
            (Some(_), Some(role)) => {
                let mut assumed = self.assumed.lock().await;
                let config = match assumed.get(&account.account_id) {
                    Some(config) => config.clone(),
                    None => {
                        let config = shared::aws::assume_role(
                            &self.state.aws,
                            role,
                            account.external_id.as_deref(),
                            "cloudkeep-action",
                        )
                        .await
                        .map_err(|e| e.to_string());
                        assumed.insert(account.account_id.clone(), config.clone());
                        config
                    }
                };
                config.map_err(|message| Ended::failed("AssumeRoleFailed", message))?
            }
        };
        let config = base
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        Ok(Clients::new(&config))
    }
}

/// Runs one action for `caller` and answers its completed audit record.
/// `Err` only when the audit log itself cannot be written.
pub async fn run(
    session: &Session<'_>,
    caller: &Caller,
    target: &Target,
    dry_run: bool,
    reason: Option<&str>,
) -> Result<ActionRecord, StoreError> {
    let state = session.state;
    let mut record = ActionRecord {
        action_id: uuid::Uuid::new_v4().to_string(),
        resource_arn: target.arn.clone(),
        action: target.kind,
        dry_run,
        status: Status::Pending,
        message: "under way".into(),
        monthly_savings_usd: 0.0,
        error_code: None,
        account_id: target.account_id.clone(),
        by: caller.username.to_string(),
        reason: reason.map(str::to_owned),
        requested_at: rfc3339(now()),
        finished_at: None,
        plan: None,
        requested_us: shared::dynamo::now_micros(),
    };
    state.audit.begin(&record).await?;
    let ended = match attempt(session, target, &mut record).await {
        Ok(ended) => ended,
        Err(e) => {
            tracing::error!(action_id = %record.action_id, error = %e, "an action stopped on a store failure");
            Ended::failed(
                "InternalError",
                "cloudkeep could not complete the action; nothing more will be done without a new request",
            )
        }
    };
    record.status = ended.status;
    record.message = ended.message;
    record.error_code = ended.error_code;
    record.finished_at = Some(rfc3339(now()));
    state.audit.update(&record).await?;
    tracing::info!(
        action_id = %record.action_id,
        action = record.action.as_str(),
        dry_run,
        status = record.status.as_str(),
        error_code = record.error_code.as_deref().unwrap_or(""),
        "action ended"
    );
    Ok(record)
}

async fn attempt(
    session: &Session<'_>,
    target: &Target,
    record: &mut ActionRecord,
) -> Result<Ended, StoreError> {
    let state = session.state;
    let (account_id, region) = match (&target.account_id, &target.region) {
        (Some(account), Some(region)) => (account.clone(), region.clone()),
        _ => match state.inventory.bucket(&target.arn).await? {
            Some(place) => place,
            None => {
                return Ok(Ended::refused(format!(
                    "bucket {} is not in the inventory: scan its account first, so that \
                     cloudkeep knows which account and region it is in",
                    target.id
                )));
            }
        },
    };
    record.account_id = Some(account_id.clone());
    let Some(account) = state.inventory.account(&account_id).await? else {
        return Ok(Ended::refused(format!(
            "account {account_id} is not registered with cloudkeep"
        )));
    };
    let clients = match session.clients(&account, &region).await {
        Ok(clients) => clients,
        Err(ended) => return Ok(ended),
    };
    if record.dry_run {
        return act(state, &clients, target, record, &account_id, &region).await;
    }
    if !state
        .audit
        .lock(&target.arn, &record.action_id, now())
        .await?
    {
        return Ok(Ended::refused(
            "another action on this resource is under way; try again when it has ended",
        ));
    }
    let ended = act(state, &clients, target, record, &account_id, &region).await;
    state.audit.unlock(&target.arn, &record.action_id).await?;
    ended
}

async fn act(
    state: &State,
    clients: &Clients,
    target: &Target,
    record: &mut ActionRecord,
    account_id: &str,
    region: &str,
) -> Result<Ended, StoreError> {
    let plan = match remediate::inspect(clients, target, region).await {
        Ok(Verdict::Go(plan)) => plan,
        Ok(Verdict::Refuse(reason)) => return Ok(Ended::refused(format!("Not done: {reason}."))),
        Err(f) => {
            return Ok(Ended::failed(
                f.code,
                format!("Reading the resource failed: {}", f.message),
            ));
        }
    };
    record.plan = Some(remediate::message(target.kind, &plan, true));
    record.monthly_savings_usd = plan.monthly_savings_usd;
    if !record.dry_run {
        // The plan is on record before anything changes.
        state.audit.update(record).await?;
    }
    if let Err(f) = remediate::perform(clients, target, record.dry_run).await {
        return Ok(Ended::failed(
            f.code,
            format!("AWS refused the call: {}", f.message),
        ));
    }
    if record.dry_run {
        return Ok(Ended {
            status: Status::Planned,
            message: remediate::message(target.kind, &plan, true),
            error_code: None,
        });
    }
    let writer = format!("action:{}", record.action_id);
    if let Err(e) = state
        .inventory
        .after_action(
            account_id,
            &target.arn,
            plan.after,
            plan.monthly_savings_usd,
            &writer,
        )
        .await
    {
        // Done in AWS all the same: the next scan brings the inventory level.
        tracing::warn!(action_id = %record.action_id, error = %e, "the inventory was not updated after an action");
    }
    Ok(Ended {
        status: Status::Done,
        message: remediate::message(target.kind, &plan, false),
        error_code: None,
    })
}
