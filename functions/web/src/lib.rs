//! `web`: the console, a static single-page app (`web/` in the repository)
//! compiled into the binary, served from the API's own origin so that it
//! needs no CORS. No AWS call: the page speaks to `/v1` itself.
//!
//! `index.html` names each asset with its content hash (`app.js?v=…`), so an
//! asset asked for by its hash is cached for a year and the HTML is
//! revalidated (a strong `ETag`, `304` when it matches).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use shared::ApiError;
use shared::health::Health;
use utoipa::OpenApi;

/// The assets, as `web/` holds them: name, bytes, content type.
const ASSETS: &[(&str, &[u8], &str)] = &[
    (
        "app.js",
        include_bytes!("../../../web/app/app.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "style.css",
        include_bytes!("../../../web/app/style.css"),
        "text/css; charset=utf-8",
    ),
    // The roles the accounts screen shows, as the repository ships them.
    (
        "customer-readonly-role.yaml",
        include_bytes!("../../../infra/cloudformation/customer-readonly-role.yaml"),
        "text/yaml; charset=utf-8",
    ),
    (
        "customer-remediation-role.yaml",
        include_bytes!("../../../infra/cloudformation/customer-remediation-role.yaml"),
        "text/yaml; charset=utf-8",
    ),
];

const INDEX: &str = include_str!("../../../web/index.html");

/// No inline script or style, nothing from another origin but the bucket the
/// browser PUTs package parts to, never framed.
fn content_security_policy(upload_origin: Option<&str>) -> String {
    let connect = match upload_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of `url`, the form a CSP source takes; `None` for
/// anything else, so that nothing but an origin reaches the header.
pub fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri
        .scheme_str()
        .filter(|s| matches!(*s, "http" | "https"))?;
    let authority = uri.authority()?.as_str();
    let plain = authority
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    plain.then(|| format!("{scheme}://{authority}"))
}

/// The AWS actions this function calls: none.
pub fn iam_actions() -> std::collections::BTreeSet<&'static str> {
    std::collections::BTreeSet::new()
}

/// One response body, ready to serve.
#[derive(Debug, Clone)]
struct Served {
    body: Bytes,
    content_type: &'static str,
    /// 16 bytes of SHA-256, in hex: the `ETag` and the `?v=` of its name.
    hash: String,
}

impl Served {
    fn new(body: Bytes, content_type: &'static str) -> Self {
        let hash = Sha256::digest(&body)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            body,
            content_type,
            hash,
        }
    }
}

/// The console's files, hashed once per cold start, and the policy they run under.
#[derive(Debug, Clone)]
pub struct Site {
    index: Served,
    assets: HashMap<&'static str, Served>,
    csp: HeaderValue,
}

impl Site {
    /// The site from `UPLOAD_ORIGIN`: where presigned part URLs point (the
    /// bucket's endpoint), the one other origin the page may connect to.
    pub fn from_env(env: &shared::Env) -> Result<Site, shared::config::ConfigError> {
        let origin = match env.optional("UPLOAD_ORIGIN") {
            Some(url) => Some(origin_of(&url).ok_or(shared::config::ConfigError::Invalid {
                name: "UPLOAD_ORIGIN",
                reason: "not an http(s) origin".to_owned(),
            })?),
            None => None,
        };
        Ok(Site::build(origin.as_deref()))
    }

    /// The site; `upload_origin` must be an origin (see [`origin_of`]).
    pub fn build(upload_origin: Option<&str>) -> Site {
        let assets: HashMap<&'static str, Served> = ASSETS
            .iter()
            .map(|(name, body, kind)| (*name, Served::new(Bytes::from_static(body), kind)))
            .collect();
        let mut index = INDEX.to_owned();
        for (name, served) in &assets {
            index = index.replace(&format!("{{{{{name}}}}}"), &served.hash);
        }
        let csp = HeaderValue::from_str(&content_security_policy(upload_origin))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
        Site {
            index: Served::new(Bytes::from(index), "text/html; charset=utf-8"),
            assets,
            csp,
        }
    }

    /// The hash `index.html` names an asset by.
    pub fn hash_of(&self, asset: &str) -> Option<&str> {
        self.assets.get(asset).map(|s| s.hash.as_str())
    }
}

/// A file with the console's security headers, its strong `ETag`, and
/// `304` when the client holds it already.
fn serve(site: &Site, served: &Served, headers: &HeaderMap, cache: &'static str) -> Response {
    let etag = format!("\"{}\"", served.hash);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, served.content_type)],
            served.body.clone(),
        )
            .into_response()
    };
    let set = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        set.insert(header::ETAG, value);
    }
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    set.insert(header::CONTENT_SECURITY_POLICY, site.csp.clone());
    set.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    set.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The console's page.
#[utoipa::path(
    get, path = "/", tag = "web", operation_id = "console", security(()),
    responses((status = 200, description = "The console's HTML", content_type = "text/html"), (status = 304, description = "Not modified"))
)]
pub async fn index(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    serve(&site, &site.index, &headers, "no-cache")
}

/// `?v=` in an asset's URL.
#[derive(Debug, serde::Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// One of the console's assets; cached for a year when asked for by its hash.
#[utoipa::path(
    get, path = "/app/{proxy+}", tag = "web", operation_id = "console_asset", security(()),
    params(("proxy+" = String, Path, description = "The asset's name, e.g. app.js")),
    responses(
        (status = 200, description = "The asset", content_type = "text/javascript"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such asset", body = shared::error::ErrorBody),
    )
)]
pub async fn asset(
    State(site): State<Arc<Site>>,
    Path(name): Path<String>,
    Query(version): Query<Version>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let served = site
        .assets
        .get(name.as_str())
        .ok_or_else(|| ApiError::not_found("no such asset"))?;
    let cache = if version.v.as_deref() == Some(served.hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(serve(&site, served, &headers, cache))
}

/// The function's HTTP service.
pub fn router(site: Site) -> Router {
    let routes = Router::new()
        .route("/", get(index))
        .route("/app/{*proxy}", get(asset))
        .with_state(Arc::new(site));
    shared::http::service(routes, Health::default())
}

#[derive(OpenApi)]
#[openapi(paths(index, asset))]
struct Api;

/// This function's routes in the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_asset_by_its_hash() {
        let site = Site::build(None);
        let page = std::str::from_utf8(&site.index.body).unwrap();
        for (name, _, _) in ASSETS
            .iter()
            .filter(|(name, _, _)| !name.ends_with(".yaml"))
        {
            let hash = site.hash_of(name).unwrap();
            assert!(page.contains(&format!("/app/{name}?v={hash}")), "{name}");
        }
        assert!(!page.contains("{{"), "a placeholder left: {page}");
        assert!(!page.contains("<script>"), "no inline script");
    }

    #[test]
    fn only_an_origin_reaches_the_policy() {
        assert_eq!(
            origin_of("https://b.s3.eu-west-1.amazonaws.com/key?x=1").as_deref(),
            Some("https://b.s3.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5000").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        for hostile in [
            "ftp://x",
            "https://a; script-src *",
            "javascript:alert(1)",
            "*",
            "",
        ] {
            assert_eq!(origin_of(hostile), None, "{hostile}");
        }
        let site = Site::build(Some("http://127.0.0.1:5000"));
        let csp = site.csp.to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:5000;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
    }
}
