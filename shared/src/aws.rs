//! AWS client construction, once per cold start.
//!
//! `aws-config` already honours `AWS_ENDPOINT_URL` (the local emulator); the one
//! thing it cannot know is that S3 must then use path-style addressing, because
//! `bucket.127.0.0.1` does not resolve.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};

/// How long to wait for a TCP/TLS connection before giving up. AWS answers in
/// milliseconds; a dependency that does not connect in this time is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Loads the shared SDK configuration (region, credentials, endpoint) from the
/// environment, with bounded connect timeouts and standard retries.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// S3 client; path-style addressing whenever an explicit endpoint is set.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

pub fn secrets_manager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// A short, log-safe description of an SDK error: the error's own chain,
/// which names the operation and AWS's error code but never credentials.
pub fn describe<E: std::error::Error>(err: &E) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string()
}
