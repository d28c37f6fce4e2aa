//! What the inventory function does with its tables, named after its
//! routes' access patterns: it registers and removes accounts, reads scans,
//! and queries resources. (Listing accounts and queueing a scan, which the
//! scanner's schedule does too, are `shared::inventory`'s.)

use futures::future::BoxFuture;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::advisor::{Category, Severity};
use shared::dynamo::{self, Item, StoreError, b, s};
use shared::findings::{self, Finding, FindingStatus, Record, Suppression, SuppressionEvent};
use shared::inventory::{Account, InventoryStore, JobStatus, Scan, Service};
use shared::resources::{Resource, ResourcesStore, tag_needle};
use shared::summary::{self, Summary};

/// Registering and removing accounts (`POST`/`DELETE /v1/accounts`).
pub trait AccountRegistry {
    /// Registers an account; `false` when it is registered already.
    fn register_account(
        &self,
        account: &Account,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes an account; `false` when there was none.
    fn remove_account(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Reading scans (`GET /v1/scans`, `GET /v1/scans/{id}` and its jobs).
pub trait ScanHistory {
    fn scan(&self, scan_id: &str) -> impl Future<Output = Result<Option<Scan>, StoreError>> + Send;
    /// A page of a scan's jobs, by account and then region.
    fn jobs(
        &self,
        scan_id: &str,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<JobProgress>, Option<Item>), StoreError>> + Send;
    /// A page of scans, newest first.
    fn scans(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<Scan>, Option<Item>), StoreError>> + Send;
}

/// [`AccountRegistry`]'s calls, on the inventory table.
pub const ACCOUNT_REGISTRY_IAM_ACTIONS: &[&str] = &["dynamodb:PutItem", "dynamodb:DeleteItem"];
/// [`ScanHistory`]'s calls, on the inventory table and its `gsi1`, and
/// (`Query`) on the jobs table.
pub const SCAN_HISTORY_IAM_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:Query"];

impl AccountRegistry for InventoryStore {
    async fn register_account(&self, account: &Account) -> Result<bool, StoreError> {
        let put = self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(account.item()?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("PutItem", &e)),
        }
    }

    async fn remove_account(&self, account_id: &str) -> Result<bool, StoreError> {
        let (pk, sk) = Account::key(account_id);
        let out = self
            .table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::sdk("DeleteItem", &e))?;
        Ok(out.attributes.is_some())
    }
}

/// Where one of a scan's jobs is: an account in a region (or `global`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct JobProgress {
    pub account_id: String,
    pub region: String,
    pub status: JobStatus,
    /// When it last moved (RFC 3339); absent while it waits to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_at: Option<String>,
}

impl ScanHistory for InventoryStore {
    async fn jobs(
        &self,
        scan_id: &str,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<JobProgress>, Option<Item>), StoreError> {
        let out = self
            .jobs
            .client
            .query()
            .table_name(&self.jobs.name)
            .key_condition_expression("#pk = :pk")
            .projection_expression("#account, #region, #status, #at")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_names("#region", "region")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", "status_at")
            .expression_attribute_values(":pk", s(format!("SCAN#{scan_id}")))
            .limit(limit as i32)
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let jobs = out
            .items()
            .iter()
            .map(|item| shared::inventory::decode("Query", item))
            .collect::<Result<_, _>>()?;
        Ok((jobs, out.last_evaluated_key))
    }

    async fn scan(&self, scan_id: &str) -> Result<Option<Scan>, StoreError> {
        let (pk, sk) = Scan::key(scan_id);
        self.table
            .get(pk, sk)
            .await?
            .map(|item| Scan::from_item("GetItem", &item))
            .transpose()
    }

    async fn scans(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<Scan>, Option<Item>), StoreError> {
        let out = self
            .table
            .query_gsi1("SCANS")
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let scans = out
            .items()
            .iter()
            .map(|item| Scan::from_item("Query", item))
            .collect::<Result<_, _>>()?;
        Ok((scans, out.last_evaluated_key))
    }
}

