//! Remediation actions on the emulator, through the HTTP API and the real
//! SDK: each of the eight actions does what it says, a dry run changes
//! nothing, a precondition, a protection tag or a resource gone refuses it,
//! every attempt is in the audit log (a failed call too), bulk items stand
//! alone, an idempotency key acts once, two actions on one resource never
//! both act, and an account acts only through its remediation role.

mod support;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification, VolumeType};
use serde_json::{Value, json};
use shared::auth::Role;
use support::{Api, account_id, in_account, role};

fn remediation_role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/cloudkeep-remediation")
}

/// An admin's desk: a stack served over HTTP, an account registered with a
/// remediation role, and credentials to seed that account.
struct Desk {
    api: Api,
    admin: String,
    reader: String,
    account: String,
    aws: SdkConfig,
    /// The account, reached as the tests' seeding role.
    seeded: SdkConfig,
    _relays: Vec<tokio::task::JoinHandle<()>>,
}

impl Desk {
    async fn new(hint: &str) -> Desk {
        let (aws, template, stack) = support::stack(hint).await;
        let api = Api::new(support::serve(&aws, &template, &stack).await);
        let relays = devstack::relay::spawn_all(&stack, &aws).expect("relays");
        let password = support::user(&aws, &stack, "ops1", &[Role::Admin], &[]).await;
        let admin = api.bearer("ops1", &password).await;
        let password = support::user(&aws, &stack, "viewer", &[Role::Reader], &[]).await;
        let reader = api.bearer("viewer", &password).await;
        let account = account_id();
        let desk = Desk {
            seeded: in_account(&aws, &account, "us-east-1").await,
            api,
            admin,
            reader,
            account: account.clone(),
            aws,
            _relays: relays,
        };
        desk.register(&account, Some(remediation_role(&account)))
            .await;
        desk
    }

    async fn register(&self, account: &str, remediation: Option<String>) {
        let body = json!({
            "name": format!("acct-{account}"), "role_arn": role(account), "external_id": "ext-123",
            "remediation_role_arn": remediation, "regions": ["us-east-1"],
        });
        let (status, registered) = self
            .api
            .call("POST", "/v1/accounts", Some(&self.admin), Some(body))
            .await;
        assert_eq!(status, 201, "{registered}");
    }

    fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.seeded)
    }

    fn arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:us-east-1:{}:{kind}/{id}", self.account)
    }

    /// `POST /v1/actions`, which must answer `200`.
    async fn act(&self, arn: &str, action: &str, dry_run: bool) -> Value {
        let mut body = json!({"resource_arn": arn, "action": action, "dry_run": dry_run});
        if !dry_run {
            body["reason"] = json!("cleaning up after the load test");
        }
        let (status, record) = self
            .api
            .call("POST", "/v1/actions", Some(&self.admin), Some(body))
            .await;
        assert_eq!(status, 200, "{record}");
        record
    }

    /// The audit log of one resource, newest first.
    async fn audit_of(&self, arn: &str) -> Vec<Value> {
        let path = format!("/v1/actions?resource_arn={}", encode(arn));
        let (status, page) = self.api.call("GET", &path, Some(&self.admin), None).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().expect("items").clone()
    }

    /// Scans `services` of the account; the scan must succeed.
    async fn scan(&self, services: &[&str]) {
        let body =
            json!({"account_ids": [self.account], "services": services, "regions": ["us-east-1"]});
        let scan = self.api.scan(&self.admin, &self.reader, body).await;
        assert_eq!(scan["status"], "succeeded", "{scan}");
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn tags(resource: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    pairs
        .iter()
        .fold(
            TagSpecification::builder().resource_type(resource),
            |b, (k, v)| b.tags(Tag::builder().key(*k).value(*v).build()),
        )
        .build()
}

const PROTECTED: &[(&str, &str)] = &[("cloudkeep:protected", "true")];

/// An unattached 100 GiB gp3 volume.
async fn volume(ec2: &aws_sdk_ec2::Client, tagged: &[(&str, &str)]) -> String {
    let mut request = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(VolumeType::Gp3)
        .encrypted(true);
    if !tagged.is_empty() {
        request = request.tag_specifications(tags(ResourceType::Volume, tagged));
    }
    request
        .send()
        .await
        .expect("volume")
        .volume_id()
        .expect("id")
        .to_owned()
}

/// A running instance.
async fn instance(ec2: &aws_sdk_ec2::Client, tagged: &[(&str, &str)]) -> String {
    let mut request = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::M6iLarge)
        .min_count(1)
        .max_count(1);
    if !tagged.is_empty() {
        request = request.tag_specifications(tags(ResourceType::Instance, tagged));
    }
    let out = request.send().await.expect("instance");
    out.instances()[0].instance_id().expect("id").to_owned()
}

