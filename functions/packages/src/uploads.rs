//! Upload sessions: reserve a version, hand out presigned part URLs, report
//! what S3 has, complete (verifying every part), abort.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Role};
use shared::domain::{PackageName, PartNumber, UploadId, Version};
use shared::dynamo::{now, rfc3339};
use shared::error::ErrorBody;
use shared::error::FieldProblem;
use shared::http::{Json, Path};
use shared::packages::Status;
use utoipa::ToSchema;

use crate::State;
use crate::presign;
use crate::store::{
    Claim, NewUpload, Reservation, Reservations, SessionStatus, UploadSession, UploadSessions,
    VersionReads,
};

/// The S3 actions the upload routes call directly: `CreateMultipartUpload`
/// and `CompleteMultipartUpload` (`s3:PutObject`), `ListParts`
/// (`s3:ListMultipartUploadParts`), `HeadObject` (`s3:GetObject`),
/// `AbortMultipartUpload`. (S3 asks KMS for the SSE-KMS data keys on our
/// behalf: the policy's `kms:ViaService` grants, not calls of ours.)
pub const S3_IAM_ACTIONS: &[&str] = &[
    "s3:PutObject",
    "s3:ListMultipartUploadParts",
    "s3:GetObject",
    "s3:AbortMultipartUpload",
];

const MIB: u64 = 1024 * 1024;
pub const MIN_PART_SIZE: u64 = 5 * MIB;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
pub const DEFAULT_PART_SIZE: u64 = 16 * MIB;
pub const MAX_SIZE: u64 = 5 * 1024 * 1024 * MIB;
pub const MAX_PARTS: u64 = 10_000;
/// URLs handed out with a new session; the rest come from `/parts`.
pub const FIRST_URLS: u32 = 1_000;
/// An upload not completed within a day lapses (the bucket's lifecycle rule
/// aborts the multipart upload; the reservation's TTL frees the version).
pub const SESSION_SECS: i64 = 24 * 3600;

/// `/v1/packages/{name}/versions/{version}/…`
#[derive(Debug, Deserialize)]
pub struct VersionPath {
    pub name: PackageName,
    pub version: Version,
}

/// `/v1/uploads/{upload_id}/…`
#[derive(Debug, Deserialize)]
pub struct UploadPath {
    upload_id: UploadId,
}

/// How an upload of `size` bytes is cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub part_size: u64,
    pub part_count: u32,
}

impl PartPlan {
    /// The exact size part `n` must have: `part_size`, the last one the remainder.
    pub fn expected_size(&self, size: u64, n: u32) -> u64 {
        if n < self.part_count {
            self.part_size
        } else {
            size - self.part_size * u64::from(self.part_count - 1)
        }
    }
}

