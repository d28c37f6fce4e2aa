//! EC2 checks: instances, EBS volumes and snapshots, Elastic IPs, NAT
//! gateways, VPCs, security groups, and each region's account settings.
//!
//! They read what `functions/scanner/src/collect/ec2.rs` writes; a property
//! that is missing (a resource listed before the collector recorded it)
//! decides nothing.

use serde_json::Value;

use super::{Category, Check, Estate, Failure, Severity, days_since, props};
use crate::costs::prices;
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "ec2.instance_stopped_with_volumes",
        title: "Stopped instance still paying for its EBS volumes",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "ec2:instance",
        recommendation: "If it is no longer needed, keep a snapshot of what you must and terminate it: \
            `aws ec2 create-snapshots --instance-specification InstanceId={id} --region {region}`, then \
            `aws ec2 terminate-instances --instance-ids {id} --region {region}` \
            (Console: EC2 > Instances > {name} > Instance state > Terminate instance). \
            Volumes not set to delete on termination stay behind: delete them too \
            (EC2 > Volumes).",
        needs_metrics: false,
        evaluate: instance_stopped_with_volumes,
    },
    Check {
        id: "ec2.instance_imdsv2_not_required",
        title: "Instance metadata answers IMDSv1 (IMDSv2 not required)",
        severity: Severity::High,
        category: Category::Security,
        resource_type: "ec2:instance",
        recommendation: "Require IMDSv2 (session tokens), which stops SSRF bugs from reading the \
            instance's credentials, once its software uses an SDK that supports it: \
            `aws ec2 modify-instance-metadata-options --instance-id {id} --http-tokens required --http-endpoint enabled --region {region}` \
            (Console: EC2 > Instances > {name} > Actions > Instance settings > Modify instance metadata options > IMDSv2: Required).",
        needs_metrics: false,
        evaluate: instance_imdsv2_not_required,
    },
    Check {
        id: "ec2.instance_public_ip",
        title: "Instance has a public IP address",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "ec2:instance",
        recommendation: "If it need not be reached from the internet, move it to a private subnet \
            (behind a load balancer, reached through Systems Manager Session Manager) or remove the address: \
            an auto-assigned one with \
            `aws ec2 modify-network-interface-attribute --network-interface-id <its eni-id> --no-associate-public-ip-address --region {region}` \
            (its interface: `aws ec2 describe-instances --instance-ids {id} --query 'Reservations[].Instances[].NetworkInterfaces[].NetworkInterfaceId' --region {region}`), \
            an Elastic IP with `aws ec2 disassociate-address --public-ip <address> --region {region}` \
            (Console: EC2 > Instances > {name} > Networking).",
        needs_metrics: false,
        evaluate: instance_public_ip,
    },
    Check {
        id: "ec2.security_group_ssh_open_to_world",
        title: "Security group allows SSH (22) from anywhere",
        severity: Severity::High,
        category: Category::Security,
        resource_type: "ec2:security-group",
        recommendation: "Remove the rule and allow SSH only from your own addresses, or use Systems \
            Manager Session Manager instead: \
            `aws ec2 revoke-security-group-ingress --group-id {id} --protocol tcp --port 22 --cidr 0.0.0.0/0 --region {region}` \
            (IPv6: `--ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,Ipv6Ranges=[{CidrIpv6=::/0}]'`; \
            a port range: the rule's own protocol and ports) \
            (Console: EC2 > Security Groups > {name} > Inbound rules > Edit inbound rules).",
        needs_metrics: false,
        evaluate: security_group_ssh_open_to_world,
    },
    Check {
        id: "ec2.security_group_rdp_open_to_world",
        title: "Security group allows RDP (3389) from anywhere",
        severity: Severity::High,
        category: Category::Security,
        resource_type: "ec2:security-group",
        recommendation: "Remove the rule and allow RDP only from your own addresses, or use Systems \
            Manager Fleet Manager instead: \
            `aws ec2 revoke-security-group-ingress --group-id {id} --protocol tcp --port 3389 --cidr 0.0.0.0/0 --region {region}` \
            (UDP or IPv6: `--ip-permissions 'IpProtocol=udp,FromPort=3389,ToPort=3389,IpRanges=[{CidrIp=0.0.0.0/0}]'`, \
            `Ipv6Ranges=[{CidrIpv6=::/0}]`; a port range: the rule's own protocol and ports) \
            (Console: EC2 > Security Groups > {name} > Inbound rules > Edit inbound rules).",
        needs_metrics: false,
        evaluate: security_group_rdp_open_to_world,
    },
    Check {
        id: "ec2.security_group_all_ports_open_to_world",
        title: "Security group allows every port from anywhere",
        severity: Severity::Critical,
        category: Category::Security,
        resource_type: "ec2:security-group",
        recommendation: "Replace the rule with rules for the ports the service needs, from the \
            addresses that need them: \
            `aws ec2 revoke-security-group-ingress --group-id {id} --ip-permissions 'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]' --region {region}` \
            (IPv6: `Ipv6Ranges=[{CidrIpv6=::/0}]`; a tcp or udp 0-65535 rule: \
            `IpProtocol=tcp,FromPort=0,ToPort=65535`) \
            (Console: EC2 > Security Groups > {name} > Inbound rules > Edit inbound rules).",
        needs_metrics: false,
        evaluate: security_group_all_ports_open_to_world,
    },
    Check {
        id: "ec2.volume_unattached",
        title: "EBS volume attached to nothing",
        severity: Severity::Medium,
        category: Category::Cost,
        resource_type: "ec2:volume",
        recommendation: "Delete it if no longer needed, after a snapshot if its data may be: \
            `aws ec2 create-snapshot --volume-id {id} --region {region}`, then \
            `aws ec2 delete-volume --volume-id {id} --region {region}` \
            (Console: EC2 > Volumes > {name} > Actions > Delete volume).",
        needs_metrics: false,
        evaluate: volume_unattached,
    },
    Check {
        id: "ec2.volume_unencrypted",
        title: "EBS volume is not encrypted",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "ec2:volume",
        recommendation: "A volume cannot be encrypted in place: snapshot it, copy the snapshot \
            encrypted, and replace the volume with one made from the copy: \
            `aws ec2 create-snapshot --volume-id {id} --region {region}`, \
            `aws ec2 copy-snapshot --source-snapshot-id <snapshot> --source-region {region} --encrypted --region {region}`, \
            `aws ec2 create-volume --snapshot-id <copy> --availability-zone <its zone> --encrypted --region {region}` \
            (Console: EC2 > Snapshots > Actions > Copy snapshot > Encrypt this snapshot). \
            Turn on EBS encryption by default so new volumes are.",
        needs_metrics: false,
        evaluate: volume_unencrypted,
    },
    Check {
        id: "ec2.volume_gp2",
        title: "EBS volume is gp2: gp3 is cheaper and at least as fast",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "ec2:volume",
        recommendation: "Change it to gp3 in place, without detaching it: \
            `aws ec2 modify-volume --volume-id {id} --volume-type gp3 --region {region}` \
            (above 1,000 GiB add `--iops` of 3 per GiB and `--throughput 250` to keep its gp2 performance) \
            (Console: EC2 > Volumes > {name} > Actions > Modify volume > Volume type: gp3).",
        needs_metrics: false,
        evaluate: volume_gp2,
    },
    Check {
        id: "ec2.snapshot_public",
        title: "EBS snapshot is public: anyone can create a volume from it",
        severity: Severity::Critical,
        category: Category::Security,
        resource_type: "ec2:snapshot",
        recommendation: "Make it private: \
            `aws ec2 modify-snapshot-attribute --snapshot-id {id} --attribute createVolumePermission --operation-type remove --group-names all --region {region}` \
            (Console: EC2 > Snapshots > {name} > Actions > Snapshot settings > Modify permissions > Private), \
            and stop it happening again: \
            `aws ec2 enable-snapshot-block-public-access --state block-all-sharing --region {region}`.",
        needs_metrics: false,
        evaluate: snapshot_public,
    },
    Check {
        id: "ec2.snapshot_unencrypted",
        title: "EBS snapshot is not encrypted",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "ec2:snapshot",
        recommendation: "Copy it encrypted and delete the original: \
            `aws ec2 copy-snapshot --source-snapshot-id {id} --source-region {region} --encrypted --region {region}`, then \
            `aws ec2 delete-snapshot --snapshot-id {id} --region {region}` \
            (Console: EC2 > Snapshots > {name} > Actions > Copy snapshot > Encrypt this snapshot).",
        needs_metrics: false,
        evaluate: snapshot_unencrypted,
    },
    Check {
        id: "ec2.snapshot_older_than_180_days",
        title: "EBS snapshot older than 180 days",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "ec2:snapshot",
        recommendation: "Delete it if nothing needs it (a snapshot an AMI uses cannot be deleted \
            until the AMI is deregistered): \
            `aws ec2 delete-snapshot --snapshot-id {id} --region {region}`; \
            or, to keep it for rare restores, archive it for 75 % less: \
            `aws ec2 modify-snapshot-tier --snapshot-id {id} --storage-tier archive --region {region}` \
            (Console: EC2 > Snapshots > {name} > Actions).",
        needs_metrics: false,
        evaluate: snapshot_older_than_180_days,
    },
    Check {
        id: "ec2.elastic_ip_unassociated",
        title: "Elastic IP associated with nothing",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "ec2:elastic-ip",
        recommendation: "Release it if no longer needed (the address cannot be got back): \
            `aws ec2 release-address --allocation-id {id} --region {region}` \
            (Console: EC2 > Elastic IPs > {name} > Actions > Release Elastic IP addresses).",
        needs_metrics: false,
        evaluate: elastic_ip_unassociated,
    },
    Check {
        id: "ec2.nat_gateway_unrouted",
        title: "NAT gateway that no route table routes through",
        severity: Severity::Medium,
        category: Category::Cost,
        resource_type: "ec2:nat-gateway",
        recommendation: "Nothing sends traffic through it: delete it, then release its Elastic IP: \
            `aws ec2 delete-nat-gateway --nat-gateway-id {id} --region {region}` and \
            `aws ec2 release-address --allocation-id <its eipalloc-id> --region {region}` \
            (Console: VPC > NAT gateways > {name} > Actions > Delete NAT gateway).",
        needs_metrics: false,
        evaluate: nat_gateway_unrouted,
    },
    Check {
        id: "ec2.default_vpc_in_use",
        title: "Resources run in the default VPC",
        severity: Severity::Low,
        category: Category::Security,
        resource_type: "ec2:vpc",
        recommendation: "The default VPC's subnets are all public (they give every instance a public \
            IP): move these resources to a VPC you designed with private subnets, then delete the \
            default VPC: `aws ec2 delete-vpc --vpc-id {id} --region {region}` once empty \
            (Console: VPC > Your VPCs > {id} > Actions > Delete VPC).",
        needs_metrics: false,
        evaluate: default_vpc_in_use,
    },
    Check {
        id: "ec2.instance_previous_generation",
        title: "Instance of a previous-generation family",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "ec2:instance",
        recommendation: "Move it to a current-generation type (more performance for the price, \
            on the Nitro system): stop it, then \
            `aws ec2 modify-instance-attribute --instance-id {id} --instance-type '{\"Value\": \"<new type>\"}' --region {region}` \
            and start it (Console: EC2 > Instances > {name} > Actions > Instance settings > Change instance type); \
            check that its AMI supports ENA and NVMe first.",
        needs_metrics: false,
        evaluate: instance_previous_generation,
    },
    Check {
        id: "ec2.ebs_encryption_by_default_off",
        title: "EBS encryption by default is off in this region",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "ec2:account-settings",
        recommendation: "Turn it on, so every new volume and snapshot copy is encrypted: \
            `aws ec2 enable-ebs-encryption-by-default --region {region}` \
            (Console: EC2 > Dashboard > Account attributes > Data protection and security > \
            EBS encryption > Manage > Enable).",
        needs_metrics: false,
        evaluate: ebs_encryption_by_default_off,
    },
];

