//! Presigned S3 URLs: `UploadPart` for uploaders, `GetObject` for downloads.
//! Never logged: a presigned URL is a bearer credential.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use shared::ApiError;
use shared::domain::{PackageName, Version};

/// What the URLs signed here are authorised by: the signer's `s3:PutObject`
/// (a part's `PUT`) and `s3:GetObject` (a download). S3 decrypts an SSE-KMS
/// object through the policy's `kms:ViaService` grant.
pub const IAM_ACTIONS: &[&str] = &["s3:PutObject", "s3:GetObject"];

/// Part URLs live an hour (`API.md`: ≤ 1 h); expired ones are re-signed on request.
pub const PART_URL_TTL: Duration = Duration::from_secs(3600);
/// Download URLs live 15 minutes.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(900);

/// `packages/{name}/{version}/{name}-{version}.zip`
pub fn object_key(name: &PackageName, version: &Version) -> String {
    format!("packages/{name}/{version}/{name}-{version}.zip")
}

fn config(ttl: Duration) -> Result<PresigningConfig, ApiError> {
    PresigningConfig::expires_in(ttl).map_err(ApiError::internal)
}

/// A presigned `PUT` of one part of a multipart upload.
pub async fn upload_part(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    s3_upload_id: &str,
    part_number: u32,
) -> Result<String, ApiError> {
    let request = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(s3_upload_id)
        .part_number(part_number as i32)
        .presigned(config(PART_URL_TTL)?)
        .await
        .map_err(ApiError::internal)?;
    Ok(request.uri().to_owned())
}

/// A presigned `GET` that downloads as `{name}-{version}.zip`.
pub async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    name: &PackageName,
    version: &Version,
) -> Result<String, ApiError> {
    let file_name = format!("{name}-{version}.zip");
    let key = object_key(name, version);
    shared::aws::presigned_download(s3, bucket, &key, DOWNLOAD_URL_TTL, &file_name, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that signs with fixed credentials and never connects (moto
    /// does not check signatures, so the URLs' shape is tested here).
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

    fn query(url: &str) -> Vec<(String, String)> {
        let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn part_url_is_a_signed_put_of_that_part_expiring_in_an_hour() {
        let s3 = offline_client();
        let request = s3
            .upload_part()
            .bucket("bkt")
            .key("packages/tool/1.0.0/tool-1.0.0.zip")
            .upload_id("UPLOAD123")
            .part_number(7)
            .presigned(config(PART_URL_TTL).unwrap())
            .await
            .unwrap();
        assert_eq!(request.method(), "PUT");
        let url = upload_part(
            &s3,
            "bkt",
            "packages/tool/1.0.0/tool-1.0.0.zip",
            "UPLOAD123",
            7,
        )
        .await
        .unwrap();
        assert!(
            url.contains("/packages/tool/1.0.0/tool-1.0.0.zip?"),
            "{url}"
        );
        let params = query(&url);
        assert_eq!(param(&params, "partNumber"), Some("7"));
        assert_eq!(param(&params, "uploadId"), Some("UPLOAD123"));
        assert_eq!(param(&params, "X-Amz-Expires"), Some("3600"));
        assert_eq!(param(&params, "X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert!(param(&params, "X-Amz-Signature").is_some_and(|s| s.len() == 64));
        assert!(param(&params, "X-Amz-Credential").is_some_and(|c| c.starts_with("AKIDEXAMPLE")));
    }

    #[tokio::test]
    async fn download_url_is_a_signed_get_naming_the_file_for_fifteen_minutes() {
        let s3 = offline_client();
        let name = PackageName::parse("tool").unwrap();
        let version = Version::parse("1.2.3").unwrap();
        let url = download(&s3, "bkt", &name, &version).await.unwrap();
        assert!(
            url.contains("/packages/tool/1.2.3/tool-1.2.3.zip?"),
            "{url}"
        );
        let params = query(&url);
        assert_eq!(param(&params, "X-Amz-Expires"), Some("900"));
        assert_eq!(
            param(&params, "response-content-disposition"),
            Some("attachment%3B%20filename%3D%22tool-1.2.3.zip%22")
        );
        let request = s3
            .get_object()
            .bucket("bkt")
            .key("k")
            .presigned(config(DOWNLOAD_URL_TTL).unwrap())
            .await
            .unwrap();
        assert_eq!(request.method(), "GET");
    }

    #[test]
    fn object_key_follows_the_bucket_layout() {
        let key = object_key(
            &PackageName::parse("a.b").unwrap(),
            &Version::parse("1.0.0-rc.1").unwrap(),
        );
        assert_eq!(key, "packages/a.b/1.0.0-rc.1/a.b-1.0.0-rc.1.zip");
    }
}
