//! Creates the stack's stateful resources in the emulator by reading
//! `template.yaml`: KMS keys and aliases, secrets, DynamoDB tables (keys,
//! GSIs, TTL, streams, SSE), buckets (encryption, versioning, CORS, lifecycle,
//! public-access block) — and wires the event sources the dev server delivers.
//!
//! There is no second, hand-written schema: change the template and the
//! local stack follows.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use serde_yaml::Value;

use crate::template::{Physical, Resolver, Resource, Template};

/// What identifies one local stack; several can share an emulator.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Stands in for `AWS::StackName`; prefixes every physical name.
    pub stack_name: String,
    pub region: String,
    /// moto's default account.
    pub account_id: String,
    /// Parameter values that override the template's defaults.
    pub parameters: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(stack_name: impl Into<String>) -> Self {
        Self {
            stack_name: stack_name.into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            parameters: BTreeMap::from([("SignupEnabled".to_owned(), "true".to_owned())]),
        }
    }
}

/// An S3 notification the dev server relays from a queue to a function.
#[derive(Debug, Clone)]
pub struct BucketSubscription {
    pub function: String,
    pub queue_url: String,
}

/// A DynamoDB stream the dev server relays to a function.
#[derive(Debug, Clone)]
pub struct StreamSubscription {
    pub function: String,
    pub stream_arn: String,
    /// `FilterCriteria` patterns; a record passes when any pattern matches.
    pub filters: Vec<serde_json::Value>,
    /// The most records one invocation gets (`BatchSize`; Lambda's default is 100).
    pub batch_size: usize,
}

/// The created stack: each function's resolved environment and event wiring.
#[derive(Debug, Clone)]
pub struct Stack {
    pub settings: Settings,
    pub resolver: Resolver,
    /// Function binary → its environment, as Lambda would set it.
    pub environments: HashMap<String, HashMap<String, String>>,
    pub bucket_subscriptions: Vec<BucketSubscription>,
    pub stream_subscriptions: Vec<StreamSubscription>,
}

impl Stack {
    pub fn env(&self, function: &str) -> shared::Env {
        shared::Env::from_map(self.environments.get(function).cloned().unwrap_or_default())
    }

    /// A resource's physical name (`Ref`).
    pub fn physical(&self, logical_id: &str) -> Option<&str> {
        self.resolver
            .physical
            .get(logical_id)
            .map(|p| p.reference.as_str())
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn seq_at<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    seq_at(v, key)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn int_at(v: &Value, key: &str) -> Option<i64> {
    v.get(key)
        .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))
}

fn bool_at(v: &Value, key: &str) -> Option<bool> {
    v.get(key)
        .and_then(|b| b.as_bool().or_else(|| b.as_str()?.parse().ok()))
}

