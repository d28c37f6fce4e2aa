//! The one sequential pass over the object: SHA-256 of every byte, and for
//! each entry (in file order) its local header and data descriptor compared
//! with the directory, where it starts and ends (the entries must tile the
//! archive), and its data inflated to check the CRC-32 and size. Memory is a
//! few chunks (the one being read and those being fetched) and one local
//! header (at most 128 KiB), whatever the object's size.

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};

use crate::checks::{Check, CheckId, MAX_SHOWN, Offenders};
use crate::source::{Source, SourceError};
use crate::zip::{
    self, DESCRIPTOR_SIG, Directory, Entry, LOCAL_LEN, LocalHeader, ZIP64_EXTRA, shown,
};

/// The size of each ranged GET of the streaming pass.
pub const CHUNK: u64 = 8 * 1024 * 1024;
/// Ranged GETs in flight ahead of the one being processed: enough to keep the
/// network busy while hashing and inflating; memory is (1 + AHEAD) x CHUNK.
pub const AHEAD: usize = 2;
/// Inflated bytes are checked and dropped in blocks of this size.
const OUT_BLOCK: usize = 256 * 1024;

/// Reads the object front to back, hashing every byte once, with chunks
/// fetched ahead while the current one is processed.
pub struct SeqReader<S: Source> {
    source: S,
    current: Bytes,
    /// Offset of `current[0]` in the object.
    current_start: u64,
    /// Position of the next byte handed out.
    pos: u64,
    ahead: std::collections::VecDeque<tokio::task::JoinHandle<Result<Bytes, SourceError>>>,
    /// End of what has been requested so far.
    requested: u64,
    sha: Sha256,
    chunk: u64,
}

impl<S: Source> SeqReader<S> {
    pub fn new(source: S) -> Self {
        Self::with_chunk(source, CHUNK)
    }

