//! The eight actions, each a live read of the resource (never the
//! inventory, which may be a day old), its precondition and protection
//! check, then the call. EC2's calls take `DryRun`, so an EC2 dry run also
//! proves the permission; RDS and S3 have none, and their dry run stops
//! after the live read.

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{Filter, InstanceStateName, NatGatewayState, VolumeState};
use shared::aws::{ProvideErrorMetadata, SdkError};
use shared::costs::prices;

use crate::action::{ActionKind, Target};

/// The tag that puts a resource out of every action's reach (the actions
/// policy denies the same calls on it: a second guard).
pub const PROTECTION_TAG: &str = "cloudkeep:protected";

/// The AWS calls the actions make: the live reads, then the mutating calls.
pub const IAM_ACTIONS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeAddresses",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "ec2:DescribeImages",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "rds:DescribeDBInstances",
    "s3:GetBucketTagging",
    "s3:ListBucketVersions",
    // Mutating: exactly these, and the template's Deny on the protection tag.
    "ec2:StopInstances",
    "ec2:StartInstances",
    "ec2:ReleaseAddress",
    "ec2:DeleteVolume",
    "ec2:DeleteSnapshot",
    "ec2:DeleteNatGateway",
    "rds:StopDBInstance",
    "s3:DeleteBucket",
];

/// The clients of one account and region, built once per action's target.
#[derive(Debug, Clone)]
pub struct Clients {
    ec2: aws_sdk_ec2::Client,
    rds: aws_sdk_rds::Client,
    s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            s3: shared::aws::s3(config),
        }
    }
}

/// What the resource will become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Gone,
    State(&'static str),
}

/// What the live read found the action would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The resource as read, for the message: `volume vol-1 (100 GiB gp3, available)`.
    pub what: String,
    /// What the action saves a month, from the price table (negative: it costs).
    pub monthly_savings_usd: f64,
    pub after: After,
}

/// The live read's verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Go(Plan),
    /// Why it is not attempted, in words a person acts on.
    Refuse(String),
}

/// AWS refused or failed a call: its error code and message (never the
/// SDK's debug text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailed {
    pub code: String,
    pub message: String,
}

impl CallFailed {
    fn of<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &str,
        err: &SdkError<E>,
    ) -> Self {
        tracing::warn!(operation, error = %shared::aws::describe(err), "an action's AWS call failed");
        let code = err.as_service_error().and_then(|e| e.code()).map_or_else(
            || match shared::aws::failure_kind(err) {
                shared::aws::FailureKind::Unavailable => "Unavailable".to_owned(),
                shared::aws::FailureKind::Bug => "RequestFailed".to_owned(),
            },
            str::to_owned,
        );
        Self {
            code,
            message: shared::aws::client_text(err),
        }
    }
}

/// The error code of a failed call, if AWS answered one.
fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E>) -> &str {
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or_default()
}

fn protected<'a>(tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> bool {
    tags.into_iter().any(|(k, v)| {
        k == Some(PROTECTION_TAG) && v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    })
}

fn refuse(reason: impl Into<String>) -> Result<Verdict, CallFailed> {
    Ok(Verdict::Refuse(reason.into()))
}

fn go(what: String, monthly_savings_usd: f64, after: After) -> Result<Verdict, CallFailed> {
    Ok(Verdict::Go(Plan {
        what,
        monthly_savings_usd: shared::findings::cents(monthly_savings_usd),
        after,
    }))
}

const PROTECTED: &str = "it is tagged cloudkeep:protected=true";