/// Snapshots kept longer than this are worth a look.
pub const OLD_SNAPSHOT_DAYS: i64 = 180;

/// Instance families AWS lists as previous generation ("Previous generation
/// instances", Amazon EC2 Instance Types guide) or whose successors replaced
/// them on the Nitro system (t2 by t3, m4 by m5, c4 by c5, r4 by r5), each
/// with the current family of the price table that does its job, where the
/// table prices one.
pub const PREVIOUS_GENERATION: &[(&str, Option<&str>)] = &[
    ("t1", Some("t3")),
    ("t2", Some("t3")),
    ("m1", Some("m6i")),
    ("m2", Some("r6i")),
    ("m3", Some("m6i")),
    ("m4", Some("m6i")),
    ("c1", Some("c6i")),
    ("c3", Some("c6i")),
    ("c4", Some("c6i")),
    ("r3", Some("r6i")),
    ("r4", Some("r6i")),
    ("cc2", None),
    ("cg1", None),
    ("cr1", None),
    ("hi1", None),
    ("hs1", None),
    ("i2", None),
    ("d2", None),
    ("g2", None),
    ("g3", None),
    ("p2", None),
    ("x1", None),
];

/// The sizes each current family of [`PREVIOUS_GENERATION`] comes in: an
/// m1.small has no m6i of its size.
fn sizes_of(family: &str) -> &'static [&'static str] {
    const BURSTABLE: &[&str] = &[
        "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge",
    ];
    const SIXTH: &[&str] = &[
        "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge",
        "32xlarge",
    ];
    match family {
        "t3" => BURSTABLE,
        "m6i" | "c6i" | "r6i" => SIXTH,
        _ => &[],
    }
}