    pub fn with_chunk(source: S, chunk: u64) -> Self {
        let mut reader = Self {
            source,
            current: Bytes::new(),
            current_start: 0,
            pos: 0,
            ahead: std::collections::VecDeque::new(),
            requested: 0,
            sha: Sha256::new(),
            chunk: chunk.max(1),
        };
        reader.fetch_ahead();
        reader
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The object's size.
    pub fn object_len(&self) -> u64 {
        self.source.len()
    }

    /// Keeps up to `AHEAD` chunk reads in flight, in order.
    fn fetch_ahead(&mut self) {
        let len = self.source.len();
        while self.ahead.len() < AHEAD && self.requested < len {
            let size = self.chunk.min(len - self.requested);
            let (source, offset) = (self.source.clone(), self.requested);
            self.requested += size;
            self.ahead.push_back(tokio::spawn(
                async move { source.read_at(offset, size).await },
            ));
        }
    }

    /// Makes `current` hold `pos`, moving to the next chunk (and hashing it).
    async fn fill(&mut self) -> Result<bool, SourceError> {
        while self.pos >= self.current_start + self.current.len() as u64 {
            let Some(next) = self.ahead.pop_front() else {
                return Ok(false);
            };
            let chunk = next
                .await
                .map_err(|e| SourceError::new(format!("read task failed: {e}")))??;
            self.current_start += self.current.len() as u64;
            self.sha.update(&chunk);
            self.current = chunk;
            self.fetch_ahead();
        }
        Ok(true)
    }

    /// Up to `max` bytes from the current position (fewer at a chunk's end);
    /// empty at the end of the object.
    pub async fn take(&mut self, max: u64) -> Result<Bytes, SourceError> {
        if max == 0 || !self.fill().await? {
            return Ok(Bytes::new());
        }
        let from = (self.pos - self.current_start) as usize;
        let to = from + (max.min((self.current.len() - from) as u64)) as usize;
        self.pos += (to - from) as u64;
        Ok(self.current.slice(from..to))
    }

    /// Exactly `n` bytes (copied when they straddle chunks); `None` at the end.
    pub async fn exact(&mut self, n: usize) -> Result<Option<Vec<u8>>, SourceError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let part = self.take((n - out.len()) as u64).await?;
            if part.is_empty() {
                return Ok(None);
            }
            out.extend_from_slice(&part);
        }
        Ok(Some(out))
    }

    /// Moves forward to `to`, hashing what it passes.
    pub async fn skip_to(&mut self, to: u64) -> Result<(), SourceError> {
        while self.pos < to {
            if self.take(to - self.pos).await?.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Reads to the end; the SHA-256 of the whole object, hex.
    pub async fn finish(mut self) -> Result<String, SourceError> {
        let len = self.source.len();
        self.skip_to(len).await?;
        let sha = std::mem::take(&mut self.sha);
        Ok(sha.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl<S: Source> Drop for SeqReader<S> {
    /// Reads still in flight are not waited for (a timed-out pass stops here).
    fn drop(&mut self) {
        for read in &self.ahead {
            read.abort();
        }
    }
}

/// Flag bits whose disagreement changes what a reader does with an entry:
/// 0 and 6 (encrypted: the data is not what it seems), 3 (data descriptor:
/// where the entry ends), 5 (patched data), 13 (masked local header). Bit 11
/// (UTF-8 names) is left out: names must be valid UTF-8 (`zip.paths_safe`),
/// and read as CP437 instead their ASCII bytes (`/`, `.`, `\\`, `:`) are the same.
pub const FLAGS_THAT_MATTER: u16 = 0x0001 | 0x0008 | 0x0020 | 0x0040 | 0x2000;

/// How a local header, a data descriptor or an entry's bytes disagree with
/// the central directory: each is a way for a streaming reader to see
/// another file than the one validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconsistency {
    /// Nothing (or no local header signature) where the directory says the entry is.
    NoLocalHeader,
    /// The local header names another file than the directory.
    Name(Vec<u8>),
    Method {
        local: u16,
        central: u16,
    },
    Flags {
        local: u16,
        central: u16,
    },
    Crc {
        local: u32,
        central: u32,
    },
    /// (compressed, uncompressed), local then central.
    Sizes {
        local: (u64, u64),
        central: (u64, u64),
    },
    Zip64(&'static str),
    /// A Unicode Path extra field (local or central) naming another file.
    UnicodePath {
        local: bool,
        name: Vec<u8>,
    },
    /// The data runs past the end of the object.
    Truncated,
    DescriptorMissing,
    /// (compressed, uncompressed) and CRC, as the descriptor says.
    Descriptor {
        crc: u32,
        sizes: (u64, u64),
    },
    /// A stored entry with a data descriptor holds, at this offset in its data,
    /// a descriptor signature followed by the CRC-32 of what precedes it.
    FakeDescriptor(u64),
    /// The deflate stream ends this many bytes before the entry's data does.
    AfterDeflateStream(u64),
}

impl std::fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoLocalHeader => f.write_str("no local header where the directory says"),
            Self::Name(local) => write!(f, "the local header names {}", shown(local)),
            Self::Method { local, central } => write!(
                f,
                "the local header says compression method {local}, the directory {central}"
            ),
            Self::Flags { local, central } => write!(
                f,
                "the local header's flags are {local:#06x}, the directory's {central:#06x}"
            ),
            Self::Crc { local, central } => write!(
                f,
                "the local header's CRC-32 is {local:08x}, the directory's {central:08x}"
            ),
            Self::Sizes { local, central } => write!(
                f,
                "the local header's sizes are {} -> {}, the directory's {} -> {}",
                local.0, local.1, central.0, central.1
            ),
            Self::Zip64(why) => write!(f, "local header: {why}"),
            Self::UnicodePath { local, name } => write!(
                f,
                "a Unicode Path extra field in the {} names {}",
                if *local { "local header" } else { "directory" },
                shown(name)
            ),
            Self::Truncated => f.write_str("its data runs past the end of the archive"),
            Self::DescriptorMissing => f.write_str("its data descriptor is missing or cut short"),
            Self::Descriptor { crc, sizes } => write!(
                f,
                "its data descriptor says CRC-32 {crc:08x} and sizes {} -> {}, unlike the directory",
                sizes.0, sizes.1
            ),
            Self::FakeDescriptor(at) => write!(
                f,
                "its stored data holds a data descriptor at byte {at}, where a scanning reader ends the entry"
            ),
            Self::AfterDeflateStream(n) => write!(
                f,
                "its deflate stream ends {n} bytes before its data does: the bytes after it are hidden"
            ),
        }
    }
}

/// What checking one entry's bytes found wrong with its data, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// A compression method we do not inflate.
    Method(u16),
    Corrupt(String),
    Crc {
        expected: u32,
        actual: u32,
    },
    Size {
        expected: u64,
        actual: u64,
    },
}