async fn volume_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> bool {
    ec2.describe_volumes().volume_ids(id).send().await.is_ok()
}

async fn instance_state(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    let out = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .expect("describe");
    out.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_unattached_volume_found_through_its_finding_is_dry_run_then_deleted_and_audited() {
    let desk = Desk::new("act-volume").await;
    let ec2 = desk.ec2();
    let id = volume(&ec2, &[]).await;
    let arn = desk.arn("volume", &id);
    desk.scan(&["ec2"]).await;
    let path = format!(
        "/v1/findings?account_id={}&check_id=ec2.volume_unattached",
        desk.account
    );
    let (_, page) = desk.api.call("GET", &path, Some(&desk.reader), None).await;
    let finding = page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|f| f["resource_id"] == id.as_str()))
        .cloned()
        .expect("the unattached volume's finding");
    assert_eq!(finding["status"], "open");
    let (_, before) = desk
        .api
        .call("GET", "/v1/summary", Some(&desk.reader), None)
        .await;

    // A dry run is the default: it says what would happen, and nothing does.
    let (status, planned) = desk
        .api
        .call(
            "POST",
            "/v1/actions",
            Some(&desk.admin),
            Some(json!({"resource_arn": arn, "action": "ec2.delete_volume"})),
        )
        .await;
    assert_eq!(status, 200, "{planned}");
    assert_eq!(
        (planned["status"].as_str(), planned["dry_run"].as_bool()),
        (Some("planned"), Some(true)),
        "{planned}"
    );
    let message = planned["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!("Would delete volume {id}")),
        "{message}"
    );
    assert!(
        planned["monthly_savings_usd"].as_f64().expect("dollars") > 0.0,
        "{planned}"
    );
    assert!(volume_exists(&ec2, &id).await);

    // A real action needs a reason.
    let (status, refused) = desk
        .api
        .call(
            "POST",
            "/v1/actions",
            Some(&desk.admin),
            Some(json!({"resource_arn": arn, "action": "ec2.delete_volume", "dry_run": false})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["details"][0]["field"], "reason",
        "{refused}"
    );
    assert!(volume_exists(&ec2, &id).await);

    let done = desk.act(&arn, "ec2.delete_volume", false).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(
        done["message"]
            .as_str()
            .expect("message")
            .starts_with(&format!("Deleted volume {id}")),
        "{done}"
    );
    assert!(!volume_exists(&ec2, &id).await, "the volume is gone in AWS");

    // The inventory says so at once: the volume gone, its finding resolved,
    // the summary's savings down by what it saved.
    let (status, resource) = desk
        .api
        .call(
            "GET",
            &format!("/v1/resources/{}", encode(&arn)),
            Some(&desk.reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{resource}");
    assert_eq!(resource["state"], "gone", "{resource}");
    let path = format!(
        "/v1/findings?account_id={}&check_id=ec2.volume_unattached",
        desk.account
    );
    let (_, page) = desk.api.call("GET", &path, Some(&desk.reader), None).await;
    let after = page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|f| f["resource_id"] == id.as_str()))
        .cloned()
        .expect("kept, resolved");
    assert_eq!(after["status"], "resolved", "{after}");
    let (_, summary) = desk
        .api
        .call("GET", "/v1/summary", Some(&desk.reader), None)
        .await;
    let saved = finding["monthly_savings_usd"].as_f64().expect("dollars");
    let drop = before["monthly_savings_usd"].as_f64().expect("before")
        - summary["monthly_savings_usd"].as_f64().expect("after");
    assert!(
        (drop - saved).abs() < 0.01,
        "savings fell by {drop}, the finding saved {saved}"
    );
    assert_eq!(
        summary["resources"].as_u64(),
        before["resources"].as_u64().map(|n| n - 1)
    );

    // Gone now: a second delete is refused, never attempted.
    let again = desk.act(&arn, "ec2.delete_volume", false).await;
    assert_eq!(again["status"], "refused", "{again}");
    assert!(
        again["message"]
            .as_str()
            .expect("message")
            .contains("no longer exists"),
        "{again}"
    );

    // Every attempt is in the audit log, newest first, with who, why and the plan.
    let log = desk.audit_of(&arn).await;
    let statuses: Vec<&str> = log.iter().filter_map(|e| e["status"].as_str()).collect();
    assert_eq!(statuses, ["refused", "done", "planned"], "{log:?}");
    assert_eq!(log[1]["by"], "ops1");
    assert_eq!(log[1]["reason"], "cleaning up after the load test");
    assert!(
        log[1]["plan"]
            .as_str()
            .expect("plan")
            .starts_with("Would delete volume"),
        "{}",
        log[1]
    );
    assert!(log[1]["finished_at"].is_string());
}

