//! HS256 JSON Web Tokens through the `jsonwebtoken` crate, pinned to the one
//! algorithm we sign with.
//!
//! The classic JWT attacks have no path through here: `alg: none`, RS256/HS256
//! key confusion and HS512 downgrades are refused before a key is even chosen
//! ([`key_id`]) and again by a [`Validation`] that lists HS256 alone. On top of
//! the crate's checks (signature, `iss`, `aud`, `exp`, required claims), a token
//! must name its key (`kid`), must not be issued in the future, and must not
//! claim to live longer than an access token does.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Role;

pub const ISSUER: &str = "cloudkeep";
pub const AUDIENCE: &str = "cloudkeep-api";
/// Access tokens live 15 minutes (`API.md`); a token whose `exp - iat` is
/// longer was not made by us, whatever its signature says.
pub const ACCESS_TOKEN_SECS: i64 = 15 * 60;
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

/// Why a token was refused. Never shown to clients (they get a plain 401),
/// but logged, so each reason is distinct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("the token names no key (kid)")]
    MissingKeyId,
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer or audience")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
    #[error("claims to live longer than an access token")]
    Lifetime,
}

/// A token could not be signed: the crypto provider refused the key.
#[derive(Debug, thiserror::Error)]
#[error("signing an access token failed: {0}")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

/// What every token must pass, built once: HS256 only, our issuer and
/// audience, `exp` checked with [`LEEWAY_SECS`], every claim we rely on present.
fn validation() -> &'static Validation {
    static VALIDATION: OnceLock<Validation> = OnceLock::new();
    VALIDATION.get_or_init(|| {
        let mut v = Validation::new(Algorithm::HS256);
        v.algorithms = vec![Algorithm::HS256];
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v.leeway = LEEWAY_SECS.unsigned_abs();
        v.validate_exp = true;
        v.validate_nbf = false;
        v
    })
}

/// Signs `claims` with `key`, naming the key version in `kid`.
pub fn sign(claims: &Claims, kid: &str, key: &[u8]) -> Result<String, SignError> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(key),
    )?)
}

/// The `kid` of a token's header, read before verification to pick the key.
/// Refuses any algorithm but HS256, and a token that names no key, up front.
pub fn key_id(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    match jsonwebtoken::decode_header(token) {
        Ok(header) if header.alg != Algorithm::HS256 => {
            Err(TokenError::Algorithm(format!("{:?}", header.alg)))
        }
        Ok(header) => header
            .kid
            .filter(|kid| !kid.is_empty())
            .ok_or(TokenError::MissingKeyId),
        Err(_) => {
            Err(foreign_algorithm(token).map_or(TokenError::Malformed, TokenError::Algorithm))
        }
    }
}

/// The `alg` of a header the crate cannot even represent (`none`, `hs256`),
/// so the log says "algorithm none" rather than "malformed".
fn foreign_algorithm(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Alg {
        alg: String,
    }
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let Alg { alg } = serde_json::from_slice(&bytes).ok()?;
    (alg != "HS256").then_some(alg)
}

fn refusal(err: &jsonwebtoken::errors::Error) -> TokenError {
    match err.kind() {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::Algorithm("not HS256".into())
        }
        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        _ => TokenError::Malformed,
    }
}

