//! Utilization: the last 14 days of CloudWatch metrics of the resources
//! whose checks judge use (`shared::advisor::utilization`), attached to each
//! as `properties.utilization`, e.g. `{"days": 14, "observed_days": 14,
//! "datapoints": 56, "cpu_max": 3.0, "cpu_avg": 1.2, "network_bytes": 1.2e6}`.
//!
//! One `GetMetricData` call carries up to 500 queries, so a region's
//! instances, databases, NAT gateways, load balancers and functions cost one
//! call per 500 queries (and one per page of answers), never one per
//! resource. Days are whole UTC days, one datapoint a day per query.

use futures::StreamExt;
use serde_json::{Map, Value, json};
use shared::inventory::Service;
use shared::resources::Resource;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};

use crate::collect::CollectError;

/// What reading the metrics calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &["cloudwatch:GetMetricData"];

/// The window the utilization checks judge (their `MIN_WINDOW_DAYS`).
pub const WINDOW_DAYS: i64 = 14;
const DAY: i64 = 86_400;
/// GetMetricData's limit of queries in one call.
pub const QUERIES_PER_CALL: usize = 500;
/// Calls in flight at once for one job.
const CONCURRENT_CALLS: usize = 4;

/// The services some of whose resources are measured.
pub const MEASURED: &[Service] = &[Service::Ec2, Service::Rds, Service::Elbv2, Service::Lambda];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Maximum,
    Average,
    Sum,
}

impl Stat {
    fn as_str(self) -> &'static str {
        match self {
            Stat::Maximum => "Maximum",
            Stat::Average => "Average",
            Stat::Sum => "Sum",
        }
    }

    /// The window's figure from its daily ones.
    fn over_days(self, daily: &[f64]) -> Option<f64> {
        if daily.is_empty() {
            return None;
        }
        Some(match self {
            Stat::Maximum => daily.iter().copied().fold(f64::MIN, f64::max),
            Stat::Average => daily.iter().sum::<f64>() / daily.len() as f64,
            Stat::Sum => daily.iter().sum(),
        })
    }
}

/// How a resource's observed days are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// Its first metric is published every period the resource runs (CPU,
    /// connections, NAT bytes): the days with a datapoint. A day without one
    /// is a day it did not run, not a quiet day.
    Datapoints,
    /// Its metric is published only when something happens (requests,
    /// invocations): the whole days it has existed in the window, and a day
    /// without a datapoint is a zero.
    Age,
}

/// One figure of `utilization`: `key` is `stat` of `metric`, summed over
/// the series that share the key (network in + out).
type Series = (&'static str, &'static str, Stat);

/// What to read for one resource.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    namespace: &'static str,
    dimension: (&'static str, String),
    series: &'static [Series],
    coverage: Coverage,
}

const INSTANCE: &[Series] = &[
    ("cpu_max", "CPUUtilization", Stat::Maximum),
    ("cpu_avg", "CPUUtilization", Stat::Average),
    ("network_bytes", "NetworkIn", Stat::Sum),
    ("network_bytes", "NetworkOut", Stat::Sum),
];
const DATABASE: &[Series] = &[
    ("connections_max", "DatabaseConnections", Stat::Maximum),
    ("cpu_max", "CPUUtilization", Stat::Maximum),
];
const NAT_GATEWAY: &[Series] = &[
    ("bytes", "BytesOutToDestination", Stat::Sum),
    ("bytes", "BytesInFromDestination", Stat::Sum),
];
const APPLICATION_LB: &[Series] = &[("requests", "RequestCount", Stat::Sum)];
const NETWORK_LB: &[Series] = &[("new_flows", "NewFlowCount", Stat::Sum)];
const FUNCTION: &[Series] = &[("invocations", "Invocations", Stat::Sum)];

/// What to read for `r`, if a utilization check judges it in its state.
fn plan(r: &Resource) -> Option<Plan> {
    let state = r.state.as_deref();
    let datapoints = |namespace, name, series| {
        Some(Plan {
            namespace,
            dimension: (name, r.id.clone()),
            series,
            coverage: Coverage::Datapoints,
        })
    };
    match r.resource_type.as_str() {
        "ec2:instance" if state == Some("running") => datapoints("AWS/EC2", "InstanceId", INSTANCE),
        "rds:db-instance" if state == Some("available") => {
            datapoints("AWS/RDS", "DBInstanceIdentifier", DATABASE)
        }
        "ec2:nat-gateway" if state == Some("available") => {
            datapoints("AWS/NATGateway", "NatGatewayId", NAT_GATEWAY)
        }
        "elbv2:load-balancer" if matches!(state, Some("active" | "active_impaired")) => {
            // The dimension is the ARN's tail: `app/<name>/<id>` or `net/<name>/<id>`.
            let (_, tail) = r.arn.split_once(":loadbalancer/")?;
            let (namespace, series) = match r.properties.get("type")?.as_str()? {
                "application" => ("AWS/ApplicationELB", APPLICATION_LB),
                "network" => ("AWS/NetworkELB", NETWORK_LB),
                _ => return None,
            };
            Some(Plan {
                namespace,
                dimension: ("LoadBalancer", tail.to_owned()),
                series,
                coverage: Coverage::Age,
            })
        }
        "lambda:function" => Some(Plan {
            namespace: "AWS/Lambda",
            dimension: (
                "FunctionName",
                r.name.clone().unwrap_or_else(|| r.id.clone()),
            ),
            series: FUNCTION,
            coverage: Coverage::Age,
        }),
        _ => None,
    }
}

