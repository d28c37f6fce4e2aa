//! The checks of `API.md`, each a small pure function over the central
//! directory, each saying what it guards against.

use std::collections::HashMap;

use serde::{Serialize, Serializer};

use crate::zip::{Entry, MAX_ENTRIES};

/// Largest accepted ratio of uncompressed to compressed size, per entry and
/// for the archive as a whole.
pub const MAX_RATIO: u64 = 100;
/// Entries (and archives) no larger than this uncompressed may compress
/// better than [`MAX_RATIO`]: 1 KiB of zeros is no bomb.
pub const RATIO_FLOOR: u64 = 1024 * 1024;
/// Largest accepted total uncompressed size: 64 GiB.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 64 * 1024 * 1024 * 1024;
/// Offenders a message names before saying how many more there are.
pub const MAX_SHOWN: usize = 5;
/// The longest message a check keeps, in bytes: with names cut to 120
/// characters no message gets near it, but a report must fit its DynamoDB item.
pub const MAX_MESSAGE: usize = 4096;

/// The checks of `API.md`, by the id a report names them with. A check is
/// found by its id, never by its place in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckId {
    Readable,
    NoEncryption,
    PathsSafe,
    NoSymlinks,
    NoDuplicates,
    NoOverlap,
    Ratio,
    EntryCount,
    Crc,
    Consistent,
    Manifest,
    Readme,
    Sha256,
    /// Not a property of the archive: validation ran out of attempts (or
    /// time) before it could decide, so the version is rejected.
    Complete,
}

