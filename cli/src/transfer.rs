//! What publishing and downloading share: the progress bar, the optional
//! rate limit, and SHA-256 over a file in one streaming pass.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::error::{CliError, Result};
use crate::output::Output;

/// The read size of every pass over a file, and the chunk a part streams in.
pub const CHUNK: usize = 1 << 20;

/// One bar for a whole transfer: bytes, rate and ETA, on stderr, only at a terminal.
pub fn bar(out: &Output, total: u64, what: &str) -> ProgressBar {
    if !out.progress() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// A spinner while something runs on the server (validation, a scan).
pub fn spinner(out: &Output, what: &str) -> ProgressBar {
    if !out.progress() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    spinner.set_message(what.to_owned());
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// A cap on bytes per second shared by every part in flight (`--max-rate`).
#[derive(Clone)]
pub struct Rate {
    limit: Option<u64>,
    sent: Arc<Mutex<(Instant, u64)>>,
}

impl Rate {
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit: limit.filter(|l| *l > 0),
            sent: Arc::new(Mutex::new((Instant::now(), 0))),
        }
    }

    /// Counts `n` bytes and waits until they fit under the limit.
    pub async fn take(&self, n: usize) {
        let Some(limit) = self.limit else { return };
        let due = {
            let mut sent = self.sent.lock().await;
            sent.1 += n as u64;
            sent.0 + Duration::from_secs_f64(sent.1 as f64 / limit as f64)
        };
        tokio::time::sleep_until(due.into()).await;
    }
}

/// SHA-256 of `path`'s first `len` bytes (or all of it), in hex, reading it once.
pub async fn sha256_file(
    path: &Path,
    len: Option<u64>,
    bar: &ProgressBar,
) -> Result<(Sha256, u64)> {
    let owned: PathBuf = path.to_owned();
    let bar = bar.clone();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&owned).map_err(|e| CliError::io("open", &owned, &e))?;
        let mut reader = file.take(len.unwrap_or(u64::MAX));
        let mut hasher = Sha256::new();
        let mut buf = vec![0; CHUNK];
        let mut total = 0;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| CliError::io("read", &owned, &e))?;
            if n == 0 {
                return Ok((hasher, total));
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            bar.inc(n as u64);
        }
    })
    .await
    .map_err(|e| CliError::unexpected(format!("hashing stopped: {e}")))?
}

pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
