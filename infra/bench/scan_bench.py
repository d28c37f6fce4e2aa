"""Scan benchmark: the release `scanner` against a 17-region estate, with 50 ms
added to every AWS call, next to a boto3 scanner written the usual way.

    scan_bench.py run ENV_JSON SCANNER_BINARY [--rounds N]   (see scan_bench.sh)

`run` seeds the estate straight into the emulator, registers the account,
starts the latency proxy (its own process), and then, per round:

1. the schedule event, to the scanner through the Lambda Runtime API: it
   queues a scan of 17 regional jobs and one global job;
2. each job alone, in a fresh scanner process (one stream record per
   invocation): the single-region times, and each job's peak RSS (VmHWM);
3. the schedule again, and the whole scan as one stream batch in one process
   (the template's `BatchSize` holds a scan's jobs): the full scan's time;
4. the boto3 scanner (its own process): the same services, regions and detail
   calls, a ThreadPoolExecutor of 5 workers over (region, service) tasks,
   resources written with batch_writer, through the same proxy;
5. the findings phase: the schedule again, and the whole scan once more in
   one process with `FINDINGS=false` (listing and storing only), in the same
   estate through the same proxy. Step 3 is the same scan with findings on
   (the default), so the two differ by the metrics read and the advising.
   Odd rounds run step 3 before step 5, even rounds after, so neither always
   meets a warmer emulator.

The estate's CloudWatch metrics are seeded too: one datapoint a day over the
scanner's window (the last 14 whole UTC days, `scanner::metrics::window`) for
every running instance and RDS instance (the estate has no NAT gateway, load
balancer or function), some idle, some busy, so the utilization checks raise
findings. The scanner logs at `info` (JSON lines on stdout, kept in
target/bench/scanner-*.log): its "metrics read" and "job done" lines give
the metric queries and GetMetricData calls, and the phases' times.

Everything the scanners send goes through the proxy; seeding does not.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import ROOT, Handler, RuntimeApi, lambda_env, peak_rss_kib  # noqa: E402

REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "sa-east-1",
]
ACCOUNT = "123456789012"
REGIONAL = ["ec2", "rds", "lambda", "elbv2", "logs", "kms", "secretsmanager", "dynamodb"]
GLOBAL = ["s3", "iam"]


# --- the latency proxy -------------------------------------------------------

async def _pipe_with_latency(delay, upstream_host, upstream_port, counters, reader, writer):
    """Relays one client connection. Each request (the first bytes the client
    sends after a response, or on a new connection) waits `delay` first.
    Counts requests and answers (the first bytes of each response)."""
    requests, answers = counters
    try:
        up_reader, up_writer = await asyncio.open_connection(upstream_host, upstream_port)
    except OSError:
        writer.close()
        return
    state = {"in_request": False}

    async def client_to_upstream():
        while data := await reader.read(65536):
            if not state["in_request"]:
                state["in_request"] = True
                with requests.get_lock():
                    requests.value += 1
                await asyncio.sleep(delay)
            up_writer.write(data)
            await up_writer.drain()
        up_writer.close()

    async def upstream_to_client():
        while data := await up_reader.read(65536):
            if state["in_request"]:
                state["in_request"] = False
                with answers.get_lock():
                    answers.value += 1
            writer.write(data)
            await writer.drain()
        writer.close()

    try:
        await asyncio.gather(client_to_upstream(), upstream_to_client())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        up_writer.close()


def serve_proxy(port, upstream, delay, counters, ready):
    host, upstream_port = upstream.rsplit(":", 1)
    host = host.removeprefix("http://")

    async def main():
        server = await asyncio.start_server(
            lambda r, w: _pipe_with_latency(delay, host, int(upstream_port), counters, r, w),
            "127.0.0.1", port, backlog=1024,
        )
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


# --- the estate --------------------------------------------------------------

def _client(service, region, endpoint):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
    )


def seed_region(endpoint, region):
    ec2 = _client("ec2", region, endpoint)
    reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=6, MaxCount=6, InstanceType="m5.large")
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    ec2.stop_instances(InstanceIds=ids[:2])
    volumes = []
    for n in range(20):
        kind = ["gp3", "gp2", "io2", "st1"][n % 4]
        extra = {"Iops": 4000} if kind == "io2" else {}
        volumes.append(ec2.create_volume(AvailabilityZone=f"{region}a", Size=100 + n, VolumeType=kind, **extra)["VolumeId"])
    for volume in volumes[:5]:
        ec2.create_snapshot(VolumeId=volume)
    for _ in range(2):
        ec2.allocate_address(Domain="vpc")
    for n in range(3):
        ec2.create_security_group(GroupName=f"bench-{n}", Description="bench")
    logs = _client("logs", region, endpoint)
    for n in range(6):
        logs.create_log_group(logGroupName=f"/bench/{region}/{n}")
    dynamodb = _client("dynamodb", region, endpoint)
    for n in range(3):
        dynamodb.create_table(
            TableName=f"bench-{n}", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )
    kms = _client("kms", region, endpoint)
    for n in range(3):
        kms.create_key(Description=f"bench {n}")
    secrets = _client("secretsmanager", region, endpoint)
    for n in range(3):
        secrets.create_secret(Name=f"bench/{n}", SecretString="not-a-real-secret")
    _client("rds", region, endpoint).create_db_instance(
        DBInstanceIdentifier="bench-db", DBInstanceClass="db.t3.medium", Engine="postgres",
        AllocatedStorage=50, MasterUsername="bench", MasterUserPassword="bench-password-1",
    )


DAY = 86_400
WINDOW_DAYS = 14
# What each running instance of a region shows over the window, by its place
# among them: (peak CPU %, network bytes a day in and out each). The first two
# are idle (ec2.instance_idle: peak < 5 %, < 5 MB a day), the third would
# peak near 50 % one size down (ec2.instance_overprovisioned), the fourth is
# busy. RDS: connections and CPU; even regions' databases have none.
INSTANCE_LOAD = [(1.5, 100_000), (3.0, 400_000), (25.0, 80_000_000), (70.0, 300_000_000)]


def window(now):
    """`scanner::metrics::window`: the last 14 whole UTC days before `now`."""
    end = int(now) // DAY * DAY
    return end - WINDOW_DAYS * DAY, end


def seed_metrics(endpoint, region, n):
    """One datapoint a day, at noon, for each day of the window, of every
    metric the scanner reads for the region's running instances and its RDS
    instance. Returns how many instances and databases should show idle."""
    from datetime import datetime, timezone

    ec2 = _client("ec2", region, endpoint)
    running = sorted(
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
        for i in r["Instances"]
    )
    start, _ = window(time.time())
    days = [datetime.fromtimestamp(start + d * DAY + DAY // 2, timezone.utc) for d in range(WINDOW_DAYS)]
    data = []

    def series(name, dimension, value, metric, values):
        for day, v in zip(days, values):
            data.append({"MetricName": metric, "Dimensions": [{"Name": dimension, "Value": value}],
                         "Timestamp": day, "Value": v, "_ns": name})

    idle = {"instances": 0, "databases": 0}
    for k, instance in enumerate(running):
        cpu, network = INSTANCE_LOAD[k % len(INSTANCE_LOAD)]
        idle["instances"] += cpu < 5
        # The peak on one day, the other days lower: max and mean differ.
        series("AWS/EC2", "InstanceId", instance, "CPUUtilization", [cpu if d == 3 else cpu / 2 for d in range(WINDOW_DAYS)])
        series("AWS/EC2", "InstanceId", instance, "NetworkIn", [network] * WINDOW_DAYS)
        series("AWS/EC2", "InstanceId", instance, "NetworkOut", [network] * WINDOW_DAYS)
    busy_db = n % 2 == 1
    idle["databases"] += not busy_db
    series("AWS/RDS", "DBInstanceIdentifier", "bench-db", "DatabaseConnections", [12.0 if busy_db else 0.0] * WINDOW_DAYS)
    series("AWS/RDS", "DBInstanceIdentifier", "bench-db", "CPUUtilization", [30.0 if busy_db else 2.0] * WINDOW_DAYS)
    cloudwatch = _client("cloudwatch", region, endpoint)
    for namespace in sorted({d["_ns"] for d in data}):
        mine = [{k: v for k, v in d.items() if k != "_ns"} for d in data if d["_ns"] == namespace]
        for i in range(0, len(mine), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=mine[i:i + 500])
    idle["datapoints"] = len(data)
    return idle


BOTO3_TABLE = "cloudkeep-bench-boto3-results"


def seed_global(endpoint):
    # Where the boto3 scanner writes: its own table, so the scanners' tables
    # stay the same size for both (it is one more table in the estate).
    _client("dynamodb", "us-east-1", endpoint).create_table(
        TableName=BOTO3_TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    )
    s3 = _client("s3", "us-east-1", endpoint)
    for n in range(10):
        region = REGIONS[n]
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=f"cloudkeep-bench-{n}", **extra)
    iam = _client("iam", "us-east-1", endpoint)
    for n in range(10):
        iam.create_user(UserName=f"bench-{n}")
        if n % 2 == 0:
            iam.create_access_key(UserName=f"bench-{n}")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    for n in range(5):
        iam.create_role(RoleName=f"bench-{n}", AssumeRolePolicyDocument=trust)


def seed_estate(moto, inventory_table):
    """The whole estate: 17 regions, the global services, their metrics, the account
    registered; answers the idle instances and databases (and datapoints) seeded."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda r: seed_region(moto, r), REGIONS))
    seed_global(moto)
    register_account(moto, inventory_table)
    with ThreadPoolExecutor(max_workers=6) as pool:
        seeded = list(pool.map(lambda rn: seed_metrics(moto, rn[1], rn[0]), enumerate(REGIONS)))
    expect_idle = {k: sum(s[k] for s in seeded) for k in ("instances", "databases", "datapoints")}
    print(f"seeded {len(REGIONS)} regions in {time.perf_counter() - started:.1f} s; metrics: {expect_idle}", file=sys.stderr)
    return expect_idle