impl CheckId {
    /// Every id, in the order a full report lists them.
    pub const ALL: [CheckId; 14] = [
        Self::Readable,
        Self::NoEncryption,
        Self::PathsSafe,
        Self::NoSymlinks,
        Self::NoDuplicates,
        Self::NoOverlap,
        Self::Ratio,
        Self::EntryCount,
        Self::Crc,
        Self::Consistent,
        Self::Manifest,
        Self::Readme,
        Self::Sha256,
        Self::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Readable => "zip.readable",
            Self::NoEncryption => "zip.no_encryption",
            Self::PathsSafe => "zip.paths_safe",
            Self::NoSymlinks => "zip.no_symlinks",
            Self::NoDuplicates => "zip.no_duplicates",
            Self::NoOverlap => "zip.no_overlap",
            Self::Ratio => "zip.ratio",
            Self::EntryCount => "zip.entry_count",
            Self::Crc => "zip.crc",
            Self::Consistent => "zip.consistent",
            Self::Manifest => "package.manifest",
            Self::Readme => "package.readme",
            Self::Sha256 => "object.sha256",
            Self::Complete => "validation.complete",
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One line of the report: `{id, ok, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: CheckId,
    pub ok: bool,
    pub message: String,
}

impl Check {
    pub fn pass(id: CheckId, message: impl Into<String>) -> Self {
        Self {
            id,
            ok: true,
            message: bounded(message.into()),
        }
    }

    pub fn fail(id: CheckId, message: impl Into<String>) -> Self {
        Self {
            id,
            ok: false,
            message: bounded(message.into()),
        }
    }
}

/// `message`, cut at a character boundary to at most [`MAX_MESSAGE`] bytes.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - "…".len();
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// Up to [`MAX_SHOWN`] offenders of one kind, and how many were left out, so a
/// report stays small on a hostile archive.
#[derive(Debug, Default, Clone)]
pub struct Offenders {
    shown: Vec<String>,
    total: u64,
}

impl Offenders {
    pub fn push(&mut self, offender: impl FnOnce() -> String) {
        if self.shown.len() < MAX_SHOWN {
            self.shown.push(offender());
        }
        self.total += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// "3 unsafe paths: a, b, c" or "9 …: a, b, c, d, e and 4 more".
    pub fn describe(&self, what: &str, separator: &str) -> String {
        let more = self.total - self.shown.len() as u64;
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "{} {what}: {}{more}",
            self.total,
            self.shown.join(separator)
        )
    }

    /// A passing check when there are none, else a failing one naming them.
    pub fn check(&self, id: CheckId, what: &str) -> Check {
        if self.is_empty() {
            Check::pass(id, format!("no {what}"))
        } else {
            Check::fail(id, self.describe(what, ", "))
        }
    }
}

fn offenders(id: CheckId, what: &str, bad: impl IntoIterator<Item = String>) -> Check {
    let mut list = Offenders::default();
    for offender in bad {
        list.push(|| offender);
    }
    list.check(id, what)
}

/// Rejects encrypted entries: their content cannot be checked (CRC,
/// manifest), so an encrypted package could carry anything past validation.
pub fn no_encryption(entries: &[Entry]) -> Check {
    let bad = entries
        .iter()
        .filter(|e| e.is_encrypted())
        .map(Entry::shown_name);
    offenders(CheckId::NoEncryption, "encrypted entries", bad)
}

/// Why a name would escape the extraction directory, if it would ("zip slip").
pub fn path_problem(name: &[u8]) -> Option<&'static str> {
    let Ok(name) = std::str::from_utf8(name) else {
        return Some("not UTF-8");
    };
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("NUL byte");
    }
    if name.chars().any(char::is_control) {
        return Some("control character");
    }
    if name.contains('\\') {
        return Some("backslash");
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Some("drive letter");
    }
    if name.split('/').any(|part| part == "..") {
        return Some("`..` component");
    }
    None
}

/// Rejects names that would write outside the extraction directory when
/// unpacked ("zip slip": absolute paths, `..`, backslashes that Windows takes
/// as separators, drive letters) or that tools disagree about (NUL, control
/// characters, invalid UTF-8).
pub fn paths_safe(entries: &[Entry]) -> Check {
    let bad = entries
        .iter()
        .filter_map(|e| path_problem(&e.name).map(|why| format!("{} ({why})", e.shown_name())));
    offenders(CheckId::PathsSafe, "unsafe paths", bad)
}

/// Rejects symlinks: a link entry followed by a file through it writes
/// anywhere on the extracting machine.
pub fn no_symlinks(entries: &[Entry]) -> Check {
    let bad = entries
        .iter()
        .filter(|e| e.is_symlink())
        .map(Entry::shown_name);
    offenders(CheckId::NoSymlinks, "symlinks", bad)
}

/// Rejects two entries with the same name, ignoring case: which one wins
/// depends on the tool (and on case-insensitive file systems, `README` and
/// `readme` collide), so what was validated need not be what gets installed.
pub fn no_duplicates(entries: &[Entry]) -> Check {
    let mut seen: HashMap<String, &Entry> = HashMap::with_capacity(entries.len());
    let mut bad = Offenders::default();
    for e in entries {
        let key = String::from_utf8_lossy(&e.name).to_lowercase();
        if let Some(first) = seen.insert(key, e) {
            bad.push(|| format!("{} and {}", first.shown_name(), e.shown_name()));
        }
    }
    bad.check(CheckId::NoDuplicates, "duplicate names")
}

/// The smallest span `[start, end)` an entry's local header and data can take,
/// from the directory alone (the local extra field can only add to it).
fn min_span(e: &Entry) -> (u64, u64) {
    let start = e.local_header_offset;
    let end = start
        .saturating_add(crate::zip::LOCAL_LEN as u64)
        .saturating_add(e.name.len() as u64)
        .saturating_add(e.compressed_size);
    (start, end)
}

/// Rejects entries whose local data overlaps another entry's, or the central
/// directory: the "non-recursive zip bomb" makes many entries point at one
/// compressed kernel, so a small file inflates to terabytes.
pub fn no_overlap(entries: &[Entry], directory_offset: u64) -> Check {
    let mut spans: Vec<(u64, u64, &Entry)> = entries
        .iter()
        .map(|e| (min_span(e).0, min_span(e).1, e))
        .collect();
    spans.sort_by_key(|(start, _, _)| *start);
    let mut bad = Offenders::default();
    for pair in spans.windows(2) {
        let (_, end, first) = pair[0];
        let (start, _, second) = pair[1];
        if start < end {
            bad.push(|| format!("{} and {}", first.shown_name(), second.shown_name()));
        }
    }
    if let Some((_, end, last)) = spans.last()
        && *end > directory_offset
    {
        bad.push(|| format!("{} and the central directory", last.shown_name()));
    }
    bad.check(CheckId::NoOverlap, "overlapping entries")
}

/// Rejects zip bombs by their declared sizes, before anything is inflated:
/// - an entry over 1 MiB that inflates more than 100 times (deflate reaches
///   ~1032:1, so one small entry can unpack to gigabytes);
/// - an archive over 1 MiB uncompressed that inflates more than 100 times its
///   own size in all: many entries each just under the per-entry rule
///   (65,000 entries of 1 MiB of zeros is 63.5 GiB from ~70 MB);
/// - more than 64 GiB uncompressed in all, whatever the ratio.
///
/// `archive_len` is the object's size in bytes.
pub fn ratio(entries: &[Entry], archive_len: u64) -> Check {
    let mut bad = Offenders::default();
    let mut total: u64 = 0;
    for e in entries {
        total = total.saturating_add(e.uncompressed_size);
        let inflated = e.uncompressed_size > e.compressed_size.saturating_mul(MAX_RATIO);
        if inflated && e.uncompressed_size > RATIO_FLOOR {
            bad.push(|| {
                format!(
                    "{} ({} -> {} bytes)",
                    e.shown_name(),
                    e.compressed_size,
                    e.uncompressed_size
                )
            });
        }
    }
    let mut reasons = Vec::new();
    if total > MAX_TOTAL_UNCOMPRESSED {
        reasons.push(format!(
            "{total} bytes uncompressed in all, more than {MAX_TOTAL_UNCOMPRESSED}"
        ));
    }
    if total > RATIO_FLOOR && total > archive_len.saturating_mul(MAX_RATIO) {
        reasons.push(format!(
            "the archive of {archive_len} bytes inflates to {total} bytes, more than {MAX_RATIO}:1 as a whole"
        ));
    }
    if !bad.is_empty() {
        reasons.push(bad.describe(&format!("entries inflating over {MAX_RATIO}:1"), ", "));
    }
    if reasons.is_empty() {
        Check::pass(
            CheckId::Ratio,
            format!(
                "{total} bytes uncompressed from {archive_len}, every entry and the archive within {MAX_RATIO}:1"
            ),
        )
    } else {
        Check::fail(CheckId::Ratio, reasons.join("; "))
    }
}

/// Rejects archives of more than 100,000 entries: each costs memory and time
/// to check and to install (the end record's count is refused before the
/// directory is even read).
pub fn entry_count(entries: &[Entry]) -> Check {
    if entries.len() as u64 > MAX_ENTRIES {
        Check::fail(
            CheckId::EntryCount,
            format!("{} entries, more than {MAX_ENTRIES}", entries.len()),
        )
    } else {
        Check::pass(CheckId::EntryCount, format!("{} entries", entries.len()))
    }
}

/// The folder every entry lives in, when there is exactly one (`tool-1.0/…`).
pub fn single_top_folder(entries: &[Entry]) -> Option<String> {
    let mut top: Option<&[u8]> = None;
    for e in entries {
        let slash = e.name.iter().position(|b| *b == b'/')?;
        let folder = &e.name[..slash];
        match top {
            None => top = Some(folder),
            Some(t) if t == folder => {}
            Some(_) => return None,
        }
    }
    top.and_then(|t| std::str::from_utf8(t).ok())
        .map(str::to_owned)
}

/// The manifest entry: `package.json` at the root, or in the single top folder.
pub fn manifest_entry(entries: &[Entry]) -> Option<&Entry> {
    let root = entries.iter().find(|e| e.name == b"package.json");
    root.or_else(|| {
        let top = single_top_folder(entries)?;
        let wanted = format!("{top}/package.json");
        entries.iter().find(|e| e.name == wanted.as_bytes())
    })
}

/// Requires a `README*` file at the root or in the single top folder, so
/// every published package says what it is.
pub fn readme(entries: &[Entry]) -> Check {
    let top = single_top_folder(entries);
    let found = entries.iter().filter(|e| !e.is_dir()).find(|e| {
        let name = e.display_name();
        let base = match &top {
            Some(t) if name.starts_with(&format!("{t}/")) => name[t.len() + 1..].to_owned(),
            _ => name.clone(),
        };
        !base.contains('/') && base.to_ascii_lowercase().starts_with("readme")
    });
    match found {
        Some(e) => Check::pass(CheckId::Readme, format!("{} found", e.shown_name())),
        None => Check::fail(
            CheckId::Readme,
            "no README file at the root or in the top folder",
        ),
    }
}

/// Checks the manifest's `name` and `version` against the upload's, so a
/// package cannot claim another package's identity once unpacked.
pub fn manifest(parsed: Result<serde_json::Value, String>, name: &str, version: &str) -> Check {
    let manifest = match parsed {
        Ok(m) => m,
        Err(why) => return Check::fail(CheckId::Manifest, why),
    };
    let got_name = manifest.get("name").and_then(|v| v.as_str());
    let got_version = manifest.get("version").and_then(|v| v.as_str());
    match (got_name, got_version) {
        (Some(n), Some(v)) if n == name && v == version => {
            Check::pass(CheckId::Manifest, format!("package.json names {n} {v}"))
        }
        (Some(n), Some(v)) => Check::fail(
            CheckId::Manifest,
            format!(
                "package.json names {} {}, the upload is {name} {version}",
                crate::zip::shown(n.as_bytes()),
                crate::zip::shown(v.as_bytes())
            ),
        ),
        _ => Check::fail(
            CheckId::Manifest,
            "package.json lacks a string `name` or `version`",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            index: 0,
            name: name.as_bytes().to_vec(),
            made_by: 3 << 8,
            flags: 0,
            method: 8,
            crc32: 0,
            compressed_size: 10,
            uncompressed_size: 20,
            local_header_offset: 0,
            external_attributes: 0o100_644 << 16,
            unicode_path: None,
        }
    }

    #[test]
    fn every_escape_is_named() {
        for (name, why) in [
            ("/etc/passwd", "absolute path"),
            ("../evil", "`..` component"),
            ("a/../../evil", "`..` component"),
            ("C:\\x", "backslash"),
            ("C:x", "drive letter"),
            ("a\0b", "NUL byte"),
            ("a\nb", "control character"),
            ("", "empty name"),
        ] {
            assert_eq!(path_problem(name.as_bytes()), Some(why), "{name:?}");
        }
        assert_eq!(path_problem(&[0xff, 0xfe]), Some("not UTF-8"));
        for fine in ["a", "a/b.txt", "dir/", "a..b", ".hidden", "x/..y"] {
            assert_eq!(path_problem(fine.as_bytes()), None, "{fine:?}");
        }
    }

    #[test]
    fn case_insensitive_duplicates_are_refused() {
        assert!(no_duplicates(&[entry("README"), entry("src/x")]).ok);
        let check = no_duplicates(&[entry("README"), entry("readme")]);
        assert!(!check.ok && check.message.contains("README"), "{check:?}");
    }

    #[test]
    fn symlinks_are_refused() {
        let mut link = entry("link");
        link.external_attributes = 0o120_777 << 16;
        assert!(!no_symlinks(&[entry("a"), link]).ok);
        assert!(no_symlinks(&[entry("a")]).ok);
    }

    #[test]
    fn entries_sharing_bytes_are_refused() {
        let mut a = entry("a");
        let mut b = entry("b");
        a.local_header_offset = 0;
        b.local_header_offset = 0;
        assert!(!no_overlap(&[a.clone(), b.clone()], 1000).ok);
        b.local_header_offset = 31 + 10;
        assert!(no_overlap(&[a.clone(), b.clone()], 1000).ok);
        assert!(
            !no_overlap(&[a, b], 60).ok,
            "data running into the central directory"
        );
    }

    #[test]
    fn inflation_over_a_hundred_to_one_is_refused() {
        let mut bomb = entry("bomb");
        bomb.compressed_size = 10_000;
        bomb.uncompressed_size = 10_000 * 1000;
        assert!(!ratio(&[bomb], u64::MAX).ok);
        let mut big = entry("big");
        big.compressed_size = MAX_TOTAL_UNCOMPRESSED;
        big.uncompressed_size = MAX_TOTAL_UNCOMPRESSED + 1;
        assert!(
            !ratio(&[big], MAX_TOTAL_UNCOMPRESSED * 2).ok,
            "over 64 GiB in all"
        );
        assert!(ratio(&[entry("fine")], 100).ok);
    }

    #[test]
    fn archive_inflating_over_a_hundred_to_one_in_all_is_refused() {
        // 65,000 entries of 1 MiB of zeros, ~1 KiB each compressed: none is over
        // the per-entry rule's 1 MiB, and 63.5 GiB is under the 64 GiB cap.
        let entries: Vec<Entry> = (0..65_000)
            .map(|i| {
                let mut e = entry(&format!("z/{i}"));
                e.compressed_size = 1_030;
                e.uncompressed_size = 1024 * 1024;
                e
            })
            .collect();
        let archive_len = 65_000 * (1_030 + 30 + 46 + 2 * 7) + 22;
        let check = ratio(&entries, archive_len);
        assert!(!check.ok, "{check:?}");
        assert!(check.message.contains("as a whole"), "{check:?}");
        // The same entries in an archive 100 times their uncompressed size pass.
        assert!(ratio(&entries, 65_000 * 1024 * 1024 / 100).ok);
    }

    #[test]
    fn small_archive_may_compress_well() {
        let mut zeros = entry("zeros");
        zeros.compressed_size = 1_000;
        zeros.uncompressed_size = 1024 * 1024;
        assert!(ratio(&[zeros], 1_200).ok, "1 MiB in all is no bomb");
    }

    #[test]
    fn check_ids_are_the_names_api_md_gives() {
        let names: Vec<&str> = CheckId::ALL.iter().map(|id| id.as_str()).collect();
        assert_eq!(
            names,
            [
                "zip.readable",
                "zip.no_encryption",
                "zip.paths_safe",
                "zip.no_symlinks",
                "zip.no_duplicates",
                "zip.no_overlap",
                "zip.ratio",
                "zip.entry_count",
                "zip.crc",
                "zip.consistent",
                "package.manifest",
                "package.readme",
                "object.sha256",
                "validation.complete",
            ]
        );
        assert_eq!(
            serde_json::to_value(Check::pass(CheckId::Crc, "x")).unwrap(),
            serde_json::json!({"id": "zip.crc", "ok": true, "message": "x"})
        );
    }

    #[test]
    fn messages_are_bounded_and_lists_say_what_they_left_out() {
        let long = |i: usize| entry(&format!("../{i}{}", "a".repeat(65_000)));
        let check = paths_safe(&(0..9).map(long).collect::<Vec<_>>());
        assert!(!check.ok);
        assert!(check.message.len() < 1_500, "{}", check.message.len());
        assert!(
            check.message.starts_with("9 unsafe paths"),
            "{}",
            &check.message[..50]
        );
        assert!(check.message.ends_with("and 4 more"), "{}", check.message);
        let huge = Check::fail(CheckId::Crc, "é".repeat(MAX_MESSAGE));
        assert!(huge.message.len() <= MAX_MESSAGE);
    }

    #[test]
    fn manifest_is_found_at_the_root_or_in_the_single_top_folder() {
        assert!(manifest_entry(&[entry("package.json"), entry("x/y")]).is_some());
        assert!(manifest_entry(&[entry("tool/package.json"), entry("tool/README.md")]).is_some());
        assert!(manifest_entry(&[entry("a/package.json"), entry("b/README.md")]).is_none());
    }

    #[test]
    fn readme_may_be_at_the_root_or_in_the_top_folder() {
        assert!(readme(&[entry("README.md")]).ok);
        assert!(readme(&[entry("tool/readme.txt"), entry("tool/package.json")]).ok);
        assert!(!readme(&[entry("docs/README.md"), entry("package.json")]).ok);
    }

    #[test]
    fn manifest_must_name_the_upload() {
        let m = |v: serde_json::Value| manifest(Ok(v), "tool", "1.0.0");
        assert!(m(serde_json::json!({"name": "tool", "version": "1.0.0"})).ok);
        assert!(!m(serde_json::json!({"name": "other", "version": "1.0.0"})).ok);
        assert!(!m(serde_json::json!({"name": "tool", "version": "2.0.0"})).ok);
        assert!(!m(serde_json::json!({"name": "tool"})).ok);
        assert!(!manifest(Err("no package.json".into()), "tool", "1.0.0").ok);
    }
}
