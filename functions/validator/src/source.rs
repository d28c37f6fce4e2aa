//! Random access to the uploaded object: S3 ranged GETs in production, a byte
//! vector in tests. The validator only ever reads through this trait, so the
//! whole object is never held in memory or written to `/tmp`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// A failure to read, as opposed to a bad archive: the event is retried.
/// Its text may reach the version's report (an AWS error's code and message
/// only); its detail is for the logs.
#[derive(Debug, thiserror::Error)]
#[error("reading the object failed: {text}")]
pub struct SourceError {
    text: String,
    detail: String,
}

impl SourceError {
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            detail: text.clone(),
            text,
        }
    }

    /// An S3 call that failed: AWS's code and message for the report, the
    /// SDK's full description for the logs.
    pub fn aws<E>(operation: &str, err: &shared::aws::SdkError<E>) -> Self
    where
        E: shared::aws::ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self {
            text: format!("{operation}: {}", shared::aws::client_text(err)),
            detail: shared::aws::describe(err),
        }
    }

    /// What went wrong, fit for a client's eyes.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What went wrong, with the SDK's detail: for logs only.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

pub trait Source: Clone + Send + Sync + 'static {
    /// The object's size in bytes.
    fn len(&self) -> u64;

    /// `len` bytes from `offset`; the range must lie inside the object.
    fn read_at(
        &self,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Bytes, SourceError>> + Send;

    /// Bytes fetched so far, where the source counts them (for the logs).
    fn fetched(&self) -> u64 {
        0
    }
}

/// An in-memory object, for tests and the fuzz target.
#[derive(Clone, Debug)]
pub struct MemorySource(pub Arc<[u8]>);

impl MemorySource {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Arc::from(bytes.into()))
    }
}

impl Source for MemorySource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    async fn read_at(&self, offset: u64, len: u64) -> Result<Bytes, SourceError> {
        let start = usize::try_from(offset).map_err(|_| SourceError::new("offset out of range"))?;
        let end = start
            .checked_add(usize::try_from(len).map_err(|_| SourceError::new("length out of range"))?)
            .filter(|end| *end <= self.0.len())
            .ok_or_else(|| {
                SourceError::new(format!(
                    "range {offset}+{len} beyond {} bytes",
                    self.0.len()
                ))
            })?;
        Ok(Bytes::copy_from_slice(&self.0[start..end]))
    }
}

/// An S3 object (one version of it), read with ranged GETs. Counts the bytes it
/// fetches, for the benchmark and the logs.
#[derive(Clone, Debug)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    version_id: Option<String>,
    len: u64,
    fetched: Arc<AtomicU64>,
}

impl S3Source {
    /// Opens `bucket/key` (at `version_id` when given), learning its size.
    pub async fn open(
        client: aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Self, SourceError> {
        let head = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| SourceError::aws("HeadObject", &e))?;
        let len = head
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0);
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: version_id.map(str::to_owned),
            len,
            fetched: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl Source for S3Source {
    fn len(&self) -> u64 {
        self.len
    }

    /// Bytes fetched so far by this source and its clones.
    fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    async fn read_at(&self, offset: u64, len: u64) -> Result<Bytes, SourceError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let last = offset
            .checked_add(len - 1)
            .filter(|last| *last < self.len)
            .ok_or_else(|| SourceError::new(format!("range {offset}+{len} beyond the object")))?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .range(format!("bytes={offset}-{last}"))
            .send()
            .await
            .map_err(|e| SourceError::aws("GetObject", &e))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| SourceError {
                text: "GetObject: the object's bytes stopped arriving".into(),
                detail: e.to_string(),
            })?
            .into_bytes();
        if body.len() as u64 != len {
            return Err(SourceError::new(format!(
                "asked for {len} bytes at {offset}, got {}",
                body.len()
            )));
        }
        self.fetched.fetch_add(len, Ordering::Relaxed);
        Ok(body)
    }
}