/// The window: the last [`WINDOW_DAYS`] whole UTC days before `now`.
pub fn window(now: i64) -> (i64, i64) {
    let end = now.div_euclid(DAY) * DAY;
    (end - WINDOW_DAYS * DAY, end)
}

/// Whole days of the window `r` has existed in (by its creation time).
fn days_existed(r: &Resource, (start, end): (i64, i64)) -> i64 {
    let Some(created) = r.created_at.as_deref().and_then(parse_time) else {
        return 0;
    };
    ((end - created.max(start)) / DAY).clamp(0, WINDOW_DAYS)
}

/// RFC 3339, or Lambda's `2026-11-30T10:00:00.000+0000`.
fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.timestamp())
}

/// `utilization` from each series' daily values, in the plan's order.
fn summarise(plan: &Plan, daily: &[Vec<f64>], existed_days: i64) -> Value {
    let datapoints: usize = daily.iter().map(Vec::len).sum();
    let observed_days = match plan.coverage {
        Coverage::Datapoints => daily.first().map_or(0, Vec::len) as i64,
        Coverage::Age => existed_days,
    };
    let mut u = Map::new();
    u.insert("days".into(), json!(WINDOW_DAYS));
    u.insert(
        "observed_days".into(),
        json!(observed_days.min(WINDOW_DAYS)),
    );
    u.insert("datapoints".into(), json!(datapoints));
    for (i, (key, _, stat)) in plan.series.iter().enumerate() {
        let figure = match (stat.over_days(&daily[i]), plan.coverage) {
            (Some(v), _) => v,
            (None, Coverage::Age) => 0.0,
            (None, Coverage::Datapoints) => continue,
        };
        let total = u.get(*key).and_then(Value::as_f64).unwrap_or(0.0) + figure;
        u.insert((*key).into(), json!(total));
    }
    Value::Object(u)
}

/// One query: which resource and series it reads.
struct Query {
    resource: usize,
    series: usize,
    query: MetricDataQuery,
}

fn query(id: usize, plan: &Plan, (_, metric, stat): &Series) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(plan.namespace)
        .metric_name(*metric)
        .dimensions(
            Dimension::builder()
                .name(plan.dimension.0)
                .value(&plan.dimension.1)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        .id(format!("m{id}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(DAY as i32)
                .stat(stat.as_str())
                .build(),
        )
        .return_data(true)
        .build()
}

/// How many queries and calls a measuring took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub resources: usize,
    pub queries: usize,
    pub calls: usize,
}

/// Reads the window's metrics of every resource a utilization check judges
/// and attaches them. On a failed call, the resources that call was for stay
/// without `utilization` (unmeasured is never idle) and its error is returned
/// beside what was measured.
pub async fn attach(
    client: &Client,
    resources: &mut [&mut Resource],
    now: i64,
) -> (Measured, Option<CollectError>) {
    let window = window(now);
    let plans: Vec<(usize, Plan)> = resources
        .iter()
        .enumerate()
        .filter_map(|(i, r)| plan(r).map(|p| (i, p)))
        .collect();
    let mut queries = Vec::new();
    for (p, (_, plan)) in plans.iter().enumerate() {
        for (s, series) in plan.series.iter().enumerate() {
            queries.push(Query {
                resource: p,
                series: s,
                // Ids need be unique within a call only: the place in its batch.
                query: query(queries.len() % QUERIES_PER_CALL, plan, series),
            });
        }
    }
    let mut measured = Measured {
        resources: plans.len(),
        queries: queries.len(),
        calls: 0,
    };
    let reads: Vec<_> = queries
        .chunks(QUERIES_PER_CALL)
        .map(|batch| read(client, batch, window))
        .collect();
    let answers = futures::stream::iter(reads)
        .buffered(CONCURRENT_CALLS)
        .collect::<Vec<_>>()
        .await;
    let mut daily: Vec<Vec<Vec<f64>>> = plans
        .iter()
        .map(|(_, plan)| vec![Vec::new(); plan.series.len()])
        .collect();
    let mut unmeasured = vec![false; plans.len()];
    let mut failed = None;
    for (batch, answer) in queries.chunks(QUERIES_PER_CALL).zip(answers) {
        match answer {
            Ok((calls, values)) => {
                measured.calls += calls;
                for (q, values) in batch.iter().zip(values) {
                    daily[q.resource][q.series] = values;
                }
            }
            Err((calls, e)) => {
                measured.calls += calls;
                // A resource whose queries straddle a failed batch is not measured.
                for q in batch {
                    unmeasured[q.resource] = true;
                }
                failed.get_or_insert(e);
            }
        }
    }
    for (p, (i, plan)) in plans.iter().enumerate() {
        if unmeasured[p] {
            continue;
        }
        let r = &mut *resources[*i];
        let u = summarise(plan, &daily[p], days_existed(r, window));
        if !r.properties.is_object() {
            r.properties = json!({});
        }
        r.properties["utilization"] = u;
    }
    (measured, failed)
}

