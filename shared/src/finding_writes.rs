//! The finding writes both the scanner (after each listing) and the actions
//! function (after a real action changed a resource) make: raising one
//! finding, and resolving one read as open, unless someone wrote it since.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValue;

use crate::advisor::Raised;
use crate::dynamo::{StoreError, condition_held, s};
use crate::findings::{self, Record};
use crate::resources::ResourcesStore;

/// The update of a finding read as `record`, if nobody wrote it since:
/// a scan (or an action) that raised it meanwhile moved its `scan_id`.
pub fn unless_rewritten(store: &ResourcesStore, record: &Record) -> UpdateItemFluentBuilder {
    let listing = findings::listing_of(record.service, &record.region);
    let (pk, sk) = findings::key(
        &record.account_id,
        listing,
        &record.check_id,
        &record.resource_arn,
    );
    store
        .table
        .client
        .update_item()
        .table_name(&store.table.name)
        .key("pk", pk)
        .key("sk", sk)
        .condition_expression("#state = :open AND #scan_id = :read")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#scan_id", "scan_id")
        .expression_attribute_values(":open", s("open"))
        .expression_attribute_values(":read", s(&record.scan_id))
}

/// Resolves a finding read as `record` (its `last_seen` as given); `false`
/// when it was raised again meanwhile (it stays open).
pub async fn resolve(
    store: &ResourcesStore,
    record: &Record,
    now: &str,
) -> Result<bool, StoreError> {
    let update = unless_rewritten(store, record)
        .update_expression(
            "SET #state = :resolved, #resolved_at = :now, #last_seen = :seen REMOVE #undecided",
        )
        .expression_attribute_names("#resolved_at", "resolved_at")
        .expression_attribute_names("#last_seen", "last_seen")
        .expression_attribute_values(":seen", s(&record.last_seen))
        .expression_attribute_names("#undecided", "undecided")
        .expression_attribute_values(":resolved", s("resolved"))
        .expression_attribute_values(":now", s(now))
        .send()
        .await;
    condition_held("UpdateItem", update)
}

/// Raises one finding by `writer` (a scan id, or an action's): one
/// `UpdateItem` keeping its `first_seen` and any suppression, answering the
/// item as stored.
pub async fn raise(
    store: &ResourcesStore,
    finding: &Raised<'_>,
    writer: &str,
    now: &str,
) -> Result<Record, StoreError> {
    let r = finding.resource;
    let listing = findings::listing_of(r.service, &r.region);
    let (pk, sk) = findings::key(&r.account_id, listing, finding.check.id, &r.arn);
    let values = findings::raised_values(finding, writer, now);
    let mut update = store
        .table
        .client
        .update_item()
        .table_name(&store.table.name)
        .key("pk", pk)
        .key("sk", sk)
        .expression_attribute_names("#first_seen", "first_seen")
        .expression_attribute_names("#resolved_at", "resolved_at")
        .expression_attribute_names("#undecided", "undecided")
        .expression_attribute_values(":now", s(now));
    let mut sets = vec!["#first_seen = if_not_exists(#first_seen, :now)".to_owned()];
    for (i, (name, value)) in values.into_iter().enumerate() {
        sets.push(format!("#a{i} = :a{i}"));
        update = update
            .expression_attribute_names(format!("#a{i}"), name)
            .expression_attribute_values(format!(":a{i}"), value);
    }
    let out = update
        .update_expression(format!(
            "SET {} REMOVE #resolved_at, #undecided",
            sets.join(", ")
        ))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(|e| StoreError::sdk("UpdateItem", &e))?;
    let item = out.attributes.unwrap_or_default();
    Record::from_item("UpdateItem", &item)
}
