//! The commands that are one or two API calls each, and how their results read.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::args::{
    AccountArgs, Accounts, Keys, Packages, Page, ReportFormat, ReportKind, Scans, Users,
};
use crate::client::{Api, query, segment};
use crate::download::split_spec;
use crate::error::{CliError, Exit, Result};
use crate::output::{Output, Style, bytes, cell, dollars};

/// Rows of a paginated list: pages followed until `limit` rows (or the end with `--all`).
pub async fn list(api: &Api, path: &str, page: &Page) -> Result<Vec<Value>> {
    let want = if page.all { u64::MAX } else { page.limit };
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let limit = (want - rows.len() as u64).min(200);
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", segment(c)));
        }
        let body = api.get(&url).await?;
        rows.extend(body["items"].as_array().cloned().unwrap_or_default());
        cursor = body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() || rows.len() as u64 >= want {
            rows.truncate(want.min(usize::MAX as u64) as usize);
            return Ok(rows);
        }
    }
}

/// Every row of a short list (accounts, keys, a scan's jobs): all its pages.
async fn list_all(api: &Api, path: &str) -> Result<Vec<Value>> {
    list(
        api,
        path,
        &Page {
            limit: 1,
            all: true,
        },
    )
    .await
}

/// Deletes `path` and says so: `deleted <what> <id>`, or `{"deleted": id}`.
async fn delete(api: &Api, out: &Output, path: &str, what: &str, id: &str) -> Result<()> {
    api.delete(path).await?;
    out.show(&json!({"deleted": id}), |out| {
        out.line(&format!("deleted {what} {id}"))
    });
    Ok(())
}

fn rows(items: &[Value], fields: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| fields.iter().map(|f| cell(&item[*f])).collect())
        .collect()
}

/// A list as a table, a row per item by `row`, or its items as JSON.
fn show_table(
    out: &Output,
    items: Vec<Value>,
    header: &[&str],
    row: impl Fn(&Output, &Value) -> Vec<String>,
) {
    let json = Value::Array(items);
    out.show(&json, |out| {
        let rows: Vec<Vec<String>> = json
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| row(out, item))
            .collect();
        out.table(header, &rows);
    });
}

/// A list as a table of `fields` under `header`, or its items as JSON.
fn show_list(out: &Output, items: Vec<Value>, header: &[&str], fields: &[&str]) {
    show_table(out, items, header, |_, item| {
        fields.iter().map(|f| cell(&item[*f])).collect()
    });
}

pub async fn login(api: &Api, username: Option<String>, password_stdin: bool) -> Result<Value> {
    let stdin = std::io::stdin();
    let username = match username {
        Some(u) => u,
        None if stdin.is_terminal() => {
            eprint!("username: ");
            let _ = std::io::stderr().flush();
            read_line(&mut stdin.lock())?
        }
        None => {
            return Err(CliError::bad_input(
                "--username is required when standard input is not a terminal",
            ));
        }
    };
    let password = if password_stdin || !stdin.is_terminal() {
        read_line(&mut stdin.lock())?
    } else {
        rpassword::prompt_password("password: ")
            .map_err(|e| CliError::bad_input(format!("cannot read the password: {e}")))?
    };
    api.post(
        "/v1/auth/login",
        &json!({"username": username, "password": password}),
    )
    .await
}

