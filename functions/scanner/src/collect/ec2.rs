//! EC2: instances, EBS volumes and snapshots (owned, with whether they are
//! public), Elastic IPs, NAT gateways, route tables (which NAT gateways they
//! route through), VPCs, security groups (with their ingress rules), and the
//! region's account settings (EBS encryption by default) as one
//! `ec2:account-settings` resource.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    InstanceStateName, NatGatewayState, PermissionGroup, SnapshotAttributeName, Tag,
};
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSnapshotAttribute",
    "ec2:DescribeAddresses",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcs",
    "ec2:DescribeSecurityGroups",
    "ec2:GetEbsEncryptionByDefault",
];

type Listing = Result<Vec<Resource>, CollectError>;

fn tags(tags: &[Tag]) -> std::collections::BTreeMap<String, String> {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

fn named(mut r: Resource, tags: std::collections::BTreeMap<String, String>) -> Resource {
    r.name = tags.get("Name").cloned();
    r.tags = tags;
    r
}

/// The nine listings run concurrently: a region's EC2 takes one round trip
/// (per page), not nine.
pub async fn collect(cx: &Context<'_>) -> Listing {
    let ec2 = &Client::new(cx.config);
    let (
        instances,
        volumes,
        snapshots,
        addresses,
        nat_gateways,
        route_tables,
        vpcs,
        security_groups,
        settings,
    ) = futures::try_join!(
        instances(cx, ec2),
        volumes(cx, ec2),
        snapshots(cx, ec2),
        addresses(cx, ec2),
        nat_gateways(cx, ec2),
        route_tables(cx, ec2),
        vpcs(cx, ec2),
        security_groups(cx, ec2),
        account_settings(cx, ec2),
    )?;
    Ok([
        instances,
        volumes,
        snapshots,
        addresses,
        nat_gateways,
        route_tables,
        vpcs,
        security_groups,
        settings,
    ]
    .concat())
}

async fn instances(cx: &Context<'_>, ec2: &Client) -> Listing {
    let region = cx.region().to_owned();
    let p = prices();
    let mut out = Vec::new();
    let mut pages = ec2.describe_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        for instance in page?.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = instance.instance_id() else {
                continue;
            };
            let state_name = instance.state().and_then(|s| s.name());
            let state = state_name.map(|s| s.as_str().to_owned());
            let instance_type = instance
                .instance_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default();
            let running = state_name == Some(&InstanceStateName::Running);
            let metadata = instance.metadata_options();
            let mut r = named(
                cx.resource(
                    Service::Ec2,
                    "instance",
                    cx.arn("ec2", &format!("instance/{id}")),
                    id,
                ),
                tags(instance.tags()),
            );
            let cost = p.instance(&region, &instance_type, running);
            r.monthly_cost_usd = cost.unwrap_or(0.0);
            r.state = state;
            r.created_at = instance.launch_time().map(|t| t.to_string());
            r.properties = json!({
                "instance_type": instance_type,
                "price_known": cost.is_some(),
                "availability_zone": instance.placement().and_then(|pl| pl.availability_zone()),
                "vpc_id": instance.vpc_id(),
                "subnet_id": instance.subnet_id(),
                "public_ip": instance.public_ip_address(),
                // `optional` still answers IMDSv1; `required` is IMDSv2 only.
                "http_tokens": metadata.and_then(|m| m.http_tokens()).map(|t| t.as_str()),
                // `disabled` turns the metadata service off altogether.
                "http_endpoint": metadata.and_then(|m| m.http_endpoint()).map(|e| e.as_str()),
                "volumes": instance.block_device_mappings().iter().filter_map(|b| b.ebs().and_then(|e| e.volume_id())).collect::<Vec<_>>(),
            });
            out.push(r);
        }
    }
    Ok(out)
}

async fn volumes(cx: &Context<'_>, ec2: &Client) -> Listing {
    let region = cx.region().to_owned();
    let p = prices();
    let mut out = Vec::new();
    let mut pages = ec2.describe_volumes().into_paginator().send();
    while let Some(page) = pages.next().await {
        for volume in page?.volumes() {
            let Some(id) = volume.volume_id() else {
                continue;
            };
            let kind = volume
                .volume_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default();
            let size = f64::from(volume.size().unwrap_or(0));
            let iops = f64::from(volume.iops().unwrap_or(0));
            let throughput = f64::from(volume.throughput().unwrap_or(0));
            let mut r = named(
                cx.resource(
                    Service::Ec2,
                    "volume",
                    cx.arn("ec2", &format!("volume/{id}")),
                    id,
                ),
                tags(volume.tags()),
            );
            r.monthly_cost_usd = p
                .volume(&region, &kind, size, iops, throughput)
                .unwrap_or(0.0);
            r.state = volume.state().map(|s| s.as_str().to_owned());
            r.created_at = volume.create_time().map(|t| t.to_string());
            r.properties = json!({
                "volume_type": kind, "size_gib": size, "iops": iops, "throughput_mibps": throughput,
                "encrypted": volume.encrypted(),
                "attached_to": volume.attachments().iter().filter_map(|a| a.instance_id()).collect::<Vec<_>>(),
            });
            out.push(r);
        }
    }
    Ok(out)
}