/// Reads the resource live and decides whether the action may go ahead.
pub async fn inspect(
    clients: &Clients,
    target: &Target,
    region: &str,
) -> Result<Verdict, CallFailed> {
    let id = target.id.as_str();
    match target.kind {
        ActionKind::StopInstance | ActionKind::StartInstance => {
            let out = clients
                .ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await;
            let instance = match &out {
                Ok(out) => out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .find(|i| i.instance_id() == Some(id)),
                Err(e) if code_of(e) == "InvalidInstanceID.NotFound" => None,
                Err(e) => return Err(CallFailed::of("DescribeInstances", e)),
            };
            let Some(instance) = instance else {
                return refuse(format!("instance {id} no longer exists"));
            };
            let state = instance.state().and_then(|s| s.name()).cloned();
            if matches!(state, Some(InstanceStateName::Terminated)) {
                return refuse(format!("instance {id} is terminated"));
            }
            if protected(instance.tags().iter().map(|t| (t.key(), t.value()))) {
                return refuse(format!("instance {id}: {PROTECTED}"));
            }
            let state_name = state.as_ref().map_or("unknown", |s| s.as_str()).to_owned();
            let kind = instance.instance_type().map_or("unknown", |t| t.as_str());
            let compute = prices().instance(region, kind, true).unwrap_or(0.0);
            let what = format!("instance {id} ({kind}, {state_name})");
            match (target.kind, &state) {
                (ActionKind::StopInstance, Some(InstanceStateName::Running)) => {
                    go(what, compute, After::State("stopped"))
                }
                (ActionKind::StartInstance, Some(InstanceStateName::Stopped)) => {
                    go(what, -compute, After::State("running"))
                }
                (ActionKind::StopInstance, _) => {
                    refuse(format!("instance {id} is {state_name}, not running"))
                }
                _ => refuse(format!("instance {id} is {state_name}, not stopped")),
            }
        }
        ActionKind::ReleaseAddress => {
            let request = clients.ec2.describe_addresses();
            let request = if id.starts_with("eipalloc-") {
                request.allocation_ids(id)
            } else {
                request.public_ips(id)
            };
            let address = match request.send().await {
                Ok(out) => out.addresses().first().cloned(),
                Err(e) if code_of(&e).ends_with(".NotFound") => None,
                Err(e) => return Err(CallFailed::of("DescribeAddresses", &e)),
            };
            let Some(address) = address else {
                return refuse(format!("address {id} is no longer allocated"));
            };
            if protected(address.tags().iter().map(|t| (t.key(), t.value()))) {
                return refuse(format!("address {id}: {PROTECTED}"));
            }
            if let Some(association) = address.association_id() {
                return refuse(format!(
                    "address {id} is associated ({association}{}): disassociate it first",
                    address
                        .instance_id()
                        .map(|i| format!(" with {i}"))
                        .unwrap_or_default()
                ));
            }
            let ip = address.public_ip().unwrap_or(id);
            go(
                format!("Elastic IP {ip} ({id}, unassociated)"),
                prices().public_ipv4(),
                After::Gone,
            )
        }
        ActionKind::DeleteVolume => {
            let volume = match clients.ec2.describe_volumes().volume_ids(id).send().await {
                Ok(out) => out.volumes().first().cloned(),
                Err(e) if code_of(&e) == "InvalidVolume.NotFound" => None,
                Err(e) => return Err(CallFailed::of("DescribeVolumes", &e)),
            };
            let Some(volume) = volume else {
                return refuse(format!("volume {id} no longer exists"));
            };
            if protected(volume.tags().iter().map(|t| (t.key(), t.value()))) {
                return refuse(format!("volume {id}: {PROTECTED}"));
            }
            let state = volume.state().map_or("unknown", |s| s.as_str());
            if volume.state() != Some(&VolumeState::Available) {
                return refuse(format!(
                    "volume {id} is {state}, not available: only a volume attached to nothing is deleted"
                ));
            }
            let kind = volume.volume_type().map_or("gp2", |t| t.as_str());
            let size = f64::from(volume.size().unwrap_or(0));
            let cost = prices()
                .volume(
                    region,
                    kind,
                    size,
                    f64::from(volume.iops().unwrap_or(0)),
                    f64::from(volume.throughput().unwrap_or(0)),
                )
                .unwrap_or(0.0);
            go(
                format!("volume {id} ({size} GiB {kind}, available)"),
                cost,
                After::Gone,
            )
        }
        ActionKind::DeleteSnapshot => {
            let snapshot = match clients
                .ec2
                .describe_snapshots()
                .snapshot_ids(id)
                .send()
                .await
            {
                Ok(out) => out.snapshots().first().cloned(),
                Err(e) if code_of(&e) == "InvalidSnapshot.NotFound" => None,
                Err(e) => return Err(CallFailed::of("DescribeSnapshots", &e)),
            };
            let Some(snapshot) = snapshot else {
                return refuse(format!("snapshot {id} no longer exists"));
            };
            if protected(snapshot.tags().iter().map(|t| (t.key(), t.value()))) {
                return refuse(format!("snapshot {id}: {PROTECTED}"));
            }
            // Deleting an AMI's snapshot breaks every launch from it.
            let mut images = clients
                .ec2
                .describe_images()
                .owners("self")
                .into_paginator()
                .send();
            while let Some(page) = images.next().await {
                let page = page.map_err(|e| CallFailed::of("DescribeImages", &e))?;
                let using = page.images().iter().find(|image| {
                    image
                        .block_device_mappings()
                        .iter()
                        .any(|m| m.ebs().and_then(|e| e.snapshot_id()) == Some(id))
                });
                if let Some(image) = using {
                    return refuse(format!(
                        "snapshot {id} backs the registered image {}: deregister it first",
                        image.image_id().unwrap_or("?")
                    ));
                }
            }
            let size = f64::from(snapshot.volume_size().unwrap_or(0));
            go(
                format!("snapshot {id} (of a {size} GiB volume)"),
                prices().snapshot(region, size),
                After::Gone,
            )
        }
        ActionKind::DeleteNatGateway => {
            let nat = match clients
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send()
                .await
            {
                Ok(out) => out.nat_gateways().first().cloned(),
                Err(e) if code_of(&e) == "NatGatewayNotFound" => None,
                Err(e) => return Err(CallFailed::of("DescribeNatGateways", &e)),
            };
            let live = nat.filter(|n| {
                !matches!(
                    n.state(),
                    Some(NatGatewayState::Deleted | NatGatewayState::Deleting)
                )
            });
            let Some(nat) = live else {
                return refuse(format!("NAT gateway {id} no longer exists"));
            };
            if protected(nat.tags().iter().map(|t| (t.key(), t.value()))) {
                return refuse(format!("NAT gateway {id}: {PROTECTED}"));
            }
            if nat.state() != Some(&NatGatewayState::Available) {
                return refuse(format!(
                    "NAT gateway {id} is {}, not available",
                    nat.state().map_or("unknown", |s| s.as_str())
                ));
            }
            let routes = clients
                .ec2
                .describe_route_tables()
                .filters(
                    Filter::builder()
                        .name("route.nat-gateway-id")
                        .values(id)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| CallFailed::of("DescribeRouteTables", &e))?;
            if let Some(table) = routes.route_tables().first() {
                return refuse(format!(
                    "NAT gateway {id} is a route of {}: traffic depends on it",
                    table.route_table_id().unwrap_or("a route table")
                ));
            }
            go(
                format!("NAT gateway {id} (available, no route uses it)"),
                prices().nat_gateway(region),
                After::Gone,
            )
        }
        ActionKind::StopDbInstance => {
            let db = match clients
                .rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
            {
                Ok(out) => out.db_instances().first().cloned(),
                Err(e) if code_of(&e) == "DBInstanceNotFound" => None,
                Err(e) => return Err(CallFailed::of("DescribeDBInstances", &e)),
            };
            let Some(db) = db else {
                return refuse(format!("database {id} no longer exists"));
            };
            if protected(db.tag_list().iter().map(|t| (t.key(), t.value()))) {
                return refuse(format!("database {id}: {PROTECTED}"));
            }
            let status = db.db_instance_status().unwrap_or("unknown");
            if status != "available" {
                return refuse(format!("database {id} is {status}, not available"));
            }
            let class = db.db_instance_class().unwrap_or("unknown");
            let cost = |running| {
                prices()
                    .db_instance(
                        region,
                        class,
                        db.storage_type().unwrap_or("gp2"),
                        f64::from(db.allocated_storage().unwrap_or(0)),
                        running,
                        db.multi_az().unwrap_or(false),
                    )
                    .unwrap_or(0.0)
            };
            go(
                format!("database {id} ({class}, available)"),
                cost(true) - cost(false),
                After::State("stopped"),
            )
        }
        ActionKind::DeleteBucket => {
            let tags = match clients.s3.get_bucket_tagging().bucket(id).send().await {
                Ok(out) => Some(out.tag_set().to_vec()),
                Err(e) if code_of(&e) == "NoSuchTagSet" => Some(vec![]),
                Err(e) if code_of(&e) == "NoSuchBucket" => None,
                Err(e) => return Err(CallFailed::of("GetBucketTagging", &e)),
            };
            let Some(tags) = tags else {
                return refuse(format!("bucket {id} no longer exists"));
            };
            if protected(tags.iter().map(|t| (Some(t.key()), Some(t.value())))) {
                return refuse(format!("bucket {id}: {PROTECTED}"));
            }
            let listed = clients
                .s3
                .list_object_versions()
                .bucket(id)
                .max_keys(1)
                .send()
                .await
                .map_err(|e| CallFailed::of("ListObjectVersions", &e))?;
            if !listed.versions().is_empty() || !listed.delete_markers().is_empty() {
                return refuse(format!(
                    "bucket {id} is not empty: only an empty bucket is deleted"
                ));
            }
            go(format!("bucket {id} (empty)"), 0.0, After::Gone)
        }
    }
}