/// Checks the declared size and part size against S3's limits, choosing the
/// part size when none is given: 16 MiB, grown (in whole MiB) until the
/// upload fits in 10,000 parts.
pub fn plan_parts(size: u64, part_size: Option<u64>) -> Result<PartPlan, ApiError> {
    let mut problems = Vec::new();
    if size == 0 {
        problems.push(FieldProblem::new("size", "must be at least 1 byte"));
    } else if size > MAX_SIZE {
        problems.push(FieldProblem::new("size", "must be at most 5 TiB"));
    }
    if let Some(p) = part_size {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p) {
            problems.push(FieldProblem::new(
                "part_size",
                "must be between 5 MiB and 5 GiB",
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let part_size = part_size
        .unwrap_or_else(|| DEFAULT_PART_SIZE.max(size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB));
    let part_count = size.div_ceil(part_size);
    if part_count > MAX_PARTS {
        return Err(ApiError::invalid(
            "part_size",
            format!(
                "{size} bytes in parts of {part_size} make {part_count} parts; at most {MAX_PARTS} are allowed"
            ),
        ));
    }
    Ok(PartPlan {
        part_size,
        part_count: part_count as u32,
    })
}

fn check_sha256(sha: &str) -> Result<String, ApiError> {
    let lower = sha.to_ascii_lowercase();
    if lower.len() == 64 && lower.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(lower)
    } else {
        Err(ApiError::invalid(
            "sha256",
            "must be 64 hexadecimal characters",
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUpload {
    /// Bytes, 1 B to 5 TiB.
    size: u64,
    /// The SHA-256 of the whole file, hex; the published object must match it.
    sha256: Option<String>,
    /// 5 MiB to 5 GiB; by default 16 MiB, grown so that there are at most 10,000 parts.
    part_size: Option<u64>,
    description: Option<String>,
    /// Restrict downloads to `groups` (and admins).
    sensitive: Option<bool>,
    groups: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrl {
    part_number: u32,
    /// A presigned `PUT`; send the part's bytes as the body and keep the `ETag` of the answer.
    url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StartedUpload {
    #[schema(value_type = String)]
    upload_id: UploadId,
    part_size: u64,
    part_count: u32,
    /// URLs for the first 1,000 parts (all of them when there are no more); `/parts` signs the rest.
    parts: Vec<PartUrl>,
    /// When these URLs stop working (RFC 3339).
    expires_at: String,
}

async fn sign(
    state: &State,
    session: &UploadSession,
    numbers: impl IntoIterator<Item = u32>,
) -> Result<Vec<PartUrl>, ApiError> {
    let mut parts = Vec::new();
    for part_number in numbers {
        let url = presign::upload_part(
            &state.s3,
            &state.bucket,
            &session.key,
            &session.s3_upload_id,
            part_number,
        )
        .await?;
        parts.push(PartUrl { part_number, url });
    }
    Ok(parts)
}

fn urls_expire_at() -> String {
    rfc3339(now() + presign::PART_URL_TTL.as_secs() as i64)
}

/// Starts an upload: reserves the version, starts the S3 multipart upload and
/// presigns the part URLs.
#[utoipa::path(
    post, path = "/v1/packages/{name}/versions/{version}/uploads", tag = "packages", operation_id = "start_upload",
    params(("name" = String, Path), ("version" = String, Path)),
    request_body = StartUpload,
    responses(
        (status = 201, body = StartedUpload),
        (status = 403, description = "Not a publisher, or not the package's owner", body = ErrorBody),
        (status = 409, description = "This version exists (or existed) already", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn start(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(VersionPath { name, version }): Path<VersionPath>,
    Json(req): Json<StartUpload>,
) -> Result<Response, ApiError> {
    caller.require(Role::Publisher)?;
    let plan = plan_parts(req.size, req.part_size)?;
    let sha256 = req.sha256.as_deref().map(check_sha256).transpose()?;
    if let Some(groups) = &req.groups {
        shared::domain::check_groups(groups).map_err(|e| ApiError::invalid("groups", e))?;
    }
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(ApiError::invalid(
            "description",
            "must be at most 1000 characters",
        ));
    }
    let upload_id = UploadId::new();
    let started = now();
    let expires_at = started + SESSION_SECS;
    let reservation = state
        .packages
        .reserve_version(&NewUpload {
            name: &name,
            version: &version,
            caller: &caller.username,
            caller_is_admin: caller.is_admin(),
            upload_id: &upload_id,
            size: req.size,
            sha256: sha256.as_deref(),
            description: req.description.as_deref(),
            sensitive: req.sensitive,
            groups: req.groups.as_deref(),
            now: started,
            expires_at,
        })
        .await?;
    match reservation {
        Reservation::Reserved => {}
        Reservation::VersionTaken => {
            return Err(ApiError::conflict(format!(
                "{name} {version} exists already; versions are immutable"
            )));
        }
        Reservation::NotOwner => {
            return Err(ApiError::forbidden(format!(
                "{name} belongs to another publisher"
            )));
        }
    }
    let key = presign::object_key(&name, &version);
    let created = state
        .s3
        .create_multipart_upload()
        .bucket(&state.bucket)
        .key(&key)
        .content_type("application/zip")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&state.kms_key_arn)
        .send()
        .await;
    let s3_upload_id = match created.map(|out| out.upload_id) {
        Ok(Some(id)) => id,
        failed => {
            // Nothing was uploaded: free the version number again.
            state
                .packages
                .release_reservation(&name, &version, &upload_id)
                .await?;
            return Err(match failed {
                Err(e) => shared::aws::api_error("CreateMultipartUpload", &e),
                Ok(_) => ApiError::internal("CreateMultipartUpload returned no upload id"),
            });
        }
    };
    let session = UploadSession {
        id: upload_id.clone(),
        name,
        version,
        key,
        s3_upload_id,
        size: req.size,
        part_size: plan.part_size,
        part_count: plan.part_count,
        sha256,
        created_by: caller.username.clone(),
        status: SessionStatus::Open,
        claimed_at: None,
        expires_at,
    };
    state.packages.create_session(&session).await?;
    let parts = sign(&state, &session, 1..=plan.part_count.min(FIRST_URLS)).await?;
    tracing::info!(package = %session.name, version = %session.version, size = req.size, parts = plan.part_count, "upload started");
    let body = StartedUpload {
        upload_id,
        part_size: plan.part_size,
        part_count: plan.part_count,
        parts,
        expires_at: urls_expire_at(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The session, if the caller may act on it: its uploader or an admin, who
/// still holds the publisher role now (roles are read from the user record
/// on every request, so a demoted or disabled uploader stops here).
async fn session_for(
    state: &State,
    caller: &Caller,
    id: &UploadId,
) -> Result<UploadSession, ApiError> {
    caller.require(Role::Publisher)?;
    let session = state
        .packages
        .session(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such upload"))?;
    if session.created_by != caller.username && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "only the uploader or an admin may act on this upload",
        ));
    }
    Ok(session)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignParts {
    /// 1 to 1,000 part numbers of this upload.
    #[schema(value_type = Vec<u32>)]
    part_numbers: Vec<PartNumber>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedParts {
    parts: Vec<PartUrl>,
    expires_at: String,
}

/// Presigns (again) the URLs of some parts: the ones past the first 1,000, or expired ones.
#[utoipa::path(
    post, path = "/v1/uploads/{upload_id}/parts", tag = "packages", operation_id = "sign_parts",
    params(("upload_id" = String, Path)),
    request_body = SignParts,
    responses((status = 200, body = SignedParts), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn sign_parts(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(UploadPath { upload_id: id }): Path<UploadPath>,
    Json(req): Json<SignParts>,
) -> Result<Json<SignedParts>, ApiError> {
    let session = session_for(&state, &caller, &id).await?;
    if session.status != SessionStatus::Open {
        return Err(ApiError::conflict(format!(
            "this upload is {}",
            session.status.as_str()
        )));
    }
    let numbers: BTreeSet<u32> = req.part_numbers.iter().map(|p| p.get()).collect();
    if numbers.is_empty() || numbers.len() > FIRST_URLS as usize {
        return Err(ApiError::invalid(
            "part_numbers",
            format!("1 to {FIRST_URLS} part numbers"),
        ));
    }
    if let Some(beyond) = numbers.iter().find(|n| **n > session.part_count) {
        return Err(ApiError::invalid(
            "part_numbers",
            format!(
                "part {beyond} is beyond this upload's {} parts",
                session.part_count
            ),
        ));
    }
    Ok(Json(SignedParts {
        parts: sign(&state, &session, numbers).await?,
        expires_at: urls_expire_at(),
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartDone {
    part_number: u32,
    size: u64,
    etag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadStatus {
    #[schema(value_type = String)]
    upload_id: UploadId,
    package: String,
    version: String,
    size: u64,
    part_size: u64,
    part_count: u32,
    /// The parts S3 has: upload only the others to resume.
    parts_done: Vec<PartDone>,
    /// `uploading`, `completing`, `validating` (or the version's later status), or `aborted`.
    status: String,
    expires_at: String,
}

/// Every part S3 holds for the upload (all pages of ListParts); `None` when S3
/// has no such multipart upload any more (it was completed or aborted).
async fn parts_in_s3(
    state: &State,
    session: &UploadSession,
) -> Result<Option<BTreeMap<u32, PartDone>>, ApiError> {
    let mut pages = state
        .s3
        .list_parts()
        .bucket(&state.bucket)
        .key(&session.key)
        .upload_id(&session.s3_upload_id)
        .into_paginator()
        .send();
    let mut parts = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
                    == Some("NoSuchUpload") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(shared::aws::api_error("ListParts", &e)),
        };
        for part in page.parts() {
            let (Some(n), Some(etag)) = (part.part_number(), part.e_tag()) else {
                continue;
            };
            parts.insert(
                n as u32,
                PartDone {
                    part_number: n as u32,
                    size: part.size().unwrap_or(0).max(0) as u64,
                    etag: etag.to_owned(),
                },
            );
        }
    }
    Ok(Some(parts))
}

/// The upload's progress: which parts S3 already has, so a client can resume.
#[utoipa::path(
    get, path = "/v1/uploads/{upload_id}", tag = "packages", operation_id = "upload_status",
    params(("upload_id" = String, Path)),
    responses((status = 200, body = UploadStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn status(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(UploadPath { upload_id: id }): Path<UploadPath>,
) -> Result<Json<UploadStatus>, ApiError> {
    let session = session_for(&state, &caller, &id).await?;
    let (parts_done, status) = match session.status {
        SessionStatus::Open => (
            parts_in_s3(&state, &session)
                .await?
                .ok_or_else(|| {
                    // A concurrent complete or abort finished the upload under us.
                    ApiError::conflict("this upload was completed or aborted meanwhile")
                })?
                .into_values()
                .collect(),
            "uploading".to_owned(),
        ),
        SessionStatus::Completing => (vec![], "completing".to_owned()),
        SessionStatus::Completed => (
            vec![],
            version_status(&state, &session).await?.as_str().to_owned(),
        ),
        SessionStatus::Aborted => (vec![], "aborted".to_owned()),
    };
    Ok(Json(UploadStatus {
        upload_id: session.id,
        package: session.name.to_string(),
        version: session.version.to_string(),
        size: session.size,
        part_size: session.part_size,
        part_count: session.part_count,
        parts_done,
        status,
        expires_at: rfc3339(session.expires_at),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPart {
    #[schema(value_type = u32)]
    part_number: PartNumber,
    /// The `ETag` S3 answered the part's `PUT` with (quotes optional).
    etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    parts: Vec<ClientPart>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Completed {
    package: String,
    version: String,
    /// `validating` until the validator publishes or rejects it.
    status: String,
}

fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Every way the client's part list disagrees with what S3 holds and with the
/// plan: missing, unknown, duplicated, wrong ETag, wrong size.
fn part_problems(
    session: &UploadSession,
    client: &[ClientPart],
    stored: &BTreeMap<u32, PartDone>,
) -> Vec<FieldProblem> {
    let plan = PartPlan {
        part_size: session.part_size,
        part_count: session.part_count,
    };
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for part in client {
        let n = part.part_number.get();
        let field = format!("parts.{n}");
        if !seen.insert(n) {
            problems.push(FieldProblem::new(field, "listed twice"));
        } else if n > session.part_count {
            problems.push(FieldProblem::new(
                field,
                format!("beyond this upload's {} parts", session.part_count),
            ));
        } else {
            match stored.get(&n) {
                None => problems.push(FieldProblem::new(field, "not uploaded")),
                Some(s) if unquote(&s.etag) != unquote(&part.etag) => problems.push(
                    FieldProblem::new(field, "ETag does not match the uploaded part"),
                ),
                Some(s) if s.size != plan.expected_size(session.size, n) => {
                    problems.push(FieldProblem::new(
                        field,
                        format!(
                            "is {} bytes; it must be {}",
                            s.size,
                            plan.expected_size(session.size, n)
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    for n in 1..=session.part_count {
        if !seen.contains(&n) {
            problems.push(FieldProblem::new(
                format!("parts.{n}"),
                "missing from the list",
            ));
        }
    }
    problems
}

/// Completes the upload after checking every part against S3; the version
/// becomes `validating`. Completing again is harmless.
#[utoipa::path(
    post, path = "/v1/uploads/{upload_id}/complete", tag = "packages", operation_id = "complete_upload",
    params(("upload_id" = String, Path)),
    request_body = Complete,
    responses(
        (status = 202, body = Completed),
        (status = 409, description = "Aborted, or being completed by another request", body = ErrorBody),
        (status = 422, description = "Missing or wrong parts, each named", body = ErrorBody),
    )
)]
pub async fn complete(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(UploadPath { upload_id: id }): Path<UploadPath>,
    Json(req): Json<Complete>,
) -> Result<Response, ApiError> {
    let session = session_for(&state, &caller, &id).await?;
    let accepted = |status: Status| {
        let body = Completed {
            package: session.name.to_string(),
            version: session.version.to_string(),
            status: status.as_str().to_owned(),
        };
        (StatusCode::ACCEPTED, Json(body)).into_response()
    };
    let being_completed =
        || ApiError::conflict("this upload is being completed; ask again in a moment");
    match session.status {
        SessionStatus::Completed => {
            return Ok(accepted(version_status(&state, &session).await?));
        }
        SessionStatus::Aborted => return Err(ApiError::conflict("this upload is aborted")),
        // Another request holds the claim and may still be working.
        SessionStatus::Completing if !session.claim_is_stale(now()) => {
            return Err(being_completed());
        }
        SessionStatus::Open | SessionStatus::Completing => {}
    }
    // `None`: S3 has no multipart upload any more; an earlier claim completed
    // it and stopped before recording so (the object will tell).
    let stored = parts_in_s3(&state, &session).await?;
    if let Some(stored) = &stored {
        let problems = part_problems(&session, &req.parts, stored);
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
    }
    // Exactly one request holds the claim; the others see `completing` or
    // `completed`. A claim left by an invocation that died is taken over.
    let claim = Claim::new(now());
    if !state
        .packages
        .transition(
            &id,
            SessionStatus::Open,
            SessionStatus::Completing,
            Some(&claim),
        )
        .await?
    {
        return match state.packages.session(&id).await? {
            Some(s) if s.status == SessionStatus::Completed => Ok(accepted(Status::Validating)),
            _ => Err(being_completed()),
        };
    }
    if let Err(err) = finish(&state, &session, stored.as_ref()).await {
        // Give the session back so that a retry can complete it; should even
        // that fail, the claim lapses after `CLAIM_SECS`.
        if let Err(e) = state
            .packages
            .transition(
                &id,
                SessionStatus::Completing,
                SessionStatus::Open,
                Some(&claim),
            )
            .await
        {
            tracing::warn!(error = %e, "could not give back the completing claim");
        }
        return Err(err);
    }
    state
        .packages
        .transition(
            &id,
            SessionStatus::Completing,
            SessionStatus::Completed,
            Some(&claim),
        )
        .await?;
    tracing::info!(package = %session.name, version = %session.version, "upload completed");
    Ok(accepted(Status::Validating))
}

/// The version's status once its session completed.
async fn version_status(state: &State, session: &UploadSession) -> Result<Status, ApiError> {
    Ok(state
        .packages
        .version(&session.name, &session.version)
        .await?
        .map_or(Status::Validating, |v| v.status))
}

fn no_such_upload<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    err.as_service_error()
        .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
        == Some("NoSuchUpload")
}

/// The work of a claimed `complete`, each step safe to repeat: completes the
/// S3 upload from the checked parts (`stored`; `None` when S3 completed it
/// already), checks the object, and moves the version to `validating`.
async fn finish(
    state: &State,
    session: &UploadSession,
    stored: Option<&BTreeMap<u32, PartDone>>,
) -> Result<(), ApiError> {
    if let Some(stored) = stored {
        let parts: Vec<CompletedPart> = stored
            .values()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.part_number as i32)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        let completed = state
            .s3
            .complete_multipart_upload()
            .bucket(&state.bucket)
            .key(&session.key)
            .upload_id(&session.s3_upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match completed {
            Ok(_) => {}
            // Completed since we listed its parts: the object tells.
            Err(e) if no_such_upload(&e) => {}
            Err(e) => return Err(shared::aws::api_error("CompleteMultipartUpload", &e)),
        }
    }
    let head = match state
        .s3
        .head_object()
        .bucket(&state.bucket)
        .key(&session.key)
        .send()
        .await
    {
        Ok(head) => head,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            return Err(ApiError::conflict(
                "this upload was aborted; start a new upload",
            ));
        }
        Err(e) => return Err(shared::aws::api_error("HeadObject", &e)),
    };
    let stored_size = head.content_length().unwrap_or(-1);
    if stored_size != session.size as i64 {
        return Err(ApiError::internal(format!(
            "completed object is {stored_size} bytes, declared {}",
            session.size
        )));
    }
    if !state
        .packages
        .mark_validating(&session.name, &session.version, &session.id)
        .await?
    {
        // An earlier claim may have got this far before it stopped.
        match state
            .packages
            .version(&session.name, &session.version)
            .await?
        {
            Some(v) if v.upload_id == session.id.as_str() && v.status != Status::Uploading => {}
            _ => {
                return Err(ApiError::conflict(
                    "this upload's reservation lapsed; start a new upload",
                ));
            }
        }
    }
    Ok(())
}

/// Aborts the upload: S3 drops the parts and the version number is free again.
#[utoipa::path(
    delete, path = "/v1/uploads/{upload_id}", tag = "packages", operation_id = "abort_upload",
    params(("upload_id" = String, Path)),
    responses((status = 204, description = "Aborted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn abort(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(UploadPath { upload_id: id }): Path<UploadPath>,
) -> Result<StatusCode, ApiError> {
    let session = session_for(&state, &caller, &id).await?;
    if session.status == SessionStatus::Aborted {
        return Ok(StatusCode::NO_CONTENT);
    }
    if !state
        .packages
        .transition(&id, SessionStatus::Open, SessionStatus::Aborted, None)
        .await?
    {
        return Err(ApiError::conflict(
            "this upload is completed or being completed",
        ));
    }
    let aborted = state
        .s3
        .abort_multipart_upload()
        .bucket(&state.bucket)
        .key(&session.key)
        .upload_id(&session.s3_upload_id)
        .send()
        .await;
    if let Err(e) = aborted {
        let gone = e.as_service_error().is_some_and(|s| s.is_no_such_upload());
        if !gone {
            // The bucket's lifecycle rule aborts it within a day regardless.
            tracing::warn!(error = %shared::aws::describe(&e), "AbortMultipartUpload failed");
        }
    }
    state
        .packages
        .release_reservation(&session.name, &session.version, &id)
        .await?;
    tracing::info!(package = %session.name, version = %session.version, "upload aborted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_part_size_is_sixteen_mebibytes() {
        assert_eq!(
            plan_parts(100 * MIB, None).unwrap(),
            PartPlan {
                part_size: 16 * MIB,
                part_count: 7
            }
        );
        assert_eq!(
            plan_parts(1, None).unwrap(),
            PartPlan {
                part_size: 16 * MIB,
                part_count: 1
            }
        );
    }

    #[test]
    fn default_part_size_grows_to_fit_ten_thousand_parts() {
        let size = 200 * 1024 * MIB; // 200 GiB: 16 MiB parts would be 12,800
        let plan = plan_parts(size, None).unwrap();
        assert!(u64::from(plan.part_count) <= MAX_PARTS);
        assert_eq!(plan.part_size % MIB, 0);
        assert!(
            u64::from(plan_parts(MAX_SIZE, None).unwrap().part_count) <= MAX_PARTS,
            "even 5 TiB fits"
        );
        // API.md's "16 MiB up to 160 GiB" is 16 MiB x 10,000 parts = 156.25 GiB exactly.
        assert_eq!(
            plan_parts(16 * MIB * MAX_PARTS, None).unwrap().part_size,
            16 * MIB
        );
        assert_eq!(
            plan_parts(16 * MIB * MAX_PARTS + 1, None)
                .unwrap()
                .part_size,
            17 * MIB
        );
    }

    #[test]
    fn sizes_outside_s3_limits_are_refused() {
        for (size, part) in [
            (0, None),
            (MAX_SIZE + 1, None),
            (10 * MIB, Some(5 * MIB - 1)),
            (10 * MIB, Some(MAX_PART_SIZE + 1)),
        ] {
            assert_eq!(
                plan_parts(size, part).unwrap_err().code(),
                "validation_failed",
                "{size} {part:?}"
            );
        }
        let too_many = plan_parts(6 * MIB * MAX_PARTS, Some(5 * MIB)).unwrap_err();
        assert_eq!(too_many.code(), "validation_failed");
    }

    #[test]
    fn last_part_carries_the_remainder() {
        let plan = plan_parts(11 * MIB, Some(5 * MIB)).unwrap();
        assert_eq!(plan.part_count, 3);
        assert_eq!(plan.expected_size(11 * MIB, 1), 5 * MIB);
        assert_eq!(plan.expected_size(11 * MIB, 3), MIB);
    }

    fn session() -> UploadSession {
        UploadSession {
            id: UploadId::new(),
            name: PackageName::parse("p").unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            key: "k".into(),
            s3_upload_id: "u".into(),
            size: 11,
            part_size: 5,
            part_count: 3,
            sha256: None,
            created_by: shared::domain::Username::parse("alice").unwrap(),
            status: SessionStatus::Open,
            claimed_at: None,
            expires_at: 0,
        }
    }

    fn stored(parts: &[(u32, u64, &str)]) -> BTreeMap<u32, PartDone> {
        parts
            .iter()
            .map(|(n, size, etag)| {
                (
                    *n,
                    PartDone {
                        part_number: *n,
                        size: *size,
                        etag: format!("\"{etag}\""),
                    },
                )
            })
            .collect()
    }

    fn client(parts: &[(u32, &str)]) -> Vec<ClientPart> {
        parts
            .iter()
            .map(|(n, e)| ClientPart {
                part_number: PartNumber::new(*n).unwrap(),
                etag: e.to_string(),
            })
            .collect()
    }

    #[test]
    fn matching_parts_have_no_problems() {
        let s = stored(&[(1, 5, "a"), (2, 5, "b"), (3, 1, "c")]);
        assert!(
            part_problems(&session(), &client(&[(1, "a"), (2, "\"b\""), (3, "c")]), &s).is_empty()
        );
    }

    #[test]
    fn every_bad_part_is_named() {
        let s = stored(&[(1, 4, "a"), (2, 5, "b")]);
        let problems = part_problems(&session(), &client(&[(1, "a"), (2, "x"), (2, "b")]), &s);
        let fields: Vec<_> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.problem.as_str()))
            .collect();
        assert!(
            fields.contains(&("parts.1", "is 4 bytes; it must be 5")),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("parts.2", "ETag does not match the uploaded part")),
            "{fields:?}"
        );
        assert!(fields.contains(&("parts.2", "listed twice")), "{fields:?}");
        assert!(
            fields.contains(&("parts.3", "missing from the list")),
            "{fields:?}"
        );
    }
}