#[tokio::test]
async fn an_instance_stops_only_when_running_and_starts_only_when_stopped() {
    let desk = Desk::new("act-instance").await;
    let ec2 = desk.ec2();
    let id = instance(&ec2, &[]).await;
    let arn = desk.arn("instance", &id);

    let start = desk.act(&arn, "ec2.start_instance", false).await;
    assert_eq!(start["status"], "refused", "{start}");
    assert!(
        start["message"]
            .as_str()
            .expect("m")
            .contains("running, not stopped"),
        "{start}"
    );

    let dry = desk.act(&arn, "ec2.stop_instance", true).await;
    assert_eq!(dry["status"], "planned", "{dry}");
    assert_eq!(instance_state(&ec2, &id).await, "running");

    let stopped = desk.act(&arn, "ec2.stop_instance", false).await;
    assert_eq!(stopped["status"], "done", "{stopped}");
    assert!(
        stopped["monthly_savings_usd"].as_f64().expect("$") > 0.0,
        "{stopped}"
    );
    assert_eq!(instance_state(&ec2, &id).await, "stopped");
    let again = desk.act(&arn, "ec2.stop_instance", false).await;
    assert_eq!(again["status"], "refused", "{again}");

    let started = desk.act(&arn, "ec2.start_instance", false).await;
    assert_eq!(started["status"], "done", "{started}");
    assert!(
        started["message"]
            .as_str()
            .expect("m")
            .contains("costing $"),
        "{started}"
    );
    assert_eq!(instance_state(&ec2, &id).await, "running");

    let gone = desk
        .act(
            &desk.arn("instance", "i-0123456789abcdef0"),
            "ec2.stop_instance",
            false,
        )
        .await;
    assert_eq!(gone["status"], "refused", "{gone}");
    assert_eq!(desk.audit_of(&arn).await.len(), 5);
}

