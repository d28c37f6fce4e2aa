//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch as they are.
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by `LoggingConfig` in
//! `template.yaml`) or `RUST_LOG`, as a plain level name; default `info`.

use tracing::level_filters::LevelFilter;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// [`init`], writing somewhere else (tests read what would be logged).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .and_then(|raw| raw.trim().to_ascii_lowercase().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    // `try_init` so a test or the dev server that already installed one keeps it.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(true)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
}
