//! Every function's IAM policy in `template.yaml` grants exactly what its code
//! calls: each store and client declares the actions it calls beside the code
//! that calls them, each function's `iam_actions()` is their union, and this
//! test holds that union against the policy both ways. A grant nothing calls
//! is a hole waiting for a bug; a call nothing grants is an outage in AWS
//! that the emulator (which checks no policy) would never show.

use std::collections::BTreeSet;

use devstack::template::Template;
use serde_yaml::Value;

/// The actions a function's policies allow, except the KMS grants that hold
/// only through another service (`kms:ViaService`): those are how DynamoDB,
/// S3 and Secrets Manager encrypt at rest on our behalf, not calls of ours.
fn granted(template: &Template, binary: &str) -> BTreeSet<String> {
    let function = template
        .function_by_binary(binary)
        .unwrap_or_else(|| panic!("template.yaml has no function for the binary {binary}"));
    let resource = template
        .resources
        .iter()
        .find(|r| r.logical_id == function.logical_id)
        .expect("the function's resource");
    let mut actions = BTreeSet::new();
    let policies = resource.properties["Policies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for policy in policies {
        for statement in policy["Statement"]
            .as_sequence()
            .cloned()
            .unwrap_or_default()
        {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            let through_a_service = serde_yaml::to_string(&statement["Condition"])
                .unwrap_or_default()
                .contains("kms:ViaService");
            if through_a_service {
                continue;
            }
            match &statement["Action"] {
                Value::String(action) => {
                    actions.insert(action.clone());
                }
                Value::Sequence(list) => {
                    actions.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)))
                }
                other => panic!("{binary}: an Action that is neither a name nor a list: {other:?}"),
            }
        }
    }
    actions
}

fn holds(binary: &str, called: BTreeSet<&'static str>) {
    let template = Template::repo().expect("template.yaml parses");
    let granted = granted(&template, binary);
    let called: BTreeSet<String> = called.into_iter().map(str::to_owned).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    let missing: Vec<_> = called.difference(&granted).collect();
    assert!(
        unused.is_empty() && missing.is_empty(),
        "{binary}: granted but never called: {unused:?}; called but not granted: {missing:?}"
    );
}

#[test]
fn auth_is_granted_exactly_what_its_code_calls() {
    holds("auth", auth::iam_actions());
}

#[test]
fn packages_is_granted_exactly_what_its_code_calls() {
    holds("packages", packages::iam_actions());
}

#[test]
fn validator_is_granted_exactly_what_its_code_calls() {
    holds("validator", validator::iam_actions());
}

#[test]
fn inventory_is_granted_exactly_what_its_code_calls() {
    holds("inventory", inventory::iam_actions());
}

#[test]
fn scanner_is_granted_exactly_what_its_code_calls() {
    holds("scanner", scanner::iam_actions());
}

#[test]
fn actions_is_granted_exactly_what_its_code_calls() {
    holds("actions", actions::iam_actions());
}

#[test]
fn web_is_granted_nothing_as_it_calls_nothing() {
    holds("web", web::iam_actions());
}
