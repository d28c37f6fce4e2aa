//! Every format written end to end from rows in memory, through the same
//! driver the route uses, into a buffer.

use std::collections::{BTreeMap, HashMap};

use shared::advisor::{Category, Severity};
use shared::dynamo::{Item, StoreError, n};
use shared::findings::{Finding, FindingStatus};
use shared::inventory::Service;
use shared::resources::Resource;

use super::*;

/// Rows in memory, served `page` at a time, grouped by `group_of`.
struct InMemory<R> {
    rows: Vec<R>,
    page: usize,
    groups: Vec<String>,
    group_of: fn(&R) -> String,
    /// Rows already in group order, with their headings: one read.
    sorted: Option<fn(&R) -> String>,
}

impl<R: Row + Clone> Source for InMemory<R> {
    type Row = R;
    type Group = String;

    fn grouping(&self) -> Grouping<String, R> {
        match self.sorted {
            Some(heading) => Grouping::Sorted(heading),
            None => Grouping::Reads(
                self.groups
                    .iter()
                    .map(|g| (capitalised(g), g.clone()))
                    .collect(),
            ),
        }
    }

    async fn page(
        &self,
        group: Option<&String>,
        after: Option<Item>,
    ) -> Result<(Vec<R>, Option<Item>), StoreError> {
        let start = after
            .and_then(|k| shared::dynamo::get_n(&k, "i"))
            .unwrap_or(0) as usize;
        let matching: Vec<&R> = self
            .rows
            .iter()
            .filter(|r| group.is_none_or(|g| (self.group_of)(r) == *g))
            .collect();
        let end = (start + self.page).min(matching.len());
        let page = matching[start..end].iter().map(|r| (*r).clone()).collect();
        let next = (end < matching.len()).then(|| HashMap::from([("i".to_owned(), n(end))]));
        Ok((page, next))
    }
}

/// A buffer that keeps everything.
#[derive(Default)]
struct Buffer {
    buf: Vec<u8>,
    flushes: usize,
}

impl Sink for Buffer {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        self.flushes += 1;
        Ok(())
    }
}

fn finding(i: usize, severity: Severity, savings: f64, title: &str) -> Finding {
    Finding {
        finding_id: format!("{i:032x}"),
        check_id: "ec2.volume_unattached".into(),
        title: title.into(),
        severity,
        category: Category::Cost,
        service: Service::Ec2,
        resource_arn: format!("arn:aws:ec2:eu-west-1:123456789012:volume/vol-{i:08}"),
        resource_type: "ec2:volume".into(),
        resource_id: format!("vol-{i:08}"),
        region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        recommendation: "Delete it: `aws ec2 delete-volume --volume-id vol-1`".into(),
        monthly_savings_usd: savings,
        status: FindingStatus::Open,
        first_seen: "2026-11-01T00:00:00Z".into(),
        last_seen: "2026-11-26T01:02:03Z".into(),
        resolved_at: None,
        suppression: None,
    }
}

fn resource(i: usize, service: Service, cost: f64, name: &str) -> Resource {
    Resource {
        arn: format!("arn:aws:{service}:eu-west-1:123456789012:thing/r-{i}"),
        id: format!("r-{i}"),
        resource_type: format!("{service}:thing"),
        service,
        region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        name: Some(name.into()),
        state: Some("available".into()),
        tags: BTreeMap::from([("env".to_owned(), "=cmd|' /C calc'!A0".to_owned())]),
        created_at: None,
        monthly_cost_usd: cost,
        properties: serde_json::json!({"size_gib": 8}),
        last_seen: "2026-11-26T01:02:03Z".into(),
    }
}

fn findings(rows: Vec<Finding>, page: usize) -> InMemory<Finding> {
    InMemory {
        rows,
        page,
        groups: Severity::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        group_of: |f| f.severity.as_str().to_owned(),
        sorted: None,
    }
}

fn meta() -> Meta {
    Meta {
        title: "cloudkeep findings report".into(),
        generated_at: "2026-11-26T00:00:00Z".into(),
        filters: vec![("region".into(), "eu-west-1".into())],
    }
}

async fn render<S: Source>(source: &S, mut encoder: Box<dyn Encoder<S::Row>>) -> (Totals, Vec<u8>) {
    let mut sink = Buffer::default();
    let totals = write(source, encoder.as_mut(), &mut sink).await.unwrap();
    (totals, sink.buf)
}