impl std::fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Method(m) => write!(
                f,
                "compression method {m} is not supported (only stored and deflate)"
            ),
            Self::Corrupt(why) => write!(f, "corrupt deflate data: {why}"),
            Self::Crc { expected, actual } => write!(
                f,
                "CRC-32 is {actual:08x}, the directory says {expected:08x}"
            ),
            Self::Size { expected, actual } => write!(
                f,
                "inflates to {actual} bytes or more, the directory says {expected}"
            ),
        }
    }
}

/// What one entry's bytes showed.
#[derive(Debug, Default)]
pub struct EntryFindings {
    pub inconsistency: Option<Inconsistency>,
    pub data: Option<EntryProblem>,
    /// Where the entry (header, name, extra, data, descriptor) ends; `None`
    /// when its local header could not be read, so its end is unknown.
    pub end: Option<u64>,
}

/// Reads a data descriptor at the reader's position: the optional signature,
/// the CRC-32, then 4-byte sizes, or 8-byte ones when the local header has a
/// ZIP64 extra field (APPNOTE 4.3.9; libarchive decides the same way).
/// `None` when the object ends first. Returns the raw bytes too.
async fn read_descriptor<S: Source>(
    reader: &mut SeqReader<S>,
    zip64: bool,
) -> Result<Option<(u32, u64, u64, Vec<u8>)>, SourceError> {
    let Some(first) = reader.exact(4).await? else {
        return Ok(None);
    };
    let signed = zip::le32(&first) == Some(DESCRIPTOR_SIG);
    let size_len = if zip64 { 8 } else { 4 };
    let rest = if signed {
        4 + 2 * size_len
    } else {
        2 * size_len
    };
    let Some(more) = reader.exact(rest).await? else {
        return Ok(None);
    };
    let mut raw = first;
    raw.extend_from_slice(&more);
    let fields = if signed { &raw[4..] } else { &raw[..] };
    let crc = zip::le32(fields).unwrap_or(0);
    let size = |at: usize| {
        if zip64 {
            fields.get(at..).and_then(zip::le64).unwrap_or(0)
        } else {
            fields.get(at..).and_then(zip::le32).map_or(0, u64::from)
        }
    };
    let (compressed, uncompressed) = (size(4), size(4 + size_len));
    Ok(Some((crc, compressed, uncompressed, raw)))
}

