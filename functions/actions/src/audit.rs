//! The audit table: the audit log (written before every call, completed
//! after it), the idempotency keys clients send, and the locks that let
//! one real action at a time touch a resource.
//!
//! Keys: `ACTION#{id}` / `ACTION` (listed newest first through `gsi1` =
//! `ACTIONS` / `{requested, in microseconds}#{id}`); `IDEMPOTENCY#{hash}` / `IDEMPOTENCY`
//! and `LOCK#{arn}` / `LOCK`, both with a `ttl`. Audit records have none:
//! they are kept.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::dynamo::{self, Item, StoreError, Table, condition_held, n, s};
use utoipa::ToSchema;

use crate::action::{ActionKind, Status};

/// One action, as answered and as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionRecord {
    /// A UUID.
    pub action_id: String,
    pub resource_arn: String,
    pub action: ActionKind,
    pub dry_run: bool,
    pub status: Status,
    /// What was done, would be done, or why not, in one sentence.
    pub message: String,
    /// What it saves (or would save) a month, from the price table; negative
    /// when it costs (starting an instance).
    pub monthly_savings_usd: f64,
    /// AWS's error code when `failed` (`UnauthorizedOperation`, `IncorrectState`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The account acted in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The username who asked.
    pub by: String,
    /// Why, in the asker's words (required for a real action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub requested_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// What the live read found the action would do, recorded before the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// When it was asked, in microseconds: the log's order, finer than
    /// `requested_at` (actions a second apart are common in a bulk).
    #[serde(skip)]
    pub requested_us: u128,
}

impl ActionRecord {
    fn key(action_id: &str) -> (AttributeValue, AttributeValue) {
        (s(format!("ACTION#{action_id}")), s("ACTION"))
    }

    fn item(&self) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(self).map_err(|e| {
            StoreError::corrupt(
                "PutItem",
                format!("action {} does not encode: {e}", self.action_id),
            )
        })?;
        let (pk, sk) = Self::key(&self.action_id);
        item.extend([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("gsi1pk".to_owned(), s(LOG_PARTITION)),
            (
                "gsi1sk".to_owned(),
                s(format!("{:020}#{}", self.requested_us, self.action_id)),
            ),
        ]);
        Ok(item)
    }
}

const LOG_PARTITION: &str = "ACTIONS";

/// What a list of the audit log is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct LogFilters {
    pub resource_arn: Option<String>,
    pub status: Option<Status>,
}

