//! Accounts and scans on the emulator: an account is registered after a live
//! connection test (assuming a role into another account, which moto keeps
//! apart), a scan fans out through the jobs table's stream to the scanner,
//! and the estate seeded in that account is found with its costs.

mod support;

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use inventory::store::{AccountRegistry, Filters, ResourceQueries};
use scanner::store::{JobRuns, ResourceWrites};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::inventory::{QueueScans, ScanStatus, ScanTrigger, Service};
use support::Api;
use support::advisor::{registered, run_scan};

use support::{account_id, in_account, role};

/// Two instances (one stopped) and an unattached volume in us-east-1, one
/// instance and an idle Elastic IP in eu-west-1.
async fn seed(aws: &SdkConfig, account: &str) -> String {
    use aws_sdk_ec2::types::InstanceType;
    let east = aws_sdk_ec2::Client::new(&in_account(aws, account, "us-east-1").await);
    let run = east
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::M6iLarge)
        .min_count(2)
        .max_count(2)
        .send()
        .await
        .expect("instances");
    let stopped = run.instances()[1].instance_id().expect("id").to_owned();
    east.stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .expect("stop");
    east.create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .send()
        .await
        .expect("volume");
    let west = aws_sdk_ec2::Client::new(&in_account(aws, account, "eu-west-1").await);
    west.run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("instance");
    west.allocate_address().send().await.expect("eip");
    aws_sdk_rds::Client::new(&in_account(aws, account, "us-east-1").await)
        .create_db_instance()
        .db_instance_identifier("orders")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .expect("database");
    let east_config = in_account(aws, account, "us-east-1").await;
    aws_sdk_kms::Client::new(&east_config)
        .create_key()
        .description("orders key")
        .send()
        .await
        .expect("key");
    shared::aws::secrets_manager(&east_config)
        .create_secret()
        .name("orders/db")
        .secret_string("hunter2-not-logged")
        .send()
        .await
        .expect("secret");
    shared::aws::dynamodb(&east_config)
        .create_table()
        .table_name("orders")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("table");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&east_config);
    logs.create_log_group()
        .log_group_name("/app/orders")
        .send()
        .await
        .expect("log group");
    let iam = aws_sdk_iam::Client::new(&east_config);
    iam.create_user()
        .user_name("deployer")
        .send()
        .await
        .expect("user");
    iam.create_access_key()
        .user_name("deployer")
        .send()
        .await
        .expect("access key");
    let role = iam
        .create_role()
        .role_name("orders-fn")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .expect("role");
    aws_sdk_lambda::Client::new(&east_config)
        .create_function()
        .function_name("orders-api")
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(role.role().map(|r| r.arn()).expect("role arn"))
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(
                    validator::testzip::build(
                        &[validator::testzip::Spec::stored("bootstrap", b"#!/bin/sh")],
                        &Default::default(),
                    ),
                ))
                .build(),
        )
        .send()
        .await
        .expect("function");
    let subnets: Vec<String> = east
        .describe_subnets()
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_owned))
        .take(2)
        .collect();
    aws_sdk_elasticloadbalancingv2::Client::new(&east_config)
        .create_load_balancer()
        .name("orders-alb")
        .set_subnets(Some(subnets))
        .send()
        .await
        .expect("load balancer");
    stopped
}

