//! The ZIP structures the validator reads: the end-of-central-directory
//! record (and its ZIP64 locator and record), the central directory, and
//! local file headers. Every length read from the archive is bounds-checked
//! before use and nothing is allocated from an archive-supplied size without
//! a cap, so a hostile archive costs at most the caps below.

use crate::source::{Source, SourceError};

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
pub const LOCAL_SIG: u32 = 0x0403_4b50;
/// The optional signature of a data descriptor.
pub const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
/// Extra field ids: ZIP64 extended information; Info-ZIP Unicode Path.
pub const ZIP64_EXTRA: u16 = 0x0001;
pub const UNICODE_PATH_EXTRA: u16 = 0x7075;
/// The most of a name a report shows: a report must fit a DynamoDB item
/// whatever the archive's names (up to 65,535 bytes each).
const MAX_SHOWN_NAME: usize = 120;

const EOCD_LEN: u64 = 22;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_LEN: u64 = 56;
const CENTRAL_LEN: usize = 46;
pub const LOCAL_LEN: usize = 30;
const MAX_COMMENT: u64 = 65_535;

/// Most entries a package may have (`zip.entry_count`).
pub const MAX_ENTRIES: u64 = 100_000;
/// The largest central directory read into memory: 100,000 entries with
/// long names fit; anything bigger is refused before it is fetched.
pub const MAX_CENTRAL_DIRECTORY: u64 = 48 * 1024 * 1024;

/// Why the archive's structure cannot be read at all (`zip.readable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("no end-of-central-directory record: not a ZIP archive, or truncated")]
    NoEndRecord,
    #[error("the archive spans several disks")]
    MultiDisk,
    #[error("the ZIP64 end record is missing or corrupt")]
    Zip64,
    #[error("the central directory lies outside the archive")]
    DirectoryOutOfBounds,
    #[error("the central directory is {0} bytes, more than the {MAX_CENTRAL_DIRECTORY} accepted")]
    DirectoryTooLarge(u64),
    #[error("the archive declares {0} entries, more than the {MAX_ENTRIES} accepted")]
    TooManyEntries(u64),
    #[error("central directory entry {0} is corrupt: {1}")]
    Entry(usize, &'static str),
    #[error("the central directory holds {found} entries, the end record says {declared}")]
    CountMismatch { declared: u64, found: u64 },
}

/// Either the archive is bad, or reading it failed (retry).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// One central-directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: usize,
    pub name: Vec<u8>,
    pub made_by: u16,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub local_header_offset: u64,
    pub external_attributes: u32,
    /// The name of the directory's Info-ZIP Unicode Path extra field, if any:
    /// tools that read it (unzip, 7-Zip) extract under that name instead.
    pub unicode_path: Option<Vec<u8>>,
}

impl Entry {
    /// The name as text (lossy only for reporting; checks use the bytes).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The name quoted for a report, cut to a bounded length.
    pub fn shown_name(&self) -> String {
        shown(&self.name)
    }

    pub fn is_dir(&self) -> bool {
        self.name.last() == Some(&b'/')
    }

    /// Bit 0: traditional encryption; bit 6: strong encryption; method 99: AES.
    pub fn is_encrypted(&self) -> bool {
        self.flags & 0x0001 != 0 || self.flags & 0x0040 != 0 || self.method == 99
    }

    /// Sizes are in a data descriptor after the data (bit 3).
    pub fn has_data_descriptor(&self) -> bool {
        self.flags & 0x0008 != 0
    }

    /// A Unix symlink: host 3 (Unix) and file type `S_IFLNK` in the high attribute bits.
    pub fn is_symlink(&self) -> bool {
        (self.made_by >> 8) == 3 && (self.external_attributes >> 16) & 0o170_000 == 0o120_000
    }
}

/// A name (or any archive-supplied bytes) quoted for a report, cut to
/// [`MAX_SHOWN_NAME`] characters with the full length said.
pub fn shown(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    if text.chars().count() <= MAX_SHOWN_NAME {
        return format!("{text:?}");
    }
    let cut: String = text.chars().take(MAX_SHOWN_NAME).collect();
    format!("{cut:?}… ({} bytes)", name.len())
}

