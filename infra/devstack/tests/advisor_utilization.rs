//! The utilization checks against a real scan: 14 days of CloudWatch
//! metrics seeded with `PutMetricData` (one datapoint a day), read by the
//! scanner with `GetMetricData` in calls of up to 500 queries, attached to the
//! inventory as `properties.utilization`, and judged by the advisor.
//!
//! What the emulator cannot show: a load balancer or function it made has
//! existed for minutes, not 14 days, and their metrics are published only on
//! use, so a real scan never judges them (unobserved is not idle). Their
//! failing side is shown by measuring the scanned resource again with its
//! creation time 30 days back, through the same `GetMetricData` path.

mod support;

use aws_config::SdkConfig;
use shared::inventory::Service;
use shared::resources::Resource;

use support::advisor::{function_code, function_role, has, raised, resources, scan};
use support::{account_id, in_account};

const DAY: i64 = 86_400;

/// One datapoint a day of `metric` over the scanner's window, in us-east-1.
async fn seed(
    config: &SdkConfig,
    namespace: &str,
    dimension: (&str, &str),
    metric: &str,
    daily: f64,
) {
    devstack::seed::daily_metric(config, "us-east-1", namespace, dimension, metric, daily)
        .await
        .expect("metrics");
}

async fn instance(ec2: &aws_sdk_ec2::Client, instance_type: &str) -> String {
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::from(instance_type))
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("instance");
    run.instances()[0].instance_id().expect("id").to_owned()
}

/// An instance's CPU and network in and out, every day, in us-east-1.
async fn seed_instance(config: &SdkConfig, id: &str, cpu: f64, network: f64) {
    devstack::seed::instance_load(config, "us-east-1", id, cpu, network)
        .await
        .expect("metrics");
}

async fn nat_gateway(ec2: &aws_sdk_ec2::Client, subnet: &str) -> String {
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("eip");
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(subnet)
        .allocation_id(eip.allocation_id().expect("allocation"))
        .send()
        .await
        .expect("nat gateway");
    nat.nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .expect("id")
        .to_owned()
}

fn utilization(found: &[Resource], id: &str) -> serde_json::Value {
    found
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} was scanned"))
        .properties["utilization"]
        .clone()
}

#[tokio::test]
async fn idle_and_oversized_instances_and_an_idle_nat_gateway_are_found_from_their_metrics() {
    let (aws, state) = support::advisor::scanner_stack("adv-util").await;
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    let (ec2, cw) = (aws_sdk_ec2::Client::new(&config), &config);
    let idle = instance(&ec2, "m6i.2xlarge").await;
    let busy = instance(&ec2, "m6i.2xlarge").await;
    let oversized = instance(&ec2, "m6i.2xlarge").await;
    let unmonitored = instance(&ec2, "m6i.2xlarge").await;
    seed_instance(&cw, &idle, 1.0, 100_000.0).await;
    seed_instance(&cw, &busy, 70.0, 50_000_000.0).await;
    // Peaks at 20 %: one size down (m6i.xlarge) it would peak near 40 %.
    seed_instance(&cw, &oversized, 20.0, 50_000_000.0).await;

    let subnets = ec2.describe_subnets().send().await.expect("subnets");
    let subnet = subnets.subnets()[0].subnet_id().expect("subnet").to_owned();
    let quiet = nat_gateway(&ec2, &subnet).await;
    let used = nat_gateway(&ec2, &subnet).await;
    // Both routed: an unrouted one is `ec2.nat_gateway_unrouted`'s finding.
    for (nat, cidr) in [(&quiet, "10.64.0.0/16"), (&used, "10.65.0.0/16")] {
        devstack::seed::route_through_nat(&ec2, &subnet, nat, cidr)
            .await
            .expect("route");
    }
    for metric in ["BytesOutToDestination", "BytesInFromDestination"] {
        seed(cw, "AWS/NATGateway", ("NatGatewayId", &quiet), metric, 0.0).await;
        seed(cw, "AWS/NATGateway", ("NatGatewayId", &used), metric, 2e9).await;
    }

    scan(&state, &[&account], &[Service::Ec2]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);

    assert_eq!(utilization(&found, &idle)["observed_days"], 14);
    assert_eq!(utilization(&found, &idle)["cpu_max"], 1.0);
    assert!(has(&now, "ec2.instance_idle", &idle), "{now:?}");
    for other in [&busy, &oversized, &unmonitored] {
        assert!(!has(&now, "ec2.instance_idle", other), "{other}: {now:?}");
    }
    assert!(
        has(&now, "ec2.instance_overprovisioned", &oversized),
        "{now:?}"
    );
    for other in [&idle, &busy, &unmonitored] {
        assert!(
            !has(&now, "ec2.instance_overprovisioned", other),
            "{other}: {now:?}"
        );
    }
    assert_eq!(
        utilization(&found, &unmonitored)["observed_days"],
        0,
        "no datapoints is not a quiet instance"
    );
    assert!(has(&now, "ec2.nat_gateway_idle", &quiet), "{now:?}");
    assert!(!has(&now, "ec2.nat_gateway_idle", &used), "{now:?}");

    let saving = |check: &str, id: &str| {
        shared::advisor::evaluate(&found)
            .into_iter()
            .find(|r| r.check.id == check && r.resource.id == id)
            .map(|r| (r.failure.monthly_savings_usd, r.resource.monthly_cost_usd))
            .expect("raised")
    };
    let (stop, cost) = saving("ec2.instance_idle", &idle);
    assert!(
        stop > 0.0 && (stop - cost).abs() < 1e-9,
        "stopping saves its compute: {stop} of {cost}"
    );
    let (resize, cost) = saving("ec2.instance_overprovisioned", &oversized);
    assert!(
        resize > 0.0 && resize < cost,
        "one size down saves part: {resize} of {cost}"
    );
}

