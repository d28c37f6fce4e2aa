//! HS256 JSON Web Tokens, and nothing else.
//!
//! Hand-written over `hmac`/`sha2` on purpose: the only algorithm we ever
//! accept is the one we sign with, so the classic JWT attacks (`alg: none`,
//! RS256/HS256 key confusion, algorithm downgrades) have no code path to use.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::Role;

type HmacSha256 = Hmac<Sha256>;

pub const ISSUER: &str = "cloudkeep";
pub const AUDIENCE: &str = "cloudkeep-api";
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 30;
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of an access token (`API.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// Why a token was refused. Never shown to clients (they get a plain 401),
/// but logged, so each reason is distinct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer or audience")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
}

fn mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// Signs `claims` with `key`, naming the key version in `kid`.
pub fn sign(claims: &Claims, kid: &str, key: &[u8]) -> String {
    let header = Header {
        alg: "HS256".into(),
        typ: Some("JWT".into()),
        kid: kid.into(),
    };
    // Serialising plain structs of strings and integers cannot fail.
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(key);
    m.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The `kid` of a token's header, read before verification to pick the key.
/// Also refuses any algorithm but HS256 up front.
pub fn key_id(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let header = token.split('.').next().ok_or(TokenError::Malformed)?;
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm(header.alg));
    }
    Ok(header.kid)
}

/// Verifies signature, algorithm, issuer, audience and lifetime at `now`.
pub fn verify(token: &str, key: &[u8], now: i64) -> Result<Claims, TokenError> {
    key_id(token)?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let mut m = mac(key);
    m.update(header.as_bytes());
    m.update(b".");
    m.update(payload.as_bytes());
    m.verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.iss != ISSUER || claims.aud != AUDIENCE {
        return Err(TokenError::Audience);
    }
    if claims.exp + LEEWAY_SECS <= now {
        return Err(TokenError::Expired);
    }
    if claims.iat - LEEWAY_SECS > now {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            roles: vec![Role::Publisher],
            groups: vec!["ops".into()],
            iat: NOW,
            exp: NOW + 900,
            jti: "j1".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        }
    }

    fn forge(header: &str, payload: &Claims, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap())
        )
    }

    #[test]
    fn signed_token_verifies_and_names_its_key() {
        let token = sign(&claims(), "v1", KEY);
        assert_eq!(key_id(&token).unwrap(), "v1");
        assert_eq!(verify(&token, KEY, NOW + 10).unwrap(), claims());
    }

    #[test]
    fn alg_none_is_refused() {
        let token = forge(r#"{"alg":"none","kid":"v1"}"#, &claims(), "");
        assert_eq!(
            verify(&token, KEY, NOW),
            Err(TokenError::Algorithm("none".into()))
        );
    }

    #[test]
    fn any_other_algorithm_is_refused() {
        for alg in ["HS512", "RS256", "hs256", "ES256"] {
            let token = forge(
                &format!(r#"{{"alg":"{alg}","kid":"v1"}}"#),
                &claims(),
                "AAAA",
            );
            assert!(
                matches!(verify(&token, KEY, NOW), Err(TokenError::Algorithm(_))),
                "{alg}"
            );
        }
    }

    #[test]
    fn tampered_payload_is_refused() {
        let token = sign(&claims(), "v1", KEY);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut admin = claims();
        admin.roles = vec![Role::Admin];
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap());
        assert_eq!(
            verify(&parts.join("."), KEY, NOW),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn token_signed_with_another_key_is_refused() {
        let token = sign(&claims(), "v1", b"another key");
        assert_eq!(verify(&token, KEY, NOW), Err(TokenError::Signature));
    }

    #[test]
    fn expired_token_is_refused_after_a_small_leeway() {
        let token = sign(&claims(), "v1", KEY);
        assert!(verify(&token, KEY, NOW + 900 + LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            verify(&token, KEY, NOW + 900 + LEEWAY_SECS),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        for (iss, aud) in [("someone-else", AUDIENCE), (ISSUER, "another-api")] {
            let mut c = claims();
            c.iss = iss.into();
            c.aud = aud.into();
            assert_eq!(
                verify(&sign(&c, "v1", KEY), KEY, NOW),
                Err(TokenError::Audience)
            );
        }
    }

    #[test]
    fn token_from_the_future_is_refused() {
        let mut c = claims();
        c.iat = NOW + 3600;
        c.exp = NOW + 4500;
        assert_eq!(
            verify(&sign(&c, "v1", KEY), KEY, NOW),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.???.###",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(verify(bad, KEY, NOW).is_err(), "{bad}");
        }
    }
}
