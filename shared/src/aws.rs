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

/// A presigned `GET` of `key`, valid `ttl`, that downloads as an attachment
/// named `file_name` (plain ASCII, no quotes), with `content_type` if given.
/// A bearer credential: never log it.
pub async fn presigned_download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    ttl: Duration,
    file_name: &str,
    content_type: Option<&str>,
) -> Result<String, crate::ApiError> {
    let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)
        .map_err(crate::ApiError::internal)?;
    let request = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .response_content_disposition(format!("attachment; filename=\"{file_name}\""))
        .set_response_content_type(content_type.map(str::to_owned))
        .presigned(config)
        .await
        .map_err(crate::ApiError::internal)?;
    Ok(request.uri().to_owned())
}

pub fn secrets_manager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// A short, log-safe description of an SDK error: the error's own chain,
/// which names the operation and AWS's error code but never credentials.
/// For logs only: it carries the SDK's debug detail, so a client never sees it
/// (use [`client_text`]).
pub fn describe<E: std::error::Error>(err: &E) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string()
}

/// The SDK's error of one call, whichever service made it.
pub type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<
    E,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

pub use aws_sdk_dynamodb::error::ProvideErrorMetadata;

/// Why an AWS call failed, as far as the answer to the client is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttled, timed out, unreachable or failing on AWS's side: the same
    /// request may succeed later (`503 upstream_unavailable`).
    Unavailable,
    /// AWS refused what we sent (a validation error, a missing table, a denied
    /// permission) or answered something we cannot read: our bug, which a
    /// retry will not fix (`500 internal`).
    Bug,
}

/// Error codes AWS uses for "slow down" or "try again", across services.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "LimitExceededException",
    "TransactionConflictException",
    "InternalServerError",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Classifies one SDK failure: see [`FailureKind`].
pub fn failure_kind<E: ProvideErrorMetadata>(err: &SdkError<E>) -> FailureKind {
    use aws_smithy_runtime_api::client::result::SdkError as E0;
    match err {
        E0::TimeoutError(_) | E0::DispatchFailure(_) => FailureKind::Unavailable,
        E0::ResponseError(r) if r.raw().status().is_server_error() => FailureKind::Unavailable,
        E0::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            if RETRYABLE_CODES.contains(&code) || s.raw().status().is_server_error() {
                FailureKind::Unavailable
            } else {
                FailureKind::Bug
            }
        }
        _ => FailureKind::Bug,
    }
}

/// The only part of an AWS error fit for a client's eyes: AWS's own code and
/// message (`AccessDenied: User ... is not authorized`), never the SDK's debug
/// dump of the request. A failure with no service answer is named by its kind.
pub fn client_text<E: ProvideErrorMetadata>(err: &SdkError<E>) -> String {
    use aws_smithy_runtime_api::client::result::SdkError as E0;
    match err {
        E0::ServiceError(s) => {
            let e = s.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => format!("AWS answered HTTP {}", s.raw().status().as_u16()),
            }
        }
        E0::TimeoutError(_) => "the AWS call timed out".to_owned(),
        E0::DispatchFailure(_) => "AWS could not be reached".to_owned(),
        E0::ResponseError(_) => "AWS answered something unreadable".to_owned(),
        _ => "the AWS request could not be built".to_owned(),
    }
}

/// An error of an AWS call, or of building one, that knows its [`FailureKind`].
pub trait AwsFailure: std::error::Error + 'static {
    fn kind(&self) -> FailureKind;
}

impl<E: ProvideErrorMetadata + std::error::Error + 'static> AwsFailure for SdkError<E> {
    fn kind(&self) -> FailureKind {
        failure_kind(self)
    }
}

/// A request the SDK could not build (a missing required field): our bug.
impl AwsFailure for aws_sdk_dynamodb::error::BuildError {
    fn kind(&self) -> FailureKind {
        FailureKind::Bug
    }
}

/// An AWS failure at the HTTP edge: logged with the SDK's full detail, answered
/// `503` when a retry may help and `500` when it is our bug.
pub fn api_error(operation: &'static str, err: &impl AwsFailure) -> crate::ApiError {
    crate::dynamo::StoreError::sdk(operation, err).into()
}

/// Why a role could not be assumed, in words a person can act on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AssumeError(pub String);

