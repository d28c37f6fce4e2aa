//! RDS: database instances and their manual and automated snapshots, with
//! whether each manual snapshot is public.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSnapshot;
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it (tags come with the descriptions).
pub const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBInstances",
    "rds:DescribeDBSnapshots",
    "rds:DescribeDBSnapshotAttributes",
];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let rds = &Client::new(cx.config);
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
            // A read replica's source, an instance or a cluster: replicas
            // take no backups of their own (PostgreSQL cannot).
            let replica_of = db
                .read_replica_source_db_instance_identifier()
                .or(db.read_replica_source_db_cluster_identifier());
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
                "deletion_protection": db.deletion_protection(),
                // An Aurora instance's backups, deletion protection and
                // availability are its cluster's, not its own.
                "db_cluster": db.db_cluster_identifier(), "replica_of": replica_of,
            });
            out.push(r);
        }
    }

    let mut snapshots = Vec::new();
    let mut pages = rds.describe_db_snapshots().into_paginator().send();
    while let Some(page) = pages.next().await {
        snapshots.extend(page?.db_snapshots().iter().cloned());
    }
    out.extend(detailed(snapshots, |snapshot| describe_snapshot(cx, rds, snapshot)).await?);
    Ok(out)
}

/// One snapshot; a manual one with whether anyone may restore it
/// (`restore` shared with `all`). Automated snapshots cannot be shared.
async fn describe_snapshot(
    cx: &Context<'_>,
    rds: &Client,
    snapshot: DbSnapshot,
) -> Result<Option<Resource>, CollectError> {
    let Some(id) = snapshot.db_snapshot_identifier() else {
        return Ok(None);
    };
    let manual = snapshot.snapshot_type() == Some("manual");
    let public = if manual {
        match rds
            .describe_db_snapshot_attributes()
            .db_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(out) => Some(
                out.db_snapshot_attributes_result()
                    .map(|r| r.db_snapshot_attributes())
                    .unwrap_or_default()
                    .iter()
                    .filter(|a| a.attribute_name() == Some("restore"))
                    .any(|a| a.attribute_values().iter().any(|v| v == "all")),
            ),
            // Deleted since it was listed: the next listing marks it gone.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_snapshot_not_found_fault()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let arn = snapshot
        .db_snapshot_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| cx.arn("rds", &format!("snapshot:{id}")));
    let mut r = cx.resource(Service::Rds, "db-snapshot", arn, id);
    let size = f64::from(snapshot.allocated_storage().unwrap_or(0));
    r.name = Some(id.to_owned());
    r.state = snapshot.status().map(str::to_owned);
    r.monthly_cost_usd = prices().db_snapshot(cx.region(), size);
    r.created_at = snapshot.snapshot_create_time().map(|t| t.to_string());
    r.tags = tag_map(snapshot.tag_list().iter().map(|t| (t.key(), t.value())));
    r.properties = json!({
        "db_instance": snapshot.db_instance_identifier(), "snapshot_type": snapshot.snapshot_type(),
        "allocated_storage_gib": size, "encrypted": snapshot.encrypted(), "public": public,
    });
    Ok(Some(r))
}
