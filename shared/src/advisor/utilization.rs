//! Utilization checks: resources that run (and bill) but do little, judged
//! from the CloudWatch metrics the scanner attaches as
//! `properties.utilization` (`scanner::metrics`): 14 days, one datapoint a
//! day, e.g. `{"days": 14, "observed_days": 14, "datapoints": 56,
//! "cpu_avg": 1.2, "cpu_max": 3.0, "network_bytes": 1200000}`.
//!
//! A resource without `utilization` (metrics not read, or no datapoints:
//! unmonitored is not idle) or observed for less than the whole window (a
//! resource launched last week has not proved anything yet) answers `None`.

use serde_json::{Map, Value};

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::costs::prices;
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "ec2.instance_idle",
        title: "EC2 instance is idle",
        severity: Severity::Medium,
        category: Category::Cost,
        resource_type: "ec2:instance",
        recommendation: "Stop it if nothing needs it (its volumes keep its data): `aws ec2 stop-instances --instance-ids {id} --region {region}` (Console: EC2 > Instances > {name} > Instance state > Stop instance), or terminate it once you have a snapshot or AMI.",
        needs_metrics: true,
        evaluate: instance_idle,
    },
    Check {
        id: "ec2.instance_overprovisioned",
        title: "EC2 instance is larger than its load needs",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "ec2:instance",
        recommendation: "Check its memory use first (CloudWatch sees only CPU without the agent), then resize it one size down: stop it, `aws ec2 modify-instance-attribute --instance-id {id} --instance-type '{\"Value\": \"<smaller type>\"}' --region {region}`, start it (Console: EC2 > Instances > {name} > Actions > Instance settings > Change instance type).",
        needs_metrics: true,
        evaluate: instance_overprovisioned,
    },
    Check {
        id: "rds.instance_idle",
        title: "RDS database has had no connections",
        severity: Severity::Medium,
        category: Category::Cost,
        resource_type: "rds:db-instance",
        recommendation: "Delete it with a final snapshot if nothing uses it: `aws rds delete-db-instance --db-instance-identifier {id} --final-db-snapshot-identifier {id}-final --region {region}` (Console: RDS > Databases > {name} > Actions > Delete). Stopping it saves the same, but only for 7 days: RDS starts it again after that.",
        needs_metrics: true,
        evaluate: rds_instance_idle,
    },
    Check {
        id: "ec2.nat_gateway_idle",
        title: "NAT gateway carries no traffic",
        severity: Severity::Medium,
        category: Category::Cost,
        resource_type: "ec2:nat-gateway",
        recommendation: "Delete it if nothing routes through it: `aws ec2 delete-nat-gateway --nat-gateway-id {id} --region {region}` (Console: VPC > NAT gateways > {id} > Actions > Delete NAT gateway), then release its Elastic IP and remove the routes that point at it.",
        needs_metrics: true,
        evaluate: nat_gateway_idle,
    },
    Check {
        id: "elbv2.load_balancer_idle",
        title: "Load balancer receives no traffic",
        severity: Severity::Low,
        category: Category::Cost,
        resource_type: "elbv2:load-balancer",
        recommendation: "Delete it if nothing uses it (Console: EC2 > Load balancers > {name} > Actions > Delete load balancer), or `aws elbv2 delete-load-balancer --region {region} --load-balancer-arn $(aws elbv2 describe-load-balancers --names {name} --region {region} --query 'LoadBalancers[0].LoadBalancerArn' --output text)`.",
        needs_metrics: true,
        evaluate: load_balancer_idle,
    },
    Check {
        id: "lambda.function_unused",
        title: "Lambda function has not been invoked",
        severity: Severity::Low,
        category: Category::Security,
        resource_type: "lambda:function",
        recommendation: "Delete it if nothing needs it any more, so its code, runtime and role are not left to age: `aws lambda delete-function --function-name {name} --region {region}` (Console: Lambda > Functions > {name} > Actions > Delete), and its execution role if nothing else uses it.",
        needs_metrics: true,
        evaluate: function_unused,
    },
];

/// The shortest window a utilization check judges: two weeks, the lookback
/// of AWS Compute Optimizer's idle and rightsizing findings and of Trusted
/// Advisor's low-utilization checks. Shorter would flag weekly jobs.
pub const MIN_WINDOW_DAYS: f64 = 14.0;

