//! `cloudkeep publish`: the presigned multipart protocol made invisible.
//!
//! One streaming SHA-256 pass, then the upload is created and its session
//! recorded in the config directory; parts stream from the file to their
//! presigned URLs, `--jobs` at a time, each retried with backoff and re-signed
//! when its URL is refused. Running the same command again after a crash, a
//! Ctrl-C or a lost network asks the API which parts the bucket already has
//! and sends only the others. Memory stays at `--jobs` chunks of 4 MiB,
//! whatever the file's size; nothing is copied to disk.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Mutex;

use crate::client::{Api, backoff, segment};
use crate::error::{CliError, Exit, Result};
use crate::output::{Output, Style, bytes};
use crate::transfer::{self, Rate};
use crate::{config, manifest};

/// A part streams from the file in reads of this size: large enough that the
/// bucket receives full socket buffers (64 KiB reads cost the emulator 30 %
/// more time, 4 MiB ones 10 % less than 1 MiB), small enough that 8 parts in
/// flight hold 64 MiB at most.
const PART_CHUNK: usize = 4 << 20;
/// Tries of one part before the publish gives up (and may be resumed).
const PART_ATTEMPTS: u32 = 6;
/// A part URL is re-signed before it is this old (the API signs them for an hour).
const URL_LIFE: Duration = Duration::from_secs(50 * 60);
/// The most part numbers one re-sign request may carry.
const SIGN_BATCH: usize = 1_000;

pub struct Publish {
    pub file: PathBuf,
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub sensitive: bool,
    pub groups: Vec<String>,
    pub jobs: usize,
    pub part_size: Option<u64>,
    pub max_rate: Option<u64>,
    pub wait: bool,
    pub wait_timeout: Duration,
}

/// What is kept between runs to resume one publish.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    upload_id: String,
    name: String,
    version: String,
    file: PathBuf,
    size: u64,
    sha256: String,
    part_size: u64,
    part_count: u32,
}

pub async fn run(api: &Api, out: &Output, args: Publish) -> Result<Value> {
    let file =
        std::fs::canonicalize(&args.file).map_err(|e| CliError::io("open", &args.file, &e))?;
    let meta = std::fs::metadata(&file).map_err(|e| CliError::io("open", &file, &e))?;
    if !meta.is_file() {
        return Err(CliError::bad_input(format!(
            "{} is not a file",
            file.display()
        )));
    }
    let size = meta.len();
    if size == 0 {
        return Err(CliError::bad_input(format!("{} is empty", file.display())));
    }
    let (name, version, description) = identity(&file, &args)?;
    let session_path = session_path(api, &name, &version, &file, &meta)?;

    let session = match resumable(api, out, &session_path).await? {
        Some(Resume::Uploading(session, done)) => Some((session, done)),
        Some(Resume::Completed(session)) => {
            out.note(&format!(
                "{name}@{version} was already sent; waiting for its validation"
            ));
            config::remove(&session_path)?;
            return finish(api, out, &args, &session, Counts::default()).await;
        }
        None => None,
    };
    let (session, done, urls) = match session {
        Some((session, done)) => (session, done, HashMap::new()),
        None => {
            let (session, urls) =
                create(api, out, &args, &file, size, &name, &version, description).await?;
            config::write_private(&session_path, &session)?;
            (session, BTreeMap::new(), urls)
        }
    };

    let counts = send_parts(api, out, &args, &session, done, urls).await?;
    let parts: Vec<Value> = counts
        .etags
        .iter()
        .map(|(n, etag)| json!({"part_number": n, "etag": etag}))
        .collect();
    api.post(
        &format!("/v1/uploads/{}/complete", segment(&session.upload_id)),
        &json!({"parts": parts}),
    )
    .await?;
    config::remove(&session_path)?;
    finish(api, out, &args, &session, counts).await
}

/// The name and version: the flags, else the ZIP's `package.json`; a flag
/// that contradicts the manifest is refused now rather than by the validator.
fn identity(file: &Path, args: &Publish) -> Result<(String, String, Option<String>)> {
    let manifest = manifest::read(file)?;
    let pick = |flag: &Option<String>, from: Option<&String>, what: &str| match (flag, from) {
        (Some(flag), Some(declared)) if flag != declared => Err(CliError::bad_input(format!(
            "--{what} {flag} contradicts the {what} {declared} in {}'s package.json",
            file.display()
        ))),
        (Some(flag), _) => Ok(flag.clone()),
        (None, Some(declared)) => Ok(declared.clone()),
        (None, None) => Err(CliError::bad_input(format!(
            "{} has no package.json to read its {what} from: pass --{what}",
            file.display()
        ))),
    };
    let name = pick(&args.name, manifest.as_ref().map(|m| &m.name), "name")?;
    let version = pick(
        &args.version,
        manifest.as_ref().map(|m| &m.version),
        "version",
    )?;
    let description = args
        .description
        .clone()
        .or_else(|| manifest.and_then(|m| m.description));
    Ok((name, version, description))
}