async fn database(rds: &aws_sdk_rds::Client, id: &str) {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("admin_user")
        .master_user_password("not-a-real-password-1")
        .send()
        .await
        .expect("database");
}

#[tokio::test]
async fn a_database_without_connections_is_idle_and_one_with_them_is_not() {
    let (aws, state) = support::advisor::scanner_stack("adv-util-rds").await;
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    let (rds, cw) = (aws_sdk_rds::Client::new(&config), &config);
    database(&rds, "forgotten").await;
    database(&rds, "serving").await;
    for (db, connections) in [("forgotten", 0.0), ("serving", 12.0)] {
        let dimension = ("DBInstanceIdentifier", db);
        seed(
            &cw,
            "AWS/RDS",
            dimension,
            "DatabaseConnections",
            connections,
        )
        .await;
        seed(cw, "AWS/RDS", dimension, "CPUUtilization", 3.0).await;
    }
    scan(&state, &[&account], &[Service::Rds]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    assert!(has(&now, "rds.instance_idle", "forgotten"), "{now:?}");
    assert!(!has(&now, "rds.instance_idle", "serving"), "{now:?}");
    assert_eq!(utilization(&found, "serving")["connections_max"], 12.0);
}

/// Measures `resources` again as if each had been created 30 days ago.
async fn measured_as_if_old(
    config: &SdkConfig,
    found: &[Resource],
    ids: &[&str],
) -> (Vec<Resource>, scanner::metrics::Measured) {
    let mut old: Vec<Resource> = found
        .iter()
        .filter(|r| ids.contains(&r.id.as_str()))
        .cloned()
        .collect();
    for r in &mut old {
        r.created_at = Some(shared::dynamo::rfc3339(shared::dynamo::now() - 30 * DAY));
        r.properties["utilization"] = serde_json::Value::Null;
    }
    let client = aws_sdk_cloudwatch::Client::new(config);
    let mut refs: Vec<&mut Resource> = old.iter_mut().collect();
    let (measured, failed) =
        scanner::metrics::attach(&client, &mut refs, shared::dynamo::now()).await;
    assert!(failed.is_none(), "{failed:?}");
    (old, measured)
}

#[tokio::test]
async fn load_balancers_and_functions_without_traffic_for_their_whole_window_are_idle() {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum, RedirectActionConfig,
        RedirectActionStatusCodeEnum,
    };
    let (aws, state) = support::advisor::scanner_stack("adv-util-lb").await;
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    let cw = &config;
    let subnets = aws_sdk_ec2::Client::new(&config)
        .describe_subnets()
        .send()
        .await
        .expect("subnets");
    let subnets: Vec<String> = subnets
        .subnets()
        .iter()
        .take(2)
        .filter_map(|s| s.subnet_id().map(str::to_owned))
        .collect();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let mut arns = Vec::new();
    for name in ["quiet-alb", "busy-alb"] {
        let created = elb
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .set_subnets(Some(subnets.clone()))
            .send()
            .await
            .expect("load balancer");
        let arn = created.load_balancers()[0]
            .load_balancer_arn()
            .expect("arn")
            .to_owned();
        // A listener that redirects to HTTPS: in use as far as its
        // configuration goes (one without is `elbv2.load_balancer_unused`'s).
        elb.create_listener()
            .load_balancer_arn(&arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Redirect)
                    .redirect_config(
                        RedirectActionConfig::builder()
                            .protocol("HTTPS")
                            .port("443")
                            .status_code(RedirectActionStatusCodeEnum::Http301)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("listener");
        arns.push(arn);
    }
    let busy_dimension = arns[1]
        .split_once(":loadbalancer/")
        .expect("arn")
        .1
        .to_owned();
    let busy_lb = ("LoadBalancer", busy_dimension.as_str());
    seed(cw, "AWS/ApplicationELB", busy_lb, "RequestCount", 5_000.0).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let role = function_role(&config).await;
    for name in ["quiet-fn", "busy-fn"] {
        lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Python313)
            .role(&role)
            .handler("index.handler")
            .code(function_code())
            .send()
            .await
            .expect("function");
    }
    seed(
        cw,
        "AWS/Lambda",
        ("FunctionName", "busy-fn"),
        "Invocations",
        40.0,
    )
    .await;

    scan(&state, &[&account], &[Service::Elbv2, Service::Lambda]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    // Created minutes ago: not yet observed for a window, so judged by no one.
    for quiet in ["quiet-alb", "quiet-fn"] {
        assert_eq!(utilization(&found, quiet)["observed_days"], 0, "{quiet}");
    }
    for check in ["elbv2.load_balancer_idle", "lambda.function_unused"] {
        assert!(!now.iter().any(|(c, _)| *c == check), "{check}: {now:?}");
    }

    let ids = ["quiet-alb", "busy-alb", "quiet-fn", "busy-fn"];
    let (old, measured) = measured_as_if_old(&config, &found, &ids).await;
    assert_eq!((measured.queries, measured.calls), (4, 1));
    let later = raised(&old);
    for (check, quiet, busy) in [
        ("elbv2.load_balancer_idle", "quiet-alb", "busy-alb"),
        ("lambda.function_unused", "quiet-fn", "busy-fn"),
    ] {
        assert!(has(&later, check, quiet), "{check} {quiet}: {later:?}");
        assert!(!has(&later, check, busy), "{check} {busy}: {later:?}");
    }
}

#[tokio::test]
async fn metrics_of_hundreds_of_resources_take_one_call_per_500_queries() {
    let (aws, state) = support::advisor::scanner_stack("adv-util-batch").await;
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    let run = aws_sdk_ec2::Client::new(&config)
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::M6iLarge)
        .min_count(130)
        .max_count(130)
        .send()
        .await
        .expect("instances");
    assert_eq!(run.instances().len(), 130);
    scan(&state, &[&account], &[Service::Ec2]).await;
    let found = resources(&state, &account).await;
    let ids: Vec<&str> = found
        .iter()
        .filter(|r| r.resource_type == "ec2:instance")
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids.len(), 130);
    // 130 instances × 4 series = 520 queries: two calls, not 130 or 520.
    let (_, measured) = measured_as_if_old(&config, &found, &ids).await;
    assert_eq!(
        (measured.resources, measured.queries, measured.calls),
        (130, 520, 2)
    );
}
