//! The EC2 checks against a real scan (all but the utilization ones): for
//! each check, a resource that fails it and one that passes, seeded in the
//! emulator in an account of its own, listed by the scanner through the real
//! SDK, read back from the inventory and evaluated by the advisor.
//!
//! What moto cannot show: it stamps every snapshot with the time it was
//! created, so no snapshot is older than 180 days; the failing side of
//! `ec2.snapshot_older_than_180_days` is evaluated on the scanned snapshot
//! 181 days on (`snapshot_old_at`), the passing side both now (by the scan)
//! and 179 days on.

mod support;

use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    DomainType, HttpTokensState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceType, IpPermission, IpRange, Ipv6Range,
    OperationType, ResourceType, SnapshotAttributeName, Tag, TagSpecification, VolumeType,
};
use shared::inventory::Service;
use shared::resources::Resource;

use support::advisor::{has, named, raised, resources, scan};
use support::{account_id, in_account};

async fn ec2_in(aws: &SdkConfig, account: &str) -> Client {
    Client::new(&in_account(aws, account, "us-east-1").await)
}

fn name_tag(kind: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

/// What fixing `check` on the resource named (or with id) `name` saves a month.
fn saving(found: &[Resource], check: &str, name: &str) -> f64 {
    shared::advisor::evaluate(found)
        .into_iter()
        .find(|r| {
            r.check.id == check && r.resource.name.as_deref().unwrap_or(&r.resource.id) == name
        })
        .unwrap_or_else(|| panic!("{check} raised on {name}"))
        .failure
        .monthly_savings_usd
}

/// One instance, running unless told otherwise, in the default VPC.
struct Launch<'a> {
    name: &'a str,
    instance_type: InstanceType,
    /// IMDSv2 required, and no public IP (in a subnet that gives one).
    hardened: bool,
}

async fn launch(ec2: &Client, subnet: &str, l: Launch<'_>) -> String {
    let mut run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(l.instance_type)
        .min_count(1)
        .max_count(1)
        .tag_specifications(name_tag(ResourceType::Instance, l.name));
    run = if l.hardened {
        run.metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .build(),
        )
        .network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(subnet)
                .associate_public_ip_address(false)
                .build(),
        )
    } else {
        run.subnet_id(subnet)
    };
    let out = run.send().await.expect("instance");
    out.instances()[0]
        .instance_id()
        .expect("instance id")
        .to_owned()
}

async fn default_subnet(ec2: &Client) -> String {
    let subnets = ec2.describe_subnets().send().await.expect("subnets");
    let subnet = subnets
        .subnets()
        .iter()
        .find(|s| s.map_public_ip_on_launch() == Some(true))
        .expect("a default subnet that gives public IPs");
    subnet.subnet_id().expect("subnet id").to_owned()
}

#[tokio::test]
async fn instance_checks_fail_the_legacy_and_parked_instances_and_pass_the_hardened_one() {
    let (aws, state) = support::advisor::scanner_stack("adv-ec2-inst").await;
    let account = account_id();
    let ec2 = ec2_in(&aws, &account).await;
    let subnet = default_subnet(&ec2).await;
    // t2, IMDSv1 answered, a public IP from the default subnet.
    let legacy = Launch {
        name: "legacy",
        instance_type: InstanceType::T2Micro,
        hardened: false,
    };
    launch(&ec2, &subnet, legacy).await;
    let hardened = Launch {
        name: "hardened",
        instance_type: InstanceType::T3Micro,
        hardened: true,
    };
    launch(&ec2, &subnet, hardened).await;
    // Hardened, but stopped with its root volume.
    let parked = Launch {
        name: "parked",
        instance_type: InstanceType::T3Micro,
        hardened: true,
    };
    let parked = launch(&ec2, &subnet, parked).await;
    ec2.stop_instances()
        .instance_ids(&parked)
        .send()
        .await
        .expect("stop");

    scan(&state, &[&account], &[Service::Ec2]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);

    for check in [
        "ec2.instance_imdsv2_not_required",
        "ec2.instance_public_ip",
        "ec2.instance_previous_generation",
    ] {
        assert!(has(&now, check, "legacy"), "{check}: {now:?}");
        for passing in ["hardened", "parked"] {
            assert!(!has(&now, check, passing), "{check} {passing}: {now:?}");
        }
    }
    assert!(
        has(&now, "ec2.instance_stopped_with_volumes", "parked"),
        "{now:?}"
    );
    for running in ["legacy", "hardened"] {
        assert!(
            !has(&now, "ec2.instance_stopped_with_volumes", running),
            "{running}: {now:?}"
        );
    }
    let stopped = saving(&found, "ec2.instance_stopped_with_volumes", "parked");
    assert!(stopped > 0.0, "its root volume costs: {stopped}");

    let legacy = named(&found, "ec2:instance", "legacy");
    assert_eq!(
        (
            legacy.properties["http_tokens"].as_str(),
            legacy.properties["instance_type"].as_str()
        ),
        (Some("optional"), Some("t2.micro"))
    );
    let hardened = named(&found, "ec2:instance", "hardened");
    assert_eq!(hardened.properties["http_tokens"], "required");
    assert!(hardened.properties["public_ip"].is_null(), "{hardened:?}");
}