/// One session file per endpoint, package version and file (path, size and
/// modification time): a changed file starts a new upload.
fn session_path(
    api: &Api,
    name: &str,
    version: &str,
    file: &Path,
    meta: &std::fs::Metadata,
) -> Result<PathBuf> {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = Sha256::digest(
        format!(
            "{}\n{name}\n{version}\n{}\n{}\n{modified}",
            api.endpoint,
            file.display(),
            meta.len()
        )
        .as_bytes(),
    );
    Ok(config::dir()?
        .join("uploads")
        .join(format!("{}.json", &transfer::hex(&key)[..32])))
}

enum Resume {
    /// Still open: the parts the bucket holds, by number, with their ETags.
    Uploading(Session, BTreeMap<u32, String>),
    /// Completed by an earlier run that stopped before validation ended.
    Completed(Session),
}

async fn resumable(api: &Api, out: &Output, path: &Path) -> Result<Option<Resume>> {
    let Some(session) = config::read_json::<Session>(path)? else {
        return Ok(None);
    };
    let status = match api
        .get(&format!("/v1/uploads/{}", segment(&session.upload_id)))
        .await
    {
        Ok(status) => status,
        Err(e) if e.exit == Exit::NotFound => {
            config::remove(path)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    match status["status"].as_str() {
        Some("uploading") => {}
        Some("aborted") | None => {
            config::remove(path)?;
            return Ok(None);
        }
        Some(_) => return Ok(Some(Resume::Completed(session))),
    }
    let done: BTreeMap<u32, String> = status["parts_done"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let n = u32::try_from(p["part_number"].as_u64()?).ok()?;
            let whole = p["size"].as_u64()? == part_len(&session, n);
            whole.then(|| Some((n, p["etag"].as_str()?.to_owned())))?
        })
        .collect();
    out.note(&format!(
        "resuming upload {}: {} of {} parts already in the bucket",
        session.upload_id,
        done.len(),
        session.part_count
    ));
    Ok(Some(Resume::Uploading(session, done)))
}

#[allow(clippy::too_many_arguments)]
async fn create(
    api: &Api,
    out: &Output,
    args: &Publish,
    file: &Path,
    size: u64,
    name: &str,
    version: &str,
    description: Option<String>,
) -> Result<(Session, HashMap<u32, (String, Instant)>)> {
    let bar = transfer::bar(out, size, "sha256");
    let (hasher, hashed) = transfer::sha256_file(file, None, &bar).await?;
    bar.finish_and_clear();
    if hashed != size {
        return Err(CliError::bad_input(format!(
            "{} changed while it was read",
            file.display()
        )));
    }
    let sha256 = transfer::hex(&hasher.finalize());
    let mut body = json!({"size": size, "sha256": sha256, "sensitive": args.sensitive});
    if let Some(part_size) = args.part_size {
        body["part_size"] = json!(part_size);
    }
    if let Some(description) = description {
        body["description"] = json!(description);
    }
    if !args.groups.is_empty() {
        body["groups"] = json!(args.groups);
    }
    let started = api
        .post(
            &format!(
                "/v1/packages/{}/versions/{}/uploads",
                segment(name),
                segment(version)
            ),
            &body,
        )
        .await?;
    let field = |key: &str| {
        started[key]
            .as_u64()
            .ok_or_else(|| CliError::unexpected(format!("the upload's answer has no {key}")))
    };
    let session = Session {
        upload_id: started["upload_id"]
            .as_str()
            .ok_or_else(|| CliError::unexpected("the upload's answer has no upload_id"))?
            .to_owned(),
        name: name.to_owned(),
        version: version.to_owned(),
        file: file.to_owned(),
        size,
        sha256,
        part_size: field("part_size")?,
        part_count: u32::try_from(field("part_count")?)
            .map_err(|_| CliError::unexpected("the upload's part_count is out of range"))?,
    };
    Ok((session, signed(&started)))
}

fn signed(answer: &Value) -> HashMap<u32, (String, Instant)> {
    let now = Instant::now();
    answer["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let n = u32::try_from(p["part_number"].as_u64()?).ok()?;
            Some((n, (p["url"].as_str()?.to_owned(), now)))
        })
        .collect()
}

