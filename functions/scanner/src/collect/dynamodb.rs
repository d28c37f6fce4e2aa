//! DynamoDB: tables, with billing mode, point-in-time recovery, deletion
//! protection, encryption and size.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{BillingMode, PointInTimeRecoveryStatus};
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:ListTables",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:ListTagsOfResource",
];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let dynamodb = &Client::new(cx.config);
    let mut names = Vec::new();
    let mut pages = dynamodb.list_tables().into_paginator().items().send();
    while let Some(name) = pages.next().await {
        names.push(name?);
    }
    detailed(names, |name| describe(cx, dynamodb, name)).await
}

async fn describe(
    cx: &Context<'_>,
    dynamodb: &Client,
    name: String,
) -> Result<Option<Resource>, CollectError> {
    let region = cx.region();
    let Some(table) = dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await?
        .table()
        .cloned()
    else {
        return Ok(None);
    };
    let arn = table
        .table_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| cx.arn("dynamodb", &format!("table/{name}")));
    let on_demand = table.billing_mode_summary().and_then(|b| b.billing_mode())
        == Some(&BillingMode::PayPerRequest);
    let (rcu, wcu) = match (on_demand, table.provisioned_throughput()) {
        (false, Some(p)) => (
            p.read_capacity_units().unwrap_or(0) as f64,
            p.write_capacity_units().unwrap_or(0) as f64,
        ),
        _ => (0.0, 0.0),
    };
    let size = table.table_size_bytes().unwrap_or(0) as f64;
    let (pitr, tags) = futures::try_join!(
        async {
            Ok::<_, CollectError>(
                dynamodb
                    .describe_continuous_backups()
                    .table_name(&name)
                    .send()
                    .await?
                    .continuous_backups_description()
                    .and_then(|c| c.point_in_time_recovery_description())
                    .and_then(|p| p.point_in_time_recovery_status())
                    .is_some_and(|s| *s == PointInTimeRecoveryStatus::Enabled),
            )
        },
        async {
            Ok::<_, CollectError>(
                dynamodb
                    .list_tags_of_resource()
                    .resource_arn(&arn)
                    .send()
                    .await?,
            )
        },
    )?;
    let mut r = cx.resource(Service::Dynamodb, "table", arn, &name);
    r.name = Some(name.clone());
    r.tags = tag_map(tags.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
    r.state = table.table_status().map(|s| s.as_str().to_owned());
    r.created_at = table.creation_date_time().map(|t| t.to_string());
    r.monthly_cost_usd = prices().dynamodb_table(region, size, rcu, wcu);
    r.properties = json!({
        "billing_mode": if on_demand { "PAY_PER_REQUEST" } else { "PROVISIONED" },
        "read_capacity_units": rcu, "write_capacity_units": wcu,
        "point_in_time_recovery": pitr,
        "deletion_protection": table.deletion_protection_enabled(),
        "encryption": table.sse_description().and_then(|s| s.sse_type()).map(|t| t.as_str()).unwrap_or("AWS_OWNED"),
        "size_bytes": size, "items": table.item_count(),
    });
    Ok(Some(r))
}