/// Creates every stateful resource of `template` for `settings`. Idempotent:
/// resources that exist already are reused.
pub async fn bootstrap(aws: &SdkConfig, template: &Template, settings: &Settings) -> Result<Stack> {
    let mut parameters = template.parameters.clone();
    for (k, v) in &settings.parameters {
        parameters.insert(k.clone(), Some(v.clone()));
    }
    let mut resolver = Resolver::new(
        &settings.stack_name,
        &settings.region,
        &settings.account_id,
        parameters,
    );

    let kms = aws_sdk_kms::Client::new(aws);
    for key in template.resources_of("AWS::KMS::Key") {
        let physical = create_key(&kms, key, &settings.stack_name).await?;
        resolver.physical.insert(key.logical_id.clone(), physical);
    }
    for alias in template.resources_of("AWS::KMS::Alias") {
        let name = resolver.resolve(alias.properties.get("AliasName").unwrap_or(&Value::Null))?;
        let target =
            resolver.resolve(alias.properties.get("TargetKeyId").unwrap_or(&Value::Null))?;
        match kms
            .create_alias()
            .alias_name(&name)
            .target_key_id(&target)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) => {}
            Err(e) => {
                return Err(anyhow!(shared::aws::describe(&e)))
                    .context(format!("creating alias {name}"));
            }
        }
        resolver.physical.insert(
            alias.logical_id.clone(),
            Physical {
                reference: name,
                ..Default::default()
            },
        );
    }

    let secrets = shared::aws::secrets_manager(aws);
    for secret in template.resources_of("AWS::SecretsManager::Secret") {
        let physical = create_secret(&secrets, secret, &resolver, &settings.stack_name).await?;
        resolver
            .physical
            .insert(secret.logical_id.clone(), physical);
    }

    let dynamodb = shared::aws::dynamodb(aws);
    for table in template.resources_of("AWS::DynamoDB::Table") {
        let physical = create_table(&dynamodb, table, &resolver, &settings.stack_name).await?;
        resolver.physical.insert(table.logical_id.clone(), physical);
    }

    let s3 = shared::aws::s3(aws);
    for bucket in template.resources_of("AWS::S3::Bucket") {
        let physical = create_bucket(&s3, bucket, &resolver, settings).await?;
        resolver
            .physical
            .insert(bucket.logical_id.clone(), physical);
    }

    let environments = template
        .functions
        .iter()
        .map(|f| Ok((f.binary.clone(), resolver.environment(f)?)))
        .collect::<Result<HashMap<_, _>>>()?;

    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut bucket_subscriptions = Vec::new();
    let mut stream_subscriptions = Vec::new();
    for function in &template.functions {
        for (name, kind, props) in &function.events {
            match kind.as_str() {
                "S3" => {
                    let bucket = resolver.resolve(props.get("Bucket").unwrap_or(&Value::Null))?;
                    let queue_url = subscribe_bucket(
                        &s3,
                        &sqs,
                        &bucket,
                        props,
                        &format!("{}-{name}", settings.stack_name),
                    )
                    .await?;
                    bucket_subscriptions.push(BucketSubscription {
                        function: function.binary.clone(),
                        queue_url,
                    });
                }
                "DynamoDB" => {
                    let stream_arn =
                        resolver.resolve(props.get("Stream").unwrap_or(&Value::Null))?;
                    let filters = props
                        .get("FilterCriteria")
                        .map(|c| seq_at(c, "Filters"))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|f| serde_json::from_str(str_at(f, "Pattern")?).ok())
                        .collect();
                    let batch_size = props
                        .get("BatchSize")
                        .and_then(Value::as_u64)
                        .map_or(100, |n| n.max(1) as usize);
                    stream_subscriptions.push(StreamSubscription {
                        function: function.binary.clone(),
                        stream_arn,
                        filters,
                        batch_size,
                    });
                }
                _ => {}
            }
        }
    }

    Ok(Stack {
        settings: settings.clone(),
        resolver,
        environments,
        bucket_subscriptions,
        stream_subscriptions,
    })
}

async fn create_key(kms: &aws_sdk_kms::Client, key: &Resource, stack: &str) -> Result<Physical> {
    let description = format!("{stack} {}", key.logical_id);
    // Reuse a key made for this stack before (the dev server may restart on a live emulator).
    let mut existing = None;
    let mut pages = kms.list_keys().into_paginator().items().send();
    while let Some(k) = pages.next().await {
        let k = k.map_err(|e| anyhow!(shared::aws::describe(&e)))?;
        let Some(id) = k.key_id() else { continue };
        let meta = kms
            .describe_key()
            .key_id(id)
            .send()
            .await
            .map_err(|e| anyhow!(shared::aws::describe(&e)))?;
        if meta.key_metadata().and_then(|m| m.description()) == Some(description.as_str()) {
            existing = meta.key_metadata().cloned();
            break;
        }
    }
    let meta = match existing {
        Some(meta) => meta,
        None => kms
            .create_key()
            .description(&description)
            .send()
            .await
            .map_err(|e| anyhow!(shared::aws::describe(&e)))
            .context("creating KMS key")?
            .key_metadata()
            .cloned()
            .ok_or_else(|| anyhow!("CreateKey returned no metadata"))?,
    };
    let key_id = meta.key_id().to_owned();
    if bool_at(&key.properties, "EnableKeyRotation") == Some(true) {
        kms.enable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| anyhow!(shared::aws::describe(&e)))?;
    }
    let arn = meta.arn().unwrap_or_default().to_owned();
    Ok(Physical {
        reference: key_id.clone(),
        attributes: HashMap::from([("Arn".to_owned(), arn), ("KeyId".to_owned(), key_id)]),
    })
}

