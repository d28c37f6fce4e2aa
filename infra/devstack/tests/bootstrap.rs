//! The emulator, bootstrapped from `template.yaml`, holds what the template
//! declares — and the events the functions subscribe to reach them.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

#[tokio::test]
async fn tables_come_from_the_template_with_their_indexes_ttl_and_stream() {
    let (aws, _template, stack) = support::stack("tables").await;
    let dynamodb = shared::aws::dynamodb(&aws);
    for (logical, gsis, ttl, stream) in [
        ("UsersTable", 1, true, false),
        ("PackagesTable", 1, true, false),
        ("InventoryTable", 3, true, false),
        ("ScanJobsTable", 0, true, true),
        ("AuditTable", 1, true, false),
    ] {
        let name = stack.physical(logical).expect("table created");
        let table = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .expect("describe")
            .table
            .expect("table");
        assert_eq!(
            table.global_secondary_indexes().len(),
            gsis,
            "{logical} GSIs"
        );
        assert_eq!(
            table.latest_stream_arn().is_some(),
            stream,
            "{logical} stream"
        );
        let ttl_status = dynamodb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .expect("ttl");
        let enabled = ttl_status
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status())
            .is_some_and(|s| s.as_str() == "ENABLED");
        assert_eq!(enabled, ttl, "{logical} TTL");
    }
}

