// cloudkeep console: one ES module, no build step, no third-party code.
// The access token lives in memory only; the refresh token in sessionStorage
// (this tab), so a reload signs in again silently and closing the tab ends it.
// Every text from the API goes into the page as text, never as HTML.

const REFRESH_KEY = "cloudkeep.refresh";
const session = { access: null, refresh: sessionStorage.getItem(REFRESH_KEY), user: null };

/** An API answer that was not a 2xx: its contract error body, kept whole. */
class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.requestId = body?.request_id || null;
  }
}

/**
 * Who the access token says the caller is (its `sub`, `roles`, `groups`), so
 * that a load needs no `/v1/auth/me` round trip. Only for what the page shows:
 * the API checks every request's token itself.
 */
function claims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
    return { username: String(json.sub), roles: Array.isArray(json.roles) ? json.roles : [], groups: Array.isArray(json.groups) ? json.groups : [] };
  } catch {
    return null;
  }
}

function keep(pair) {
  session.access = pair.access_token;
  session.refresh = pair.refresh_token;
  session.user = claims(pair.access_token);
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
}

function forget() {
  session.access = session.refresh = session.user = null;
  sessionStorage.removeItem(REFRESH_KEY);
}

async function send(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (session.access) headers.authorization = `Bearer ${session.access}`;
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function refresh() {
  if (!session.refresh) return false;
  const response = await send("/v1/auth/refresh", { method: "POST", body: { refresh_token: session.refresh } });
  if (!response.ok) {
    forget();
    return false;
  }
  keep(await response.json());
  return true;
}

/** Calls the API; an expired access token is refreshed once, silently. */
async function api(path, options) {
  let response = await send(path, options);
  if (response.status === 401 && session.refresh && (await refresh())) response = await send(path, options);
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiFailure(response.status, body);
  return body;
}

/** `h("td", {class: "num"}, "text", child)`: an element, its attributes, its children as text or nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svgEl(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const usd = (n) => `$${Number(n || 0).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const main = () => document.getElementById("main");

function show(...nodes) {
  main().replaceChildren(...nodes);
  main().focus({ preventScroll: true });
}

/** The API's message and request id, as the contract gives them. */
function failure(err) {
  const box = h("div", { class: "error", role: "alert" }, err.message);
  if (err.requestId) box.append(h("div", { class: "muted" }, `request id: ${err.requestId}`));
  return box;
}

/** "Previous page" (back through history) and "Next page" (the API's cursor) for a list screen at `screen`. */
function pager(screen, params, page) {
  const box = h("div", { class: "pager" });
  if (params.get("cursor")) box.append(h("button", { type: "button", class: "quiet", onclick: () => history.back() }, "Previous page"));
  if (page.next_cursor) {
    const next = new URLSearchParams(params);
    next.set("cursor", page.next_cursor);
    box.append(h("a", { href: `#/${screen}?${next}` }, "Next page"));
  }
  return box;
}

// ------------------------------------------------------------------ sign-in

function signIn(problem) {
  document.getElementById("nav").hidden = true;
  const form = h(
    "form",
    { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    problem ? failure(problem) : null,
    h("label", {}, "Username", h("input", { name: "username", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      keep(await api("/v1/auth/login", { method: "POST", body: { username: data.get("username"), password: data.get("password") } }));
      await route();
    } catch (err) {
      signIn(err);
    }
  });
  show(form);
  form.querySelector("input").focus();
}

async function signOut() {
  const token = session.refresh;
  try {
    if (token) await api("/v1/auth/logout", { method: "POST", body: { refresh_token: token } });
  } finally {
    forget();
    location.hash = "#/overview";
    signIn();
  }
}

// ------------------------------------------------------------------ overview

/** A horizontal bar chart of `{label: {monthly_cost_usd}}`, largest first. */
function barChart(title, tallies) {
  const rows = Object.entries(tallies || {})
    .map(([label, t]) => [label, Number(t.monthly_cost_usd || 0)])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10);
  const most = Math.max(1, ...rows.map((r) => r[1]));
  const height = 22 * rows.length + 4;
  const svg = svgEl("svg", { viewBox: `0 0 400 ${height}`, width: "100%", role: "img", "aria-label": title });
  rows.forEach(([label, cost], i) => {
    const y = 22 * i + 2;
    svg.append(
      svgEl("text", { x: 0, y: y + 14 }, label),
      svgEl("rect", { class: "bar", x: 130, y: y + 3, height: 14, width: Math.max(1, (cost / most) * 190) }),
      svgEl("text", { x: 396, y: y + 14, "text-anchor": "end" }, usd(cost)),
    );
  });
  return h("figure", {}, h("figcaption", {}, title), rows.length ? svg : h("p", { class: "muted" }, "Nothing yet."));
}

function card(label, value, id) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value", id }, value));
}

async function overview() {
  const summary = await api("/v1/summary");
  const f = summary.findings || {};
  const scan = summary.last_scan;
  show(
    h("h1", {}, "Overview"),
    h(
      "div",
      { class: "cards" },
      card("Monthly cost", usd(summary.monthly_cost_usd), "total-cost"),
      card("Savings from open findings", usd(summary.monthly_savings_usd), "total-savings"),
      card("Open findings", f.open ?? 0, "open-findings"),
      card("Resources", summary.resources ?? 0, "resources"),
    ),
    h(
      "p",
      { id: "last-scan" },
      scan ? `Last scan ${scan.status}, started ${scan.started_at}${scan.finished_at ? `, finished ${scan.finished_at}` : ""}.` : "No scan has run yet.",
    ),
    h("h2", {}, "Open findings by severity"),
    h(
      "div",
      { class: "cards" },
      ["critical", "high", "medium", "low"].map((s) =>
        h("a", { class: "card", href: `#/findings?severity=${s}&status=open` }, h("div", { class: `label sev ${s}` }, s), h("div", { class: "value" }, f.by_severity?.[s] ?? 0)),
      ),
    ),
    h("div", { class: "charts" }, barChart("Monthly cost by service", summary.by_service), barChart("Monthly cost by region", summary.by_region)),
  );
  // The moment the totals are on screen, in the performance timeline (BENCHMARKS.md measures it).
  performance.mark("cloudkeep:totals-drawn");
}

// ------------------------------------------------------------------ findings

const FILTERS = {
  severity: ["critical", "high", "medium", "low"],
  category: ["security", "cost", "reliability"],
  service: ["ec2", "rds", "s3", "lambda", "elbv2", "iam", "kms", "secretsmanager", "logs", "dynamodb"],
  status: ["open", "resolved", "suppressed"],
};

/** The findings filters typed rather than chosen. */
const TYPED_FILTERS = { account_id: { placeholder: "123456789012", size: 13, pattern: "[0-9]{12}" }, region: { placeholder: "eu-west-1", size: 12 } };

async function findings(params) {
  const query = new URLSearchParams();
  for (const name of [...Object.keys(FILTERS), ...Object.keys(TYPED_FILTERS)]) if (params.get(name)) query.set(name, params.get(name));
  query.set("limit", "50");
  if (params.get("cursor")) query.set("cursor", params.get("cursor"));
  const page = await api(`/v1/findings?${query}`);

  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter findings" },
    Object.entries(FILTERS).map(([name, values]) =>
      h(
        "label",
        {},
        name,
        h("select", { name }, h("option", { value: "" }, "any"), values.map((v) => h("option", { value: v, selected: params.get(name) === v }, v))),
      ),
    ),
    Object.entries(TYPED_FILTERS).map(([name, attrs]) => h("label", {}, name.replace("_id", ""), h("input", { name, value: params.get(name) || "", ...attrs }))),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) next.set(name, value);
    location.hash = `#/findings?${next}`;
  });

  const admin = session.user?.roles?.includes("admin");
  /** Suppress (with a reason and an optional end) or unsuppress one finding, in its row. */
  const decide = (item) => {
    const cell = h("td", { class: "decide" });
    const statusCell = () => cell.parentElement?.querySelector("td.status");
    const change = async (method, body) => {
      try {
        const finding = await api(`/v1/findings/${item.finding_id}/suppress`, { method, body });
        item.status = finding.status;
        statusCell().textContent = finding.status;
        draw();
      } catch (err) {
        cell.replaceChildren(failure(err));
      }
    };
    const draw = () => {
      if (item.status === "suppressed") {
        cell.replaceChildren(h("button", { type: "button", class: "quiet", onclick: () => change("DELETE") }, "Unsuppress"));
        return;
      }
      const form = h(
        "form",
        { class: "suppress", "aria-label": `Suppress ${item.title}` },
        h("label", {}, "reason", h("input", { name: "reason", required: true, maxlength: 500 })),
        h("label", {}, "until (optional)", h("input", { name: "until", type: "date" })),
        h("button", { type: "submit" }, "Suppress"),
      );
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const body = { reason: data.get("reason") };
        if (data.get("until")) body.until = `${data.get("until")}T00:00:00Z`;
        change("POST", body);
      });
      cell.replaceChildren(h("details", {}, h("summary", {}, "Suppress…"), form));
    };
    draw();
    return cell;
  };
  const rows = page.items.map((item) =>
    h(
      "tr",
      { "data-finding": item.finding_id },
      h("td", { class: `sev ${item.severity}` }, item.severity),
      h("td", {}, h("strong", {}, item.title), h("div", { class: "muted" }, item.recommendation)),
      h("td", {}, resourceLink(item.resource_arn, item.resource_id), h("div", { class: "muted" }, item.resource_type)),
      h("td", { class: "hide-narrow region" }, item.region),
      h("td", { class: "num" }, usd(item.monthly_savings_usd)),
      h("td", { class: "status" }, item.status),
      admin && item.status !== "resolved" ? decide(item) : h("td", {}),
    ),
  );
  const table = h(
    "table",
    { id: "findings" },
    h("caption", { class: "muted" }, `${page.items.length} finding${page.items.length === 1 ? "" : "s"} on this page`),
    h(
      "thead",
      {},
      h("tr", {}, h("th", { scope: "col" }, "Severity"), h("th", { scope: "col" }, "Finding"), h("th", { scope: "col" }, "Resource"), h("th", { scope: "col", class: "hide-narrow" }, "Region"), h("th", { scope: "col", class: "num" }, "Saves / month"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, h("span", { class: "hide-narrow" }, "Decide"))),
    ),
    h("tbody", {}, rows),
  );
  show(h("h1", {}, "Findings"), form, table, pager("findings", params, page));
}