/// An instance is idle when its peak CPU stays under 5 % and its network
/// I/O (in plus out) under 5 MB a day over the window: Compute Optimizer's
/// idle-instance definition, stricter than Trusted Advisor's "low
/// utilization" (average CPU of 10 % or less on 4 of 14 days), so that an
/// instance that does occasional real work is never called idle.
pub const IDLE_CPU_MAX_PERCENT: f64 = 5.0;
pub const IDLE_NETWORK_BYTES_PER_DAY: f64 = 5_000_000.0;

/// One size down halves the vCPUs (or takes a third or a quarter off the
/// largest sizes), so CPU use grows by the inverse of the share kept. An
/// instance whose 14-day peak would still be at or under 80 % one size
/// down keeps 20 % headroom there: it is over-provisioned.
pub const OVERPROVISIONED_PEAK_AFTER_RESIZE_PERCENT: f64 = 80.0;

/// Families whose size is bought for something CloudWatch does not see
/// without an agent, so low CPU says nothing about fit: burstable `t*`
/// (a smaller size is a smaller CPU-credit baseline, not fewer vCPUs) and
/// memory-optimised `r*`, `x*`, `z*`, `u*` (bought for memory).
fn rightsized_by_cpu(family: &str) -> bool {
    !family.starts_with(['t', 'r', 'x', 'z', 'u'])
}

/// The resource's utilization, when it was observed over the whole window.
fn observed(r: &Resource) -> Option<&Map<String, Value>> {
    let u = props::get(r, "utilization")?.as_object()?;
    let days = u.get("days")?.as_f64()?;
    let observed_days = u.get("observed_days")?.as_f64()?;
    (days >= MIN_WINDOW_DAYS && observed_days >= days).then_some(u)
}

fn metric(u: &Map<String, Value>, key: &str) -> Option<f64> {
    u.get(key)?.as_f64()
}

fn days(u: &Map<String, Value>) -> f64 {
    metric(u, "days").unwrap_or(MIN_WINDOW_DAYS)
}

/// Peak CPU and network bytes a day of a running instance, if observed.
fn cpu_and_network(r: &Resource) -> Option<(f64, f64)> {
    if r.state.as_deref() != Some("running") {
        return None;
    }
    let u = observed(r)?;
    Some((metric(u, "cpu_max")?, metric(u, "network_bytes")? / days(u)))
}

fn idle(cpu_max: f64, network_per_day: f64) -> bool {
    cpu_max < IDLE_CPU_MAX_PERCENT && network_per_day < IDLE_NETWORK_BYTES_PER_DAY
}

pub(super) fn instance_idle(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let (cpu_max, network_per_day) = cpu_and_network(r)?;
    idle(cpu_max, network_per_day).then(|| {
        Failure::saving(
            format!(
                "Peak CPU {cpu_max:.1} % and {:.1} MB of network a day over the last {MIN_WINDOW_DAYS} days.",
                network_per_day / 1e6
            ),
            r.monthly_cost_usd,
        )
    })
}

fn instance_overprovisioned(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let (cpu_max, network_per_day) = cpu_and_network(r)?;
    if idle(cpu_max, network_per_day) {
        // Stopping it (ec2.instance_idle) saves more than resizing it.
        return None;
    }
    let instance_type = props::str(r, "instance_type")?;
    let (family, _) = instance_type.split_once('.')?;
    if !rightsized_by_cpu(family) {
        return None;
    }
    let p = prices();
    let (smaller, share) = p.one_size_down(instance_type)?;
    let peak_after = cpu_max / share;
    if peak_after > OVERPROVISIONED_PEAK_AFTER_RESIZE_PERCENT {
        return None;
    }
    let saving =
        p.instance(&r.region, instance_type, true)? - p.instance(&r.region, &smaller, true)?;
    Some(Failure::saving(
        format!(
            "Peak CPU {cpu_max:.1} % over the last {MIN_WINDOW_DAYS} days: as {smaller} it would peak near {peak_after:.0} %."
        ),
        saving,
    ))
}

/// No connection at all: Trusted Advisor's idle database is one without a
/// connection for 7 days; a fortnight of none is as clear.
fn rds_instance_idle(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    if r.state.as_deref() != Some("available") {
        return None;
    }
    let connections = metric(observed(r)?, "connections_max")?;
    if connections >= 1.0 {
        return None;
    }
    // Deleting it saves its compute; its storage is billed until deleted,
    // and a final snapshot is billed after, so only compute is promised.
    let compute = rds_compute(r).unwrap_or(0.0);
    Some(Failure::saving(
        format!("No connection in the last {MIN_WINDOW_DAYS} days."),
        compute,
    ))
}