#[tokio::test]
async fn security_group_checks_fail_the_world_open_groups_and_pass_the_narrow_one() {
    let (aws, state) = support::advisor::scanner_stack("adv-ec2-sg").await;
    let account = account_id();
    let ec2 = ec2_in(&aws, &account).await;

    let rule = |protocol: &str, ports: Option<(i32, i32)>, v4: &[&str], v6: &[&str]| {
        let mut b = IpPermission::builder().ip_protocol(protocol);
        if let Some((from, to)) = ports {
            b = b.from_port(from).to_port(to);
        }
        for cidr in v4 {
            b = b.ip_ranges(IpRange::builder().cidr_ip(*cidr).build());
        }
        for cidr in v6 {
            b = b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(*cidr).build());
        }
        b.build()
    };
    let world = &["0.0.0.0/0"][..];
    let world6 = &["::/0"][..];
    let groups = [
        ("ssh-open", vec![rule("tcp", Some((22, 22)), world, &[])]),
        (
            "ssh-open-v6",
            vec![rule("tcp", Some((22, 22)), &[], world6)],
        ),
        (
            "rdp-open",
            vec![
                rule("tcp", Some((3389, 3389)), world, &[]),
                rule("udp", Some((3389, 3389)), &[], world6),
            ],
        ),
        ("all-open-v4", vec![rule("-1", None, world, &[])]),
        ("all-open-v6", vec![rule("-1", None, &[], world6)]),
        (
            "tcp-all-ports",
            vec![rule("tcp", Some((0, 65535)), world, &[])],
        ),
        (
            "narrow",
            vec![
                rule(
                    "tcp",
                    Some((22, 22)),
                    &["203.0.113.0/24"],
                    &["2001:db8::/32"],
                ),
                rule("tcp", Some((3389, 3389)), &["198.51.100.7/32"], &[]),
                rule("tcp", Some((443, 443)), world, world6),
                rule("-1", None, &["10.0.0.0/8"], &[]),
                rule("tcp", Some((4000, 65535)), world, &[]),
            ],
        ),
    ];
    let names: Vec<&str> = groups.iter().map(|(name, _)| *name).collect();
    for (name, rules) in groups {
        let group = ec2
            .create_security_group()
            .group_name(name)
            .description("advisor test")
            .send()
            .await
            .expect("security group");
        ec2.authorize_security_group_ingress()
            .group_id(group.group_id().expect("group id"))
            .set_ip_permissions(Some(rules))
            .send()
            .await
            .unwrap_or_else(|e| panic!("ingress of {name}: {e:?}"));
    }

    scan(&state, &[&account], &[Service::Ec2]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);

    let failing = [
        (
            "ec2.security_group_ssh_open_to_world",
            &["ssh-open", "ssh-open-v6"][..],
        ),
        ("ec2.security_group_rdp_open_to_world", &["rdp-open"][..]),
        (
            "ec2.security_group_all_ports_open_to_world",
            &["all-open-v4", "all-open-v6", "tcp-all-ports"][..],
        ),
    ];
    for (check, fails) in failing {
        for &group in &names {
            assert_eq!(
                has(&now, check, group),
                fails.contains(&group),
                "{check} {group}: {now:?}"
            );
        }
    }
    let v6 = named(&found, "ec2:security-group", "all-open-v6");
    assert_eq!(
        v6.properties["ingress"][0]["ipv6_cidrs"][0], "::/0",
        "{v6:?}"
    );
}