/// A dry run EC2 answered as it would have done the call.
fn dry_run_passed<E: ProvideErrorMetadata>(sent: &Result<(), SdkError<E>>) -> bool {
    matches!(sent, Err(e) if code_of(e) == "DryRunOperation")
}

/// Makes the call (with `DryRun` where AWS has it); `Ok` when it was done,
/// or, in a dry run, would have been.
pub async fn perform(clients: &Clients, target: &Target, dry_run: bool) -> Result<(), CallFailed> {
    let id = target.id.as_str();
    let ec2 = &clients.ec2;
    macro_rules! ec2_call {
        ($operation:literal, $request:expr) => {{
            let sent = $request.dry_run(dry_run).send().await.map(drop);
            if dry_run && dry_run_passed(&sent) {
                Ok(())
            } else {
                sent.map_err(|e| CallFailed::of($operation, &e))
            }
        }};
    }
    match target.kind {
        ActionKind::StopInstance => {
            ec2_call!("StopInstances", ec2.stop_instances().instance_ids(id))
        }
        ActionKind::StartInstance => {
            ec2_call!("StartInstances", ec2.start_instances().instance_ids(id))
        }
        ActionKind::ReleaseAddress if id.starts_with("eipalloc-") => {
            ec2_call!("ReleaseAddress", ec2.release_address().allocation_id(id))
        }
        ActionKind::ReleaseAddress => {
            ec2_call!("ReleaseAddress", ec2.release_address().public_ip(id))
        }
        ActionKind::DeleteVolume => {
            ec2_call!("DeleteVolume", ec2.delete_volume().volume_id(id))
        }
        ActionKind::DeleteSnapshot => {
            ec2_call!("DeleteSnapshot", ec2.delete_snapshot().snapshot_id(id))
        }
        ActionKind::DeleteNatGateway => {
            ec2_call!(
                "DeleteNatGateway",
                ec2.delete_nat_gateway().nat_gateway_id(id)
            )
        }
        // No DryRun in RDS or S3: the live read was the dry run.
        _ if dry_run => Ok(()),
        ActionKind::StopDbInstance => clients
            .rds
            .stop_db_instance()
            .db_instance_identifier(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| CallFailed::of("StopDBInstance", &e)),
        ActionKind::DeleteBucket => clients
            .s3
            .delete_bucket()
            .bucket(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| CallFailed::of("DeleteBucket", &e)),
    }
}