/// Whether a resource the estate still lists (not gone).
fn present(r: &Resource) -> bool {
    r.state.as_deref() != Some("gone")
}

/// An instance that exists or will again: not terminated nor terminating.
fn live_instance(r: &Resource) -> bool {
    !matches!(
        r.state.as_deref(),
        Some("terminated" | "shutting-down" | "gone")
    )
}

fn dollars(usd: f64) -> String {
    format!("${usd:.2}")
}

fn instance_stopped_with_volumes(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    if r.state.as_deref() != Some("stopped") {
        return None;
    }
    let ids: Vec<&str> = props::array(r, "volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() {
        return None;
    }
    let priced: Vec<&Resource> = ids
        .iter()
        .filter_map(|id| estate.by_id(id))
        .filter(|v| v.resource_type == "ec2:volume" && present(v))
        .collect();
    let cost: f64 = priced.iter().map(|v| v.monthly_cost_usd).sum();
    let detail = if priced.len() == ids.len() {
        format!(
            "It is stopped, and its {} EBS volume(s) still cost {} a month.",
            ids.len(),
            dollars(cost)
        )
    } else {
        format!(
            "It is stopped with {} EBS volume(s); the {} listed cost {} a month.",
            ids.len(),
            priced.len(),
            dollars(cost)
        )
    };
    Some(Failure::saving(detail, cost))
}

fn instance_imdsv2_not_required(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !live_instance(r) || props::str(r, "http_endpoint") == Some("disabled") {
        return None;
    }
    (props::str(r, "http_tokens")? == "optional").then(|| {
        Failure::because(
            "Its metadata service answers IMDSv1 requests (HttpTokens is optional), \
             which need no session token.",
        )
    })
}

fn instance_public_ip(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !live_instance(r) {
        return None;
    }
    let ip = props::str(r, "public_ip").filter(|ip| !ip.is_empty())?;
    Some(Failure::because(format!(
        "It has the public IP address {ip}."
    )))
}

/// One ingress rule as the collector records it.
struct Rule<'a> {
    protocol: &'a str,
    from: Option<i64>,
    to: Option<i64>,
    /// The rule's world-open ranges: `0.0.0.0/0` and `::/0`.
    open_to: Vec<&'a str>,
}

const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// The ingress rules of a security group that anyone on the internet matches.
fn world_rules(r: &Resource) -> Vec<Rule<'_>> {
    props::array(r, "ingress")
        .iter()
        .filter_map(|rule| {
            let ranges = ["cidrs", "ipv6_cidrs"]
                .iter()
                .flat_map(|key| {
                    rule.get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .filter_map(Value::as_str);
            let open_to: Vec<&str> = ranges.filter(|c| WORLD.contains(c)).collect();
            if open_to.is_empty() {
                return None;
            }
            Some(Rule {
                protocol: rule.get("protocol")?.as_str()?,
                from: rule.get("from_port").and_then(Value::as_i64),
                to: rule.get("to_port").and_then(Value::as_i64),
                open_to,
            })
        })
        .collect()
}

impl Rule<'_> {
    fn is_tcp(&self) -> bool {
        matches!(self.protocol, "tcp" | "6")
    }

    fn is_udp(&self) -> bool {
        matches!(self.protocol, "udp" | "17")
    }

    /// Every protocol (`-1`), or every TCP or UDP port (0 or 1 to 65535).
    fn all_ports(&self) -> bool {
        self.protocol == "-1"
            || ((self.is_tcp() || self.is_udp())
                && self.from.is_some_and(|f| f <= 1)
                && self.to == Some(65_535))
    }

    /// A TCP or UDP rule whose port range includes `port`.
    fn covers(&self, port: i64) -> bool {
        matches!((self.from, self.to), (Some(from), Some(to)) if from <= port && port <= to)
    }

    fn describe(&self) -> String {
        let ports = match (self.from, self.to) {
            _ if self.protocol == "-1" => "all traffic".to_owned(),
            (Some(f), Some(t)) if f == t => format!("{} port {f}", self.protocol),
            (Some(f), Some(t)) => format!("{} ports {f}-{t}", self.protocol),
            _ => self.protocol.to_owned(),
        };
        format!("{ports} from {}", self.open_to.join(" and "))
    }
}