/// One call's queries (and its further pages): each query's daily values,
/// in the batch's order, and how many calls it took.
async fn read(
    client: &Client,
    batch: &[Query],
    (start, end): (i64, i64),
) -> Result<(usize, Vec<Vec<f64>>), (usize, CollectError)> {
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); batch.len()];
    let mut calls = 0;
    let mut pages = client
        .get_metric_data()
        .set_metric_data_queries(Some(batch.iter().map(|q| q.query.clone()).collect()))
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(end))
        .scan_by(ScanBy::TimestampAscending)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = page.map_err(|e| (calls, CollectError::from(e)))?;
        for result in page.metric_data_results() {
            let slot = result
                .id()
                .and_then(|id| id.strip_prefix('m'))
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(slot) = slot.and_then(|n| values.get_mut(n)) {
                slot.extend_from_slice(result.values());
            }
        }
    }
    Ok((calls, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn resource(resource_type: &str, state: &str, properties: Value) -> Resource {
        Resource {
            arn: "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/50dc6c495c0c9188".into(),
            id: "i-1".into(),
            resource_type: resource_type.into(),
            service: Service::Ec2,
            region: "us-east-1".into(),
            account_id: "111111111111".into(),
            name: Some("web".into()),
            state: Some(state.into()),
            tags: BTreeMap::new(),
            created_at: None,
            monthly_cost_usd: 0.0,
            properties,
            last_seen: "2026-12-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn only_running_resources_that_a_check_judges_are_measured() {
        assert!(plan(&resource("ec2:instance", "running", json!({}))).is_some());
        assert!(plan(&resource("ec2:instance", "stopped", json!({}))).is_none());
        assert!(plan(&resource("ec2:volume", "available", json!({}))).is_none());
        assert!(plan(&resource("rds:db-instance", "available", json!({}))).is_some());
        assert!(plan(&resource("ec2:nat-gateway", "deleted", json!({}))).is_none());
    }

    #[test]
    fn a_load_balancer_is_measured_by_its_arns_tail_in_its_types_namespace() {
        let alb = plan(&resource(
            "elbv2:load-balancer",
            "active",
            json!({"type": "application"}),
        ))
        .expect("measured");
        assert_eq!(alb.namespace, "AWS/ApplicationELB");
        assert_eq!(
            alb.dimension,
            ("LoadBalancer", "app/web/50dc6c495c0c9188".to_owned())
        );
        assert_eq!(alb.coverage, Coverage::Age);
        let gateway = resource("elbv2:load-balancer", "active", json!({"type": "gateway"}));
        assert!(plan(&gateway).is_none());
    }

    #[test]
    fn the_window_is_the_last_fourteen_whole_utc_days() {
        let now = 1_764_633_600 + 3_600 * 15; // 2025-12-02T15:00:00Z
        let (start, end) = window(now);
        assert_eq!(end, 1_764_633_600);
        assert_eq!(end - start, 14 * DAY);
    }

    #[test]
    fn figures_are_the_windows_max_mean_and_sum_and_shared_keys_add_up() {
        let p = plan(&resource("ec2:instance", "running", json!({}))).expect("measured");
        let days = |v: f64| vec![v; 14];
        let u = summarise(&p, &[days(3.0), days(1.5), days(100.0), days(50.0)], 0);
        assert_eq!(u["observed_days"], 14);
        assert_eq!(u["datapoints"], 56);
        assert_eq!(u["cpu_max"], 3.0);
        assert_eq!(u["cpu_avg"], 1.5);
        assert_eq!(u["network_bytes"], 14.0 * 150.0);
    }

    #[test]
    fn a_metric_published_only_on_use_counts_silent_days_as_zero_for_as_long_as_it_existed() {
        let mut r = resource("lambda:function", "Active", json!({}));
        let window = window(1_764_633_600);
        r.created_at = Some("2025-11-01T10:00:00.000+0000".into());
        let p = plan(&r).expect("measured");
        let u = summarise(&p, &[vec![]], days_existed(&r, window));
        assert_eq!(
            (u["observed_days"].clone(), u["invocations"].clone()),
            (json!(14), json!(0.0))
        );
        r.created_at = Some("2025-11-28T00:00:00Z".into());
        assert_eq!(days_existed(&r, window), 4);
        r.created_at = None;
        assert_eq!(days_existed(&r, window), 0, "an unknown age proves nothing");
    }

    #[test]
    fn an_unpublished_dense_metric_is_left_out_not_zero() {
        let p = plan(&resource("rds:db-instance", "available", json!({}))).expect("measured");
        let u = summarise(&p, &[vec![], vec![]], 14);
        assert_eq!(u["observed_days"], 0);
        assert!(u.get("connections_max").is_none(), "{u}");
    }
}
