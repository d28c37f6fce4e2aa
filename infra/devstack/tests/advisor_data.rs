//! The RDS, S3, DynamoDB, CloudWatch Logs, KMS and Secrets Manager checks
//! against a real scan: for each check, a resource that fails it and one
//! that passes, seeded in the emulator in an account of its own, listed by
//! the scanner through the real SDK, read back from the inventory and
//! evaluated by the advisor. (`rds.instance_idle` needs CloudWatch metrics
//! and is not shown here.)
//!
//! What moto cannot show: it never records a secret's LastAccessedDate
//! (ListSecrets always leaves it out, GetSecretValue or not), and its
//! secrets are created now. So `secretsmanager.unused` is seen passing for
//! both young secrets, and its failing side is evaluated a further 91 days
//! on (`unused_for`) on what the scan read; the side of a secret read since
//! is evaluated there with a read the emulator cannot record.

mod support;

use aws_config::SdkConfig;
use shared::inventory::Service;
use shared::resources::Resource;

use support::advisor::{has, named, raised, resources, scan};
use support::{account_id, in_account};

/// What `check` says of the resource named `name`; panics if it passes.
fn detail(found: &[Resource], check: &str, name: &str) -> String {
    shared::advisor::evaluate(found)
        .into_iter()
        .find(|r| {
            r.check.id == check && r.resource.name.as_deref().unwrap_or(&r.resource.id) == name
        })
        .map(|r| r.failure.detail)
        .unwrap_or_else(|| panic!("{check} is raised on {name}"))
}

/// A scanner for a fresh stack, and a fresh account seeded in us-east-1.
async fn fresh(hint: &str) -> (SdkConfig, scanner::State, String, SdkConfig) {
    let (aws, _template, stack) = support::stack(hint).await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    (aws, state, account, config)
}