/// The parsed central directory.
#[derive(Debug, Clone)]
pub struct Directory {
    pub entries: Vec<Entry>,
    /// Where the central directory starts: entries' data must end before it.
    pub directory_offset: u64,
    pub directory_size: u64,
    /// Where the end records begin (the ZIP64 end record, or the end record):
    /// the directory should end exactly there.
    pub directory_end: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Where the end record is in `tail` (the archive's last bytes): the last
/// signature whose comment length reaches exactly the end of the archive.
/// Requiring that exactness defeats "EOCD comment tricks": a fake end record
/// hidden inside a comment, or appended data after the real one.
fn find_end_record(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(EOCD_LEN as usize)?;
    (0..=last).rev().find(|&i| {
        u32_at(tail, i) == Some(EOCD_SIG)
            && u16_at(tail, i + 20)
                .is_some_and(|comment| i + EOCD_LEN as usize + comment as usize == tail.len())
    })
}

/// Reads the end records and the central directory: a handful of ranged reads
/// (the tail, the ZIP64 record if any, the directory), never the data.
pub async fn read_directory<S: Source>(source: &S) -> Result<Directory, ReadError> {
    let len = source.len();
    let tail_len = len.min(EOCD_LEN + MAX_COMMENT + ZIP64_LOCATOR_LEN);
    if tail_len < EOCD_LEN {
        return Err(Malformed::NoEndRecord.into());
    }
    let tail_start = len - tail_len;
    let tail = source.read_at(tail_start, tail_len).await?;
    let at = find_end_record(&tail).ok_or(Malformed::NoEndRecord)?;
    let eocd = &tail[at..];
    let eocd_offset = tail_start + at as u64;
    let disk = u16_at(eocd, 4).unwrap_or(0);
    let cd_disk = u16_at(eocd, 6).unwrap_or(0);
    let disk_entries = u16_at(eocd, 8).unwrap_or(0);
    let mut entries = u64::from(u16_at(eocd, 10).unwrap_or(0));
    let mut cd_size = u64::from(u32_at(eocd, 12).unwrap_or(0));
    let mut cd_offset = u64::from(u32_at(eocd, 16).unwrap_or(0));
    if disk != 0 || cd_disk != 0 || u64::from(disk_entries) != entries {
        return Err(Malformed::MultiDisk.into());
    }
    // The start of what follows the central directory: the ZIP64 record if
    // present, else the end record.
    let mut directory_end = eocd_offset;
    // A ZIP64 locator right before the end record is read whether or not the
    // end record's fields are saturated, as Info-ZIP and Python do: some
    // writers always add the ZIP64 records.
    let locator_present = at
        .checked_sub(ZIP64_LOCATOR_LEN as usize)
        .is_some_and(|l| u32_at(&tail, l) == Some(ZIP64_LOCATOR_SIG));
    let zip64 = entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF;
    if zip64 || locator_present {
        let locator_at = (at as u64)
            .checked_sub(ZIP64_LOCATOR_LEN)
            .ok_or(Malformed::Zip64)? as usize;
        let locator = &tail[locator_at..at];
        if u32_at(locator, 0) != Some(ZIP64_LOCATOR_SIG) || u32_at(locator, 16) != Some(1) {
            return Err(Malformed::Zip64.into());
        }
        let record_offset = u64_at(locator, 8).ok_or(Malformed::Zip64)?;
        if record_offset
            .checked_add(ZIP64_EOCD_LEN)
            .is_none_or(|end| end > tail_start + locator_at as u64)
        {
            return Err(Malformed::Zip64.into());
        }
        let record = source.read_at(record_offset, ZIP64_EOCD_LEN).await?;
        if u32_at(&record, 0) != Some(ZIP64_EOCD_SIG)
            || u32_at(&record, 16) != Some(0)
            || u32_at(&record, 20) != Some(0)
        {
            return Err(Malformed::Zip64.into());
        }
        entries = u64_at(&record, 32).ok_or(Malformed::Zip64)?;
        cd_size = u64_at(&record, 40).ok_or(Malformed::Zip64)?;
        cd_offset = u64_at(&record, 48).ok_or(Malformed::Zip64)?;
        directory_end = record_offset;
    }
    if entries > MAX_ENTRIES {
        return Err(Malformed::TooManyEntries(entries).into());
    }
    if cd_offset
        .checked_add(cd_size)
        .is_none_or(|end| end > directory_end)
    {
        return Err(Malformed::DirectoryOutOfBounds.into());
    }
    if cd_size > MAX_CENTRAL_DIRECTORY {
        return Err(Malformed::DirectoryTooLarge(cd_size).into());
    }
    // Each entry takes at least 46 bytes: a count the size cannot hold is a lie.
    if entries.saturating_mul(CENTRAL_LEN as u64) > cd_size {
        return Err(Malformed::CountMismatch {
            declared: entries,
            found: cd_size / CENTRAL_LEN as u64,
        }
        .into());
    }
    // Reuse the tail when it already holds the directory (small archives).
    let directory = if cd_offset >= tail_start {
        let from = (cd_offset - tail_start) as usize;
        tail.slice(from..from + cd_size as usize)
    } else {
        source.read_at(cd_offset, cd_size).await?
    };
    let parsed = parse_central_directory(&directory, entries)?;
    Ok(Directory {
        entries: parsed,
        directory_offset: cd_offset,
        directory_size: cd_size,
        directory_end,
    })
}

/// Parses `count` central-directory entries from `cd`.
pub fn parse_central_directory(cd: &[u8], count: u64) -> Result<Vec<Entry>, Malformed> {
    let mut entries = Vec::with_capacity(count.min(MAX_ENTRIES) as usize);
    let mut at = 0usize;
    for index in 0..count as usize {
        let bad = |why| Malformed::Entry(index, why);
        if u32_at(cd, at) != Some(CENTRAL_SIG) {
            return Err(bad("bad signature"));
        }
        let header = cd
            .get(at..at + CENTRAL_LEN)
            .ok_or(bad("truncated header"))?;
        let name_len = u16_at(header, 28).unwrap_or(0) as usize;
        let extra_len = u16_at(header, 30).unwrap_or(0) as usize;
        let comment_len = u16_at(header, 32).unwrap_or(0) as usize;
        let disk = u16_at(header, 34).unwrap_or(0);
        let name_at = at + CENTRAL_LEN;
        let extra_at = name_at + name_len;
        let end = extra_at + extra_len + comment_len;
        let name = cd
            .get(name_at..extra_at)
            .ok_or(bad("name beyond the directory"))?;
        let extra = cd
            .get(extra_at..extra_at + extra_len)
            .ok_or(bad("extra field beyond the directory"))?;
        if end > cd.len() {
            return Err(bad("comment beyond the directory"));
        }
        let mut entry = Entry {
            index,
            name: name.to_vec(),
            made_by: u16_at(header, 4).unwrap_or(0),
            flags: u16_at(header, 8).unwrap_or(0),
            method: u16_at(header, 10).unwrap_or(0),
            crc32: u32_at(header, 16).unwrap_or(0),
            compressed_size: u64::from(u32_at(header, 20).unwrap_or(0)),
            uncompressed_size: u64::from(u32_at(header, 24).unwrap_or(0)),
            local_header_offset: u64::from(u32_at(header, 42).unwrap_or(0)),
            external_attributes: u32_at(header, 38).unwrap_or(0),
            unicode_path: unicode_path(extra).map(<[u8]>::to_vec),
        };
        apply_zip64_extra(&mut entry, extra, disk).map_err(bad)?;
        entries.push(entry);
        at = end;
    }
    if at != cd.len() {
        // Bytes left over: the end record under-counts the entries.
        return Err(Malformed::CountMismatch {
            declared: count,
            found: count + 1,
        });
    }
    Ok(entries)
}

/// Replaces 0xFFFFFFFF sizes and offset with the ZIP64 extended information
/// extra field (id 1), in its fixed order, taking only the fields that are saturated.
fn apply_zip64_extra(entry: &mut Entry, extra: &[u8], disk: u16) -> Result<(), &'static str> {
    let needs_uncompressed = entry.uncompressed_size == 0xFFFF_FFFF;
    let needs_compressed = entry.compressed_size == 0xFFFF_FFFF;
    let needs_offset = entry.local_header_offset == 0xFFFF_FFFF;
    let needs_disk = disk == 0xFFFF;
    if disk != 0 && !needs_disk {
        return Err("entry on another disk");
    }
    if !(needs_uncompressed || needs_compressed || needs_offset || needs_disk) {
        return Ok(());
    }
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at).unwrap_or(0);
        let size = u16_at(extra, at + 2).unwrap_or(0) as usize;
        let body = extra
            .get(at + 4..at + 4 + size)
            .ok_or("extra field overruns")?;
        if id == 1 {
            let mut field = 0;
            let mut next = || {
                let v = u64_at(body, field).ok_or("ZIP64 extra field too short");
                field += 8;
                v
            };
            if needs_uncompressed {
                entry.uncompressed_size = next()?;
            }
            if needs_compressed {
                entry.compressed_size = next()?;
            }
            if needs_offset {
                entry.local_header_offset = next()?;
            }
            return Ok(());
        }
        at += 4 + size;
    }
    Err("saturated sizes without a ZIP64 extra field")
}

