//! `POST /v1/reports`: the resources or findings matching a listing's
//! filters, written to the bucket under `reports/` as CSV, JSON, HTML, PDF or
//! (findings only) OCSF, and handed out through a presigned `GET`.
//!
//! A report never sits whole in memory: rows are read from the store a page
//! at a time, encoded as they come, and the bytes stream to S3 in 8 MiB parts
//! ([`s3::S3Writer`]). The HTML and PDF layouts show one table per severity
//! (findings) or service (resources); rather than sort in memory, they read
//! the store once per group, each read filtered to that group.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State as Extract;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::advisor::Severity;
use shared::auth::{Caller, Role};
use shared::dynamo::{Item, StoreError, now, rfc3339};
use shared::error::{ErrorBody, FieldProblem};
use shared::findings::Finding;
use shared::http::Json;
use shared::inventory::Service;
use shared::resources::Resource;
use utoipa::ToSchema;

use crate::State;
use crate::store::{Filters, ResourceQueries};

mod csv;
mod html;
mod json;
mod ocsf;
mod pdf;
pub mod s3;

pub use s3::{PART_SIZE, S3Writer};

/// What the route calls: the S3 writer's uploads and the presigned `GET`.
pub const IAM_ACTIONS: &[&str] = s3::IAM_ACTIONS;

/// Rows read from the store per request.
const PAGE: u32 = 200;

/// `POST /v1/reports`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub format: Format,
    pub kind: Kind,
    /// The filters of `GET /v1/resources` or `GET /v1/findings` (by `kind`),
    /// as strings, checked as those routes check them; no `limit` or `cursor`:
    /// a report holds every matching row.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filters: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Html,
    Pdf,
    /// OCSF 1.1 Detection Findings (class 2004), one JSON array: findings only.
    Ocsf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Resources,
    Findings,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Resources => "resources",
            Kind::Findings => "findings",
        }
    }
}

/// The layouts every kind has; OCSF is the findings' alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Csv,
    Json,
    Html,
    Pdf,
}

impl Format {
    pub fn layout(self) -> Option<Layout> {
        match self {
            Format::Csv => Some(Layout::Csv),
            Format::Json => Some(Layout::Json),
            Format::Html => Some(Layout::Html),
            Format::Pdf => Some(Layout::Pdf),
            Format::Ocsf => None,
        }
    }

    /// The object key's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Ocsf => "ocsf.json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Json | Format::Ocsf => "application/json",
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
        }
    }
}

/// `201`: where to fetch the report, until when, and how many rows it holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    /// A presigned `GET`, valid 15 minutes; it downloads as an attachment.
    pub url: String,
    pub expires_at: String,
    pub rows: u64,
}

/// One row of a report, as each layout shows it.
pub trait Row: Serialize + Send + Sync {
    /// `resources` or `findings`.
    const NOUN: &'static str;
    /// What the amount column sums: `monthly cost` or `monthly savings`.
    const AMOUNT: &'static str;
    const CSV_HEADER: &'static [&'static str];
    /// The CSV cells, in [`Self::CSV_HEADER`]'s order.
    fn csv_cells(&self) -> Vec<Cow<'_, str>>;
    /// The HTML and PDF tables' columns, but the amount (always last).
    const TABLE_HEADER: &'static [&'static str];
    /// The PDF's share of the line for each column, the amount's last.
    const TABLE_WIDTHS: &'static [f32];
    fn table_cells(&self) -> Vec<Cow<'_, str>>;
    /// The amount in cents, as findings store and sum savings.
    fn cents(&self) -> i64;
}

/// Dollars to whole cents.
fn to_cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