#[tokio::test]
async fn addresses_snapshots_and_nat_gateways_go_only_when_nothing_uses_them() {
    let desk = Desk::new("act-network").await;
    let ec2 = desk.ec2();

    // An Elastic IP: associated, refused; unassociated, released.
    let server = instance(&ec2, &[]).await;
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("eip");
    let allocation = eip.allocation_id().expect("id").to_owned();
    let association = ec2
        .associate_address()
        .allocation_id(&allocation)
        .instance_id(&server)
        .send()
        .await
        .expect("associate");
    let eip_arn = desk.arn("elastic-ip", &allocation);
    let refused = desk.act(&eip_arn, "ec2.release_address", false).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .expect("m")
            .contains("associated"),
        "{refused}"
    );
    ec2.disassociate_address()
        .association_id(association.association_id().expect("association"))
        .send()
        .await
        .expect("disassociate");
    assert_eq!(
        desk.act(&eip_arn, "ec2.release_address", true).await["status"],
        "planned"
    );
    assert_eq!(
        desk.act(&eip_arn, "ec2.release_address", false).await["status"],
        "done"
    );
    let left = ec2.describe_addresses().send().await.expect("addresses");
    assert!(
        left.addresses()
            .iter()
            .all(|a| a.allocation_id() != Some(allocation.as_str()))
    );

    // A snapshot backing an image is refused; a plain one is deleted.
    let image = ec2
        .create_image()
        .instance_id(&server)
        .name("golden")
        .send()
        .await
        .expect("image")
        .image_id()
        .expect("id")
        .to_owned();
    let images = ec2
        .describe_images()
        .image_ids(&image)
        .send()
        .await
        .expect("images");
    let backing = images.images()[0].block_device_mappings()[0]
        .ebs()
        .and_then(|e| e.snapshot_id())
        .expect("the image's snapshot")
        .to_owned();
    let refused = desk
        .act(
            &desk.arn("snapshot", &backing),
            "ec2.delete_snapshot",
            false,
        )
        .await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["message"].as_str().expect("m").contains(&image),
        "{refused}"
    );
    let data = volume(&ec2, &[]).await;
    let snapshot = ec2
        .create_snapshot()
        .volume_id(&data)
        .send()
        .await
        .expect("snapshot");
    let snapshot = snapshot.snapshot_id().expect("id").to_owned();
    let done = desk
        .act(
            &desk.arn("snapshot", &snapshot),
            "ec2.delete_snapshot",
            false,
        )
        .await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(
        ec2.describe_snapshots()
            .snapshot_ids(&snapshot)
            .send()
            .await
            .is_err()
    );

    // A NAT gateway a route uses is refused; once unused, a dry run leaves it
    // (EC2 answers DryRunOperation) and the action deletes it.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.8.0.0/16")
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
        .cidr_block("10.8.1.0/24")
        .send()
        .await
        .expect("subnet");
    let subnet = subnet
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_owned();
    let nat_ip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("eip");
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(nat_ip.allocation_id().expect("id"))
        .send()
        .await
        .expect("nat");
    let nat = nat
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .expect("nat id")
        .to_owned();
    let table = ec2
        .create_route_table()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("route table");
    let table = table
        .route_table()
        .and_then(|t| t.route_table_id())
        .expect("id")
        .to_owned();
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&nat)
        .send()
        .await
        .expect("route");
    let nat_arn = desk.arn("natgateway", &nat);
    let refused = desk.act(&nat_arn, "ec2.delete_nat_gateway", false).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["message"].as_str().expect("m").contains(&table),
        "{refused}"
    );
    ec2.delete_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .expect("route deleted");
    let nat_state = async || {
        let out = ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&nat)
            .send()
            .await
            .expect("nat");
        out.nat_gateways()[0]
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        desk.act(&nat_arn, "ec2.delete_nat_gateway", true).await["status"],
        "planned"
    );
    assert_eq!(nat_state().await, "available", "a dry run deletes nothing");
    assert_eq!(
        desk.act(&nat_arn, "ec2.delete_nat_gateway", false).await["status"],
        "done"
    );
    assert_eq!(nat_state().await, "deleted");
    let again = desk.act(&nat_arn, "ec2.delete_nat_gateway", false).await;
    assert_eq!(again["status"], "refused", "{again}");
}