def register_account(endpoint, inventory_table):
    """The item `InventoryStore::put_account` writes, for the backend's own account."""
    _client("dynamodb", "us-east-1", endpoint).put_item(
        TableName=inventory_table,
        Item={
            "pk": {"S": f"ACCOUNT#{ACCOUNT}"}, "sk": {"S": "META"},
            "gsi1pk": {"S": "ACCOUNTS"}, "gsi1sk": {"S": ACCOUNT},
            "account_id": {"S": ACCOUNT}, "name": {"S": "bench"},
            "regions": {"L": [{"S": r} for r in REGIONS]},
            "created_at": {"S": "2026-11-26T00:00:00Z"},
        },
    )


# --- the boto3 scanner (the seeds' way) --------------------------------------

def _pages(client, operation, key, **kwargs):
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _scan_service(endpoint, region, service):
    """One (region, service) task: list, describe each resource, return dicts."""
    from botocore.exceptions import ClientError

    def missing(call, *codes):
        try:
            return call()
        except ClientError as e:
            if e.response["Error"]["Code"] in codes:
                return None
            raise

    c = _client(service, "us-east-1" if region == "global" else region, endpoint)
    found = []
    if service == "ec2":
        for r in _pages(c, "describe_instances", "Reservations"):
            found += [{"arn": i["InstanceId"], "type": "instance"} for i in r["Instances"]]
        found += [{"arn": v["VolumeId"]} for v in _pages(c, "describe_volumes", "Volumes")]
        found += [{"arn": s["SnapshotId"]} for s in _pages(c, "describe_snapshots", "Snapshots", OwnerIds=["self"])]
        found += [{"arn": a.get("AllocationId")} for a in c.describe_addresses()["Addresses"]]
        found += [{"arn": n["NatGatewayId"]} for n in _pages(c, "describe_nat_gateways", "NatGateways")]
        found += [{"arn": v["VpcId"]} for v in _pages(c, "describe_vpcs", "Vpcs")]
        found += [{"arn": g["GroupId"]} for g in _pages(c, "describe_security_groups", "SecurityGroups")]
    elif service == "rds":
        found += [{"arn": d["DBInstanceArn"]} for d in _pages(c, "describe_db_instances", "DBInstances")]
        found += [{"arn": s["DBSnapshotArn"]} for s in _pages(c, "describe_db_snapshots", "DBSnapshots")]
    elif service == "lambda":
        for f in _pages(c, "list_functions", "Functions"):
            found.append({"arn": f["FunctionArn"], "tags": c.list_tags(Resource=f["FunctionArn"]).get("Tags")})
    elif service == "elbv2":
        found += [{"arn": lb["LoadBalancerArn"]} for lb in _pages(c, "describe_load_balancers", "LoadBalancers")]
    elif service == "logs":
        found += [{"arn": g["arn"]} for g in _pages(c, "describe_log_groups", "logGroups")]
    elif service == "kms":
        for k in _pages(c, "list_keys", "Keys"):
            meta = c.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
            if meta.get("KeyManager") != "CUSTOMER":
                continue
            rotation = c.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"]
            tags = c.list_resource_tags(KeyId=k["KeyId"]).get("Tags")
            found.append({"arn": meta["Arn"], "rotation": rotation, "tags": tags})
    elif service == "secretsmanager":
        found += [{"arn": s["ARN"]} for s in _pages(c, "list_secrets", "SecretList")]
    elif service == "dynamodb":
        for name in _pages(c, "list_tables", "TableNames"):
            table = c.describe_table(TableName=name)["Table"]
            pitr = c.describe_continuous_backups(TableName=name)
            tags = c.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags")
            found.append({"arn": table["TableArn"], "pitr": str(pitr)[:0], "tags": tags})
    elif service == "s3":
        for b in c.list_buckets()["Buckets"]:
            name = b["Name"]
            found.append({
                "arn": f"arn:aws:s3:::{name}",
                "region": c.get_bucket_location(Bucket=name).get("LocationConstraint"),
                "encryption": bool(missing(lambda: c.get_bucket_encryption(Bucket=name), "ServerSideEncryptionConfigurationNotFoundError")),
                "pab": bool(missing(lambda: c.get_public_access_block(Bucket=name), "NoSuchPublicAccessBlockConfiguration")),
                "versioning": c.get_bucket_versioning(Bucket=name).get("Status"),
                "lifecycle": bool(missing(lambda: c.get_bucket_lifecycle_configuration(Bucket=name), "NoSuchLifecycleConfiguration")),
                "tags": bool(missing(lambda: c.get_bucket_tagging(Bucket=name), "NoSuchTagSet")),
            })
    elif service == "iam":
        for u in _pages(c, "list_users", "Users"):
            name = u["UserName"]
            mfa = c.list_mfa_devices(UserName=name)["MFADevices"]
            console = missing(lambda: c.get_login_profile(UserName=name), "NoSuchEntity") is not None
            keys = [
                c.get_access_key_last_used(AccessKeyId=k["AccessKeyId"]).get("AccessKeyLastUsed")
                for k in c.list_access_keys(UserName=name)["AccessKeyMetadata"]
            ]
            found.append({"arn": u["Arn"], "mfa": len(mfa), "console": console, "keys": len(keys)})
        found += [{"arn": r["Arn"]} for r in _pages(c, "list_roles", "Roles")]
    for item in found:
        item.update(region=item.get("region") or region, service=service)
    return found