/// `$1,234.56`
pub fn dollars(cents: i64) -> String {
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let whole = (cents / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

impl Row for Resource {
    const NOUN: &'static str = "resources";
    const AMOUNT: &'static str = "monthly cost";
    const CSV_HEADER: &'static [&'static str] = &[
        "arn",
        "id",
        "type",
        "service",
        "region",
        "account_id",
        "name",
        "state",
        "tags",
        "created_at",
        "monthly_cost_usd",
        "last_seen",
        "properties",
    ];

    fn csv_cells(&self) -> Vec<Cow<'_, str>> {
        vec![
            Cow::Borrowed(self.arn.as_str()),
            Cow::Borrowed(self.id.as_str()),
            Cow::Borrowed(self.resource_type.as_str()),
            Cow::Borrowed(self.service.as_str()),
            Cow::Borrowed(self.region.as_str()),
            Cow::Borrowed(self.account_id.as_str()),
            Cow::Borrowed(self.name.as_deref().unwrap_or_default()),
            Cow::Borrowed(self.state.as_deref().unwrap_or_default()),
            Cow::Owned(serde_json::to_string(&self.tags).unwrap_or_default()),
            Cow::Borrowed(self.created_at.as_deref().unwrap_or_default()),
            Cow::Owned(format!("{:.2}", self.monthly_cost_usd)),
            Cow::Borrowed(self.last_seen.as_str()),
            Cow::Owned(self.properties.to_string()),
        ]
    }

    const TABLE_HEADER: &'static [&'static str] =
        &["Type", "Name", "Id", "Region", "Account", "State"];
    const TABLE_WIDTHS: &'static [f32] = &[1.3, 1.6, 2.2, 1.0, 1.0, 0.9, 0.9];

    fn table_cells(&self) -> Vec<Cow<'_, str>> {
        vec![
            Cow::Borrowed(self.resource_type.as_str()),
            Cow::Borrowed(self.name.as_deref().unwrap_or_default()),
            Cow::Borrowed(self.id.as_str()),
            Cow::Borrowed(self.region.as_str()),
            Cow::Borrowed(self.account_id.as_str()),
            Cow::Borrowed(self.state.as_deref().unwrap_or_default()),
        ]
    }

    fn cents(&self) -> i64 {
        to_cents(self.monthly_cost_usd)
    }
}

impl Row for Finding {
    const NOUN: &'static str = "findings";
    const AMOUNT: &'static str = "monthly savings";
    const CSV_HEADER: &'static [&'static str] = &[
        "finding_id",
        "check_id",
        "title",
        "severity",
        "category",
        "service",
        "resource_arn",
        "resource_type",
        "resource_id",
        "region",
        "account_id",
        "status",
        "monthly_savings_usd",
        "recommendation",
        "first_seen",
        "last_seen",
        "resolved_at",
    ];

    fn csv_cells(&self) -> Vec<Cow<'_, str>> {
        vec![
            Cow::Borrowed(self.finding_id.as_str()),
            Cow::Borrowed(self.check_id.as_str()),
            Cow::Borrowed(self.title.as_str()),
            Cow::Borrowed(self.severity.as_str()),
            Cow::Borrowed(self.category.as_str()),
            Cow::Borrowed(self.service.as_str()),
            Cow::Borrowed(self.resource_arn.as_str()),
            Cow::Borrowed(self.resource_type.as_str()),
            Cow::Borrowed(self.resource_id.as_str()),
            Cow::Borrowed(self.region.as_str()),
            Cow::Borrowed(self.account_id.as_str()),
            Cow::Borrowed(self.status.as_str()),
            Cow::Owned(format!("{:.2}", self.monthly_savings_usd)),
            Cow::Borrowed(self.recommendation.as_str()),
            Cow::Borrowed(self.first_seen.as_str()),
            Cow::Borrowed(self.last_seen.as_str()),
            Cow::Borrowed(self.resolved_at.as_deref().unwrap_or_default()),
        ]
    }

    const TABLE_HEADER: &'static [&'static str] =
        &["Check", "Title", "Resource", "Region", "Account", "Status"];
    const TABLE_WIDTHS: &'static [f32] = &[1.6, 2.4, 1.9, 0.9, 1.0, 0.8, 1.0];

    fn table_cells(&self) -> Vec<Cow<'_, str>> {
        vec![
            Cow::Borrowed(self.check_id.as_str()),
            Cow::Borrowed(self.title.as_str()),
            Cow::Borrowed(self.resource_id.as_str()),
            Cow::Borrowed(self.region.as_str()),
            Cow::Borrowed(self.account_id.as_str()),
            Cow::Borrowed(self.status.as_str()),
        ]
    }

    fn cents(&self) -> i64 {
        to_cents(self.monthly_savings_usd)
    }
}

