//! A small demo AWS estate in the emulator, so a newcomer's first scan finds
//! something worth reporting: instances in two regions (one stopped, one
//! idle, one twice the size its load needs), an unattached volume, an idle
//! Elastic IP, a NAT gateway nothing uses, an RDS instance without
//! connections, two buckets (one without default encryption), a security
//! group open to SSH from anywhere, a KMS key without rotation and a console
//! user without MFA. The utilization comes from 14 days of CloudWatch
//! metrics seeded with `PutMetricData`.

use anyhow::{Context, Result, anyhow};
use aws_config::{Region, SdkConfig};
use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification, VolumeType};

/// The tag every demo resource carries, and the marker that seeding ran.
pub const DEMO_TAG: &str = "cloudkeep:demo";

fn ec2_in(aws: &SdkConfig, region: &str) -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::config::Builder::from(aws)
        .region(Region::new(region.to_owned()))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

fn tags(kind: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build())
        .tags(Tag::builder().key(DEMO_TAG).value("true").build())
        .build()
}

fn sdk<E: std::error::Error>(e: E) -> anyhow::Error {
    anyhow!(shared::aws::describe(&e))
}

/// One datapoint a day of `metric`, for every day of the scanner's window
/// (also how the utilization tests seed theirs).
pub async fn daily_metric(
    aws: &SdkConfig,
    region: &str,
    namespace: &str,
    (dimension, value): (&str, &str),
    metric: &str,
    daily: f64,
) -> Result<()> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    const DAY: i64 = 86_400;
    let config = aws_sdk_cloudwatch::config::Builder::from(aws)
        .region(Region::new(region.to_owned()))
        .build();
    let (start, _) = scanner::metrics::window(shared::dynamo::now());
    let data = (0..scanner::metrics::WINDOW_DAYS)
        .map(|day| {
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(Dimension::builder().name(dimension).value(value).build())
                .timestamp(DateTime::from_secs(start + day * DAY + DAY / 2))
                .value(daily)
                .build()
        })
        .collect();
    aws_sdk_cloudwatch::Client::from_conf(config)
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("seeding {metric} of {value}"))?;
    Ok(())
}

/// An instance's 14 days: peak CPU (%) and network in and out (bytes a day).
pub async fn instance_load(
    aws: &SdkConfig,
    region: &str,
    id: &str,
    cpu: f64,
    network: f64,
) -> Result<()> {
    let dimension = ("InstanceId", id);
    daily_metric(aws, region, "AWS/EC2", dimension, "CPUUtilization", cpu).await?;
    for metric in ["NetworkIn", "NetworkOut"] {
        daily_metric(aws, region, "AWS/EC2", dimension, metric, network).await?;
    }
    Ok(())
}

/// Sends `cidr` through `nat` from a route table of `subnet`'s VPC, so that
/// the gateway is in use as far as routing goes.
pub async fn route_through_nat(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    nat: &str,
    cidr: &str,
) -> Result<()> {
    let subnets = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .map_err(sdk)?;
    let vpc = subnets
        .subnets()
        .first()
        .and_then(|s| s.vpc_id())
        .ok_or_else(|| anyhow!("subnet {subnet} has no VPC"))?;
    let tables = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .map_err(sdk)?;
    let table = tables
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .ok_or_else(|| anyhow!("VPC {vpc} has no route table"))?;
    ec2.create_route()
        .route_table_id(table)
        .destination_cidr_block(cidr)
        .nat_gateway_id(nat)
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("routing {cidr} through {nat}"))?;
    Ok(())
}

/// What the seed created (or found from an earlier run).
#[derive(Debug, Default)]
pub struct Estate {
    pub created: bool,
    pub instances: usize,
}