// ------------------------------------------------------------------ inventory

/** The action that removes or stops a resource of each type, where there is one. */
const ACTIONS = {
  "ec2:instance": "ec2.stop_instance",
  "ec2:elastic-ip": "ec2.release_address",
  "ec2:volume": "ec2.delete_volume",
  "ec2:snapshot": "ec2.delete_snapshot",
  "ec2:nat-gateway": "ec2.delete_nat_gateway",
  "rds:db-instance": "rds.stop_db_instance",
  "s3:bucket": "s3.delete_bucket",
};

const resourceLink = (arn, text) => h("a", { href: `#/resource?arn=${encodeURIComponent(arn)}` }, text);

async function resources(params) {
  const query = new URLSearchParams();
  for (const name of ["service", "region", "q"]) if (params.get(name)) query.set(name, params.get(name));
  query.set("limit", "50");
  if (params.get("cursor")) query.set("cursor", params.get("cursor"));
  const page = await api(`/v1/resources?${query}`);
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter resources" },
    h("label", {}, "service", h("select", { name: "service" }, h("option", { value: "" }, "any"), FILTERS.service.map((v) => h("option", { value: v, selected: params.get("service") === v }, v)))),
    h("label", {}, "region", h("input", { name: "region", value: params.get("region") || "", placeholder: "eu-west-1", size: 12 })),
    h("label", {}, "search", h("input", { name: "q", type: "search", value: params.get("q") || "", placeholder: "name, id or tag" })),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) next.set(name, value);
    location.hash = `#/resources?${next}`;
  });
  const table = h(
    "table",
    { id: "resources" },
    h("caption", { class: "muted" }, `${page.items.length} resource${page.items.length === 1 ? "" : "s"} on this page`),
    h("thead", {}, h("tr", {}, ["Resource", "Type", "Region", "State"].map((c) => h("th", { scope: "col" }, c)), h("th", { scope: "col", class: "num" }, "Monthly cost"))),
    h(
      "tbody",
      {},
      page.items.map((r) =>
        h("tr", {}, h("td", {}, resourceLink(r.arn, r.name || r.id)), h("td", {}, r.type), h("td", { class: "region" }, r.region), h("td", {}, r.state ?? ""), h("td", { class: "num" }, usd(r.monthly_cost_usd))),
      ),
    ),
  );
  show(h("h1", {}, "Inventory"), form, table, pager("resources", params, page));
}