async fn create_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    secret: &Resource,
    resolver: &Resolver,
    stack: &str,
) -> Result<Physical> {
    let props = &secret.properties;
    let name = match props.get("Name") {
        Some(v) => resolver.resolve(v)?,
        None => format!("{stack}-{}", secret.logical_id),
    };
    if let Ok(found) = secrets.describe_secret().secret_id(&name).send().await {
        return Ok(secret_physical(found.arn().unwrap_or_default(), &name));
    }
    let value = match props.get("GenerateSecretString") {
        Some(generate) => {
            let length = int_at(generate, "PasswordLength").unwrap_or(32);
            let random = secrets
                .get_random_password()
                .password_length(length)
                .exclude_punctuation(bool_at(generate, "ExcludePunctuation").unwrap_or(false))
                .send()
                .await
                .map_err(|e| anyhow!(shared::aws::describe(&e)))?;
            random.random_password().unwrap_or_default().to_owned()
        }
        None => match props.get("SecretString") {
            Some(v) => resolver.resolve(v)?,
            None => bail!(
                "secret {} has neither SecretString nor GenerateSecretString",
                secret.logical_id
            ),
        },
    };
    let mut create = secrets.create_secret().name(&name).secret_string(value);
    if let Some(key) = props.get("KmsKeyId") {
        create = create.kms_key_id(resolver.resolve(key)?);
    }
    let created = create
        .send()
        .await
        .map_err(|e| anyhow!(shared::aws::describe(&e)))
        .with_context(|| format!("creating secret {name}"))?;
    Ok(secret_physical(created.arn().unwrap_or_default(), &name))
}

fn secret_physical(arn: &str, name: &str) -> Physical {
    Physical {
        reference: arn.to_owned(),
        attributes: HashMap::from([
            ("Id".to_owned(), arn.to_owned()),
            ("Name".to_owned(), name.to_owned()),
        ]),
    }
}