/// The filters of `GET /v1/resources`, checked at the edge.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub service: Option<Service>,
    pub resource_type: Option<String>,
    pub state: Option<StateFilter>,
    /// `key:value`
    pub tag: Option<(String, String)>,
    pub q: Option<String>,
}

/// `state=`: what AWS last said (`running`, `available`, ...), or `gone`:
/// no longer returned by a listing that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFilter {
    Gone,
    Is(String),
}

impl StateFilter {
    pub fn parse(state: &str) -> StateFilter {
        match state {
            "gone" => StateFilter::Gone,
            other => StateFilter::Is(other.to_owned()),
        }
    }
}

/// Items one `GET /v1/resources` evaluates at most, matching or not: a filter
/// that matches nothing answers a partial (possibly empty) page with a
/// cursor, instead of reading the whole table in one request.
pub const MAX_EVALUATED: u32 = 1_000;

/// One Query's or Scan's answer, as [`budgeted`] reads it.
struct Answer {
    items: Vec<Item>,
    scanned: i32,
    last: Option<Item>,
}

impl From<aws_sdk_dynamodb::operation::query::QueryOutput> for Answer {
    fn from(out: aws_sdk_dynamodb::operation::query::QueryOutput) -> Self {
        Self {
            items: out.items.unwrap_or_default(),
            scanned: out.scanned_count,
            last: out.last_evaluated_key,
        }
    }
}

impl From<aws_sdk_dynamodb::operation::scan::ScanOutput> for Answer {
    fn from(out: aws_sdk_dynamodb::operation::scan::ScanOutput) -> Self {
        Self {
            items: out.items.unwrap_or_default(),
            scanned: out.scanned_count,
            last: out.last_evaluated_key,
        }
    }
}

/// A page of `limit` rows from requests made by `request(evaluate, start)`,
/// having evaluated at most [`MAX_EVALUATED`] items over them (a filtered
/// request may evaluate what is left of the budget; an unfiltered one just
/// the rows still wanted). When more matched than the page holds, the page
/// ends at its last row, whose key `key_of` makes the cursor.
async fn budgeted<'a, T>(
    limit: u32,
    mut start: Option<Item>,
    filtered: bool,
    mut request: impl FnMut(i32, Option<Item>) -> BoxFuture<'a, Result<Answer, StoreError>>,
    parse: impl Fn(&Item) -> Result<T, StoreError>,
    key_of: impl Fn(&Item) -> Item,
) -> Result<(Vec<T>, Option<Item>), StoreError> {
    let mut found = Vec::new();
    let mut evaluated = 0u32;
    loop {
        let need = limit - found.len() as u32;
        let evaluate = if filtered {
            MAX_EVALUATED - evaluated
        } else {
            need
        };
        let Answer {
            items,
            scanned,
            last,
        } = request(evaluate as i32, start.take()).await?;
        // At least one per request, so a page always makes progress.
        evaluated += (scanned.max(1) as u32).min(MAX_EVALUATED);
        if items.len() > need as usize {
            let kept = &items[..need as usize];
            for item in kept {
                found.push(parse(item)?);
            }
            return Ok((found, kept.last().map(key_of)));
        }
        for item in &items {
            found.push(parse(item)?);
        }
        match last {
            Some(key) if found.len() as u32 >= limit || evaluated >= MAX_EVALUATED => {
                return Ok((found, Some(key)));
            }
            Some(key) => start = Some(key),
            None => return Ok((found, None)),
        }
    }
}

/// Querying resources (`GET /v1/resources`, `GET /v1/resources/{arn}`).
pub trait ResourceQueries {
    /// A page of resources matching `filters`, having evaluated at most
    /// [`MAX_EVALUATED`] items: fewer than `limit` (even none) with a cursor
    /// when the budget ran out first.
    fn resources(
        &self,
        filters: &Filters,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<Resource>, Option<Item>), StoreError>> + Send;

