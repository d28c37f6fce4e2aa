//! The JWT signing key: the Secrets Manager secret of `template.yaml`, fetched
//! once per cold start and cached by version.
//!
//! A token names its key version in `kid`. A version this container has not
//! seen (the secret was rotated after it started) is fetched once; unknown or
//! malformed versions are remembered for a minute, so a flood of made-up
//! `kid`s costs one Secrets Manager call each at most, not one per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

/// How long the current version is trusted before asking again (rotation).
const CURRENT_TTL: Duration = Duration::from_secs(300);
const MISSING_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
#[error("signing key unavailable: {0}")]
pub struct KeyError(String);

#[derive(Default)]
struct Cache {
    current: Option<(String, Instant)>,
    versions: HashMap<String, Arc<[u8]>>,
    missing: HashMap<String, Instant>,
}

pub struct SigningKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// A version id is what Secrets Manager hands out (a UUID); anything else is
/// refused without a call.
fn plausible_version(kid: &str) -> bool {
    (1..=64).contains(&kid.len()) && kid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl SigningKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            cache: RwLock::new(Cache::default()),
        }
    }

    async fn fetch(&self, version: Option<&str>) -> Result<Option<(String, Arc<[u8]>)>, KeyError> {
        let mut request = self.client.get_secret_value().secret_id(&self.secret_id);
        request = match version {
            Some(v) => request.version_id(v),
            None => request.version_stage("AWSCURRENT"),
        };
        match request.send().await {
            Ok(out) => {
                let (Some(id), Some(value)) = (out.version_id(), out.secret_string()) else {
                    return Err(KeyError("the secret has no string value".into()));
                };
                if value.len() < 32 {
                    return Err(KeyError("the signing key is shorter than 32 bytes".into()));
                }
                Ok(Some((id.to_owned(), Arc::from(value.as_bytes()))))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                    && version.is_some() =>
            {
                Ok(None)
            }
            Err(e) => Err(KeyError(crate::aws::describe(&e))),
        }
    }

    /// The current version and its key, for signing.
    pub async fn current(&self) -> Result<(String, Arc<[u8]>), KeyError> {
        {
            let cache = self.cache.read().await;
            if let Some((id, at)) = &cache.current {
                if at.elapsed() < CURRENT_TTL {
                    if let Some(key) = cache.versions.get(id) {
                        return Ok((id.clone(), key.clone()));
                    }
                }
            }
        }
        let (id, key) = self
            .fetch(None)
            .await?
            .ok_or_else(|| KeyError("no current version".into()))?;
        let mut cache = self.cache.write().await;
        cache.versions.insert(id.clone(), key.clone());
        cache.current = Some((id.clone(), Instant::now()));
        Ok((id, key))
    }

    /// The key of version `kid`, fetching it once if this container has not seen it.
    pub async fn version(&self, kid: &str) -> Result<Option<Arc<[u8]>>, KeyError> {
        if !plausible_version(kid) {
            return Ok(None);
        }
        {
            let cache = self.cache.read().await;
            if let Some(key) = cache.versions.get(kid) {
                return Ok(Some(key.clone()));
            }
            if cache
                .missing
                .get(kid)
                .is_some_and(|at| at.elapsed() < MISSING_TTL)
            {
                return Ok(None);
            }
        }
        let fetched = self.fetch(Some(kid)).await?;
        let mut cache = self.cache.write().await;
        match fetched {
            Some((id, key)) if id == kid => {
                cache.versions.insert(id, key.clone());
                Ok(Some(key))
            }
            _ => {
                cache.missing.retain(|_, at| at.elapsed() < MISSING_TTL);
                cache.missing.insert(kid.to_owned(), Instant::now());
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_version_ids_are_looked_up() {
        assert!(plausible_version("d4b2c3e0-0000-4000-8000-000000000000"));
        for bad in ["", "../x", "a b", &"a".repeat(65), "v1;drop"] {
            assert!(!plausible_version(bad), "{bad}");
        }
    }
}