/// The SDK configuration of another account: `role_arn` assumed (with the
/// customer's external id, AWS's confused-deputy guard) for an hour at most.
pub async fn assume_role(
    config: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
) -> Result<SdkConfig, AssumeError> {
    let sts = aws_sdk_sts::Client::new(config);
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .set_external_id(external_id.map(str::to_owned))
        .duration_seconds(3600)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %describe(&e), "AssumeRole failed");
            let code = e.as_service_error().and_then(|s| aws_sdk_sts::error::ProvideErrorMetadata::code(s)).unwrap_or("");
            AssumeError(match code {
                "AccessDenied" => format!(
                    "AWS refused to let cloudkeep assume {role_arn}: the role's trust policy must name cloudkeep's \
                     scanner role, and require exactly this external id"
                ),
                "ValidationError" | "MalformedPolicyDocument" => format!("{role_arn} is not a role AWS accepts: {}", client_text(&e)),
                "RegionDisabledException" => "STS is not enabled in this region for that account".to_owned(),
                _ => format!("assuming {role_arn} failed: {}", client_text(&e)),
            })
        })?;
    let creds = out
        .credentials()
        .ok_or_else(|| AssumeError("AssumeRole returned no credentials".into()))?;
    let expiry = std::time::SystemTime::try_from(*creds.expiration()).ok();
    let credentials = aws_sdk_sts::config::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        expiry,
        "cloudkeep-assume-role",
    );
    Ok(config
        .to_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build())
}

/// `config` with at most `max` AWS requests in flight at once, across every
/// client made from it: a Lambda process has 1,024 file descriptors, and a
/// scan's jobs, services and per-resource calls multiply. Further requests
/// wait for a slot; a slot is held until the response's head arrives.
pub fn bounded(config: &SdkConfig, max: usize) -> SdkConfig {
    let Some(inner) = config.http_client() else {
        return config.clone();
    };
    config
        .to_builder()
        .http_client(bounded::Bounded {
            inner,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(max)),
        })
        .build()
}

mod bounded {
    use std::sync::Arc;

    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use tokio::sync::Semaphore;

    #[derive(Debug, Clone)]
    pub(super) struct Bounded {
        pub(super) inner: SharedHttpClient,
        pub(super) slots: Arc<Semaphore>,
    }

    impl HttpClient for Bounded {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(Connector {
                inner: self.inner.http_connector(settings, components),
                slots: self.slots.clone(),
            })
        }

        fn connector_metadata(
            &self,
        ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
            self.inner.connector_metadata()
        }
    }

    #[derive(Debug)]
    struct Connector {
        inner: SharedHttpConnector,
        slots: Arc<Semaphore>,
    }

    impl HttpConnector for Connector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let (inner, slots) = (self.inner.clone(), self.slots.clone());
            HttpConnectorFuture::new(async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .map_err(|e| ConnectorError::other(e.into(), None))?;
                inner.call(request).await
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use super::*;

        /// Answers every call after a moment, noting how many were open at once.
        #[derive(Debug, Default)]
        struct Slow {
            open: AtomicUsize,
            most: AtomicUsize,
        }

        #[derive(Debug)]
        struct SlowConnector(Arc<Slow>);

        impl HttpConnector for SlowConnector {
            fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
                let slow = self.0.clone();
                HttpConnectorFuture::new(async move {
                    let open = slow.open.fetch_add(1, Ordering::SeqCst) + 1;
                    slow.most.fetch_max(open, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    slow.open.fetch_sub(1, Ordering::SeqCst);
                    Err(ConnectorError::other(
                        "no network in this test".into(),
                        None,
                    ))
                })
            }
        }

        #[tokio::test]
        async fn no_more_than_the_bound_are_in_flight_however_many_are_sent() {
            let slow = Arc::new(Slow::default());
            let connector = Connector {
                inner: SharedHttpConnector::new(SlowConnector(slow.clone())),
                slots: Arc::new(Semaphore::new(3)),
            };
            let calls = (0..40).map(|_| connector.call(HttpRequest::empty()));
            let answered = futures::future::join_all(calls).await;
            assert_eq!(answered.len(), 40);
            assert_eq!(slow.most.load(Ordering::SeqCst), 3);
        }
    }
}