fn rds_compute(r: &Resource) -> Option<f64> {
    let p = prices();
    let class = props::str(r, "class")?;
    let storage_type = props::str(r, "storage_type").unwrap_or("gp2");
    let storage = props::f64(r, "allocated_storage_gib").unwrap_or(0.0);
    let multi_az = props::bool(r, "multi_az").unwrap_or(false);
    let running = p.db_instance(&r.region, class, storage_type, storage, true, multi_az)?;
    let stopped = p.db_instance(&r.region, class, storage_type, storage, false, multi_az)?;
    Some(running - stopped)
}

/// Not one byte either way (`BytesOutToDestination` + `BytesInFromSource`):
/// any traffic at all means something still routes through it.
fn nat_gateway_idle(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    // One finding per fix, so the savings of open findings add up: a NAT
    // gateway no route uses is `ec2.nat_gateway_unrouted`'s, same deletion.
    if super::ec2::nat_gateway_unrouted(r, estate).is_some() {
        return None;
    }
    if r.state.as_deref() != Some("available") {
        return None;
    }
    let bytes = metric(observed(r)?, "bytes")?;
    (bytes <= 0.0).then(|| {
        Failure::saving(
            format!("No traffic through it in the last {MIN_WINDOW_DAYS} days."),
            r.monthly_cost_usd,
        )
    })
}

/// No request (application) or new flow (network) at all. Trusted Advisor
/// calls a load balancer idle under 100 requests in 7 days; we ask for
/// none, so that a rarely used endpoint is not called idle.
fn load_balancer_idle(r: &Resource, estate: &Estate<'_>) -> Option<Failure> {
    // One finding per fix: one with no listeners or targets is
    // `elbv2.load_balancer_unused`'s, same deletion and saving.
    if super::elbv2::load_balancer_unused(r, estate).is_some() {
        return None;
    }
    if !matches!(r.state.as_deref(), Some("active" | "active_impaired")) {
        return None;
    }
    let u = observed(r)?;
    let (traffic, what) = match props::str(r, "type")? {
        "application" => (metric(u, "requests")?, "request"),
        "network" => (metric(u, "new_flows")?, "new connection"),
        _ => return None,
    };
    (traffic <= 0.0).then(|| {
        Failure::saving(
            format!("Not one {what} in the last {MIN_WINDOW_DAYS} days."),
            r.monthly_cost_usd,
        )
    })
}

