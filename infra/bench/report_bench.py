"""Report benchmark: the release `inventory` writing `POST /v1/reports` of
100,000 findings, through the Lambda Runtime API, with its peak RSS.

    report_bench.py moto PORT                       (the emulator, see below)
    report_bench.py run ENV_JSON RELEASE_DIR DEBUG_DIR --admin-password P
                    [--findings N] [--formats csv,pdf,ocsf] --moto-pid PID

`run`:

1. writes N findings straight into the inventory table, item for item as the
   scanner's `raise_one` stores them (`shared::findings::raised_values`,
   `key`, plus `first_seen`), for checks, severities and categories read
   from the catalogue (`shared/src/advisor/*.rs`), over 17 regions and the
   global listing of 4 accounts; a tenth of them resolved;
2. logs in as the admin through the `auth` function (the debug build: login
   is not what is measured) and keeps the access token;
3. checks the items parse: `GET /v1/findings?limit=200` through the release
   `inventory` must answer 200 with 200 findings, each one we wrote;
4. per format, in a fresh release `inventory` process: `POST /v1/reports`
   (`kind: findings`, no filters, so every row), timed from handing out the
   event to the answer; then the process's peak RSS (`VmHWM`) and CPU, and
   the emulator's CPU over the request; then the object is read back from
   S3 and its rows counted (CSV records, OCSF array entries, the PDF's
   `Total findings` line and its pages).

`moto`: the project's moto (patched by `infra/scripts/patch_moto.py`) with one
benchmark-only change. moto answers every DynamoDB `Query` by sorting the
whole table twice (`Table.all_items`, then `Table.sorted_items` for an
index) with Python comparisons, then walking the sorted list up to the
`ExclusiveStartKey`: about 25 s a page at 100,000 items, so a 500-page report
would take hours. Here, within a `Query`, both sorts are remembered until the
next DynamoDB write, and an ascending query starts at its start key's place
in the remembered order. What a query answers is unchanged: same items, same
order, same `LastEvaluatedKey`.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import ROOT, Handler, RuntimeApi, lambda_env, peak_rss_kib  # noqa: E402
from scan_bench import REGIONS, cpu_seconds  # noqa: E402


# --- the emulator ------------------------------------------------------------

def serve_moto(port):
    """moto_server, with the remembered sorts described in the module doc."""
    from moto.server import main as moto_main

    remember_sorts()
    sys.argv = ["moto_server", "-H", "127.0.0.1", "-p", str(port)]
    sys.exit(moto_main())


def remember_sorts():
    """Patches moto's DynamoDB `Table` in this process (see the module doc)."""
    import inspect

    import moto.dynamodb.models as backend
    from moto.dynamodb.models.table import Table

    version = [0]
    local = threading.local()

    def bumps(cls, name):
        original = getattr(cls, name)

        def write(self, *args, **kwargs):
            version[0] += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                version[0] += 1

        setattr(cls, name, write)

    for name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items",
                 "create_table", "delete_table", "update_table", "execute_statement", "execute_transaction",
                 "restore_table_from_backup", "import_table"):
        if hasattr(backend.DynamoDBBackend, name):
            bumps(backend.DynamoDBBackend, name)
    for name in ("put_item", "delete_item"):
        bumps(Table, name)

    original_query = Table.query
    signature = inspect.signature(original_query)
    original_all_items = Table.all_items
    original_sorted_items = Table.sorted_items

    def places_of(ordered):
        return {(i.hash_key.value, i.range_key.value if i.range_key else None): n for n, i in enumerate(ordered)}

    def start_place(table, start, places):
        def raw(attr):
            value = start.get(attr) if attr else None
            return next(iter(value.values())) if isinstance(value, dict) and value else None
        return places.get((raw(table.hash_key_attr), raw(table.range_key_attr)))

    def query(self, *args, **kwargs):
        a = signature.bind(self, *args, **kwargs).arguments
        conditions = a.get("hash_key_conditions") or []
        q = {
            "start": a.get("exclusive_start_key"),
            "forward": a.get("scan_index_forward", True) is not False,
            "limit": a.get("limit"),
            # The order of one index's items under one hash key condition.
            "order_key": (version[0], a.get("index_name"), repr(a.get("hash_key")),
                          tuple((n, v.type, repr(v.value)) for n, v in conditions)),
            # Only a plain ascending page of an index is windowed: no
            # range condition, no legacy filter, a limit.
            "windowable": bool(a.get("index_name")) and a.get("range_comparison") is None
            and not a.get("range_key_conditions") and not a.get("filter_kwargs")
            and a.get("limit") and a.get("scan_index_forward", True) is not False,
            "window": None,
        }
        orders = self.__dict__.setdefault("_bench_orders", {})
        known = orders.get(q["order_key"])
        if q["windowable"] and known is not None:
            ordered, places = known
            place = 0
            if q["start"]:
                place = start_place(self, q["start"], places)
            if place is not None:
                # The start key itself (moto skips it), then one more than a
                # page, so moto sees there is more and names the last key.
                q["window"] = ordered[place:place + (1 if q["start"] else 0) + int(q["limit"]) + 1]
        local.query = q
        try:
            return original_query(self, *args, **kwargs)
        finally:
            local.query = None

    def all_items(self):
        q = getattr(local, "query", None)
        if q is None:
            return original_all_items(self)
        if q["window"] is not None:
            return q["window"]
        memo = self.__dict__.get("_bench_all_items")
        if memo is None or memo[0] != version[0]:
            memo = (version[0], original_all_items(self))
            self.__dict__["_bench_all_items"] = memo
        return memo[1]

    def sorted_items(self, hash_key_attrs, range_key_attrs, items):
        q = getattr(local, "query", None)
        if q is None or q["window"] is not None or not items:
            return original_sorted_items(self, hash_key_attrs, range_key_attrs, items)
        orders = self.__dict__.setdefault("_bench_orders", {})
        for key in [k for k in orders if k[0] != version[0]]:
            del orders[key]
        known = orders.get(q["order_key"])
        if known is None or len(known[0]) != len(items):
            ordered = original_sorted_items(self, hash_key_attrs, range_key_attrs, list(items))
            known = (ordered, places_of(ordered))
            orders[q["order_key"]] = known
        ordered, places = known
        if q["start"] and q["forward"]:
            place = start_place(self, q["start"], places)
            if place is not None:
                # moto skips every item up to and including the start key.
                return ordered[place:]
        return list(ordered)

    Table.query = query
    Table.all_items = all_items
    Table.sorted_items = sorted_items


