//! Inventoried resources, in the inventory table, keyed by account and ARN.
//!
//! `RES#{account}/{arn}`, indexed by service (`gsi1` = `SVC#{service}` /
//! `{account}#{region}#{arn}`), by type (`gsi2`) and by region (`gsi3`), so the
//! common filters of `GET /v1/resources` are queries, not table scans.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dynamo::{self, Item, StoreError, Table, b, get_b, get_s, n, s};

/// One resource in the uniform shape of `API.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Resource {
    pub arn: String,
    pub id: String,
    /// `service:kind`, e.g. `ec2:instance`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub service: String,
    pub region: String,
    pub account_id: String,
    pub name: Option<String>,
    pub state: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: Option<String>,
    pub monthly_cost_usd: f64,
    /// Service-specific details.
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
    pub last_seen: String,
}

#[derive(Clone, Debug)]
pub struct ResourcesStore {
    table: Table,
}

fn resource_from(item: &Item) -> Option<Resource> {
    Some(Resource {
        arn: get_s(item, "arn")?.to_owned(),
        id: get_s(item, "id").unwrap_or_default().to_owned(),
        resource_type: get_s(item, "type").unwrap_or_default().to_owned(),
        service: get_s(item, "service").unwrap_or_default().to_owned(),
        region: get_s(item, "region").unwrap_or_default().to_owned(),
        account_id: get_s(item, "account_id").unwrap_or_default().to_owned(),
        name: get_s(item, "name").map(str::to_owned),
        state: if get_b(item, "gone") == Some(true) {
            Some("gone".into())
        } else {
            get_s(item, "state").map(str::to_owned)
        },
        tags: get_s(item, "tags")
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default(),
        created_at: get_s(item, "created_at").map(str::to_owned),
        monthly_cost_usd: item
            .get("monthly_cost_usd")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        properties: get_s(item, "properties")
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default(),
        last_seen: get_s(item, "last_seen").unwrap_or_default().to_owned(),
    })
}

/// What a successful listing speaks for, when marking resources gone.
#[derive(Debug, Clone, Copy)]
pub enum Listed<'a> {
    /// These services, listed in one region: one query on the region index.
    Region {
        region: &'a str,
        services: &'a [String],
    },
    /// An account-wide service (S3's bucket list, IAM), on its service index.
    AccountWide { service: &'a str },
}

fn resource_item(r: &Resource, scan_id: &str) -> Item {
    let place = format!("{}#{}#{}", r.account_id, r.region, r.arn);
    let mut item = Item::from([
        ("pk".to_owned(), s(format!("RES#{}", r.account_id))),
        ("sk".to_owned(), s(&r.arn)),
        ("gsi1pk".to_owned(), s(format!("SVC#{}", r.service))),
        ("gsi1sk".to_owned(), s(&place)),
        ("gsi2pk".to_owned(), s(format!("TYPE#{}", r.resource_type))),
        ("gsi2sk".to_owned(), s(&place)),
        ("gsi3pk".to_owned(), s(format!("REGION#{}", r.region))),
        ("gsi3sk".to_owned(), s(&place)),
        ("arn".to_owned(), s(&r.arn)),
        ("id".to_owned(), s(&r.id)),
        ("type".to_owned(), s(&r.resource_type)),
        ("service".to_owned(), s(&r.service)),
        ("region".to_owned(), s(&r.region)),
        ("account_id".to_owned(), s(&r.account_id)),
        (
            "tags".to_owned(),
            s(serde_json::to_string(&r.tags).unwrap_or_default()),
        ),
        (
            "monthly_cost_usd".to_owned(),
            n(format!("{:.4}", r.monthly_cost_usd)),
        ),
        ("properties".to_owned(), s(r.properties.to_string())),
        ("last_seen".to_owned(), s(&r.last_seen)),
        ("scan_id".to_owned(), s(scan_id)),
        ("gone".to_owned(), b(false)),
    ]);
    for (key, value) in [
        ("name", &r.name),
        ("state", &r.state),
        ("created_at", &r.created_at),
    ] {
        if let Some(v) = value {
            item.insert(key.to_owned(), s(v));
        }
    }
    item
}