#[tokio::test]
async fn rds_checks_fail_the_exposed_old_database_and_public_snapshot_and_pass_the_hardened_ones() {
    use aws_sdk_rds::types::Tag;
    let (_aws, state, account, config) = fresh("adv-rds").await;
    let rds = aws_sdk_rds::Client::new(&config);
    let prod = Tag::builder()
        .key("Environment")
        .value("production")
        .build();
    // (name, version, public, encrypted, backup days, deletion protection, multi-AZ)
    for (name, version, public, encrypted, backups, protected, multi_az) in [
        ("weak-db", "11.22", true, false, 3, false, false),
        ("strong-db", "16.3", false, true, 7, true, true),
    ] {
        rds.create_db_instance()
            .db_instance_identifier(name)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .engine_version(version)
            .allocated_storage(20)
            .master_username("app")
            .master_user_password("Not-a-real-password-1")
            .publicly_accessible(public)
            .storage_encrypted(encrypted)
            .backup_retention_period(backups)
            .deletion_protection(protected)
            .multi_az(multi_az)
            .tags(prod.clone())
            .send()
            .await
            .expect("db instance");
    }
    for snapshot in ["public-snap", "private-snap"] {
        rds.create_db_snapshot()
            .db_instance_identifier("strong-db")
            .db_snapshot_identifier(snapshot)
            .send()
            .await
            .expect("snapshot");
    }
    rds.modify_db_snapshot_attribute()
        .db_snapshot_identifier("public-snap")
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await
        .expect("share with all");

    scan(&state, &[&account], &[Service::Rds]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    for check in [
        "rds.instance_publicly_accessible",
        "rds.storage_unencrypted",
        "rds.backup_retention_short",
        "rds.production_single_az",
        "rds.deletion_protection_off",
        "rds.engine_end_of_standard_support",
    ] {
        assert!(has(&now, check, "weak-db"), "{check}: {now:?}");
        assert!(!has(&now, check, "strong-db"), "{check}: {now:?}");
    }
    assert!(has(&now, "rds.snapshot_public", "public-snap"), "{now:?}");
    assert!(!has(&now, "rds.snapshot_public", "private-snap"), "{now:?}");

    let backups = detail(&found, "rds.backup_retention_short", "weak-db");
    assert!(backups.contains("3 days"), "{backups}");
    let engine = detail(&found, "rds.engine_end_of_standard_support", "weak-db");
    assert!(engine.contains("2024-02-29"), "{engine}");
    let private = named(&found, "rds:db-snapshot", "private-snap");
    assert_eq!(private.properties["public"], false, "{private:?}");
}

#[tokio::test]
async fn s3_checks_fail_the_open_bucket_and_pass_the_locked_down_one() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
        LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, PublicAccessBlockConfiguration,
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule, VersioningConfiguration,
    };
    let (_aws, state, account, config) = fresh("adv-s3").await;
    let s3 = shared::aws::s3(&config);
    // Bucket names are global: these carry the account id.
    let (open, locked) = (format!("open-{account}"), format!("locked-{account}"));
    for bucket in [&open, &locked] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket");
    }
    let public_read = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{open}/*"}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&open)
        .policy(public_read)
        .send()
        .await
        .expect("public policy");

    let tls_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{locked}","arn:aws:s3:::{locked}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&locked)
        .policy(tls_only)
        .send()
        .await
        .expect("tls policy");
    s3.put_public_access_block()
        .bucket(&locked)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("public access block");
    s3.put_bucket_encryption()
        .bucket(&locked)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .expect("default"),
                        )
                        .build(),
                )
                .build()
                .expect("encryption"),
        )
        .send()
        .await
        .expect("encryption");
    s3.put_bucket_versioning()
        .bucket(&locked)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    s3.put_bucket_lifecycle_configuration()
        .bucket(&locked)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("expire-old")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .expiration(LifecycleExpiration::builder().days(365).build())
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("lifecycle"),
        )
        .send()
        .await
        .expect("lifecycle");

    scan(&state, &[&account], &[Service::S3]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    for check in [
        "s3.public_access_block_off",
        "s3.default_encryption_missing",
        "s3.versioning_off",
        "s3.no_lifecycle_rule",
        "s3.policy_public",
        "s3.tls_not_enforced",
    ] {
        assert!(has(&now, check, &open), "{check}: {now:?}");
        assert!(!has(&now, check, &locked), "{check}: {now:?}");
    }
    let public = detail(&found, "s3.policy_public", &open);
    assert!(
        public.contains("\"PublicRead\"") && public.contains("s3:GetObject"),
        "{public}"
    );
    let tls = detail(&found, "s3.tls_not_enforced", &open);
    assert!(tls.contains("no statement denying"), "{tls}");
    let locked_down = named(&found, "s3:bucket", &locked);
    assert_eq!(
        (
            &locked_down.properties["encryption"],
            locked_down.region.as_str()
        ),
        (&serde_json::json!("AES256"), "us-east-1")
    );
}

#[tokio::test]
async fn dynamodb_checks_fail_the_bare_table_and_pass_the_protected_one() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType,
        PointInTimeRecoverySpecification, ScalarAttributeType,
    };
    let (_aws, state, account, config) = fresh("adv-ddb").await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    for (table, protected) in [("bare", false), ("protected", true)] {
        dynamodb
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .deletion_protection_enabled(protected)
            .send()
            .await
            .expect("table");
    }
    dynamodb
        .update_continuous_backups()
        .table_name("protected")
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .expect("pitr"),
        )
        .send()
        .await
        .expect("pitr on");

    scan(&state, &[&account], &[Service::Dynamodb]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    for check in ["dynamodb.pitr_off", "dynamodb.deletion_protection_off"] {
        assert!(has(&now, check, "bare"), "{check}: {now:?}");
        assert!(!has(&now, check, "protected"), "{check}: {now:?}");
    }
    let protected = named(&found, "dynamodb:table", "protected");
    assert_eq!(
        (
            &protected.properties["point_in_time_recovery"],
            &protected.properties["deletion_protection"]
        ),
        (&serde_json::json!(true), &serde_json::json!(true))
    );
}

#[tokio::test]
async fn logs_check_fails_the_group_kept_forever_and_passes_the_one_with_a_retention() {
    let (_aws, state, account, config) = fresh("adv-logs").await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    for group in ["/app/forever", "/app/monthly"] {
        logs.create_log_group()
            .log_group_name(group)
            .send()
            .await
            .expect("log group");
    }
    logs.put_retention_policy()
        .log_group_name("/app/monthly")
        .retention_in_days(30)
        .send()
        .await
        .expect("retention");

    scan(&state, &[&account], &[Service::Logs]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    assert!(
        has(&now, "logs.retention_never_expires", "/app/forever"),
        "{now:?}"
    );
    assert!(
        !has(&now, "logs.retention_never_expires", "/app/monthly"),
        "{now:?}"
    );
    assert_eq!(
        named(&found, "logs:log-group", "/app/monthly").properties["retention_days"],
        30
    );
}

#[tokio::test]
async fn kms_checks_fail_the_unrotated_and_doomed_keys_and_pass_the_rotating_one() {
    let (_aws, state, account, config) = fresh("adv-kms").await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key = async |description: &str| {
        let created = kms
            .create_key()
            .description(description)
            .send()
            .await
            .expect("key");
        created
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .expect("key id")
    };
    let rotating = key("rotating").await;
    key("unrotated").await;
    let doomed = key("doomed").await;
    kms.enable_key_rotation()
        .key_id(&rotating)
        .send()
        .await
        .expect("rotation");
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");

    scan(&state, &[&account], &[Service::Kms]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    assert!(has(&now, "kms.key_rotation_off", "unrotated"), "{now:?}");
    assert!(!has(&now, "kms.key_rotation_off", "rotating"), "{now:?}");
    // A key pending deletion cannot rotate: it is not judged on rotation.
    assert!(!has(&now, "kms.key_rotation_off", "doomed"), "{now:?}");
    assert!(has(&now, "kms.key_pending_deletion", "doomed"), "{now:?}");
    for kept in ["rotating", "unrotated"] {
        assert!(!has(&now, "kms.key_pending_deletion", kept), "{now:?}");
    }
    let pending = detail(&found, "kms.key_pending_deletion", "doomed");
    assert!(pending.contains("will be deleted on "), "{pending}");
    let doomed = named(&found, "kms:key", "doomed");
    assert_eq!(
        (doomed.state.as_deref(), doomed.monthly_cost_usd),
        (Some("PendingDeletion"), 0.0)
    );
}

#[tokio::test]
async fn secretsmanager_checks_fail_the_unrotated_and_unread_secret_and_pass_the_rotating_one() {
    use aws_sdk_secretsmanager::types::RotationRulesType;
    use shared::advisor::secretsmanager::unused_for;
    let (_aws, state, account, config) = fresh("adv-secrets").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    for name in ["app/static", "app/rotating"] {
        secrets
            .create_secret()
            .name(name)
            .secret_string("not-a-real-secret")
            .send()
            .await
            .expect("secret");
    }
    secrets
        .rotate_secret()
        .secret_id("app/rotating")
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .expect("rotation");
    secrets
        .get_secret_value()
        .secret_id("app/rotating")
        .send()
        .await
        .expect("a read");

    scan(&state, &[&account], &[Service::Secretsmanager]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    assert!(
        has(&now, "secretsmanager.rotation_off", "app/static"),
        "{now:?}"
    );
    assert!(
        !has(&now, "secretsmanager.rotation_off", "app/rotating"),
        "{now:?}"
    );
    // Both were made just now: neither is unused yet.
    for name in ["app/static", "app/rotating"] {
        assert!(!has(&now, "secretsmanager.unused", name), "{now:?}");
    }

    // 91 days on, the secret never read is unused; one read the day
    // before is not (moto records no reads: that read is supplied here).
    let later = shared::dynamo::now() + 91 * 86_400;
    let unread = named(&found, "secretsmanager:secret", "app/static");
    let created = unread.created_at.as_deref();
    assert!(created.is_some(), "{unread:?}");
    let last_read = unread.properties["last_accessed"].as_str();
    let why = unused_for(last_read, created, later).expect("unused 91 days on");
    assert!(why.contains("91 days"), "{why}");
    let read = named(&found, "secretsmanager:secret", "app/rotating");
    let yesterday = shared::dynamo::rfc3339(later - 86_400);
    assert_eq!(
        unused_for(Some(&yesterday), read.created_at.as_deref(), later),
        None
    );
}