fn read_line(input: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| CliError::bad_input(format!("cannot read standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn show_user(out: &Output, user: &Value) {
    out.show(user, |out| {
        out.table(
            &["USERNAME", "EMAIL", "ROLES", "GROUPS", "DISABLED"],
            &rows(
                std::slice::from_ref(user),
                &["username", "email", "roles", "groups", "disabled"],
            ),
        );
    });
}

pub async fn packages(api: &Api, out: &Output, command: Packages) -> Result<()> {
    match command {
        Packages::List { query: q, page } => {
            let items = list(api, &format!("/v1/packages{}", query(&[("q", q)])), &page).await?;
            show_list(
                out,
                items,
                &["NAME", "LATEST", "SENSITIVE", "UPDATED", "DESCRIPTION"],
                &[
                    "name",
                    "latest_version",
                    "sensitive",
                    "updated_at",
                    "description",
                ],
            );
        }
        Packages::Show { package } => {
            let (name, version) = split_spec(&package);
            match version {
                None => {
                    let detail = api.get(&format!("/v1/packages/{}", segment(name))).await?;
                    out.show(&detail, |out| {
                        out.line(&format!(
                            "{}  owner {}{}",
                            out.paint(name, Style::Bold),
                            cell(&detail["owner"]),
                            if detail["sensitive"] == true {
                                format!("  sensitive, groups {}", cell(&detail["groups"]))
                            } else {
                                String::new()
                            }
                        ));
                        if let Some(d) = detail["description"].as_str() {
                            out.line(d);
                        }
                        let versions: Vec<Vec<String>> = detail["versions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|v| {
                                vec![
                                    cell(&v["version"]),
                                    cell(&v["status"]),
                                    v["size"].as_u64().map_or("-".into(), bytes),
                                    cell(&v["published_at"]),
                                    cell(&v["sha256"]),
                                ]
                            })
                            .collect();
                        out.table(
                            &["VERSION", "STATUS", "SIZE", "PUBLISHED", "SHA256"],
                            &versions,
                        );
                    });
                }
                Some(version) => {
                    let detail = api
                        .get(&format!(
                            "/v1/packages/{}/versions/{}",
                            segment(name),
                            segment(version)
                        ))
                        .await?;
                    out.show(&detail, |out| {
                        out.line(&format!(
                            "{}@{}  {}  {}  uploaded by {}",
                            name,
                            version,
                            cell(&detail["status"]),
                            detail["size"].as_u64().map_or("-".into(), bytes),
                            cell(&detail["uploaded_by"])
                        ));
                        out.line(&format!("sha256 {}", cell(&detail["sha256"])));
                        let checks: Vec<Vec<String>> = detail["validation"]["checks"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| {
                                let ok = c["ok"] == true;
                                vec![
                                    if ok {
                                        out.paint("ok", Style::Good)
                                    } else {
                                        out.paint("FAIL", Style::Bad)
                                    },
                                    cell(&c["id"]),
                                    cell(&c["message"]),
                                ]
                            })
                            .collect();
                        if !checks.is_empty() {
                            out.table(&["", "CHECK", "MESSAGE"], &checks);
                        }
                    });
                }
            }
        }
        Packages::Yank { package, reason } => {
            let (name, Some(version)) = split_spec(&package) else {
                return Err(CliError::bad_input(
                    "yank needs NAME@VERSION: a yank is of one version",
                ));
            };
            let yanked = api
                .post(
                    &format!(
                        "/v1/packages/{}/versions/{}/yank",
                        segment(name),
                        segment(version)
                    ),
                    &json!({"reason": reason}),
                )
                .await?;
            out.show(&yanked, |out| out.line(&format!("yanked {name}@{version}")));
        }
        Packages::Downloads { name, page } => {
            let items = list(
                api,
                &format!("/v1/packages/{}/downloads", segment(&name)),
                &page,
            )
            .await?;
            show_list(
                out,
                items,
                &["AT", "VERSION", "USERNAME", "ALLOWED", "REASON"],
                &["at", "version", "username", "allowed", "reason"],
            );
        }
    }
    Ok(())
}

pub async fn scan(
    api: &Api,
    out: &Output,
    accounts: Vec<String>,
    regions: Vec<String>,
    services: Vec<String>,
    wait: bool,
) -> Result<()> {
    let mut body = json!({});
    for (key, values) in [
        ("account_ids", accounts),
        ("regions", regions),
        ("services", services),
    ] {
        if !values.is_empty() {
            body[key] = json!(values);
        }
    }
    let queued = api.post("/v1/scans", &body).await?;
    let scan_id = queued["scan_id"].as_str().unwrap_or_default().to_owned();
    if !wait {
        out.show(&queued, |out| {
            out.line(&format!(
                "scan {scan_id} queued: `cloudkeep scans show {scan_id}`"
            ))
        });
        return Ok(());
    }
    let bar = crate::transfer::spinner(out, &format!("scan {scan_id}"));
    let started = Instant::now();
    let scan = loop {
        let scan = api.get(&format!("/v1/scans/{}", segment(&scan_id))).await?;
        if scan["finished_at"].is_string() {
            break scan;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err(CliError::new(
                Exit::Unavailable,
                format!("scan {scan_id} has not ended after an hour"),
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    bar.finish_and_clear();
    show_scan(out, &scan, None);
    match scan["status"].as_str() {
        Some("failed") => Err(CliError::new(
            Exit::Unavailable,
            format!("scan {scan_id} failed"),
        )),
        _ => Ok(()),
    }
}

fn show_scan(out: &Output, scan: &Value, jobs: Option<&[Value]>) {
    let mut json = scan.clone();
    if let Some(jobs) = jobs {
        json["jobs"] = json!(jobs);
    }
    out.show(&json, |out| {
        let status = scan["status"].as_str().unwrap_or("?");
        let style = match status {
            "succeeded" => Style::Good,
            "failed" => Style::Bad,
            _ => Style::Warn,
        };
        out.line(&format!(
            "scan {}  {}  started {}  finished {}",
            cell(&scan["scan_id"]),
            out.paint(status, style),
            cell(&scan["started_at"]),
            cell(&scan["finished_at"])
        ));
        let counts: Vec<Vec<String>> = scan["counts"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(service, n)| vec![service.clone(), cell(n)])
            .collect();
        if !counts.is_empty() {
            out.table(&["SERVICE", "RESOURCES"], &counts);
        }
        if let Some(jobs) = jobs {
            out.table(
                &["ACCOUNT", "REGION", "STATUS", "AT"],
                &rows(jobs, &["account_id", "region", "status", "status_at"]),
            );
        }
        let errors = scan["errors"].as_array().map_or(&[][..], Vec::as_slice);
        if !errors.is_empty() {
            out.table(
                &["ACCOUNT", "REGION", "SERVICE", "CODE", "ERROR"],
                &rows(
                    errors,
                    &["account_id", "region", "service", "code", "message"],
                ),
            );
        }
    });
}

pub async fn scans(api: &Api, out: &Output, command: Scans) -> Result<()> {
    match command {
        Scans::List { page } => {
            let items = list(api, "/v1/scans", &page).await?;
            show_list(
                out,
                items,
                &["SCAN", "STATUS", "TRIGGER", "STARTED", "FINISHED"],
                &["scan_id", "status", "trigger", "started_at", "finished_at"],
            );
        }
        Scans::Show { scan_id } => {
            let scan = api.get(&format!("/v1/scans/{}", segment(&scan_id))).await?;
            let jobs = list(
                api,
                &format!("/v1/scans/{}/jobs", segment(&scan_id)),
                &Page {
                    limit: 1,
                    all: true,
                },
            )
            .await?;
            show_scan(out, &scan, Some(&jobs));
        }
    }
    Ok(())
}

pub async fn resources(
    api: &Api,
    out: &Output,
    filters: Vec<(&str, Option<String>)>,
    page: &Page,
) -> Result<()> {
    let items = list(api, &format!("/v1/resources{}", query(&filters)), page).await?;
    let header = [
        "TYPE", "ID", "NAME", "REGION", "ACCOUNT", "STATE", "MONTHLY",
    ];
    show_table(out, items, &header, |_, r| {
        let mut row: Vec<String> = ["type", "id", "name", "region", "account_id", "state"]
            .iter()
            .map(|f| cell(&r[*f]))
            .collect();
        row.push(dollars(&r["monthly_cost_usd"]));
        row
    });
    Ok(())
}

pub async fn findings(
    api: &Api,
    out: &Output,
    filters: Vec<(&str, Option<String>)>,
    page: &Page,
) -> Result<()> {
    let items = list(api, &format!("/v1/findings{}", query(&filters)), page).await?;
    let header = [
        "SEVERITY", "CATEGORY", "SAVING", "CHECK", "RESOURCE", "REGION", "STATUS", "TITLE",
    ];
    show_table(out, items, &header, |out, f| {
        let severity = f["severity"].as_str().unwrap_or("?");
        let style = match severity {
            "critical" | "high" => Style::Bad,
            "medium" => Style::Warn,
            _ => Style::Dim,
        };
        let mut row = vec![
            out.paint(severity, style),
            cell(&f["category"]),
            dollars(&f["monthly_savings_usd"]),
        ];
        row.extend(
            ["check_id", "resource_id", "region", "status", "title"]
                .iter()
                .map(|k| cell(&f[*k])),
        );
        row
    });
    Ok(())
}

pub async fn summary(api: &Api, out: &Output) -> Result<()> {
    let s = api.get("/v1/summary").await?;
    out.show(&s, |out| {
        out.line(&format!(
            "{} resources, {} a month; fixing the {} open findings saves {} a month",
            cell(&s["resources"]),
            out.paint(&dollars(&s["monthly_cost_usd"]), Style::Bold),
            cell(&s["findings"]["open"]),
            out.paint(&dollars(&s["findings"]["monthly_savings_usd"]), Style::Good),
        ));
        let tally = |key: &str| -> Vec<Vec<String>> {
            s[key]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    vec![
                        k.clone(),
                        cell(&v["resources"]),
                        dollars(&v["monthly_cost_usd"]),
                    ]
                })
                .collect()
        };
        out.table(&["SERVICE", "RESOURCES", "MONTHLY"], &tally("by_service"));
        out.table(&["REGION", "RESOURCES", "MONTHLY"], &tally("by_region"));
        let severities: Vec<Vec<String>> = s["findings"]["by_severity"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| vec![k.clone(), cell(v)])
            .collect();
        out.table(&["SEVERITY", "OPEN"], &severities);
        if let Some(scan) = s["last_scan"].as_object() {
            out.line(&format!(
                "last scan {} {} at {}",
                cell(&scan["scan_id"]),
                cell(&scan["status"]),
                cell(&scan["finished_at"])
            ));
        }
    });
    Ok(())
}

pub async fn act(
    api: &Api,
    out: &Output,
    arn: String,
    action: String,
    apply: bool,
    reason: Option<String>,
    yes: bool,
) -> Result<()> {
    if apply {
        if reason.as_deref().is_none_or(str::is_empty) {
            return Err(CliError::bad_input(
                "--apply needs --reason: every real action is audited with why",
            ));
        }
        if !yes {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::bad_input(
                    "--apply asks for confirmation: pass --yes when not at a terminal",
                ));
            }
            eprint!("{action} on {arn} for real? type yes: ");
            let _ = std::io::stderr().flush();
            if read_line(&mut std::io::stdin().lock())? != "yes" {
                return Err(CliError::bad_input("not confirmed; nothing was done"));
            }
        }
    }
    let mut body = json!({"resource_arn": arn, "action": action, "dry_run": !apply});
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    let record = api.post("/v1/actions", &body).await?;
    let status = record["status"].as_str().unwrap_or("?").to_owned();
    out.show(&record, |out| {
        let style = match status.as_str() {
            "done" | "planned" => Style::Good,
            "refused" => Style::Warn,
            _ => Style::Bad,
        };
        out.line(&format!(
            "{}: {}",
            out.paint(&status, style),
            cell(&record["message"])
        ));
    });
    match status.as_str() {
        "refused" => Err(CliError::new(
            Exit::Conflict,
            format!("refused: {}", cell(&record["message"])),
        )),
        "failed" => Err(CliError::new(
            Exit::Failure,
            format!(
                "failed ({}): {}",
                cell(&record["error_code"]),
                cell(&record["message"])
            ),
        )),
        _ => Ok(()),
    }
}

fn account_body(a: &AccountArgs) -> Value {
    let mut body = json!({"name": a.name});
    for (key, value) in [
        ("role_arn", &a.role_arn),
        ("external_id", &a.external_id),
        ("remediation_role_arn", &a.remediation_role_arn),
    ] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if !a.regions.is_empty() {
        body["regions"] = json!(a.regions);
    }
    body
}

const ACCOUNT_FIELDS: [&str; 4] = ["account_id", "name", "role_arn", "regions"];

pub async fn accounts(api: &Api, out: &Output, command: Accounts) -> Result<()> {
    match command {
        Accounts::Add(a) => {
            let account = api.post("/v1/accounts", &account_body(&a)).await?;
            out.show(&account, |out| {
                out.table(
                    &["ACCOUNT", "NAME", "ROLE", "REGIONS"],
                    &rows(std::slice::from_ref(&account), &ACCOUNT_FIELDS),
                )
            });
        }
        Accounts::Test(a) => {
            let test = api.post("/v1/accounts/test", &account_body(&a)).await?;
            out.show(&test, |out| {
                if test["ok"] == true {
                    out.line(&format!(
                        "{} account {}, {} regions available",
                        out.paint("ok", Style::Good),
                        cell(&test["account_id"]),
                        test["regions_available"].as_array().map_or(0, Vec::len)
                    ));
                } else {
                    out.line(&format!(
                        "{} {}",
                        out.paint("failed", Style::Bad),
                        cell(&test["error"])
                    ));
                }
            });
            if test["ok"] != true {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("the connection test failed: {}", cell(&test["error"])),
                ));
            }
        }
        Accounts::List => {
            let items = list_all(api, "/v1/accounts").await?;
            show_list(
                out,
                items,
                &["ACCOUNT", "NAME", "ROLE", "REGIONS"],
                &ACCOUNT_FIELDS,
            );
        }
        Accounts::Delete { account_id } => {
            let path = format!("/v1/accounts/{}", segment(&account_id));
            delete(api, out, &path, "account", &account_id).await?;
        }
    }
    Ok(())
}