/// Not invoked once in the window. It costs nothing idle (Lambda bills per
/// request), so the finding is about what is left deployed, not money.
fn function_unused(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let invocations = metric(observed(r)?, "invocations")?;
    (invocations <= 0.0)
        .then(|| Failure::because(format!("Not invoked in the last {MIN_WINDOW_DAYS} days.")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixture::{resource, run};
    use super::*;

    fn check(id: &str) -> &'static Check {
        CHECKS.iter().find(|c| c.id == id).expect("check")
    }

    /// A resource observed over the whole window with these metrics.
    fn observed_with(
        resource_type: &str,
        state: &str,
        mut properties: Value,
        utilization: Value,
    ) -> Resource {
        let mut u = json!({"days": 14, "observed_days": 14, "datapoints": 56});
        u.as_object_mut()
            .expect("object")
            .extend(utilization.as_object().expect("object").clone());
        properties["utilization"] = u;
        let mut r = resource(resource_type, "r-1", properties);
        r.state = Some(state.into());
        r
    }

    fn instance(instance_type: &str, cpu_max: f64, network_bytes: f64) -> Resource {
        let mut r = observed_with(
            "ec2:instance",
            "running",
            json!({"instance_type": instance_type}),
            json!({"cpu_avg": cpu_max / 2.0, "cpu_max": cpu_max, "network_bytes": network_bytes}),
        );
        r.monthly_cost_usd = prices()
            .instance(&r.region, instance_type, true)
            .expect("priced");
        r
    }

    #[test]
    fn an_instance_that_never_peaks_over_5_percent_nor_moves_5_mb_a_day_fails_with_its_cost() {
        let r = instance("m6i.large", 2.0, 14.0 * 1e6);
        let failure = run(check("ec2.instance_idle"), &r, &[]).expect("idle");
        assert_eq!(failure.monthly_savings_usd, r.monthly_cost_usd);
        assert!(failure.monthly_savings_usd > 0.0);
        assert!(failure.detail.contains("2.0 %"), "{}", failure.detail);
    }

    #[test]
    fn an_instance_with_a_cpu_peak_or_traffic_or_a_short_record_passes_idle() {
        let c = check("ec2.instance_idle");
        assert_eq!(run(c, &instance("m6i.large", 40.0, 0.0), &[]), None);
        assert_eq!(run(c, &instance("m6i.large", 1.0, 14.0 * 50e6), &[]), None);
        let mut young = instance("m6i.large", 1.0, 0.0);
        young.properties["utilization"]["observed_days"] = json!(3);
        assert_eq!(run(c, &young, &[]), None, "3 days prove nothing");
        let mut unread = instance("m6i.large", 1.0, 0.0);
        unread
            .properties
            .as_object_mut()
            .unwrap()
            .remove("utilization");
        assert_eq!(run(c, &unread, &[]), None, "metrics not read: undecided");
        let mut stopped = instance("m6i.large", 1.0, 0.0);
        stopped.state = Some("stopped".into());
        assert_eq!(run(c, &stopped, &[]), None);
    }

    #[test]
    fn an_instance_peaking_at_30_percent_fails_with_the_price_of_one_size_down() {
        let r = instance("m6i.2xlarge", 30.0, 14.0 * 1e9);
        let failure = run(check("ec2.instance_overprovisioned"), &r, &[]).expect("oversized");
        let p = prices();
        let expected = p.instance("eu-west-1", "m6i.2xlarge", true).unwrap()
            - p.instance("eu-west-1", "m6i.xlarge", true).unwrap();
        assert!((failure.monthly_savings_usd - expected).abs() < 1e-9);
        assert!(failure.detail.contains("m6i.xlarge"), "{}", failure.detail);
        assert!(failure.detail.contains("60 %"), "{}", failure.detail);
    }

    #[test]
    fn a_busy_smallest_burstable_memory_or_idle_instance_passes_overprovisioned() {
        let c = check("ec2.instance_overprovisioned");
        assert_eq!(
            run(c, &instance("m6i.2xlarge", 45.0, 1e9), &[]),
            None,
            "90 % after"
        );
        assert_eq!(
            run(c, &instance("m6i.large", 10.0, 1e9), &[]),
            None,
            "no smaller size"
        );
        assert_eq!(
            run(c, &instance("t3.large", 10.0, 1e9), &[]),
            None,
            "burstable"
        );
        assert_eq!(
            run(c, &instance("r6i.2xlarge", 10.0, 1e9), &[]),
            None,
            "memory"
        );
        assert_eq!(
            run(c, &instance("m6i.2xlarge", 1.0, 0.0), &[]),
            None,
            "idle: stop it"
        );
    }

    fn database(connections_max: f64) -> Resource {
        observed_with(
            "rds:db-instance",
            "available",
            json!({"class": "db.t3.micro", "storage_type": "gp2", "allocated_storage_gib": 20.0, "multi_az": false}),
            json!({"connections_max": connections_max, "cpu_avg": 2.0, "cpu_max": 4.0}),
        )
    }

    #[test]
    fn a_database_without_a_connection_in_14_days_fails_with_its_compute_cost() {
        let failure = run(check("rds.instance_idle"), &database(0.0), &[]).expect("idle");
        // db.t3.micro in eu-west-1: 0.018 × 730 of compute; storage stays billed.
        assert!((failure.monthly_savings_usd - 0.018 * 730.0).abs() < 1e-9);
    }

    #[test]
    fn a_database_with_a_connection_or_stopped_passes_idle() {
        let c = check("rds.instance_idle");
        assert_eq!(run(c, &database(1.0), &[]), None);
        let mut stopped = database(0.0);
        stopped.state = Some("stopped".into());
        assert_eq!(run(c, &stopped, &[]), None);
    }

    fn nat(bytes: f64) -> Resource {
        let mut r = observed_with(
            "ec2:nat-gateway",
            "available",
            json!({}),
            json!({"bytes": bytes}),
        );
        r.monthly_cost_usd = 38.69;
        r
    }

    #[test]
    fn a_nat_gateway_without_a_byte_in_14_days_fails_with_its_cost() {
        let failure = run(check("ec2.nat_gateway_idle"), &nat(0.0), &[]).expect("idle");
        assert_eq!(failure.monthly_savings_usd, 38.69);
    }

    #[test]
    fn a_nat_gateway_with_any_traffic_passes_idle() {
        assert_eq!(run(check("ec2.nat_gateway_idle"), &nat(1_500.0), &[]), None);
        let mut unread = nat(0.0);
        unread.properties = json!({});
        assert_eq!(run(check("ec2.nat_gateway_idle"), &unread, &[]), None);
    }

    #[test]
    fn an_idle_previous_generation_instance_counts_its_dollars_once_under_idle() {
        // Priced as the table would have priced an m4 (it does not).
        let mut old = observed_with(
            "ec2:instance",
            "running",
            json!({"instance_type": "m4.large", "price_known": true}),
            json!({"cpu_avg": 0.5, "cpu_max": 1.0, "network_bytes": 1_000.0}),
        );
        old.monthly_cost_usd = 73.0;
        let idle = run(check("ec2.instance_idle"), &old, &[]).expect("idle");
        assert_eq!(idle.monthly_savings_usd, 73.0);
        let generation = super::super::check("ec2.instance_previous_generation").expect("check");
        let failure = run(generation, &old, &[]).expect("still previous generation");
        assert_eq!(failure.monthly_savings_usd, 0.0, "{failure:?}");
    }

    #[test]
    fn an_idle_nat_gateway_no_route_uses_is_left_to_the_unrouted_check() {
        let mut unrouted = nat(0.0);
        unrouted.properties["vpc_id"] = json!("vpc-1");
        let table = resource(
            "ec2:route-table",
            "rtb-1",
            json!({"vpc_id": "vpc-1", "nat_gateway_ids": []}),
        );
        let estate = [table];
        let unrouted_check = super::super::check("ec2.nat_gateway_unrouted").expect("check");
        assert!(run(unrouted_check, &unrouted, &estate).is_some());
        assert_eq!(run(check("ec2.nat_gateway_idle"), &unrouted, &estate), None);
    }

    #[test]
    fn an_idle_load_balancer_without_listeners_is_left_to_the_unused_check() {
        let mut bare = load_balancer("application", json!({"requests": 0.0}));
        bare.properties["listeners"] = json!([]);
        bare.properties["target_groups"] = json!([]);
        assert_eq!(run(check("elbv2.load_balancer_idle"), &bare, &[]), None);
    }

    fn load_balancer(kind: &str, utilization: Value) -> Resource {
        let mut r = observed_with(
            "elbv2:load-balancer",
            "active",
            json!({"type": kind}),
            utilization,
        );
        r.monthly_cost_usd = 16.43;
        r
    }

    #[test]
    fn a_load_balancer_without_a_request_or_new_flow_in_14_days_fails_with_its_cost() {
        let c = check("elbv2.load_balancer_idle");
        let alb = run(
            c,
            &load_balancer("application", json!({"requests": 0.0})),
            &[],
        )
        .expect("idle");
        assert_eq!(alb.monthly_savings_usd, 16.43);
        assert!(run(c, &load_balancer("network", json!({"new_flows": 0.0})), &[]).is_some());
    }

    #[test]
    fn a_load_balancer_with_traffic_or_of_a_type_we_do_not_measure_passes_idle() {
        let c = check("elbv2.load_balancer_idle");
        assert_eq!(
            run(
                c,
                &load_balancer("application", json!({"requests": 3.0})),
                &[]
            ),
            None
        );
        assert_eq!(
            run(c, &load_balancer("network", json!({"new_flows": 1.0})), &[]),
            None
        );
        assert_eq!(
            run(c, &load_balancer("gateway", json!({"requests": 0.0})), &[]),
            None
        );
    }

    fn function(invocations: f64) -> Resource {
        observed_with(
            "lambda:function",
            "Active",
            json!({}),
            json!({"invocations": invocations}),
        )
    }

    #[test]
    fn a_function_not_invoked_in_14_days_fails_saving_nothing() {
        let failure = run(check("lambda.function_unused"), &function(0.0), &[]).expect("unused");
        assert_eq!(failure.monthly_savings_usd, 0.0);
    }

    #[test]
    fn a_function_invoked_once_or_observed_briefly_passes_unused() {
        let c = check("lambda.function_unused");
        assert_eq!(run(c, &function(1.0), &[]), None);
        let mut new = function(0.0);
        new.properties["utilization"]["observed_days"] = json!(5);
        assert_eq!(run(c, &new, &[]), None);
    }

    #[test]
    fn every_utilization_check_needs_metrics() {
        assert!(CHECKS.iter().all(|c| c.needs_metrics));
    }
}
