//! The HTTP API of `docs/API.md`, and nothing else: JSON in and out, its error
//! body turned into a `CliError`, the access token refreshed when it lapses,
//! idempotent calls retried when the service is briefly unavailable.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::config::{Credentials, Profile};
use crate::error::{CliError, Exit, Result};

const API_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of a call that is safe to repeat, when the answer is 429, 503 or no answer.
const ATTEMPTS: u32 = 4;
/// An access token this close to its expiry is refreshed before it is sent.
const REFRESH_MARGIN_SECS: i64 = 30;

pub enum Auth {
    None,
    ApiKey(String),
    /// A signed-in profile of `credentials.json`, saved again when refreshed.
    Session {
        name: String,
        profile: Mutex<Profile>,
    },
}

pub struct Api {
    pub endpoint: String,
    pub http: reqwest::Client,
    auth: Auth,
}

/// The one HTTP client of a run (rustls, the system's roots).
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("cloudkeep-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| CliError::unexpected(format!("cannot build the HTTP client: {e}")))
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Api {
    pub fn new(endpoint: String, http: reqwest::Client, auth: Auth) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            http,
            auth,
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.call(Method::DELETE, path, None).await
    }

    /// One call; its JSON body (`null` for a 204). A GET or DELETE is retried
    /// on 429/503 or a lost connection; a POST is sent once.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let idempotent = matches!(method, Method::GET | Method::DELETE);
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            let header = self.authorization(false).await?;
            match self.send(&method, path, body, header.as_deref()).await {
                Ok((status, value)) if status.is_success() => return Ok(value),
                Ok((StatusCode::UNAUTHORIZED, _)) if !refreshed && self.can_refresh().await => {
                    refreshed = true;
                    self.authorization(true).await?;
                }
                Ok((status, value)) => {
                    let error = api_error(status, &value);
                    let retry = matches!(status.as_u16(), 429 | 503) && idempotent;
                    if !retry || attempt >= ATTEMPTS {
                        return Err(self.explain(error));
                    }
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) if idempotent && attempt < ATTEMPTS && e.exit == Exit::Unavailable => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        authorization: Option<&str>,
    ) -> Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.endpoint))
            .timeout(API_TIMEOUT);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CliError::network(&self.endpoint, e))?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CliError::network(&self.endpoint, e))?;
        let mut value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                CliError::unexpected(format!(
                    "{} answered {status} with a body that is not JSON: is {} a cloudkeep API?",
                    self.endpoint, self.endpoint
                ))
            })?
        };
        if !status.is_success() && value.get("request_id").is_none() {
            if let (Some(id), Some(object)) = (request_id, value.as_object_mut()) {
                object.insert("request_id".into(), json!(id));
            }
        }
        Ok((status, value))
    }

    /// A 401 without credentials says how to get some.
    fn explain(&self, error: CliError) -> CliError {
        match (&self.auth, error.exit) {
            (Auth::None, Exit::Auth) => CliError {
                message: "not signed in: run `cloudkeep login` (or set CLOUDKEEP_API_KEY)".into(),
                ..error
            },
            (Auth::Session { .. }, Exit::Auth) => CliError {
                message: format!("{}: run `cloudkeep login` again", error.message),
                ..error
            },
            _ => error,
        }
    }

    async fn can_refresh(&self) -> bool {
        match &self.auth {
            Auth::Session { profile, .. } => profile.lock().await.refresh_token.is_some(),
            _ => false,
        }
    }

    /// The `Authorization` header: an API key as is, a session's access token
    /// refreshed first when it is about to lapse (or `force`d after a 401).
    /// The refresh token rotates, so the new pair is saved at once.
    async fn authorization(&self, force: bool) -> Result<Option<String>> {
        let (name, profile) = match &self.auth {
            Auth::None => return Ok(None),
            Auth::ApiKey(key) => return Ok(Some(format!("ApiKey {key}"))),
            Auth::Session { name, profile } => (name, profile),
        };
        let mut profile = profile.lock().await;
        let stale = profile.expires_at - REFRESH_MARGIN_SECS <= now_secs();
        if (force || stale || profile.access_token.is_none()) && profile.refresh_token.is_some() {
            let refresh = profile.refresh_token.clone().unwrap_or_default();
            let body = json!({"refresh_token": refresh});
            match self
                .send(&Method::POST, "/v1/auth/refresh", Some(&body), None)
                .await?
            {
                (status, pair) if status.is_success() => {
                    apply_pair(&mut profile, &pair)?;
                    let mut credentials = Credentials::load()?;
                    credentials.profiles.insert(name.clone(), profile.clone());
                    credentials.save()?;
                }
                (status, value) => {
                    let error = api_error(status, &value);
                    return Err(CliError {
                        message: format!(
                            "your session has ended ({}): run `cloudkeep login`",
                            error.message
                        ),
                        ..error
                    });
                }
            }
        }
        Ok(profile.access_token.as_ref().map(|t| format!("Bearer {t}")))
    }
}

/// Stores a login's or refresh's token pair in `profile`.
pub fn apply_pair(profile: &mut Profile, pair: &Value) -> Result<()> {
    let (Some(access), Some(refresh)) = (
        pair["access_token"].as_str(),
        pair["refresh_token"].as_str(),
    ) else {
        return Err(CliError::unexpected(
            "the API answered a token pair without its tokens",
        ));
    };
    profile.access_token = Some(access.to_owned());
    profile.refresh_token = Some(refresh.to_owned());
    profile.expires_at = now_secs() + pair["expires_in"].as_i64().unwrap_or(0);
    Ok(())
}

/// The contract's error body as a `CliError`.
pub fn api_error(status: StatusCode, body: &Value) -> CliError {
    let error = &body["error"];
    let mut message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the API answered {status}"));
    if let Some(details) = error["details"].as_array() {
        let problems: Vec<String> = details
            .iter()
            .filter_map(|d| {
                Some(format!(
                    "{}: {}",
                    d["field"].as_str()?,
                    d["problem"].as_str()?
                ))
            })
            .collect();
        if !problems.is_empty() {
            message = format!("{message} ({})", problems.join("; "));
        }
    }
    CliError::from_status(
        status.as_u16(),
        message,
        body["request_id"].as_str().map(str::to_owned),
    )
}

/// 0.5 s, 1 s, 2 s, … with up to 50 % jitter, at most 8 s.
pub async fn backoff(attempt: u32) {
    let base = 500u64 << attempt.saturating_sub(1).min(4);
    let jitter = u64::from(
        std::process::id()
            .wrapping_mul(attempt)
            .wrapping_add(now_secs() as u32),
    ) % (base / 2 + 1);
    tokio::time::sleep(Duration::from_millis((base + jitter).min(8_000))).await;
}

/// A path segment, percent-encoded (names, versions and ARNs go into paths).
pub fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `?a=1&b=2` of the pairs whose value is set, percent-encoded.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let set: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v))))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!("?{}", set.join("&"))
    }
}
