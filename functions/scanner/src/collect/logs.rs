//! CloudWatch Logs: log groups, with retention and stored bytes.

use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context};
use crate::costs::prices;

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &["logs:DescribeLogGroups"];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(cx.config);
    let region = cx.region().to_owned();
    let mut out = Vec::new();
    let mut pages = logs.describe_log_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        for group in page?.log_groups() {
            let Some(name) = group.log_group_name() else {
                continue;
            };
            // DescribeLogGroups' ARN ends in ":*" (its log streams); the group's own ARN does not.
            let arn = group
                .arn()
                .map(|a| a.trim_end_matches(":*").to_owned())
                .unwrap_or_else(|| cx.arn("logs", &format!("log-group:{name}")));
            let stored = group.stored_bytes().unwrap_or(0) as f64;
            let mut r = cx.resource(Service::Logs, "log-group", arn, name);
            r.name = Some(name.to_owned());
            r.monthly_cost_usd = prices().log_storage(&region, stored);
            r.state = Some("active".into());
            r.created_at = group.creation_time().and_then(|ms| chrono_like(ms / 1000));
            r.properties = json!({
                "retention_days": group.retention_in_days(),
                "stored_bytes": stored,
                "kms_key_id": group.kms_key_id(),
            });
            out.push(r);
        }
    }
    Ok(out)
}

fn chrono_like(secs: i64) -> Option<String> {
    (secs > 0).then(|| shared::dynamo::rfc3339(secs))
}