    /// One resource by ARN. The account comes from the ARN or, for ARNs that
    /// carry none (S3 buckets), is each of `accounts` in turn: one read per
    /// registered account, never a search of the service index.
    fn resource_by_arn(
        &self,
        arn: &str,
        accounts: &[Account],
    ) -> impl Future<Output = Result<Option<Resource>, StoreError>> + Send;

    /// Every resource of an account (tests and reports).
    fn resources_of_account(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Vec<Resource>, StoreError>> + Send;
}

/// [`ResourceQueries`]'s calls, on the inventory table and its indexes
/// (`Scan` only when a listing names none of the indexed filters).
pub const RESOURCE_QUERIES_IAM_ACTIONS: &[&str] =
    &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"];

/// A filter expression with its `#name` and `:value` placeholders, every
/// attribute named through a placeholder (`state`, `name`, `type` and more
/// are reserved words).
#[derive(Default)]
struct Expression {
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, attribute: &str) -> String {
        let alias = format!("#{attribute}");
        self.names.insert(alias.clone(), attribute.to_owned());
        alias
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{placeholder}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn equals(&mut self, attribute: &str, value: AttributeValue) {
        let (name, value) = (self.name(attribute), self.value(attribute, value));
        self.conditions.push(format!("{name} = {value}"));
    }
}

/// Which read serves a listing: one partition of the table or an index, or
/// (no indexed filter given) the whole table.
struct Access {
    index: Option<&'static str>,
    /// The partition key's attribute and value.
    partition: Option<(&'static str, String)>,
}

impl Access {
    /// The most selective indexed filter: account, then service, type, region.
    fn of(f: &Filters) -> Access {
        let (index, partition) = if let Some(a) = &f.account_id {
            (None, Some(("pk", format!("RES#{a}"))))
        } else if let Some(svc) = &f.service {
            (Some("gsi1"), Some(("gsi1pk", format!("SVC#{svc}"))))
        } else if let Some(t) = &f.resource_type {
            (Some("gsi2"), Some(("gsi2pk", format!("TYPE#{t}"))))
        } else if let Some(r) = &f.region {
            (Some("gsi3"), Some(("gsi3pk", format!("REGION#{r}"))))
        } else {
            (None, None)
        };
        Access { index, partition }
    }

    fn keyed_on(&self, attribute: &str) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|(k, _)| *k == attribute)
    }

    /// The attributes of a `LastEvaluatedKey` here: the index's key and the table's.
    fn key_attributes(&self) -> &'static [&'static str] {
        match self.index {
            Some("gsi1") => &["gsi1pk", "gsi1sk", "pk", "sk"],
            Some("gsi2") => &["gsi2pk", "gsi2sk", "pk", "sk"],
            Some("gsi3") => &["gsi3pk", "gsi3sk", "pk", "sk"],
            _ => &["pk", "sk"],
        }
    }

    /// The key to resume after `item`.
    fn key_of(&self, item: &Item) -> Item {
        self.key_attributes()
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
            .collect()
    }
}

/// The conditions the chosen read does not already apply.
fn filter_expression(f: &Filters, access: &Access) -> Expression {
    let mut e = Expression::default();
    if access.partition.is_none() {
        let (pk, res) = (e.name("pk"), e.value("res", s("RES#")));
        e.conditions.push(format!("begins_with({pk}, {res})"));
    }
    if let (Some(r), false) = (&f.region, access.keyed_on("gsi3pk")) {
        e.equals("region", s(r));
    }
    if let (Some(svc), true) = (&f.service, access.keyed_on("pk")) {
        e.equals("service", s(svc.as_str()));
    }
    if let (Some(t), false) = (&f.resource_type, access.keyed_on("gsi2pk")) {
        e.equals("type", s(t));
    }
    match &f.state {
        Some(StateFilter::Gone) => e.equals("gone", b(true)),
        Some(StateFilter::Is(state)) => {
            e.equals("state", s(state));
            let (gone, no) = (e.name("gone"), e.value("no", b(false)));
            e.conditions.push(format!("{gone} = {no}"));
        }
        None => {}
    }
    if let Some((k, v)) = &f.tag {
        let (tags, needle) = (e.name("tags"), e.value("tag", s(tag_needle(k, v))));
        e.conditions.push(format!("contains({tags}, {needle})"));
    }
    if let Some(q) = &f.q {
        let (arn, name, q) = (e.name("arn"), e.name("name"), e.value("q", s(q)));
        e.conditions
            .push(format!("(contains({arn}, {q}) OR contains({name}, {q}))"));
    }
    e
}

