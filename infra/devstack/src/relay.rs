//! Delivers events to the event functions the way AWS would: S3 bucket
//! notifications (through the queue the bootstrap subscribed) to `validator`,
//! and the scan-jobs table's stream records to `scanner`, in batches of the
//! template's `BatchSize`, after its `FilterCriteria`, retried from the first
//! record the function reports failed (`ReportBatchItemFailures`).

use std::time::Duration;

use anyhow::{Result, anyhow};
use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine as _;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Map, Value, json};

use crate::bootstrap::{BucketSubscription, Stack, StreamSubscription};

const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Lambda retries a failed asynchronous S3 invocation twice, then gives up.
const MAX_RECEIVES: u32 = 3;

/// Starts a relay task per subscription of the stack.
pub fn spawn_all(stack: &Stack, aws: &SdkConfig) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for sub in &stack.bucket_subscriptions {
        let state = validator::State::new(&stack.env(&sub.function), aws)?;
        let sqs = aws_sdk_sqs::Client::new(aws);
        let sub = sub.clone();
        tasks.push(tokio::spawn(
            async move { relay_bucket(sqs, sub, state).await },
        ));
    }
    for sub in &stack.stream_subscriptions {
        let state = scanner::State::new(&stack.env(&sub.function), aws)?;
        let streams = aws_sdk_dynamodbstreams::Client::new(aws);
        let sub = sub.clone();
        tasks.push(tokio::spawn(async move {
            relay_stream(streams, sub, state).await
        }));
    }
    Ok(tasks)
}

fn context(function: &str) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = uuid::Uuid::new_v4().to_string();
    ctx.invoked_function_arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    ctx
}

async fn relay_bucket(sqs: aws_sdk_sqs::Client, sub: BucketSubscription, state: validator::State) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&sub.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %shared::aws::describe(&e), "S3 event queue unreachable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let body = message.body().unwrap_or_default();
            let receives: u32 = message
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let done = match serde_json::from_str::<Value>(body) {
                // S3 sends an `s3:TestEvent` when notifications are configured: not an object.
                Ok(v) if v.get("Records").is_none() => true,
                Ok(v) => match serde_json::from_value(complete_s3_event(v)) {
                    Ok(event) => match validator::handle(
                        LambdaEvent::new(event, context(&sub.function)),
                        &state,
                    )
                    .await
                    {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(error = %e, attempt = receives, "validator failed");
                            receives >= MAX_RECEIVES
                        }
                    },
                    Err(e) => {
                        tracing::error!(error = %e, "S3 notification is not an S3 event");
                        true
                    }
                },
                Err(_) => true,
            };
            if done {
                if let Some(handle) = message.receipt_handle() {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&sub.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    }
}

/// moto's S3 notifications leave out fields AWS always sends (`userIdentity`,
/// `requestParameters`, `responseElements`, the owner, the sequencer); add them
/// so the validator sees what it will see in AWS.
pub fn complete_s3_event(mut event: Value) -> Value {
    for record in event
        .get_mut("Records")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(record) = record.as_object_mut() else {
            continue;
        };
        record
            .entry("userIdentity")
            .or_insert_with(|| json!({"principalId": "AWS:AROALOCALDEVSTACK:packages"}));
        record
            .entry("requestParameters")
            .or_insert_with(|| json!({"sourceIPAddress": "127.0.0.1"}));
        record
            .entry("responseElements")
            .or_insert_with(|| json!({"x-amz-request-id": "LOCAL", "x-amz-id-2": "LOCAL"}));
        if let Some(s3) = record.get_mut("s3").and_then(Value::as_object_mut) {
            if let Some(bucket) = s3.get_mut("bucket").and_then(Value::as_object_mut) {
                bucket
                    .entry("ownerIdentity")
                    .or_insert_with(|| json!({"principalId": "LOCAL"}));
            }
            if let Some(object) = s3.get_mut("object").and_then(Value::as_object_mut) {
                object.entry("sequencer").or_insert_with(|| json!("0"));
            }
        }
    }
    event
}

