//! RDS: database instances and their manual and automated snapshots.

use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it (tags come with the descriptions).
pub const IAM_ACTIONS: &[&str] = &["rds:DescribeDBInstances", "rds:DescribeDBSnapshots"];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let rds = aws_sdk_rds::Client::new(cx.config);
    let region = cx.region().to_owned();
    let p = prices();
    let mut out = Vec::new();

    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        for db in page?.db_instances() {
            let Some(id) = db.db_instance_identifier() else {
                continue;
            };
            let arn = db
                .db_instance_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("rds", &format!("db:{id}")));
            let mut r = cx.resource(Service::Rds, "db-instance", arn, id);
            let class = db.db_instance_class().unwrap_or_default();
            let storage_type = db.storage_type().unwrap_or("gp2");
            let storage = f64::from(db.allocated_storage().unwrap_or(0));
            let status = db.db_instance_status().map(str::to_owned);
            let running = status.as_deref() == Some("available");
            let multi_az = db.multi_az().unwrap_or(false);
            let cost = p.db_instance(&region, class, storage_type, storage, running, multi_az);
            r.name = Some(id.to_owned());
            r.state = status;
            r.monthly_cost_usd = cost.unwrap_or(0.0);
            r.created_at = db.instance_create_time().map(|t| t.to_string());
            r.tags = tag_map(db.tag_list().iter().map(|t| (t.key(), t.value())));
            r.properties = json!({
                "engine": db.engine(), "engine_version": db.engine_version(), "class": class,
                "storage_type": storage_type, "allocated_storage_gib": storage, "multi_az": multi_az,
                "storage_encrypted": db.storage_encrypted(), "publicly_accessible": db.publicly_accessible(),
                "backup_retention_days": db.backup_retention_period(), "price_known": cost.is_some(),
            });
            out.push(r);
        }
    }

    let mut pages = rds.describe_db_snapshots().into_paginator().send();
    while let Some(page) = pages.next().await {
        for snapshot in page?.db_snapshots() {
            let Some(id) = snapshot.db_snapshot_identifier() else {
                continue;
            };
            let arn = snapshot
                .db_snapshot_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("rds", &format!("snapshot:{id}")));
            let mut r = cx.resource(Service::Rds, "db-snapshot", arn, id);
            let size = f64::from(snapshot.allocated_storage().unwrap_or(0));
            r.name = Some(id.to_owned());
            r.state = snapshot.status().map(str::to_owned);
            r.monthly_cost_usd = p.db_snapshot(&region, size);
            r.created_at = snapshot.snapshot_create_time().map(|t| t.to_string());
            r.tags = tag_map(snapshot.tag_list().iter().map(|t| (t.key(), t.value())));
            r.properties = json!({
                "db_instance": snapshot.db_instance_identifier(), "snapshot_type": snapshot.snapshot_type(),
                "allocated_storage_gib": size, "encrypted": snapshot.encrypted(),
            });
            out.push(r);
        }
    }
    Ok(out)
}
