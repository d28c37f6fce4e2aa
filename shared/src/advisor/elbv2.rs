//! Elastic Load Balancing v2 checks: load balancers that route to nothing,
//! HTTP listeners that serve plain HTTP instead of redirecting to HTTPS.

use serde_json::Value;

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "elbv2.load_balancer_unused",
        title: "Load balancer has no listeners or no registered targets",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "elbv2:load-balancer",
        recommendation: "If nothing is meant to go through it, delete it: `aws elbv2 delete-load-balancer --region {region} --load-balancer-arn \"$(aws elbv2 describe-load-balancers --region {region} --names {name} --query 'LoadBalancers[0].LoadBalancerArn' --output text)\"` (Console: EC2 > Load balancers > {name} > Actions > Delete load balancer).",
        needs_metrics: false,
        evaluate: load_balancer_unused,
    },
    Check {
        id: "elbv2.http_not_redirected_to_https",
        title: "HTTP listener does not redirect to HTTPS",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "elbv2:load-balancer",
        recommendation: "Once the load balancer has an HTTPS listener, make the HTTP listener redirect to it: `aws elbv2 modify-listener --region {region} --listener-arn <listener arn> --default-actions 'Type=redirect,RedirectConfig={Protocol=HTTPS,Port=443,StatusCode=HTTP_301}'` (Console: EC2 > Load balancers > {name} > Listeners and rules > the HTTP listener > Edit listener > Redirect to URL, HTTPS, port 443).",
        needs_metrics: false,
        evaluate: http_not_redirected_to_https,
    },
];

/// States in which a load balancer is set up and billed: one still being
/// provisioned may simply not have its listeners yet.
const ACTIVE: &[&str] = &["active", "active_impaired"];

pub(super) fn load_balancer_unused(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if !ACTIVE.contains(&r.state.as_deref()?) {
        return None;
    }
    let listeners = props::get(r, "listeners")?.as_array()?;
    let groups = props::get(r, "target_groups")?.as_array()?;
    let cost = r.monthly_cost_usd;
    if listeners.is_empty() {
        return Some(Failure::saving(
            format!(
                "It has no listeners, so it receives no traffic, but costs ${cost:.2} a month."
            ),
            cost,
        ));
    }
    // A load balancer whose listeners only redirect or answer fixed responses
    // has no target groups and still does its job.
    if groups.is_empty() {
        return None;
    }
    let registered = groups
        .iter()
        .map(|g| g.get("registered_targets").and_then(Value::as_u64))
        .collect::<Option<Vec<u64>>>()?;
    registered.iter().all(|n| *n == 0).then(|| {
        Failure::saving(
            format!(
                "None of its {} target groups has a registered target, so it forwards to nothing, but costs ${cost:.2} a month.",
                groups.len()
            ),
            cost,
        )
    })
}

/// Whether a listener's default actions redirect to HTTPS.
fn redirects_to_https(listener: &Value) -> Option<bool> {
    let actions = listener.get("default_actions")?.as_array()?;
    Some(actions.iter().any(|a| {
        a.get("type").and_then(Value::as_str) == Some("redirect")
            && a.get("redirect_protocol").and_then(Value::as_str) == Some("HTTPS")
    }))
}

/// Plain HTTP listeners whose default action is not a redirect to HTTPS
/// (Security Hub control ELB.1).
fn http_not_redirected_to_https(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let plain: Vec<String> = props::array(r, "listeners")
        .iter()
        .filter(|l| l.get("protocol").and_then(Value::as_str) == Some("HTTP"))
        .filter(|l| redirects_to_https(l) == Some(false))
        .map(|l| {
            let port = l.get("port").and_then(Value::as_i64).unwrap_or(80);
            let arn = l.get("arn").and_then(Value::as_str).unwrap_or("(unknown)");
            format!("HTTP:{port} ({arn})")
        })
        .collect();
    (!plain.is_empty()).then(|| {
        Failure::because(format!(
            "Its listener {} serves plain HTTP instead of redirecting to HTTPS.",
            plain.join(" and ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixture::{resource, run};
    use super::*;

    fn check(id: &str) -> &'static Check {
        CHECKS.iter().find(|c| c.id == id).expect("check")
    }

    fn balancer(properties: Value) -> Resource {
        let mut r = resource("elbv2:load-balancer", "orders-alb", properties);
        r.state = Some("active".into());
        r.monthly_cost_usd = 16.43;
        r
    }

    fn forward() -> Value {
        json!({"arn": "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/orders-alb/1/2", "port": 443, "protocol": "HTTPS", "default_actions": [{"type": "forward", "redirect_protocol": null}]})
    }

    #[test]
    fn a_load_balancer_without_listeners_or_without_targets_fails_with_its_cost() {
        let no_listeners = balancer(json!({"listeners": [], "target_groups": []}));
        let failure = run(check("elbv2.load_balancer_unused"), &no_listeners, &[]).expect("fails");
        assert_eq!(failure.monthly_savings_usd, 16.43);
        let empty_groups = balancer(json!({
            "listeners": [forward()],
            "target_groups": [{"registered_targets": 0}, {"registered_targets": 0}],
        }));
        let failure = run(check("elbv2.load_balancer_unused"), &empty_groups, &[]).expect("fails");
        assert!(
            failure.detail.contains("2 target groups"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn a_load_balancer_with_a_target_a_redirect_only_one_or_one_provisioning_passes() {
        let serving = balancer(json!({
            "listeners": [forward()],
            "target_groups": [{"registered_targets": 0}, {"registered_targets": 2}],
        }));
        let redirect_only = balancer(json!({"listeners": [forward()], "target_groups": []}));
        let mut provisioning = balancer(json!({"listeners": [], "target_groups": []}));
        provisioning.state = Some("provisioning".into());
        let unknown = balancer(json!({}));
        for r in [serving, redirect_only, provisioning, unknown] {
            assert_eq!(
                run(check("elbv2.load_balancer_unused"), &r, &[]),
                None,
                "{r:?}"
            );
        }
    }

    #[test]
    fn an_http_listener_that_forwards_fails_naming_it() {
        let r = balancer(json!({"listeners": [
            forward(),
            {"arn": "arn:listener/http", "port": 80, "protocol": "HTTP", "default_actions": [{"type": "forward"}]},
        ]}));
        let failure = run(check("elbv2.http_not_redirected_to_https"), &r, &[]).expect("fails");
        assert!(
            failure.detail.contains("HTTP:80 (arn:listener/http)"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn an_http_listener_redirecting_to_https_or_an_https_or_tcp_listener_passes() {
        let r = balancer(json!({"listeners": [
            forward(),
            {"arn": "a", "port": 80, "protocol": "HTTP", "default_actions": [{"type": "redirect", "redirect_protocol": "HTTPS"}]},
            {"arn": "b", "port": 25, "protocol": "TCP", "default_actions": [{"type": "forward"}]},
            {"arn": "c", "port": 8080, "protocol": "HTTP"},
        ]}));
        assert_eq!(
            run(check("elbv2.http_not_redirected_to_https"), &r, &[]),
            None
        );
    }
}
