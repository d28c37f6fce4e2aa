//! The validation of one package object: structural pass (end records and
//! central directory, a few ranged reads), the manifest (one more), then one
//! streaming pass for local headers, CRCs and the SHA-256. Pure over a [`Source`].

use std::io::Read;

use serde::Serialize;

use crate::checks::{self, Check, CheckId};
use crate::source::{Source, SourceError};
use crate::stream;
use crate::zip::{self, Entry, LOCAL_LEN, ReadError, local_header_lengths};

/// What the upload claims to be.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub version: String,
    /// The declared SHA-256 (hex, lower case), if one was declared.
    pub sha256: Option<String>,
}

/// Whether every check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Passed,
    Failed,
}

/// The most a stored report may take: the version's DynamoDB item holds it,
/// and an item is at most 400 KB. Bounded by construction (names and messages
/// are cut, lists say how many they left out, the manifest is summarised when
/// large); [`Report::to_stored_json`] holds the line whatever happens.
pub const MAX_REPORT_BYTES: usize = 300 * 1024;
/// The largest manifest a report shows whole; a larger one is summarised.
pub const MAX_SHOWN_MANIFEST: usize = 16 * 1024;

/// The report stored with the version and shown by `GET …/versions/{version}`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: ReportStatus,
    pub checks: Vec<Check>,
    pub entries: u64,
    pub uncompressed_size: u64,
    pub manifest: Option<serde_json::Value>,
    /// The object's SHA-256, when the streaming pass ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.status == ReportStatus::Passed
    }

    /// The check named `id`, if the report has it.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The ids of the checks that failed, in report order.
    pub fn failed(&self) -> Vec<CheckId> {
        self.checks.iter().filter(|c| !c.ok).map(|c| c.id).collect()
    }

    pub fn new(
        checks: Vec<Check>,
        entries: &[Entry],
        manifest: Option<serde_json::Value>,
        sha256: Option<String>,
    ) -> Self {
        let passed = checks.iter().all(|c| c.ok);
        Self {
            status: if passed {
                ReportStatus::Passed
            } else {
                ReportStatus::Failed
            },
            checks,
            entries: entries.len() as u64,
            uncompressed_size: entries
                .iter()
                .map(|e| e.uncompressed_size)
                .fold(0, u64::saturating_add),
            manifest: manifest.map(summarised),
            sha256,
        }
    }

    /// A report saying validation could not decide, as the last word on a
    /// version whose attempts ran out (`validation.complete` failed).
    pub fn incomplete(why: impl Into<String>) -> Self {
        Self::new(vec![Check::fail(CheckId::Complete, why)], &[], None, None)
    }

    /// The report as stored: JSON of at most [`MAX_REPORT_BYTES`]. The caps
    /// of its parts keep it far below; should they not, the manifest goes,
    /// then the messages are cut, never the verdict.
    pub fn to_stored_json(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        if json.len() <= MAX_REPORT_BYTES {
            return json;
        }
        let mut smaller = self.clone();
        smaller.manifest = None;
        for check in &mut smaller.checks {
            check.message = check.message.chars().take(256).collect();
        }
        serde_json::to_string(&smaller).unwrap_or_default()
    }
}

/// A manifest as the report shows it: whole when small, else only the
/// fields the package pages use (`name`, `version`, `description`), each cut.
fn summarised(manifest: serde_json::Value) -> serde_json::Value {
    let size = serde_json::to_vec(&manifest).map_or(usize::MAX, |v| v.len());
    if size <= MAX_SHOWN_MANIFEST {
        return manifest;
    }
    let mut summary = serde_json::Map::new();
    for key in ["name", "version", "description"] {
        if let Some(text) = manifest.get(key).and_then(|v| v.as_str()) {
            summary.insert(
                key.into(),
                text.chars().take(1024).collect::<String>().into(),
            );
        }
    }
    summary.into()
}