/// Compares a local header with its directory entry: name, method, the flags
/// that matter, CRC-32 and sizes (which, with a data descriptor, are zero or
/// the directory's), and any Unicode Path field.
fn compare_header(
    entry: &Entry,
    header: &LocalHeader,
    name: &[u8],
    extra: &[u8],
) -> Option<Inconsistency> {
    if name != entry.name.as_slice() {
        return Some(Inconsistency::Name(name.to_vec()));
    }
    if header.method != entry.method {
        return Some(Inconsistency::Method {
            local: header.method,
            central: entry.method,
        });
    }
    if header.flags & FLAGS_THAT_MATTER != entry.flags & FLAGS_THAT_MATTER {
        return Some(Inconsistency::Flags {
            local: header.flags,
            central: entry.flags,
        });
    }
    let (compressed, uncompressed) = match zip::local_sizes(header, extra) {
        Ok(sizes) => sizes,
        Err(why) => return Some(Inconsistency::Zip64(why)),
    };
    let deferred = header.flags & 0x0008 != 0;
    // With a descriptor the local values are zero (APPNOTE 4.4.4), or the true ones.
    let agrees = |local: u64, central: u64| local == central || (deferred && local == 0);
    if !agrees(compressed, entry.compressed_size) || !agrees(uncompressed, entry.uncompressed_size)
    {
        return Some(Inconsistency::Sizes {
            local: (compressed, uncompressed),
            central: (entry.compressed_size, entry.uncompressed_size),
        });
    }
    if !agrees(u64::from(header.crc32), u64::from(entry.crc32)) {
        return Some(Inconsistency::Crc {
            local: header.crc32,
            central: entry.crc32,
        });
    }
    if let Some(path) = zip::unicode_path(extra).filter(|p| *p != entry.name.as_slice()) {
        return Some(Inconsistency::UnicodePath {
            local: true,
            name: path.to_vec(),
        });
    }
    if let Some(path) = entry.unicode_path.as_ref().filter(|p| **p != entry.name) {
        return Some(Inconsistency::UnicodePath {
            local: false,
            name: path.clone(),
        });
    }
    None
}

/// Checks one entry at the reader's position (its local header offset): its
/// local header against the directory, its data (when `verify`: inflated to
/// its declared size and CRC-32), and its data descriptor, if it has one.
pub async fn check_entry<S: Source>(
    reader: &mut SeqReader<S>,
    entry: &Entry,
    verify: bool,
) -> Result<EntryFindings, SourceError> {
    let mut found = EntryFindings::default();
    let Some(fixed) = reader.exact(LOCAL_LEN).await? else {
        found.inconsistency = Some(Inconsistency::NoLocalHeader);
        return Ok(found);
    };
    let Some(header) = zip::parse_local_header(&fixed) else {
        found.inconsistency = Some(Inconsistency::NoLocalHeader);
        return Ok(found);
    };
    let (Some(name), Some(extra)) = (
        reader.exact(header.name_len).await?,
        reader.exact(header.extra_len).await?,
    ) else {
        found.inconsistency = Some(Inconsistency::NoLocalHeader);
        return Ok(found);
    };
    found.inconsistency = compare_header(entry, &header, &name, &extra);
    let data_start = reader.position();
    let Some(data_end) = data_start
        .checked_add(entry.compressed_size)
        .filter(|end| *end <= reader.object_len())
    else {
        found.inconsistency.get_or_insert(Inconsistency::Truncated);
        return Ok(found);
    };
    let with_descriptor = header.flags & 0x0008 != 0;
    let mut scan = (with_descriptor && entry.method == 0 && verify)
        .then(|| DescriptorScan::new(entry.compressed_size));
    if verify {
        let (data, hidden) = check_data(reader, entry, scan.as_mut()).await?;
        found.data = data;
        if let Some(hidden) = hidden {
            found.inconsistency.get_or_insert(hidden);
        }
    }
    reader.skip_to(data_end).await?;
    if with_descriptor {
        let zip64 = zip::extra_field(&extra, ZIP64_EXTRA).is_some();
        match read_descriptor(reader, zip64).await? {
            None => {
                found
                    .inconsistency
                    .get_or_insert(Inconsistency::DescriptorMissing);
                return Ok(found);
            }
            Some((crc, compressed, uncompressed, raw)) => {
                if (crc, compressed, uncompressed)
                    != (entry.crc32, entry.compressed_size, entry.uncompressed_size)
                {
                    found
                        .inconsistency
                        .get_or_insert(Inconsistency::Descriptor {
                            crc,
                            sizes: (compressed, uncompressed),
                        });
                }
                if let Some(at) = scan.and_then(|scan| scan.finish(&raw)) {
                    found
                        .inconsistency
                        .get_or_insert(Inconsistency::FakeDescriptor(at));
                }
            }
        }
    }
    found.end = Some(reader.position());
    Ok(found)
}