impl ResourcesStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    /// Upserts resources seen by scan `scan_id`, 25 to a request.
    pub async fn upsert<'r>(
        &self,
        resources: impl IntoIterator<Item = &'r Resource>,
        scan_id: &str,
    ) -> Result<(), StoreError> {
        self.table
            .batch_put(resources.into_iter().map(|r| resource_item(r, scan_id)))
            .await
    }

    /// Marks gone every resource a successful listing speaks for that scan
    /// `scan_id` did not see. Call only after listings that succeeded: never
    /// after AccessDenied or throttling, which prove nothing about existence.
    pub async fn mark_gone_except(
        &self,
        account: &str,
        listed: Listed<'_>,
        scan_id: &str,
    ) -> Result<u64, StoreError> {
        let query = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .expression_attribute_values(":scan", s(scan_id))
            .expression_attribute_values(":no", b(false));
        let query = match listed {
            Listed::Region { services: [], .. } => return Ok(0),
            // One query on the region index for all of a job's services.
            Listed::Region { region, services } => {
                let names: Vec<String> = (0..services.len()).map(|i| format!(":s{i}")).collect();
                services
                    .iter()
                    .zip(&names)
                    .fold(query, |q, (service, name)| {
                        q.expression_attribute_values(name, s(service))
                    })
                    .index_name("gsi3")
                    .key_condition_expression("gsi3pk = :p AND begins_with(gsi3sk, :place)")
                    .filter_expression(format!(
                        "scan_id <> :scan AND gone = :no AND #service IN ({})",
                        names.join(", ")
                    ))
                    .expression_attribute_names("#service", "service")
                    .expression_attribute_values(":p", s(format!("REGION#{region}")))
                    .expression_attribute_values(":place", s(format!("{account}#{region}#")))
            }
            Listed::AccountWide { service } => query
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p AND begins_with(gsi1sk, :place)")
                .filter_expression("scan_id <> :scan AND gone = :no")
                .expression_attribute_values(":p", s(format!("SVC#{service}")))
                .expression_attribute_values(":place", s(format!("{account}#"))),
        };
        let mut pages = query.into_paginator().items().send();
        let mut gone = 0;
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
            let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned()) else {
                continue;
            };
            self.table
                .client
                .update_item()
                .table_name(&self.table.name)
                .key("pk", pk)
                .key("sk", sk)
                .update_expression("SET gone = :yes, gone_since = :now")
                // A later scan may have seen it again meanwhile: only mark what it has not.
                .condition_expression("scan_id <> :scan")
                .expression_attribute_values(":yes", b(true))
                .expression_attribute_values(":now", s(dynamo::rfc3339(dynamo::now())))
                .expression_attribute_values(":scan", s(scan_id))
                .send()
                .await
                .map(drop)
                .or_else(|e| {
                    if dynamo::condition_failed(&e) {
                        Ok(())
                    } else {
                        Err(StoreError::sdk("UpdateItem", &e))
                    }
                })?;
            gone += 1;
        }
        Ok(gone)
    }

    pub async fn get(&self, account: &str, arn: &str) -> Result<Option<Resource>, StoreError> {
        Ok(self
            .table
            .get(s(format!("RES#{account}")), s(arn))
            .await?
            .as_ref()
            .and_then(resource_from))
    }

    /// Every resource of an account (tests and reports).
    pub async fn of_account(&self, account: &str) -> Result<Vec<Resource>, StoreError> {
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("RES#{account}")))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.extend(resource_from(
                &item.map_err(|e| StoreError::sdk("Query", &e))?,
            ));
        }
        Ok(out)
    }
}

/// The filters of `GET /v1/resources`.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    pub resource_type: Option<String>,
    pub state: Option<String>,
    /// `key:value`
    pub tag: Option<(String, String)>,
    pub q: Option<String>,
}