pub async fn keys(api: &Api, out: &Output, command: Keys) -> Result<()> {
    match command {
        Keys::Create {
            name,
            expires_in_days,
        } => {
            let mut body = json!({"name": name});
            if let Some(days) = expires_in_days {
                body["expires_in_days"] = json!(days);
            }
            let key = api.post("/v1/auth/api-keys", &body).await?;
            out.show(&key, |out| {
                out.line(&cell(&key["key"]));
                out.note(&format!(
                    "API key {} ({}), expires {}: shown once, keep it secret (CLOUDKEEP_API_KEY)",
                    cell(&key["id"]),
                    cell(&key["name"]),
                    cell(&key["expires_at"])
                ));
            });
        }
        Keys::List => {
            let items = list_all(api, "/v1/auth/api-keys").await?;
            show_list(
                out,
                items,
                &["ID", "NAME", "PREFIX", "CREATED", "EXPIRES"],
                &["id", "name", "prefix", "created_at", "expires_at"],
            );
        }
        Keys::Delete { id } => {
            let path = format!("/v1/auth/api-keys/{}", segment(&id));
            delete(api, out, &path, "API key", &id).await?;
        }
    }
    Ok(())
}

pub async fn users(api: &Api, out: &Output, command: Users) -> Result<()> {
    match command {
        Users::List { page } => {
            let items = list(api, "/v1/users", &page).await?;
            show_list(
                out,
                items,
                &["USERNAME", "EMAIL", "ROLES", "GROUPS", "DISABLED"],
                &["username", "email", "roles", "groups", "disabled"],
            );
        }
        Users::Update {
            username,
            roles,
            groups,
            disable,
            enable,
        } => {
            let mut body = json!({});
            if let Some(roles) = roles {
                body["roles"] = json!(roles);
            }
            if let Some(groups) = groups {
                body["groups"] = json!(
                    groups
                        .into_iter()
                        .filter(|g| !g.is_empty())
                        .collect::<Vec<_>>()
                );
            }
            if disable || enable {
                body["disabled"] = json!(disable);
            }
            if body.as_object().is_some_and(serde_json::Map::is_empty) {
                return Err(CliError::bad_input(
                    "nothing to change: pass --roles, --groups, --disable or --enable",
                ));
            }
            let user = api
                .patch(&format!("/v1/users/{}", segment(&username)), &body)
                .await?;
            show_user(out, &user);
        }
    }
    Ok(())
}

