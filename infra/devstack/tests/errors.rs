//! A store failure keeps its kind all the way to the answer: throttled or
//! unreachable is `503 upstream_unavailable` (safe to retry), a request
//! DynamoDB refuses is our bug, `500 internal`; and what a client may read of
//! an AWS error is its code and message, never the SDK's debug dump.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::aws::FailureKind;
use shared::dynamo::{StoreError, Table};

/// A DynamoDB client whose endpoint nothing listens on.
async fn unreachable_dynamodb() -> aws_sdk_dynamodb::Client {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = listener.local_addr().expect("addr");
    drop(listener);
    // The client's own endpoint: it wins over AWS_ENDPOINT_URL in the environment.
    let config = aws_sdk_dynamodb::config::Builder::from(&support::emulator().await)
        .endpoint_url(format!("http://{dead}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test]
async fn an_unreachable_table_is_a_retryable_503() {
    let table = Table::new(unreachable_dynamodb().await, "anything");
    let err = table
        .get(AttributeValue::S("p".into()), AttributeValue::S("s".into()))
        .await
        .expect_err("nothing answers");
    assert_eq!(err.kind, FailureKind::Unavailable, "{err}");
    let api: shared::ApiError = err.into();
    assert_eq!(api.status(), 503);
    assert_eq!(api.code(), "upstream_unavailable");
}

/// An update DynamoDB refuses: `size` is a reserved word, used bare.
async fn refused_update(
    aws: &aws_config::SdkConfig,
    table: &str,
) -> shared::aws::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError> {
    shared::aws::dynamodb(aws)
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S("p".into()))
        .key("sk", AttributeValue::S("s".into()))
        .update_expression("SET size = :s")
        .expression_attribute_values(":s", AttributeValue::N("1".into()))
        .send()
        .await
        .expect_err("DynamoDB refuses a reserved word")
}

#[tokio::test]
async fn a_request_dynamodb_refuses_is_a_500_not_a_retryable_503() {
    let (aws, _template, stack) = support::stack("errkind").await;
    let err = refused_update(&aws, &stack.environments["packages"]["PACKAGES_TABLE"]).await;
    let store = StoreError::sdk("UpdateItem", &err);
    assert_eq!(store.kind, FailureKind::Bug, "{store}");
    let api: shared::ApiError = store.into();
    assert_eq!(api.status(), 500);
    assert_eq!(api.code(), "internal");
}

#[tokio::test]
async fn client_text_of_an_aws_error_is_its_code_and_message_only() {
    let (aws, _template, stack) = support::stack("errtext").await;
    let err = refused_update(&aws, &stack.environments["packages"]["PACKAGES_TABLE"]).await;
    let text = shared::aws::client_text(&err);
    assert!(text.starts_with("ValidationException: "), "{text}");
    for debug in [
        "ServiceError",
        "SdkError",
        "raw:",
        "Some(",
        "{",
        "HttpResponse",
    ] {
        assert!(!text.contains(debug), "{debug:?} in {text:?}");
    }
    // The log line, by contrast, keeps the detail.
    assert!(shared::aws::describe(&err).contains("ValidationException"));
}