fn sample() -> Vec<Finding> {
    vec![
        finding(1, Severity::Low, 1.25, "Unattached volume"),
        finding(2, Severity::Critical, 0.0, "<b>Root</b> & \"MFA\""),
        finding(3, Severity::Low, 1000.5, "=HYPERLINK(\"http://evil\")"),
    ]
}

#[tokio::test]
async fn a_csv_report_has_a_header_a_crlf_record_per_row_and_no_live_formula() {
    let (totals, bytes) = render(&findings(sample(), 2), encoder(Layout::Csv, meta())).await;
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(totals.rows, 3);
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("finding_id,check_id,title,severity,"));
    assert_eq!(lines[4], "");
    assert!(
        text.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\",low,"),
        "{text}"
    );
}

#[tokio::test]
async fn a_json_report_is_one_array_of_every_row_across_pages() {
    let rows: Vec<Finding> = (0..7)
        .map(|i| finding(i, Severity::High, 1.0, "t"))
        .collect();
    let (totals, bytes) = render(&findings(rows.clone(), 3), encoder(Layout::Json, meta())).await;
    let parsed: Vec<Finding> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, rows);
    assert_eq!(
        totals,
        Totals {
            rows: 7,
            cents: 700
        }
    );
}

#[tokio::test]
async fn an_html_report_has_a_table_per_severity_in_order_and_the_totals() {
    let (totals, bytes) = render(&findings(sample(), 1), encoder(Layout::Html, meta())).await;
    let html = String::from_utf8(bytes).unwrap();
    assert_eq!(totals.cents, 100_175);
    let critical = html.find("<h2>Critical</h2>").unwrap();
    let low = html.find("<h2>Low</h2>").unwrap();
    assert!(critical < low);
    assert!(
        !html.contains("<h2>High</h2>"),
        "an empty group has no table"
    );
    assert_eq!(html.matches("<table>").count(), 2);
    assert!(html.contains("&lt;b&gt;Root&lt;/b&gt; &amp; &quot;MFA&quot;"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("<td colspan=\"6\">2 findings</td><td class=\"n\">$1,001.75</td>"));
    assert!(html.contains("<p>Total findings: 3</p><p>Total monthly savings: $1,001.75</p>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
}

#[tokio::test]
async fn an_empty_html_report_says_so_and_totals_zero() {
    let (_, bytes) = render(&findings(vec![], 5), encoder(Layout::Html, meta())).await;
    let html = String::from_utf8(bytes).unwrap();
    assert!(html.contains("No findings match."));
    assert!(html.contains("Total monthly savings: $0.00"));
    assert!(!html.contains("<table>"));
}

/// Checks the file's structure: every cross-reference entry points at the
/// start of its object, and the trailer at the table.
fn assert_well_formed_pdf(pdf: &[u8]) -> usize {
    assert!(pdf.starts_with(b"%PDF-1.7\n"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let text = String::from_utf8_lossy(pdf);
    let startxref: usize = text
        .rsplit("startxref\n")
        .next()
        .and_then(|t| t.lines().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(pdf[startxref..].starts_with(b"xref\n0 "));
    let table = String::from_utf8_lossy(&pdf[startxref..]);
    let count: usize = table.lines().nth(1).unwrap()[2..].parse().unwrap();
    for (id, entry) in table.lines().skip(3).take(count - 1).enumerate() {
        let offset: usize = entry[..10].parse().unwrap();
        let header = format!("{} 0 obj", id + 1);
        assert!(
            pdf[offset..].starts_with(header.as_bytes()),
            "object {} is not at {offset}",
            id + 1
        );
    }
    count - 1
}

#[tokio::test]
async fn a_pdf_report_is_well_formed_and_ends_with_the_totals() {
    let (_, bytes) = render(&findings(sample(), 2), encoder(Layout::Pdf, meta())).await;
    assert_well_formed_pdf(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("(Total findings: 3)"), "{text}");
    assert!(text.contains("(Total monthly savings: $1,001.75)"));
    assert!(text.contains("/BaseFont /Helvetica") || text.contains("/BaseFont/Helvetica"));
    assert!(text.contains("WinAnsiEncoding"));
}

#[tokio::test]
async fn a_long_pdf_report_is_paginated_page_by_page() {
    let rows: Vec<Finding> = (0..500)
        .map(|i| finding(i, Severity::Medium, 0.5, "Unattached volume"))
        .collect();
    let source = findings(rows, 200);
    let mut encoder = encoder(Layout::Pdf, meta());
    let mut sink = Buffer::default();
    let totals = write(&source, encoder.as_mut(), &mut sink).await.unwrap();
    assert_eq!(totals.rows, 500);
    let objects = assert_well_formed_pdf(&sink.buf);
    let text = String::from_utf8_lossy(&sink.buf);
    let pages = text.matches("/Type/Page/").count() + text.matches("/Type /Page\n").count();
    assert!(pages >= 10, "{pages} pages");
    // Two objects per page, the fonts, the tree, the catalog and the info.
    assert_eq!(objects, 5 + 2 * pages);
    assert!(text.contains("(Medium \\(continued\\))") || text.contains("(Medium (continued))"));
}

#[tokio::test]
async fn ocsf_findings_are_detection_findings_of_the_1_1_schema() {
    let mut rows = sample();
    rows[0].status = FindingStatus::Resolved;
    rows[1].status = FindingStatus::Suppressed;
    let (_, bytes) = render(&findings(rows, 10), ocsf_encoder()).await;
    let events: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(events.len(), 3);
    for e in &events {
        assert_eq!(e["class_uid"], 2004);
        assert_eq!(e["category_uid"], 2);
        assert_eq!(e["metadata"]["version"], "1.1.0");
        assert_eq!(e["metadata"]["product"]["name"], "cloudkeep");
        assert_eq!(e["cloud"]["provider"], "AWS");
        assert_eq!(e["cloud"]["account"]["uid"], "123456789012");
        assert_eq!(e["type_uid"], 200400 + e["activity_id"].as_u64().unwrap());
    }
    let low_resolved = &events[0];
    assert_eq!(low_resolved["severity_id"], 2);
    assert_eq!(low_resolved["status_id"], 4);
    assert_eq!(low_resolved["activity_id"], 3);
    assert_eq!(
        low_resolved["resources"][0]["uid"],
        "arn:aws:ec2:eu-west-1:123456789012:volume/vol-00000001"
    );
    assert_eq!(low_resolved["resources"][0]["type"], "ec2:volume");
    assert_eq!(
        low_resolved["finding_info"]["first_seen_time"],
        1_793_491_200_000i64
    );
    assert_eq!(
        low_resolved["finding_info"]["last_seen_time"],
        1_795_654_923_000i64
    );
    assert!(
        low_resolved["remediation"]["desc"]
            .as_str()
            .unwrap()
            .starts_with("Delete it")
    );
    assert_eq!(events[1]["severity_id"], 5);
    assert_eq!(events[1]["status_id"], 3);
    assert_eq!(events[2]["status_id"], 1);
    assert_eq!(events[2]["activity_id"], 1);
}

#[tokio::test]
async fn a_resources_report_groups_by_service_and_sums_the_monthly_cost() {
    let source = InMemory {
        rows: vec![
            resource(1, Service::Rds, 100.0, "db"),
            resource(2, Service::Ec2, 8.8, "<img src=x>"),
            resource(3, Service::Ec2, 0.0, "+1"),
        ],
        page: 2,
        groups: Service::scanned().map(|s| s.as_str().to_owned()).collect(),
        group_of: |r| r.service.as_str().to_owned(),
        sorted: None,
    };
    let (totals, bytes) = render(&source, encoder(Layout::Html, meta())).await;
    let html = String::from_utf8(bytes).unwrap();
    assert_eq!(
        totals,
        Totals {
            rows: 3,
            cents: 10_880
        }
    );
    assert!(html.find("<h2>Ec2</h2>").unwrap() < html.find("<h2>Rds</h2>").unwrap());
    assert!(html.contains("&lt;img src=x&gt;") && !html.contains("<img"));
    assert!(html.contains("Total monthly cost: $108.80"));
    let (_, csv) = render(&source, encoder(Layout::Csv, meta())).await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("arn,id,type,service,region,account_id,name,state,tags,"));
    assert!(csv.contains(",'+1,"), "{csv}");
    assert!(
        csv.contains("\"{\"\"env\"\":\"\"=cmd|' /C calc'!A0\"\"}\""),
        "{csv}"
    );
}

#[test]
fn dollars_are_grouped_by_thousands_with_cents() {
    assert_eq!(dollars(0), "$0.00");
    assert_eq!(dollars(5), "$0.05");
    assert_eq!(dollars(123_456), "$1,234.56");
    assert_eq!(dollars(100_000_000), "$1,000,000.00");
    assert_eq!(dollars(-150), "-$1.50");
}

#[test]
fn counts_name_one_row_in_the_singular() {
    assert_eq!(count_of(1, "findings"), "1 finding");
    assert_eq!(count_of(2, "resources"), "2 resources");
}

fn filters_of(json: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
    json.as_object().cloned()
}

fn problem(err: ApiError) -> (String, String) {
    match err {
        ApiError::Validation(problems) => (problems[0].field.clone(), problems[0].problem.clone()),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn resource_filters_are_checked_as_the_listing_checks_them() {
    let f = resource_filters(&filters_of(serde_json::json!({
        "account_id": "123456789012", "service": "ec2", "tag": "env:prod"
    })))
    .unwrap();
    assert_eq!(f.account_id.as_deref(), Some("123456789012"));
    assert_eq!(f.service, Some(Service::Ec2));
    assert_eq!(f.tag, Some(("env".into(), "prod".into())));
    assert!(resource_filters(&None).is_ok());

    let (field, _) = problem(
        resource_filters(&filters_of(serde_json::json!({"account_id": "12"}))).unwrap_err(),
    );
    assert_eq!(field, "filters.account_id");
    let (field, _) =
        problem(resource_filters(&filters_of(serde_json::json!({"service": "ftp"}))).unwrap_err());
    assert_eq!(field, "filters.service");
}

#[test]
fn unknown_wrongly_typed_or_paging_filters_are_refused_by_name() {
    let (field, why) =
        problem(resource_filters(&filters_of(serde_json::json!({"colour": "red"}))).unwrap_err());
    assert_eq!(field, "filters.colour");
    assert!(why.contains("unknown field"), "{why}");
    let (field, _) =
        problem(resource_filters(&filters_of(serde_json::json!({"region": 5}))).unwrap_err());
    assert_eq!(field, "filters.region");
    let (field, _) =
        problem(resource_filters(&filters_of(serde_json::json!({"limit": "5"}))).unwrap_err());
    assert_eq!(field, "filters.limit");
}

#[test]
fn reports_are_keyed_under_reports_and_download_with_a_dated_name() {
    let id = uuid::Uuid::nil();
    assert_eq!(
        object_key(&id, Format::Ocsf),
        "reports/00000000000000000000000000000000.ocsf.json"
    );
    assert_eq!(
        file_name(Kind::Findings, Format::Pdf, 1_795_654_923),
        "cloudkeep-findings-20261126T010203Z.pdf"
    );
}

#[test]
fn a_report_request_refuses_unknown_formats_kinds_and_fields() {
    let ok: ReportRequest =
        serde_json::from_value(serde_json::json!({"format": "ocsf", "kind": "findings"})).unwrap();
    assert_eq!((ok.format, ok.kind), (Format::Ocsf, Kind::Findings));
    for bad in [
        serde_json::json!({"format": "xlsx", "kind": "findings"}),
        serde_json::json!({"format": "csv", "kind": "users"}),
        serde_json::json!({"format": "csv", "kind": "findings", "extra": 1}),
        serde_json::json!({"format": "csv", "kind": "findings", "filters": []}),
    ] {
        assert!(
            serde_json::from_value::<ReportRequest>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn rows_already_in_severity_order_make_their_tables_in_one_read() {
    let mut rows = sample();
    rows.sort_by_key(|f| f.severity.rank());
    let source = InMemory {
        sorted: Some(|f: &Finding| severity_heading(f.severity)),
        ..findings(rows, 1)
    };
    let (totals, bytes) = render(&source, encoder(Layout::Html, meta())).await;
    let html = String::from_utf8(bytes).unwrap();
    assert_eq!(totals.rows, 3);
    assert_eq!(html.matches("<table>").count(), 2);
    assert!(html.find("<h2>Critical</h2>").unwrap() < html.find("<h2>Low</h2>").unwrap());
    assert!(html.contains("<td colspan=\"6\">1 finding</td><td class=\"n\">$0.00</td>"));
    assert!(html.contains("<td colspan=\"6\">2 findings</td><td class=\"n\">$1,001.75</td>"));
}