pub async fn report(
    api: &Api,
    out: &Output,
    format: ReportFormat,
    kind: ReportKind,
    output: &std::path::Path,
    filters: Vec<String>,
    force: bool,
) -> Result<()> {
    if output.exists() && !force {
        return Err(CliError::new(
            Exit::Conflict,
            format!("{} exists: pass --force to overwrite it", output.display()),
        ));
    }
    let mut map = serde_json::Map::new();
    for filter in filters {
        let Some((k, v)) = filter.split_once('=') else {
            return Err(CliError::bad_input(format!(
                "--filter {filter:?} is not NAME=VALUE"
            )));
        };
        map.insert(k.to_owned(), json!(v));
    }
    let body = json!({"format": value_name(format), "kind": value_name(kind), "filters": map});
    let report = api.post("/v1/reports", &body).await?;
    let url = report["url"].as_str().unwrap_or_default();
    let response = api
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| CliError::network("the bucket", e))?;
    if !response.status().is_success() {
        return Err(CliError::new(
            Exit::Unavailable,
            format!("the bucket answered {} for the report", response.status()),
        ));
    }
    // Streamed to the file: a report of 100,000 findings is tens of MB.
    let size = match save(response, output).await {
        Ok(size) => size,
        Err(e) => {
            let _ = std::fs::remove_file(output);
            return Err(e);
        }
    };
    let result = json!({"path": output, "rows": report["rows"], "size": size});
    out.show(&result, |out| {
        out.line(&format!(
            "wrote {} ({} rows, {})",
            output.display(),
            cell(&report["rows"]),
            bytes(size)
        ));
    });
    Ok(())
}

async fn save(response: reqwest::Response, path: &std::path::Path) -> Result<u64> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| CliError::io("write", path, &e))?;
    let mut body = response.bytes_stream();
    let mut size = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::network("the bucket", e))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| CliError::io("write", path, &e))?;
        size += chunk.len() as u64;
    }
    file.flush()
        .await
        .map_err(|e| CliError::io("write", path, &e))?;
    Ok(size)
}

fn value_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}
