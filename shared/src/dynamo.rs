//! Small helpers for reading and writing DynamoDB items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::FailureKind;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

/// A list of strings (`L`, so an empty list is allowed, unlike `SS`).
pub fn list<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> AttributeValue {
    AttributeValue::L(v.into_iter().map(|x| AttributeValue::S(x.into())).collect())
}

pub fn get_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n(item: &Item, key: &str) -> Option<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

pub fn get_b(item: &Item, key: &str) -> Option<bool> {
    item.get(key).and_then(|v| v.as_bool().ok()).copied()
}

pub fn get_list(item: &Item, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

/// Items past their TTL are absent: DynamoDB deletes them lazily (hours to
/// days later) and the emulator never does.
pub fn expired(item: &Item, now: i64) -> bool {
    get_n(item, "ttl").is_some_and(|ttl| ttl <= now)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Microseconds since the Unix epoch, for sort keys.
pub fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}

/// One DynamoDB table: the client and its name, with the reads every store makes.
#[derive(Clone, Debug)]
pub struct Table {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl Table {
    pub fn new(client: aws_sdk_dynamodb::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// One item by key, strongly consistent; an item past its TTL is absent.
    pub async fn get(
        &self,
        pk: AttributeValue,
        sk: AttributeValue,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", pk)
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", &e))?;
        Ok(out.item.filter(|item| !expired(item, now())))
    }
}

impl Table {
    /// A query of one partition of the `gsi1` index (`gsi1pk = partition`),
    /// the pattern of every list: the caller adds its limit, start key and order.
    pub fn query_gsi1(
        &self,
        partition: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.name)
            .index_name("gsi1")
            .key_condition_expression("#gsi1pk = :p")
            .expression_attribute_names("#gsi1pk", "gsi1pk")
            .expression_attribute_values(":p", s(partition))
    }

    /// Writes `items`, 25 to a request, retrying what DynamoDB leaves
    /// unprocessed under load (a bounded number of times).
    pub async fn batch_put(&self, items: impl IntoIterator<Item = Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let items: Vec<Item> = items.into_iter().collect();
        for batch in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .filter_map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .ok()?;
                    Some(WriteRequest::builder().put_request(put).build())
                })
                .collect();
            for attempt in 0..8u32 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    // Unprocessed items mean the table is throttling: back off, as AWS advises.
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk("BatchWriteItem", &e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.name))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError::unavailable(
                    "BatchWriteItem",
                    format!("{} items left unprocessed", requests.len()),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a write failed on its condition (or a transaction's), rather than
/// on the service: the expected way to lose a race.
pub fn condition_failed<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| {
            code == "ConditionalCheckFailedException" || code == "TransactionCanceledException"
        })
}

/// `Ok(true)` when a conditional write (`operation`) happened, `Ok(false)`
/// when its condition did not hold (the expected way to lose a race), else
/// the error.
pub fn condition_held<T, E>(
    operation: &'static str,
    sent: Result<T, crate::aws::SdkError<E>>,
) -> Result<bool, StoreError>
where
    E: crate::aws::ProvideErrorMetadata + std::error::Error + 'static,
{
    match sent {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(StoreError::sdk(operation, &e)),
    }
}

/// An error of a store, with its SDK source for the logs. It keeps its
/// [`FailureKind`]: a throttled or unreachable table is `503`, a refused
/// request or an item that does not decode is `500`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct StoreError {
    pub operation: &'static str,
    pub kind: FailureKind,
    pub detail: String,
}

impl StoreError {
    pub fn sdk(operation: &'static str, err: &impl crate::aws::AwsFailure) -> Self {
        Self {
            operation,
            kind: err.kind(),
            detail: crate::aws::describe(err),
        }
    }

    /// DynamoDB is up but could not take all of a request: retryable.
    pub fn unavailable(operation: &'static str, detail: impl Into<String>) -> Self {
        Self {
            operation,
            kind: FailureKind::Unavailable,
            detail: detail.into(),
        }
    }

    /// A stored item that does not decode (or a request we built wrong): a
    /// bug, logged with `detail` (name the item's key there) and answered 500.
    pub fn corrupt(operation: &'static str, detail: impl Into<String>) -> Self {
        Self {
            operation,
            kind: FailureKind::Bug,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for crate::ApiError {
    fn from(err: StoreError) -> Self {
        match err.kind {
            FailureKind::Unavailable => crate::ApiError::upstream(err),
            FailureKind::Bug => crate::ApiError::internal(err),
        }
    }
}

/// Unix seconds as RFC 3339 UTC (`2026-11-26T01:02:03Z`).
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
