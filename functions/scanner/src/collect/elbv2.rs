//! Elastic Load Balancing v2: application, network and gateway load
//! balancers, each with its listeners (protocol, port, default actions) and
//! its target groups (how many targets are registered in each).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{Action, Listener, LoadBalancer};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CONCURRENT_DETAILS, CollectError, Context, detailed, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
];

type Tags = BTreeMap<String, String>;

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let elb = &Client::new(cx.config);
    let balancers = load_balancers(elb).await?;
    if balancers.is_empty() {
        return Ok(Vec::new());
    }
    let target_groups = &target_groups(elb).await?;
    detailed(balancers, |(lb, tags)| {
        describe(cx, elb, lb, tags, target_groups)
    })
    .await
}

/// Every load balancer with its tags (DescribeTags takes at most 20 ARNs).
async fn load_balancers(elb: &Client) -> Result<Vec<(LoadBalancer, Tags)>, CollectError> {
    let mut out = Vec::new();
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page?;
        let arns: Vec<String> = page
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
            .collect();
        let mut tags = HashMap::new();
        for batch in arns.chunks(20) {
            let described = elb
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()))
                .send()
                .await?;
            for d in described.tag_descriptions() {
                if let Some(arn) = d.resource_arn() {
                    tags.insert(
                        arn.to_owned(),
                        tag_map(d.tags().iter().map(|t| (t.key(), t.value()))),
                    );
                }
            }
        }
        for lb in page.load_balancers() {
            let lb_tags = lb
                .load_balancer_arn()
                .and_then(|arn| tags.remove(arn))
                .unwrap_or_default();
            out.push((lb.clone(), lb_tags));
        }
    }
    Ok(out)
}

/// A target group as its load balancers see it: which ones use it and how
/// many targets are registered in it.
struct TargetGroup {
    load_balancer_arns: Vec<String>,
    summary: Value,
}

/// The region's target groups, each with its registered targets
/// (DescribeTargetHealth lists every registered target whatever its health),
/// [`CONCURRENT_DETAILS`] at a time.
async fn target_groups(elb: &Client) -> Result<Vec<TargetGroup>, CollectError> {
    let mut groups = Vec::new();
    let mut pages = elb.describe_target_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        groups.extend(page?.target_groups().iter().cloned());
    }
    let groups = groups
        .into_iter()
        .filter_map(|tg| Some((tg.target_group_arn()?.to_owned(), tg)));
    futures::stream::iter(groups)
        .map(|(arn, tg)| async move {
            let health = elb
                .describe_target_health()
                .target_group_arn(&arn)
                .send()
                .await?;
            Ok::<_, CollectError>(TargetGroup {
                load_balancer_arns: tg.load_balancer_arns().to_vec(),
                summary: json!({
                    "arn": arn,
                    "name": tg.target_group_name(),
                    "target_type": tg.target_type().map(|t| t.as_str()),
                    "registered_targets": health.target_health_descriptions().len(),
                }),
            })
        })
        .buffered(CONCURRENT_DETAILS)
        .try_collect()
        .await
}

/// One load balancer: its listeners (one call, paginated) and the target
/// groups that name it.
async fn describe(
    cx: &Context<'_>,
    elb: &Client,
    lb: LoadBalancer,
    tags: Tags,
    target_groups: &[TargetGroup],
) -> Result<Option<Resource>, CollectError> {
    let (Some(arn), Some(name)) = (lb.load_balancer_arn(), lb.load_balancer_name()) else {
        return Ok(None);
    };
    let mut listeners = Vec::new();
    let mut pages = elb
        .describe_listeners()
        .load_balancer_arn(arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        listeners.extend(page?.listeners().iter().map(listener));
    }
    let groups: Vec<&Value> = target_groups
        .iter()
        .filter(|tg| tg.load_balancer_arns.iter().any(|a| a == arn))
        .map(|tg| &tg.summary)
        .collect();
    let mut r = cx.resource(Service::Elbv2, "load-balancer", arn.to_owned(), name);
    r.name = Some(name.to_owned());
    r.tags = tags;
    r.state = lb
        .state()
        .and_then(|s| s.code())
        .map(|c| c.as_str().to_owned());
    r.created_at = lb.created_time().map(|t| t.to_string());
    r.monthly_cost_usd = prices().load_balancer(cx.region());
    r.properties = json!({
        "type": lb.r#type().map(|t| t.as_str()),
        "scheme": lb.scheme().map(|s| s.as_str()),
        "vpc_id": lb.vpc_id(),
        "dns_name": lb.dns_name(),
        "listeners": listeners,
        "target_groups": groups,
    });
    Ok(Some(r))
}

fn listener(l: &Listener) -> Value {
    json!({
        "arn": l.listener_arn(),
        "port": l.port(),
        "protocol": l.protocol().map(|p| p.as_str()),
        "default_actions": l.default_actions().iter().map(action).collect::<Vec<_>>(),
    })
}

fn action(a: &Action) -> Value {
    json!({
        "type": a.r#type().map(|t| t.as_str()),
        "redirect_protocol": a.redirect_config().and_then(|c| c.protocol()),
    })
}