/// A security group failure naming the rules that open it, or none.
fn open_rules(rules: Vec<Rule<'_>>, what: &str) -> Option<Failure> {
    if rules.is_empty() {
        return None;
    }
    let listed: Vec<String> = rules.iter().map(Rule::describe).collect();
    Some(Failure::because(format!(
        "Its inbound rules allow {what} from anywhere: {}.",
        listed.join("; ")
    )))
}

/// Rules that open `port` over `protocols` to the world, except every-port
/// rules, which `ec2.security_group_all_ports_open_to_world` reports: one
/// rule, one finding.
fn opening(r: &Resource, port: i64, udp_too: bool) -> Vec<Rule<'_>> {
    world_rules(r)
        .into_iter()
        .filter(|rule| !rule.all_ports())
        .filter(|rule| rule.is_tcp() || (udp_too && rule.is_udp()))
        .filter(|rule| rule.covers(port))
        .collect()
}

fn security_group_ssh_open_to_world(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    open_rules(opening(r, 22, false), "SSH (port 22)")
}

fn security_group_rdp_open_to_world(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    // RDP listens on UDP 3389 as well as TCP.
    open_rules(opening(r, 3389, true), "RDP (port 3389)")
}

fn security_group_all_ports_open_to_world(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let rules = world_rules(r).into_iter().filter(Rule::all_ports).collect();
    open_rules(rules, "every port")
}

fn volume_unattached(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (r.state.as_deref() == Some("available")).then(|| {
        Failure::saving(
            format!(
                "It is attached to no instance and costs {} a month.",
                dollars(r.monthly_cost_usd)
            ),
            r.monthly_cost_usd,
        )
    })
}

/// A volume that exists (not being deleted, not failed).
fn live_volume(r: &Resource) -> bool {
    matches!(
        r.state.as_deref(),
        Some("available" | "in-use" | "creating")
    )
}

fn volume_unencrypted(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !live_volume(r) {
        return None;
    }
    (!props::bool(r, "encrypted")?).then(|| Failure::because("Its data is stored unencrypted."))
}

fn volume_gp2(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    // One finding per fix: deleting an unattached volume saves more than
    // converting it, and `ec2.volume_unattached` asks for that already.
    if volume_unattached(r, estate).is_some() {
        return None;
    }
    if !live_volume(r) || props::str(r, "volume_type")? != "gp2" {
        return None;
    }
    let size = props::f64(r, "size_gib")?;
    Some(match prices().gp2_to_gp3_saving(&r.region, size) {
        Some(saving) => Failure::saving(
            format!(
                "It is a {size} GiB gp2 volume; as gp3 with the same performance it would cost {} a month less.",
                dollars(saving)
            ),
            saving,
        ),
        None => Failure::saving(
            format!(
                "It is a {size} GiB gp2 volume; the price table prices no gp2 or gp3 here, so no saving is estimated."
            ),
            0.0,
        ),
    })
}

fn snapshot_public(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    props::bool(r, "public")?.then(|| {
        Failure::because(
            "Its createVolumePermission includes the group all: any AWS account can copy its data.",
        )
    })
}

fn snapshot_unencrypted(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "encrypted")?).then(|| Failure::because("Its data is stored unencrypted."))
}

fn snapshot_older_than_180_days(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    snapshot_old_at(r, crate::dynamo::now())
}

/// [`snapshot_older_than_180_days`] at `now` (seconds since the epoch).
pub fn snapshot_old_at(r: &Resource, now: i64) -> Option<Failure> {
    let days = days_since(r.created_at.as_deref()?, now)?;
    (days > OLD_SNAPSHOT_DAYS).then(|| {
        Failure::saving(
            format!(
                "It was taken {days} days ago and costs up to {} a month \
                 (snapshots are incremental: deleting one frees only the blocks no other snapshot shares).",
                dollars(r.monthly_cost_usd)
            ),
            r.monthly_cost_usd,
        )
    })
}

fn elastic_ip_unassociated(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (r.state.as_deref() == Some("unassociated")).then(|| {
        Failure::saving(
            format!(
                "It is associated with no instance or network interface and costs {} a month.",
                dollars(r.monthly_cost_usd)
            ),
            r.monthly_cost_usd,
        )
    })
}

/// An available NAT gateway no route table of the listing routes through.
/// Undecided when the listing holds no route table of its VPC (every VPC
/// has a main one, so route tables were not listed).
pub(super) fn nat_gateway_unrouted(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    if r.state.as_deref() != Some("available") {
        return None;
    }
    let vpc = props::str(r, "vpc_id")?;
    let tables: Vec<&Resource> = estate
        .of_type("ec2:route-table")
        .filter(|t| present(t))
        .collect();
    if !tables.iter().any(|t| props::str(t, "vpc_id") == Some(vpc)) {
        return None;
    }
    let routed = tables.iter().any(|t| {
        props::array(t, "nat_gateway_ids")
            .iter()
            .any(|id| id.as_str() == Some(r.id.as_str()))
    });
    (!routed).then(|| {
        Failure::saving(
            format!(
                "No route table sends traffic to it, yet it costs {} a month.",
                dollars(r.monthly_cost_usd)
            ),
            r.monthly_cost_usd,
        )
    })
}