/// How many rows, and what their amounts add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows: u64,
    pub cents: i64,
}

impl Totals {
    fn add(&mut self, cents: i64) {
        self.rows += 1;
        self.cents += cents;
    }
}

/// What the page says the report is, above its rows.
#[derive(Debug, Clone)]
pub struct Meta {
    pub title: String,
    pub generated_at: String,
    /// `name=value` of each filter, as asked.
    pub filters: Vec<(String, String)>,
}

impl Meta {
    fn filters_line(&self) -> String {
        if self.filters.is_empty() {
            return "Filters: none".to_owned();
        }
        let pairs: Vec<String> = self
            .filters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("Filters: {}", pairs.join(", "))
    }
}

/// "2 findings", "1 resource"
pub fn count_of(n: u64, noun: &str) -> String {
    let noun = if n == 1 {
        noun.strip_suffix('s').unwrap_or(noun)
    } else {
        noun
    };
    format!("{n} {noun}")
}

/// The totals line both the HTML and the PDF end with.
pub fn totals_lines(totals: &Totals, noun: &str, amount: &str) -> [String; 2] {
    [
        format!("Total {noun}: {}", totals.rows),
        format!("Total {amount}: {}", dollars(totals.cents)),
    ]
}

/// Turns rows into a format's bytes, appending to `out` as it goes.
pub trait Encoder<R>: Send {
    /// Whether rows come one group at a time (HTML and PDF), each opened by
    /// [`Encoder::group`] and closed by [`Encoder::end_group`].
    fn grouped(&self) -> bool {
        false
    }
    fn start(&mut self, out: &mut Vec<u8>);
    fn group(&mut self, _label: &str, _out: &mut Vec<u8>) {}
    fn row(&mut self, row: &R, out: &mut Vec<u8>);
    fn end_group(&mut self, _label: &str, _totals: &Totals, _out: &mut Vec<u8>) {}
    fn finish(&mut self, totals: &Totals, out: &mut Vec<u8>);
}

/// The encoder of a layout every kind has.
pub fn encoder<R: Row>(layout: Layout, meta: Meta) -> Box<dyn Encoder<R>> {
    match layout {
        Layout::Csv => Box::new(csv::Csv::default()),
        Layout::Json => Box::new(json::JsonArray::default()),
        Layout::Html => Box::new(html::Html::new(meta)),
        Layout::Pdf => Box::new(pdf::Pdf::new(meta)),
    }
}

/// The OCSF encoder (findings only).
pub fn ocsf_encoder() -> Box<dyn Encoder<Finding>> {
    Box::new(ocsf::Ocsf::default())
}

/// How the grouped layouts (HTML, PDF) get their rows a table at a time.
pub enum Grouping<G, R> {
    /// One read, already in group order: a table ends where the heading changes.
    Sorted(fn(&R) -> String),
    /// One read per table, in this order, each with its heading.
    Reads(Vec<(String, G)>),
}

/// Where the rows come from, a page at a time.
pub trait Source: Sync {
    type Row: Row;
    /// One table's read, with [`Grouping::Reads`].
    type Group: Send + Sync;
    fn grouping(&self) -> Grouping<Self::Group, Self::Row>;
    /// A page of rows, of one group or of all.
    fn page(
        &self,
        group: Option<&Self::Group>,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<Self::Row>, Option<Item>), StoreError>> + Send;
}

