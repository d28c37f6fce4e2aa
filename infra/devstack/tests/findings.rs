//! The findings lifecycle on the emulator, through the HTTP API and real
//! scans: a finding is raised by a scan, resolved after the fix and a
//! re-scan, kept open after a failed listing, suppressed across scans until
//! its suppression expires; the summary adds up to the inventory; reports
//! download in each format with the same totals (the HTML read back by
//! headless Chromium, the PDF by `pdftotext`, both from `infra/scripts/tools.sh`).

mod support;

use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::{Value, json};
use shared::auth::Role;
use support::Api;

use support::{account_id, in_account, role};

/// An unattached 100 GiB gp3 volume: a cost finding whose fix saves its price.
async fn unattached_volume(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .encrypted(true)
        .send()
        .await
        .expect("volume")
        .volume_id()
        .expect("id")
        .to_owned()
}

struct Estate {
    api: Api,
    admin: String,
    reader: String,
    account: String,
    _relays: Vec<tokio::task::JoinHandle<()>>,
}

impl Estate {
    async fn new(hint: &str) -> (Estate, SdkConfig) {
        let (aws, template, stack) = support::stack(hint).await;
        let api = Api::new(support::serve(&aws, &template, &stack).await);
        let relays = devstack::relay::spawn_all(&stack, &aws).expect("relays");
        let password = support::user(&aws, &stack, "ops1", &[Role::Admin], &[]).await;
        let admin = api.bearer("ops1", &password).await;
        let password = support::user(&aws, &stack, "viewer", &[Role::Reader], &[]).await;
        let reader = api.bearer("viewer", &password).await;
        let account = account_id();
        let body = json!({"name": "prod", "role_arn": role(&account), "external_id": "ext-123", "regions": ["us-east-1"]});
        let (status, registered) = api
            .call("POST", "/v1/accounts", Some(&admin), Some(body))
            .await;
        assert_eq!(status, 201, "{registered}");
        let estate = Estate {
            api,
            admin,
            reader,
            account,
            _relays: relays,
        };
        (estate, aws)
    }

    /// Scans the account's EC2 in us-east-1 and waits for the scan to end.
    async fn scan(&self) -> Value {
        let body =
            json!({"account_ids": [self.account], "services": ["ec2"], "regions": ["us-east-1"]});
        self.api.scan(&self.admin, &self.reader, body).await
    }

    /// Every finding of the account, all statuses, through the pages.
    async fn findings(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/findings?account_id={}&limit=50", self.account);
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = self.api.call("GET", &path, Some(&self.reader), None).await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return all,
            }
        }
    }

    /// The cost finding about one resource.
    async fn cost_finding_of(&self, resource_id: &str) -> Option<Value> {
        self.findings()
            .await
            .into_iter()
            .find(|f| f["resource_id"] == resource_id && f["category"] == "cost")
    }
}