# --- the findings ------------------------------------------------------------

ACCOUNTS = ["123456789012", "210987654321", "111122223333", "444455556666"]
GLOBAL_SERVICES = {"s3", "iam"}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def catalogue():
    """(id, title, severity, category, resource_type) of every check in the
    advisor's sources."""
    pattern = re.compile(
        r'id:\s*"(?P<id>[^"]+)",\s*title:\s*"(?P<title>(?:[^"\\]|\\.)*)",\s*'
        r'severity:\s*Severity::(?P<severity>\w+),\s*category:\s*Category::(?P<category>\w+),\s*'
        r'resource_type:\s*"(?P<type>[^"]+)"',
    )
    checks = []
    for source in sorted((ROOT / "shared" / "src" / "advisor").glob("*.rs")):
        for m in pattern.finditer(source.read_text()):
            checks.append((m["id"], m["title"].replace('\\"', '"'), m["severity"].lower(), m["category"].lower(), m["type"]))
    if len(checks) < 10:
        raise RuntimeError(f"found only {len(checks)} checks in shared/src/advisor: did the Check layout change?")
    return checks


def finding_id(check_id, arn):
    """`shared::advisor::finding_id`: hex(sha256(check_id \\n arn))[..32]."""
    return hashlib.sha256(f"{check_id}\n{arn}".encode()).hexdigest()[:32]


def list_sort_key(severity, savings, fid):
    """`shared::findings::list_sort_key`."""
    cents = min(round(max(savings, 0.0) * 100.0), 10**12 - 1)
    return f"{SEVERITY_RANK[severity]}#{999_999_999_999 - cents:012d}#{fid}"


