//! Opaque pagination cursors.
//!
//! A cursor carries where the previous page stopped (a DynamoDB key, say) to
//! the client and back. It is signed with HMAC-SHA-256 over the list it belongs
//! to, so a client can neither forge a starting key nor replay one list's cursor
//! against another: any change is a `400`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in the cursor: 128 bits is far past guessing.
const TAG_LEN: usize = 16;
/// Longest cursor accepted, so a hostile query string costs nothing to refuse.
const MAX_CURSOR_LEN: usize = 4096;

/// Signs and verifies cursors with one key (derived from the deployment's secret).
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the cursor is invalid or belongs to another list")]
pub struct CursorError;

/// A tampered or foreign cursor is a `400` (issue 2): the client sent back
/// something it was never given.
impl From<CursorError> for ApiError {
    fn from(err: CursorError) -> Self {
        ApiError::bad_request(err.to_string())
    }
}

impl CursorCodec {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        // Keyed HMAC accepts keys of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(payload);
        mac
    }

    /// Encodes `position` for the list named by `scope` (e.g. `"packages"`).
    pub fn encode<T: Serialize>(&self, scope: &str, position: &T) -> Result<String, ApiError> {
        let mut payload = serde_json::to_vec(position).map_err(ApiError::internal)?;
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        payload.extend_from_slice(&tag[..TAG_LEN]);
        Ok(URL_SAFE_NO_PAD.encode(payload))
    }

    /// Decodes a cursor of the list `scope`; anything altered is refused.
    pub fn decode<T: DeserializeOwned>(&self, scope: &str, cursor: &str) -> Result<T, CursorError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(CursorError);
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError)?;
        if raw.len() < TAG_LEN {
            return Err(CursorError);
        }
        let (payload, tag) = raw.split_at(raw.len() - TAG_LEN);
        self.mac(scope, payload)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError)?;
        serde_json::from_slice(payload).map_err(|_| CursorError)
    }
}

/// The cursors of one list: a codec bound to the list's scope, turning
/// DynamoDB's `LastEvaluatedKey` into `next_cursor` and a client's cursor
/// back into an `ExclusiveStartKey`.
#[derive(Debug, Clone)]
pub struct Pager {
    codec: CursorCodec,
    scope: String,
}

impl Pager {
    pub fn new(codec: CursorCodec, scope: impl Into<String>) -> Self {
        Self {
            codec,
            scope: scope.into(),
        }
    }

    /// Where the page starts: `None` for the first page; a bad cursor is a `400`.
    pub fn start(&self, cursor: Option<&str>) -> Result<Option<crate::dynamo::Item>, ApiError> {
        Ok(match cursor {
            Some(c) => Some(crate::pagination::position_key(
                &self.decode::<std::collections::BTreeMap<String, String>>(c)?,
            )),
            None => None,
        })
    }

    /// The `next_cursor` of a page that stopped at `last` (`None` on the last page).
    pub fn next(&self, last: Option<crate::dynamo::Item>) -> Result<Option<String>, ApiError> {
        last.map(|key| {
            self.codec
                .encode(&self.scope, &crate::pagination::key_position(&key))
        })
        .transpose()
    }

    fn decode<T: DeserializeOwned>(&self, cursor: &str) -> Result<T, CursorError> {
        self.codec.decode(&self.scope, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn codec() -> CursorCodec {
        CursorCodec::new(b"test key".to_vec())
    }

    fn position() -> BTreeMap<String, String> {
        [
            ("pk".to_owned(), "PKG#demo".to_owned()),
            ("sk".to_owned(), "V#1.0.0".to_owned()),
        ]
        .into()
    }

    #[test]
    fn cursor_round_trips() {
        let c = codec().encode("packages", &position()).unwrap();
        assert_eq!(
            codec()
                .decode::<BTreeMap<String, String>>("packages", &c)
                .unwrap(),
            position()
        );
    }

    #[test]
    fn cursor_is_opaque() {
        let c = codec().encode("packages", &position()).unwrap();
        assert!(!c.contains("PKG") && !c.contains('{'));
    }

    #[test]
    fn every_flipped_character_is_refused() {
        let c = codec().encode("packages", &position()).unwrap();
        for i in 0..c.len() {
            let mut bytes = c.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                codec()
                    .decode::<BTreeMap<String, String>>("packages", &tampered)
                    .is_err(),
                "tampered at {i}"
            );
        }
    }

    #[test]
    fn cursor_of_another_list_is_refused() {
        let c = codec().encode("packages", &position()).unwrap();
        assert_eq!(
            codec().decode::<BTreeMap<String, String>>("resources", &c),
            Err(CursorError)
        );
    }

    #[test]
    fn cursor_signed_with_another_key_is_refused() {
        let c = CursorCodec::new(b"other".to_vec())
            .encode("packages", &position())
            .unwrap();
        assert_eq!(
            codec().decode::<BTreeMap<String, String>>("packages", &c),
            Err(CursorError)
        );
    }

    #[test]
    fn garbage_and_oversized_cursors_are_refused() {
        for bad in ["", "!!!", "AAAA", &"A".repeat(MAX_CURSOR_LEN + 1)] {
            assert_eq!(
                codec().decode::<BTreeMap<String, String>>("packages", bad),
                Err(CursorError)
            );
        }
    }
}