async fn relay_stream(
    streams: aws_sdk_dynamodbstreams::Client,
    sub: StreamSubscription,
    state: scanner::State,
) {
    let mut iterators = Vec::new();
    loop {
        if iterators.is_empty() {
            match shard_iterators(&streams, &sub.stream_arn).await {
                Ok(found) => iterators = found,
                Err(e) => tracing::warn!(error = %e, "stream unreachable"),
            }
        }
        let mut next = Vec::new();
        for iterator in iterators.drain(..) {
            match streams.get_records().shard_iterator(&iterator).send().await {
                Ok(out) => {
                    let records: Vec<Value> = out
                        .records()
                        .iter()
                        .map(|record| lambda_record(record, &sub.stream_arn))
                        .filter(|record| passes(&sub.filters, record))
                        .collect();
                    for batch in records.chunks(sub.batch_size) {
                        deliver_batch(&sub, &state, batch).await;
                    }
                    if let Some(it) = out.next_shard_iterator() {
                        next.push(it.to_owned());
                    }
                }
                Err(e) => tracing::warn!(error = %shared::aws::describe(&e), "GetRecords failed"),
            }
        }
        iterators = next;
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Invokes the scanner with one batch; on reported failures, re-invokes it
/// from the earliest failed record on, as Lambda's checkpointing does.
async fn deliver_batch(sub: &StreamSubscription, state: &scanner::State, batch: &[Value]) {
    let mut pending = batch.to_vec();
    for attempt in 1..=MAX_RECEIVES {
        // The same deserialisation Lambda's runtime does, so a shape mismatch shows here first.
        let trigger = match serde_json::from_value::<scanner::Trigger>(
            json!({ "Records": pending }),
        ) {
            Ok(trigger) => trigger,
            Err(e) => {
                tracing::error!(error = %e, "stream records do not deserialise as the scanner's event");
                return;
            }
        };
        let failed: Vec<String> =
            match scanner::handle(LambdaEvent::new(trigger, context(&sub.function)), state).await {
                Ok(response) => response
                    .batch_item_failures
                    .into_iter()
                    .filter_map(|f| f.item_identifier)
                    .collect(),
                Err(e) => {
                    tracing::error!(error = %e, attempt, "scanner failed on a stream batch");
                    continue;
                }
            };
        let sequence = |r: &Value| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_owned);
        let Some(first) = pending
            .iter()
            .position(|r| sequence(r).is_some_and(|s| failed.contains(&s)))
        else {
            return;
        };
        tracing::error!(
            attempt,
            failed = failed.len(),
            "scanner reported failed records; retrying from the first"
        );
        pending.drain(..first);
    }
}

async fn shard_iterators(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Result<Vec<String>> {
    let described = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .map_err(|e| anyhow!(shared::aws::describe(&e)))?;
    let mut iterators = Vec::new();
    for shard in described
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default()
    {
        let Some(shard_id) = shard.shard_id() else {
            continue;
        };
        let it = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| anyhow!(shared::aws::describe(&e)))?;
        iterators.extend(it.shard_iterator().map(str::to_owned));
    }
    Ok(iterators)
}

/// A stream record in the shape Lambda hands to a function.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(s) = record.dynamodb() {
        if let Some(t) = s.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (name, image) in [
            ("Keys", s.keys()),
            ("NewImage", s.new_image()),
            ("OldImage", s.old_image()),
        ] {
            if let Some(image) = image {
                dynamodb.insert(name.into(), item(image));
            }
        }
        if let Some(seq) = s.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(seq));
        }
        if let Some(size) = s.size_bytes() {
            dynamodb.insert("SizeBytes".into(), json!(size));
        }
        if let Some(view) = s.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region().unwrap_or("us-east-1"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

fn item(image: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        image
            .iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect(),
    )
}

fn attribute(v: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        AttributeValue::Bs(bs) => json!({ "BS": bs.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        _ => Value::Null,
    }
}

/// Lambda event filtering, for the flat patterns the template uses
/// (`{"eventName": ["INSERT"]}`): every key's value must be one of its list.
pub fn passes(filters: &[Value], record: &Value) -> bool {
    filters.is_empty()
        || filters.iter().any(|pattern| {
            pattern.as_object().is_some_and(|fields| {
                fields.iter().all(|(key, allowed)| {
                    allowed
                        .as_array()
                        .is_some_and(|allowed| record.get(key).is_some_and(|v| allowed.contains(v)))
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_s3_notification_becomes_an_aws_shaped_event() {
        let moto = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-26T01:27:07.402Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "x",
                   "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                   "object": {"key": "packages/a+b.zip", "size": 1, "eTag": "e"}}}]});
        let event: aws_lambda_events::event::s3::S3Event =
            serde_json::from_value(complete_s3_event(moto)).unwrap();
        assert_eq!(
            event.records[0].s3.object.key.as_deref(),
            Some("packages/a+b.zip")
        );
    }

    #[test]
    fn insert_filter_keeps_inserts_and_drops_modifies() {
        let filters = vec![json!({"eventName": ["INSERT"]})];
        assert!(passes(&filters, &json!({"eventName": "INSERT"})));
        assert!(!passes(&filters, &json!({"eventName": "MODIFY"})));
        assert!(passes(&[], &json!({"eventName": "MODIFY"})));
    }
}