/// Types every VPC holds without anyone putting them there.
const VPC_FURNITURE: &[&str] = &["ec2:vpc", "ec2:security-group", "ec2:route-table"];

fn default_vpc_in_use(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    if !props::bool(r, "is_default")? {
        return None;
    }
    let inside: Vec<&Resource> = estate
        .resources()
        .iter()
        .filter(|o| !VPC_FURNITURE.contains(&o.resource_type.as_str()))
        .filter(|o| !matches!(o.state.as_deref(), Some("gone" | "terminated" | "deleted")))
        .filter(|o| props::str(o, "vpc_id") == Some(r.id.as_str()))
        .collect();
    if inside.is_empty() {
        return None;
    }
    let named: Vec<String> = inside
        .iter()
        .take(5)
        .map(|o| format!("{} {}", o.resource_type, o.id))
        .collect();
    let more = match inside.len() {
        n if n > 5 => format!(" and {} more", n - 5),
        _ => String::new(),
    };
    Some(Failure::because(format!(
        "It is the region's default VPC and holds {} resource(s): {}{more}.",
        inside.len(),
        named.join(", ")
    )))
}

/// The current type that does a previous-generation type's job, if the
/// table knows one of its size.
fn current_equivalent(instance_type: &str) -> Option<(&'static str, String)> {
    let (family, size) = instance_type.split_once('.')?;
    let (_, current) = PREVIOUS_GENERATION.iter().find(|(f, _)| *f == family)?;
    let current = (*current)?;
    sizes_of(current)
        .contains(&size)
        .then(|| (current, format!("{current}.{size}")))
}

fn instance_previous_generation(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    if !live_instance(r) {
        return None;
    }
    let instance_type = props::str(r, "instance_type")?;
    let family = instance_type.split_once('.')?.0;
    if !PREVIOUS_GENERATION.iter().any(|(f, _)| *f == family) {
        return None;
    }
    let it = format!("It is a {instance_type}, a previous-generation type");
    let Some((_, current)) = current_equivalent(instance_type) else {
        return Some(Failure::saving(
            format!(
                "{it}; the price table prices no current-generation equivalent, so no saving is estimated."
            ),
            0.0,
        ));
    };
    if r.state.as_deref() != Some("running") {
        return Some(Failure::saving(
            format!("{it}; a {current} does its job (stopped, it costs no compute to save)."),
            0.0,
        ));
    }
    // An idle one is to be stopped (`ec2.instance_idle`, all its compute):
    // its dollars are counted there, once.
    if super::utilization::instance_idle(r, estate).is_some() {
        return Some(Failure::saving(
            format!("{it}; a {current} does its job, but it is idle: stopping it saves more."),
            0.0,
        ));
    }
    let own_cost = (props::bool(r, "price_known") == Some(true)).then_some(r.monthly_cost_usd);
    let current_cost = prices().instance(&r.region, &current, true);
    Some(match (own_cost, current_cost) {
        (Some(own), Some(cost)) => Failure::saving(
            format!(
                "{it}; a {current} would cost {} a month instead of {}.",
                dollars(cost),
                dollars(own)
            ),
            own - cost,
        ),
        (None, _) => Failure::saving(
            format!(
                "{it}; a {current} does its job, but the price table does not price a \
                 {instance_type}, so no saving is estimated."
            ),
            0.0,
        ),
        (Some(_), None) => Failure::saving(
            format!(
                "{it}; a {current} does its job, but the price table does not price a \
                 {current}, so no saving is estimated."
            ),
            0.0,
        ),
    })
}

