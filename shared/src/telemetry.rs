//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch as they are.
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by `LoggingConfig` in
//! `template.yaml`) or `RUST_LOG`, as a plain level name; default `info`.
//! Even at `trace`, the crates below never log above `debug`: at `trace` they
//! print whole payloads we must never log.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Crates whose `trace` level prints payloads, each capped at `debug`:
/// - `lambda_runtime` logs every raw event ("raw JSON event received from
///   Lambda"), so a login's password or a refresh token in a request body;
/// - `lambda_http` and `lambda_runtime_api_client`, the same events on their way;
/// - the AWS SDK's orchestrator logs each request and response ("transmitting
///   request", "read HTTP response body"): secret values, items, credentials;
/// - `aws_sigv4` logs the requests it signs, session tokens included.
const PAYLOAD_LOGGERS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_http",
    "aws_sigv4",
    "aws_config",
    "hyper",
    "hyper_util",
];

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// [`init`], writing somewhere else (tests read what would be logged).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    // `try_init` so a test or the dev server that already installed one keeps it.
    let _ = subscriber(level_from_env(), writer).try_init();
}

/// The level the environment asks for; `info` when it names none.
pub fn level_from_env() -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .and_then(|raw| raw.trim().to_ascii_lowercase().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// The subscriber of [`init`] at `level`, not yet installed.
pub fn subscriber<W>(level: LevelFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let capped = level.min(LevelFilter::DEBUG);
    let filter = PAYLOAD_LOGGERS
        .iter()
        .fold(Targets::new().with_default(level), |targets, name| {
            targets.with_target(*name, capped)
        });
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(true)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(filter)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged_at(level: LevelFilter, emit: impl FnOnce()) -> String {
        let capture = Capture::default();
        tracing::subscriber::with_default(subscriber(level, capture.clone()), emit);
        let bytes = capture.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn trace_logging_never_prints_a_raw_lambda_event() {
        let logs = logged_at(LevelFilter::TRACE, || {
            // What lambda_runtime 1.x logs for every invocation at TRACE.
            tracing::trace!(
                target: "lambda_runtime::layers::api_response",
                body = r#"{"body":"{\"password\":\"hunter2-secret\"}"}"#,
                "raw JSON event received from Lambda"
            );
            tracing::trace!(
                target: "aws_smithy_runtime::client::orchestrator",
                response = "SecretString=signing-key-secret",
                "received response from service"
            );
            tracing::trace!(target: "auth::tokens", "our own trace line");
        });
        assert!(!logs.contains("hunter2-secret"), "{logs}");
        assert!(!logs.contains("signing-key-secret"), "{logs}");
        assert!(logs.contains("our own trace line"), "trace is on: {logs}");
    }

    #[test]
    fn debug_lines_of_the_runtime_still_show_at_debug() {
        let logs = logged_at(LevelFilter::DEBUG, || {
            tracing::debug!(target: "lambda_runtime::runtime", "invocation started");
            tracing::trace!(target: "auth", "not at debug");
        });
        assert!(logs.contains("invocation started"), "{logs}");
        assert!(!logs.contains("not at debug"), "{logs}");
    }
}