async fn snapshots(cx: &Context<'_>, ec2: &Client) -> Listing {
    let region = cx.region().to_owned();
    let p = prices();
    let mut listed = Vec::new();
    // Owned snapshots only: filter by owner in the request, and again here,
    // because not every implementation honours the filter.
    let mut pages = ec2
        .describe_snapshots()
        .owner_ids("self")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for snapshot in page?.snapshots() {
            if snapshot.owner_id() != Some(cx.job.account_id.as_str()) {
                continue;
            }
            let Some(id) = snapshot.snapshot_id() else {
                continue;
            };
            let size = f64::from(snapshot.volume_size().unwrap_or(0));
            let mut r = named(
                cx.resource(
                    Service::Ec2,
                    "snapshot",
                    cx.arn("ec2", &format!("snapshot/{id}")),
                    id,
                ),
                tags(snapshot.tags()),
            );
            r.monthly_cost_usd = p.snapshot(&region, size);
            r.state = snapshot.state().map(|s| s.as_str().to_owned());
            r.created_at = snapshot.start_time().map(|t| t.to_string());
            r.properties = json!({"volume_id": snapshot.volume_id(), "size_gib": size, "encrypted": snapshot.encrypted()});
            listed.push(r);
        }
    }
    detailed(listed, |r| with_sharing(ec2, r)).await
}

