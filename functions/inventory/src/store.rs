//! What the inventory function does with its tables, named after its
//! routes' access patterns: it registers and removes accounts, reads scans,
//! and queries resources. (Listing accounts and queueing a scan, which the
//! scanner's schedule does too, are `shared::inventory`'s.)

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::dynamo::{self, Item, StoreError, b, s};
use shared::inventory::{Account, InventoryStore, Scan, Service};
use shared::resources::{Resource, ResourcesStore, tag_needle};

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

/// Reading scans (`GET /v1/scans`, `GET /v1/scans/{id}`).
pub trait ScanHistory {
    fn scan(&self, scan_id: &str) -> impl Future<Output = Result<Option<Scan>, StoreError>> + Send;
    /// A page of scans, newest first.
    fn scans(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<Scan>, Option<Item>), StoreError>> + Send;
}

/// [`AccountRegistry`]'s calls, on the inventory table.
pub const ACCOUNT_REGISTRY_IAM_ACTIONS: &[&str] = &["dynamodb:PutItem", "dynamodb:DeleteItem"];
/// [`ScanHistory`]'s calls, on the inventory table and its `gsi1`.
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

impl ScanHistory for InventoryStore {
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
        let mut found = Vec::new();
        let mut evaluated = 0u32;
        let mut start = after;
        loop {
            let mut e = filter_expression(f, &access);
            let need = limit - found.len() as u32;
            // Unfiltered, the page is the next `need` items; filtered, each
            // request may evaluate what is left of the budget.
            let evaluate = if e.conditions.is_empty() {
                need
            } else {
                MAX_EVALUATED - evaluated
            };
            let filter = (!e.conditions.is_empty()).then(|| e.conditions.join(" AND "));
            let (items, scanned, last) = match &access.partition {
                Some((attribute, value)) => {
                    let (k, v) = (e.name(attribute), e.value("key", s(value)));
                    let out = self
                        .table
                        .client
                        .query()
                        .table_name(&self.table.name)
                        .set_index_name(access.index.map(str::to_owned))
                        .key_condition_expression(format!("{k} = {v}"))
                        .set_filter_expression(filter)
                        .set_expression_attribute_names(Some(e.names))
                        .set_expression_attribute_values(Some(e.values))
                        .limit(evaluate as i32)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| StoreError::sdk("Query", &e))?;
                    (
                        out.items.unwrap_or_default(),
                        out.scanned_count,
                        out.last_evaluated_key,
                    )
                }
                None => {
                    let out = self
                        .table
                        .client
                        .scan()
                        .table_name(&self.table.name)
                        .set_filter_expression(filter)
                        .set_expression_attribute_names(Some(e.names))
                        .set_expression_attribute_values(Some(e.values))
                        .limit(evaluate as i32)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| StoreError::sdk("Scan", &e))?;
                    (
                        out.items.unwrap_or_default(),
                        out.scanned_count,
                        out.last_evaluated_key,
                    )
                }
            };
            // At least one per request, so a page always makes progress.
            evaluated += (scanned.max(1) as u32).min(MAX_EVALUATED);
            let operation = if access.partition.is_some() {
                "Query"
            } else {
                "Scan"
            };
            if items.len() > need as usize {
                // More matched than the page holds: it ends at its last item.
                let kept = &items[..need as usize];
                for item in kept {
                    found.push(Resource::from_item(operation, item)?);
                }
                return Ok((found, kept.last().map(|item| access.key_of(item))));
            }
            for item in &items {
                found.push(Resource::from_item(operation, item)?);
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