/// Where the bytes go: a buffer to append to, drained by `flush`.
pub trait Sink: Send {
    fn buf(&mut self) -> &mut Vec<u8>;
    /// Sends what the buffer holds beyond a part, if it does.
    fn flush(&mut self) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// Reads every row of `source` and encodes it into `sink`; the totals.
pub async fn write<S: Source>(
    source: &S,
    encoder: &mut dyn Encoder<S::Row>,
    sink: &mut impl Sink,
) -> Result<Totals, ApiError> {
    let mut totals = Totals::default();
    encoder.start(sink.buf());
    let (reads, heading): (
        Vec<(String, Option<S::Group>)>,
        Option<fn(&S::Row) -> String>,
    ) = match (encoder.grouped(), source.grouping()) {
        (false, _) => (vec![(String::new(), None)], None),
        (true, Grouping::Sorted(heading)) => (vec![(String::new(), None)], Some(heading)),
        (true, Grouping::Reads(groups)) => (
            groups.into_iter().map(|(h, g)| (h, Some(g))).collect(),
            None,
        ),
    };
    for (mut label, group) in reads {
        let mut in_group = Totals::default();
        let mut after = None;
        loop {
            let (rows, next) = source.page(group.as_ref(), after).await?;
            for row in &rows {
                if let Some(heading) = heading {
                    let this = heading(row);
                    if in_group.rows > 0 && this != label {
                        encoder.end_group(&label, &in_group, sink.buf());
                        in_group = Totals::default();
                    }
                    label = this;
                }
                if encoder.grouped() && in_group.rows == 0 {
                    encoder.group(&label, sink.buf());
                }
                encoder.row(row, sink.buf());
                in_group.add(row.cents());
                totals.add(row.cents());
            }
            sink.flush().await?;
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        // An empty group shows no table.
        if encoder.grouped() && in_group.rows > 0 {
            encoder.end_group(&label, &in_group, sink.buf());
        }
    }
    encoder.finish(&totals, sink.buf());
    sink.flush().await?;
    Ok(totals)
}

/// Resources from the store, grouped by service.
pub struct Resources<'a, S> {
    pub store: &'a S,
    pub filters: Filters,
}

impl<S: ResourceQueries + Sync> Source for Resources<'_, S> {
    type Row = Resource;
    type Group = Service;

    /// The store keeps resources by account and ARN: each service is its own read.
    fn grouping(&self) -> Grouping<Service, Resource> {
        let services: Vec<Service> = match self.filters.service {
            Some(one) => vec![one],
            None => Service::scanned().collect(),
        };
        Grouping::Reads(
            services
                .into_iter()
                .map(|s| (s.as_str().to_owned(), s))
                .collect(),
        )
    }

    async fn page(
        &self,
        group: Option<&Service>,
        after: Option<Item>,
    ) -> Result<(Vec<Resource>, Option<Item>), StoreError> {
        match group {
            Some(service) => {
                let filters = Filters {
                    service: Some(*service),
                    ..self.filters.clone()
                };
                self.store.resources(&filters, PAGE, after).await
            }
            None => self.store.resources(&self.filters, PAGE, after).await,
        }
    }
}

/// `monthly savings` → `Monthly savings`, `critical` → `Critical`.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// A severity as a heading: `Critical`.
pub fn severity_heading(severity: Severity) -> String {
    capitalised(severity.as_str())
}

/// The report's metadata for `kind` and its filters as asked.
fn meta(kind: Kind, filters: &Option<serde_json::Map<String, serde_json::Value>>) -> Meta {
    let filters = filters
        .iter()
        .flatten()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            (k.clone(), v)
        })
        .collect();
    Meta {
        title: format!("cloudkeep {} report", kind.as_str()),
        generated_at: rfc3339(now()),
        filters,
    }
}

/// The filters of `kind`'s listing, checked by that listing's rules, each
/// problem named `filters.<name>`.
fn resource_filters(
    filters: &Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<Filters, ApiError> {
    let map = listing_filters(filters)?;
    let query: crate::resources::ResourceQuery = from_filters(map)?;
    crate::resources::filters(&query).map_err(under_filters)
}

/// The filters object without paging: `limit` and `cursor` mean nothing to a report.
fn listing_filters(
    filters: &Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let map = filters.clone().unwrap_or_default();
    for paging in ["limit", "cursor"] {
        if map.contains_key(paging) {
            return Err(ApiError::invalid(
                format!("filters.{paging}"),
                "a report holds every matching row: no limit or cursor",
            ));
        }
    }
    Ok(map)
}

/// A listing's query parameters from a JSON object; a wrong or unknown one
/// is a `422` naming it.
fn from_filters<T: serde::de::DeserializeOwned>(
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "filters".to_owned()
        } else {
            format!("filters.{path}")
        };
        ApiError::invalid(field, err.into_inner())
    })
}