#[tokio::test]
async fn a_database_stops_when_available_and_a_call_aws_refuses_is_audited_as_failed() {
    let desk = Desk::new("act-rds").await;
    let rds = aws_sdk_rds::Client::new(&desk.seeded);
    for (name, engine, multi_az) in [
        ("orders", "postgres", false),
        ("ledger", "sqlserver-se", true),
    ] {
        rds.create_db_instance()
            .db_instance_identifier(name)
            .db_instance_class("db.m6i.large")
            .engine(engine)
            .allocated_storage(100)
            .master_username("app")
            .master_user_password("Not-a-real-password-1")
            .multi_az(multi_az)
            .send()
            .await
            .expect("db instance");
    }
    let arn = |name: &str| format!("arn:aws:rds:us-east-1:{}:db:{name}", desk.account);
    assert_eq!(
        desk.act(&arn("orders"), "rds.stop_db_instance", true).await["status"],
        "planned"
    );
    let status = async |name: &str| {
        let out = rds
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
            .expect("db");
        out.db_instances()[0]
            .db_instance_status()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(status("orders").await, "available");
    let stopped = desk
        .act(&arn("orders"), "rds.stop_db_instance", false)
        .await;
    assert_eq!(stopped["status"], "done", "{stopped}");
    assert!(
        stopped["monthly_savings_usd"].as_f64().expect("$") > 0.0,
        "{stopped}"
    );
    assert_eq!(status("orders").await, "stopped");
    let again = desk
        .act(&arn("orders"), "rds.stop_db_instance", false)
        .await;
    assert_eq!(again["status"], "refused", "{again}");

    // A Multi-AZ SQL Server cannot be stopped: AWS refuses the call, and
    // the audit log keeps the failure with AWS's code.
    let failed = desk
        .act(&arn("ledger"), "rds.stop_db_instance", false)
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error_code"].is_string(), "{failed}");
    let log = desk.audit_of(&arn("ledger")).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["error_code"], failed["error_code"]);
    assert!(
        log[0]["plan"].is_string(),
        "the plan was recorded before the call: {}",
        log[0]
    );
}