/// Reads one entry's data from the reader's position (its data start),
/// inflating it when deflated, and checks its size and CRC-32. Stops early
/// at the first problem. Also says where bytes hide inside the data: after
/// the end of a deflate stream, or after a fake descriptor in stored data.
async fn check_data<S: Source>(
    reader: &mut SeqReader<S>,
    entry: &Entry,
    mut scan: Option<&mut DescriptorScan>,
) -> Result<(Option<EntryProblem>, Option<Inconsistency>), SourceError> {
    let mut crc = crc32fast::Hasher::new();
    let mut produced: u64 = 0;
    let mut hidden = None;
    match entry.method {
        0 => {
            let mut left = entry.compressed_size;
            while left > 0 {
                let part = reader.take(left).await?;
                if part.is_empty() {
                    return Ok((Some(EntryProblem::Corrupt("truncated".into())), None));
                }
                crc.update(&part);
                if let Some(scan) = scan.as_deref_mut() {
                    scan.feed(&part);
                }
                produced += part.len() as u64;
                left -= part.len() as u64;
            }
        }
        8 => {
            let mut inflater = Decompress::new(false);
            let mut out = vec![0u8; OUT_BLOCK];
            let mut left = entry.compressed_size;
            let mut input = Bytes::new();
            loop {
                if input.is_empty() && left > 0 {
                    input = reader.take(left).await?;
                    if input.is_empty() {
                        return Ok((Some(EntryProblem::Corrupt("truncated".into())), None));
                    }
                    left -= input.len() as u64;
                }
                let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
                // Never `Finish`: on a first call miniz_oxide then requires the
                // whole output to fit `out`, and fails for good when it does not
                // (any entry over 256 KiB whose compressed bytes came in one read).
                // The stream's end is its own `StreamEnd`.
                let status = match inflater.decompress(&input, &mut out, FlushDecompress::None) {
                    Ok(s) => s,
                    Err(e) => return Ok((Some(EntryProblem::Corrupt(e.to_string())), None)),
                };
                let used = (inflater.total_in() - before_in) as usize;
                let made = (inflater.total_out() - before_out) as usize;
                input = input.slice(used..);
                crc.update(&out[..made]);
                produced += made as u64;
                // A bomb is stopped at its declared size, not inflated to the end.
                if produced > entry.uncompressed_size {
                    return Ok((
                        Some(EntryProblem::Size {
                            expected: entry.uncompressed_size,
                            actual: produced,
                        }),
                        None,
                    ));
                }
                match status {
                    Status::StreamEnd => {
                        // A reader that goes on after the stream's end (Java's
                        // `ZipInputStream` reads the next header there) would
                        // find whatever fills the rest of the entry.
                        let after = entry.compressed_size.saturating_sub(inflater.total_in());
                        if after > 0 {
                            hidden = Some(Inconsistency::AfterDeflateStream(after));
                        }
                        break;
                    }
                    // Input is only ever empty here once all of it was read: no
                    // progress then means the stream ends before its end marker.
                    _ if used == 0 && made == 0 => {
                        return Ok((
                            Some(EntryProblem::Corrupt("deflate stream ends early".into())),
                            None,
                        ));
                    }
                    _ => {}
                }
            }
        }
        other => return Ok((Some(EntryProblem::Method(other)), None)),
    }
    if produced != entry.uncompressed_size {
        return Ok((
            Some(EntryProblem::Size {
                expected: entry.uncompressed_size,
                actual: produced,
            }),
            hidden,
        ));
    }
    let actual = crc.finalize();
    if actual != entry.crc32 {
        return Ok((
            Some(EntryProblem::Crc {
                expected: entry.crc32,
                actual,
            }),
            hidden,
        ));
    }
    Ok((None, hidden))
}