/// Seeds the demo estate once per emulator: a second call finds the marker and does nothing.
pub async fn seed(aws: &SdkConfig) -> Result<Estate> {
    let home = ec2_in(aws, "us-east-1");
    let existing = home
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{DEMO_TAG}"))
                .values("true")
                .build(),
        )
        .send()
        .await
        .map_err(sdk)?;
    let found: usize = existing
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    if found > 0 {
        return Ok(Estate {
            created: false,
            instances: found,
        });
    }

    let mut instances = 0;
    for (region, names) in [
        (
            "us-east-1",
            &["demo-web-1", "demo-batch-1", "demo-analytics-1"][..],
        ),
        ("eu-west-1", &["demo-web-eu-1"][..]),
    ] {
        let ec2 = ec2_in(aws, region);
        for name in names {
            let instance_type = if *name == "demo-analytics-1" {
                InstanceType::M6i2xlarge
            } else {
                InstanceType::T3Medium
            };
            let run = ec2
                .run_instances()
                .image_id("ami-12c6146b")
                .instance_type(instance_type)
                .min_count(1)
                .max_count(1)
                .tag_specifications(tags(ResourceType::Instance, name))
                .send()
                .await
                .map_err(sdk)
                .with_context(|| format!("launching {name} in {region}"))?;
            instances += 1;
            let id = run
                .instances()
                .first()
                .and_then(|i| i.instance_id())
                .unwrap_or_default();
            match *name {
                "demo-batch-1" => {
                    ec2.stop_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(sdk)?;
                }
                // Busy; idle (a stop saves its compute); peaking at 18 % on
                // 8 vCPUs (half the size would do).
                "demo-web-1" => instance_load(aws, region, id, 38.0, 2e9).await?,
                "demo-web-eu-1" => instance_load(aws, region, id, 1.5, 300_000.0).await?,
                _ => instance_load(aws, region, id, 18.0, 1e9).await?,
            }
        }
    }

    home.create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(VolumeType::Gp3)
        .tag_specifications(tags(ResourceType::Volume, "demo-orphaned-volume"))
        .send()
        .await
        .map_err(sdk)
        .context("creating the unattached volume")?;

    home.allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .tag_specifications(tags(ResourceType::ElasticIp, "demo-idle-eip"))
        .send()
        .await
        .map_err(sdk)
        .context("allocating the idle Elastic IP")?;

    let nat_ip = home
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .tag_specifications(tags(ResourceType::ElasticIp, "demo-nat-eip"))
        .send()
        .await
        .map_err(sdk)?;
    let subnet = home
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .map_err(sdk)?
        .subnets()
        .first()
        .and_then(|s| s.subnet_id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the emulator has no default subnet in us-east-1"))?;
    let nat = home
        .create_nat_gateway()
        .subnet_id(&subnet)
        .set_allocation_id(nat_ip.allocation_id().map(str::to_owned))
        .tag_specifications(tags(ResourceType::Natgateway, "demo-nat"))
        .send()
        .await
        .map_err(sdk)
        .context("creating the NAT gateway")?;
    let nat_id = nat
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .unwrap_or_default();
    // Routed (a peered network's range), yet nothing has gone through it.
    route_through_nat(&home, &subnet, nat_id, "10.64.0.0/16").await?;
    for metric in ["BytesOutToDestination", "BytesInFromDestination"] {
        let dimension = ("NatGatewayId", nat_id);
        daily_metric(aws, "us-east-1", "AWS/NATGateway", dimension, metric, 0.0).await?;
    }

    let rds = aws_sdk_rds::Client::new(aws);
    rds.create_db_instance()
        .db_instance_identifier("demo-postgres")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("demo")
        .master_user_password("demo-password-not-secret")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key(DEMO_TAG)
                .value("true")
                .build(),
        )
        .send()
        .await
        .map_err(sdk)
        .context("creating the RDS instance")?;
    // Nobody has connected in two weeks.
    let dimension = ("DBInstanceIdentifier", "demo-postgres");
    for (metric, daily) in [("DatabaseConnections", 0.0), ("CPUUtilization", 2.0)] {
        daily_metric(aws, "us-east-1", "AWS/RDS", dimension, metric, daily).await?;
    }

    let s3 = shared::aws::s3(aws);
    for bucket in [
        "demo-logs-123456789012",
        "demo-unencrypted-exports-123456789012",
    ] {
        match s3.create_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e) => return Err(sdk(e)).with_context(|| format!("creating bucket {bucket}")),
        }
    }
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    s3.put_bucket_encryption()
        .bucket("demo-logs-123456789012")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()?,
                        )
                        .build(),
                )
                .build()?,
        )
        .send()
        .await
        .map_err(sdk)?;

    // Security findings a person would act on first.
    let ssh = home
        .create_security_group()
        .group_name("demo-bastion-ssh")
        .description("SSH from anywhere (the demo's mistake)")
        .tag_specifications(tags(ResourceType::SecurityGroup, "demo-bastion-ssh"))
        .send()
        .await
        .map_err(sdk)
        .context("creating the open security group")?;
    home.authorize_security_group_ingress()
        .set_group_id(ssh.group_id().map(str::to_owned))
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .map_err(sdk)?;
    aws_sdk_kms::Client::new(aws)
        .create_key()
        .description("demo-exports-key (rotation off)")
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key(DEMO_TAG)
                .tag_value("true")
                .build()?,
        )
        .send()
        .await
        .map_err(sdk)
        .context("creating the KMS key")?;
    let iam = aws_sdk_iam::Client::new(aws);
    iam.create_user()
        .user_name("demo-console-user")
        .send()
        .await
        .map_err(sdk)
        .context("creating the IAM user")?;
    iam.create_login_profile()
        .user_name("demo-console-user")
        .password("Demo-password-not-secret-1")
        .send()
        .await
        .map_err(sdk)?;

    Ok(Estate {
        created: true,
        instances,
    })
}

/// The emulator's own account, registered as the demo account (scanned with
/// the backend's credentials, no role), and a first scan of it queued, so
/// the console and `GET /v1/summary` have findings from the first minute.
/// Does nothing when an account is registered already.
pub async fn first_scan(
    aws: &SdkConfig,
    stack: &crate::bootstrap::Stack,
) -> Result<Option<String>> {
    use inventory::store::AccountRegistry;
    use shared::inventory::{QueueScans, RegisteredAccounts, ScanTrigger};
    let env = stack.env("inventory");
    let inventory = shared::inventory::InventoryStore::new(
        shared::aws::dynamodb(aws),
        env.required("INVENTORY_TABLE")?,
        env.required("SCAN_JOBS_TABLE")?,
    );
    if !inventory.accounts().await?.is_empty() {
        return Ok(None);
    }
    let me = aws_sdk_sts::Client::new(aws)
        .get_caller_identity()
        .send()
        .await
        .map_err(sdk)?;
    let account = shared::inventory::Account {
        account_id: me.account().unwrap_or("123456789012").to_owned(),
        name: "demo (the emulator's account)".into(),
        role_arn: None,
        external_id: None,
        remediation_role_arn: None,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        created_at: shared::dynamo::rfc3339(shared::dynamo::now()),
    };
    inventory.register_account(&account).await?;
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = shared::inventory::plan_jobs(&scan_id, ScanTrigger::Api, &[account], None, None);
    inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await?;
    Ok(Some(scan_id))
}