async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &Resource,
    resolver: &Resolver,
    stack: &str,
) -> Result<Physical> {
    use aws_sdk_dynamodb::types::*;
    let props = &table.properties;
    let name = match props.get("TableName") {
        Some(v) => resolver.resolve(v)?,
        None => format!("{stack}-{}", table.logical_id),
    };
    let key_schema = |v: &Value| -> Result<Vec<KeySchemaElement>> {
        seq_at(v, "KeySchema")
            .iter()
            .map(|k| {
                Ok(KeySchemaElement::builder()
                    .attribute_name(str_at(k, "AttributeName").unwrap_or_default())
                    .key_type(KeyType::from(str_at(k, "KeyType").unwrap_or_default()))
                    .build()?)
            })
            .collect()
    };
    let attributes = seq_at(props, "AttributeDefinitions")
        .iter()
        .map(|a| {
            Ok(AttributeDefinition::builder()
                .attribute_name(str_at(a, "AttributeName").unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(
                    str_at(a, "AttributeType").unwrap_or_default(),
                ))
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let indexes = seq_at(props, "GlobalSecondaryIndexes")
        .iter()
        .map(|g| {
            let projection = g.get("Projection").unwrap_or(&Value::Null);
            Ok(GlobalSecondaryIndex::builder()
                .index_name(str_at(g, "IndexName").unwrap_or_default())
                .set_key_schema(Some(key_schema(g)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            str_at(projection, "ProjectionType").unwrap_or("ALL"),
                        ))
                        .set_non_key_attributes(
                            Some(strings(projection, "NonKeyAttributes")).filter(|v| !v.is_empty()),
                        )
                        .build(),
                )
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut create = dynamodb
        .create_table()
        .table_name(&name)
        .set_key_schema(Some(key_schema(props)?))
        .set_attribute_definitions(Some(attributes))
        .set_global_secondary_indexes(Some(indexes).filter(|i| !i.is_empty()))
        .billing_mode(BillingMode::from(
            str_at(props, "BillingMode").unwrap_or("PAY_PER_REQUEST"),
        ));
    if let Some(stream) = props.get("StreamSpecification") {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(
                    str_at(stream, "StreamViewType").unwrap_or("NEW_IMAGE"),
                ))
                .build()?,
        );
    }
    if let Some(sse) = props.get("SSESpecification") {
        let mut spec =
            SseSpecification::builder().enabled(bool_at(sse, "SSEEnabled").unwrap_or(true));
        if let Some(kind) = str_at(sse, "SSEType") {
            spec = spec.sse_type(SseType::from(kind));
        }
        if let Some(key) = sse.get("KMSMasterKeyId") {
            spec = spec.kms_master_key_id(resolver.resolve(key)?);
        }
        create = create.sse_specification(spec.build());
    }
    let description = match create.send().await {
        Ok(out) => out.table_description().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            dynamodb
                .describe_table()
                .table_name(&name)
                .send()
                .await
                .map_err(|e| anyhow!(shared::aws::describe(&e)))?
                .table()
                .cloned()
        }
        Err(e) => {
            return Err(anyhow!(shared::aws::describe(&e)))
                .with_context(|| format!("creating table {name}"));
        }
    }
    .ok_or_else(|| anyhow!("no description of table {name}"))?;
    if let Some(ttl) = props
        .get("TimeToLiveSpecification")
        .filter(|t| bool_at(t, "Enabled") == Some(true))
    {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(str_at(ttl, "AttributeName").unwrap_or("ttl"))
            .enabled(true)
            .build()?;
        // Enabling TTL twice is a ValidationException in DynamoDB; only the first call matters.
        let _ = dynamodb
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(spec)
            .send()
            .await;
    }
    let mut attributes = HashMap::from([(
        "Arn".to_owned(),
        description.table_arn().unwrap_or_default().to_owned(),
    )]);
    if let Some(stream) = description.latest_stream_arn() {
        attributes.insert("StreamArn".to_owned(), stream.to_owned());
    }
    Ok(Physical {
        reference: name,
        attributes,
    })
}

async fn create_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &Resource,
    resolver: &Resolver,
    settings: &Settings,
) -> Result<Physical> {
    use aws_sdk_s3::types::*;
    let props = &bucket.properties;
    let name = match props.get("BucketName") {
        Some(v) => resolver.resolve(v)?,
        None => format!("{}-{}", settings.stack_name, bucket.logical_id).to_ascii_lowercase(),
    };
    let sdk = |e: &dyn std::error::Error| {
        anyhow!(shared::aws::describe(&e)).context(format!("configuring bucket {name}"))
    };
    match s3.create_bucket().bucket(&name).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) => {}
        Err(e) => return Err(sdk(&e)),
    }
    if let Some(block) = props.get("PublicAccessBlockConfiguration") {
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(bool_at(block, "BlockPublicAcls").unwrap_or(false))
            .block_public_policy(bool_at(block, "BlockPublicPolicy").unwrap_or(false))
            .ignore_public_acls(bool_at(block, "IgnorePublicAcls").unwrap_or(false))
            .restrict_public_buckets(bool_at(block, "RestrictPublicBuckets").unwrap_or(false))
            .build();
        s3.put_public_access_block()
            .bucket(&name)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| sdk(&e))?;
    }
    if str_at(
        props.get("VersioningConfiguration").unwrap_or(&Value::Null),
        "Status",
    ) == Some("Enabled")
    {
        s3.put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk(&e))?;
    }
    let encryption_rules = props
        .get("BucketEncryption")
        .map(|e| seq_at(e, "ServerSideEncryptionConfiguration"))
        .unwrap_or_default();
    if !encryption_rules.is_empty() {
        let rules = encryption_rules
            .iter()
            .map(|rule| {
                let default = rule
                    .get("ServerSideEncryptionByDefault")
                    .unwrap_or(&Value::Null);
                let mut by_default = ServerSideEncryptionByDefault::builder().sse_algorithm(
                    ServerSideEncryption::from(str_at(default, "SSEAlgorithm").unwrap_or("AES256")),
                );
                if let Some(key) = default.get("KMSMasterKeyID") {
                    by_default = by_default.kms_master_key_id(resolver.resolve(key)?);
                }
                Ok(ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default.build()?)
                    .set_bucket_key_enabled(bool_at(rule, "BucketKeyEnabled"))
                    .build())
            })
            .collect::<Result<Vec<_>>>()?;
        s3.put_bucket_encryption()
            .bucket(&name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| sdk(&e))?;
    }
    let cors_rules = props
        .get("CorsConfiguration")
        .map(|c| seq_at(c, "CorsRules"))
        .unwrap_or_default();
    if !cors_rules.is_empty() {
        let rules = cors_rules
            .iter()
            .map(|rule| {
                Ok(CorsRule::builder()
                    .set_id(str_at(rule, "Id").map(str::to_owned))
                    .set_allowed_methods(Some(strings(rule, "AllowedMethods")))
                    .set_allowed_origins(Some(strings(rule, "AllowedOrigins")))
                    .set_allowed_headers(Some(strings(rule, "AllowedHeaders")))
                    .set_expose_headers(Some(strings(rule, "ExposedHeaders")))
                    .set_max_age_seconds(int_at(rule, "MaxAge").map(|n| n as i32))
                    .build()?)
            })
            .collect::<Result<Vec<_>>>()?;
        s3.put_bucket_cors()
            .bucket(&name)
            .cors_configuration(
                CorsConfiguration::builder()
                    .set_cors_rules(Some(rules))
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| sdk(&e))?;
    }
    let lifecycle_rules = props
        .get("LifecycleConfiguration")
        .map(|c| seq_at(c, "Rules"))
        .unwrap_or_default();
    if !lifecycle_rules.is_empty() {
        let rules = lifecycle_rules
            .iter()
            .map(|rule| {
                let mut builder = LifecycleRule::builder()
                    .set_id(str_at(rule, "Id").map(str::to_owned))
                    .status(ExpirationStatus::from(
                        str_at(rule, "Status").unwrap_or("Enabled"),
                    ))
                    .filter(
                        LifecycleRuleFilter::builder()
                            .prefix(str_at(rule, "Prefix").unwrap_or_default())
                            .build(),
                    );
                if let Some(days) = rule
                    .get("AbortIncompleteMultipartUpload")
                    .and_then(|a| int_at(a, "DaysAfterInitiation"))
                {
                    builder = builder.abort_incomplete_multipart_upload(
                        AbortIncompleteMultipartUpload::builder()
                            .days_after_initiation(days as i32)
                            .build(),
                    );
                }
                if let Some(days) = rule
                    .get("NoncurrentVersionExpiration")
                    .and_then(|n| int_at(n, "NoncurrentDays"))
                {
                    builder = builder.noncurrent_version_expiration(
                        NoncurrentVersionExpiration::builder()
                            .noncurrent_days(days as i32)
                            .build(),
                    );
                }
                if let Some(days) = int_at(rule, "ExpirationInDays") {
                    builder = builder
                        .expiration(LifecycleExpiration::builder().days(days as i32).build());
                } else if bool_at(rule, "ExpiredObjectDeleteMarker") == Some(true) {
                    builder = builder.expiration(
                        LifecycleExpiration::builder()
                            .expired_object_delete_marker(true)
                            .build(),
                    );
                }
                Ok(builder.build()?)
            })
            .collect::<Result<Vec<_>>>()?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(&name)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| sdk(&e))?;
    }
    Ok(Physical {
        reference: name.clone(),
        attributes: HashMap::from([
            ("Arn".to_owned(), format!("arn:aws:s3:::{name}")),
            ("DomainName".to_owned(), format!("{name}.s3.amazonaws.com")),
        ]),
    })
}