/// A listing's validation errors, their fields under `filters.`.
fn under_filters(err: ApiError) -> ApiError {
    match err {
        ApiError::Validation(problems) => ApiError::Validation(
            problems
                .into_iter()
                .map(|p| FieldProblem::new(format!("filters.{}", p.field), p.problem))
                .collect(),
        ),
        other => other,
    }
}

/// `reports/{uuid}.{ext}`
pub fn object_key(id: &uuid::Uuid, format: Format) -> String {
    format!("reports/{}.{}", id.simple(), format.extension())
}

/// `cloudkeep-findings-20261126T010203Z.csv`: the name the download saves as.
pub fn file_name(kind: Kind, format: Format, now: i64) -> String {
    let stamp = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ");
    format!("cloudkeep-{}-{stamp}.{}", kind.as_str(), format.extension())
}

/// The upload of a new report object (nothing is sent before the first part).
fn writer<'a>(state: &'a State, kind: Kind, format: Format, key: &str, now: i64) -> S3Writer<'a> {
    S3Writer::new(
        &state.s3,
        s3::Object {
            bucket: state.bucket.clone(),
            key: key.to_owned(),
            content_type: format.content_type(),
            file_name: file_name(kind, format, now),
            kms_key_arn: state.kms_key_arn.clone(),
        },
    )
}

/// Writes `source` with `encoder` to a new object, completing the upload
/// or, on any failure, aborting it.
async fn produce<S: Source>(
    source: &S,
    mut encoder: Box<dyn Encoder<S::Row>>,
    mut writer: S3Writer<'_>,
) -> Result<Totals, ApiError> {
    let written = match write(source, encoder.as_mut(), &mut writer).await {
        Ok(totals) => writer.finish().await.map(|()| totals),
        Err(e) => Err(e),
    };
    if written.is_err() {
        writer.abort().await;
    }
    written
}

/// Writes a report of resources or findings, in any format, and answers a
/// presigned `GET` of it (15 minutes).
#[utoipa::path(
    post, path = "/v1/reports", tag = "inventory", operation_id = "create_report",
    request_body = ReportRequest,
    responses((status = 201, body = Report), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody))
)]
pub async fn create(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Json(request): Json<ReportRequest>,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    caller.require(Role::Reader)?;
    let ReportRequest {
        format,
        kind,
        filters,
    } = request;
    let meta = meta(kind, &filters);
    let now = now();
    let key = object_key(&uuid::Uuid::new_v4(), format);
    let totals = match (kind, format.layout()) {
        (Kind::Resources, None) => {
            return Err(ApiError::invalid(
                "format",
                "ocsf describes findings: use it with kind findings",
            ));
        }
        (Kind::Resources, Some(layout)) => {
            let source = Resources {
                store: &state.resources,
                filters: resource_filters(&filters)?,
            };
            produce(
                &source,
                encoder(layout, meta),
                writer(&state, kind, format, &key, now),
            )
            .await?
        }
        (Kind::Findings, layout) => {
            let source = findings::Findings {
                store: &state.resources,
                filters: findings::filters(&filters)?,
            };
            let encoder = match layout {
                Some(layout) => encoder(layout, meta),
                None => ocsf_encoder(),
            };
            produce(&source, encoder, writer(&state, kind, format, &key, now)).await?
        }
    };
    let url = s3::presign(
        &state.s3,
        &state.bucket,
        &key,
        format.content_type(),
        &file_name(kind, format, now),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Report {
            url,
            expires_at: rfc3339(now + s3::URL_TTL.as_secs() as i64),
            rows: totals.rows,
        }),
    ))
}

mod findings;

#[cfg(test)]
mod tests;