def boto3_scan(endpoint, table):
    """Returns (seconds, resources found, CPU seconds of this process)."""
    import boto3

    started = time.perf_counter()
    tasks = [(r, s) for r in REGIONS for s in REGIONAL] + [("global", s) for s in GLOBAL]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda t: _scan_service(endpoint, *t), tasks))
    resources = [r for rs in results for r in rs]
    ddb = boto3.session.Session().resource("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
    with ddb.Table(table).batch_writer() as batch:
        for r in resources:
            batch.put_item(Item={"pk": f"RES#{ACCOUNT}", "sk": f"{r['service']}#{r['region']}#{r['arn']}", "doc": json.dumps(r, default=str)})
    return time.perf_counter() - started, len(resources), time.process_time()


# --- driving the Rust scanner through the Runtime API ------------------------

class Scanner:
    """The release `scanner` binary under the emulated Runtime API."""

    def __init__(self, binary, env, log, **extra_env):
        self.binary, self.env, self.log = binary, env, log
        self.api = RuntimeApi(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.api.serve_forever, daemon=True).start()
        self.env = lambda_env(env, {}, f"127.0.0.1:{self.api.server_address[1]}", "scanner")
        self.env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "256"
        # "metrics read" and "job done" are info lines (JSON, on stdout).
        self.env["AWS_LAMBDA_LOG_LEVEL"] = "INFO"
        self.env.update(extra_env)
        self.lines = []

    def invoke(self, events):
        """One fresh process; each event in turn. Returns ([seconds], peak RSS
        KiB); its log lines are left in `self.lines`."""
        self.api.arm()
        log = open(self.log, "ab")
        start = log.tell()
        proc = subprocess.Popen([self.binary], env=self.env, stdout=log, stderr=log)
        try:
            times = []
            for event in events:
                request_id = str(uuid.uuid4())
                self.api.push(request_id, json.dumps(event).encode())
                answer = self.api.wait(request_id, 900)
                if answer is None or answer[0] != "response":
                    raise RuntimeError(f"scanner: {answer!r}; its log: {self.log}")
                failures = json.loads(answer[1]).get("batchItemFailures") or []
                if failures:
                    raise RuntimeError(f"scanner reported failed jobs: {failures}")
                times.append(answer[2] - self.api.served[request_id])
            time.sleep(0.05)
            self.cpu = cpu_seconds(proc.pid)
            return times, peak_rss_kib(proc.pid)
        finally:
            proc.kill()
            proc.wait()
            log.close()
            with open(self.log, "rb") as f:
                f.seek(start)
                self.lines = [parse_log_line(line) for line in f.read().decode("utf-8", "replace").splitlines()]


def parse_log_line(line):
    """A log line as a dict: the JSON subscriber's flattened event, or, for a
    text line, its `key=value` fields and the message."""
    line = line.strip()
    if line.startswith("{"):
        try:
            event = json.loads(line)
            if isinstance(event.get("fields"), dict):
                event.update(event.pop("fields"))
            return event
        except ValueError:
            pass
    import re

    fields = {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}
    for message in ("metrics read", "job done"):
        if message in line:
            fields["message"] = message
    return fields


def findings_phase(lines):
    """Sums of the "metrics read" and "job done" lines of one invocation."""
    def num(e, k):
        try:
            return int(float(e.get(k, 0)))
        except (TypeError, ValueError):
            return 0

    metrics = [e for e in lines if e.get("message") == "metrics read"]
    done = [e for e in lines if e.get("message") == "job done"]
    over = [e.get("region") for e in metrics if num(e, "metric_calls") > -(-num(e, "metric_queries") // 500)]
    return {
        "metric_jobs": len(metrics),
        "metric_queries": sum(num(e, "metric_queries") for e in metrics),
        "metric_calls": sum(num(e, "metric_calls") for e in metrics),
        "measured_resources": sum(num(e, "resources") for e in metrics),
        "metrics_ms_max": max((num(e, "metrics_ms") for e in metrics), default=0),
        "calls_over_target": over,
        "jobs_done": len(done),
        "findings": sum(num(e, "findings") for e in done),
        "resolved": sum(num(e, "resolved") for e in done),
        "listing_ms_max": max((num(e, "listing_ms") for e in done), default=0),
        "advise_ms_max": max((num(e, "advise_ms") for e in done), default=0),
        "advise_ms_sum": sum(num(e, "advise_ms") for e in done),
    }


UTILIZATION_CHECKS = {"ec2.instance_idle", "ec2.instance_overprovisioned", "rds.instance_idle",
                      "ec2.nat_gateway_idle", "elbv2.load_balancer_idle", "lambda.function_unused"}


def utilization_findings(ddb, table, scan_id):
    """Open utilization findings the scan raised, by check. An unchanged
    finding is not rewritten (it keeps the scan_id of the scan that last
    wrote it), so "raised by this scan" is: open and decided once the scan
    has ended (one the scan did not raise is resolved or undecided)."""
    del scan_id
    found = {}
    for page in ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :f) AND #st = :o AND (attribute_not_exists(undecided) OR undecided = :no)",
        ExpressionAttributeNames={"#st": "state"},
        ExpressionAttributeValues={":f": {"S": f"FIND#{ACCOUNT}#"}, ":o": {"S": "open"}, ":no": {"BOOL": False}},
    ):
        for item in page["Items"]:
            check = item["check_id"]["S"]
            if check in UTILIZATION_CHECKS:
                found[check] = found.get(check, 0) + 1
    return found


def cpu_seconds(pid):
    """User + system CPU a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """AWS calls through the proxy (sent, answered), and CPU of the emulator
    and the proxy, over a block."""

    def __init__(self, calls, moto_pid, proxy_pid):
        self.calls, self.moto_pid, self.proxy_pid = calls, moto_pid, proxy_pid

    def __enter__(self):
        self.start = (self.calls[1].value, cpu_seconds(self.moto_pid), cpu_seconds(self.proxy_pid), self.calls[0].value)
        return self

    def __exit__(self, *exc):
        self.n_calls = self.calls[1].value - self.start[0]
        self.n_sent = self.calls[0].value - self.start[3]
        self.moto_cpu = cpu_seconds(self.moto_pid) - self.start[1]
        self.proxy_cpu = cpu_seconds(self.proxy_pid) - self.start[2]


def pending_jobs(ddb, jobs_table):
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=jobs_table):
        items += [i for i in page["Items"] if i.get("status", {}).get("S") == "pending"]
    return items


def stream_batch(items):
    """A DynamoDB stream batch as Lambda delivers it (see events/scanner-scan-job-insert.json)."""
    return {"Records": [
        {
            "eventID": uuid.uuid4().hex, "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": int(time.time()),
                "Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": item,
                "SequenceNumber": str(10**20 + n), "SizeBytes": 300,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bench/stream/2026-11-26T00:00:00.000",
        }
        for n, item in enumerate(items)
    ]}


def scan_item(ddb, table, scan_id):
    return ddb.get_item(TableName=table, Key={"pk": {"S": f"SCAN#{scan_id}"}, "sk": {"S": "META"}})["Item"]


def run(args):
    import boto3

    envs = json.loads(Path(args.env_json).read_text())["scanner"]
    moto = os.environ["AWS_ENDPOINT_URL"]
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto)

    expect_idle = seed_estate(moto, envs["INVENTORY_TABLE"])

    calls = (multiprocessing.Value("q", 0), multiprocessing.Value("q", 0))
    ready = multiprocessing.Event()
    proxy = multiprocessing.Process(target=serve_proxy, args=(args.proxy_port, moto, args.delay, calls, ready), daemon=True)
    proxy.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the latency proxy did not start")
        via_proxy = f"http://127.0.0.1:{args.proxy_port}"
        env = dict(os.environ, **envs, AWS_ENDPOINT_URL=via_proxy)
        scanner = Scanner(args.scanner, env, Path(args.env_json).with_name("scanner.log"))
        listing_only = Scanner(args.scanner, env, Path(args.env_json).with_name("scanner-findings-off.log"), FINDINGS="false")
        schedule = json.loads((ROOT / "events" / "scanner-schedule.json").read_text())

        rounds = []
        for n in range(args.rounds):
            # Single jobs, each alone in a fresh process.
            scanner.invoke([schedule])
            singles = {}
            for job in pending_jobs(ddb, envs["SCAN_JOBS_TABLE"]):
                with Meter(calls, args.moto_pid, proxy.pid) as m:
                    (seconds,), rss = scanner.invoke([stream_batch([job])])
                singles[job["region"]["S"]] = {"s": seconds, "rss": rss, "calls": m.n_calls, "cpu": scanner.cpu}
            def whole_scan(s):
                """The schedule, then its jobs as one batch in one process."""
                s.invoke([schedule])
                jobs = pending_jobs(ddb, envs["SCAN_JOBS_TABLE"])
                with Meter(calls, args.moto_pid, proxy.pid) as m:
                    (seconds,), rss = s.invoke([stream_batch(jobs)])
                scan = scan_item(ddb, envs["INVENTORY_TABLE"], jobs[0]["scan_id"]["S"])
                return jobs, m, seconds, rss, s.cpu, scan, findings_phase(s.lines)

            # The whole scan, findings on and off (listing only), in turn.
            if n % 2 == 1:
                off = whole_scan(listing_only)
            jobs, full, full_s, full_rss, full_cpu, scan, on_phase = whole_scan(scanner)
            if n % 2 == 0:
                off = whole_scan(listing_only)
            off_jobs, off_m, off_s, off_rss, off_cpu, off_scan, off_phase = off
            raised = utilization_findings(ddb, envs["INVENTORY_TABLE"], jobs[0]["scan_id"]["S"])
            counts = {service: int(n["N"]) for service, n in scan.get("counts", {}).get("M", {}).items()}
            off_counts = {service: int(n["N"]) for service, n in off_scan.get("counts", {}).get("M", {}).items()}
            # The boto3 scanner, its own process.
            with Meter(calls, args.moto_pid, proxy.pid) as py:
                out = subprocess.run(
                    [sys.executable, __file__, "boto3", "--endpoint", via_proxy, "--table", BOTO3_TABLE],
                    check=True, capture_output=True, text=True,
                )
            py_s, py_found, py_cpu = json.loads(out.stdout)
            slowest = max(singles, key=lambda r: singles[r]["s"])
            row = {
                "round": n + 1, "jobs": len(jobs), "scan_status": scan["status"]["S"], "scan_errors": len(scan.get("errors", {}).get("L", [])),
                "resources": sum(counts.values()), "boto3_resources": py_found,
                "full_s": round(full_s, 2), "full_calls": full.n_calls, "full_sent": full.n_sent, "full_cpu_s": round(full_cpu, 2),
                "full_moto_cpu_s": round(full.moto_cpu, 2), "full_proxy_cpu_s": round(full.proxy_cpu, 2), "full_rss_mib": round(full_rss / 1024, 1),
                "slowest_region": slowest, "slowest_s": round(singles[slowest]["s"], 2),
                "slowest_calls": singles[slowest]["calls"],
                "jobs_alone_calls": sum(j["calls"] for j in singles.values()),
                "job_peak_rss_mib": round(max(j["rss"] for j in singles.values()) / 1024, 1),
                "boto3_s": round(py_s, 2), "boto3_calls": py.n_calls, "boto3_sent": py.n_sent, "boto3_cpu_s": round(py_cpu, 2),
                "boto3_moto_cpu_s": round(py.moto_cpu, 2), "boto3_proxy_cpu_s": round(py.proxy_cpu, 2),
                "off_s": round(off_s, 2), "off_calls": off_m.n_calls, "off_sent": off_m.n_sent, "off_cpu_s": round(off_cpu, 2),
                "off_moto_cpu_s": round(off_m.moto_cpu, 2), "off_proxy_cpu_s": round(off_m.proxy_cpu, 2), "off_rss_mib": round(off_rss / 1024, 1),
                "off_resources": sum(off_counts.values()), "off_status": off_scan["status"]["S"],
                "off_errors": len(off_scan.get("errors", {}).get("L", [])), "off_findings": off_phase["findings"],
                "off_metric_calls": off_phase["metric_calls"], "off_metric_jobs": off_phase["metric_jobs"],
                "findings_share": round(full_s / off_s - 1, 3),
                "utilization_findings": raised, **{f"on_{k}": v for k, v in on_phase.items()},
            }
            print(json.dumps(row), file=sys.stderr)
            rounds.append(row)
    finally:
        proxy.kill()

    med = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    last = rounds[-1]
    print(f"{len(rounds)} rounds, {args.delay * 1000:.0f} ms added to every AWS call; medians.")
    print()
    print("| measure | Rust scanner | boto3, ThreadPoolExecutor(5) | target |")
    print("|---|---:|---:|---|")
    print(f"| resources found | {last['resources']} | {last['boto3_resources']} | ≥ 1,000 |")
    print(f"| AWS calls answered (the jobs run alone: {last['jobs_alone_calls']}) | {last['full_calls']} | {last['boto3_calls']} | |")
    print(f"| requests sent (retries of unanswered ones included) | {last['full_sent']} | {last['boto3_sent']} | |")
    print(f"| wall time, whole scan (s) | {med('full_s'):.2f} | {med('boto3_s'):.2f} | |")
    print(f"| boto3 ÷ Rust | {med('boto3_s') / med('full_s'):.1f}× | | ≥ 10× |")
    print(f"| slowest job alone (s), {last['slowest_region']} | {med('slowest_s'):.2f} | | |")
    print(f"| whole scan ÷ slowest job | {med('full_s') / med('slowest_s'):.2f}× | | ≤ 1.5× |")
    print(f"| scanner CPU (s) | {med('full_cpu_s'):.2f} | {med('boto3_cpu_s'):.2f} | |")
    print(f"| emulator CPU (s; one Python process) | {med('full_moto_cpu_s'):.2f} | {med('boto3_moto_cpu_s'):.2f} | |")
    print(f"| latency proxy CPU (s) | {med('full_proxy_cpu_s'):.2f} | {med('boto3_proxy_cpu_s'):.2f} | |")
    print(f"| whole scan ÷ emulator CPU | {med('full_s') / med('full_moto_cpu_s'):.2f}× | {med('boto3_s') / med('boto3_moto_cpu_s'):.2f}× | |")
    print(f"| peak RSS, one job (MiB, max over jobs) | {max(r['job_peak_rss_mib'] for r in rounds):.1f} | | ≤ 64 |")
    print(f"| peak RSS, the {last['jobs']} jobs in one process (MiB) | {max(r['full_rss_mib'] for r in rounds):.1f} | | |")

    # The findings phase: the same whole scan with FINDINGS=false.
    ratio = med("full_s") / med("off_s")
    per_round = ", ".join(f"{r['full_s']:.2f} / {r['off_s']:.2f} s" for r in rounds)
    util = last["utilization_findings"]
    over = sorted({region for r in rounds for region in r["on_calls_over_target"]})
    print()
    print(f"Findings phase: the whole scan with findings on (the default) and with `FINDINGS=false`, "
          f"{len(rounds)} rounds (on / off: {per_round}); medians.")
    print()
    print("| measure | findings on | `FINDINGS=false` | target |")
    print("|---|---:|---:|---|")
    print(f"| resources found | {last['resources']} | {last['off_resources']} | |")
    print(f"| scan status, errors | {last['scan_status']}, {last['scan_errors']} | {last['off_status']}, {last['off_errors']} | |")
    print(f"| wall time, whole scan (s) | {med('full_s'):.2f} | {med('off_s'):.2f} | |")
    print(f"| on ÷ off | {ratio:.3f}× (+{(ratio - 1) * 100:.1f} %) | | ≤ 1.15× — {'met' if ratio <= 1.15 else '**not met**'} |")
    print(f"| findings raised (sum of \"job done\" `findings`) | {last['on_findings']} | {last['off_findings']} | |")
    print(f"| of which utilization (open, this scan) | {sum(util.values())}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(util.items())) + " | | |")
    print(f"| jobs that read metrics | {last['on_metric_jobs']} | {last['off_metric_jobs']} | |")
    print(f"| resources measured | {last['on_measured_resources']} | | |")
    print(f"| metric queries | {last['on_metric_queries']} | 0 | |")
    print(f"| GetMetricData calls | {last['on_metric_calls']} | {last['off_metric_calls']} | ≤ ⌈queries ÷ 500⌉ per job — "
          + ("met in every job" if not over else f"**not met** in {', '.join(over)}") + " |")
    print(f"| slowest job's metrics read (ms) | {last['on_metrics_ms_max']} | | |")
    print(f"| slowest job's listing / advising (ms) | {last['on_listing_ms_max']} / {last['on_advise_ms_max']} | | |")
    print(f"| AWS calls answered | {last['full_calls']} | {last['off_calls']} | |")
    print(f"| scanner CPU (s) | {med('full_cpu_s'):.2f} | {med('off_cpu_s'):.2f} | |")
    print(f"| emulator CPU (s) | {med('full_moto_cpu_s'):.2f} | {med('off_moto_cpu_s'):.2f} | |")
    print(f"| peak RSS, the {last['jobs']} jobs in one process (MiB) | {max(r['full_rss_mib'] for r in rounds):.1f} | "
          f"{max(r['off_rss_mib'] for r in rounds):.1f} | |")
    print()
    print(f"Seeded: {expect_idle['datapoints']} datapoints; {expect_idle['instances']} idle instances and "
          f"{expect_idle['databases']} idle databases expected.")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("env_json")
    p.add_argument("scanner")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--delay", type=float, default=0.05)
    p.add_argument("--proxy-port", type=int, required=True)
    p.add_argument("--moto-pid", type=int, required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--delay", type=float, required=True)
    p = sub.add_parser("boto3")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--table", required=True)
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    elif args.command == "proxy":
        serve_proxy(args.port, args.upstream, args.delay)
    else:
        print(json.dumps(boto3_scan(args.endpoint, args.table)))


if __name__ == "__main__":
    main()
