//! The JWT signing key: the Secrets Manager secret of `template.yaml`. A
//! token names its key version in `kid`.
//!
//! Exactly two versions ever verify a token: `AWSCURRENT`, and `AWSPREVIOUS`
//! for the grace window after the current one was made — long enough for every
//! token the previous version signed to run out, and no longer. A version that
//! is neither (two rotations old, or staged but never current) signs nothing,
//! even though Secrets Manager still holds it.
//!
//! Both versions are read by stage with `GetSecretValue` (which also tells when
//! the current version was created: the rotation time) and kept for
//! [`KEY_CACHE_TTL`]. A token naming a version this container does not know
//! may mean a rotation it has not seen: it re-reads the stages, at most once per
//! [`UNKNOWN_KID_REFRESH`], and remembers the key ids still unknown after that,
//! so a flood of made-up `kid`s costs Secrets Manager nothing per request. Key
//! ids that are not even shaped like a Secrets Manager version id never get
//! that far. A failed re-read keeps the keys it has.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, RwLock};

use super::jwt::{ACCESS_TOKEN_SECS, LEEWAY_SECS};

/// What the signing keys call, on the signing secret only.
pub const IAM_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue"];

/// How long the stages read from Secrets Manager are trusted before asking
/// again: a container signs with a rotated-out version at most this long.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(300);
/// A token naming an unknown (well-formed) key id re-reads the stages at most
/// this often.
pub const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(5);
/// After a failed read, the keys at hand serve this long before the next try.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// Unknown key ids remembered at most (a flood of distinct ones only fills it).
const MAX_UNKNOWN: usize = 4096;

/// How long after a rotation the previous version still verifies: the life of
/// an access token it signed, plus the time a container may go on signing with
/// it before its cache expires, plus clock skew.
pub const PREVIOUS_GRACE_SECS: i64 =
    ACCESS_TOKEN_SECS + KEY_CACHE_TTL.as_secs() as i64 + LEEWAY_SECS;

#[derive(Debug, thiserror::Error)]
#[error("signing key unavailable: {0}")]
pub struct KeyError(String);

/// One version of the secret.
#[derive(Clone)]
struct Version {
    id: String,
    key: Arc<[u8]>,
    /// Unix seconds; for the current version, when the rotation happened.
    created: i64,
}

/// The versions by stage, as read at `fetched`.
#[derive(Clone)]
struct Stages {
    current: Version,
    previous: Option<Version>,
    fetched: Instant,
}

/// A key that may verify a token, and the condition attached to it.
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: Arc<[u8]>,
    /// For the previous version: the latest `iat` it may have signed (a token
    /// it "issued" after the rotation had settled was not issued by us).
    pub issued_no_later_than: Option<i64>,
}

impl Stages {
    fn verifying_key(&self, kid: &str, now: i64) -> Lookup {
        if kid == self.current.id {
            return Lookup::Found(VerifyingKey {
                key: self.current.key.clone(),
                issued_no_later_than: None,
            });
        }
        match &self.previous {
            Some(previous) if previous.id == kid => {
                let rotated = self.current.created;
                if now < rotated.saturating_add(PREVIOUS_GRACE_SECS) {
                    Lookup::Found(VerifyingKey {
                        key: previous.key.clone(),
                        issued_no_later_than: Some(
                            rotated
                                .saturating_add(KEY_CACHE_TTL.as_secs() as i64)
                                .saturating_add(LEEWAY_SECS),
                        ),
                    })
                } else {
                    Lookup::Retired
                }
            }
            _ => Lookup::Unknown,
        }
    }
}

enum Lookup {
    Found(VerifyingKey),
    /// The previous version, past its grace window: known, and refused.
    Retired,
    Unknown,
}

#[derive(Default)]
struct Cache {
    stages: Option<Stages>,
    failed_at: Option<Instant>,
    /// Key ids still unknown after the last read of the stages.
    unknown: HashSet<String>,
    unknown_refresh_at: Option<Instant>,
}

