//! What the actions function reads and writes of the inventory: the
//! registered account a target belongs to, and, after a real action, the
//! resource's new state (or its end) with its findings re-evaluated and the
//! summary moved, so that nothing shows what no longer is.

use shared::advisor::{self, Raised};
use shared::dynamo::{self, Item, StoreError, b, s};
use shared::finding_writes;
use shared::findings::{self, Evaluated, FindingStatus, Record, SettledMarks};
use shared::inventory::{Account, decode};
use shared::resources::{Resource, ResourcesStore};
use shared::summary;

use crate::remediate::After;

/// Reading the inventory for an action, and keeping it true after one.
pub trait Inventory {
    /// The registered account with this id.
    fn account(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// The account and region of an inventoried bucket (a bucket's ARN names neither).
    fn bucket(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<(String, String)>, StoreError>> + Send;

    /// After a real action on `arn` in `account`: the resource gone or in
    /// its new state (its cost less what the action saved), each of its
    /// findings raised or resolved as the advisor now judges it (written
    /// by `writer`), and the summary's total moved to match. A resource
    /// never inventoried is left to the next scan.
    fn after_action(
        &self,
        account: &str,
        arn: &str,
        after: After,
        saved_usd: f64,
        writer: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// [`Inventory`]'s calls, on the inventory table.
pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "dynamodb:PutItem",
];

/// Every resource of one account in one region (one query of the region index).
async fn region_estate(
    store: &ResourcesStore,
    account: &str,
    region: &str,
) -> Result<Vec<Resource>, StoreError> {
    let mut pages = store
        .table
        .client
        .query()
        .table_name(&store.table.name)
        .index_name("gsi3")
        .key_condition_expression("#pk = :p AND begins_with(#sk, :place)")
        .expression_attribute_names("#pk", "gsi3pk")
        .expression_attribute_names("#sk", "gsi3sk")
        .expression_attribute_values(":p", s(format!("REGION#{region}")))
        .expression_attribute_values(":place", s(format!("{account}#{region}#")))
        .into_paginator()
        .items()
        .send();
    let mut estate = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| StoreError::sdk("Query", &e))?;
        estate.push(Resource::from_item("Query", &item)?);
    }
    Ok(estate)
}

/// One finding's move in the summary: `(as it shows now, from, to)`.
type Move = (findings::Finding, FindingStatus, FindingStatus);

impl Inventory for ResourcesStore {
    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let (pk, sk) = Account::key(account_id);
        self.table
            .get(pk, sk)
            .await?
            .map(|item| decode("GetItem", &item))
            .transpose()
    }

    async fn bucket(&self, arn: &str) -> Result<Option<(String, String)>, StoreError> {
        let mut pages = self
            .table
            .query_gsi1("SVC#s3")
            .filter_expression("#arn = :arn")
            .expression_attribute_names("#arn", "arn")
            .expression_attribute_values(":arn", s(arn))
            .into_paginator()
            .items()
            .send();
        // The first match is the bucket: a bucket name is unique in its partition.
        let Some(item) = pages.next().await else {
            return Ok(None);
        };
        let r = Resource::from_item("Query", &item.map_err(|e| StoreError::sdk("Query", &e))?)?;
        Ok(Some((r.account_id, r.region)))
    }

    async fn after_action(
        &self,
        account: &str,
        arn: &str,
        after: After,
        saved_usd: f64,
        writer: &str,
    ) -> Result<(), StoreError> {
        let now = dynamo::rfc3339(dynamo::now());
        let (pk, sk) = Resource::key(account, arn);
        let Some(item) = self.table.get(pk.clone(), sk.clone()).await? else {
            return Ok(());
        };
        let before = Resource::from_item("GetItem", &item)?;
        if before.state.as_deref() == Some("gone") {
            return Ok(());
        }
        let mut resource = before.clone();
        let update = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk");
        let update = match after {
            After::Gone => {
                resource.state = Some("gone".into());
                update
                    .update_expression("SET #gone = :yes, #gone_since = :now")
                    .expression_attribute_names("#gone", "gone")
                    .expression_attribute_names("#gone_since", "gone_since")
                    .expression_attribute_values(":yes", b(true))
                    .expression_attribute_values(":now", s(&now))
            }
            After::State(state) => {
                resource.state = Some(state.to_owned());
                resource.monthly_cost_usd =
                    findings::cents((before.monthly_cost_usd - saved_usd).max(0.0));
                update
                    .update_expression("SET #state = :state, #cost = :cost")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_names("#cost", "monthly_cost_usd")
                    .expression_attribute_values(":state", s(state))
                    .expression_attribute_values(":cost", dynamo::n(resource.monthly_cost_usd))
            }
        };
        if !dynamo::condition_held("UpdateItem", update.send().await)? {
            return Ok(());
        }

        // The advisor's judgement of the resource as it is now, among the
        // other resources of its region (a check may look at them).
        let estate = match after {
            After::Gone => vec![],
            After::State(_) => {
                let mut estate = region_estate(self, account, &resource.region).await?;
                estate.retain(|r| r.arn != arn);
                estate.push(resource.clone());
                estate
            }
        };
        let raised: Vec<Raised<'_>> = advisor::evaluate(&estate)
            .into_iter()
            .filter(|r| r.resource.arn == arn)
            .collect();
        let listing = findings::listing_of(resource.service, &resource.region);
        let mut marks = SettledMarks::default();
        let (pk, sk) = findings::settled_key(account, listing);
        if let Some(item) = self.table.get(pk, sk).await? {
            marks.insert(item);
        }

        let mut moves: Vec<Move> = Vec::new();
        for check in advisor::catalogue().filter(|c| c.resource_type == resource.resource_type) {
            let (pk, sk) = findings::key(account, listing, check.id, arn);
            let stored: Option<Item> = self.table.get(pk, sk).await?;
            let shown = |record: &Record| record.clone().finding(&now).status;
            match (raised.iter().find(|r| r.check.id == check.id), stored) {
                (Some(finding), stored) => {
                    let values = findings::raised_values(finding, writer, &now);
                    if stored
                        .as_ref()
                        .is_some_and(|item| findings::unchanged(item, &values))
                    {
                        continue;
                    }
                    let from = match &stored {
                        Some(item) => shown(&Record::from_item("GetItem", item)?),
                        None => FindingStatus::Resolved,
                    };
                    let record = finding_writes::raise(self, finding, writer, &now).await?;
                    moves.push((record.clone().finding(&now), from, shown(&record)));
                }
                (None, Some(item)) => {
                    let record = marks.apply(Record::from_item("GetItem", &item)?);
                    if record.state != Evaluated::Open {
                        continue;
                    }
                    if finding_writes::resolve(self, &record, &now).await? {
                        let from = shown(&record);
                        let mut resolved = record;
                        resolved.state = Evaluated::Resolved;
                        moves.push((resolved.clone().finding(&now), from, shown(&resolved)));
                    }
                }
                (None, None) => {}
            }
        }
        let gone = after == After::Gone;
        summary::change_total(&self.table, |total| {
            total.recount_resource(&resource, before.monthly_cost_usd, gone);
            for (finding, from, to) in &moves {
                if from != to {
                    total.recount(finding, *from, *to);
                }
            }
        })
        .await
    }
}