/// Points the bucket's notifications (events and key filter of the SAM `S3`
/// event) at a queue the dev server polls, as Lambda's own S3 trigger would.
async fn subscribe_bucket(
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
    bucket: &str,
    props: &Value,
    queue_name: &str,
) -> Result<String> {
    use aws_sdk_s3::types::*;
    let queue_url = sqs
        .create_queue()
        .queue_name(queue_name)
        .send()
        .await
        .map_err(|e| anyhow!(shared::aws::describe(&e)))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow!(shared::aws::describe(&e)))?
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| anyhow!("queue {queue_name} has no ARN"))?;
    let events = match props.get("Events") {
        Some(Value::String(one)) => vec![Event::from(one.as_str())],
        Some(Value::Sequence(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(Event::from)
            .collect(),
        _ => vec![Event::from("s3:ObjectCreated:*")],
    };
    let rules = props
        .get("Filter")
        .and_then(|f| f.get("S3Key"))
        .map(|k| seq_at(k, "Rules"))
        .unwrap_or_default()
        .iter()
        .map(|r| {
            FilterRule::builder()
                .name(FilterRuleName::from(
                    str_at(r, "Name")
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .as_str(),
                ))
                .value(str_at(r, "Value").unwrap_or_default())
                .build()
        })
        .collect::<Vec<_>>();
    let queue = QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .set_events(Some(events))
        .filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build(),
        )
        .build()?;
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!(shared::aws::describe(&e)))
        .with_context(|| format!("subscribing bucket {bucket}"))?;
    Ok(queue_url)
}