def finding_item(n, check, scan_id, now):
    """The n-th finding, as `raise_one` stores it (and, for every tenth, as
    `resolve_unraised` leaves it)."""
    check_id, title, severity, category, resource_type = check
    service, kind = resource_type.split(":", 1)
    account = ACCOUNTS[n % len(ACCOUNTS)]
    region = "global" if service == "iam" else REGIONS[n % len(REGIONS)]
    listing = "global" if service in GLOBAL_SERVICES else region
    resource_id = f"bench-{kind}-{n:06d}"
    if service == "s3":
        arn = f"arn:aws:s3:::{resource_id}"
    elif service == "iam":
        arn = f"arn:aws:iam::{account}:{kind}/{resource_id}"
    else:
        arn = f"arn:aws:{service}:{region}:{account}:{kind}/{resource_id}"
    fid = finding_id(check_id, arn)
    savings = round(random.Random(n).uniform(0, 400), 2) if category == "cost" else 0.0
    recommendation = (
        f"Found by the report benchmark on {resource_id} in {region}. "
        f"Review {resource_id} and fix it or suppress the finding: see the check {check_id} "
        f"in the catalogue for the exact command (`aws {service} ... --region {region}`) "
        "and the console path."
    )
    s = lambda v: {"S": v}  # noqa: E731
    item = {
        "pk": s(f"FIND#{account}#{listing}"), "sk": s(f"{check_id}#{arn}"),
        "first_seen": s(now),
        "finding_id": s(fid), "check_id": s(check_id), "title": s(title),
        "severity": s(severity), "category": s(category), "service": s(service),
        "resource_arn": s(arn), "resource_type": s(resource_type), "resource_id": s(resource_id),
        "region": s(region), "account_id": s(account), "recommendation": s(recommendation),
        "monthly_savings_usd": {"N": repr(savings)},
        "state": s("open"), "last_seen": s(now), "scan_id": s(scan_id),
        "gsi1pk": s("FINDINGS"), "gsi1sk": s(list_sort_key(severity, savings, fid)),
        "gsi2pk": s(f"FINDING#{fid}"), "gsi2sk": s("FINDING"),
    }
    if n % 10 == 9:
        item["state"] = s("resolved")
        item["resolved_at"] = s(now)
    return item


def seed_findings(endpoint, table, count):
    import boto3

    checks = catalogue()
    scan_id = str(uuid.uuid4())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    items = [finding_item(n, checks[n % len(checks)], scan_id, now) for n in range(count)]
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)

    def write(batch):
        request = {table: [{"PutRequest": {"Item": i}} for i in batch]}
        while request.get(table):
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, (items[i:i + 25] for i in range(0, len(items), 25))))
    return {i["finding_id"]["S"] for i in items}, len(checks)


# --- the functions under the Runtime API ---------------------------------------

def http_event(method, path, query="", body=None, token=None):
    event = json.loads((ROOT / "events" / "inventory-health.json").read_text())
    event["routeKey"] = f"{method} {path}"
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = f"{method} {path}"
    event["requestContext"]["requestId"] = uuid.uuid4().hex[:16]
    if query:
        event["queryStringParameters"] = dict(urllib.parse.parse_qsl(query))
    if token:
        event["headers"]["authorization"] = f"Bearer {token}"
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(event["body"]))
    return json.dumps(event).encode()


def invoke_once(api, binary, env, event, timeout):
    """One fresh process, one event. Returns (answer, seconds, peak RSS KiB, CPU s)."""
    api.arm()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        request_id = str(uuid.uuid4())
        api.push(request_id, event)
        answer = api.wait(request_id, timeout)
        if answer is None:
            err = proc.stderr.read(4000) if proc.poll() is not None else b""
            raise RuntimeError(f"{binary.name}: no answer in {timeout} s; stderr: {err!r}")
        kind, body, at = answer
        if kind != "response":
            raise RuntimeError(f"{binary.name} posted {kind}: {body[:500]!r}")
        time.sleep(0.05)
        return json.loads(body), at - api.served[request_id], peak_rss_kib(proc.pid), cpu_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def count_rows(data, fmt):
    """The rows in a report object, and a note on how they were counted."""
    if fmt == "csv":
        rows = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8")))) - 1
        return rows, "CSV records after the header"
    if fmt == "ocsf":
        return len(json.loads(data)), "entries of the OCSF array"
    if fmt == "json":
        return len(json.loads(data)), "entries of the JSON array"
    if fmt == "pdf":
        m = re.search(rb"Total findings: (\d+)", data)
        pages = len(re.findall(rb"/Type\s*/Page\b", data))
        if not data.startswith(b"%PDF-") or not data.rstrip().endswith(b"%%EOF") or m is None:
            raise RuntimeError("the PDF has no header, %%EOF or totals line")
        return int(m[1]), f"its 'Total findings' line; {pages} pages"
    raise ValueError(fmt)