#[tokio::test]
async fn volume_and_snapshot_checks_fail_the_loose_plain_ones_and_pass_the_sealed_ones() {
    let (aws, state) = support::advisor::scanner_stack("adv-ec2-ebs").await;
    let account = account_id();
    let ec2 = ec2_in(&aws, &account).await;
    let subnet = default_subnet(&ec2).await;
    let host = Launch {
        name: "host",
        instance_type: InstanceType::T3Micro,
        hardened: true,
    };
    let host = launch(&ec2, &subnet, host).await;
    let zone = ec2
        .describe_subnets()
        .subnet_ids(&subnet)
        .send()
        .await
        .expect("subnet");
    let zone = zone.subnets()[0]
        .availability_zone()
        .expect("zone")
        .to_owned();

    let volume = async |name: &str, kind: VolumeType, size: i32, encrypted: bool| {
        let created = ec2
            .create_volume()
            .availability_zone(&zone)
            .volume_type(kind)
            .size(size)
            .encrypted(encrypted)
            .tag_specifications(name_tag(ResourceType::Volume, name))
            .send()
            .await
            .expect("volume");
        created.volume_id().expect("volume id").to_owned()
    };
    // gp2, unencrypted, attached to nothing.
    let loose = volume("loose", VolumeType::Gp2, 100, false).await;
    // gp3, encrypted, attached; and gp2, encrypted, attached.
    let sealed = volume("sealed", VolumeType::Gp3, 20, true).await;
    let legacy = volume("legacy", VolumeType::Gp2, 100, true).await;
    for (volume, device) in [(&sealed, "/dev/sdf"), (&legacy, "/dev/sdg")] {
        ec2.attach_volume()
            .volume_id(volume)
            .instance_id(&host)
            .device(device)
            .send()
            .await
            .expect("attach");
    }

    let snapshot = async |name: &str, of: &str| {
        let created = ec2
            .create_snapshot()
            .volume_id(of)
            .tag_specifications(name_tag(ResourceType::Snapshot, name))
            .send()
            .await
            .expect("snapshot");
        created.snapshot_id().expect("snapshot id").to_owned()
    };
    // Of the unencrypted volume, and shared with everyone.
    let shared_snapshot = snapshot("shared", &loose).await;
    ec2.modify_snapshot_attribute()
        .snapshot_id(&shared_snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .operation_type(OperationType::Add)
        .group_names("all")
        .send()
        .await
        .expect("make public");
    // Of the encrypted one, private.
    snapshot("private", &sealed).await;

    scan(&state, &[&account], &[Service::Ec2]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);

    for check in ["ec2.volume_unattached", "ec2.volume_unencrypted"] {
        assert!(has(&now, check, "loose"), "{check}: {now:?}");
        assert!(!has(&now, check, "sealed"), "{check}: {now:?}");
    }
    // One finding per fix: the unattached gp2 volume is to be deleted, not converted.
    assert!(has(&now, "ec2.volume_gp2", "legacy"), "{now:?}");
    assert!(!has(&now, "ec2.volume_gp2", "loose"), "{now:?}");
    assert!(!has(&now, "ec2.volume_gp2", "sealed"), "{now:?}");
    for check in ["ec2.snapshot_public", "ec2.snapshot_unencrypted"] {
        assert!(has(&now, check, "shared"), "{check}: {now:?}");
        assert!(!has(&now, check, "private"), "{check}: {now:?}");
    }
    // 100 GiB of gp2 costs more than as gp3; and all of it, unattached.
    let gp2 = saving(&found, "ec2.volume_gp2", "legacy");
    let unattached = saving(&found, "ec2.volume_unattached", "loose");
    assert!(gp2 > 0.0 && unattached > gp2, "{gp2} {unattached}");
    let sealed = named(&found, "ec2:volume", "sealed");
    assert_eq!(sealed.properties["attached_to"][0], host.as_str());

    // Taken just now: not old today, nor in 179 days; in 181 days, it is.
    assert!(
        !now.iter()
            .any(|(c, _)| *c == "ec2.snapshot_older_than_180_days"),
        "{now:?}"
    );
    let today = shared::dynamo::now();
    let shared_snapshot = named(&found, "ec2:snapshot", "shared");
    let old = shared::advisor::ec2::snapshot_old_at(shared_snapshot, today + 181 * 86_400)
        .expect("181 days on, it is old");
    assert!(old.monthly_savings_usd > 0.0, "{old:?}");
    assert_eq!(
        shared::advisor::ec2::snapshot_old_at(shared_snapshot, today + 179 * 86_400),
        None
    );
}

#[tokio::test]
async fn network_checks_fail_the_idle_address_and_gateway_and_the_used_default_vpc() {
    let (aws, state) = support::advisor::scanner_stack("adv-ec2-net").await;
    // `plain` keeps EBS encryption by default off and its default VPC
    // empty, its gateways in a VPC of its own; `settled` turns encryption on
    // and runs an instance in its default VPC.
    let (plain, settled) = (account_id(), account_id());
    let ec2 = ec2_in(&aws, &plain).await;

    let vpc = ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .send()
        .await
        .expect("vpc");
    let vpc = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_owned();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.20.1.0/24")
        .send()
        .await
        .expect("subnet");
    let subnet = subnet
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_owned();
    let address = async || {
        let allocated = ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .send()
            .await
            .expect("elastic ip");
        allocated.allocation_id().expect("allocation id").to_owned()
    };
    let idle_ip = address().await;
    let gateway = async || {
        let ip = address().await;
        let created = ec2
            .create_nat_gateway()
            .subnet_id(&subnet)
            .allocation_id(&ip)
            .send()
            .await
            .expect("nat gateway");
        let nat = created.nat_gateway().and_then(|n| n.nat_gateway_id());
        (nat.expect("nat gateway id").to_owned(), ip)
    };
    let (unrouted, _) = gateway().await;
    let (routed, routed_ip) = gateway().await;
    let table = ec2
        .create_route_table()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("route table");
    let table = table
        .route_table()
        .and_then(|t| t.route_table_id())
        .expect("route table id")
        .to_owned();
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&routed)
        .send()
        .await
        .expect("route");

    let other = ec2_in(&aws, &settled).await;
    other
        .enable_ebs_encryption_by_default()
        .send()
        .await
        .expect("encryption by default");
    let other_subnet = default_subnet(&other).await;
    let tenant = Launch {
        name: "tenant",
        instance_type: InstanceType::T3Micro,
        hardened: true,
    };
    launch(&other, &other_subnet, tenant).await;

    scan(&state, &[&plain, &settled], &[Service::Ec2]).await;
    let found = resources(&state, &plain).await;
    let now = raised(&found);
    let settled_found = resources(&state, &settled).await;
    let settled_now = raised(&settled_found);

    assert!(
        has(&now, "ec2.elastic_ip_unassociated", &idle_ip),
        "{now:?}"
    );
    assert!(
        !has(&now, "ec2.elastic_ip_unassociated", &routed_ip),
        "the gateway's address is associated: {now:?}"
    );
    assert!(has(&now, "ec2.nat_gateway_unrouted", &unrouted), "{now:?}");
    assert!(!has(&now, "ec2.nat_gateway_unrouted", &routed), "{now:?}");
    let nat = saving(&found, "ec2.nat_gateway_unrouted", &unrouted);
    let ip = saving(&found, "ec2.elastic_ip_unassociated", &idle_ip);
    assert!(nat > ip && ip > 0.0, "{nat} {ip}");

    let default_vpc = |estate: &[Resource]| {
        estate
            .iter()
            .find(|r| r.resource_type == "ec2:vpc" && r.properties["is_default"] == true)
            .expect("a default VPC")
            .id
            .clone()
    };
    assert!(
        !has(&now, "ec2.default_vpc_in_use", &default_vpc(&found)),
        "nothing runs in it: {now:?}"
    );
    assert!(
        !has(&now, "ec2.default_vpc_in_use", &vpc),
        "not a default VPC: {now:?}"
    );
    assert!(
        has(
            &settled_now,
            "ec2.default_vpc_in_use",
            &default_vpc(&settled_found)
        ),
        "{settled_now:?}"
    );

    let settings = "EC2 settings of us-east-1";
    assert!(
        has(&now, "ec2.ebs_encryption_by_default_off", settings),
        "{now:?}"
    );
    assert!(
        !has(&settled_now, "ec2.ebs_encryption_by_default_off", settings),
        "{settled_now:?}"
    );
    assert!(
        settled_found
            .iter()
            .any(|r| r.resource_type == "ec2:account-settings"),
        "{settled_found:?}"
    );
}
