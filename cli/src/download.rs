//! `cloudkeep download`: a presigned GET streamed to a partial file beside
//! the target, resumed with `Range` after an interruption, hashed as it
//! arrives, and moved into place only when its size and SHA-256 match.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::client::{Api, backoff, segment};
use crate::error::{CliError, Exit, Result};
use crate::output::{Output, Style, bytes};
use crate::transfer::{self, Rate};

const ATTEMPTS: u32 = 6;

pub struct Download {
    pub package: String,
    pub output: Option<PathBuf>,
    pub force: bool,
    pub max_rate: Option<u64>,
}

/// `NAME` or `NAME@VERSION`.
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once('@') {
        Some((name, version)) if !version.is_empty() => (name, Some(version)),
        _ => (spec.trim_end_matches('@'), None),
    }
}

/// The highest SemVer among the package's published versions.
pub async fn latest(api: &Api, name: &str) -> Result<String> {
    let package = api.get(&format!("/v1/packages/{}", segment(name))).await?;
    package["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["status"] == "published")
        .filter_map(|v| semver::Version::parse(v["version"].as_str()?).ok())
        .max()
        .map(|v| v.to_string())
        .ok_or_else(|| CliError::new(Exit::NotFound, format!("{name} has no published version")))
}

pub async fn run(api: &Api, out: &Output, args: Download) -> Result<Value> {
    let (name, version) = split_spec(&args.package);
    let version = match version {
        Some(v) => v.to_owned(),
        None => latest(api, name).await?,
    };
    let id = format!("{name}@{version}");
    let route = format!(
        "/v1/packages/{}/versions/{}/download",
        segment(name),
        segment(&version)
    );
    let mut grant = api.get(&route).await?;
    if grant["yanked"] == true {
        out.warn(&format!(
            "{id} is yanked: {}",
            grant["yank_reason"].as_str().unwrap_or("no reason given")
        ));
    }
    let (Some(sha256), Some(size)) = (
        grant["sha256"].as_str().map(str::to_owned),
        grant["size"].as_u64(),
    ) else {
        return Err(CliError::unexpected(
            "the download's answer has no sha256 or size",
        ));
    };
    let target = target(args.output.as_deref(), name, &version);
    if target.exists() && !args.force {
        return Err(CliError::new(
            Exit::Conflict,
            format!("{} exists: pass --force to overwrite it", target.display()),
        ));
    }
    let file_name = target
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy().into_owned());
    let partial = target.with_file_name(format!(
        ".{file_name}.{}.partial",
        &sha256[..16.min(sha256.len())]
    ));

    let bar = transfer::bar(out, size, "download");
    let mut have = std::fs::metadata(&partial).map_or(0, |m| m.len());
    if have > size {
        have = 0;
    }
    // What is already on disk counts toward the digest: hash it first.
    let (mut hasher, _) = transfer::sha256_file(&partial, Some(have), &bar)
        .await
        .or_else(|_| Ok::<_, CliError>((sha2::Sha256::new(), 0)))?;
    bar.reset_eta();
    if have > 0 {
        out.note(&format!(
            "resuming {id}: {} of {} already here",
            bytes(have),
            bytes(size)
        ));
    }
    let rate = Rate::new(args.max_rate);
    let mut attempt = 1;
    while have < size {
        let url = grant["url"].as_str().unwrap_or_default().to_owned();
        match fetch(api, &url, &partial, &mut have, &mut hasher, &bar, &rate).await {
            Ok(()) => {}
            Err(Fetch::Restart) => {
                have = 0;
                hasher = sha2::Sha256::new();
                bar.set_position(0);
            }
            Err(Fetch::Expired) if attempt < ATTEMPTS => grant = api.get(&route).await?,
            Err(Fetch::Retry(_)) if attempt < ATTEMPTS => backoff(attempt).await,
            Err(Fetch::Fatal(e)) => return Err(e),
            Err(Fetch::Retry(cause)) => {
                return Err(CliError::new(
                    Exit::Unavailable,
                    format!("{cause}, {ATTEMPTS} times: run the same command again to resume"),
                ));
            }
            Err(Fetch::Expired) => {
                return Err(CliError::new(
                    Exit::Unavailable,
                    "the download URL kept being refused",
                ));
            }
        }
        attempt += 1;
    }
    bar.finish_and_clear();
    let digest = transfer::hex(&hasher.finalize());
    if have != size || digest != sha256 {
        crate::config::remove(&partial)?;
        return Err(CliError::new(
            Exit::Unverified,
            format!(
                "{id} did not verify: {have} bytes with SHA-256 {digest}, expected {size} bytes with {sha256}; nothing was kept"
            ),
        ));
    }
    std::fs::rename(&partial, &target).map_err(|e| CliError::io("write", &target, &e))?;
    out.line(&format!(
        "{} {id} to {} ({}, sha256 verified)",
        out.paint("downloaded", Style::Good),
        target.display(),
        bytes(size)
    ));
    Ok(json!({
        "package": name,
        "version": version,
        "path": target,
        "size": size,
        "sha256": sha256,
        "verified": true,
        "yanked": grant["yanked"] == true,
    }))
}

/// `-o PATH` (a directory gets the default name inside it), or `./NAME-VERSION.zip`.
fn target(output: Option<&Path>, name: &str, version: &str) -> PathBuf {
    let default = format!("{name}-{version}.zip");
    match output {
        Some(path) if path.is_dir() => path.join(default),
        Some(path) => path.to_owned(),
        None => PathBuf::from(default),
    }
}

enum Fetch {
    /// The server sent the whole object: start over.
    Restart,
    /// The URL was refused (it lapses after 15 minutes): ask for another.
    Expired,
    Retry(String),
    Fatal(CliError),
}

/// Appends the bytes from `have` on to `partial`, hashing them.
async fn fetch(
    api: &Api,
    url: &str,
    partial: &Path,
    have: &mut u64,
    hasher: &mut sha2::Sha256,
    bar: &indicatif::ProgressBar,
    rate: &Rate,
) -> Result<(), Fetch> {
    let mut request = api.http.get(url);
    if *have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let response = request
        .send()
        .await
        .map_err(|e| Fetch::Retry(CliError::network("the bucket", e).message))?;
    match response.status().as_u16() {
        206 => {}
        200 if *have == 0 => {}
        200 => return Err(Fetch::Restart),
        403 => return Err(Fetch::Expired),
        404 => {
            return Err(Fetch::Fatal(CliError::new(
                Exit::NotFound,
                "the bucket no longer holds this version",
            )));
        }
        416 => return Err(Fetch::Restart),
        status => return Err(Fetch::Retry(format!("the bucket answered {status}"))),
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(*have == 0)
        .append(*have > 0)
        .open(partial)
        .await
        .map_err(|e| Fetch::Fatal(CliError::io("write", partial, &e)))?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Fetch::Retry(CliError::network("the bucket", e).message))?;
        rate.take(chunk.len()).await;
        file.write_all(&chunk)
            .await
            .map_err(|e| Fetch::Fatal(CliError::io("write", partial, &e)))?;
        hasher.update(&chunk);
        *have += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    file.flush()
        .await
        .map_err(|e| Fetch::Fatal(CliError::io("write", partial, &e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_spec;

    #[test]
    fn a_spec_splits_at_its_last_at_sign() {
        assert_eq!(split_spec("tool"), ("tool", None));
        assert_eq!(split_spec("tool@1.0.0"), ("tool", Some("1.0.0")));
        assert_eq!(split_spec("tool@"), ("tool", None));
    }
}