/// A snapshot with `public`: whether anyone may create a volume from it
/// (its `createVolumePermission` names the group `all`). DescribeSnapshots
/// does not say; only the snapshot's own attribute does. A snapshot deleted
/// since the listing is left out.
async fn with_sharing(ec2: &Client, mut r: Resource) -> Result<Option<Resource>, CollectError> {
    let answer = ec2
        .describe_snapshot_attribute()
        .snapshot_id(&r.id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await;
    let permissions = match answer {
        Ok(out) => out,
        Err(e) if code_of(&e) == Some("InvalidSnapshot.NotFound") => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let public = permissions
        .create_volume_permissions()
        .iter()
        .any(|p| p.group() == Some(&PermissionGroup::All));
    r.properties["public"] = json!(public);
    Ok(Some(r))
}

fn code_of<E: shared::aws::ProvideErrorMetadata>(e: &shared::aws::SdkError<E>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

async fn addresses(cx: &Context<'_>, ec2: &Client) -> Listing {
    let p = prices();
    let mut out = Vec::new();
    let addresses = ec2.describe_addresses().send().await?;
    for address in addresses.addresses() {
        let id = address
            .allocation_id()
            .or(address.public_ip())
            .unwrap_or_default()
            .to_owned();
        let mut r = named(
            cx.resource(
                Service::Ec2,
                "elastic-ip",
                cx.arn("ec2", &format!("elastic-ip/{id}")),
                &id,
            ),
            tags(address.tags()),
        );
        let associated = address.association_id().is_some();
        r.monthly_cost_usd = p.public_ipv4();
        r.state = Some(
            if associated {
                "associated"
            } else {
                "unassociated"
            }
            .into(),
        );
        r.properties = json!({"public_ip": address.public_ip(), "instance_id": address.instance_id(), "association_id": address.association_id()});
        out.push(r);
    }
    Ok(out)
}

async fn nat_gateways(cx: &Context<'_>, ec2: &Client) -> Listing {
    let region = cx.region().to_owned();
    let p = prices();
    let mut out = Vec::new();
    let mut pages = ec2.describe_nat_gateways().into_paginator().send();
    while let Some(page) = pages.next().await {
        for nat in page?.nat_gateways() {
            let Some(id) = nat.nat_gateway_id() else {
                continue;
            };
            let mut r = named(
                cx.resource(
                    Service::Ec2,
                    "nat-gateway",
                    cx.arn("ec2", &format!("natgateway/{id}")),
                    id,
                ),
                tags(nat.tags()),
            );
            let live = matches!(
                nat.state(),
                Some(NatGatewayState::Available | NatGatewayState::Pending)
            );
            let state = nat.state().map(|s| s.as_str().to_owned());
            r.monthly_cost_usd = if live {
                p.nat_gateway(&region) + p.public_ipv4()
            } else {
                0.0
            };
            r.state = state;
            r.created_at = nat.create_time().map(|t| t.to_string());
            r.properties = json!({"vpc_id": nat.vpc_id(), "subnet_id": nat.subnet_id()});
            out.push(r);
        }
    }
    Ok(out)
}

/// Route tables, with the NAT gateways their routes send traffic to: a NAT
/// gateway no route table names carries no traffic. AWS reports a route to a
/// NAT gateway in `NatGatewayId`; one created with `--gateway-id nat-...`
/// may show it in `GatewayId`, so both count.
async fn route_tables(cx: &Context<'_>, ec2: &Client) -> Listing {
    let mut out = Vec::new();
    let mut pages = ec2.describe_route_tables().into_paginator().send();
    while let Some(page) = pages.next().await {
        for table in page?.route_tables() {
            let Some(id) = table.route_table_id() else {
                continue;
            };
            let mut r = named(
                cx.resource(
                    Service::Ec2,
                    "route-table",
                    cx.arn("ec2", &format!("route-table/{id}")),
                    id,
                ),
                tags(table.tags()),
            );
            let mut nat_gateways: Vec<&str> = table
                .routes()
                .iter()
                .filter_map(|route| {
                    route
                        .nat_gateway_id()
                        .or(route.gateway_id().filter(|g| g.starts_with("nat-")))
                })
                .collect();
            nat_gateways.sort_unstable();
            nat_gateways.dedup();
            let associations = table.associations();
            r.properties = json!({
                "vpc_id": table.vpc_id(),
                "main": associations.iter().any(|a| a.main() == Some(true)),
                "subnet_ids": associations.iter().filter_map(|a| a.subnet_id()).collect::<Vec<_>>(),
                "nat_gateway_ids": nat_gateways,
            });
            out.push(r);
        }
    }
    Ok(out)
}

async fn vpcs(cx: &Context<'_>, ec2: &Client) -> Listing {
    let mut out = Vec::new();
    let mut pages = ec2.describe_vpcs().into_paginator().send();
    while let Some(page) = pages.next().await {
        for vpc in page?.vpcs() {
            let Some(id) = vpc.vpc_id() else { continue };
            let mut r = named(
                cx.resource(Service::Ec2, "vpc", cx.arn("ec2", &format!("vpc/{id}")), id),
                tags(vpc.tags()),
            );
            r.state = vpc.state().map(|s| s.as_str().to_owned());
            r.properties = json!({"cidr_block": vpc.cidr_block(), "is_default": vpc.is_default()});
            out.push(r);
        }
    }
    Ok(out)
}

async fn security_groups(cx: &Context<'_>, ec2: &Client) -> Listing {
    let mut out = Vec::new();
    let mut pages = ec2.describe_security_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        for group in page?.security_groups() {
            let Some(id) = group.group_id() else { continue };
            let mut r = named(
                cx.resource(
                    Service::Ec2,
                    "security-group",
                    cx.arn("ec2", &format!("security-group/{id}")),
                    id,
                ),
                tags(group.tags()),
            );
            r.name = r.name.or_else(|| group.group_name().map(str::to_owned));
            let ingress: Vec<_> = group
                .ip_permissions()
                .iter()
                .map(|rule| {
                    json!({
                        "protocol": rule.ip_protocol(), "from_port": rule.from_port(), "to_port": rule.to_port(),
                        "cidrs": rule.ip_ranges().iter().filter_map(|c| c.cidr_ip()).collect::<Vec<_>>(),
                        "ipv6_cidrs": rule.ipv6_ranges().iter().filter_map(|c| c.cidr_ipv6()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            r.properties = json!({"vpc_id": group.vpc_id(), "group_name": group.group_name(), "ingress": ingress});
            out.push(r);
        }
    }
    Ok(out)
}

/// The region's account-level EC2 settings, as one resource
/// (`ec2:account-settings`, id `account-settings`): whether new EBS volumes
/// are encrypted by default.
async fn account_settings(cx: &Context<'_>, ec2: &Client) -> Listing {
    let encryption = ec2.get_ebs_encryption_by_default().send().await?;
    let mut r = cx.resource(
        Service::Ec2,
        "account-settings",
        cx.arn("ec2", "account-settings"),
        "account-settings",
    );
    r.name = Some(format!("EC2 settings of {}", cx.region()));
    r.properties = json!({"ebs_encryption_by_default": encryption.ebs_encryption_by_default()});
    Ok(vec![r])
}