def run(args):
    import boto3

    envs = json.loads(Path(args.env_json).read_text())
    inv_env = envs["inventory"]
    moto = os.environ["AWS_ENDPOINT_URL"]
    api = RuntimeApi(("127.0.0.1", 0), Handler)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    addr = f"127.0.0.1:{api.server_address[1]}"
    base = dict(os.environ)

    started = time.perf_counter()
    ids, n_checks = seed_findings(moto, inv_env["INVENTORY_TABLE"], args.findings)
    seeded_s = time.perf_counter() - started
    print(f"wrote {len(ids)} findings ({n_checks} checks) in {seeded_s:.1f} s", file=sys.stderr)

    # The admin's access token, through the auth function.
    login = json.loads((ROOT / "events" / "auth-login-bad-json.json").read_text())
    login["body"] = json.dumps({"username": "admin", "password": args.admin_password})
    login["headers"]["content-length"] = str(len(login["body"]))
    auth_env = lambda_env(base, envs["auth"], addr, "auth")
    answer, *_ = invoke_once(api, Path(args.debug_dir) / "auth", auth_env, json.dumps(login).encode(), 60)
    if answer.get("statusCode") != 200:
        raise RuntimeError(f"login: {answer}")
    token = json.loads(answer["body"])["access_token"]

    inventory = Path(args.release_dir) / "inventory"
    env = lambda_env(base, inv_env, addr, "inventory")
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "256"

    # The items parse: the first page of the to-do list, through the function.
    answer, *_ = invoke_once(api, inventory, env, http_event("GET", "/v1/findings", "limit=200", token=token), 120)
    page = json.loads(answer.get("body") or "{}")
    listed = page.get("items") or page.get("findings") or []
    if answer.get("statusCode") != 200 or len(listed) != 200 or not {f["finding_id"] for f in listed} <= ids:
        raise RuntimeError(f"GET /v1/findings did not list our findings: {answer.get('statusCode')} {str(page)[:500]}")
    print(f"GET /v1/findings: 200, {len(listed)} findings, every one of ours", file=sys.stderr)

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto)
    bucket = inv_env["PACKAGE_BUCKET"]
    rows = []
    for fmt in args.formats.split(","):
        before = {o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/") for o in p.get("Contents", [])}
        moto_cpu = cpu_seconds(args.moto_pid)
        event = http_event("POST", "/v1/reports", body={"kind": "findings", "format": fmt}, token=token)
        answer, seconds, rss, cpu = invoke_once(api, inventory, env, event, 3600)
        moto_cpu = cpu_seconds(args.moto_pid) - moto_cpu
        if answer.get("statusCode") != 201:
            raise RuntimeError(f"POST /v1/reports {fmt}: {answer.get('statusCode')} {str(answer.get('body'))[:500]}")
        report = json.loads(answer["body"])
        new = [o for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/") for o in p.get("Contents", []) if o["Key"] not in before]
        if len(new) != 1:
            raise RuntimeError(f"expected one new report object, found {[o['Key'] for o in new]}")
        key = new[0]["Key"]
        head = s3.head_object(Bucket=bucket, Key=key)
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        counted, how = count_rows(data, fmt)
        row = {
            "format": fmt, "rows_answered": report["rows"], "rows_counted": counted, "counted_by": how,
            "object_mib": round(len(data) / 2**20, 1), "parts": int(head.get("PartsCount") or 1) if "PartsCount" in head else None,
            "etag": head["ETag"], "wall_s": round(seconds, 1), "peak_rss_mib": round(rss / 1024, 1),
            "cpu_s": round(cpu, 2), "moto_cpu_s": round(moto_cpu, 1),
        }
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)

    print(f"{args.findings:,} findings ({n_checks} checks, 4 accounts, 17 regions + global; a tenth resolved); "
          f"written straight into the table in {seeded_s:.0f} s.")
    print()
    print("| format | rows (answered / counted in the object) | object | S3 parts | wall time | peak RSS | inventory CPU | emulator CPU | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        parts = r["etag"].strip('"').rsplit("-", 1)
        n_parts = parts[1] if len(parts) == 2 else "1"
        ok = "met" if r["peak_rss_mib"] <= 64 else "**not met**"
        print(f"| {r['format']} | {r['rows_answered']:,} / {r['rows_counted']:,} | {r['object_mib']} MiB | {n_parts} | "
              f"{r['wall_s']:.1f} s | **{r['peak_rss_mib']:.1f} MiB** | {r['cpu_s']:.2f} s | {r['moto_cpu_s']:.1f} s | ≤ 64 MiB: {ok} |")
    for r in rows:
        if r["rows_counted"] != args.findings or r["rows_answered"] != args.findings:
            print(f"\n**{r['format']}: {r['rows_counted']} rows counted ({r['counted_by']}), {r['rows_answered']} answered, "
                  f"{args.findings} expected.**")
    print()
    print("Rows counted: " + "; ".join(f"{r['format']}: {r['counted_by']}" for r in rows) + ".")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("moto")
    p.add_argument("port", type=int)
    p = sub.add_parser("run")
    p.add_argument("env_json")
    p.add_argument("release_dir")
    p.add_argument("debug_dir")
    p.add_argument("--admin-password", required=True)
    p.add_argument("--findings", type=int, default=100_000)
    p.add_argument("--formats", default="csv,pdf,ocsf")
    p.add_argument("--moto-pid", type=int, required=True)
    args = parser.parse_args()
    if args.command == "moto":
        serve_moto(args.port)
    else:
        run(args)


if __name__ == "__main__":
    main()