/// Largest manifest read: `package.json` is metadata, not content.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// Reads and parses the manifest entry with its own ranged reads. Every
/// offset is the archive's word, so each sum is checked: a hostile offset
/// is a failed check, never an overflow.
async fn read_manifest<S: Source>(
    source: &S,
    entry: &Entry,
) -> Result<Result<serde_json::Value, String>, SourceError> {
    if entry.is_encrypted() {
        return Ok(Err("package.json is encrypted".into()));
    }
    if entry.compressed_size > MAX_MANIFEST || entry.uncompressed_size > MAX_MANIFEST {
        return Ok(Err(format!(
            "package.json is larger than {MAX_MANIFEST} bytes"
        )));
    }
    let outside = || {
        Ok(Err(
            "package.json's local header lies outside the archive".into()
        ))
    };
    let Some(header_end) = entry
        .local_header_offset
        .checked_add(LOCAL_LEN as u64)
        .filter(|end| *end <= source.len())
    else {
        return outside();
    };
    let fixed = source
        .read_at(entry.local_header_offset, LOCAL_LEN as u64)
        .await?;
    let Some((_, _, name_len, extra_len)) = local_header_lengths(&fixed) else {
        return Ok(Err("package.json has no valid local header".into()));
    };
    let data_start = header_end + (name_len + extra_len) as u64;
    if data_start
        .checked_add(entry.compressed_size)
        .is_none_or(|end| end > source.len())
    {
        return Ok(Err("package.json's data lies outside the archive".into()));
    }
    let data = source.read_at(data_start, entry.compressed_size).await?;
    let text = match entry.method {
        0 => data.to_vec(),
        8 => {
            let mut out = Vec::new();
            let inflater = flate2::read::DeflateDecoder::new(&data[..]);
            if inflater
                .take(MAX_MANIFEST + 1)
                .read_to_end(&mut out)
                .is_err()
            {
                return Ok(Err("package.json does not inflate".into()));
            }
            out
        }
        m => return Ok(Err(format!("package.json uses compression method {m}"))),
    };
    Ok(serde_json::from_slice(&text).map_err(|e| format!("package.json is not valid JSON: {e}")))
}

/// Validates the object behind `source`. `Err` only when reading failed (the
/// event is retried); a bad archive is an `Ok` report that failed.
pub async fn validate<S: Source>(source: &S, expect: &Expectation) -> Result<Report, SourceError> {
    let directory = match zip::read_directory(source).await {
        Ok(d) => d,
        Err(ReadError::Source(e)) => return Err(e),
        // Fatal: nothing else can be checked on an unreadable structure.
        Err(ReadError::Malformed(why)) => {
            let check = match why {
                zip::Malformed::TooManyEntries(_) => {
                    Check::fail(CheckId::EntryCount, why.to_string())
                }
                _ => Check::fail(CheckId::Readable, why.to_string()),
            };
            return Ok(Report::new(vec![check], &[], None, None));
        }
    };
    let entries = &directory.entries;
    let readable = Check::pass(
        CheckId::Readable,
        format!(
            "{} entries, central directory of {} bytes",
            entries.len(),
            directory.directory_size
        ),
    );
    let no_overlap = checks::no_overlap(entries, directory.directory_offset);
    let ratio = checks::ratio(entries, source.len());

    // The manifest, read on its own before the long pass.
    let (manifest_check, manifest) = match checks::manifest_entry(entries) {
        None => (
            Check::fail(
                CheckId::Manifest,
                "no package.json at the root or in the single top folder",
            ),
            None,
        ),
        Some(entry) => {
            let parsed = read_manifest(source, entry).await?;
            let shown = parsed.as_ref().ok().cloned();
            (
                checks::manifest(parsed, &expect.name, &expect.version),
                shown,
            )
        }
    };

    tracing::info!(
        fetched = source.fetched(),
        entries = entries.len(),
        "structural pass done"
    );
    // Data is inflated only when that is safe: overlapping entries would be
    // inflated over and over, a bomb would inflate past any budget.
    let verify = if !no_overlap.ok {
        Err("entries overlap")
    } else if !ratio.ok {
        Err("entries exceed the compression ratio")
    } else {
        Ok(())
    };
    let pass = stream::walk(source, &directory, verify).await?;
    let sha256 = pass.sha256;
    let digest = match &expect.sha256 {
        None => Check::pass(
            CheckId::Sha256,
            format!("no digest declared; the object's is {sha256}"),
        ),
        Some(declared) if *declared == sha256 => {
            Check::pass(CheckId::Sha256, "matches the declared digest")
        }
        Some(declared) => Check::fail(
            CheckId::Sha256,
            format!(
                "the object's digest is {sha256}, {} was declared",
                zip::shown(declared.as_bytes())
            ),
        ),
    };
    let report = vec![
        readable,
        checks::no_encryption(entries),
        checks::paths_safe(entries),
        checks::no_symlinks(entries),
        checks::no_duplicates(entries),
        no_overlap,
        ratio,
        checks::entry_count(entries),
        pass.crc,
        pass.consistent,
        manifest_check,
        checks::readme(entries),
        digest,
    ];
    Ok(Report::new(report, entries, manifest, Some(sha256)))
}
