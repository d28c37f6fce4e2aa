//! The validation of one package object: structural pass (end records and
//! central directory, a few ranged reads), the manifest (one more), then one
//! streaming pass for CRCs and the SHA-256. Pure over a [`Source`].

use std::io::Read;

use serde::Serialize;

use crate::checks::{self, Check};
use crate::source::{Source, SourceError};
use crate::stream::{self, SeqReader};
use crate::zip::{self, Entry, LOCAL_LEN, ReadError, local_header_lengths};

/// What the upload claims to be.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub version: String,
    /// The declared SHA-256 (hex, lower case), if one was declared.
    pub sha256: Option<String>,
}

/// The report stored with the version and shown by `GET …/versions/{version}`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `passed` or `failed`.
    pub status: &'static str,
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
        self.status == "passed"
    }

    fn new(
        checks: Vec<Check>,
        entries: &[Entry],
        manifest: Option<serde_json::Value>,
        sha256: Option<String>,
    ) -> Self {
        let passed = checks.iter().all(|c| c.ok);
        Self {
            status: if passed { "passed" } else { "failed" },
            checks,
            entries: entries.len() as u64,
            uncompressed_size: entries
                .iter()
                .map(|e| e.uncompressed_size)
                .fold(0, u64::saturating_add),
            manifest,
            sha256,
        }
    }
}

/// Largest manifest read: `package.json` is metadata, not content.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// Reads and parses the manifest entry with its own ranged reads.
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
    let header_end = entry.local_header_offset + LOCAL_LEN as u64;
    if header_end > source.len() {
        return Ok(Err(
            "package.json's local header lies outside the archive".into()
        ));
    }
    let fixed = source
        .read_at(entry.local_header_offset, LOCAL_LEN as u64)
        .await?;
    let Some((_, _, name_len, extra_len)) = local_header_lengths(&fixed) else {
        return Ok(Err("package.json has no valid local header".into()));
    };
    let data_start = header_end + (name_len + extra_len) as u64;
    if data_start.saturating_add(entry.compressed_size) > source.len() {
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
                    Check::fail("zip.entry_count", why.to_string())
                }
                _ => Check::fail("zip.readable", why.to_string()),
            };
            return Ok(Report::new(vec![check], &[], None, None));
        }
    };
    let entries = &directory.entries;
    let mut report = vec![
        Check::pass(
            "zip.readable",
            format!(
                "{} entries, central directory of {} bytes",
                entries.len(),
                directory.directory_size
            ),
        ),
        checks::no_encryption(entries),
        checks::paths_safe(entries),
        checks::no_symlinks(entries),
        checks::no_duplicates(entries),
        checks::no_overlap(entries, directory.directory_offset),
        checks::ratio(entries),
        checks::entry_count(entries),
    ];
    let overlap_ok = report[5].ok;
    let bombs = !report[6].ok;

    // The manifest, read on its own before the long pass.
    let (manifest_check, manifest) = match checks::manifest_entry(entries) {
        None => (
            Check::fail(
                "package.manifest",
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
    // One pass: every entry's bytes in file order, and the whole object's digest.
    let mut reader = SeqReader::new(source.clone());
    let crc_check = if !overlap_ok {
        Check::fail("zip.crc", "not checked: entries overlap")
    } else if bombs {
        Check::fail(
            "zip.crc",
            "not checked: entries exceed the compression ratio",
        )
    } else {
        let mut ordered: Vec<&Entry> = entries.iter().filter(|e| !e.is_encrypted()).collect();
        ordered.sort_by_key(|e| e.local_header_offset);
        let mut bad = Vec::new();
        for (i, entry) in ordered.iter().enumerate() {
            let limit = ordered
                .get(i + 1)
                .map_or(directory.directory_offset, |next| next.local_header_offset);
            reader.skip_to(entry.local_header_offset).await?;
            if let Some(problem) = stream::check_entry(&mut reader, entry, limit).await? {
                bad.push(format!("{:?}: {problem}", entry.display_name()));
                if bad.len() >= 5 {
                    break;
                }
            }
        }
        match bad.as_slice() {
            [] => Check::pass(
                "zip.crc",
                format!(
                    "{} entries inflate to their declared size and CRC-32",
                    ordered.len()
                ),
            ),
            _ => Check::fail("zip.crc", bad.join("; ")),
        }
    };
    let sha256 = reader.finish().await?;
    report.push(crc_check);
    report.push(manifest_check);
    report.push(checks::readme(entries));
    report.push(match &expect.sha256 {
        None => Check::pass(
            "object.sha256",
            format!("no digest declared; the object's is {sha256}"),
        ),
        Some(declared) if *declared == sha256 => {
            Check::pass("object.sha256", "matches the declared digest")
        }
        Some(declared) => Check::fail(
            "object.sha256",
            format!("the object's digest is {sha256}, {declared} was declared"),
        ),
    });
    Ok(Report::new(report, entries, manifest, Some(sha256)))
}
