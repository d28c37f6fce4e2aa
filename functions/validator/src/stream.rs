//! The one sequential pass over the object: SHA-256 of every byte, and for
//! each entry (in file order) its local header compared with the directory
//! and its data inflated to check the CRC-32 and size. Memory is two chunks
//! (the one being read and the one being fetched), whatever the object's size.

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};

use crate::source::{Source, SourceError};
use crate::zip::{Entry, LOCAL_LEN, local_header_lengths};

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
                .map_err(|e| SourceError(format!("read task failed: {e}")))??;
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
        Ok(self
            .sha
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

/// What checking one entry's bytes found wrong, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// The local header disagrees with the directory (name, method,
    /// encryption): two tools could unpack two different files.
    HeaderMismatch(&'static str),
    /// The data runs into the next entry or the directory.
    Overlap,
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
            Self::HeaderMismatch(what) => write!(
                f,
                "local header disagrees with the central directory ({what})"
            ),
            Self::Overlap => f.write_str("data overlaps the next entry"),
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

/// Checks one entry's local header and data at the reader's position (its
/// local header offset); `limit` is where the next entry (or the directory) starts.
pub async fn check_entry<S: Source>(
    reader: &mut SeqReader<S>,
    entry: &Entry,
    limit: u64,
) -> Result<Option<EntryProblem>, SourceError> {
    let Some(fixed) = reader.exact(LOCAL_LEN).await? else {
        return Ok(Some(EntryProblem::HeaderMismatch("truncated local header")));
    };
    let Some((flags, method, name_len, extra_len)) = local_header_lengths(&fixed) else {
        return Ok(Some(EntryProblem::HeaderMismatch(
            "no local header signature",
        )));
    };
    let Some(name) = reader.exact(name_len).await? else {
        return Ok(Some(EntryProblem::HeaderMismatch("truncated local name")));
    };
    if name != entry.name {
        return Ok(Some(EntryProblem::HeaderMismatch("name")));
    }
    if method != entry.method {
        return Ok(Some(EntryProblem::HeaderMismatch("compression method")));
    }
    if (flags & 0x0041 != 0) != (entry.flags & 0x0041 != 0) {
        return Ok(Some(EntryProblem::HeaderMismatch("encryption flag")));
    }
    let data_start = entry.local_header_offset + (LOCAL_LEN + name_len + extra_len) as u64;
    if data_start.saturating_add(entry.compressed_size) > limit {
        return Ok(Some(EntryProblem::Overlap));
    }
    reader.skip_to(data_start).await?;
    let mut crc = crc32fast::Hasher::new();
    let mut produced: u64 = 0;
    match entry.method {
        0 => {
            let mut left = entry.compressed_size;
            while left > 0 {
                let part = reader.take(left).await?;
                if part.is_empty() {
                    return Ok(Some(EntryProblem::Corrupt("truncated".into())));
                }
                crc.update(&part);
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
                        return Ok(Some(EntryProblem::Corrupt("truncated".into())));
                    }
                    left -= input.len() as u64;
                }
                let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
                let flush = if left == 0 {
                    FlushDecompress::Finish
                } else {
                    FlushDecompress::None
                };
                let status = match inflater.decompress(&input, &mut out, flush) {
                    Ok(s) => s,
                    Err(e) => return Ok(Some(EntryProblem::Corrupt(e.to_string()))),
                };
                let used = (inflater.total_in() - before_in) as usize;
                let made = (inflater.total_out() - before_out) as usize;
                input = input.slice(used..);
                crc.update(&out[..made]);
                produced += made as u64;
                // A bomb is stopped at its declared size, not inflated to the end.
                if produced > entry.uncompressed_size {
                    return Ok(Some(EntryProblem::Size {
                        expected: entry.uncompressed_size,
                        actual: produced,
                    }));
                }
                match status {
                    Status::StreamEnd => break,
                    // Input is only ever empty here once all of it was read: no
                    // progress then means the stream ends before its end marker.
                    _ if used == 0 && made == 0 => {
                        return Ok(Some(EntryProblem::Corrupt(
                            "deflate stream ends early".into(),
                        )));
                    }
                    _ => {}
                }
            }
        }
        other => return Ok(Some(EntryProblem::Method(other))),
    }
    if produced != entry.uncompressed_size {
        return Ok(Some(EntryProblem::Size {
            expected: entry.uncompressed_size,
            actual: produced,
        }));
    }
    let actual = crc.finalize();
    if actual != entry.crc32 {
        return Ok(Some(EntryProblem::Crc {
            expected: entry.crc32,
            actual,
        }));
    }
    Ok(None)
}
