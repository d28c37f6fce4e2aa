//! The name and version a ZIP declares in its `package.json`, read from the
//! end records, the central directory and that one entry: a few ranged reads,
//! whatever the archive's size. The validator checks the same file later; this
//! only lets `publish` default its name and version, and refuse a file that
//! is not a ZIP before anything is uploaded.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{CliError, Result};

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;
/// The end record (22 bytes) and the longest comment it may carry.
const TAIL: u64 = 22 + 0xFFFF;
/// A central directory of the validator's 100,000 entries fits well within this.
const MAX_DIRECTORY: u64 = 64 << 20;
const MAX_MANIFEST: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
}

struct Entry {
    name: String,
    method: u16,
    compressed: u64,
    offset: u64,
}

/// The archive's `package.json` (at the root, or in its single top folder);
/// `Ok(None)` for a ZIP without one; an error for a file that is not a ZIP.
pub fn read(path: &Path) -> Result<Option<Manifest>> {
    let mut file = File::open(path).map_err(|e| CliError::io("open", path, &e))?;
    let not_zip =
        |why: &str| CliError::bad_input(format!("{} is not a ZIP archive: {why}", path.display()));
    let entries = directory(&mut file).map_err(|e| match e {
        Broken::Io(e) => CliError::io("read", path, &e),
        Broken::Format(why) => not_zip(why),
    })?;
    let Some(entry) = manifest_entry(&entries) else {
        return Ok(None);
    };
    let bytes = entry_bytes(&mut file, entry).map_err(|e| match e {
        Broken::Io(e) => CliError::io("read", path, &e),
        Broken::Format(why) => not_zip(why),
    })?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::bad_input(format!(
            "{}: {} is not valid JSON: {e}",
            path.display(),
            entry.name
        ))
    })?;
    let field = |key: &str| json[key].as_str().map(str::to_owned);
    match (field("name"), field("version")) {
        (Some(name), Some(version)) => Ok(Some(Manifest {
            name,
            version,
            description: field("description"),
        })),
        _ => Err(CliError::bad_input(format!(
            "{}: {} has no \"name\" and \"version\" strings",
            path.display(),
            entry.name
        ))),
    }
}

enum Broken {
    Io(std::io::Error),
    Format(&'static str),
}

impl From<std::io::Error> for Broken {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Broken::Format("it ends inside a record")
        } else {
            Broken::Io(e)
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn read_at(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len as usize];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

fn directory(file: &mut File) -> Result<Vec<Entry>, Broken> {
    let size = file.metadata()?.len();
    if size < 22 {
        return Err(Broken::Format("it is too short"));
    }
    let start = size.saturating_sub(TAIL);
    let tail = read_at(file, start, size - start)?;
    let at = (0..=tail.len() - 22)
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD)
        .ok_or(Broken::Format("it has no end of central directory record"))?;
    let mut count = u64::from(u16_at(&tail, at + 10));
    let mut length = u64::from(u32_at(&tail, at + 12));
    let mut offset = u64::from(u32_at(&tail, at + 16));
    if count == 0xFFFF || length == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        let locator = (start + at as u64)
            .checked_sub(20)
            .ok_or(Broken::Format("its ZIP64 end record is missing"))?;
        let loc = read_at(file, locator, 20)?;
        if u32_at(&loc, 0) != ZIP64_LOCATOR {
            return Err(Broken::Format("its ZIP64 end record is missing"));
        }
        let record = read_at(file, u64_at(&loc, 8), 56)?;
        if u32_at(&record, 0) != ZIP64_EOCD {
            return Err(Broken::Format("its ZIP64 end record is missing"));
        }
        count = u64_at(&record, 32);
        length = u64_at(&record, 40);
        offset = u64_at(&record, 48);
    }
    if length > MAX_DIRECTORY || offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(Broken::Format(
            "its central directory lies outside the file",
        ));
    }
    let dir = read_at(file, offset, length)?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    while entries.len() as u64 <= count && at + 46 <= dir.len() && u32_at(&dir, at) == CENTRAL {
        let name_len = usize::from(u16_at(&dir, at + 28));
        let extra_len = usize::from(u16_at(&dir, at + 30));
        let comment_len = usize::from(u16_at(&dir, at + 32));
        let name_end = at + 46 + name_len;
        let name = dir
            .get(at + 46..name_end)
            .ok_or(Broken::Format("its central directory is cut short"))?;
        let extra = dir.get(name_end..name_end + extra_len).unwrap_or(&[]);
        let mut compressed = u64::from(u32_at(&dir, at + 20));
        let uncompressed = u64::from(u32_at(&dir, at + 24));
        let mut local = u64::from(u32_at(&dir, at + 42));
        // ZIP64 extended information: the fields that overflowed, in order.
        let mut i = 0;
        while i + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, i), usize::from(u16_at(extra, i + 2)));
            if id == 1 {
                let mut field = i + 4;
                if uncompressed == 0xFFFF_FFFF {
                    field += 8;
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = u64_at(extra, field);
                    field += 8;
                }
                if local == 0xFFFF_FFFF {
                    local = u64_at(extra, field);
                }
            }
            i += 4 + len;
        }
        entries.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            method: u16_at(&dir, at + 10),
            compressed,
            offset: local,
        });
        at = name_end + extra_len + comment_len;
    }
    Ok(entries)
}