impl ResourcesStore {
    /// A page of resources matching `filters`. The most selective indexed
    /// filter picks the query (account, then service, type, region); the rest
    /// filter its results. Only a listing with none of them reads the table.
    pub async fn list(
        &self,
        f: &Filters,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<Resource>, Option<Item>), StoreError> {
        let mut found = Vec::new();
        let mut start = after;
        loop {
            let mut conditions: Vec<&str> = Vec::new();
            let mut values: Vec<(&str, AttributeValue)> = Vec::new();
            let mut names: Vec<(&str, &str)> = Vec::new();
            let (index, key): (Option<&str>, Option<(String, String)>) =
                if let Some(a) = &f.account_id {
                    (None, Some(("pk".into(), format!("RES#{a}"))))
                } else if let Some(svc) = &f.service {
                    (Some("gsi1"), Some(("gsi1pk".into(), format!("SVC#{svc}"))))
                } else if let Some(t) = &f.resource_type {
                    (Some("gsi2"), Some(("gsi2pk".into(), format!("TYPE#{t}"))))
                } else if let Some(r) = &f.region {
                    (Some("gsi3"), Some(("gsi3pk".into(), format!("REGION#{r}"))))
                } else {
                    (None, None)
                };
            if key.is_none() {
                conditions.push("begins_with(pk, :res)");
                values.push((":res", s("RES#")));
            }
            if let (Some(r), true) = (&f.region, key.as_ref().is_some_and(|(k, _)| k != "gsi3pk")) {
                conditions.push("#region = :region");
                names.push(("#region", "region"));
                values.push((":region", s(r)));
            }
            if let (Some(svc), true) = (&f.service, key.as_ref().is_some_and(|(k, _)| k == "pk")) {
                conditions.push("service = :svc");
                values.push((":svc", s(svc)));
            }
            if let (Some(t), true) = (
                &f.resource_type,
                key.as_ref().is_none_or(|(k, _)| k != "gsi2pk"),
            ) {
                conditions.push("#type = :type");
                names.push(("#type", "type"));
                values.push((":type", s(t)));
            }
            if let Some(state) = &f.state {
                if state == "gone" {
                    conditions.push("gone = :yes");
                    values.push((":yes", b(true)));
                } else {
                    conditions.push("#state = :state AND gone = :no");
                    names.push(("#state", "state"));
                    values.push((":state", s(state)));
                    values.push((":no", b(false)));
                }
            }
            if let Some((k, v)) = &f.tag {
                conditions.push("contains(tags, :tag)");
                values.push((
                    ":tag",
                    s(serde_json::to_string(&BTreeMap::from([(k, v)]))
                        .unwrap_or_default()
                        .trim_matches(['{', '}'])
                        .to_owned()),
                ));
            }
            if let Some(q) = &f.q {
                conditions.push("(contains(arn, :q) OR contains(#name, :q))");
                names.push(("#name", "name"));
                values.push((":q", s(q)));
            }
            let want = (limit - found.len() as u32).max(1);
            let (items, last) = match key {
                Some((k, v)) => {
                    let mut request = self
                        .table
                        .client
                        .query()
                        .table_name(&self.table.name)
                        .set_index_name(index.map(str::to_owned))
                        .key_condition_expression(format!("{k} = :key"))
                        .expression_attribute_values(":key", s(v))
                        .limit(want as i32)
                        .set_exclusive_start_key(start.take());
                    if !conditions.is_empty() {
                        request = request.filter_expression(conditions.join(" AND "));
                    }
                    for (name, value) in values {
                        request = request.expression_attribute_values(name, value);
                    }
                    for (alias, name) in names {
                        request = request.expression_attribute_names(alias, name);
                    }
                    let out = request
                        .send()
                        .await
                        .map_err(|e| StoreError::sdk("Query", &e))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
                None => {
                    let mut request = self
                        .table
                        .client
                        .scan()
                        .table_name(&self.table.name)
                        .filter_expression(conditions.join(" AND "))
                        .limit(want as i32)
                        .set_exclusive_start_key(start.take());
                    for (name, value) in values {
                        request = request.expression_attribute_values(name, value);
                    }
                    for (alias, name) in names {
                        request = request.expression_attribute_names(alias, name);
                    }
                    let out = request
                        .send()
                        .await
                        .map_err(|e| StoreError::sdk("Scan", &e))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
            };
            found.extend(items.iter().filter_map(resource_from));
            match last {
                Some(k) if (found.len() as u32) < limit => start = Some(k),
                last => return Ok((found, last)),
            }
        }
    }

    /// One resource by ARN; the account comes from the ARN, or (S3 bucket
    /// ARNs carry none) from the service index.
    pub async fn by_arn(&self, arn: &str) -> Result<Option<Resource>, StoreError> {
        let mut parts = arn.splitn(6, ':');
        let (service, account) = (
            parts.nth(2).unwrap_or_default(),
            parts.nth(1).unwrap_or_default(),
        );
        if !account.is_empty() {
            return self.get(account, arn).await;
        }
        let out = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :svc")
            .filter_expression("arn = :arn")
            .expression_attribute_values(":svc", s(format!("SVC#{service}")))
            .expression_attribute_values(":arn", s(arn))
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        for item in out {
            if let Some(r) = resource_from(&item.map_err(|e| StoreError::sdk("Query", &e))?) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}