async function resource(params) {
  const arn = params.get("arn") || "";
  const r = await api(`/v1/resources/${encodeURIComponent(arn)}`);
  const action = ACTIONS[r.type];
  const outcome = h("div", { id: "action-outcome", "aria-live": "polite" });
  const dryRun = async () => {
    try {
      const record = await api("/v1/actions", { method: "POST", body: { resource_arn: r.arn, action } });
      outcome.replaceChildren(h("p", { class: "card" }, h("strong", {}, `${record.status}: `), record.message));
      if (record.status === "planned") outcome.append(applyForm());
    } catch (err) {
      outcome.replaceChildren(failure(err));
    }
  };
  /** The real action: the resource's id typed in full, and a reason, for the audit log. */
  const applyForm = () => {
    const form = h(
      "form",
      { class: "filters", id: "apply-form", "aria-label": "Apply the action" },
      h("label", {}, `type ${r.id} to confirm`, h("input", { name: "confirm", autocomplete: "off", required: true })),
      h("label", {}, "reason", h("input", { name: "reason", required: true, maxlength: 500, size: 40 })),
      h("button", { type: "submit" }, `Apply ${action}`),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      if (data.get("confirm") !== r.id) {
        outcome.append(h("div", { class: "error", role: "alert" }, `Type ${r.id} exactly to confirm.`));
        return;
      }
      try {
        const record = await api("/v1/actions", { method: "POST", body: { resource_arn: r.arn, action, dry_run: false, reason: data.get("reason") } });
        outcome.replaceChildren(h("p", { class: "card", id: "applied" }, h("strong", {}, `${record.status}: `), record.message));
      } catch (err) {
        outcome.replaceChildren(failure(err));
      }
    });
    return form;
  };
  const admin = session.user?.roles?.includes("admin");
  show(
    h("h1", {}, r.name || r.id),
    h(
      "div",
      { class: "cards" },
      card("Type", r.type),
      card("State", r.state ?? "—"),
      card("Region", r.region),
      card("Monthly cost", usd(r.monthly_cost_usd), "resource-cost"),
    ),
    h("p", { class: "muted" }, r.arn),
    action && admin ? h("p", {}, h("button", { type: "button", id: "dry-run", onclick: dryRun }, `Dry run ${action}`)) : null,
    outcome,
    h("h2", {}, "Findings"),
    r.findings.length
      ? h(
          "table",
          { id: "resource-findings" },
          h("thead", {}, h("tr", {}, ["Severity", "Finding", "Status"].map((c) => h("th", { scope: "col" }, c)), h("th", { scope: "col", class: "num" }, "Saves / month"))),
          h("tbody", {}, r.findings.map((f) => h("tr", {}, h("td", { class: `sev ${f.severity}` }, f.severity), h("td", {}, h("strong", {}, f.title), h("div", { class: "muted" }, f.recommendation)), h("td", {}, f.status), h("td", { class: "num" }, usd(f.monthly_savings_usd))))),
        )
      : h("p", { class: "muted" }, "No findings."),
    h("h2", {}, "Tags"),
    Object.keys(r.tags || {}).length
      ? h("table", {}, h("tbody", {}, Object.entries(r.tags).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))))
      : h("p", { class: "muted" }, "No tags."),
    h("h2", {}, "Properties"),
    h("pre", { class: "card" }, JSON.stringify(r.properties, null, 2)),
  );
}