impl Cache {
    /// The stages, if they may be used without asking Secrets Manager again.
    fn usable(&self) -> Option<&Stages> {
        let stages = self.stages.as_ref()?;
        let fresh = stages.fetched.elapsed() < KEY_CACHE_TTL;
        let backing_off = self
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        (fresh || backing_off).then_some(stages)
    }

    fn store(&mut self, stages: Stages) {
        let changed = self.stages.as_ref().is_none_or(|old| {
            old.current.id != stages.current.id
                || old.previous.as_ref().map(|v| &v.id) != stages.previous.as_ref().map(|v| &v.id)
        });
        if changed {
            self.unknown.clear();
        }
        self.stages = Some(stages);
        self.failed_at = None;
    }
}

pub struct SigningKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cache: RwLock<Cache>,
    /// One read of Secrets Manager at a time; the others wait for its answer.
    reading: Mutex<()>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// Whether `kid` is shaped like a Secrets Manager version id (32 to 64
/// characters; the SDKs, the console and rotation make UUIDs). Anything else
/// is refused without a call.
pub fn well_formed_version_id(kid: &str) -> bool {
    (32..=64).contains(&kid.len()) && kid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl SigningKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            cache: RwLock::new(Cache::default()),
            reading: Mutex::new(()),
        }
    }

    /// The version holding `stage`; `None` when no version holds it (a secret
    /// never rotated has no `AWSPREVIOUS`).
    async fn fetch(&self, stage: &str) -> Result<Option<Version>, KeyError> {
        let out = match self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(KeyError(format!("{stage}: {}", crate::aws::describe(&e)))),
        };
        let (Some(id), Some(value)) = (out.version_id(), out.secret_string()) else {
            return Err(KeyError(format!("{stage} has no string value")));
        };
        if value.len() < 32 {
            return Err(KeyError(format!("{stage} is shorter than 32 bytes")));
        }
        if !well_formed_version_id(id) {
            // Its tokens would name a kid the verifier refuses unseen.
            return Err(KeyError(format!(
                "{stage} has a version id that is not 32 to 64 letters, digits and '-'"
            )));
        }
        Ok(Some(Version {
            id: id.to_owned(),
            key: Arc::from(value.as_bytes()),
            // Without a date the rotation time is unknown: the previous
            // version then verifies nothing, which is the safe side.
            created: out.created_date().map_or(0, |d| d.secs()),
        }))
    }

    async fn read_stages(&self) -> Result<Stages, KeyError> {
        let (current, previous) =
            futures::join!(self.fetch("AWSCURRENT"), self.fetch("AWSPREVIOUS"));
        let current = current?.ok_or_else(|| KeyError("no AWSCURRENT version".into()))?;
        // The previous version only helps; failing to read it costs its tokens.
        let previous = previous.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the previous signing key could not be read");
            None
        });
        Ok(Stages {
            current,
            previous,
            fetched: Instant::now(),
        })
    }

    /// Fresh stages: cached, or read again (one caller at a time). When the
    /// read fails, the stages at hand are used while there are any.
    async fn stages(&self) -> Result<Stages, KeyError> {
        if let Some(stages) = self.cache.read().await.usable() {
            return Ok(stages.clone());
        }
        let _reading = self.reading.lock().await;
        if let Some(stages) = self.cache.read().await.usable() {
            return Ok(stages.clone());
        }
        match self.read_stages().await {
            Ok(stages) => {
                self.cache.write().await.store(stages.clone());
                Ok(stages)
            }
            Err(e) => {
                let mut cache = self.cache.write().await;
                cache.failed_at = Some(Instant::now());
                match &cache.stages {
                    Some(stale) => {
                        tracing::warn!(error = %e, "signing keys not refreshed; using the ones at hand");
                        Ok(stale.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// The current version and its key, for signing.
    pub async fn current(&self) -> Result<(String, Arc<[u8]>), KeyError> {
        let stages = self.stages().await?;
        Ok((stages.current.id, stages.current.key))
    }

    /// The key that may verify a token naming `kid`, judged at `now` (Unix
    /// seconds); `None` for any key id that is not the current or (within its
    /// grace window) the previous version. An error only when no key could be
    /// read at all (then nothing can be verified).
    pub async fn verifying_key(
        &self,
        kid: &str,
        now: i64,
    ) -> Result<Option<VerifyingKey>, KeyError> {
        if !well_formed_version_id(kid) {
            return Ok(None);
        }
        match self.stages().await?.verifying_key(kid, now) {
            Lookup::Found(key) => return Ok(Some(key)),
            Lookup::Retired => return Ok(None),
            Lookup::Unknown => {}
        }
        if !self.may_look_for(kid).await {
            return Ok(None);
        }
        let _reading = self.reading.lock().await;
        // Whoever held the lock before may have read the stages already.
        if !self.may_look_for(kid).await {
            return Ok(self.lookup_cached(kid, now).await);
        }
        self.cache.write().await.unknown_refresh_at = Some(Instant::now());
        match self.read_stages().await {
            Ok(stages) => {
                let lookup = stages.verifying_key(kid, now);
                let mut cache = self.cache.write().await;
                cache.store(stages);
                match lookup {
                    Lookup::Found(key) => Ok(Some(key)),
                    Lookup::Retired => Ok(None),
                    Lookup::Unknown => {
                        if cache.unknown.len() >= MAX_UNKNOWN {
                            cache.unknown.clear();
                        }
                        cache.unknown.insert(kid.to_owned());
                        Ok(None)
                    }
                }
            }
            Err(e) => {
                // A key id nobody can vouch for is refused, never a 503.
                tracing::warn!(error = %e, "signing keys could not be re-read for an unknown key id");
                Ok(None)
            }
        }
    }

    /// Whether an unknown `kid` may re-read the stages now: not if it was
    /// unknown after the last read, nor if a read for some unknown id was
    /// just made.
    async fn may_look_for(&self, kid: &str) -> bool {
        let cache = self.cache.read().await;
        !cache.unknown.contains(kid)
            && cache
                .unknown_refresh_at
                .is_none_or(|at| at.elapsed() >= UNKNOWN_KID_REFRESH)
    }

    async fn lookup_cached(&self, kid: &str, now: i64) -> Option<VerifyingKey> {
        match self
            .cache
            .read()
            .await
            .stages
            .as_ref()?
            .verifying_key(kid, now)
        {
            Lookup::Found(key) => Some(key),
            Lookup::Retired | Lookup::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, created: i64) -> Version {
        Version {
            id: id.into(),
            key: Arc::from(&b"k"[..]),
            created,
        }
    }

    fn stages(rotated: i64) -> Stages {
        Stages {
            current: version("current", rotated),
            previous: Some(version("previous", rotated - 86_400)),
            fetched: Instant::now(),
        }
    }

    #[test]
    fn only_well_formed_version_ids_are_looked_up() {
        assert!(well_formed_version_id(
            "d4b2c3e0-0000-4000-8000-000000000000"
        ));
        assert!(well_formed_version_id(&"a".repeat(32)));
        for bad in [
            "",
            "v1",
            "not-a-version-id",
            "../x",
            "a b",
            &"a".repeat(65),
            "d4b2c3e0-0000-4000-8000-00000000000;",
        ] {
            assert!(!well_formed_version_id(bad), "{bad}");
        }
    }

    #[test]
    fn current_version_always_verifies() {
        let s = stages(1_000);
        assert!(matches!(
            s.verifying_key("current", 1_000_000),
            Lookup::Found(VerifyingKey {
                issued_no_later_than: None,
                ..
            })
        ));
    }

    #[test]
    fn previous_version_verifies_only_within_its_grace_window() {
        let s = stages(1_000);
        match s.verifying_key("previous", 1_000 + PREVIOUS_GRACE_SECS - 1) {
            Lookup::Found(key) => assert_eq!(
                key.issued_no_later_than,
                Some(1_000 + KEY_CACHE_TTL.as_secs() as i64 + LEEWAY_SECS)
            ),
            _ => panic!("within the window"),
        }
        assert!(matches!(
            s.verifying_key("previous", 1_000 + PREVIOUS_GRACE_SECS),
            Lookup::Retired
        ));
    }

    #[test]
    fn other_versions_are_unknown() {
        assert!(matches!(
            stages(1_000).verifying_key("older", 1_000),
            Lookup::Unknown
        ));
    }
}