#[tokio::test]
async fn a_bucket_is_deleted_only_when_empty_and_known_to_the_inventory() {
    let desk = Desk::new("act-bucket").await;
    let s3 = shared::aws::s3(&desk.seeded);
    let name = format!(
        "old-logs-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&name)
        .key("a.log")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("object");
    let arn = format!("arn:aws:s3:::{name}");

    let unknown = desk.act(&arn, "s3.delete_bucket", false).await;
    assert_eq!(unknown["status"], "refused", "{unknown}");
    assert!(
        unknown["message"]
            .as_str()
            .expect("m")
            .contains("not in the inventory"),
        "{unknown}"
    );

    desk.scan(&["s3"]).await;
    let full = desk.act(&arn, "s3.delete_bucket", false).await;
    assert_eq!(full["status"], "refused", "{full}");
    assert!(
        full["message"].as_str().expect("m").contains("not empty"),
        "{full}"
    );
    assert_eq!(full["account_id"], desk.account.as_str());

    s3.delete_object()
        .bucket(&name)
        .key("a.log")
        .send()
        .await
        .expect("emptied");
    assert_eq!(
        desk.act(&arn, "s3.delete_bucket", true).await["status"],
        "planned"
    );
    assert!(
        s3.head_bucket().bucket(&name).send().await.is_ok(),
        "a dry run deletes nothing"
    );
    assert_eq!(
        desk.act(&arn, "s3.delete_bucket", false).await["status"],
        "done"
    );
    assert!(s3.head_bucket().bucket(&name).send().await.is_err());
}

#[tokio::test]
async fn a_protected_resource_is_refused_even_in_a_dry_run() {
    let desk = Desk::new("act-protect").await;
    let ec2 = desk.ec2();
    let vol = volume(&ec2, PROTECTED).await;
    let server = instance(&ec2, PROTECTED).await;
    for (arn, action) in [
        (desk.arn("volume", &vol), "ec2.delete_volume"),
        (desk.arn("instance", &server), "ec2.stop_instance"),
    ] {
        for dry_run in [true, false] {
            let record = desk.act(&arn, action, dry_run).await;
            assert_eq!(record["status"], "refused", "{record}");
            assert!(
                record["message"]
                    .as_str()
                    .expect("m")
                    .contains("cloudkeep:protected=true"),
                "{record}"
            );
        }
    }
    assert!(volume_exists(&ec2, &vol).await);
    assert_eq!(instance_state(&ec2, &server).await, "running");

    let s3 = shared::aws::s3(&desk.seeded);
    let name = format!("keep-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("cloudkeep:protected")
                .value("true")
                .build()
                .expect("tag"),
        )
        .build()
        .expect("tagging");
    s3.put_bucket_tagging()
        .bucket(&name)
        .tagging(tagging)
        .send()
        .await
        .expect("tagged");
    desk.scan(&["s3"]).await;
    let record = desk
        .act(&format!("arn:aws:s3:::{name}"), "s3.delete_bucket", false)
        .await;
    assert_eq!(record["status"], "refused", "{record}");
    assert!(s3.head_bucket().bucket(&name).send().await.is_ok());
}

#[tokio::test]
async fn bulk_items_stand_alone_and_a_repeated_item_is_done_once() {
    let desk = Desk::new("act-bulk").await;
    let ec2 = desk.ec2();
    let (a, b) = (volume(&ec2, &[]).await, volume(&ec2, PROTECTED).await);
    let server = instance(&ec2, &[]).await;
    let items = json!([
        {"resource_arn": desk.arn("volume", &a), "action": "ec2.delete_volume"},
        {"resource_arn": desk.arn("volume", &b), "action": "ec2.delete_volume"},
        {"resource_arn": desk.arn("volume", &a), "action": "ec2.delete_volume"},
        {"resource_arn": desk.arn("volume", "vol-0123456789abcdef0"), "action": "ec2.delete_volume"},
        {"resource_arn": desk.arn("instance", &server), "action": "ec2.stop_instance"},
    ]);
    let (status, answer) = desk
        .api
        .call(
            "POST",
            "/v1/actions/bulk",
            Some(&desk.admin),
            Some(json!({"items": items, "dry_run": false, "reason": "quarterly clean-up"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["items"].as_array().expect("items");
    let statuses: Vec<&str> = results
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["done", "refused", "done", "refused", "done"],
        "{answer}"
    );
    assert_eq!(
        results[0]["action_id"], results[2]["action_id"],
        "the repeat is the same action"
    );
    assert_eq!(desk.audit_of(&desk.arn("volume", &a)).await.len(), 1);
    assert!(!volume_exists(&ec2, &a).await && volume_exists(&ec2, &b).await);
    assert_eq!(instance_state(&ec2, &server).await, "stopped");

    // Bad items refuse the whole request before anything runs.
    for (body, field) in [
        (json!({"items": []}), "items"),
        (
            json!({"items": [{"resource_arn": desk.arn("volume", &b), "action": "ec2.terminate"}]}),
            "items[0].action",
        ),
        (
            json!({"items": [{"resource_arn": desk.arn("instance", &server), "action": "ec2.delete_volume"}]}),
            "items[0].resource_arn",
        ),
        (
            json!({"items": vec![json!({"resource_arn": desk.arn("volume", &b), "action": "ec2.delete_volume"}); 101]}),
            "items",
        ),
    ] {
        let (status, error) = desk
            .api
            .call("POST", "/v1/actions/bulk", Some(&desk.admin), Some(body))
            .await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["details"][0]["field"], field, "{error}");
    }
}

#[tokio::test]
async fn an_idempotency_key_answers_the_first_answer_and_acts_once() {
    let desk = Desk::new("act-idem").await;
    let ec2 = desk.ec2();
    let id = volume(&ec2, &[]).await;
    let arn = desk.arn("volume", &id);
    let body = json!({"resource_arn": arn, "action": "ec2.delete_volume", "dry_run": false, "reason": "unused"});
    let send = async |body: &Value, key: &str| {
        let response = desk
            .api
            .http
            .post(format!("{}/v1/actions", desk.api.base))
            .header("authorization", &desk.admin)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let (first_status, first) = send(&body, "cleanup-42").await;
    let (second_status, second) = send(&body, "cleanup-42").await;
    assert_eq!(
        (first_status, second_status),
        (200, 200),
        "{first} {second}"
    );
    assert_eq!(first["status"], "done", "{first}");
    assert_eq!(second, first, "the repeat answers the first answer");
    assert_eq!(desk.audit_of(&arn).await.len(), 1, "and acts once");

    let other = json!({"resource_arn": arn, "action": "ec2.delete_volume"});
    let (status, error) = send(&other, "cleanup-42").await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["error"]["details"][0]["field"], "Idempotency-Key",
        "{error}"
    );
}

#[tokio::test]
async fn two_concurrent_real_actions_on_one_resource_act_once() {
    let desk = Desk::new("act-race").await;
    let ec2 = desk.ec2();
    let id = volume(&ec2, &[]).await;
    let arn = desk.arn("volume", &id);
    let (one, two) = tokio::join!(
        desk.act(&arn, "ec2.delete_volume", false),
        desk.act(&arn, "ec2.delete_volume", false)
    );
    let mut statuses = [one["status"].as_str(), two["status"].as_str()];
    statuses.sort();
    assert_eq!(statuses, [Some("done"), Some("refused")], "{one} {two}");
    assert_eq!(desk.audit_of(&arn).await.len(), 2);
}

#[tokio::test]
async fn only_admins_act_and_only_through_a_remediation_role() {
    let desk = Desk::new("act-who").await;
    let ec2 = desk.ec2();
    let id = volume(&ec2, &[]).await;
    let arn = desk.arn("volume", &id);
    let body = json!({"resource_arn": arn, "action": "ec2.delete_volume"});
    for (method, path, body) in [
        ("POST", "/v1/actions", Some(body.clone())),
        (
            "POST",
            "/v1/actions/bulk",
            Some(json!({"items": [body.clone()]})),
        ),
        ("GET", "/v1/actions", None),
    ] {
        let (status, error) = desk.api.call(method, path, Some(&desk.reader), body).await;
        assert_eq!(status, 403, "{path}: {error}");
        let (status, _) = desk.api.call(method, path, None, None).await;
        assert_eq!(status, 401, "{path}");
    }
    assert!(
        desk.audit_of(&arn).await.is_empty(),
        "nothing was attempted"
    );

    // A second account registered to be read only: refused, with what to do.
    let readonly = account_id();
    desk.register(&readonly, None).await;
    let other = in_account(&desk.aws, &readonly, "us-east-1").await;
    let theirs = volume(&aws_sdk_ec2::Client::new(&other), &[]).await;
    let theirs_arn = format!("arn:aws:ec2:us-east-1:{readonly}:volume/{theirs}");
    let refused = desk.act(&theirs_arn, "ec2.delete_volume", false).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .expect("m")
            .contains("no remediation role"),
        "{refused}"
    );
    assert!(volume_exists(&aws_sdk_ec2::Client::new(&other), &theirs).await);

    // An account cloudkeep does not know at all: refused.
    let stranger = format!("arn:aws:ec2:us-east-1:{}:volume/vol-1", account_id());
    let refused = desk.act(&stranger, "ec2.delete_volume", true).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .expect("m")
            .contains("not registered"),
        "{refused}"
    );

    // Through the registered remediation role, it acts in its account.
    assert_eq!(
        desk.act(&arn, "ec2.delete_volume", false).await["status"],
        "done"
    );

    // Bad input: a clear 422 naming the field, nothing written.
    for (body, field) in [
        (
            json!({"resource_arn": arn, "action": "ec2.terminate_instance"}),
            "action",
        ),
        (
            json!({"resource_arn": "arn:aws:ec2:us-east-1:1:volume/v", "action": "ec2.delete_volume"}),
            "resource_arn",
        ),
        (
            json!({"resource_arn": arn, "action": "ec2.delete_volume", "force": true}),
            "force",
        ),
        (
            json!({"resource_arn": arn, "action": "ec2.delete_volume", "reason": "x".repeat(501)}),
            "reason",
        ),
    ] {
        let (status, error) = desk
            .api
            .call("POST", "/v1/actions", Some(&desk.admin), Some(body))
            .await;
        assert_eq!(status, 422, "{error}");
        // The field is named (an unknown one in the problem's words).
        let detail = error["error"]["details"][0].to_string();
        assert!(detail.contains(field), "{field}: {error}");
    }
    let (status, _) = desk
        .api
        .call(
            "GET",
            "/v1/actions?status=exploded",
            Some(&desk.admin),
            None,
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn in_the_backends_own_account_the_actions_role_acts_itself() {
    let desk = Desk::new("act-own").await;
    let (status, own) = desk
        .api
        .call(
            "POST",
            "/v1/accounts",
            Some(&desk.admin),
            Some(json!({"name": "ours", "regions": ["us-east-1"]})),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    let account = own["account_id"].as_str().expect("id").to_owned();
    let config = desk
        .aws
        .to_builder()
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let id = volume(&ec2, &[]).await;
    let arn = format!("arn:aws:ec2:us-east-1:{account}:volume/{id}");
    let done = desk.act(&arn, "ec2.delete_volume", false).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(!volume_exists(&ec2, &id).await);
}