// ------------------------------------------------------------------ scans

async function scans() {
  const page = await api("/v1/scans?limit=20");
  const admin = session.user?.roles?.includes("admin");
  const start = async () => {
    try {
      const queued = await api("/v1/scans", { method: "POST", body: {} });
      location.hash = `#/scan?id=${queued.scan_id}`;
    } catch (err) {
      main().prepend(failure(err));
    }
  };
  show(
    h("h1", {}, "Scans"),
    admin ? h("p", {}, h("button", { type: "button", id: "start-scan", onclick: start }, "Scan every account now")) : null,
    h(
      "table",
      { id: "scans" },
      h("thead", {}, h("tr", {}, ["Scan", "Status", "Trigger", "Started", "Finished"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, page.items.map((s) => h("tr", {}, h("td", {}, h("a", { href: `#/scan?id=${s.scan_id}` }, s.scan_id.slice(0, 8))), h("td", {}, s.status), h("td", {}, s.trigger), h("td", {}, s.started_at), h("td", {}, s.finished_at ?? "")))),
    ),
  );
}

/** Jobs shown on a scan's page: a scan of many accounts says how many more there are. */
const JOBS_SHOWN = 200;

/** One scan and its jobs, redrawn every second until it ends. */
async function scan(params) {
  const id = encodeURIComponent(params.get("id") || "");
  const [s, jobs] = await Promise.all([api(`/v1/scans/${id}`), api(`/v1/scans/${id}/jobs?limit=${JOBS_SHOWN}`)]);
  const counts = Object.entries(s.counts || {});
  const errorsOf = (job) => (s.errors || []).filter((e) => e.account_id === job.account_id && e.region === job.region);
  show(
    h("h1", {}, "Scan"),
    h("p", { id: "scan-status" }, `${s.status}: ${s.jobs_done ?? 0} of ${s.jobs_total ?? 0} jobs done`),
    h("progress", { max: s.jobs_total || 1, value: s.jobs_done || 0, "aria-label": "jobs done" }),
    counts.length ? h("p", {}, "Found: ", counts.map(([service, n]) => `${service} ${n}`).join(", ")) : null,
    h(
      "table",
      { id: "scan-jobs" },
      h("caption", { class: "muted" }, jobs.next_cursor ? `The first ${jobs.items.length} of ${s.jobs_total} jobs` : "Each job: an account in a region, or its global services"),
      h("thead", {}, h("tr", {}, ["Account", "Region", "Status", "Since", "Errors"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        jobs.items.map((job) =>
          h(
            "tr",
            {},
            h("td", {}, job.account_id),
            h("td", { class: "region" }, job.region),
            h("td", { class: `job ${job.status}` }, job.status),
            h("td", {}, job.status_at ?? ""),
            h("td", {}, errorsOf(job).map((e) => h("div", {}, `${e.service}: ${e.code}, ${e.message}`))),
          ),
        ),
      ),
    ),
  );
  const final = ["succeeded", "partial", "failed"].includes(s.status);
  if (!final) {
    setTimeout(() => {
      if (location.hash === `#/scan?id=${params.get("id")}`) route();
    }, 1000);
  }
}

// ------------------------------------------------------------------ accounts

async function accounts() {
  const page = await api("/v1/accounts");
  const field = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, ...attrs }));
  const answer = h("div", { id: "account-answer", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", id: "account-form", "aria-label": "Register an account" },
    field("name", "name", { required: true, maxlength: 64 }),
    field("role_arn", "read-only role ARN", { placeholder: "arn:aws:iam::123456789012:role/cloudkeep-readonly", size: 44 }),
    field("external_id", "external id"),
    field("remediation_role_arn", "remediation role ARN (optional)", { size: 44 }),
    field("regions", "regions (comma-separated; all when empty)"),
    h("button", { type: "button", class: "quiet", id: "test-account" }, "Test connection"),
    h("button", { type: "submit" }, "Register"),
  );
  const body = () => {
    const data = new FormData(form);
    const out = { name: data.get("name") || "" };
    for (const key of ["role_arn", "external_id", "remediation_role_arn"]) if (data.get(key)) out[key] = data.get(key);
    const regions = String(data.get("regions") || "").split(",").map((r) => r.trim()).filter(Boolean);
    if (regions.length) out.regions = regions;
    return out;
  };
  form.querySelector("#test-account").addEventListener("click", async () => {
    try {
      const test = await api("/v1/accounts/test", { method: "POST", body: body() });
      answer.replaceChildren(h("p", { class: "card" }, test.ok ? `Connected to ${test.account_id}: ${test.regions_available.length} regions.` : `Not connected: ${test.error}`));
    } catch (err) {
      answer.replaceChildren(failure(err));
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/v1/accounts", { method: "POST", body: body() });
      await route();
    } catch (err) {
      answer.replaceChildren(failure(err));
    }
  });
  const templates = h("div", {});
  for (const [file, title] of [
    ["customer-readonly-role.yaml", "The read-only role to deploy in an account (CloudFormation)"],
    ["customer-remediation-role.yaml", "The remediation role, to let cloudkeep act there (CloudFormation)"],
  ]) {
    const text = await fetch(`/app/${file}`).then((r) => r.text());
    templates.append(h("details", {}, h("summary", {}, title), h("pre", { class: "card" }, text)));
  }
  show(
    h("h1", {}, "Accounts"),
    h(
      "table",
      { id: "accounts" },
      h("thead", {}, h("tr", {}, ["Account", "Name", "Role", "Remediation role", "Regions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, page.items.map((a) => h("tr", {}, h("td", {}, a.account_id), h("td", {}, a.name), h("td", {}, a.role_arn ?? "this backend's own"), h("td", {}, a.remediation_role_arn ?? "none: read only"), h("td", {}, a.regions.join(", "))))),
    ),
    h("h2", {}, "Register an account"),
    form,
    answer,
    templates,
  );
}

// ------------------------------------------------------------------ actions

async function actionLog(params) {
  const query = new URLSearchParams({ limit: "50" });
  if (params.get("cursor")) query.set("cursor", params.get("cursor"));
  const page = await api(`/v1/actions?${query}`);
  show(
    h("h1", {}, "Actions"),
    h(
      "table",
      { id: "actions" },
      h("caption", { class: "muted" }, "The audit log, newest first: every action, dry or real, whatever its end."),
      h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Resource", "Status", "What"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        page.items.map((a) =>
          h("tr", {}, h("td", {}, a.requested_at), h("td", {}, a.by), h("td", {}, a.action, a.dry_run ? h("div", { class: "muted" }, "dry run") : null), h("td", {}, resourceLink(a.resource_arn, a.resource_arn.split(/[:/]/).pop())), h("td", {}, a.status, a.error_code ? h("div", { class: "muted" }, a.error_code) : null), h("td", {}, a.message, a.reason ? h("div", { class: "muted" }, `why: ${a.reason}`) : null)),
        ),
      ),
    ),
    pager("actions", params, page),
  );
}

// ------------------------------------------------------------------ packages

const RANK = { reader: 0, publisher: 1, admin: 2 };
/** Roles are cumulative: admin ⊇ publisher ⊇ reader. */
const may = (role) => (session.user?.roles || []).some((r) => (RANK[r] ?? -1) >= RANK[role]);
const bytes = (n) => {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(n || 0);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toLocaleString("en-US", { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
};
const packagePath = (name, version) =>
  `/v1/packages/${encodeURIComponent(name)}${version === undefined ? "" : `/versions/${encodeURIComponent(version)}`}`;
const packageLink = (name, version, text) =>
  h("a", { href: version === undefined ? `#/package?name=${encodeURIComponent(name)}` : `#/version?name=${encodeURIComponent(name)}&version=${encodeURIComponent(version)}` }, text);

async function packages(params) {
  const query = new URLSearchParams({ limit: "50" });
  if (params.get("q")) query.set("q", params.get("q"));
  if (params.get("cursor")) query.set("cursor", params.get("cursor"));
  const page = await api(`/v1/packages?${query}`);
  const form = h(
    "form",
    { class: "filters", "aria-label": "Search packages" },
    h("label", {}, "search", h("input", { name: "q", type: "search", value: params.get("q") || "", placeholder: "name or description" })),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new FormData(form).get("q");
    location.hash = q ? `#/packages?${new URLSearchParams({ q })}` : "#/packages";
  });
  show(
    h("h1", {}, "Packages"),
    may("publisher") ? h("p", {}, h("a", { href: "#/upload", id: "upload-link" }, "Upload a package")) : null,
    form,
    h(
      "table",
      { id: "packages" },
      h("caption", { class: "muted" }, `${page.items.length} package${page.items.length === 1 ? "" : "s"} on this page`),
      h("thead", {}, h("tr", {}, ["Package", "Latest", "Description", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        page.items.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, packageLink(p.name, undefined, p.name), p.sensitive ? h("div", { class: "muted" }, "sensitive") : null),
            h("td", {}, p.latest_version ? packageLink(p.name, p.latest_version, p.latest_version) : "—"),
            h("td", {}, p.description ?? ""),
            h("td", {}, p.updated_at ?? ""),
          ),
        ),
      ),
    ),
    pager("packages", params, page),
  );
}

/** Asks for a presigned GET and lets the browser follow it (the URL is never shown or kept). */
async function download(name, version, where) {
  try {
    const answer = await api(`${packagePath(name, version)}/download`);
    if (answer.yanked) where.replaceChildren(h("p", { class: "error", role: "alert" }, `This version is yanked: ${answer.yank_reason || "no reason given"}.`));
    window.location.assign(answer.url);
  } catch (err) {
    where.replaceChildren(failure(err));
  }
}

const DOWNLOADABLE = ["published", "yanked"];

async function packageDetail(params) {
  const name = params.get("name") || "";
  const p = await api(packagePath(name));
  const notice = h("div", { "aria-live": "polite" });
  show(
    h("h1", {}, p.name),
    h("p", {}, p.description ?? ""),
    h("p", { class: "muted" }, `owner ${p.owner}`, p.sensitive ? ` · sensitive, for ${p.groups.join(", ") || "admins only"}` : ""),
    notice,
    h(
      "table",
      { id: "versions" },
      h("thead", {}, h("tr", {}, ["Version", "Status", "Published"].map((c) => h("th", { scope: "col" }, c)), h("th", { scope: "col", class: "num" }, "Size"), h("th", { scope: "col" }, ""))),
      h(
        "tbody",
        {},
        p.versions.map((v) =>
          h(
            "tr",
            {},
            h("td", {}, packageLink(p.name, v.version, v.version)),
            h("td", { class: "status" }, v.status),
            h("td", {}, v.published_at ?? ""),
            h("td", { class: "num" }, bytes(v.size)),
            h("td", {}, DOWNLOADABLE.includes(v.status) ? h("button", { type: "button", class: "quiet", onclick: () => download(p.name, v.version, notice) }, "Download") : null),
          ),
        ),
      ),
    ),
  );
}

async function versionDetail(params) {
  const name = params.get("name") || "";
  const version = params.get("version") || "";
  const v = await api(packagePath(name, version));
  const notice = h("div", { "aria-live": "polite" });
  const checks = v.validation?.checks || [];
  show(
    h("h1", {}, `${v.name} ${v.version}`),
    h(
      "div",
      { class: "cards" },
      card("Status", v.status, "version-status"),
      card("Size", bytes(v.size)),
      card("Entries", v.validation?.entries ?? "—"),
      card("Uploaded by", v.uploaded_by ?? "—"),
    ),
    h("p", { class: "muted" }, `sha256 ${v.sha256 ?? "not yet known"}`),
    DOWNLOADABLE.includes(v.status) ? h("p", {}, h("button", { type: "button", id: "download", onclick: () => download(v.name, v.version, notice) }, "Download")) : null,
    notice,
    h("h2", {}, "Validation"),
    checks.length
      ? h(
          "table",
          { id: "checks" },
          h("thead", {}, h("tr", {}, ["Check", "Result", "What it found"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, checks.map((c) => h("tr", {}, h("td", {}, c.id), h("td", { class: c.ok ? "ok" : "bad" }, c.ok ? "passed" : "failed"), h("td", {}, c.message ?? "")))),
        )
      : h("p", { class: "muted" }, v.status === "validating" ? "Validating…" : "No report yet."),
    v.validation?.manifest ? h("details", {}, h("summary", {}, "Manifest"), h("pre", { class: "card" }, JSON.stringify(v.validation.manifest, null, 2))) : null,
  );
  if (v.status === "validating") {
    setTimeout(() => {
      if (location.hash.startsWith("#/version?")) route();
    }, 1000);
  }
}

// ------------------------------------------------------------------ upload

/** Parts in flight at once, and tries per part before the upload stops (resumable). */
const UPLOAD_JOBS = 4;
const PART_TRIES = 4;
const SAVED = "cloudkeep.upload.";
const savedKey = (fields) => `${SAVED}${fields.name}@${fields.version}`;

/**
 * `{name, version}` from the ZIP's `package.json`, read from the file's central
 * directory without loading the archive; `null` when it cannot be read.
 */
async function manifestOf(file) {
  try {
    const tail = new DataView(await file.slice(Math.max(0, file.size - 65557)).arrayBuffer());
    let end = -1;
    for (let i = tail.byteLength - 22; i >= 0; i -= 1) {
      if (tail.getUint32(i, true) === 0x06054b50) {
        end = i;
        break;
      }
    }
    if (end < 0) return null;
    const cdSize = tail.getUint32(end + 12, true);
    const cdOffset = tail.getUint32(end + 16, true);
    if (cdOffset === 0xffffffff || cdSize > 16 * 1024 * 1024) return null;
    const cd = new DataView(await file.slice(cdOffset, cdOffset + cdSize).arrayBuffer());
    for (let at = 0; at + 46 <= cd.byteLength && cd.getUint32(at, true) === 0x02014b50; ) {
      const method = cd.getUint16(at + 10, true);
      const compressed = cd.getUint32(at + 20, true);
      const nameLength = cd.getUint16(at + 28, true);
      const skip = nameLength + cd.getUint16(at + 30, true) + cd.getUint16(at + 32, true);
      const local = cd.getUint32(at + 42, true);
      const entry = new TextDecoder().decode(new Uint8Array(cd.buffer, at + 46, nameLength));
      if (entry === "package.json" && compressed <= 65536 && (method === 0 || method === 8)) {
        const header = new DataView(await file.slice(local, local + 30).arrayBuffer());
        const start = local + 30 + header.getUint16(26, true) + header.getUint16(28, true);
        let stream = file.slice(start, start + compressed).stream();
        if (method === 8) stream = stream.pipeThrough(new DecompressionStream("deflate-raw"));
        const manifest = JSON.parse(await new Response(stream).text());
        return { name: String(manifest.name || ""), version: String(manifest.version || "") };
      }
      at += 46 + skip;
    }
  } catch {
    // Not a ZIP we can read here: the publisher types the name and version.
  }
  return null;
}

/** The uploads this browser started and did not finish, from localStorage. */
function savedUploads() {
  const out = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key?.startsWith(SAVED)) continue;
    try {
      out.push({ key, ...JSON.parse(localStorage.getItem(key)) });
    } catch {
      localStorage.removeItem(key);
    }
  }
  return out;
}

/** One part's PUT to its presigned URL, reporting bytes sent; resolves to its ETag. */
function putPart(url, blob, onBytes) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (event) => onBytes(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader("ETag"));
      else reject(Object.assign(new Error(`the bucket answered ${xhr.status}`), { status: xhr.status }));
    };
    xhr.onerror = () => reject(new Error("the connection to the bucket failed"));
    xhr.send(blob);
  });
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Uploads `file` as `name@version` through presigned multipart URLs, parts in
 * parallel. The session is kept in localStorage until it completes, so that
 * choosing the same file after a reload (or a failure) sends only the parts
 * S3 does not have yet. `report(text, sent, total)` draws the progress.
 */
