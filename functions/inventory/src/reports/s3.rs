//! A report's bytes, streamed to S3: a multipart upload of 8 MiB parts (the
//! last smaller), started only once the first part is full, so a small
//! report is one `PutObject`. On any failure the upload is aborted, and no
//! part is left billed in the bucket. Never logged: a presigned URL is a
//! bearer credential.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use shared::ApiError;

use super::Sink;

/// Every part but the last is this long: within S3's 5 MiB – 5 GiB, and at
/// most two parts (the one sent, the one filling) are in memory at once.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Room past a full part for the row that crosses the boundary, so the
/// buffer rarely grows.
const SLACK: usize = 256 * 1024;

/// The download's lifetime.
pub const URL_TTL: Duration = Duration::from_secs(900);

/// `CreateMultipartUpload`, `UploadPart`, `CompleteMultipartUpload` and
/// `PutObject` are `s3:PutObject`; `AbortMultipartUpload` its own; the
/// presigned `GET` is authorised by the signer's `s3:GetObject`. S3 encrypts
/// and decrypts through the policy's `kms:ViaService` grant.
pub const IAM_ACTIONS: &[&str] = &["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"];

/// The object a report becomes.
#[derive(Debug, Clone)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub content_type: &'static str,
    /// What the download saves as.
    pub file_name: String,
    pub kms_key_arn: String,
}

impl Object {
    fn disposition(&self) -> String {
        disposition(&self.file_name)
    }
}

/// `attachment; filename="..."` (our names are plain ASCII, no quotes).
fn disposition(file_name: &str) -> String {
    format!("attachment; filename=\"{file_name}\"")
}

/// Writes one object in parts as its buffer fills.
pub struct S3Writer<'a> {
    s3: &'a aws_sdk_s3::Client,
    object: Object,
    buf: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

/// The first `size` bytes of `buf` as a part of their own, the rest left in
/// `buf` (in a fresh buffer of a part's capacity); `None` while `buf` holds
/// less than a part.
pub fn take_part(buf: &mut Vec<u8>, size: usize) -> Option<Vec<u8>> {
    if buf.len() < size {
        return None;
    }
    let mut rest = Vec::with_capacity(size + SLACK.max(buf.len() - size));
    rest.extend_from_slice(&buf[size..]);
    buf.truncate(size);
    Some(std::mem::replace(buf, rest))
}

impl<'a> S3Writer<'a> {
    pub fn new(s3: &'a aws_sdk_s3::Client, object: Object) -> Self {
        Self {
            s3,
            object,
            buf: Vec::with_capacity(PART_SIZE + SLACK),
            upload_id: None,
            parts: Vec::new(),
        }
    }

    async fn upload_id(&mut self) -> Result<String, ApiError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .content_type(self.object.content_type)
            .content_disposition(self.object.disposition())
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.object.kms_key_arn)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(ApiError::upstream)?;
        let id = created
            .upload_id
            .ok_or_else(|| ApiError::upstream("CreateMultipartUpload answered no upload id"))?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn upload(&mut self, part: Vec<u8>) -> Result<(), ApiError> {
        let upload_id = self.upload_id().await?;
        let number = self.parts.len() as i32 + 1;
        let sent = self
            .s3
            .upload_part()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(ApiError::upstream)?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag)
                .set_checksum_crc32(sent.checksum_crc32)
                .build(),
        );
        Ok(())
    }

    /// Sends what is left: the last part and the completion, or (the report
    /// fit in one part) the whole object at once.
    pub async fn finish(&mut self) -> Result<(), ApiError> {
        let last = std::mem::take(&mut self.buf);
        if self.upload_id.is_none() {
            self.s3
                .put_object()
                .bucket(&self.object.bucket)
                .key(&self.object.key)
                .content_type(self.object.content_type)
                .content_disposition(self.object.disposition())
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(&self.object.kms_key_arn)
                .body(ByteStream::from(last))
                .send()
                .await
                .map_err(ApiError::upstream)?;
            return Ok(());
        }
        if !last.is_empty() {
            self.upload(last).await?;
        }
        let upload_id = self.upload_id().await?;
        self.s3
            .complete_multipart_upload()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(ApiError::upstream)?;
        self.upload_id = None;
        Ok(())
    }

    /// Gives up an unfinished upload, so its parts are not kept (and
    /// billed) until the bucket's lifecycle rule would remove them.
    pub async fn abort(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let aborted = self
            .s3
            .abort_multipart_upload()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::warn!(
                error = %shared::aws::describe(&e),
                "could not abort a report's upload; the lifecycle rule will"
            );
        }
    }
}

impl Sink for S3Writer<'_> {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        while let Some(part) = take_part(&mut self.buf, PART_SIZE) {
            self.upload(part).await?;
        }
        Ok(())
    }
}

/// A presigned `GET` of the report that saves as `file_name`.
pub async fn presign(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    file_name: &str,
) -> Result<String, ApiError> {
    shared::aws::presigned_download(s3, bucket, key, URL_TTL, file_name, Some(content_type)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_short_of_a_part_stays_whole() {
        let mut buf = vec![1u8; 10];
        assert_eq!(take_part(&mut buf, 11), None);
        assert_eq!(buf.len(), 10);
    }

    #[test]
    fn a_full_part_is_cut_at_exactly_its_size_and_the_rest_kept_in_order() {
        let mut buf: Vec<u8> = (0..25).collect();
        let part = take_part(&mut buf, 10).unwrap();
        assert_eq!(part, (0..10).collect::<Vec<u8>>());
        assert_eq!(buf, (10..25).collect::<Vec<u8>>());
        assert_eq!(
            take_part(&mut buf, 10).unwrap(),
            (10..20).collect::<Vec<u8>>()
        );
        assert_eq!(buf, (20..25).collect::<Vec<u8>>());
    }

    /// A client that signs with fixed credentials and never connects.
    fn offline_client() -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    #[tokio::test]
    async fn the_download_is_a_fifteen_minute_get_of_a_named_attachment_of_its_type() {
        let url = presign(
            &offline_client(),
            "bkt",
            "reports/abc.csv",
            "text/csv; charset=utf-8",
            "cloudkeep-findings-20260101T000000Z.csv",
        )
        .await
        .unwrap();
        assert!(url.contains("/reports/abc.csv?"), "{url}");
        assert!(url.contains("X-Amz-Expires=900"), "{url}");
        assert!(
            url.contains(
                "response-content-disposition=attachment%3B%20filename%3D%22cloudkeep-findings-20260101T000000Z.csv%22"
            ),
            "{url}"
        );
        assert!(
            url.contains("response-content-type=text%2Fcsv%3B%20charset%3Dutf-8"),
            "{url}"
        );
    }
}