impl ResourceQueries for ResourcesStore {
    async fn resources(
        &self,
        f: &Filters,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<Resource>, Option<Item>), StoreError> {
        let access = Access::of(f);
        let operation = if access.partition.is_some() {
            "Query"
        } else {
            "Scan"
        };
        let filtered = !filter_expression(f, &access).conditions.is_empty();
        let request = |evaluate: i32, start: Option<Item>| -> BoxFuture<'_, _> {
            let mut e = filter_expression(f, &access);
            let filter = (!e.conditions.is_empty()).then(|| e.conditions.join(" AND "));
            match &access.partition {
                Some((attribute, value)) => {
                    let (k, v) = (e.name(attribute), e.value("key", s(value)));
                    let query = self
                        .table
                        .client
                        .query()
                        .table_name(&self.table.name)
                        .set_index_name(access.index.map(str::to_owned))
                        .key_condition_expression(format!("{k} = {v}"))
                        .set_filter_expression(filter)
                        .set_expression_attribute_names(Some(e.names))
                        .set_expression_attribute_values(Some(e.values))
                        .limit(evaluate)
                        .set_exclusive_start_key(start);
                    Box::pin(async move {
                        query
                            .send()
                            .await
                            .map(Answer::from)
                            .map_err(|e| StoreError::sdk("Query", &e))
                    })
                }
                None => {
                    let scan = self
                        .table
                        .client
                        .scan()
                        .table_name(&self.table.name)
                        .set_filter_expression(filter)
                        .set_expression_attribute_names(Some(e.names))
                        .set_expression_attribute_values(Some(e.values))
                        .limit(evaluate)
                        .set_exclusive_start_key(start);
                    Box::pin(async move {
                        scan.send()
                            .await
                            .map(Answer::from)
                            .map_err(|e| StoreError::sdk("Scan", &e))
                    })
                }
            }
        };
        budgeted(
            limit,
            after,
            filtered,
            request,
            |item| Resource::from_item(operation, item),
            |item| access.key_of(item),
        )
        .await
    }

    async fn resource_by_arn(
        &self,
        arn: &str,
        accounts: &[Account],
    ) -> Result<Option<Resource>, StoreError> {
        let account = arn.split(':').nth(4).unwrap_or_default();
        if !account.is_empty() {
            return get(self, account, arn).await;
        }
        for chunk in accounts.chunks(8) {
            let mut reads = Vec::with_capacity(chunk.len());
            for a in chunk {
                reads.push(get(self, a.account_id.as_str(), arn));
            }
            for found in futures::future::join_all(reads).await {
                if let Some(resource) = found? {
                    return Ok(Some(resource));
                }
            }
        }
        Ok(None)
    }

    async fn resources_of_account(&self, account: &str) -> Result<Vec<Resource>, StoreError> {
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":pk", s(format!("RES#{account}")))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(Resource::from_item(
                "Query",
                &item.map_err(|e| StoreError::sdk("Query", &e))?,
            )?);
        }
        Ok(out)
    }
}