fn ebs_encryption_by_default_off(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (!props::bool(r, "ebs_encryption_by_default")?).then(|| {
        Failure::because(format!(
            "New EBS volumes in {} are created unencrypted unless each request asks otherwise.",
            r.region
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn the(id: &str) -> &'static Check {
        check(id).unwrap_or_else(|| panic!("no check {id}"))
    }

    fn with_state(mut r: Resource, state: &str) -> Resource {
        r.state = Some(state.into());
        r
    }

    fn priced(mut r: Resource, usd: f64) -> Resource {
        r.monthly_cost_usd = usd;
        r
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn instance(state: &str, properties: Value) -> Resource {
        with_state(resource("ec2:instance", "i-1", properties), state)
    }

    fn volume(id: &str, state: &str, properties: Value) -> Resource {
        with_state(resource("ec2:volume", id, properties), state)
    }

    fn group(ingress: Value) -> Resource {
        resource(
            "ec2:security-group",
            "sg-1",
            json!({"vpc_id": "vpc-1", "ingress": ingress}),
        )
    }

    fn rule(protocol: &str, from: i64, to: i64, cidrs: &[&str], ipv6: &[&str]) -> Value {
        json!({"protocol": protocol, "from_port": from, "to_port": to, "cidrs": cidrs, "ipv6_cidrs": ipv6})
    }

    #[test]
    fn a_stopped_instance_fails_with_the_cost_of_its_volumes() {
        let i = instance("stopped", json!({"volumes": ["vol-a", "vol-b"]}));
        let others = [
            priced(volume("vol-a", "in-use", json!({})), 0.8),
            priced(volume("vol-b", "in-use", json!({})), 2.2),
            priced(volume("vol-c", "in-use", json!({})), 9.0),
        ];
        let f = run(the("ec2.instance_stopped_with_volumes"), &i, &others).unwrap();
        assert!(close(f.monthly_savings_usd, 3.0), "{f:?}");
        assert!(f.detail.contains("$3.00"), "{}", f.detail);
    }

    #[test]
    fn a_running_instance_or_one_without_volumes_passes_the_stopped_check() {
        let c = the("ec2.instance_stopped_with_volumes");
        let others = [priced(volume("vol-a", "in-use", json!({})), 0.8)];
        let running = instance("running", json!({"volumes": ["vol-a"]}));
        assert_eq!(run(c, &running, &others), None);
        let store_only = instance("stopped", json!({"volumes": []}));
        assert_eq!(run(c, &store_only, &others), None);
    }

    #[test]
    fn an_instance_answering_imdsv1_fails() {
        let i = instance(
            "running",
            json!({"http_tokens": "optional", "http_endpoint": "enabled"}),
        );
        assert!(run(the("ec2.instance_imdsv2_not_required"), &i, &[]).is_some());
    }

    #[test]
    fn an_instance_requiring_imdsv2_or_without_metadata_or_unrecorded_passes() {
        let c = the("ec2.instance_imdsv2_not_required");
        for props in [
            json!({"http_tokens": "required", "http_endpoint": "enabled"}),
            json!({"http_tokens": "optional", "http_endpoint": "disabled"}),
            json!({}),
        ] {
            assert_eq!(
                run(c, &instance("running", props.clone()), &[]),
                None,
                "{props}"
            );
        }
        let gone = instance("terminated", json!({"http_tokens": "optional"}));
        assert_eq!(run(c, &gone, &[]), None);
    }

    #[test]
    fn an_instance_with_a_public_ip_fails_naming_it() {
        let i = instance("running", json!({"public_ip": "54.1.2.3"}));
        let f = run(the("ec2.instance_public_ip"), &i, &[]).unwrap();
        assert!(f.detail.contains("54.1.2.3"), "{}", f.detail);
    }

    #[test]
    fn an_instance_without_a_public_ip_passes() {
        let c = the("ec2.instance_public_ip");
        assert_eq!(
            run(c, &instance("running", json!({"public_ip": null})), &[]),
            None
        );
        assert_eq!(run(c, &instance("running", json!({})), &[]), None);
    }

    #[test]
    fn ssh_open_to_the_world_fails_over_ipv4_and_ipv6_and_within_a_range() {
        let c = the("ec2.security_group_ssh_open_to_world");
        for r in [
            rule("tcp", 22, 22, &["0.0.0.0/0"], &[]),
            rule("tcp", 22, 22, &[], &["::/0"]),
            rule("6", 0, 1024, &["10.0.0.0/8", "0.0.0.0/0"], &[]),
        ] {
            let f = run(c, &group(json!([r])), &[]).unwrap_or_else(|| panic!("{r}"));
            assert!(f.detail.contains("from"), "{}", f.detail);
        }
    }

    #[test]
    fn ssh_from_known_addresses_or_other_ports_or_udp_passes() {
        let c = the("ec2.security_group_ssh_open_to_world");
        let rules = json!([
            rule("tcp", 22, 22, &["203.0.113.0/24"], &["2001:db8::/32"]),
            rule("tcp", 443, 443, &["0.0.0.0/0"], &["::/0"]),
            rule("udp", 22, 22, &["0.0.0.0/0"], &[]),
            // Every port: the all-ports check's finding, not this one's.
            rule("-1", -1, -1, &["0.0.0.0/0"], &[]),
        ]);
        assert_eq!(run(c, &group(rules), &[]), None);
    }

    #[test]
    fn rdp_open_to_the_world_fails_over_tcp_and_udp() {
        let c = the("ec2.security_group_rdp_open_to_world");
        for r in [
            rule("tcp", 3389, 3389, &["0.0.0.0/0"], &[]),
            rule("udp", 3389, 3389, &[], &["::/0"]),
        ] {
            assert!(run(c, &group(json!([r])), &[]).is_some(), "{r}");
        }
    }

    #[test]
    fn rdp_from_known_addresses_or_ssh_passes() {
        let c = the("ec2.security_group_rdp_open_to_world");
        let rules = json!([
            rule("tcp", 3389, 3389, &["198.51.100.7/32"], &[]),
            rule("tcp", 22, 22, &["0.0.0.0/0"], &[]),
        ]);
        assert_eq!(run(c, &group(rules), &[]), None);
    }

    #[test]
    fn every_port_open_to_the_world_fails_as_all_traffic_or_a_full_range() {
        let c = the("ec2.security_group_all_ports_open_to_world");
        for r in [
            json!({"protocol": "-1", "from_port": null, "to_port": null, "cidrs": ["0.0.0.0/0"], "ipv6_cidrs": []}),
            rule("-1", -1, -1, &[], &["::/0"]),
            rule("tcp", 0, 65535, &["0.0.0.0/0"], &[]),
        ] {
            let f = run(c, &group(json!([r])), &[]).unwrap_or_else(|| panic!("{r}"));
            assert!(f.detail.contains("every port"), "{}", f.detail);
        }
    }

    #[test]
    fn every_port_from_a_known_network_or_a_partial_range_passes() {
        let c = the("ec2.security_group_all_ports_open_to_world");
        let rules = json!([
            rule("-1", -1, -1, &["10.0.0.0/16"], &[]),
            rule("tcp", 1024, 65535, &["0.0.0.0/0"], &[]),
            json!({"protocol": "-1", "from_port": null, "to_port": null, "cidrs": [], "ipv6_cidrs": [], "groups": ["sg-2"]}),
        ]);
        assert_eq!(run(c, &group(rules), &[]), None);
    }

    #[test]
    fn an_unattached_volume_fails_with_its_cost() {
        let v = priced(volume("vol-1", "available", json!({})), 8.0);
        let f = run(the("ec2.volume_unattached"), &v, &[]).unwrap();
        assert!(close(f.monthly_savings_usd, 8.0));
    }

    #[test]
    fn an_attached_volume_passes_the_unattached_check() {
        let v = priced(volume("vol-1", "in-use", json!({})), 8.0);
        assert_eq!(run(the("ec2.volume_unattached"), &v, &[]), None);
    }

    #[test]
    fn an_unencrypted_volume_fails() {
        let v = volume("vol-1", "in-use", json!({"encrypted": false}));
        assert!(run(the("ec2.volume_unencrypted"), &v, &[]).is_some());
    }

    #[test]
    fn an_encrypted_or_unrecorded_or_deleting_volume_passes_the_encryption_check() {
        let c = the("ec2.volume_unencrypted");
        assert_eq!(
            run(c, &volume("v", "in-use", json!({"encrypted": true})), &[]),
            None
        );
        assert_eq!(run(c, &volume("v", "in-use", json!({})), &[]), None);
        assert_eq!(
            run(
                c,
                &volume("v", "deleting", json!({"encrypted": false})),
                &[]
            ),
            None
        );
    }

    #[test]
    fn a_gp2_volume_fails_with_its_gp3_saving() {
        let v = volume(
            "vol-1",
            "in-use",
            json!({"volume_type": "gp2", "size_gib": 100.0}),
        );
        let f = run(the("ec2.volume_gp2"), &v, &[]).unwrap();
        // eu-west-1: 100 GiB at 0.11 (gp2) against 0.088 (gp3).
        assert!(close(f.monthly_savings_usd, 2.2), "{f:?}");
    }

    #[test]
    fn an_unattached_gp2_volume_is_asked_to_be_deleted_not_converted() {
        let v = volume(
            "vol-1",
            "available",
            json!({"volume_type": "gp2", "size_gib": 100.0}),
        );
        assert!(run(the("ec2.volume_unattached"), &v, &[]).is_some());
        assert_eq!(run(the("ec2.volume_gp2"), &v, &[]), None);
    }

    #[test]
    fn a_gp3_volume_passes_the_gp2_check() {
        let v = volume(
            "vol-1",
            "in-use",
            json!({"volume_type": "gp3", "size_gib": 100.0}),
        );
        assert_eq!(run(the("ec2.volume_gp2"), &v, &[]), None);
    }

    #[test]
    fn a_snapshot_shared_with_everyone_fails() {
        let s = resource("ec2:snapshot", "snap-1", json!({"public": true}));
        assert!(run(the("ec2.snapshot_public"), &s, &[]).is_some());
    }

    #[test]
    fn a_private_or_unrecorded_snapshot_passes_the_public_check() {
        let c = the("ec2.snapshot_public");
        assert_eq!(
            run(
                c,
                &resource("ec2:snapshot", "s", json!({"public": false})),
                &[]
            ),
            None
        );
        assert_eq!(run(c, &resource("ec2:snapshot", "s", json!({})), &[]), None);
    }

    #[test]
    fn an_unencrypted_snapshot_fails() {
        let s = resource("ec2:snapshot", "snap-1", json!({"encrypted": false}));
        assert!(run(the("ec2.snapshot_unencrypted"), &s, &[]).is_some());
    }

    #[test]
    fn an_encrypted_snapshot_passes_the_encryption_check() {
        let s = resource("ec2:snapshot", "snap-1", json!({"encrypted": true}));
        assert_eq!(run(the("ec2.snapshot_unencrypted"), &s, &[]), None);
    }

    fn snapshot_taken(at: &str) -> Resource {
        let mut s = priced(resource("ec2:snapshot", "snap-1", json!({})), 1.5);
        s.created_at = Some(at.into());
        s
    }

    /// 2026-12-01T00:00:00Z.
    const DEC_1: i64 = 1_796_083_200;

    #[test]
    fn a_snapshot_older_than_180_days_fails_with_its_cost() {
        let f = snapshot_old_at(&snapshot_taken("2026-05-01T00:00:00Z"), DEC_1).unwrap();
        assert!(close(f.monthly_savings_usd, 1.5));
        assert!(f.detail.contains("214 days"), "{}", f.detail);
    }

    #[test]
    fn a_snapshot_of_180_days_or_fewer_or_undated_passes_the_age_check() {
        assert_eq!(
            snapshot_old_at(&snapshot_taken("2026-06-04T00:00:00Z"), DEC_1),
            None
        );
        assert_eq!(snapshot_old_at(&snapshot_taken("not a date"), DEC_1), None);
        let undated = priced(resource("ec2:snapshot", "snap-1", json!({})), 1.5);
        assert_eq!(snapshot_old_at(&undated, DEC_1), None);
        // And the check itself, at today's date, on a snapshot taken now.
        let fresh = snapshot_taken(&crate::dynamo::rfc3339(crate::dynamo::now()));
        assert_eq!(
            run(the("ec2.snapshot_older_than_180_days"), &fresh, &[]),
            None
        );
    }

    #[test]
    fn an_unassociated_elastic_ip_fails_with_its_cost() {
        let ip = priced(
            with_state(
                resource("ec2:elastic-ip", "eipalloc-1", json!({})),
                "unassociated",
            ),
            3.65,
        );
        let f = run(the("ec2.elastic_ip_unassociated"), &ip, &[]).unwrap();
        assert!(close(f.monthly_savings_usd, 3.65));
    }

    #[test]
    fn an_associated_elastic_ip_passes() {
        let ip = priced(
            with_state(
                resource("ec2:elastic-ip", "eipalloc-1", json!({})),
                "associated",
            ),
            3.65,
        );
        assert_eq!(run(the("ec2.elastic_ip_unassociated"), &ip, &[]), None);
    }

    fn nat() -> Resource {
        priced(
            with_state(
                resource("ec2:nat-gateway", "nat-1", json!({"vpc_id": "vpc-1"})),
                "available",
            ),
            36.5,
        )
    }

    fn table(id: &str, vpc: &str, nats: &[&str]) -> Resource {
        resource(
            "ec2:route-table",
            id,
            json!({"vpc_id": vpc, "main": false, "nat_gateway_ids": nats}),
        )
    }

    #[test]
    fn a_nat_gateway_no_route_table_uses_fails_with_its_cost() {
        let others = [
            table("rtb-main", "vpc-1", &[]),
            table("rtb-2", "vpc-2", &["nat-2"]),
        ];
        let f = run(the("ec2.nat_gateway_unrouted"), &nat(), &others).unwrap();
        assert!(close(f.monthly_savings_usd, 36.5));
    }

    #[test]
    fn a_routed_nat_gateway_or_one_whose_route_tables_were_not_listed_passes() {
        let c = the("ec2.nat_gateway_unrouted");
        let routed = [
            table("rtb-main", "vpc-1", &[]),
            table("rtb-private", "vpc-1", &["nat-1"]),
        ];
        assert_eq!(run(c, &nat(), &routed), None);
        assert_eq!(
            run(c, &nat(), &[]),
            None,
            "no route table of its VPC: undecided"
        );
        let deleted = with_state(nat(), "deleted");
        assert_eq!(run(c, &deleted, &[table("rtb-main", "vpc-1", &[])]), None);
    }

    fn vpc(is_default: bool) -> Resource {
        resource("ec2:vpc", "vpc-1", json!({"is_default": is_default}))
    }

    fn in_vpc(resource_type: &str, id: &str, state: &str) -> Resource {
        with_state(
            resource(resource_type, id, json!({"vpc_id": "vpc-1"})),
            state,
        )
    }

    #[test]
    fn a_default_vpc_holding_an_instance_fails_naming_it() {
        let others = [
            in_vpc("ec2:instance", "i-1", "running"),
            in_vpc("ec2:security-group", "sg-default", "active"),
        ];
        let f = run(the("ec2.default_vpc_in_use"), &vpc(true), &others).unwrap();
        assert!(
            f.detail.contains("ec2:instance i-1") && !f.detail.contains("sg-default"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn an_empty_default_vpc_or_a_vpc_of_ones_own_passes() {
        let c = the("ec2.default_vpc_in_use");
        let furniture = [
            in_vpc("ec2:security-group", "sg-default", "active"),
            in_vpc("ec2:route-table", "rtb-main", "active"),
            in_vpc("ec2:instance", "i-old", "terminated"),
        ];
        assert_eq!(run(c, &vpc(true), &furniture), None);
        assert_eq!(
            run(c, &vpc(false), &[in_vpc("ec2:instance", "i-1", "running")]),
            None
        );
    }

    #[test]
    fn a_previous_generation_instance_fails_saying_whether_a_saving_is_priced() {
        let c = the("ec2.instance_previous_generation");
        let t2 = instance(
            "running",
            json!({"instance_type": "t2.micro", "price_known": false}),
        );
        let f = run(c, &t2, &[]).unwrap();
        assert_eq!(f.monthly_savings_usd, 0.0);
        assert!(
            f.detail.contains("t3.micro") && f.detail.contains("no saving"),
            "{}",
            f.detail
        );
        let x1 = instance(
            "stopped",
            json!({"instance_type": "x1.16xlarge", "price_known": false}),
        );
        let f = run(c, &x1, &[]).unwrap();
        assert!(
            f.detail.contains("no current-generation equivalent"),
            "{}",
            f.detail
        );
        // Had the table priced the m4 at $100, an m6i.large ($78.11 in eu-west-1) saves the difference.
        let m4 = priced(
            instance(
                "running",
                json!({"instance_type": "m4.large", "price_known": true}),
            ),
            100.0,
        );
        let f = run(c, &m4, &[]).unwrap();
        assert!(close(f.monthly_savings_usd, 100.0 - 0.107 * 730.0), "{f:?}");
    }

    #[test]
    fn a_current_generation_instance_passes_the_generation_check() {
        let c = the("ec2.instance_previous_generation");
        for t in ["t3.micro", "m6i.large", "m5.large", "t2x.large"] {
            let i = instance("running", json!({"instance_type": t, "price_known": true}));
            assert_eq!(run(c, &i, &[]), None, "{t}");
        }
        assert_eq!(current_equivalent("m1.small"), None, "no m6i.small");
    }

    #[test]
    fn a_region_without_ebs_encryption_by_default_fails() {
        let s = resource(
            "ec2:account-settings",
            "account-settings",
            json!({"ebs_encryption_by_default": false}),
        );
        let f = run(the("ec2.ebs_encryption_by_default_off"), &s, &[]).unwrap();
        assert!(f.detail.contains("eu-west-1"), "{}", f.detail);
    }

    #[test]
    fn a_region_encrypting_by_default_or_unrecorded_passes() {
        let c = the("ec2.ebs_encryption_by_default_off");
        let on = resource(
            "ec2:account-settings",
            "account-settings",
            json!({"ebs_encryption_by_default": true}),
        );
        assert_eq!(run(c, &on, &[]), None);
        assert_eq!(
            run(
                c,
                &resource("ec2:account-settings", "account-settings", json!({})),
                &[]
            ),
            None
        );
    }
}