fn part_len(session: &Session, n: u32) -> u64 {
    let offset = u64::from(n - 1) * session.part_size;
    session.part_size.min(session.size.saturating_sub(offset))
}

#[derive(Default)]
struct Counts {
    etags: BTreeMap<u32, String>,
    uploaded: u32,
    resumed: u32,
}

/// The part URLs: those the API gave, re-signed in batches when missing, old or refused.
struct Signer<'a> {
    api: &'a Api,
    upload_id: String,
    todo: Vec<u32>,
    urls: Mutex<HashMap<u32, (String, Instant)>>,
}

impl Signer<'_> {
    async fn url(&self, n: u32, refused: bool) -> Result<String> {
        let mut urls = self.urls.lock().await;
        if let Some((url, at)) = urls.get(&n)
            && !refused
            && at.elapsed() < URL_LIFE
        {
            return Ok(url.clone());
        }
        let batch: Vec<u32> = std::iter::once(n)
            .chain(
                self.todo
                    .iter()
                    .copied()
                    .filter(|m| {
                        *m > n && urls.get(m).is_none_or(|(_, at)| at.elapsed() >= URL_LIFE)
                    })
                    .take(SIGN_BATCH - 1),
            )
            .collect();
        let answer = self
            .api
            .post(
                &format!("/v1/uploads/{}/parts", segment(&self.upload_id)),
                &json!({"part_numbers": batch}),
            )
            .await?;
        urls.extend(signed(&answer));
        urls.get(&n)
            .map(|(url, _)| url.clone())
            .ok_or_else(|| CliError::unexpected(format!("the API signed no URL for part {n}")))
    }
}

async fn send_parts(
    api: &Api,
    out: &Output,
    args: &Publish,
    session: &Session,
    done: BTreeMap<u32, String>,
    urls: HashMap<u32, (String, Instant)>,
) -> Result<Counts> {
    let todo: Vec<u32> = (1..=session.part_count)
        .filter(|n| !done.contains_key(n))
        .collect();
    let already: u64 = done.keys().map(|n| part_len(session, *n)).sum();
    let bar = transfer::bar(out, session.size, "upload");
    bar.set_position(already);
    // The rate and ETA are of this run's bytes, not of those sent before.
    bar.reset_eta();
    let signer = Signer {
        api,
        upload_id: session.upload_id.clone(),
        todo: todo.clone(),
        urls: Mutex::new(urls),
    };
    let rate = Rate::new(args.max_rate);
    let mut counts = Counts {
        resumed: done.len() as u32,
        etags: done,
        uploaded: 0,
    };
    let mut sent = futures::stream::iter(todo.iter().copied())
        .map(|n| put_part(&api.http, &signer, session, n, &bar, &rate))
        .buffer_unordered(args.jobs.max(1));
    while let Some((n, etag)) = sent.try_next().await? {
        counts.etags.insert(n, etag);
        counts.uploaded += 1;
    }
    bar.finish_and_clear();
    Ok(counts)
}

/// PUTs part `n`, streamed from the file; answers its ETag.
async fn put_part(
    http: &reqwest::Client,
    signer: &Signer<'_>,
    session: &Session,
    n: u32,
    bar: &ProgressBar,
    rate: &Rate,
) -> Result<(u32, String)> {
    let len = part_len(session, n);
    let offset = u64::from(n - 1) * session.part_size;
    let mut refused = false;
    let mut attempt = 1;
    loop {
        let url = signer.url(n, refused).await?;
        let sent = Arc::new(AtomicU64::new(0));
        let body = part_body(&session.file, offset, len, bar, rate, &sent).await?;
        let outcome = http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await;
        refused = false;
        let cause = match outcome {
            Ok(response) if response.status().is_success() => {
                match response.headers().get("etag").and_then(|v| v.to_str().ok()) {
                    Some(etag) => return Ok((n, etag.to_owned())),
                    None => format!("the bucket answered part {n} without an ETag"),
                }
            }
            // An expired or refused signature: sign this part again.
            Ok(response) if response.status() == reqwest::StatusCode::FORBIDDEN => {
                refused = true;
                format!("the bucket refused part {n}'s URL (403)")
            }
            Ok(response)
                if response.status().is_client_error()
                    && !matches!(response.status().as_u16(), 400 | 408 | 429) =>
            {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("the bucket refused part {n}: {}", response.status()),
                ));
            }
            Ok(response) => format!("the bucket answered part {n} with {}", response.status()),
            Err(e) => CliError::network("the bucket", e).message,
        };
        bar.dec(sent.load(Ordering::Relaxed));
        if attempt >= PART_ATTEMPTS {
            return Err(CliError::new(
                Exit::Unavailable,
                format!("{cause}, {PART_ATTEMPTS} times: run the same command again to resume"),
            ));
        }
        backoff(attempt).await;
        attempt += 1;
    }
}

