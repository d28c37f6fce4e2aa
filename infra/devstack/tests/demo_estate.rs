//! `make dev`'s demo estate, seeded into an account of its own and scanned
//! in full: the first scan a newcomer sees raises the priced findings a
//! person would act on, utilization ones included.

mod support;

use support::advisor::{has, raised, resources, scan_in};
use support::{account_id, in_account};

#[tokio::test]
async fn the_demo_estates_first_scan_raises_priced_findings_a_person_would_act_on() {
    let (aws, state) = support::advisor::scanner_stack("demo").await;
    let account = account_id();
    let seeded = devstack::seed::seed(&in_account(&aws, &account, "us-east-1").await)
        .await
        .expect("seeded");
    assert!(seeded.created && seeded.instances == 4, "{seeded:?}");

    scan_in(&state, &[&account], &["us-east-1", "eu-west-1"], None).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    for (check, name) in [
        ("ec2.instance_idle", "demo-web-eu-1"),
        ("ec2.instance_overprovisioned", "demo-analytics-1"),
        ("ec2.instance_stopped_with_volumes", "demo-batch-1"),
        ("ec2.volume_unattached", "demo-orphaned-volume"),
        ("ec2.elastic_ip_unassociated", "demo-idle-eip"),
        ("ec2.nat_gateway_idle", "demo-nat"),
        ("ec2.security_group_ssh_open_to_world", "demo-bastion-ssh"),
        ("rds.instance_idle", "demo-postgres"),
        ("iam.console_user_without_mfa", "demo-console-user"),
    ] {
        assert!(has(&now, check, name), "{check} {name}: {now:?}");
    }
    assert!(
        !has(&now, "ec2.instance_idle", "demo-web-1"),
        "busy: {now:?}"
    );

    // Each of the estate's waste is priced in dollars a month (a cost check
    // whose saving the inventory cannot know, such as a missing lifecycle
    // rule, says so rather than guess).
    let priced: Vec<_> = shared::advisor::evaluate(&found)
        .into_iter()
        .filter(|r| r.check.category == shared::advisor::Category::Cost)
        .filter(|r| r.failure.monthly_savings_usd > 0.0)
        .map(|r| r.check.id)
        .collect();
    for check in [
        "ec2.instance_idle",
        "ec2.instance_overprovisioned",
        "ec2.instance_stopped_with_volumes",
        "ec2.volume_unattached",
        "ec2.elastic_ip_unassociated",
        "ec2.nat_gateway_idle",
        "rds.instance_idle",
    ] {
        assert!(priced.contains(&check), "{check} is priced: {priced:?}");
    }
}
