//! The contract: `openapi.json` is what the code generates, `template.yaml`
//! routes exactly the routes of `API.md`, and every documented path is routed.

use std::collections::BTreeSet;

use devstack::template::Template;

#[test]
fn openapi_json_is_generated_from_the_code() {
    let committed =
        std::fs::read_to_string(devstack::repo_root().join("openapi.json")).unwrap_or_default();
    assert!(
        committed == devstack::openapi_json(),
        "openapi.json drifted from the code: run `make openapi` and commit the result"
    );
}

#[test]
fn served_document_is_the_committed_file() {
    let committed =
        std::fs::read_to_string(devstack::repo_root().join("openapi.json")).unwrap_or_default();
    assert_eq!(shared::openapi::DOCUMENT, committed);
}

fn template_routes() -> BTreeSet<(String, String)> {
    Template::repo()
        .expect("template.yaml parses")
        .routes()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// `| METHOD | `/...` | ...` rows of API.md's route tables.
fn api_md_routes(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let method = *cells.get(1)?;
            let path = cells.get(2)?.trim_matches('`');
            (["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) && path.starts_with('/'))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

#[test]
fn template_routes_exactly_the_routes_of_api_md() {
    // docs/API.md is the contract, changed in the same commit as the code.
    let path = devstack::repo_root().join("docs/API.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is the contract and must exist: {e}", path.display()));
    let documented = api_md_routes(&text);
    assert!(
        documented.len() >= 40,
        "API.md's route tables were not read: {documented:?}"
    );
    let routed = template_routes();
    let missing: Vec<_> = documented.difference(&routed).collect();
    let extra: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not routed: {missing:?}; not in API.md: {extra:?}"
    );
}

/// Routes of the contract whose code an open issue builds: routed already (so
/// the function answers the contract's JSON 404, not API Gateway's), and
/// described in `openapi.json` in the commit that builds them.
const NOT_YET_BUILT: &[(&str, &str, &str)] = &[];

#[test]
fn every_routed_operation_is_in_openapi_json() {
    let doc: serde_json::Value =
        serde_json::from_str(&devstack::openapi_json()).expect("document is JSON");
    let documented = |method: &str, path: &str| {
        doc["paths"][path]
            .get(method.to_ascii_lowercase())
            .is_some()
    };
    let pending: BTreeSet<(String, String)> = NOT_YET_BUILT
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = template_routes()
        .into_iter()
        .filter(|(method, path)| !documented(method, path))
        .filter(|route| !pending.contains(route))
        .collect();
    assert!(
        missing.is_empty(),
        "routed by template.yaml but missing from openapi.json: {missing:?}"
    );
    let built: Vec<_> = NOT_YET_BUILT
        .iter()
        .filter(|(method, path, _)| documented(method, path))
        .collect();
    assert!(
        built.is_empty(),
        "built now, so take them off NOT_YET_BUILT: {built:?}"
    );
}

#[test]
fn every_documented_operation_is_routed_by_the_template() {
    let doc: serde_json::Value =
        serde_json::from_str(&devstack::openapi_json()).expect("document is JSON");
    let routed = template_routes();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            let key = (method.to_ascii_uppercase(), path.clone());
            assert!(
                routed.contains(&key),
                "{key:?} is documented but template.yaml does not route it"
            );
        }
    }
}

#[test]
fn every_route_is_served_by_an_existing_function() {
    let template = Template::repo().expect("template.yaml parses");
    for route in template.routes() {
        assert!(
            ["auth", "packages", "inventory", "actions", "web"].contains(&route.function.as_str()),
            "{route:?} names a function that is not an HTTP function"
        );
    }
}

/// A parameter `in: path` must be a `{segment}` of its path: `q`, `limit`
/// and `cursor` declared in the path made list operations uncallable by a
/// generated client (found by schemathesis, issue 15).
#[test]
fn every_path_parameter_is_a_segment_of_its_path_and_every_other_is_in_the_query() {
    let document: serde_json::Value =
        serde_json::from_str(&devstack::openapi_json()).expect("openapi.json is JSON");
    let mut wrong = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                let in_path = path.contains(&format!("{{{name}}}"));
                let declared = parameter["in"].as_str().unwrap_or_default();
                if (declared == "path") != in_path {
                    wrong.push(format!("{method} {path}: {name} in {declared}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "misplaced parameters: {wrong:#?}");
}