/// The audit log.
pub trait AuditLog {
    /// Writes a new record (status `pending`), before anything is called.
    fn begin(&self, record: &ActionRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rewrites a record still `pending` with what is known now: its plan
    /// before the call, its outcome after it.
    fn update(&self, record: &ActionRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Newest first, from `after`, evaluating at most 1,000 records; the
    /// position to go on from when there is more.
    fn list(
        &self,
        filters: &LogFilters,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<ActionRecord>, Option<Item>), StoreError>> + Send;
}

/// A repeat of a request with an `Idempotency-Key`.
#[derive(Debug, PartialEq)]
pub enum Replay {
    /// The first time: go on, then [`Idempotency::remember`] the answer.
    First,
    /// Seen, answered: the first answer (JSON text).
    Answered(String),
    /// Seen, still being answered.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

/// Idempotency keys, kept 24 hours per caller.
pub trait Idempotency {
    fn claim(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        now: i64,
    ) -> impl Future<Output = Result<Replay, StoreError>> + Send;

    fn remember(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        answer: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Lets a key go when its request was refused as a whole (a `4xx` or
    /// `5xx`), so that the client may retry it.
    fn forget(
        &self,
        caller: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One real action at a time per resource.
pub trait Locks {
    /// `false` when another action holds the resource.
    fn lock(
        &self,
        arn: &str,
        holder: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn unlock(
        &self,
        arn: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The audit table's calls.
pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:DeleteItem",
];

/// How long a key is remembered.
const IDEMPOTENCY_SECS: i64 = 24 * 3600;
/// Longer than an invocation may run (29 s): a crashed holder's lock (or
/// idempotency claim) expires.
const LOCK_SECS: i64 = 120;
/// What one list request may evaluate.
const MAX_EVALUATED: u32 = 1_000;

fn idempotency_key(caller: &str, key: &str) -> (AttributeValue, AttributeValue) {
    let digest = Sha256::new()
        .chain_update(caller.as_bytes())
        .chain_update(b"\n")
        .chain_update(key.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (s(format!("IDEMPOTENCY#{hex}")), s("IDEMPOTENCY"))
}

fn lock_key(arn: &str) -> (AttributeValue, AttributeValue) {
    (s(format!("LOCK#{arn}")), s("LOCK"))
}

/// A put that succeeds only where no live item is: none, or one past its `ttl`.
async fn put_unless_live(table: &Table, item: Item, now: i64) -> Result<bool, StoreError> {
    let put = table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":now", n(now))
        .send()
        .await;
    condition_held("PutItem", put)
}

impl AuditLog for Table {
    async fn begin(&self, record: &ActionRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(record.item()?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    async fn update(&self, record: &ActionRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(record.item()?))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    async fn list(
        &self,
        filters: &LogFilters,
        limit: u32,
        mut after: Option<Item>,
    ) -> Result<(Vec<ActionRecord>, Option<Item>), StoreError> {
        let mut records = Vec::new();
        let mut evaluated = 0;
        loop {
            // Never evaluate more than the page still needs: every match fits.
            let room = (limit - records.len() as u32).min(MAX_EVALUATED - evaluated);
            let mut query = self
                .query_gsi1(LOG_PARTITION)
                .scan_index_forward(false)
                .limit(room as i32)
                .set_exclusive_start_key(after.take());
            let mut conditions = Vec::new();
            if let Some(arn) = &filters.resource_arn {
                conditions.push("#arn = :arn");
                query = query
                    .expression_attribute_names("#arn", "resource_arn")
                    .expression_attribute_values(":arn", s(arn));
            }
            if let Some(status) = filters.status {
                conditions.push("#status = :status");
                query = query
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            if !conditions.is_empty() {
                query = query.filter_expression(conditions.join(" AND "));
            }
            let out = query
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query", &e))?;
            evaluated += out.scanned_count().max(0) as u32;
            for item in out.items() {
                records.push(shared::inventory::decode("Query", item)?);
            }
            after = out.last_evaluated_key;
            if after.is_none() || records.len() as u32 >= limit || evaluated >= MAX_EVALUATED {
                return Ok((records, after));
            }
        }
    }
}

impl Idempotency for Table {
    async fn claim(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<Replay, StoreError> {
        let (pk, sk) = idempotency_key(caller, key);
        // Claimed for as long as a request may take: a request that died
        // answering leaves a key a retry may claim soon, not in 24 hours.
        let item = Item::from([
            ("pk".to_owned(), pk.clone()),
            ("sk".to_owned(), sk.clone()),
            ("fingerprint".to_owned(), s(fingerprint)),
            ("ttl".to_owned(), n(now + LOCK_SECS)),
        ]);
        if put_unless_live(self, item, now).await? {
            return Ok(Replay::First);
        }
        let Some(seen) = self.get(pk, sk).await? else {
            // Expired between the two calls: the next try claims it.
            return Ok(Replay::InFlight);
        };
        Ok(
            match (
                dynamo::get_s(&seen, "fingerprint"),
                dynamo::get_s(&seen, "answer"),
            ) {
                (Some(f), _) if f != fingerprint => Replay::Mismatch,
                (_, Some(answer)) => Replay::Answered(answer.to_owned()),
                _ => Replay::InFlight,
            },
        )
    }

    async fn remember(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        answer: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (pk, sk) = idempotency_key(caller, key);
        let item = Item::from([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("fingerprint".to_owned(), s(fingerprint)),
            ("answer".to_owned(), s(answer)),
            ("ttl".to_owned(), n(now + IDEMPOTENCY_SECS)),
        ]);
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    async fn forget(&self, caller: &str, key: &str) -> Result<(), StoreError> {
        let (pk, sk) = idempotency_key(caller, key);
        self.client
            .delete_item()
            .table_name(&self.name)
            .key("pk", pk)
            .key("sk", sk)
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("DeleteItem", &e))
    }
}

impl Locks for Table {
    async fn lock(&self, arn: &str, holder: &str, now: i64) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(arn);
        let item = Item::from([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("holder".to_owned(), s(holder)),
            ("ttl".to_owned(), n(now + LOCK_SECS)),
        ]);
        put_unless_live(self, item, now).await
    }

    async fn unlock(&self, arn: &str, holder: &str) -> Result<(), StoreError> {
        let (pk, sk) = lock_key(arn);
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        match deleted {
            // Expired and taken by another action meanwhile: theirs now.
            Err(e) if dynamo::condition_failed(&e) => Ok(()),
            other => other
                .map(drop)
                .map_err(|e| StoreError::sdk("DeleteItem", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_its_item_and_sorts_by_time() {
        let record = ActionRecord {
            action_id: "a1".into(),
            resource_arn: "arn:aws:ec2:eu-west-1:123456789012:volume/vol-1".into(),
            action: ActionKind::DeleteVolume,
            dry_run: true,
            status: Status::Planned,
            message: "Would delete".into(),
            monthly_savings_usd: 8.0,
            error_code: None,
            account_id: Some("123456789012".into()),
            by: "ops".into(),
            reason: None,
            requested_at: "2026-12-03T00:00:00Z".into(),
            finished_at: Some("2026-12-03T00:00:01Z".into()),
            plan: Some("volume vol-1".into()),
            requested_us: 1_796_256_000_000_000,
        };
        let item = record.item().unwrap();
        assert_eq!(item["status"], s("planned"));
        assert_eq!(item["action"], s("ec2.delete_volume"));
        assert_eq!(item["gsi1sk"], s("00001796256000000000#a1"));
        let back: ActionRecord = shared::inventory::decode("Query", &item).unwrap();
        assert_eq!(
            back,
            ActionRecord {
                requested_us: 0,
                ..record
            }
        );
    }

    #[test]
    fn idempotency_keys_are_per_caller() {
        assert_ne!(idempotency_key("alice", "k"), idempotency_key("bob", "k"));
        assert_eq!(idempotency_key("alice", "k"), idempotency_key("alice", "k"));
    }
}