#[tokio::test]
async fn a_finding_is_raised_then_resolved_after_the_fix_and_a_rescan() {
    let (estate, aws) = Estate::new("find-life").await;
    let ec2 = aws_sdk_ec2::Client::new(&in_account(&aws, &estate.account, "us-east-1").await);
    let volume = unattached_volume(&ec2).await;

    assert_eq!(estate.scan().await["status"], "succeeded");
    let raised = estate
        .cost_finding_of(&volume)
        .await
        .expect("the unattached volume's finding");
    assert_eq!(raised["status"], "open", "{raised}");
    assert!(
        raised["monthly_savings_usd"].as_f64().expect("dollars") > 0.0,
        "{raised}"
    );
    assert!(
        raised["recommendation"]
            .as_str()
            .expect("text")
            .contains(&volume),
        "{raised}"
    );
    let id = raised["finding_id"].as_str().expect("id").to_owned();

    // Raised again by the next scan (a second later, as timestamps count
    // seconds): the same finding, first_seen kept, last_seen moved, though
    // nothing about it changed and so it was not written again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    estate.scan().await;
    let again = estate.cost_finding_of(&volume).await.expect("still there");
    assert_eq!(
        (again["finding_id"].as_str(), again["status"].as_str()),
        (Some(id.as_str()), Some("open"))
    );
    assert_eq!(again["first_seen"], raised["first_seen"]);
    assert!(
        again["last_seen"].as_str() > raised["last_seen"].as_str(),
        "{raised} then {again}"
    );

    // Fixed: the volume is deleted; the next successful listing resolves it.
    ec2.delete_volume()
        .volume_id(&volume)
        .send()
        .await
        .expect("delete");
    estate.scan().await;
    let resolved = estate
        .cost_finding_of(&volume)
        .await
        .expect("kept, resolved");
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    let (status, open) = estate
        .api
        .call(
            "GET",
            &format!("/v1/findings?account_id={}&status=open", estate.account),
            Some(&estate.reader),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        !open["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|f| f["finding_id"] == id.as_str()),
        "{open}"
    );
}

#[tokio::test]
async fn nothing_is_resolved_by_a_listing_that_failed() {
    let (aws, _template, stack) = support::stack("find-failed").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let account = account_id();
    // A finding remembered in a region whose listing now fails (no such endpoint).
    let mut volume = shared::resources::Resource {
        arn: format!("arn:aws:ec2:ap-nowhere-9:{account}:volume/vol-remembered"),
        id: "vol-remembered".into(),
        resource_type: "ec2:volume".into(),
        service: shared::inventory::Service::Ec2,
        region: "ap-nowhere-9".into(),
        account_id: account.clone(),
        name: None,
        state: Some("available".into()),
        tags: Default::default(),
        created_at: None,
        monthly_cost_usd: 8.0,
        properties: json!({"volume_type": "gp3", "size_gib": 100.0, "encrypted": true, "attached_to": []}),
        last_seen: "2026-11-01T00:00:00Z".into(),
    };
    let raised = shared::advisor::evaluate(std::slice::from_ref(&volume));
    assert!(!raised.is_empty(), "an unattached volume fails a check");
    use scanner::store::{FindingWrites, Settle};
    state
        .resources
        .settle(&Settle {
            account: &account,
            listing: "ap-nowhere-9",
            scan_id: "an-earlier-scan",
            now: "2026-11-01T00:00:00Z",
            raised: &raised,
            listed: &[shared::inventory::Service::Ec2],
            resolvable: &|_| false,
        })
        .await
        .expect("raised");

    let scan_id = uuid::Uuid::new_v4().to_string();
    let accounts = [shared::inventory::Account {
        account_id: account.clone(),
        name: account.clone(),
        role_arn: Some(role(&account)),
        external_id: None,
        remediation_role_arn: None,
        regions: vec!["ap-nowhere-9".into()],
        created_at: "2026-11-26T00:00:00Z".into(),
    }];
    let jobs = shared::inventory::plan_jobs(
        &scan_id,
        shared::inventory::ScanTrigger::Api,
        &accounts,
        None,
        Some(&[shared::inventory::Service::Ec2]),
    );
    use shared::inventory::QueueScans;
    state
        .inventory
        .create_scan(
            &scan_id,
            shared::inventory::ScanTrigger::Api,
            &jobs,
            shared::dynamo::now(),
        )
        .await
        .expect("scan");
    for job in jobs
        .iter()
        .filter(|j| j.region != shared::inventory::GLOBAL)
    {
        scanner::run_job(&state, job).await.expect("ran");
    }
    let inventory = inventory::State::new(&stack.env("inventory"), &aws).expect("inventory state");
    use inventory::store::FindingQueries;
    volume.state = None;
    let found = inventory
        .resources
        .findings_of(&volume)
        .await
        .expect("findings");
    assert!(!found.is_empty());
    for finding in found {
        assert_eq!(
            finding.status,
            shared::findings::FindingStatus::Open,
            "{finding:?}"
        );
        assert_eq!(finding.first_seen, "2026-11-01T00:00:00Z");
    }
}

/// A volume of `size` GiB in us-east-1 of `account`, unattached: it fails
/// a few checks (unattached, and their savings depend on its size).
fn volume(account: &str, id: &str, size: f64) -> shared::resources::Resource {
    shared::resources::Resource {
        arn: format!("arn:aws:ec2:us-east-1:{account}:volume/{id}"),
        id: id.into(),
        resource_type: "ec2:volume".into(),
        service: shared::inventory::Service::Ec2,
        region: "us-east-1".into(),
        account_id: account.into(),
        name: None,
        state: Some("available".into()),
        tags: Default::default(),
        created_at: None,
        monthly_cost_usd: 0.08 * size,
        properties: json!({"volume_type": "gp3", "size_gib": size, "encrypted": true, "attached_to": []}),
        last_seen: "2026-11-01T00:00:00Z".into(),
    }
}

#[tokio::test]
async fn a_rescan_writes_only_the_findings_that_changed_and_an_undecided_one_keeps_its_last_seen() {
    use scanner::store::{FindingWrites, Settle};
    use shared::inventory::Service;
    let (aws, _template, stack) = support::stack("find-settle").await;
    let state = scanner::State::new(&stack.env("scanner"), &aws).expect("scanner state");
    let inventory = inventory::State::new(&stack.env("inventory"), &aws).expect("inventory state");
    let account = account_id();
    let settle = |now: &'static str,
                  scan: &'static str,
                  resources: Vec<shared::resources::Resource>,
                  undecided: Option<String>| {
        let state = &state;
        let account = account.clone();
        async move {
            let raised = shared::advisor::evaluate(&resources);
            let resolvable =
                move |r: &shared::findings::Record| Some(&r.resource_arn) != undecided.as_ref();
            state
                .resources
                .settle(&Settle {
                    account: &account,
                    listing: "us-east-1",
                    scan_id: scan,
                    now,
                    raised: &raised,
                    listed: &[Service::Ec2],
                    resolvable: &resolvable,
                })
                .await
                .expect("settled")
        }
    };
    let seen = |resource: shared::resources::Resource| {
        let inventory = &inventory;
        async move {
            use inventory::store::FindingQueries;
            let found = inventory
                .resources
                .findings_of(&resource)
                .await
                .expect("findings");
            assert!(!found.is_empty(), "{resource:?} has findings");
            found
                .into_iter()
                .map(|f| (f.last_seen, f.status.as_str()))
                .collect::<std::collections::BTreeSet<_>>()
        }
    };
    let (a, b) = (
        volume(&account, "vol-a", 100.0),
        volume(&account, "vol-b", 100.0),
    );
    let first = settle(
        "2026-11-01T00:00:00Z",
        "scan-1",
        vec![a.clone(), b.clone()],
        None,
    )
    .await;
    assert_eq!(
        first.written,
        first.records.len(),
        "a first scan writes every finding"
    );

    // Nothing changed: nothing is written, and last_seen still moves.
    let second = settle(
        "2026-11-02T00:00:00Z",
        "scan-2",
        vec![a.clone(), b.clone()],
        None,
    )
    .await;
    assert_eq!(
        (second.written, second.records.len()),
        (0, first.records.len())
    );
    assert_eq!(
        seen(a.clone()).await,
        [("2026-11-02T00:00:00Z".to_owned(), "open")].into()
    );

    // `a` grew (its savings changed) and is written again; `b`'s metrics
    // could not be read: it stays open, seen last by the scan before.
    let grown = volume(&account, "vol-a", 400.0);
    let third = settle(
        "2026-11-03T00:00:00Z",
        "scan-3",
        vec![grown.clone()],
        Some(b.arn.clone()),
    )
    .await;
    assert!(
        third.written > 0 && third.written == third.records.len(),
        "{third:?}"
    );
    assert_eq!(third.resolved, 0);
    assert_eq!(
        seen(grown.clone()).await,
        [("2026-11-03T00:00:00Z".to_owned(), "open")].into()
    );
    assert_eq!(
        seen(b.clone()).await,
        [("2026-11-02T00:00:00Z".to_owned(), "open")].into()
    );

    // Decided again: `b` is raised (written, as it was undecided) and seen now.
    let fourth = settle(
        "2026-11-04T00:00:00Z",
        "scan-4",
        vec![grown.clone(), b.clone()],
        None,
    )
    .await;
    let of_b = fourth
        .records
        .iter()
        .filter(|r| r.resource_arn == b.arn)
        .count();
    assert_eq!(
        fourth.written, of_b,
        "only b's findings were written: {fourth:?}"
    );
    assert_eq!(
        seen(b.clone()).await,
        [("2026-11-04T00:00:00Z".to_owned(), "open")].into()
    );

    // Gone: its findings are resolved, and they keep the last time they were seen.
    let fifth = settle("2026-11-05T00:00:00Z", "scan-5", vec![b.clone()], None).await;
    assert!(fifth.resolved > 0 && fifth.written == 0, "{fifth:?}");
    assert_eq!(
        seen(grown).await,
        [("2026-11-04T00:00:00Z".to_owned(), "resolved")].into()
    );
}

#[tokio::test]
async fn a_suppression_survives_a_rescan_expires_by_itself_and_moves_the_summary() {
    let (estate, aws) = Estate::new("find-supp").await;
    let ec2 = aws_sdk_ec2::Client::new(&in_account(&aws, &estate.account, "us-east-1").await);
    let volume = unattached_volume(&ec2).await;
    estate.scan().await;
    let finding = estate.cost_finding_of(&volume).await.expect("finding");
    let id = finding["finding_id"].as_str().expect("id").to_owned();
    let savings = finding["monthly_savings_usd"].as_f64().expect("dollars");
    let (_, before) = estate
        .api
        .call("GET", "/v1/summary", Some(&estate.reader), None)
        .await;

    // Readers may not suppress; bad input is a 422, unknown ids a 404.
    let path = format!("/v1/findings/{id}/suppress");
    let body = json!({"reason": "a spare for the restore drill"});
    let (status, _) = estate
        .api
        .call("POST", &path, Some(&estate.reader), Some(body.clone()))
        .await;
    assert_eq!(status, 403);
    for bad in [
        json!({"reason": ""}),
        json!({"reason": "x", "until": "yesterday"}),
        json!({"reason": "x", "until": "2001-01-01T00:00:00Z"}),
        json!({"reason": "x", "extra": 1}),
    ] {
        let (status, error) = estate
            .api
            .call("POST", &path, Some(&estate.admin), Some(bad.clone()))
            .await;
        assert_eq!(status, 422, "{bad} → {error}");
    }
    let (status, _) = estate
        .api
        .call(
            "POST",
            &format!("/v1/findings/{}/suppress", "0".repeat(32)),
            Some(&estate.admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = estate
        .api
        .call(
            "POST",
            "/v1/findings/..%2Fx/suppress",
            Some(&estate.admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 422);

    let until = shared::dynamo::rfc3339(shared::dynamo::now() + 4);
    let (status, suppressed) = estate
        .api
        .call(
            "POST",
            &path,
            Some(&estate.admin),
            Some(json!({"reason": "a spare for the restore drill", "until": until})),
        )
        .await;
    assert_eq!(
        (status, suppressed["status"].as_str()),
        (200, Some("suppressed")),
        "{suppressed}"
    );
    assert_eq!(suppressed["suppression"]["by"], "ops1");
    let (_, after) = estate
        .api
        .call("GET", "/v1/summary", Some(&estate.reader), None)
        .await;
    let dollars = |v: &Value| v["monthly_savings_usd"].as_f64().expect("dollars");
    assert!(
        (dollars(&before) - dollars(&after) - savings).abs() < 0.005,
        "{before} → {after}"
    );

    // A scan raises it again but does not lift the suppression.
    estate.scan().await;
    assert_eq!(
        estate.cost_finding_of(&volume).await.expect("f")["status"],
        "suppressed"
    );
    let (_, rescanned) = estate
        .api
        .call("GET", "/v1/summary", Some(&estate.reader), None)
        .await;
    assert!(
        (dollars(&rescanned) - dollars(&after)).abs() < 0.005,
        "{after} → {rescanned}"
    );

    // It expires by itself.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let expired = estate.cost_finding_of(&volume).await.expect("f");
    assert_eq!(expired["status"], "open", "{expired}");
    assert!(
        expired.get("suppression").is_none_or(Value::is_null),
        "{expired}"
    );

    // Suppressed for good, then unsuppressed.
    let (status, _) = estate
        .api
        .call("POST", &path, Some(&estate.admin), Some(body))
        .await;
    assert_eq!(status, 200);
    let (status, lifted) = estate
        .api
        .call("DELETE", &path, Some(&estate.admin), None)
        .await;
    assert_eq!(
        (status, lifted["status"].as_str()),
        (200, Some("open")),
        "{lifted}"
    );
}

#[tokio::test]
async fn the_summary_adds_up_to_the_inventory_and_the_open_findings() {
    let (estate, aws) = Estate::new("find-sum").await;
    let ec2 = aws_sdk_ec2::Client::new(&in_account(&aws, &estate.account, "us-east-1").await);
    unattached_volume(&ec2).await;
    unattached_volume(&ec2).await;
    ec2.allocate_address().send().await.expect("eip");
    let scan = estate.scan().await;

    let (status, summary) = estate
        .api
        .call("GET", "/v1/summary", Some(&estate.reader), None)
        .await;
    assert_eq!(status, 200, "{summary}");
    let (_, resources) = estate
        .api
        .call(
            "GET",
            &format!("/v1/resources?account_id={}&limit=200", estate.account),
            Some(&estate.reader),
            None,
        )
        .await;
    let resources = resources["items"].as_array().expect("items").clone();
    let cost: f64 = resources
        .iter()
        .map(|r| r["monthly_cost_usd"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(
        summary["resources"].as_u64(),
        Some(resources.len() as u64),
        "{summary}"
    );
    assert!(
        (summary["monthly_cost_usd"].as_f64().expect("cost") - cost).abs() < 0.01,
        "{summary}"
    );
    let by_service: f64 = summary["by_service"]
        .as_object()
        .expect("map")
        .values()
        .map(|t| t["monthly_cost_usd"].as_f64().unwrap_or(0.0))
        .sum();
    assert!((by_service - cost).abs() < 0.01);
    let by_region: u64 = summary["by_region"]
        .as_object()
        .expect("map")
        .values()
        .map(|t| t["resources"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(by_region, resources.len() as u64);

    let findings = estate.findings().await;
    let open: Vec<&Value> = findings.iter().filter(|f| f["status"] == "open").collect();
    let savings: f64 = open
        .iter()
        .map(|f| f["monthly_savings_usd"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(!open.is_empty());
    assert!(
        (summary["monthly_savings_usd"].as_f64().expect("savings") - savings).abs() < 0.01,
        "{summary}"
    );
    assert_eq!(
        summary["findings"]["open"].as_u64(),
        Some(open.len() as u64)
    );
    let by_severity: u64 = summary["findings"]["by_severity"]
        .as_object()
        .expect("map")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(by_severity, open.len() as u64);
    assert_eq!(summary["last_scan"]["scan_id"], scan["scan_id"]);
    assert_eq!(summary["last_scan"]["status"], "succeeded");

    // The to-do list comes by severity, then by the largest saving.
    let rank = |s: &str| {
        ["critical", "high", "medium", "low"]
            .iter()
            .position(|x| *x == s)
            .unwrap_or(9)
    };
    let order: Vec<(usize, i64)> = findings
        .iter()
        .map(|f| {
            (
                rank(f["severity"].as_str().unwrap_or("")),
                -((f["monthly_savings_usd"].as_f64().unwrap_or(0.0) * 100.0) as i64),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    // Filters are validated.
    for bad in [
        "severity=urgent",
        "status=closed",
        "check_id=nope",
        "service=ec3",
        "account_id=12",
        "region=moon",
    ] {
        let (status, _) = estate
            .api
            .call(
                "GET",
                &format!("/v1/findings?{bad}"),
                Some(&estate.reader),
                None,
            )
            .await;
        assert_eq!(status, 422, "{bad}");
    }
}

/// A volume whose `Name` tag a spreadsheet would run as a formula.
const HOSTILE_NAME: &str = "=HYPERLINK(\"http://evil.example/\",\"open\")";

/// An estate with two unattached volumes (one of them named [`HOSTILE_NAME`]),
/// scanned once.
async fn reported_estate(hint: &str) -> Estate {
    let (estate, aws) = Estate::new(hint).await;
    let ec2 = aws_sdk_ec2::Client::new(&in_account(&aws, &estate.account, "us-east-1").await);
    unattached_volume(&ec2).await;
    let named = unattached_volume(&ec2).await;
    ec2.create_tags()
        .resources(&named)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value(HOSTILE_NAME)
                .build(),
        )
        .send()
        .await
        .expect("tag");
    assert_eq!(estate.scan().await["status"], "succeeded");
    estate
}

/// A downloaded report: its answer, the object's headers and bytes.
struct Downloaded {
    answer: Value,
    content_type: String,
    disposition: String,
    bytes: Vec<u8>,
}

impl Estate {
    /// `POST /v1/reports` as the reader, then the presigned `GET`.
    async fn report(&self, kind: &str, format: &str) -> Downloaded {
        let body = json!({"kind": kind, "format": format, "filters": {"account_id": self.account}});
        let (status, answer) = self
            .api
            .call("POST", "/v1/reports", Some(&self.reader), Some(body))
            .await;
        assert_eq!(status, 201, "{format}: {answer}");
        let url = answer["url"].as_str().expect("url");
        let got = self.api.http.get(url).send().await.expect("download");
        assert_eq!(got.status(), 200, "{format}");
        let header = |name: &str| {
            got.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, disposition) = (header("content-type"), header("content-disposition"));
        let bytes = got.bytes().await.expect("bytes").to_vec();
        Downloaded {
            answer,
            content_type,
            disposition,
            bytes,
        }
    }
}

/// What a system tool prints for a report written to a temporary file.
fn tool_output(program: &str, args: &[&str], bytes: &[u8], extension: &str) -> String {
    let dir = std::env::temp_dir().join(format!("cloudkeep-report-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("report.{extension}"));
    std::fs::write(&file, bytes).expect("written");
    let file = file.to_str().expect("utf-8 path").to_owned();
    let mut command = std::process::Command::new(program);
    command.args(args.iter().map(|a| a.replace("{file}", &file)));
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{program} (infra/scripts/tools.sh installs it): {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The page as headless Chromium renders it (its DOM after load).
fn chromium_dom(html: &[u8]) -> String {
    let profile = std::env::temp_dir().join(format!("cloudkeep-chromium-{}", uuid::Uuid::new_v4()));
    let profile_flag = format!("--user-data-dir={}", profile.display());
    let dom = tool_output(
        "chromium",
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &profile_flag,
            "--dump-dom",
            "file://{file}",
        ],
        html,
        "html",
    );
    let _ = std::fs::remove_dir_all(&profile);
    dom
}

#[tokio::test]
async fn a_findings_report_downloads_in_each_of_the_five_formats_with_the_same_totals() {
    let estate = reported_estate("report-five").await;
    let findings = estate.findings().await;
    let open: Vec<&Value> = findings.iter().filter(|f| f["status"] == "open").collect();
    assert!(open.len() >= 2, "{findings:?}");
    let cents: i64 = findings
        .iter()
        .map(|f| (f["monthly_savings_usd"].as_f64().expect("dollars") * 100.0).round() as i64)
        .sum();
    let savings = format!("Total monthly savings: ${}.{:02}", cents / 100, cents % 100);
    let count = format!("Total findings: {}", findings.len());

    for (format, content_type, extension) in [
        ("csv", "text/csv", "csv"),
        ("json", "application/json", "json"),
        ("html", "text/html", "html"),
        ("pdf", "application/pdf", "pdf"),
        ("ocsf", "application/json", "ocsf.json"),
    ] {
        let report = estate.report("findings", format).await;
        assert_eq!(
            report.answer["rows"],
            findings.len(),
            "{format}: {}",
            report.answer
        );
        assert!(
            report.content_type.starts_with(content_type),
            "{format}: {}",
            report.content_type
        );
        assert!(
            report.disposition.starts_with("attachment")
                && report.disposition.contains(&format!("cloudkeep-findings-"))
                && report.disposition.contains(&format!(".{extension}")),
            "{format}: {}",
            report.disposition
        );
        match format {
            "csv" => {
                let text = String::from_utf8(report.bytes).expect("utf-8");
                let records: Vec<&str> = text.split_terminator("\r\n").collect();
                assert!(records[0].starts_with("finding_id,check_id,"), "{text}");
                assert_eq!(records.len(), findings.len() + 1, "{text}");
            }
            "json" => {
                let rows: Vec<Value> = serde_json::from_slice(&report.bytes).expect("array");
                let mut ids: Vec<&str> = rows
                    .iter()
                    .map(|r| r["finding_id"].as_str().expect("id"))
                    .collect();
                let mut listed: Vec<&str> = findings
                    .iter()
                    .map(|f| f["finding_id"].as_str().expect("id"))
                    .collect();
                ids.sort_unstable();
                listed.sort_unstable();
                assert_eq!(ids, listed);
            }
            "html" => {
                let dom = chromium_dom(&report.bytes);
                assert!(
                    dom.contains(&count) && dom.contains(&savings),
                    "{count} / {savings} in {dom}"
                );
                for external in ["<script", "<link", " src="] {
                    assert!(
                        !dom.contains(external),
                        "an external asset ({external}): {dom}"
                    );
                }
            }
            "pdf" => {
                assert!(report.bytes.starts_with(b"%PDF-"));
                let text = tool_output(
                    "pdftotext",
                    &["-layout", "{file}", "-"],
                    &report.bytes,
                    "pdf",
                );
                assert!(
                    text.contains(&count) && text.contains(&savings),
                    "{count} / {savings} in {text}"
                );
            }
            _ => {
                let rows: Vec<Value> = serde_json::from_slice(&report.bytes).expect("array");
                assert_eq!(rows.len(), findings.len());
                assert!(rows.iter().all(|r| r["class_uid"] == 2004), "{rows:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_resources_report_neutralises_names_a_spreadsheet_would_run() {
    let estate = reported_estate("report-csv").await;
    let report = estate.report("resources", "csv").await;
    let text = String::from_utf8(report.bytes).expect("utf-8");
    let escaped = format!("\"'{}\"", HOSTILE_NAME.replace('"', "\"\""));
    assert!(text.contains(&escaped), "{escaped} in {text}");
    assert!(
        !text.split([',', '\n']).any(|cell| cell.starts_with('=')),
        "a live formula: {text}"
    );
    assert!(
        report.answer["rows"].as_u64().expect("rows") >= 2,
        "{}",
        report.answer
    );
}

#[tokio::test]
async fn a_report_needs_a_caller_and_ocsf_describes_findings_only() {
    let (estate, _aws) = Estate::new("report-refused").await;
    let body = json!({"kind": "findings", "format": "csv"});
    let (status, anonymous) = estate
        .api
        .call("POST", "/v1/reports", None, Some(body))
        .await;
    assert_eq!(status, 401, "{anonymous}");
    // A refusal names the field at fault.
    for (body, field) in [
        (json!({"kind": "resources", "format": "ocsf"}), "format"),
        (
            json!({"kind": "findings", "format": "csv", "filters": {"limit": "5"}}),
            "filters.limit",
        ),
    ] {
        let (status, refused) = estate
            .api
            .call("POST", "/v1/reports", Some(&estate.reader), Some(body))
            .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["details"][0]["field"], field, "{refused}");
    }
}