/// Verifies signature, algorithm, issuer, audience, key id and lifetime; `now`
/// (Unix seconds) is the time the token is judged at, on top of the crate's
/// own `exp` check against the system clock.
pub fn verify(token: &str, key: &[u8], now: i64) -> Result<Claims, TokenError> {
    key_id(token)?;
    let claims =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), validation())
            .map_err(|e| refusal(&e))?
            .claims;
    if claims.exp.saturating_add(LEEWAY_SECS) <= now {
        return Err(TokenError::Expired);
    }
    if claims.iat.saturating_sub(LEEWAY_SECS) > now {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp.saturating_sub(claims.iat) > ACCESS_TOKEN_SECS {
        return Err(TokenError::Lifetime);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// The real clock: the crate checks `exp` against it, so fixed dates would rot.
    fn now() -> i64 {
        crate::dynamo::now()
    }

    fn claims_at(iat: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            roles: vec![Role::Publisher],
            groups: vec!["ops".into()],
            iat,
            exp: iat + ACCESS_TOKEN_SECS,
            jti: "j1".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        }
    }

    fn claims() -> Claims {
        claims_at(now())
    }

    fn forge(header: &str, payload: &impl Serialize, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap())
        )
    }

    /// A token with any header and payload, correctly HMAC-SHA256-signed with `key`.
    fn forge_signed(header: &str, payload: &impl Serialize, key: &[u8]) -> String {
        use hmac::Mac;
        let unsigned = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap())
        );
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(unsigned.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{unsigned}.{signature}")
    }

    #[test]
    fn signed_token_verifies_and_names_its_key() {
        let c = claims();
        let token = sign(&c, "v1", KEY).unwrap();
        assert_eq!(key_id(&token).unwrap(), "v1");
        assert_eq!(verify(&token, KEY, c.iat + 10).unwrap(), c);
    }

    #[test]
    fn alg_none_is_refused() {
        let token = forge(r#"{"alg":"none","kid":"v1"}"#, &claims(), "");
        assert_eq!(
            verify(&token, KEY, now()),
            Err(TokenError::Algorithm("none".into()))
        );
    }

    #[test]
    fn any_other_algorithm_is_refused() {
        for alg in [
            "HS512", "HS384", "RS256", "hs256", "ES256", "PS256", "EdDSA",
        ] {
            let token = forge(
                &format!(r#"{{"alg":"{alg}","kid":"v1"}}"#),
                &claims(),
                "AAAA",
            );
            assert!(
                matches!(verify(&token, KEY, now()), Err(TokenError::Algorithm(_))),
                "{alg}"
            );
        }
    }

    /// Key confusion: an HS512 token correctly signed with the very key we use
    /// (as if the attacker knew it as a "public" key) is still refused.
    #[test]
    fn hs512_signed_with_our_key_is_refused() {
        use hmac::Mac;
        let unsigned = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT","kid":"v1"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap())
        );
        let mut mac = <hmac::Hmac<sha2::Sha512> as Mac>::new_from_slice(KEY).unwrap();
        mac.update(unsigned.as_bytes());
        let token = format!(
            "{unsigned}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(
            verify(&token, KEY, now()),
            Err(TokenError::Algorithm("HS512".into()))
        );
    }

    #[test]
    fn token_without_a_key_id_is_refused() {
        for header in [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":""}"#,
        ] {
            let token = forge_signed(header, &claims(), KEY);
            assert_eq!(
                verify(&token, KEY, now()),
                Err(TokenError::MissingKeyId),
                "{header}"
            );
        }
    }

    #[test]
    fn tampered_payload_is_refused() {
        let token = sign(&claims(), "v1", KEY).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut admin = claims();
        admin.roles = vec![Role::Admin];
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap());
        assert_eq!(
            verify(&parts.join("."), KEY, now()),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn token_signed_with_another_key_is_refused() {
        let token = sign(&claims(), "v1", b"another key").unwrap();
        assert_eq!(verify(&token, KEY, now()), Err(TokenError::Signature));
    }

    #[test]
    fn expired_token_is_refused_after_a_small_leeway() {
        let c = claims_at(now() - ACCESS_TOKEN_SECS);
        let token = sign(&c, "v1", KEY).unwrap();
        assert!(verify(&token, KEY, c.exp + LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            verify(&token, KEY, c.exp + LEEWAY_SECS),
            Err(TokenError::Expired)
        );
        // Expired by the system clock too: the crate's own check refuses it.
        let old = claims_at(now() - 2 * ACCESS_TOKEN_SECS);
        assert_eq!(
            verify(&sign(&old, "v1", KEY).unwrap(), KEY, old.iat),
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
                verify(&sign(&c, "v1", KEY).unwrap(), KEY, now()),
                Err(TokenError::Audience)
            );
        }
    }

    #[test]
    fn token_from_the_future_is_refused() {
        let c = claims_at(now() + 3600);
        assert_eq!(
            verify(&sign(&c, "v1", KEY).unwrap(), KEY, now()),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn token_living_longer_than_an_access_token_is_refused() {
        let mut c = claims();
        c.exp = c.iat + ACCESS_TOKEN_SECS + 1;
        assert_eq!(
            verify(&sign(&c, "v1", KEY).unwrap(), KEY, now()),
            Err(TokenError::Lifetime)
        );
        c.exp = c.iat + ACCESS_TOKEN_SECS;
        assert!(verify(&sign(&c, "v1", KEY).unwrap(), KEY, now()).is_ok());
    }

    #[test]
    fn missing_claims_are_refused() {
        let mut payload = serde_json::to_value(claims()).unwrap();
        payload.as_object_mut().unwrap().remove("exp");
        let token = forge_signed(r#"{"alg":"HS256","kid":"v1"}"#, &payload, KEY);
        assert_eq!(verify(&token, KEY, now()), Err(TokenError::Malformed));
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
            assert!(verify(bad, KEY, now()).is_err(), "{bad}");
        }
    }
}