async fn get(
    store: &ResourcesStore,
    account: &str,
    arn: &str,
) -> Result<Option<Resource>, StoreError> {
    let (pk, sk) = Resource::key(account, arn);
    store
        .table
        .get(pk, sk)
        .await?
        .map(|item| Resource::from_item("GetItem", &item))
        .transpose()
}

/// The filters of `GET /v1/findings` (and of findings reports), parsed.
#[derive(Debug, Default, Clone)]
pub struct FindingFilters {
    pub severity: Option<Severity>,
    pub category: Option<Category>,
    pub check_id: Option<String>,
    pub service: Option<Service>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub status: Option<FindingStatus>,
}

/// Reading findings (`GET /v1/findings`, a resource's findings, reports).
pub trait FindingQueries {
    /// A page of the to-do list (severity, then largest saving) matching
    /// `filters`, having evaluated at most [`MAX_EVALUATED`] items.
    fn findings(
        &self,
        filters: &FindingFilters,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<Finding>, Option<Item>), StoreError>> + Send;

    /// One finding as stored, by id.
    fn finding(
        &self,
        finding_id: &str,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Every finding (open, suppressed or resolved) of one resource.
    fn findings_of(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<Vec<Finding>, StoreError>> + Send;
}

/// [`FindingQueries`]' calls, on the inventory table and its `gsi1`/`gsi2`.
pub const FINDING_QUERIES_IAM_ACTIONS: &[&str] = &["dynamodb:Query", "dynamodb:BatchGetItem"];

/// `records` with their `last_seen` as of their listings' settled marks
/// (`findings::settled_key`): one `BatchGetItem` for every 100 listings.
async fn seen(store: &ResourcesStore, records: Vec<Record>) -> Result<Vec<Record>, StoreError> {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let mut marks = findings::SettledMarks::default();
    let mut wanted: Vec<(AttributeValue, AttributeValue)> =
        records.iter().map(findings::SettledMarks::key_of).collect();
    wanted.sort_by(|a, b| a.0.as_s().ok().cmp(&b.0.as_s().ok()));
    wanted.dedup();
    for chunk in wanted.chunks(100) {
        let mut keys: Vec<Item> = chunk
            .iter()
            .map(|(pk, sk)| {
                HashMap::from([("pk".to_owned(), pk.clone()), ("sk".to_owned(), sk.clone())])
            })
            .collect();
        // DynamoDB may leave some keys for later under load: ask again, a few times.
        for attempt in 0.. {
            if keys.is_empty() {
                break;
            }
            if attempt == 5 {
                return Err(StoreError::corrupt(
                    "BatchGetItem",
                    "settled marks left unprocessed",
                ));
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .build()
                .map_err(|e| StoreError::corrupt("BatchGetItem", e.to_string()))?;
            let out = store
                .table
                .client
                .batch_get_item()
                .request_items(&store.table.name, request)
                .send()
                .await
                .map_err(|e| StoreError::sdk("BatchGetItem", &e))?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(&store.table.name)
                .unwrap_or_default()
            {
                marks.insert(item);
            }
            keys = out
                .unprocessed_keys
                .unwrap_or_default()
                .remove(&store.table.name)
                .map(|k| k.keys)
                .unwrap_or_default();
        }
    }
    Ok(records.into_iter().map(|r| marks.apply(r)).collect())
}

/// RFC 3339 now, which suppression expiries are compared with as text.
pub fn now_text() -> String {
    dynamo::rfc3339(dynamo::now())
}

/// The condition that a finding's suppression holds at `:now`.
const SUPPRESSED: &str = "(attribute_exists(#suppression) AND (attribute_not_exists(#suppression.#until) OR #suppression.#until > :now))";

fn finding_filter(f: &FindingFilters, now: &str) -> Expression {
    let mut e = Expression::default();
    if let Some(v) = f.severity {
        e.equals("severity", s(v.as_str()));
    }
    if let Some(v) = f.category {
        e.equals("category", s(v.as_str()));
    }
    if let Some(v) = &f.check_id {
        e.equals("check_id", s(v));
    }
    if let Some(v) = f.service {
        e.equals("service", s(v.as_str()));
    }
    if let Some(v) = &f.account_id {
        e.equals("account_id", s(v));
    }
    if let Some(v) = &f.region {
        e.equals("region", s(v));
    }
    if let Some(status) = f.status {
        e.name("suppression");
        e.name("until");
        e.value("now", s(now));
        let condition = match status {
            FindingStatus::Suppressed => SUPPRESSED.to_owned(),
            FindingStatus::Open | FindingStatus::Resolved => {
                let state = e.name("state");
                let value = e.value("state", s(status.as_str()));
                format!("{state} = {value} AND NOT {SUPPRESSED}")
            }
        };
        e.conditions.push(condition);
    }
    e
}

impl FindingQueries for ResourcesStore {
    async fn findings(
        &self,
        f: &FindingFilters,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<Finding>, Option<Item>), StoreError> {
        let now = now_text();
        let key_of = |item: &Item| -> Item {
            ["gsi1pk", "gsi1sk", "pk", "sk"]
                .iter()
                .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
                .collect()
        };
        let filtered = !finding_filter(f, &now).conditions.is_empty();
        let request = |evaluate: i32, start: Option<Item>| -> BoxFuture<'_, _> {
            let e = finding_filter(f, &now);
            let filter = (!e.conditions.is_empty()).then(|| e.conditions.join(" AND "));
            let mut query = self
                .table
                .query_gsi1(findings::LIST_PARTITION)
                .set_filter_expression(filter)
                .limit(evaluate)
                .set_exclusive_start_key(start);
            for (k, v) in e.names {
                query = query.expression_attribute_names(k, v);
            }
            for (k, v) in e.values {
                query = query.expression_attribute_values(k, v);
            }
            Box::pin(async move {
                query
                    .send()
                    .await
                    .map(Answer::from)
                    .map_err(|e| StoreError::sdk("Query", &e))
            })
        };
        let parse = |item: &Item| Record::from_item("Query", item);
        let (records, next) = budgeted(limit, after, filtered, request, parse, key_of).await?;
        let page = seen(self, records).await?;
        Ok((page.into_iter().map(|r| r.finding(&now)).collect(), next))
    }

    async fn finding(&self, finding_id: &str) -> Result<Option<Record>, StoreError> {
        let out = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name("gsi2")
            .key_condition_expression("#gsi2pk = :p")
            .expression_attribute_names("#gsi2pk", "gsi2pk")
            .expression_attribute_values(":p", s(findings::id_partition(finding_id)))
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let record = Record::from_item("Query", &item)?;
        Ok(seen(self, vec![record]).await?.pop())
    }

    async fn findings_of(&self, resource: &Resource) -> Result<Vec<Finding>, StoreError> {
        let now = now_text();
        let listing = findings::listing_of(resource.service, &resource.region);
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("#pk = :p")
            .filter_expression("#arn = :arn")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#arn", "resource_arn")
            .expression_attribute_values(
                ":p",
                s(findings::partition(&resource.account_id, listing)),
            )
            .expression_attribute_values(":arn", s(&resource.arn))
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
            found.push(Record::from_item("Query", &item)?);
        }
        let mut found: Vec<Finding> = seen(self, found)
            .await?
            .into_iter()
            .map(|r| r.finding(&now))
            .collect();
        found.sort_by(|a, b| (a.severity, &a.check_id).cmp(&(b.severity, &b.check_id)));
        Ok(found)
    }
}

/// Suppressing findings (`POST`/`DELETE /v1/findings/{id}/suppress`), each
/// change appended to the finding's suppression log, and the summary's
/// total moved with it.
pub trait Suppressions {
    /// Suppresses (or re-suppresses, with a new reason or expiry) a finding;
    /// `None` when there is no such finding.
    fn suppress(
        &self,
        record: &Record,
        suppression: &Suppression,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Lifts a finding's suppression; `None` when there is no such finding.
    fn unsuppress(
        &self,
        record: &Record,
        by: &str,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;
}

/// [`Suppressions`]' calls, on the inventory table.
pub const SUPPRESSIONS_IAM_ACTIONS: &[&str] = &[
    "dynamodb:UpdateItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:BatchGetItem",
];

fn finding_key(record: &Record) -> (AttributeValue, AttributeValue) {
    let listing = findings::listing_of(record.service, &record.region);
    findings::key(
        &record.account_id,
        listing,
        &record.check_id,
        &record.resource_arn,
    )
}

fn encode<T: serde::Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| StoreError::corrupt("UpdateItem", format!("does not encode: {e}")))
}

/// Applies one suppression change: the item's update, then the total's.
async fn change_suppression(
    store: &ResourcesStore,
    record: &Record,
    suppression: Option<&Suppression>,
    event: SuppressionEvent,
) -> Result<Option<Record>, StoreError> {
    let now = now_text();
    let before = record.clone().finding(&now).status;
    let (pk, sk) = finding_key(record);
    let update = store
        .table
        .client
        .update_item()
        .table_name(&store.table.name)
        .key("pk", pk)
        .key("sk", sk)
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#suppression", "suppression")
        .expression_attribute_names("#log", "suppression_log")
        .expression_attribute_values(":event", AttributeValue::L(vec![encode(&event)?]))
        .expression_attribute_values(":empty", AttributeValue::L(vec![]))
        .return_values(ReturnValue::AllNew);
    let log = "#log = list_append(if_not_exists(#log, :empty), :event)";
    let update = match suppression {
        Some(suppression) => update
            .update_expression(format!("SET #suppression = :s, {log}"))
            .expression_attribute_values(":s", encode(suppression)?),
        None => update.update_expression(format!("SET {log} REMOVE #suppression")),
    };
    let record = match update.send().await {
        Ok(out) => Record::from_item("UpdateItem", &out.attributes.unwrap_or_default())?,
        Err(e) if dynamo::condition_failed(&e) => return Ok(None),
        Err(e) => return Err(StoreError::sdk("UpdateItem", &e)),
    };
    let shown = record.clone().finding(&now);
    if shown.status != before {
        summary::change_total(&store.table, |total| {
            total.recount(&shown, before, shown.status)
        })
        .await?;
    }
    Ok(seen(store, vec![record]).await?.pop())
}

impl Suppressions for ResourcesStore {
    async fn suppress(
        &self,
        record: &Record,
        suppression: &Suppression,
    ) -> Result<Option<Record>, StoreError> {
        let event = SuppressionEvent {
            action: "suppress".into(),
            by: suppression.by.clone(),
            at: suppression.at.clone(),
            reason: Some(suppression.reason.clone()),
            until: suppression.until.clone(),
        };
        change_suppression(self, record, Some(suppression), event).await
    }

    async fn unsuppress(&self, record: &Record, by: &str) -> Result<Option<Record>, StoreError> {
        let event = SuppressionEvent {
            action: "unsuppress".into(),
            by: by.to_owned(),
            at: now_text(),
            reason: None,
            until: None,
        };
        change_suppression(self, record, None, event).await
    }
}

/// Reading the summary (`GET /v1/summary`): one item.
pub trait SummaryReads {
    fn summary(&self) -> impl Future<Output = Result<Summary, StoreError>> + Send;
}

/// [`SummaryReads`]' call, on the inventory table.
pub const SUMMARY_READS_IAM_ACTIONS: &[&str] = &["dynamodb:GetItem"];

impl SummaryReads for ResourcesStore {
    async fn summary(&self) -> Result<Summary, StoreError> {
        let (pk, sk) = summary::total_key();
        match self.table.get(pk, sk).await? {
            None => Ok(Summary::default()),
            Some(item) => Summary::from_total_item("GetItem", &item),
        }
    }
}