/// Finds where, in a stored entry with a data descriptor, a reader that must
/// search for the end of the data would end it: libarchive stops at the first
/// `PK\x07\x08` followed by the CRC-32 of the bytes before it, so a fake
/// descriptor inside the data hides what follows it from the validator's
/// reading and shows it to libarchive's as the next local header.
///
/// Linear in the data: one running CRC, advanced from candidate to candidate;
/// the signature cannot overlap itself, so candidates are at least 4 apart.
pub struct DescriptorScan {
    /// The data's length: candidates start inside it.
    len: u64,
    /// Bytes fed so far.
    fed: u64,
    /// The last (at most 7) bytes fed, whose candidates still lack bytes.
    tail: Vec<u8>,
    /// CRC-32 state of the data before `tail`.
    tail_crc: crc32fast::Hasher,
    found: Option<u64>,
}

const SIG: [u8; 4] = DESCRIPTOR_SIG.to_le_bytes();
/// A candidate needs its signature and the CRC-32 after it.
const CANDIDATE: usize = 8;

impl DescriptorScan {
    pub fn new(len: u64) -> Self {
        Self {
            len,
            fed: 0,
            tail: Vec::new(),
            tail_crc: crc32fast::Hasher::new(),
            found: None,
        }
    }

    /// Checks every candidate in `bytes[from..]` that has its 8 bytes in
    /// `bytes`; `crc` is the state of the data before `bytes[0]`, `at` the
    /// data offset of `bytes[0]`. Returns the index of the first unchecked start.
    fn scan(&mut self, bytes: &[u8], at: u64, crc: &crc32fast::Hasher) -> usize {
        let mut running = crc.clone();
        let mut hashed = 0usize;
        let last = bytes.len().saturating_sub(CANDIDATE - 1);
        let mut i = 0;
        while i < last {
            if at + i as u64 >= self.len {
                break;
            }
            if bytes[i..i + 4] == SIG {
                running.update(&bytes[hashed..i]);
                hashed = i;
                let claimed = zip::le32(&bytes[i + 4..]).unwrap_or(0);
                if running.clone().finalize() == claimed {
                    self.found = Some(at + i as u64);
                    return bytes.len();
                }
                i += 4;
            } else {
                i += 1;
            }
        }
        i
    }

    pub fn feed(&mut self, part: &[u8]) {
        if self.found.is_some() || part.is_empty() {
            return;
        }
        let tail_len = self.tail.len();
        let tail_at = self.fed - tail_len as u64;
        // Starts in the tail need at most 7 bytes of `part`.
        let mut joined = self.tail.clone();
        joined.extend_from_slice(&part[..part.len().min(CANDIDATE - 1)]);
        let crc = self.tail_crc.clone();
        let checked = self.scan(&joined, tail_at, &crc);
        if self.found.is_some() {
            return;
        }
        // The first start not checked yet, as an index into `tail ++ part`.
        let unchecked = if checked < tail_len {
            checked
        } else {
            let from = (checked - tail_len).min(part.len());
            let mut from_crc = self.tail_crc.clone();
            from_crc.update(&self.tail);
            from_crc.update(&part[..from]);
            let done = self.scan(&part[from..], self.fed + from as u64, &from_crc);
            if self.found.is_some() {
                return;
            }
            tail_len + from + done
        };
        let mut crc = self.tail_crc.clone();
        if unchecked <= tail_len {
            crc.update(&self.tail[..unchecked]);
            let mut tail = self.tail[unchecked..].to_vec();
            tail.extend_from_slice(part);
            self.tail = tail;
        } else {
            crc.update(&self.tail);
            let kept = (unchecked - tail_len).min(part.len());
            crc.update(&part[..kept]);
            self.tail = part[kept..].to_vec();
        }
        self.tail_crc = crc;
        self.fed += part.len() as u64;
    }

