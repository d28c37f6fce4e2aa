//! Elastic Load Balancing v2: application, network and gateway load balancers.

use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, tag_map};
use crate::costs::prices;

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
];

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(cx.config);
    let region = cx.region().to_owned();
    let mut out = Vec::new();
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page?;
        let arns: Vec<String> = page
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
            .collect();
        // DescribeTags takes at most 20 ARNs.
        let mut tags = std::collections::HashMap::new();
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
            let (Some(arn), Some(name)) = (lb.load_balancer_arn(), lb.load_balancer_name()) else {
                continue;
            };
            let mut r = cx.resource(Service::Elbv2, "load-balancer", arn.to_owned(), name);
            r.name = Some(name.to_owned());
            r.tags = tags.remove(arn).unwrap_or_default();
            r.state = lb
                .state()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_owned());
            r.created_at = lb.created_time().map(|t| t.to_string());
            r.monthly_cost_usd = prices().load_balancer(&region);
            r.properties = json!({
                "type": lb.r#type().map(|t| t.as_str()),
                "scheme": lb.scheme().map(|s| s.as_str()),
                "vpc_id": lb.vpc_id(),
                "dns_name": lb.dns_name(),
            });
            out.push(r);
        }
    }
    Ok(out)
}
