//! The checks of `API.md`, each a small pure function over the central
//! directory, each saying what it guards against.

use std::collections::HashMap;

use serde::Serialize;

use crate::zip::{Entry, MAX_ENTRIES};

/// Largest accepted ratio of uncompressed to compressed size, per entry.
pub const MAX_RATIO: u64 = 100;
/// Largest accepted total uncompressed size: 64 GiB.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 64 * 1024 * 1024 * 1024;

/// One line of the report: `{id, ok, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub ok: bool,
    pub message: String,
}

impl Check {
    pub fn pass(id: &'static str, message: impl Into<String>) -> Self {
        Self {
            id,
            ok: true,
            message: message.into(),
        }
    }

    pub fn fail(id: &'static str, message: impl Into<String>) -> Self {
        Self {
            id,
            ok: false,
            message: message.into(),
        }
    }
}

/// Names the first few offenders, so a report stays small on a hostile archive.
fn offenders(id: &'static str, what: &str, bad: &[String]) -> Check {
    match bad {
        [] => Check::pass(id, format!("no {what}")),
        _ => {
            let shown: Vec<&str> = bad.iter().take(5).map(String::as_str).collect();
            let more = if bad.len() > 5 {
                format!(" and {} more", bad.len() - 5)
            } else {
                String::new()
            };
            Check::fail(
                id,
                format!("{} {what}: {}{more}", bad.len(), shown.join(", ")),
            )
        }
    }
}

/// Rejects encrypted entries: their content cannot be checked (CRC,
/// manifest), so an encrypted package could carry anything past validation.
pub fn no_encryption(entries: &[Entry]) -> Check {
    let bad: Vec<String> = entries
        .iter()
        .filter(|e| e.is_encrypted())
        .map(Entry::display_name)
        .collect();
    offenders("zip.no_encryption", "encrypted entries", &bad)
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
    let bad: Vec<String> = entries
        .iter()
        .filter_map(|e| path_problem(&e.name).map(|why| format!("{:?} ({why})", e.display_name())))
        .collect();
    offenders("zip.paths_safe", "unsafe paths", &bad)
}

/// Rejects symlinks: a link entry followed by a file through it writes
/// anywhere on the extracting machine.
pub fn no_symlinks(entries: &[Entry]) -> Check {
    let bad: Vec<String> = entries
        .iter()
        .filter(|e| e.is_symlink())
        .map(Entry::display_name)
        .collect();
    offenders("zip.no_symlinks", "symlinks", &bad)
}

/// Rejects two entries with the same name, ignoring case: which one wins
/// depends on the tool (and on case-insensitive file systems, `README` and
/// `readme` collide), so what was validated need not be what gets installed.
pub fn no_duplicates(entries: &[Entry]) -> Check {
    let mut seen: HashMap<String, &Entry> = HashMap::with_capacity(entries.len());
    let mut bad = Vec::new();
    for e in entries {
        let key = String::from_utf8_lossy(&e.name).to_lowercase();
        if let Some(first) = seen.insert(key, e) {
            bad.push(format!(
                "{:?} and {:?}",
                first.display_name(),
                e.display_name()
            ));
        }
    }
    offenders("zip.no_duplicates", "duplicate names", &bad)
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
    let mut bad = Vec::new();
    for pair in spans.windows(2) {
        let (_, end, first) = pair[0];
        let (start, _, second) = pair[1];
        if start < end {
            bad.push(format!(
                "{:?} and {:?}",
                first.display_name(),
                second.display_name()
            ));
        }
    }
    if let Some((_, end, last)) = spans.last() {
        if *end > directory_offset {
            bad.push(format!(
                "{:?} and the central directory",
                last.display_name()
            ));
        }
    }
    offenders("zip.no_overlap", "overlapping entries", &bad)
}

/// Rejects entries that inflate more than 100 times, and packages over
/// 64 GiB in all: classic zip bombs (deflate reaches ~1032:1).
pub fn ratio(entries: &[Entry]) -> Check {
    let mut bad = Vec::new();
    let mut total: u64 = 0;
    for e in entries {
        total = total.saturating_add(e.uncompressed_size);
        let inflated = e.uncompressed_size > e.compressed_size.saturating_mul(MAX_RATIO);
        // Tiny entries may compress absurdly well (1 KiB of zeros): only larger ones count.
        if inflated && e.uncompressed_size > 1024 * 1024 {
            bad.push(format!(
                "{:?} ({} -> {} bytes)",
                e.display_name(),
                e.compressed_size,
                e.uncompressed_size
            ));
        }
    }
    if total > MAX_TOTAL_UNCOMPRESSED {
        return Check::fail(
            "zip.ratio",
            format!("{total} bytes uncompressed in all, more than {MAX_TOTAL_UNCOMPRESSED}"),
        );
    }
    match bad.as_slice() {
        [] => Check::pass(
            "zip.ratio",
            format!("{total} bytes uncompressed, every entry within {MAX_RATIO}:1"),
        ),
        _ => offenders(
            "zip.ratio",
            &format!("entries inflating over {MAX_RATIO}:1"),
            &bad,
        ),
    }
}

/// Rejects archives of more than 100,000 entries: each costs memory and time
/// to check and to install (the end record's count is refused before the
/// directory is even read).
pub fn entry_count(entries: &[Entry]) -> Check {
    if entries.len() as u64 > MAX_ENTRIES {
        Check::fail(
            "zip.entry_count",
            format!("{} entries, more than {MAX_ENTRIES}", entries.len()),
        )
    } else {
        Check::pass("zip.entry_count", format!("{} entries", entries.len()))
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
        Some(e) => Check::pass("package.readme", format!("{} found", e.display_name())),
        None => Check::fail(
            "package.readme",
            "no README file at the root or in the top folder",
        ),
    }
}

/// Checks the manifest's `name` and `version` against the upload's, so a
/// package cannot claim another package's identity once unpacked.
pub fn manifest(parsed: Result<serde_json::Value, String>, name: &str, version: &str) -> Check {
    let manifest = match parsed {
        Ok(m) => m,
        Err(why) => return Check::fail("package.manifest", why),
    };
    let got_name = manifest.get("name").and_then(|v| v.as_str());
    let got_version = manifest.get("version").and_then(|v| v.as_str());
    match (got_name, got_version) {
        (Some(n), Some(v)) if n == name && v == version => {
            Check::pass("package.manifest", format!("package.json names {n} {v}"))
        }
        (Some(n), Some(v)) => Check::fail(
            "package.manifest",
            format!("package.json names {n} {v}, the upload is {name} {version}"),
        ),
        _ => Check::fail(
            "package.manifest",
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
        assert!(!ratio(&[bomb]).ok);
        let mut big = entry("big");
        big.compressed_size = MAX_TOTAL_UNCOMPRESSED;
        big.uncompressed_size = MAX_TOTAL_UNCOMPRESSED + 1;
        assert!(!ratio(&[big]).ok, "over 64 GiB in all");
        assert!(ratio(&[entry("fine")]).ok);
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