/// The fixed part of a local file header (30 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalHeader {
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    /// As written: 0xFFFFFFFF means "in the ZIP64 extra field".
    pub compressed_size: u32,
    pub uncompressed_size: u32,
    pub name_len: usize,
    pub extra_len: usize,
}

/// Parses a local header's fixed 30 bytes; `None` when the signature is wrong
/// or the bytes are too few.
pub fn parse_local_header(b: &[u8]) -> Option<LocalHeader> {
    if u32_at(b, 0) != Some(LOCAL_SIG) {
        return None;
    }
    Some(LocalHeader {
        flags: u16_at(b, 6)?,
        method: u16_at(b, 8)?,
        crc32: u32_at(b, 14)?,
        compressed_size: u32_at(b, 18)?,
        uncompressed_size: u32_at(b, 22)?,
        name_len: u16_at(b, 26)? as usize,
        extra_len: u16_at(b, 28)? as usize,
    })
}

/// The `(flags, method, name length, extra length)` of a local header.
pub fn local_header_lengths(b: &[u8]) -> Option<(u16, u16, usize, usize)> {
    parse_local_header(b).map(|h| (h.flags, h.method, h.name_len, h.extra_len))
}

/// The body of the first extra field `id` in `extra`, if any.
pub fn extra_field(extra: &[u8], id: u16) -> Option<&[u8]> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let field = u16_at(extra, at)?;
        let size = u16_at(extra, at + 2)? as usize;
        let body = extra.get(at + 4..at + 4 + size)?;
        if field == id {
            return Some(body);
        }
        at += 4 + size;
    }
    None
}

