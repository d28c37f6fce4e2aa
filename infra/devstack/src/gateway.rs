//! The local API Gateway: serves exactly the routes of `template.yaml`, each
//! by the function the template maps it to, through that function's own
//! router (its layers, its fallbacks), as the deployed HTTP API does.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow};
use aws_config::SdkConfig;
use axum::Router;
use axum::extract::Request;
use axum::routing::{MethodFilter, MethodRouter};
use tower::ServiceExt;

use crate::bootstrap::Stack;
use crate::template::Route;

/// Every HTTP function's router, built from the stack's environments.
pub fn function_routers(stack: &Stack, aws: &SdkConfig) -> Result<HashMap<String, Router>> {
    let mut routers = HashMap::new();
    routers.insert(
        "auth".to_owned(),
        auth::router(auth::State::new(&stack.env("auth"), aws)?),
    );
    routers.insert(
        "packages".to_owned(),
        packages::router(packages::State::new(&stack.env("packages"), aws)?),
    );
    routers.insert(
        "inventory".to_owned(),
        inventory::router(inventory::State::new(&stack.env("inventory"), aws)?),
    );
    routers.insert(
        "actions".to_owned(),
        actions::router(actions::State::new(&stack.env("actions"), aws)?),
    );
    // Presigned URLs point at the emulator here, not at the bucket's AWS endpoint.
    let site = match aws.endpoint_url().and_then(web::origin_of) {
        Some(emulator) => web::Site::build(Some(&emulator)),
        None => web::Site::from_env(&stack.env("web"))?,
    };
    routers.insert("web".to_owned(), web::router(site));
    Ok(routers)
}

/// The request as the function receives it: method, URI, headers and body,
/// none of the gateway's own routing state (its path parameters would
/// otherwise be seen twice by the function's router).
fn fresh(req: Request) -> Request {
    let (parts, body) = req.into_parts();
    let mut out = Request::new(body);
    *out.method_mut() = parts.method;
    *out.uri_mut() = parts.uri;
    *out.version_mut() = parts.version;
    *out.headers_mut() = parts.headers;
    out
}

/// A router answering `routes`, each forwarded to its function's router.
/// Anything else gets the API's JSON 404, as an unmatched API Gateway route would.
pub fn gateway(routes: &[Route], functions: &HashMap<String, Router>) -> Result<Router> {
    let mut by_path: BTreeMap<&str, MethodRouter> = BTreeMap::new();
    for route in routes {
        let function = functions.get(&route.function).cloned().ok_or_else(|| {
            anyhow!(
                "route {} {} names unknown function {}",
                route.method,
                route.path,
                route.function
            )
        })?;
        let method = http::Method::from_bytes(route.method.as_bytes())?;
        let filter = MethodFilter::try_from(method)?;
        let forward = move |req: Request| async move {
            match function.oneshot(fresh(req)).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
        let entry = by_path.remove(route.path.as_str()).unwrap_or_default();
        by_path.insert(route.path.as_str(), entry.on(filter, forward));
    }
    // API Gateway's greedy `{proxy+}` is axum's `{*proxy}`.
    let by_path: BTreeMap<String, MethodRouter> = by_path
        .into_iter()
        .map(|(path, methods)| (path.replace("{proxy+}", "{*proxy}"), methods))
        .collect();
    let unmatched = shared::http::service(Router::new(), shared::health::Health::default());
    let mut router = Router::new();
    for (path, methods) in by_path {
        let unmatched = unmatched.clone();
        router = router.route(
            &path,
            methods.fallback(move |req: Request| async move {
                match unmatched.oneshot(fresh(req)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }),
        );
    }
    Ok(router.fallback_service(unmatched))
}
