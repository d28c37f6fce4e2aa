//! CloudWatch Logs checks: log groups kept forever.

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[Check {
    id: "logs.retention_never_expires",
    title: "Log group keeps its logs forever",
    severity: Severity::Low,
    category: Category::Cost,
    resource_type: "logs:log-group",
    recommendation: "Set a retention that matches how long the logs are needed (30 days here; 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 and 3653 are allowed): `aws logs put-retention-policy --log-group-name {name} --retention-in-days 30 --region {region}` (Console: CloudWatch > Log groups > {name} > Actions > Edit retention setting).",
    needs_metrics: false,
    evaluate: retention_never_expires,
}];

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn retention_never_expires(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    // The collector writes `retention_days` for every group: null is
    // "Never expire", the only value DescribeLogGroups leaves out.
    if !r.properties.get("retention_days")?.is_null() {
        return None;
    }
    let stored = props::f64(r, "stored_bytes").unwrap_or(0.0) / GIB;
    Some(Failure::saving(
        format!(
            "Its logs never expire: its {stored:.2} GiB (${:.2} a month) only grow. What a retention saves depends on how much of that is older than the retention chosen, which the inventory does not know, so no saving is estimated.",
            r.monthly_cost_usd
        ),
        0.0,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::check;
    use super::super::fixture::{resource, run};
    use super::*;

    fn group(properties: serde_json::Value) -> Resource {
        resource("logs:log-group", "/app/orders", properties)
    }

    #[test]
    fn a_log_group_kept_forever_fails_with_its_size_and_no_saving_estimated() {
        let check = check("logs.retention_never_expires").expect("check");
        let mut forever = group(json!({"retention_days": null, "stored_bytes": 10.0 * GIB}));
        forever.monthly_cost_usd = 0.3;
        let failure = run(check, &forever, &[]).expect("fails");
        assert_eq!(failure.monthly_savings_usd, 0.0);
        assert!(
            failure.detail.contains("10.00 GiB") && failure.detail.contains("$0.30"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn a_log_group_with_a_retention_passes() {
        let check = check("logs.retention_never_expires").expect("check");
        assert_eq!(
            run(
                check,
                &group(json!({"retention_days": 30, "stored_bytes": 0.0})),
                &[]
            ),
            None
        );
        assert_eq!(run(check, &group(json!({})), &[]), None);
    }
}