/// The name an Info-ZIP Unicode Path extra field (version 1, CRC-32 of the
/// header's name, UTF-8 name) gives, if there is one.
pub fn unicode_path(extra: &[u8]) -> Option<&[u8]> {
    extra_field(extra, UNICODE_PATH_EXTRA).and_then(|body| body.get(5..))
}

/// A local header's `(compressed, uncompressed)` sizes, reading saturated
/// ones from its ZIP64 extra field. The local field holds both sizes
/// (uncompressed first) whenever either is saturated (APPNOTE 4.5.3).
pub fn local_sizes(header: &LocalHeader, extra: &[u8]) -> Result<(u64, u64), &'static str> {
    let saturated_c = header.compressed_size == 0xFFFF_FFFF;
    let saturated_u = header.uncompressed_size == 0xFFFF_FFFF;
    if !(saturated_c || saturated_u) {
        return Ok((
            u64::from(header.compressed_size),
            u64::from(header.uncompressed_size),
        ));
    }
    let body =
        extra_field(extra, ZIP64_EXTRA).ok_or("saturated sizes without a ZIP64 extra field")?;
    let (uncompressed, compressed) = match (u64_at(body, 0), u64_at(body, 8)) {
        (Some(u), Some(c)) => (u, c),
        _ => return Err("ZIP64 extra field too short"),
    };
    Ok((
        if saturated_c {
            compressed
        } else {
            u64::from(header.compressed_size)
        },
        if saturated_u {
            uncompressed
        } else {
            u64::from(header.uncompressed_size)
        },
    ))
}

/// A data descriptor's little-endian fields.
pub fn le32(b: &[u8]) -> Option<u32> {
    u32_at(b, 0)
}

pub fn le64(b: &[u8]) -> Option<u64> {
    u64_at(b, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_record_must_reach_exactly_the_end() {
        let mut tail = vec![0u8; 10];
        let mut eocd = vec![0u8; 22];
        eocd[..4].copy_from_slice(&EOCD_SIG.to_le_bytes());
        tail.extend_from_slice(&eocd);
        assert_eq!(find_end_record(&tail), Some(10));
        tail.push(0); // one byte of junk after the record, no comment declared
        assert_eq!(find_end_record(&tail), None);
    }

    #[test]
    fn fake_end_record_inside_a_comment_is_not_taken() {
        // Real EOCD with a 22-byte comment that itself looks like an EOCD with comment length 0.
        let mut real = vec![0u8; 22];
        real[..4].copy_from_slice(&EOCD_SIG.to_le_bytes());
        real[20..22].copy_from_slice(&22u16.to_le_bytes());
        let mut fake = vec![0u8; 22];
        fake[..4].copy_from_slice(&EOCD_SIG.to_le_bytes());
        fake[10..12].copy_from_slice(&7u16.to_le_bytes());
        real.extend_from_slice(&fake);
        // The fake one (last signature, comment 0) also reaches the end: both are
        // consistent, and the last wins, as unzip does; what matters is that
        // nothing past the end is trusted and counts are then cross-checked.
        assert_eq!(find_end_record(&real), Some(22));
    }

    #[test]
    fn truncated_directory_entry_is_malformed_not_a_panic() {
        let mut cd = CENTRAL_SIG.to_le_bytes().to_vec();
        cd.extend_from_slice(&[0u8; 20]);
        assert!(matches!(
            parse_central_directory(&cd, 1),
            Err(Malformed::Entry(0, _))
        ));
        assert!(matches!(
            parse_central_directory(&[], 3),
            Err(Malformed::Entry(0, _))
        ));
    }
}