/// Part bytes as a stream of chunks read from the file as they are sent.
async fn part_body(
    file: &Path,
    offset: u64,
    len: u64,
    bar: &ProgressBar,
    rate: &Rate,
    sent: &Arc<AtomicU64>,
) -> Result<reqwest::Body> {
    let mut handle = tokio::fs::File::open(file)
        .await
        .map_err(|e| CliError::io("open", file, &e))?;
    handle.set_max_buf_size(PART_CHUNK);
    handle
        .seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| CliError::io("read", file, &e))?;
    let (bar, rate, sent) = (bar.clone(), rate.clone(), sent.clone());
    let chunks = tokio_util::io::ReaderStream::with_capacity(handle.take(len), PART_CHUNK).then(
        move |chunk| {
            let (bar, rate, sent) = (bar.clone(), rate.clone(), sent.clone());
            async move {
                if let Ok(bytes) = &chunk {
                    rate.take(bytes.len()).await;
                    bar.inc(bytes.len() as u64);
                    sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                chunk
            }
        },
    );
    Ok(reqwest::Body::wrap_stream(chunks))
}

/// Waits for validation and prints its report; a rejection is exit 8.
async fn finish(
    api: &Api,
    out: &Output,
    args: &Publish,
    session: &Session,
    counts: Counts,
) -> Result<Value> {
    let path = format!(
        "/v1/packages/{}/versions/{}",
        segment(&session.name),
        segment(&session.version)
    );
    let mut result = json!({
        "package": session.name,
        "version": session.version,
        "upload_id": session.upload_id,
        "size": session.size,
        "sha256": session.sha256,
        "part_count": session.part_count,
        "parts_uploaded": counts.uploaded,
        "parts_resumed": counts.resumed,
        "status": "validating",
    });
    let id = format!("{}@{}", session.name, session.version);
    if !args.wait {
        out.note(&format!(
            "{id} sent ({}); validation runs on the server",
            bytes(session.size)
        ));
        return Ok(result);
    }
    let spinner = transfer::spinner(out, &format!("validating {id}"));
    let started = Instant::now();
    let version = loop {
        let version = api.get(&path).await?;
        match version["status"].as_str() {
            Some("published" | "rejected" | "yanked") => break version,
            _ if started.elapsed() > args.wait_timeout => {
                spinner.finish_and_clear();
                return Err(CliError::new(
                    Exit::Unavailable,
                    format!(
                        "{id} is still {} after {} s: see `cloudkeep packages show {}`",
                        version["status"].as_str().unwrap_or("validating"),
                        args.wait_timeout.as_secs(),
                        session.name
                    ),
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    spinner.finish_and_clear();
    let status = version["status"].as_str().unwrap_or_default().to_owned();
    result["status"] = json!(status);
    result["validation"] = version["validation"].clone();
    let checks = version["validation"]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !out.json {
        for check in &checks {
            let ok = check["ok"].as_bool() == Some(true);
            let mark = if ok {
                out.paint("ok  ", Style::Good)
            } else {
                out.paint("FAIL", Style::Bad)
            };
            out.line(&format!(
                "{mark}  {:<20}  {}",
                check["id"].as_str().unwrap_or("?"),
                check["message"].as_str().unwrap_or("")
            ));
        }
    }
    if status == "rejected" {
        if out.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            );
        }
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c["ok"].as_bool() != Some(true))
            .filter_map(|c| c["id"].as_str())
            .collect();
        return Err(CliError::new(
            Exit::Rejected,
            format!("{id} was rejected: {}", failed.join(", ")),
        ));
    }
    out.line(&format!(
        "{} {id} ({}, sha256 {})",
        out.paint("published", Style::Good),
        bytes(session.size),
        session.sha256
    ));
    Ok(result)
}
