//! Upload sessions (`UPLOAD#{id}/SESSION`): what an upload is cut into, who
//! started it, and where it is.

use std::future::Future;

use serde::{Deserialize, Serialize};
use shared::domain::{PackageName, UploadId, Username, Version};
use shared::dynamo::{self, StoreError, n, s};
use shared::packages::{decode, encode, key};

use super::Store;

/// Where an upload session is: `open → completing → completed`, or
/// `open → aborted`; `completing → open` when a claimed `complete` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Completing,
    Completed,
    Aborted,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completing => "completing",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
        }
    }
}

/// A `completing` claim older than this belongs to an invocation that is
/// gone (the function's timeout is 15 s), and may be taken over.
pub const CLAIM_SECS: i64 = 60;

/// One request's hold on a `completing` session: only its holder moves the
/// session on (to `completed`, or back to `open`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub token: String,
    pub at: i64,
}

impl Claim {
    pub fn new(now: i64) -> Self {
        Self {
            token: uuid::Uuid::new_v4().to_string(),
            at: now,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: UploadId,
    pub name: PackageName,
    pub version: Version,
    pub key: String,
    pub s3_upload_id: String,
    pub size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub sha256: Option<String>,
    pub created_by: Username,
    pub status: SessionStatus,
    /// When the `completing` claim was taken (Unix seconds); `None` otherwise.
    pub claimed_at: Option<i64>,
    /// Unix seconds after which the session (and its reservation) lapse.
    pub expires_at: i64,
}

impl UploadSession {
    /// Whether the session is `completing` under a claim nobody holds any more.
    pub fn claim_is_stale(&self, now: i64) -> bool {
        self.status == SessionStatus::Completing
            && self.claimed_at.is_none_or(|at| at + CLAIM_SECS <= now)
    }
}

fn session_pk(id: &UploadId) -> String {
    format!("UPLOAD#{id}")
}

const SESSION_SK: &str = "SESSION";

/// A session's item as DynamoDB holds it.
#[derive(Debug, Serialize, Deserialize)]
struct SessionItem {
    pk: String,
    sk: String,
    upload_id: UploadId,
    name: PackageName,
    version: Version,
    key: String,
    s3_upload_id: String,
    size: u64,
    part_size: u64,
    part_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    created_by: Username,
    status: SessionStatus,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    /// The token of the request holding a `completing` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_at: Option<i64>,
}

impl From<SessionItem> for UploadSession {
    fn from(item: SessionItem) -> Self {
        Self {
            id: item.upload_id,
            name: item.name,
            version: item.version,
            key: item.key,
            s3_upload_id: item.s3_upload_id,
            size: item.size,
            part_size: item.part_size,
            part_count: item.part_count,
            sha256: item.sha256,
            created_by: item.created_by,
            status: item.status,
            claimed_at: item.claimed_at,
            expires_at: item.expires_at,
        }
    }
}

/// Upload sessions and their status moves.
pub trait UploadSessions {
    const IAM_ACTIONS: &'static [&'static str];

    /// Stores a new session; never overwrites one.
    fn create_session(
        &self,
        session: &UploadSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A session; a lapsed one is absent, except once completed (it then
    /// records what was published, for an idempotent second `complete`).
    fn session(
        &self,
        id: &UploadId,
    ) -> impl Future<Output = Result<Option<UploadSession>, StoreError>> + Send;

    /// The one place a session's status moves: `from → to`, conditional on
    /// `from`; false when the session was not there (someone moved it first).
    ///
    /// Moving to `completing` takes `claim`, and also takes over a stale
    /// claim (older than [`CLAIM_SECS`], or unrecorded): a request that died
    /// holding it never gives it back. Moving on from `completing` needs the
    /// same `claim`, so only its holder completes or releases the session.
    fn transition(
        &self,
        id: &UploadId,
        from: SessionStatus,
        to: SessionStatus,
        claim: Option<&Claim>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl UploadSessions for Store {
    /// `PutItem` (a new session), `GetItem` (a session), `UpdateItem` (a move).
    const IAM_ACTIONS: &'static [&'static str] = &[
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    ];

    async fn create_session(&self, session: &UploadSession) -> Result<(), StoreError> {
        let item = SessionItem {
            pk: session_pk(&session.id),
            sk: SESSION_SK.to_owned(),
            upload_id: session.id.clone(),
            name: session.name.clone(),
            version: session.version.clone(),
            key: session.key.clone(),
            s3_upload_id: session.s3_upload_id.clone(),
            size: session.size,
            part_size: session.part_size,
            part_count: session.part_count,
            sha256: session.sha256.clone(),
            created_by: session.created_by.clone(),
            status: session.status,
            expires_at: session.expires_at,
            ttl: Some(session.expires_at),
            claim: None,
            claimed_at: session.claimed_at,
        };
        self.dynamo()
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(encode("PutItem", &item)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    async fn session(&self, id: &UploadId) -> Result<Option<UploadSession>, StoreError> {
        let out = self
            .dynamo()
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(session_pk(id), SESSION_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let session = UploadSession::from(decode::<SessionItem>("GetItem", item)?);
        Ok(Some(session).filter(|session| {
            session.status == SessionStatus::Completed || session.expires_at > dynamo::now()
        }))
    }

    async fn transition(
        &self,
        id: &UploadId,
        from: SessionStatus,
        to: SessionStatus,
        claim: Option<&Claim>,
    ) -> Result<bool, StoreError> {
        let request = self
            .dynamo()
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(session_pk(id), SESSION_SK)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()));
        let claimed = from == SessionStatus::Completing || to == SessionStatus::Completing;
        let request = match claim {
            None if claimed => {
                return Err(StoreError::corrupt(
                    "UpdateItem",
                    format!("{}: a move through completing needs a claim", session_pk(id)),
                ));
            }
            Some(claim) if to == SessionStatus::Completing => request
                .update_expression("SET #status = :to, #claim = :claim, #claimed_at = :now")
                .condition_expression(
                    "#status = :from OR (#status = :to AND (attribute_not_exists(#claimed_at) OR #claimed_at <= :stale))",
                )
                .expression_attribute_names("#claim", "claim")
                .expression_attribute_names("#claimed_at", "claimed_at")
                .expression_attribute_values(":claim", s(&claim.token))
                .expression_attribute_values(":now", n(claim.at))
                .expression_attribute_values(":stale", n(claim.at - CLAIM_SECS)),
            Some(claim) if from == SessionStatus::Completing => request
                .update_expression("SET #status = :to REMOVE #claim, #claimed_at")
                .condition_expression("#status = :from AND #claim = :claim")
                .expression_attribute_names("#claim", "claim")
                .expression_attribute_names("#claimed_at", "claimed_at")
                .expression_attribute_values(":claim", s(&claim.token)),
            _ => request
                .update_expression("SET #status = :to")
                .condition_expression("#status = :from"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: SessionStatus, claimed_at: Option<i64>) -> UploadSession {
        UploadSession {
            id: UploadId::new(),
            name: PackageName::parse("p").unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            key: "k".into(),
            s3_upload_id: "u".into(),
            size: 1,
            part_size: 1,
            part_count: 1,
            sha256: None,
            created_by: Username::parse("alice").unwrap(),
            status,
            claimed_at,
            expires_at: 0,
        }
    }

    #[test]
    fn a_completing_claim_is_stale_once_its_holder_must_be_gone() {
        let now = 1_000_000;
        assert!(!session(SessionStatus::Completing, Some(now - 5)).claim_is_stale(now));
        assert!(session(SessionStatus::Completing, Some(now - CLAIM_SECS)).claim_is_stale(now));
        assert!(
            session(SessionStatus::Completing, None).claim_is_stale(now),
            "a claim without its time is from before claims were timed"
        );
        assert!(!session(SessionStatus::Open, None).claim_is_stale(now));
    }

    #[test]
    fn a_session_item_round_trips_and_its_status_is_snake_case() {
        let mut s = session(SessionStatus::Completing, Some(7));
        s.sha256 = Some("ab".into());
        let item = SessionItem {
            pk: session_pk(&s.id),
            sk: SESSION_SK.into(),
            upload_id: s.id.clone(),
            name: s.name.clone(),
            version: s.version.clone(),
            key: s.key.clone(),
            s3_upload_id: s.s3_upload_id.clone(),
            size: s.size,
            part_size: s.part_size,
            part_count: s.part_count,
            sha256: s.sha256.clone(),
            created_by: s.created_by.clone(),
            status: s.status,
            expires_at: s.expires_at,
            ttl: Some(s.expires_at),
            claim: Some("t".into()),
            claimed_at: s.claimed_at,
        };
        let stored = encode("PutItem", &item).unwrap();
        assert_eq!(stored["status"].as_s().unwrap(), "completing");
        let back = UploadSession::from(decode::<SessionItem>("GetItem", stored).unwrap());
        assert_eq!(back, s);
    }
}