async function uploadFile(file, fields, report) {
  const key = savedKey(fields);
  const fingerprint = { name: fields.name, version: fields.version, file: file.name, size: file.size, modified: file.lastModified };
  const saved = JSON.parse(localStorage.getItem(key) || "null");
  let upload = null;
  const etags = new Map();
  if (saved && saved.file === file.name && saved.size === file.size && saved.modified === file.lastModified) {
    const status = await api(`/v1/uploads/${encodeURIComponent(saved.upload_id)}`).catch(() => null);
    if (status?.status === "uploading") {
      upload = { upload_id: saved.upload_id, part_size: status.part_size, part_count: status.part_count };
      for (const part of status.parts_done) etags.set(part.part_number, part.etag);
    }
  }
  const resumed = etags.size;
  const urls = new Map();
  if (!upload) {
    const body = { size: file.size };
    if (fields.description) body.description = fields.description;
    if (fields.sensitive) {
      body.sensitive = true;
      body.groups = fields.groups;
    }
    upload = await api(`${packagePath(fields.name, fields.version)}/uploads`, { method: "POST", body });
    localStorage.setItem(key, JSON.stringify({ ...fingerprint, upload_id: upload.upload_id }));
    for (const part of upload.parts) urls.set(part.part_number, part.url);
  }
  const size = (n) => (n < upload.part_count ? upload.part_size : file.size - upload.part_size * (upload.part_count - 1));
  const missing = [];
  for (let n = 1; n <= upload.part_count; n += 1) if (!etags.has(n)) missing.push(n);

  /** Fresh URLs for `numbers` (to resume, past the first 1,000, or after expiry). */
  const sign = async (numbers) => {
    for (let i = 0; i < numbers.length; i += 1000) {
      const signed = await api(`/v1/uploads/${encodeURIComponent(upload.upload_id)}/parts`, { method: "POST", body: { part_numbers: numbers.slice(i, i + 1000) } });
      for (const part of signed.parts) urls.set(part.part_number, part.url);
    }
  };
  const started = performance.now();
  let sent = [...etags.keys()].reduce((sum, n) => sum + size(n), 0);
  const inFlight = new Map();
  const draw = () => {
    const now = sent + [...inFlight.values()].reduce((a, b) => a + b, 0);
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0.5 ? ` · ${bytes(now / seconds)}/s` : "";
    const again = resumed ? ` · resumed: ${resumed} of ${upload.part_count} parts were already uploaded` : "";
    report(`${bytes(now)} of ${bytes(file.size)}${rate} · ${etags.size} of ${upload.part_count} parts${again}`, now, file.size);
  };
  draw();
  const queue = [...missing];
  const worker = async () => {
    while (queue.length) {
      const n = queue.shift();
      const from = (n - 1) * upload.part_size;
      for (let attempt = 1; ; attempt += 1) {
        try {
          if (!urls.has(n)) await sign([n, ...queue.filter((m) => !urls.has(m)).slice(0, 999)]);
          const etag = await putPart(urls.get(n), file.slice(from, from + size(n)), (loaded) => {
            inFlight.set(n, loaded);
            draw();
          });
          etags.set(n, etag);
          break;
        } catch (err) {
          inFlight.delete(n);
          // An expired or refused URL is signed again; anything else waits and retries.
          if (err.status === 403) urls.delete(n);
          if (attempt >= PART_TRIES) throw new Error(`part ${n} failed ${PART_TRIES} times (${err.message}); choose the file again to resume`);
          await pause(500 * 2 ** attempt);
        }
      }
      inFlight.delete(n);
      sent += size(n);
      draw();
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_JOBS, missing.length) }, worker));
  // The bucket's CORS exposes ETag; should a proxy hide it, S3's own list has it.
  if ([...etags.values()].some((e) => !e)) {
    const status = await api(`/v1/uploads/${encodeURIComponent(upload.upload_id)}`);
    for (const part of status.parts_done) etags.set(part.part_number, part.etag);
  }
  const parts = [...etags.entries()].sort((a, b) => a[0] - b[0]).map(([part_number, etag]) => ({ part_number, etag }));
  const done = await api(`/v1/uploads/${encodeURIComponent(upload.upload_id)}/complete`, { method: "POST", body: { parts } });
  localStorage.removeItem(key);
  return done;
}