async fn scan_done(api: &Api, bearer: &str, scan_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, scan) = api
            .call("GET", &format!("/v1/scans/{scan_id}"), Some(bearer), None)
            .await;
        assert_eq!(status, 200, "{scan}");
        if scan["finished_at"].is_string() {
            return scan;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "scan not done in 60 s: {scan}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn registered_account_is_scanned_across_regions_with_costs() {
    let (aws, template, stack) = support::stack("inv-scan").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let relays = devstack::relay::spawn_all(&stack, &aws).expect("relays");
    let password = support::user(&aws, &stack, "ops1", &[Role::Admin], &[]).await;
    let admin = api.bearer("ops1", &password).await;
    let account = account_id();
    let stopped = seed(&aws, &account).await;

    let body = json!({"name": "prod", "role_arn": role(&account), "external_id": "ext-123", "regions": ["us-east-1", "eu-west-1"]});
    let (status, test) = api
        .call(
            "POST",
            "/v1/accounts/test",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!((status, test["ok"].as_bool()), (200, Some(true)), "{test}");
    assert_eq!(test["account_id"], account.as_str());
    let regions: Vec<&str> = test["regions_available"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        regions.contains(&"eu-west-1")
            && !regions
                .iter()
                .any(|r| r.starts_with("cn-") || r.starts_with("us-gov-")),
        "{regions:?}"
    );
    let (status, registered) = api
        .call("POST", "/v1/accounts", Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(status, 201, "{registered}");
    assert!(registered.get("access_key_id").is_none());
    let (status, _) = api
        .call("POST", "/v1/accounts", Some(&admin), Some(body))
        .await;
    assert_eq!(status, 409);

    let (status, queued) = api
        .call(
            "POST",
            "/v1/scans",
            Some(&admin),
            Some(json!({"account_ids": [account]})),
        )
        .await;
    assert_eq!(
        (status, queued["status"].as_str()),
        (202, Some("queued")),
        "{queued}"
    );
    assert_eq!(queued["jobs"], 3, "two regions and the global job");
    let scan = scan_done(&api, &admin, queued["scan_id"].as_str().expect("id")).await;
    assert_eq!(scan["status"], "succeeded", "{scan}");
    assert_eq!(scan["trigger"], "api");

    // Its progress job by job: every job done, paged by a cursor of its own.
    let scan_id = queued["scan_id"].as_str().expect("id");
    let jobs = format!("/v1/scans/{scan_id}/jobs");
    let (status, first) = api
        .call("GET", &format!("{jobs}?limit=2"), Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = api
        .call(
            "GET",
            &format!("{jobs}?limit=2&cursor={cursor}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    let every: Vec<&Value> = first["items"]
        .as_array()
        .into_iter()
        .chain(second["items"].as_array())
        .flatten()
        .collect();
    let regions: Vec<&str> = every.iter().filter_map(|j| j["region"].as_str()).collect();
    assert_eq!(
        regions,
        ["eu-west-1", "global", "us-east-1"],
        "{first} {second}"
    );
    for job in every {
        assert_eq!(job["account_id"], account.as_str(), "{job}");
        assert_eq!(job["status"], "done", "{job}");
        assert!(job["status_at"].is_string(), "{job}");
    }
    let unknown = format!("/v1/scans/{}/jobs", uuid::Uuid::new_v4());
    let (status, body) = api.call("GET", &unknown, Some(&admin), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = api
        .call("GET", &format!("{jobs}?cursor=forged"), Some(&admin), None)
        .await;
    assert_eq!(status / 100, 4, "{body}");

    let store = shared::resources::ResourcesStore::new(
        shared::aws::dynamodb(&aws),
        stack.physical("InventoryTable").expect("table"),
    );
    let found = store
        .resources_of_account(&account)
        .await
        .expect("resources");
    let of = |kind: &str| {
        found
            .iter()
            .filter(|r| r.resource_type == kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("ec2:instance").len(), 3, "{found:#?}");
    let running = of("ec2:instance")
        .into_iter()
        .find(|r| r.region == "us-east-1" && r.state.as_deref() == Some("running"))
        .expect("running");
    assert!(
        (running.monthly_cost_usd - 70.08).abs() < 0.01,
        "m6i.large runs 730 h at $0.096: {}",
        running.monthly_cost_usd
    );
    let idle = found
        .iter()
        .find(|r| r.id == stopped)
        .expect("stopped instance");
    assert_eq!(
        (idle.state.as_deref(), idle.monthly_cost_usd),
        (Some("stopped"), 0.0),
        "a stopped instance costs no compute"
    );
    let volume = of("ec2:volume")
        .into_iter()
        .find(|v| v.properties["size_gib"] == 100.0)
        .expect("the 100 GiB volume");
    assert!(
        (volume.monthly_cost_usd - 8.0).abs() < 0.01,
        "{}",
        volume.monthly_cost_usd
    );
    assert_eq!(volume.state.as_deref(), Some("available"));
    let db = of("rds:db-instance");
    assert_eq!(db.len(), 1, "{found:#?}");
    assert_eq!(db[0].state.as_deref(), Some("available"));
    assert!(
        db[0].monthly_cost_usd > 12.4,
        "db.t3.micro 730 h plus 20 GiB: {}",
        db[0].monthly_cost_usd
    );
    let key = of("kms:key");
    assert_eq!((key.len(), key[0].monthly_cost_usd), (1, 1.0), "{key:?}");
    assert_eq!(key[0].properties["rotation_enabled"], false);
    let secret = of("secretsmanager:secret");
    assert_eq!(
        (secret.len(), secret[0].name.as_deref()),
        (1, Some("orders/db"))
    );
    assert!(
        !serde_json::to_string(&found)
            .expect("json")
            .contains("hunter2"),
        "a secret's value is never read"
    );
    let table = of("dynamodb:table");
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].properties["billing_mode"], "PAY_PER_REQUEST");
    let group = of("logs:log-group");
    assert_eq!(
        (group.len(), group[0].name.as_deref()),
        (1, Some("/app/orders")),
        "{group:?}"
    );
    assert!(!group[0].arn.ends_with(":*"));
    let user = of("iam:user");
    assert_eq!((user.len(), user[0].region.as_str()), (1, "global"));
    assert_eq!(user[0].properties["console_access"], false);
    assert_eq!(
        user[0].properties["access_keys"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        of("iam:role")
            .iter()
            .any(|r| r.name.as_deref() == Some("orders-fn"))
    );
    assert_eq!(of("lambda:function").len(), 1);
    let alb = of("elbv2:load-balancer");
    assert_eq!(alb.len(), 1);
    assert!((alb[0].monthly_cost_usd - 16.425).abs() < 0.01);
    let eip = of("ec2:elastic-ip");
    assert_eq!(eip.len(), 1);
    assert_eq!(
        (eip[0].region.as_str(), eip[0].state.as_deref()),
        ("eu-west-1", Some("unassociated"))
    );
    assert!(
        found.iter().all(
            |r| r.account_id == account && r.arn.contains(&account) || r.service == Service::S3
        )
    );
    for relay in relays {
        relay.abort();
    }
}

#[tokio::test]
async fn schedule_event_scans_every_account_and_redelivered_jobs_do_not_scan_twice() {
    let (aws, _template, stack) = support::stack("inv-schedule").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    for account in [account_id(), account_id()] {
        let registered = state
            .inventory
            .register_account(&registered(&account, &["us-east-1"]))
            .await
            .expect("store");
        assert!(registered);
    }
    let event: scanner::Trigger =
        serde_json::from_str(include_str!("../../../events/scanner-schedule.json"))
            .expect("schedule event");
    let scheduled = match event {
        scanner::Trigger::Schedule(_) => scanner::scheduled_scan(&state).await.expect("scan"),
        other => panic!("the sample is a schedule event, got {other:?}"),
    };
    assert_eq!(
        (scheduled.trigger, scheduled.jobs_total),
        (ScanTrigger::Schedule, 4),
        "two accounts, one region plus global each"
    );

    let jobs = aws_sdk_dynamodb::Client::new(&aws)
        .query()
        .table_name(stack.physical("ScanJobsTable").expect("jobs"))
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("SCAN#{}", scheduled.scan_id)),
        )
        .send()
        .await
        .expect("jobs");
    let job = shared::inventory::Job::from_item(&jobs.items()[0]).expect("a job");
    assert!(matches!(
        scanner::run_job(&state, &job).await.expect("ran"),
        scanner::JobOutcome::Ran { .. }
    ));
    assert_eq!(
        scanner::run_job(&state, &job).await.expect("ran"),
        scanner::JobOutcome::AlreadyClaimed
    );
    for item in &jobs.items()[1..] {
        scanner::run_job(
            &state,
            &shared::inventory::Job::from_item(item).expect("job"),
        )
        .await
        .expect("ran");
    }
    let scan = scan_of(&state, &scheduled.scan_id).await;
    assert_eq!(
        (scan.status, scan.jobs_done),
        (ScanStatus::Succeeded, 4),
        "{scan:?}"
    );
}

#[tokio::test]
async fn bad_account_input_is_422_and_only_admins_manage_accounts_and_scans() {
    let (aws, template, stack) = support::stack("inv-badrole").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let password = support::user(&aws, &stack, "ops2", &[Role::Admin], &[]).await;
    let admin = api.bearer("ops2", &password).await;
    for (body, field) in [
        (
            json!({"name": "x", "role_arn": "arn:aws:iam::123:role/x"}),
            "role_arn",
        ),
        (json!({"name": "x", "external_id": "abc"}), "external_id"),
        (
            json!({"name": "", "role_arn": role("111111111111")}),
            "name",
        ),
        (
            json!({"name": "x", "regions": ["mars-north-1x"]}),
            "regions",
        ),
        (
            json!({"name": "x", "access_key_id": "AKIA..."}),
            "access_key_id",
        ),
    ] {
        let (status, response) = api
            .call("POST", "/v1/accounts", Some(&admin), Some(body))
            .await;
        assert_eq!(status, 422, "{response}");
        assert_eq!(
            response["error"]["details"][0]["field"], field,
            "{response}"
        );
    }
    let reader_password = support::user(&aws, &stack, "viewer", &[Role::Reader], &[]).await;
    let reader = api.bearer("viewer", &reader_password).await;
    let (status, _) = api
        .call(
            "POST",
            "/v1/accounts",
            Some(&reader),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = api.call("POST", "/v1/scans", Some(&reader), None).await;
    assert_eq!(status, 403);
    let (status, body) = api
        .call(
            "POST",
            "/v1/scans",
            Some(&admin),
            Some(json!({"services": ["nope"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (422, Some("services"))
    );
    let (status, _) = api
        .call("GET", "/v1/scans/not-a-uuid", Some(&reader), None)
        .await;
    assert_eq!(status, 422);
    let (status, _) = api.call("GET", "/v1/scans", Some(&reader), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_failing_region_makes_the_scan_partial_and_marks_nothing_gone_there() {
    let (aws, _template, stack) = support::stack("inv-partial").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    let accounts = [registered(&account, &["us-east-1"])];
    seed(&aws, &account).await;
    // A resource remembered from an earlier scan in a region that now fails.
    let remembered = shared::resources::Resource {
        arn: format!("arn:aws:ec2:ap-nowhere-9:{account}:volume/vol-remembered"),
        id: "vol-remembered".into(),
        resource_type: "ec2:volume".into(),
        service: Service::Ec2,
        region: "ap-nowhere-9".into(),
        account_id: account.clone(),
        name: None,
        state: Some("available".into()),
        tags: Default::default(),
        created_at: None,
        monthly_cost_usd: 1.0,
        properties: json!({}),
        last_seen: "2026-11-01T00:00:00Z".into(),
    };
    state
        .resources
        .upsert(std::slice::from_ref(&remembered), "an-earlier-scan")
        .await
        .expect("store");

    let scan_id = uuid::Uuid::new_v4().to_string();
    let mut jobs = shared::inventory::plan_jobs(
        &scan_id,
        ScanTrigger::Api,
        &accounts,
        None,
        Some(&[Service::Ec2]),
    );
    let mut failing = jobs[0].clone();
    failing.region = "ap-nowhere-9".into();
    jobs.push(failing);
    state
        .inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await
        .expect("scan");
    for job in &jobs {
        scanner::run_job(&state, job)
            .await
            .expect("a failing region is not a failed invocation");
    }
    let scan = scan_of(&state, &scan_id).await;
    assert_eq!(scan.status, ScanStatus::Partial, "{scan:?}");
    assert_eq!(scan.errors.len(), 1, "{scan:?}");
    let error = &scan.errors[0];
    assert_eq!(
        (
            error.account_id.as_str(),
            error.region.as_str(),
            error.service
        ),
        (account.as_str(), "ap-nowhere-9", Service::Ec2)
    );
    assert!(!error.code.is_empty() && !error.message.is_empty());
    assert!(
        scan.counts.get(&Service::Ec2).is_some_and(|n| *n >= 3),
        "the healthy region was still scanned: {scan:?}"
    );
    let kept = state
        .resources
        .resource_by_arn(&remembered.arn, &[])
        .await
        .expect("store")
        .expect("still there");
    assert_eq!(
        kept.state.as_deref(),
        Some("available"),
        "a failed listing proves nothing: not gone"
    );
}

#[tokio::test]
async fn more_than_a_thousand_resources_are_listed_and_paged() {
    let (aws, template, stack) = support::stack("inv-many").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    let east = aws_sdk_ec2::Client::new(&in_account(&aws, &account, "us-east-1").await);
    for _ in 0..1_050 {
        east.create_volume()
            .availability_zone("us-east-1a")
            .size(1)
            .send()
            .await
            .expect("volume");
    }
    let accounts = [registered(&account, &["us-east-1"])];
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = shared::inventory::plan_jobs(
        &scan_id,
        ScanTrigger::Api,
        &accounts,
        None,
        Some(&[Service::Ec2]),
    );
    state
        .inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await
        .expect("scan");
    for job in &jobs {
        scanner::run_job(&state, job).await.expect("ran");
    }
    let password = support::user(&aws, &stack, "ops3", &[Role::Reader], &[]).await;
    let bearer = api.bearer("ops3", &password).await;
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => {
                format!("/v1/resources?account_id={account}&type=ec2:volume&limit=200&cursor={c}")
            }
            None => format!("/v1/resources?account_id={account}&type=ec2:volume&limit=200"),
        };
        let (status, page) = api.call("GET", &path, Some(&bearer), None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for item in page["items"].as_array().expect("items") {
            assert!(
                seen.insert(item["arn"].as_str().expect("arn").to_owned()),
                "no resource twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1_050);
    assert!(pages >= 6, "{pages} pages of at most 200");
}

/// A scan as stored now.
async fn scan_of(state: &scanner::State, scan_id: &str) -> shared::inventory::Scan {
    JobRuns::scan(&state.inventory, scan_id)
        .await
        .expect("store")
        .expect("scan")
}

/// The scan-jobs table's stream records, as Lambda delivers them.
async fn job_records(aws: &SdkConfig, stack: &devstack::bootstrap::Stack) -> Vec<Value> {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let streams = aws_sdk_dynamodbstreams::Client::new(aws);
    let arn = stack.stream_subscriptions[0].stream_arn.clone();
    let description = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("stream");
    let mut records = Vec::new();
    for shard in description
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default()
    {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator");
        let out = streams
            .get_records()
            .shard_iterator(iterator.shard_iterator().unwrap_or_default())
            .send()
            .await
            .expect("records");
        records.extend(
            out.records()
                .iter()
                .map(|r| devstack::relay::lambda_record(r, &arn))
                .filter(|r| r["eventName"] == "INSERT"),
        );
    }
    records
}

#[tokio::test]
async fn a_stream_batch_runs_its_jobs_together_and_reports_failed_ones_by_sequence_number() {
    let (aws, _template, stack) = support::stack("inv-batch").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    seed(&aws, &account).await;
    state
        .inventory
        .register_account(&registered(&account, &["us-east-1", "eu-west-1"]))
        .await
        .expect("store");
    let scheduled = scanner::scheduled_scan(&state).await.expect("scan");
    let records = job_records(&aws, &stack).await;
    assert_eq!(records.len(), 3, "two regions and the global job");
    let batch: scanner::Trigger =
        serde_json::from_value(json!({ "Records": records })).expect("a stream batch");
    let event =
        || lambda_runtime::LambdaEvent::new(batch.clone(), lambda_runtime::Context::default());

    // A scanner that cannot reach the inventory table claims every job and
    // then fails it: each is given back and reported by its sequence number,
    // so Lambda retries from the first.
    let mut env = stack.environments["scanner"].clone();
    env.insert("INVENTORY_TABLE".into(), "no-such-table".into());
    let broken = scanner::State::new(&shared::Env::from_map(env), &aws).expect("state");
    let response = scanner::handle(event(), &broken)
        .await
        .expect("a batch response, not an error");
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect();
    let mut sequence_numbers: Vec<String> = records
        .iter()
        .map(|r| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .expect("seq")
                .to_owned()
        })
        .collect();
    failed.sort();
    sequence_numbers.sort();
    assert_eq!(failed, sequence_numbers);

    // The retry, to a working scanner, runs all three again and closes the scan.
    let response = scanner::handle(event(), &state).await.expect("ran");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let scan = scan_of(&state, &scheduled.scan_id).await;
    assert_eq!(
        (scan.status, scan.jobs_done),
        (ScanStatus::Succeeded, 3),
        "{scan:?}"
    );
    assert!(scan.counts.values().sum::<u64>() > 0, "{scan:?}");
}

#[tokio::test]
async fn thirty_jobs_finishing_at_once_are_all_counted_once_and_close_the_scan_once() {
    let (aws, _template, stack) = support::stack("inv-finish").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs: Vec<shared::inventory::Job> = (0..30)
        .map(|i| shared::inventory::Job {
            scan_id: scan_id.clone(),
            account_id: "123456789012".into(),
            region: format!("region-{i}"),
            role_arn: None,
            external_id: None,
            services: vec![Service::Ec2],
            trigger: ScanTrigger::Api,
        })
        .collect();
    state
        .inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await
        .expect("scan");
    let finished = futures::future::join_all(jobs.iter().enumerate().map(|(i, job)| {
        let state = &state;
        async move {
            let counts = std::collections::BTreeMap::from([(Service::Ec2, 2u64)]);
            let errors = if i == 7 {
                vec![shared::inventory::ScanError {
                    account_id: job.account_id.clone(),
                    region: job.region.clone(),
                    service: Service::Rds,
                    code: "AccessDenied".into(),
                    message: "not authorized".into(),
                }]
            } else {
                vec![]
            };
            state.inventory.finish_job(job, &counts, &errors).await
        }
    }))
    .await;
    let closed = finished
        .into_iter()
        .map(|r| r.expect("no job's update is lost to contention"))
        .filter(|scan| scan.as_ref().is_some_and(|s| s.finished_at.is_some()))
        .count();
    assert_eq!(closed, 1, "exactly one job closes the scan");
    // A job retried after it was counted (its run failed later) counts once.
    let counts = std::collections::BTreeMap::from([(Service::Ec2, 2u64)]);
    state
        .inventory
        .finish_job(&jobs[3], &counts, &[])
        .await
        .expect("a retried job is harmless");
    let scan = scan_of(&state, &scan_id).await;
    assert_eq!(
        (
            scan.status,
            scan.jobs_done,
            scan.counts.get(&Service::Ec2),
            scan.errors.len()
        ),
        (ScanStatus::Partial, 30, Some(&60), 1),
        "{scan:?}"
    );
}

/// Stands in for an IAM policy that denies EC2 in one region: those calls get
/// EC2's own refusal (403 `UnauthorizedOperation`, in EC2's XML); every other
/// call goes on to the emulator.
async fn denying_ec2_in(region: &'static str, emulator: String) -> String {
    use axum::response::IntoResponse;
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (client, emulator) = (client.clone(), emulator.clone());
        async move {
            let scope = format!("/{region}/ec2/aws4_request");
            let signed_for = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if signed_for.contains(&scope) {
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                    <Code>UnauthorizedOperation</Code>\
                    <Message>You are not authorized to perform this operation.</Message>\
                    </Error></Errors><RequestID>denied-by-test</RequestID></Response>";
                return (
                    axum::http::StatusCode::FORBIDDEN,
                    [("content-type", "text/xml;charset=UTF-8")],
                    body,
                )
                    .into_response();
            }
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut forward = client
                .request(parts.method, format!("{emulator}{path}"))
                .body(body);
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let Ok(answer) = forward.send().await else {
                return axum::http::StatusCode::BAD_GATEWAY.into_response();
            };
            let status = answer.status();
            let content_type = answer.headers().get("content-type").cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(content_type) = content_type {
                response.headers_mut().insert("content-type", content_type);
            }
            response
        }
    });
    support::serve_router(app).await
}

/// `aws` with every EC2 call in `region` refused as an IAM policy would
/// refuse it (through [`denying_ec2_in`]), and every other call answered.
async fn ec2_denied_in(aws: &SdkConfig, region: &'static str) -> SdkConfig {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("the emulator's endpoint");
    let proxy = denying_ec2_in(region, emulator).await;
    // The emulator's `AWS_ENDPOINT_URL` reaches clients through the config's
    // environment-backed service config, which outranks `endpoint_url`.
    #[derive(Debug)]
    struct NoEnvironment;
    impl aws_types::service_config::LoadServiceConfig for NoEnvironment {
        fn load_config(
            &self,
            _: aws_types::service_config::ServiceConfigKey<'_>,
        ) -> Option<String> {
            None
        }
    }
    aws.to_builder()
        .service_config(NoEnvironment)
        .endpoint_url(proxy)
        .build()
}

#[tokio::test]
async fn access_denied_to_one_service_in_one_region_fails_only_that_listing() {
    let (aws, _template, stack) = support::stack("inv-denied").await;
    let account = account_id();
    seed(&aws, &account).await;
    let accounts = [registered(&account, &["us-east-1", "eu-west-1"])];
    let services = [Service::Ec2, Service::Logs];
    let scan = async |state: &scanner::State| run_scan(state, &accounts, Some(&services)).await;
    let west_ec2 = async |state: &scanner::State| {
        let filters = Filters {
            account_id: Some(account.clone()),
            region: Some("eu-west-1".into()),
            service: Some(Service::Ec2),
            ..Default::default()
        };
        let (found, _) = state
            .resources
            .resources(&filters, 100, None)
            .await
            .expect("list");
        found
    };

    let allowed = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let first = scan(&allowed).await;
    assert_eq!(first.status, ScanStatus::Succeeded, "{first:?}");
    let before = west_ec2(&allowed).await;
    assert!(
        before.iter().any(|r| r.resource_type == "ec2:instance"),
        "{before:?}"
    );

    let denied_aws = ec2_denied_in(&aws, "eu-west-1").await;
    let denied = scanner::State::new(&stack.env("scanner"), &denied_aws).expect("scanner state");
    let second = scan(&denied).await;
    assert_eq!(second.status, ScanStatus::Partial, "{second:?}");
    assert_eq!(second.errors.len(), 1, "{second:?}");
    let error = &second.errors[0];
    assert_eq!(
        (
            error.account_id.as_str(),
            error.region.as_str(),
            error.service,
            error.code.as_str()
        ),
        (
            account.as_str(),
            "eu-west-1",
            Service::Ec2,
            "UnauthorizedOperation"
        )
    );
    assert!(
        second.counts.contains_key(&Service::Logs)
            && second.counts.get(&Service::Ec2).is_some_and(|n| *n > 0),
        "EC2 in us-east-1 and Logs everywhere were still listed: {second:?}"
    );
    let after = west_ec2(&allowed).await;
    assert_eq!(
        after
            .iter()
            .filter(|r| r.state.as_deref() == Some("gone"))
            .count(),
        0,
        "a denied listing proves nothing: {after:?}"
    );
    assert_eq!(after.len(), before.len());
}

/// The path of one resource: its ARN as one URL-encoded segment.
fn resource_path(api: &Api, arn: &str) -> String {
    let mut url = reqwest::Url::parse(&api.base).expect("base url");
    url.path_segments_mut()
        .expect("a base with a path")
        .extend(["v1", "resources", arn]);
    url.path().to_owned()
}

/// `n` EBS volumes of `account` in us-east-1, none named or tagged.
fn volumes(account: &str, n: usize) -> Vec<shared::resources::Resource> {
    (0..n)
        .map(|i| shared::resources::Resource {
            arn: format!("arn:aws:ec2:us-east-1:{account}:volume/vol-{i:05}"),
            id: format!("vol-{i:05}"),
            resource_type: "ec2:volume".into(),
            service: Service::Ec2,
            region: "us-east-1".into(),
            account_id: account.to_owned(),
            name: None,
            state: Some("available".into()),
            tags: Default::default(),
            created_at: None,
            monthly_cost_usd: 0.1,
            properties: json!({}),
            last_seen: "2026-11-26T00:00:00Z".into(),
        })
        .collect()
}

/// Follows `path`'s cursors to the end: every page's items, and how many pages.
async fn every_page(api: &Api, bearer: &str, path: &str) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = api.call("GET", &page_path, Some(bearer), None).await;
        assert_eq!(status, 200, "{page_path}: {page}");
        let found = page["items"].as_array().expect("items");
        sizes.push(found.len());
        items.extend(found.iter().cloned());
        assert!(sizes.len() <= 10, "the cursors of {path} never end");
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, sizes),
        }
    }
}

#[tokio::test]
async fn a_filter_that_matches_nothing_answers_a_partial_page_with_a_cursor_not_the_whole_table() {
    let (aws, template, stack) = support::stack("inv-bounded").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let scanner = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    let mut estate = volumes(&account, 1_100);
    estate[1_050].name = Some("needle".into());
    scanner
        .resources
        .upsert(&estate, "scan-1")
        .await
        .expect("batch put");
    let password = support::user(&aws, &stack, "reader1", &[Role::Reader], &[]).await;
    let bearer = api.bearer("reader1", &password).await;

    for path in [
        // The account's partition, a filter on it that matches nothing.
        format!("/v1/resources?account_id={account}&q=nothing-has-this"),
        // The type index, a tag nobody has.
        "/v1/resources?type=ec2:volume&tag=team:nobody&limit=200".to_owned(),
        // No indexed filter: the table itself.
        "/v1/resources?q=nothing-has-this".to_owned(),
    ] {
        let (status, first) = api.call("GET", &path, Some(&bearer), None).await;
        assert_eq!(status, 200, "{path}: {first}");
        assert_eq!(first["items"], json!([]), "{path}");
        assert!(
            first["next_cursor"].is_string(),
            "{path}: at most 1,000 items are evaluated, so the first page stops early: {first}"
        );
        let (items, sizes) = every_page(&api, &bearer, &path).await;
        assert!(items.is_empty(), "{path}: {items:?}");
        assert!(sizes.len() >= 2, "{path}: {sizes:?}");
    }

    // A filter that matches one item still finds it, on whichever page.
    let (items, _) = every_page(
        &api,
        &bearer,
        &format!("/v1/resources?account_id={account}&q=needle"),
    )
    .await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], "vol-01050");
    // An unfiltered listing still pages through everything, no item twice.
    let (items, sizes) = every_page(
        &api,
        &bearer,
        &format!("/v1/resources?account_id={account}&limit=200"),
    )
    .await;
    let arns: std::collections::HashSet<&str> =
        items.iter().filter_map(|i| i["arn"].as_str()).collect();
    assert_eq!((items.len(), arns.len()), (1_100, 1_100), "{sizes:?}");
}

#[tokio::test]
async fn over_long_arns_and_ids_are_422_with_the_contract_body_never_a_5xx() {
    let (aws, template, stack) = support::stack("inv-long").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let password = support::user(&aws, &stack, "ops5", &[Role::Admin], &[]).await;
    let admin = api.bearer("ops5", &password).await;
    let long_arn = format!("arn:aws:iam::123456789012:role/{}", "p".repeat(1_500));
    let long = "1".repeat(3_000);
    let mut refused = vec![
        ("GET", resource_path(&api, &long_arn), None, "arn"),
        (
            "GET",
            resource_path(&api, &format!("arn:aws:s3:::{}", "b".repeat(2_100))),
            None,
            "arn",
        ),
        (
            "GET",
            format!("/v1/resources?account_id={long}"),
            None,
            "account_id",
        ),
        (
            "GET",
            "/v1/resources?account_id=1234567890123".into(),
            None,
            "account_id",
        ),
        (
            "GET",
            "/v1/resources?account_id=not-an-account".into(),
            None,
            "account_id",
        ),
        (
            "GET",
            format!("/v1/resources?tag={}:v", "k".repeat(300)),
            None,
            "tag",
        ),
        (
            "GET",
            format!("/v1/resources?tag=k:{}", "v".repeat(300)),
            None,
            "tag",
        ),
        (
            "GET",
            format!("/v1/resources?region={long}"),
            None,
            "region",
        ),
        (
            "GET",
            format!("/v1/resources?type=ec2:{long}"),
            None,
            "type",
        ),
        (
            "GET",
            format!("/v1/resources?service={long}"),
            None,
            "service",
        ),
        ("GET", format!("/v1/resources?q={long}"), None, "q"),
        ("GET", format!("/v1/scans/{long}"), None, "scan_id"),
        (
            "GET",
            "/v1/scans/{A0000000-0000-4000-8000-000000000000}".into(),
            None,
            "scan_id",
        ),
        ("DELETE", format!("/v1/accounts/{long}"), None, "account_id"),
        (
            "POST",
            "/v1/scans".into(),
            Some(json!({"account_ids": [long]})),
            "account_ids",
        ),
    ];
    refused.push((
        "POST",
        "/v1/scans".into(),
        Some(json!({"regions": [long]})),
        "regions",
    ));
    for (method, path, body, field) in refused {
        let (status, response) = api.call(method, &path, Some(&admin), body).await;
        let shown: String = path.chars().take(80).collect();
        assert_eq!(status, 422, "{method} {shown}: {response}");
        assert_eq!(response["error"]["code"], "validation_failed", "{shown}");
        assert_eq!(
            response["error"]["details"][0]["field"], field,
            "{shown}: {response}"
        );
        assert!(response["request_id"].is_string(), "{response}");
        assert!(
            response.to_string().len() < 1_000,
            "the refusal does not echo the whole value back: {shown}"
        );
    }
    // The longest ARN the inventory keys is still looked up (and absent).
    let longest = format!(
        "arn:aws:iam::123456789012:role/{}",
        "p".repeat(shared::resources::MAX_ARN_BYTES - 31)
    );
    let (status, response) = api
        .call("GET", &resource_path(&api, &longest), Some(&admin), None)
        .await;
    assert_eq!(status, 404, "{response}");
}

/// What an SDK error's debug dump looks like, never fit for a client.
fn assert_no_sdk_debug_text(text: &str) {
    for marker in [
        "DispatchFailure",
        "SdkError",
        "ServiceError",
        "Some(",
        "{",
        "raw:",
    ] {
        assert!(!text.contains(marker), "{marker:?} in {text:?}");
    }
}

#[tokio::test]
async fn a_failed_connection_test_says_what_aws_said_and_no_sdk_debug_text() {
    let (aws, template, stack) = support::stack("inv-conn").await;
    // The backend's own account, where EC2 (DescribeRegions) is refused.
    let denied = ec2_denied_in(&aws, "us-east-1").await;
    let api = Api::new(support::serve(&denied, &template, &stack).await);
    let password = support::user(&aws, &stack, "ops6", &[Role::Admin], &[]).await;
    let admin = api.bearer("ops6", &password).await;

    let (status, test) = api
        .call(
            "POST",
            "/v1/accounts/test",
            Some(&admin),
            Some(json!({"name": "own"})),
        )
        .await;
    assert_eq!((status, test["ok"].as_bool()), (200, Some(false)), "{test}");
    let error = test["error"].as_str().expect("an error");
    assert!(
        error.contains("UnauthorizedOperation")
            && error.contains("You are not authorized to perform this operation."),
        "AWS's code and message: {error}"
    );
    assert_no_sdk_debug_text(error);

    let (status, refused) = api
        .call(
            "POST",
            "/v1/accounts",
            Some(&admin),
            Some(json!({"name": "own"})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let problem = refused["error"]["details"][0]["problem"]
        .as_str()
        .expect("a problem");
    assert!(problem.contains("UnauthorizedOperation"), "{problem}");
    assert_no_sdk_debug_text(problem);
}

#[tokio::test]
async fn a_failed_listing_is_reported_in_the_scan_with_aws_code_and_message_only() {
    let (aws, _template, stack) = support::stack("inv-scanerr").await;
    let denied = ec2_denied_in(&aws, "eu-west-1").await;
    let state = scanner::State::new(&stack.env("scanner"), &denied).expect("scanner state");
    let accounts = [registered(&account_id(), &["eu-west-1"])];
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = shared::inventory::plan_jobs(
        &scan_id,
        ScanTrigger::Api,
        &accounts,
        None,
        Some(&[Service::Ec2]),
    );
    state
        .inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await
        .expect("scan");
    for job in &jobs {
        scanner::run_job(&state, job).await.expect("ran");
    }
    let scan = scan_of(&state, &scan_id).await;
    assert_eq!(scan.status, ScanStatus::Partial, "{scan:?}");
    let error = &scan.errors[0];
    assert_eq!(error.code, "UnauthorizedOperation");
    assert_eq!(
        error.message,
        "UnauthorizedOperation: You are not authorized to perform this operation."
    );
    assert_no_sdk_debug_text(&error.message);
}

#[tokio::test]
async fn a_scan_of_a_china_account_builds_its_arns_in_the_aws_cn_partition() {
    let (aws, _template, stack) = support::stack("inv-cn").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    let role = format!("arn:aws-cn:iam::{account}:role/cloudkeep-readonly");
    let china = shared::aws::assume_role(&aws, &role, None, "seed")
        .await
        .expect("assume role")
        .to_builder()
        .region(aws_config::Region::new("cn-north-1"))
        .build();
    aws_sdk_ec2::Client::new(&china)
        .create_volume()
        .availability_zone("cn-north-1a")
        .size(1)
        .send()
        .await
        .expect("volume");
    let mut account_in_china = registered(&account, &["cn-north-1"]);
    account_in_china.role_arn = Some(role);
    let scan_id = uuid::Uuid::new_v4().to_string();
    let jobs = shared::inventory::plan_jobs(
        &scan_id,
        ScanTrigger::Api,
        &[account_in_china],
        None,
        Some(&[Service::Ec2]),
    );
    state
        .inventory
        .create_scan(&scan_id, ScanTrigger::Api, &jobs, shared::dynamo::now())
        .await
        .expect("scan");
    for job in &jobs {
        scanner::run_job(&state, job).await.expect("ran");
    }
    let inventory = inventory::State::new(&stack.env("inventory"), &aws).expect("inventory");
    let found = inventory
        .resources
        .resources_of_account(&account)
        .await
        .expect("resources");
    let volume = found
        .iter()
        .find(|r| r.resource_type == "ec2:volume")
        .unwrap_or_else(|| panic!("the volume: {found:?}"));
    assert!(
        volume
            .arn
            .starts_with(&format!("arn:aws-cn:ec2:cn-north-1:{account}:volume/")),
        "{}",
        volume.arn
    );
    assert!(
        found.iter().all(|r| r.arn.starts_with("arn:aws-cn:")),
        "{found:?}"
    );
}

#[tokio::test]
async fn an_item_that_does_not_decode_is_a_500_not_a_404_or_a_row_missing_from_a_page() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let (aws, template, stack) = support::stack("inv-corrupt").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let password = support::user(&aws, &stack, "reader2", &[Role::Reader], &[]).await;
    let bearer = api.bearer("reader2", &password).await;
    let table = stack.physical("InventoryTable").expect("table");
    let dynamodb = shared::aws::dynamodb(&aws);
    let scan_id = uuid::Uuid::new_v4().to_string();
    // A scan item without its status, as a bug or a hand edit might leave it.
    dynamodb
        .put_item()
        .table_name(table)
        .item("pk", A::S(format!("SCAN#{scan_id}")))
        .item("sk", A::S("META".into()))
        .item("gsi1pk", A::S("SCANS".into()))
        .item("gsi1sk", A::S(format!("2026-11-26T00:00:00Z#{scan_id}")))
        .item("scan_id", A::S(scan_id.clone()))
        .item("started_at", A::S("2026-11-26T00:00:00Z".into()))
        .send()
        .await
        .expect("put");
    let (status, body) = api
        .call("GET", &format!("/v1/scans/{scan_id}"), Some(&bearer), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("internal")),
        "{body}"
    );
    assert!(!body.to_string().contains("SCAN#"), "no internals: {body}");
    let (status, body) = api.call("GET", "/v1/scans", Some(&bearer), None).await;
    assert_eq!(status, 500, "never a page without the row: {body}");

    // A resource whose tags are not the JSON the scanner writes.
    let account = account_id();
    let mut item = volumes(&account, 1)[0].item("scan-1").expect("item");
    item.insert("tags".into(), A::S("not json".into()));
    let arn = item["arn"].as_s().expect("arn").clone();
    dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
    let (status, body) = api
        .call("GET", &resource_path(&api, &arn), Some(&bearer), None)
        .await;
    assert_eq!(status, 500, "{body}");
    let (status, body) = api
        .call(
            "GET",
            &format!("/v1/resources?account_id={account}"),
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 500, "{body}");
}