/// What the action did, or would do, in one sentence.
pub fn message(kind: ActionKind, plan: &Plan, dry_run: bool) -> String {
    let verb = match (kind, dry_run) {
        (ActionKind::StopInstance | ActionKind::StopDbInstance, true) => "Would stop",
        (ActionKind::StopInstance | ActionKind::StopDbInstance, false) => "Stopped",
        (ActionKind::StartInstance, true) => "Would start",
        (ActionKind::StartInstance, false) => "Started",
        (ActionKind::ReleaseAddress, true) => "Would release",
        (ActionKind::ReleaseAddress, false) => "Released",
        (_, true) => "Would delete",
        (_, false) => "Deleted",
    };
    let money = plan.monthly_savings_usd;
    let dollars = if money > 0.0 {
        format!(", saving ${money:.2} a month")
    } else if money < 0.0 {
        format!(", costing ${:.2} a month", -money)
    } else {
        String::new()
    };
    format!("{verb} {}{dollars}.", plan.what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_protection_tag_set_to_true_protects() {
        assert!(protected([(Some(PROTECTION_TAG), Some("true"))]));
        assert!(protected([(Some(PROTECTION_TAG), Some(" TRUE "))]));
        assert!(!protected([(Some(PROTECTION_TAG), Some("false"))]));
        assert!(!protected([(
            Some("cloudkeep:protected-not"),
            Some("true")
        )]));
        assert!(!protected(std::iter::empty()));
    }

    #[test]
    fn a_message_says_what_was_or_would_be_done_and_what_it_saves() {
        let plan = Plan {
            what: "volume vol-1 (100 GiB gp3, available)".into(),
            monthly_savings_usd: 8.0,
            after: After::Gone,
        };
        assert_eq!(
            message(ActionKind::DeleteVolume, &plan, true),
            "Would delete volume vol-1 (100 GiB gp3, available), saving $8.00 a month."
        );
        let start = Plan {
            monthly_savings_usd: -30.37,
            ..plan
        };
        assert!(
            message(ActionKind::StartInstance, &start, false).ends_with("costing $30.37 a month.")
        );
    }
}