async function uploadScreen() {
  if (!may("publisher")) throw new ApiFailure(403, { error: { message: "Uploading needs the publisher role." } });
  const progress = h("progress", { max: 1, value: 0, "aria-label": "bytes uploaded", hidden: true });
  const status = h("p", { id: "upload-status", "aria-live": "polite" });
  const problem = h("div", {});
  const result = h("p", { id: "upload-result", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "upload", id: "upload-form", "aria-label": "Upload a package" },
    h("label", {}, "ZIP file", h("input", { name: "file", type: "file", accept: ".zip,application/zip", required: true })),
    h("label", {}, "name", h("input", { name: "name", required: true, maxlength: 64, autocomplete: "off" })),
    h("label", {}, "version", h("input", { name: "version", required: true, maxlength: 64, autocomplete: "off" })),
    h("label", {}, "description (optional)", h("input", { name: "description", maxlength: 500 })),
    h("label", { class: "inline" }, h("input", { name: "sensitive", type: "checkbox" }), "sensitive: only these groups may download it"),
    h("label", {}, "groups (comma-separated)", h("input", { name: "groups" })),
    h("button", { type: "submit" }, "Upload"),
  );
  const input = (name) => form.querySelector(`[name=${name}]`);
  input("file").addEventListener("change", async () => {
    const file = input("file").files[0];
    const manifest = file ? await manifestOf(file) : null;
    if (manifest) {
      if (!input("name").value) input("name").value = manifest.name;
      if (!input("version").value) input("version").value = manifest.version;
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const file = input("file").files[0];
    const fields = {
      name: String(data.get("name")).trim(),
      version: String(data.get("version")).trim(),
      description: String(data.get("description") || "").trim(),
      sensitive: data.get("sensitive") === "on",
      groups: String(data.get("groups") || "").split(",").map((g) => g.trim()).filter(Boolean),
    };
    form.querySelector("button[type=submit]").disabled = true;
    problem.replaceChildren();
    progress.hidden = false;
    try {
      await uploadFile(file, fields, (text, sent, total) => {
        status.textContent = text;
        progress.max = total || 1;
        progress.value = sent;
      });
      for (const li of document.querySelectorAll("#interrupted li")) if (li.dataset.key === savedKey(fields)) li.remove();
      await verdict(fields, result);
    } catch (err) {
      problem.replaceChildren(failure(err));
      form.querySelector("button[type=submit]").disabled = false;
    }
  });
  const interrupted = savedUploads().map((u) =>
    h(
      "li",
      { "data-key": u.key },
      `${u.name} ${u.version}: ${u.file} (${bytes(u.size)}) was interrupted. Choose the same file with this name and version to resume it, or `,
      h(
        "button",
        {
          type: "button",
          class: "quiet",
          onclick: async (event) => {
            await api(`/v1/uploads/${encodeURIComponent(u.upload_id)}`, { method: "DELETE" }).catch(() => null);
            localStorage.removeItem(u.key);
            event.target.closest("li").remove();
          },
        },
        "discard it",
      ),
      ".",
    ),
  );
  show(
    h("h1", {}, "Upload a package"),
    h("p", { class: "muted" }, "The file goes straight to the bucket in parts, several at once; it is validated before anyone can download it."),
    interrupted.length ? h("ul", { id: "interrupted" }, interrupted) : null,
    form,
    progress,
    status,
    result,
    problem,
  );
}

/** Waits for the validator's verdict on an uploaded version and says it, linked to its report. */
async function verdict(fields, where) {
  while (where.isConnected) {
    const v = await api(packagePath(fields.name, fields.version));
    if (v.status !== "validating") {
      where.replaceChildren(`${v.name} ${v.version} is ${v.status}: `, packageLink(v.name, v.version, "see its validation report"), ".");
      return;
    }
    where.textContent = `${fields.name} ${fields.version} is uploaded and being validated…`;
    await pause(1000);
  }
}

// ------------------------------------------------------------------ routing

async function route() {
  const [path, query = ""] = (location.hash.slice(1) || "/overview").split("?");
  const params = new URLSearchParams(query);
  try {
    if (!session.access && !(await refresh())) return signIn();
    if (!session.user) session.user = await api("/v1/auth/me");
    document.getElementById("nav").hidden = false;
    document.getElementById("who").textContent = session.user?.username || "";
    const screens = {
      "/findings": findings,
      "/resources": resources,
      "/resource": resource,
      "/scans": scans,
      "/scan": scan,
      "/accounts": accounts,
      "/actions": actionLog,
      "/packages": packages,
      "/package": packageDetail,
      "/version": versionDetail,
      "/upload": uploadScreen,
    };
    const admin = session.user?.roles?.includes("admin");
    for (const id of ["nav-accounts", "nav-actions"]) document.getElementById(id).hidden = !admin;
    await (screens[path] || overview)(params);
  } catch (err) {
    if (err.status === 401) return signIn(err);
    show(h("h1", {}, "Something went wrong"), failure(err));
  }
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