    /// The offset of the first fake descriptor, checking the last candidates
    /// against the bytes that follow the data (the real descriptor).
    pub fn finish(mut self, following: &[u8]) -> Option<u64> {
        if self.found.is_none() {
            let tail_at = self.fed - self.tail.len() as u64;
            let mut joined = std::mem::take(&mut self.tail);
            joined.extend_from_slice(following);
            let crc = self.tail_crc.clone();
            self.scan(&joined, tail_at, &crc);
        }
        self.found
    }
}

/// What the streaming pass found: `zip.crc`, `zip.consistent`, and the
/// object's SHA-256.
pub struct Pass {
    pub crc: Check,
    pub consistent: Check,
    pub sha256: String,
}

/// The streaming pass: every entry in file order, then the rest of the
/// object for its digest. Entries' data is inflated and checked only when
/// `verify` is `Ok` (its `Err` says why not: overlapping entries or a bomb).
///
/// `zip.consistent` guards against ZIP smuggling: a streaming unzip (Java's
/// `ZipInputStream`, `bsdtar` on a pipe) never reads the central directory; it
/// walks local headers. So every byte must belong to exactly one entry the
/// directory names, with the same name, method, flags, sizes and CRC locally:
/// the first entry starts at offset 0, each ends (after its data descriptor)
/// exactly where the next begins, and the directory follows the last. Bytes
/// anywhere else are where a second, unchecked file would hide.
pub async fn walk<S: Source>(
    source: &S,
    directory: &Directory,
    verify: Result<(), &'static str>,
) -> Result<Pass, SourceError> {
    let mut reader = SeqReader::new(source.clone());
    let mut ordered: Vec<&Entry> = directory.entries.iter().collect();
    ordered.sort_by_key(|e| (e.local_header_offset, e.index));
    let mut inconsistent = Offenders::default();
    let mut bad_data = Offenders::default();
    let mut verified = 0u64;
    // Where the next entry must start, when known; and the entry before it.
    let mut expected: Option<u64> = Some(0);
    let mut previous: Option<&Entry> = None;
    for entry in &ordered {
        let offset = entry.local_header_offset;
        if let Some(at) = expected {
            if offset > at {
                inconsistent.push(|| match previous {
                    None => format!(
                        "{} bytes before the first entry {}",
                        offset - at,
                        entry.shown_name()
                    ),
                    Some(p) => format!(
                        "{} bytes between {} and {}",
                        offset - at,
                        p.shown_name(),
                        entry.shown_name()
                    ),
                });
            } else if offset < at {
                inconsistent.push(|| match previous {
                    Some(p) => format!("{} starts inside {}", entry.shown_name(), p.shown_name()),
                    None => format!("{} starts before offset 0", entry.shown_name()),
                });
            }
        }
        previous = Some(entry);
        if offset < reader.position() {
            // Behind the pass (overlapping entries): its bytes went by.
            expected = None;
            continue;
        }
        reader.skip_to(offset).await?;
        // After five entries with bad data the verdict is known: the rest
        // are only walked (headers and tiling), not inflated.
        let verify_this =
            verify.is_ok() && !entry.is_encrypted() && bad_data.total() < MAX_SHOWN as u64;
        let findings = check_entry(&mut reader, entry, verify_this).await?;
        if let Some(why) = findings.inconsistency {
            inconsistent.push(|| format!("{}: {why}", entry.shown_name()));
        }
        if verify_this {
            verified += 1;
            if let Some(problem) = findings.data {
                bad_data.push(|| format!("{}: {problem}", entry.shown_name()));
            }
        }
        expected = findings.end;
    }
    let directory_at = directory.directory_offset;
    match (expected, previous) {
        (Some(at), Some(last)) if at < directory_at => inconsistent.push(|| {
            format!(
                "{} bytes between the last entry {} and the central directory",
                directory_at - at,
                last.shown_name()
            )
        }),
        (Some(at), Some(last)) if at > directory_at => {
            inconsistent.push(|| format!("{} runs into the central directory", last.shown_name()))
        }
        (Some(at), None) if at < directory_at => inconsistent.push(|| {
            format!("{directory_at} bytes before the central directory of an empty archive")
        }),
        _ => {}
    }
    let directory_end = directory_at.saturating_add(directory.directory_size);
    if directory_end < directory.directory_end {
        inconsistent.push(|| {
            format!(
                "{} bytes between the central directory and the end record",
                directory.directory_end - directory_end
            )
        });
    }
    let sha256 = reader.finish().await?;
    let crc = match verify {
        Err(why) => Check::fail(CheckId::Crc, format!("not checked: {why}")),
        Ok(()) if bad_data.is_empty() => Check::pass(
            CheckId::Crc,
            format!("{verified} entries inflate to their declared size and CRC-32"),
        ),
        Ok(()) => {
            let stopped = if bad_data.total() >= MAX_SHOWN as u64 {
                " (checking stopped there)"
            } else {
                ""
            };
            Check::fail(
                CheckId::Crc,
                format!(
                    "{}{stopped}",
                    bad_data.describe("entries with bad data", "; ")
                ),
            )
        }
    };
    let consistent = if inconsistent.is_empty() {
        Check::pass(
            CheckId::Consistent,
            format!(
                "{} local headers agree with the directory, and the entries tile the archive",
                ordered.len()
            ),
        )
    } else {
        Check::fail(
            CheckId::Consistent,
            inconsistent.describe("inconsistencies with the central directory", "; "),
        )
    };
    Ok(Pass {
        crc,
        consistent,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(data: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(data);
        h.finalize()
    }

    /// Feeds `data` to a scan in parts of `size`, then `following`.
    fn scan_in_parts(data: &[u8], size: usize, following: &[u8]) -> Option<u64> {
        let mut scan = DescriptorScan::new(data.len() as u64);
        for part in data.chunks(size) {
            scan.feed(part);
        }
        scan.finish(following)
    }

    #[test]
    fn fake_descriptor_is_found_wherever_the_parts_split_it() {
        let text = b"some text before".to_vec();
        let mut data = text.clone();
        data.extend_from_slice(&SIG);
        data.extend_from_slice(&crc(&text).to_le_bytes());
        data.extend_from_slice(b"and a hidden file after it");
        for size in 1..=data.len() {
            assert_eq!(
                scan_in_parts(&data, size, &[]),
                Some(text.len() as u64),
                "parts of {size}"
            );
        }
    }

    #[test]
    fn signature_without_the_crc_before_it_is_just_data() {
        let mut data = b"PK\x07\x08PK\x07\x08".to_vec();
        data.extend_from_slice(&[0u8; 4]);
        data.extend_from_slice(&SIG);
        data.extend_from_slice(&1234u32.to_le_bytes());
        for size in 1..=data.len() {
            assert_eq!(
                scan_in_parts(&data, size, &[1, 2, 3, 4, 5, 6, 7, 8]),
                None,
                "parts of {size}"
            );
        }
    }

    #[test]
    fn fake_descriptor_reaching_into_the_real_one_is_found() {
        // The data ends with a signature; the real descriptor's CRC follows.
        let text = b"abc".to_vec();
        let mut data = text.clone();
        data.extend_from_slice(&SIG);
        for size in 1..=data.len() {
            assert_eq!(
                scan_in_parts(&data, size, &crc(&text).to_le_bytes()),
                Some(3),
                "parts of {size}"
            );
        }
    }

    #[test]
    fn signatures_everywhere_cost_linear_time() {
        let data = SIG.repeat(2 * 1024 * 1024);
        let started = std::time::Instant::now();
        assert_eq!(scan_in_parts(&data, 1 << 20, &[]), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