/// `package.json` at the root, or `<top>/package.json` when every entry sits in `<top>/`.
fn manifest_entry(entries: &[Entry]) -> Option<&Entry> {
    if let Some(root) = entries.iter().find(|e| e.name == "package.json") {
        return Some(root);
    }
    let nested = entries.iter().find(|e| {
        e.name
            .strip_suffix("/package.json")
            .is_some_and(|top| !top.is_empty() && !top.contains('/'))
    })?;
    let top = &nested.name[..nested.name.len() - "package.json".len()];
    entries
        .iter()
        .all(|e| e.name.starts_with(top))
        .then_some(nested)
}

fn entry_bytes(file: &mut File, entry: &Entry) -> Result<Vec<u8>, Broken> {
    let header = read_at(file, entry.offset, 30)?;
    if u32_at(&header, 0) != LOCAL {
        return Err(Broken::Format(
            "a central directory entry points at no local header",
        ));
    }
    if entry.compressed > MAX_MANIFEST as u64 {
        return Err(Broken::Format("its package.json is over 1 MiB"));
    }
    let data_at =
        entry.offset + 30 + u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    let data = read_at(file, data_at, entry.compressed)?;
    match entry.method {
        0 => Ok(data),
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&data, MAX_MANIFEST)
            .map_err(|_| Broken::Format("its package.json does not inflate")),
        _ => Err(Broken::Format(
            "its package.json uses a compression method other than deflate",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> std::path::PathBuf {
        // A stored ZIP, written by hand: the shape every ZIP tool reads.
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            let mut local = Vec::new();
            local.extend_from_slice(&LOCAL.to_le_bytes());
            local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local);
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let dir_at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&dir_at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        let path = std::env::temp_dir().join(format!(
            "cloudkeep-manifest-{}-{}.zip",
            std::process::id(),
            entries.len() + out.len()
        ));
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn a_root_package_json_gives_the_name_and_version() {
        let path = zip_of(&[
            ("package.json", br#"{"name": "tool", "version": "1.2.3"}"#),
            ("README.md", b"# tool"),
        ]);
        let manifest = read(&path).unwrap().unwrap();
        assert_eq!(
            (manifest.name.as_str(), manifest.version.as_str()),
            ("tool", "1.2.3")
        );
    }

    #[test]
    fn a_package_json_in_the_single_top_folder_counts_and_elsewhere_does_not() {
        let single = zip_of(&[
            ("tool/package.json", br#"{"name": "a", "version": "1.0.0"}"#),
            ("tool/x", b""),
        ]);
        assert_eq!(read(&single).unwrap().unwrap().name, "a");
        let two_tops = zip_of(&[
            ("tool/package.json", br#"{"name": "a", "version": "1.0.0"}"#),
            ("other/x", b""),
        ]);
        assert_eq!(read(&two_tops).unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_bad_input_naming_the_file() {
        let path = std::env::temp_dir().join(format!("cloudkeep-not-zip-{}", std::process::id()));
        std::fs::write(
            &path,
            b"just some text, long enough to look for an end record",
        )
        .unwrap();
        let error = read(&path).unwrap_err();
        assert_eq!(error.exit, crate::error::Exit::BadInput);
        assert!(
            error.message.contains("is not a ZIP archive"),
            "{}",
            error.message
        );
    }
}