#[tokio::test]
async fn bucket_has_the_template_cors_lifecycle_versioning_and_encryption() {
    let (aws, _template, stack) = support::stack("bucket").await;
    let s3 = shared::aws::s3(&aws);
    let bucket = stack.physical("PackageBucket").expect("bucket created");
    assert!(
        bucket.starts_with(&stack.settings.stack_name)
            && bucket.ends_with("-123456789012-us-east-1")
    );
    let cors = s3
        .get_bucket_cors()
        .bucket(bucket)
        .send()
        .await
        .expect("cors");
    let rule = &cors.cors_rules()[0];
    assert!(rule.allowed_methods().contains(&"PUT".to_owned()));
    assert!(rule.expose_headers().contains(&"ETag".to_owned()));
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("lifecycle");
    assert!(
        lifecycle.rules().iter().any(|r| r
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation())
            == Some(1)),
        "incomplete multipart uploads are aborted after a day"
    );
    let versioning = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    for body in ["one", "two"] {
        s3.put_object()
            .bucket(bucket)
            .key("reports/v.txt")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put");
    }
    let versions = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix("reports/v.txt")
        .send()
        .await
        .expect("versions");
    assert_eq!(
        versions.versions().len(),
        2,
        "the bucket keeps object versions"
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .expect("encryption");
    let by_default = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .expect("default encryption");
    assert_eq!(by_default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(
        by_default.kms_master_key_id(),
        stack.resolver.physical["CloudkeepKey"]
            .attributes
            .get("Arn")
            .map(String::as_str)
    );
}

#[tokio::test]
async fn signing_secret_is_generated_and_encrypted_with_the_project_key() {
    let (aws, _template, stack) = support::stack("secret").await;
    let secrets = shared::aws::secrets_manager(&aws);
    let arn = &stack.environments["auth"]["SIGNING_SECRET_ARN"];
    let value = secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("secret");
    let key = value.secret_string().expect("string secret");
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    let described = secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("describe");
    assert!(described.kms_key_id().is_some());
}

#[tokio::test]
async fn bootstrap_is_idempotent() {
    let (aws, template, stack) = support::stack("twice").await;
    let again = devstack::bootstrap::bootstrap(&aws, &template, &stack.settings)
        .await
        .expect("second bootstrap");
    assert_eq!(again.environments, stack.environments);
}

#[tokio::test]
async fn every_function_environment_resolves_and_builds_its_state() {
    let (aws, _template, stack) = support::stack("envs").await;
    assert_eq!(stack.environments.len(), 7);
    devstack::gateway::function_routers(&stack, &aws).expect("HTTP functions build");
    validator::State::new(&stack.env("validator"), &aws).expect("validator builds");
    scanner::State::new(&stack.env("scanner"), &aws).expect("scanner builds");
    assert_eq!(
        stack.environments["packages"]["PACKAGE_BUCKET"],
        stack.physical("PackageBucket").unwrap_or_default()
    );
    assert_eq!(
        stack.environments["auth"]["SIGNUP_ENABLED"], "true",
        "sign-up is on in the local stack"
    );
}

#[tokio::test]
async fn package_object_created_reaches_the_validator_queue_as_an_s3_event() {
    let (aws, _template, stack) = support::stack("s3event").await;
    let s3 = shared::aws::s3(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let bucket = stack.physical("PackageBucket").expect("bucket");
    let sub = &stack.bucket_subscriptions[0];
    assert_eq!(sub.function, "validator");
    for key in [
        "packages/demo/1.0.0/demo-1.0.0.zip",
        "reports/r.csv",
        "packages/demo/notes.txt",
    ] {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(b"PK".to_vec().into())
            .send()
            .await
            .expect("put");
    }
    let mut keys = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(&sub.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("JSON");
            if body.get("Records").is_some() {
                let event: aws_lambda_events::event::s3::S3Event =
                    serde_json::from_value(devstack::relay::complete_s3_event(body))
                        .expect("an S3 event");
                let objects = validator::uploaded_objects(&event, bucket);
                keys.extend(objects.into_iter().map(|o| o.key));
            }
        }
    }
    assert_eq!(
        keys,
        vec!["packages/demo/1.0.0/demo-1.0.0.zip"],
        "only packages/*.zip is delivered"
    );
}

#[tokio::test]
async fn inserted_scan_job_reaches_the_scanner_as_a_stream_record() {
    let (aws, _template, stack) = support::stack("stream").await;
    let dynamodb = shared::aws::dynamodb(&aws);
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws);
    let sub = &stack.stream_subscriptions[0];
    assert_eq!(sub.function, "scanner");
    let table = stack.physical("ScanJobsTable").expect("table");
    dynamodb
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("SCAN#1".into()))
        .item("sk", AttributeValue::S("JOB#123456789012#us-east-1".into()))
        .item(
            "services",
            AttributeValue::L(vec![AttributeValue::S("ec2".into())]),
        )
        .send()
        .await
        .expect("put job");
    dynamodb
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S("SCAN#1".into()))
        .key("sk", AttributeValue::S("JOB#123456789012#us-east-1".into()))
        .update_expression("SET claimed = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .expect("update job");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shards = streams
        .describe_stream()
        .stream_arn(&sub.stream_arn)
        .send()
        .await
        .expect("describe stream");
    let shard = shards
        .stream_description()
        .and_then(|d| d.shards().first())
        .and_then(|s| s.shard_id())
        .expect("shard");
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&sub.stream_arn)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator");
    let records = streams
        .get_records()
        .shard_iterator(iterator.shard_iterator().expect("it"))
        .send()
        .await
        .expect("records");
    let delivered: Vec<_> = records
        .records()
        .iter()
        .map(|r| devstack::relay::lambda_record(r, &sub.stream_arn))
        .filter(|r| devstack::relay::passes(&sub.filters, r))
        .collect();
    assert_eq!(
        delivered.len(),
        1,
        "the INSERT passes the template's filter, the MODIFY does not"
    );
    let trigger: scanner::Trigger =
        serde_json::from_value(serde_json::json!({ "Records": delivered }))
            .expect("the scanner's event type");
    match trigger {
        scanner::Trigger::Jobs(batch) => {
            assert_eq!(batch.records[0].event_name, "INSERT");
            let image =
                serde_json::to_value(&batch.records[0].change.new_image).expect("image serialises");
            assert!(
                image.to_string().contains("ec2"),
                "the new image carries the job: {image}"
            );
        }
        other => panic!("expected stream records, got {other:?}"),
    }
}
