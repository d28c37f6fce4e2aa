#!/usr/bin/env bash
# Held to a peer: runs Prowler (the open-source AWS checker) against the
# emulator that holds an estate cloudkeep has scanned, fetches cloudkeep's open
# findings from its API, and prints, for every rule the two share, our count
# beside Prowler's FAIL count. docs/PROWLER.md explains each difference.
#
# It starts nothing: run `make dev` first (or any stack whose scan is done) and
# point this at it. It is not part of `make test` (Prowler takes ~2 minutes and
# a ~400-package install). Prowler goes into its own venv, .local/prowler-venv,
# never the project's .venv (their pinned boto3/moto versions differ).
#
# Usage:
#   AWS_ENDPOINT_URL=http://127.0.0.1:5000 CLOUDKEEP_PASSWORD=<admin password> \
#       infra/peers/prowler.sh [--ocsf FILE ...]
#
# Env:
#   AWS_ENDPOINT_URL     the emulator (required; loopback only)
#   CLOUDKEEP_API        the API base (default http://127.0.0.1:${PORT:-3000})
#   CLOUDKEEP_TOKEN      a bearer token; or CLOUDKEEP_PASSWORD (and CLOUDKEEP_USER,
#                        default admin) to log in
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   default test / test (moto's)
#   PROWLER_VERSION      default 5.46.0 (the version docs/PROWLER.md was written against)
#   PROWLER_REGIONS      default: the regions of the registered accounts
#   PROWLER_SCAN_UNUSED  1 (default): --scan-unused-services, so Prowler also
#                        judges security groups attached to nothing, as we do;
#                        0: Prowler's default
#   PROWLER_OUT          output folder (default .local/prowler/<UTC time>)
# --ocsf FILE: compare an earlier Prowler json-ocsf output instead of running it.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"

die() { printf 'prowler.sh: %s\n' "$*" >&2; exit 1; }

ocsf=()
while [ $# -gt 0 ]; do
    case $1 in
        --ocsf) [ $# -ge 2 ] || die "--ocsf needs a file"; ocsf+=("$2"); shift 2 ;;
        -h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

: "${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL to the emulator, e.g. http://127.0.0.1:5000}"
case $AWS_ENDPOINT_URL in
    http://127.0.0.1:* | http://localhost:* | http://\[::1\]:*) ;;
    *) die "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL: only an emulator on loopback" ;;
esac
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
export CLOUDKEEP_API=${CLOUDKEEP_API:-http://127.0.0.1:${PORT:-3000}}
export PROWLER_SCAN_UNUSED=${PROWLER_SCAN_UNUSED:-1}
version=${PROWLER_VERSION:-5.46.0}
venv="$repo_root/.local/prowler-venv"
out=${PROWLER_OUT:-$repo_root/.local/prowler/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

# Prowler, in its own venv, installed once per version.
if ! [ -x "$venv/bin/prowler" ] || [ "$(cat "$venv/.prowler-version" 2>/dev/null)" != "$version" ]; then
    echo "prowler.sh: installing prowler==$version into $venv (a few minutes)" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "prowler==$version" ||
        die "pip install prowler==$version failed"
    echo "$version" >"$venv/.prowler-version"
fi
py="$venv/bin/python"

# Our side first: the token, the accounts, and a finished scan.
"$py" - "$out" <<'EOF' || die "could not read the cloudkeep API at $CLOUDKEEP_API"
import json, os, sys, time, urllib.request
api, out = os.environ["CLOUDKEEP_API"].rstrip("/"), sys.argv[1]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(api + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json",
                 **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
token = os.environ.get("CLOUDKEEP_TOKEN")
if not token:
    password = os.environ.get("CLOUDKEEP_PASSWORD") or sys.exit(
        "prowler.sh: set CLOUDKEEP_TOKEN or CLOUDKEEP_PASSWORD (make dev prints the admin's)")
    token = call("POST", "/v1/auth/login",
                 {"username": os.environ.get("CLOUDKEEP_USER", "admin"), "password": password})["access_token"]
# The newest scan must be finished: at most 5 minutes, polled every 2 s.
for _ in range(150):
    scans = call("GET", "/v1/scans?limit=1", token=token)["items"]
    if scans and scans[0]["status"] not in ("queued", "running"):
        break
    time.sleep(2)
else:
    sys.exit("prowler.sh: no finished scan after 5 minutes")
def pages(path):
    cursor = None
    while True:
        sep = "&" if "?" in path else "?"
        page = call("GET", path + (f"{sep}cursor={cursor}" if cursor else ""), token=token)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return
accounts = list(pages("/v1/accounts?limit=200"))
findings = list(pages("/v1/findings?status=open&limit=200"))
json.dump({"scan": scans[0], "accounts": accounts, "findings": findings},
          open(f"{out}/cloudkeep.json", "w"), indent=1)
print(f"prowler.sh: scan {scans[0]['scan_id']} {scans[0]['status']}, "
      f"{len(accounts)} account(s), {len(findings)} open finding(s)", file=sys.stderr)
EOF

# Prowler's side: the services we cover, the accounts' regions; no check that
# downloads Lambda code or reads CloudTrail events, nor the Shodan lookup.
if [ ${#ocsf[@]} -eq 0 ]; then
    services=(ec2 vpc rds s3 iam awslambda elbv2 elb kms secretsmanager cloudwatch dynamodb)
    excluded=(awslambda_function_no_secrets_in_code awslambda_layer_no_secrets_in_content
        kms_key_enclave_attestation_unknown_image kms_key_enclave_debug_attestation_detected
        ec2_elastic_ip_shodan)
    unused=()
    [ "$PROWLER_SCAN_UNUSED" = 1 ] && unused=(--scan-unused-services)
    while IFS='|' read -r account role external regions; do
        read -r -a region_list <<<"${PROWLER_REGIONS:-$regions}"
        assume=()
        [ -n "$role" ] && assume=(--role "$role")
        [ -n "$external" ] && assume+=(--external-id "$external")
        echo "prowler.sh: prowler on $account (${region_list[*]}), log $out/prowler-$account.log" >&2
        "$venv/bin/prowler" aws --no-banner -z "${assume[@]}" \
            --service "${services[@]}" --excluded-check "${excluded[@]}" \
            -f "${region_list[@]}" "${unused[@]}" \
            --output-formats json-ocsf csv -o "$out" -F "prowler-$account" \
            >"$out/prowler-$account.log" 2>&1 ||
            { tail -20 "$out/prowler-$account.log" >&2; die "prowler failed on $account"; }
        ocsf+=("$out/prowler-$account.ocsf.json")
    done < <("$py" -c '
import json, sys
for a in json.load(open(sys.argv[1]))["accounts"]:
    print(a["account_id"], a.get("role_arn") or "", a.get("external_id") or "",
          " ".join(a.get("regions") or ["us-east-1"]), sep="|")' "$out/cloudkeep.json")
fi

"$py" - "$out/cloudkeep.json" "${ocsf[@]}" <<'EOF'
import collections, json, re, sys

# Our check id -> Prowler's check ids (a FAIL of any counts the resource once),
# and how resources are matched: "resource" (the id at the ARN's end and its
# region), "region" (one per region: account settings), "account" (one per account).
SHARED = [
    ("ec2.instance_imdsv2_not_required", ["ec2_instance_imdsv2_enabled"], "resource"),
    ("ec2.instance_public_ip", ["ec2_instance_public_ip"], "resource"),
    ("ec2.instance_stopped_with_volumes", ["ec2_instance_stopped_older_than_specific_days"], "resource"),
    ("ec2.security_group_ssh_open_to_world", ["ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"], "resource"),
    ("ec2.security_group_rdp_open_to_world", ["ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389"], "resource"),
    ("ec2.security_group_all_ports_open_to_world", ["ec2_securitygroup_allow_ingress_from_internet_to_all_ports"], "resource"),
    ("ec2.volume_unencrypted", ["ec2_ebs_volume_encryption"], "resource"),
    ("ec2.snapshot_public", ["ec2_ebs_public_snapshot"], "resource"),
    ("ec2.snapshot_unencrypted", ["ec2_ebs_snapshots_encrypted"], "resource"),
    ("ec2.elastic_ip_unassociated", ["ec2_elastic_ip_unassigned"], "resource"),
    ("ec2.ebs_encryption_by_default_off", ["ec2_ebs_default_encryption"], "region"),
    ("rds.instance_publicly_accessible", ["rds_instance_no_public_access"], "resource"),
    ("rds.storage_unencrypted", ["rds_instance_storage_encrypted"], "resource"),
    ("rds.backup_retention_short", ["rds_instance_backup_enabled"], "resource"),
    ("rds.production_single_az", ["rds_instance_multi_az"], "resource"),
    ("rds.deletion_protection_off", ["rds_instance_deletion_protection"], "resource"),
    ("rds.snapshot_public", ["rds_snapshots_public_access"], "resource"),
    ("rds.engine_end_of_standard_support", ["rds_instance_deprecated_engine_version", "rds_instance_extended_support"], "resource"),
    ("s3.public_access_block_off", ["s3_bucket_level_public_access_block"], "resource"),
    ("s3.default_encryption_missing", ["s3_bucket_default_encryption"], "resource"),
    ("s3.versioning_off", ["s3_bucket_object_versioning"], "resource"),
    ("s3.no_lifecycle_rule", ["s3_bucket_lifecycle_enabled"], "resource"),
    ("s3.policy_public", ["s3_bucket_public_access", "s3_bucket_policy_public_write_access"], "resource"),
    ("s3.tls_not_enforced", ["s3_bucket_secure_transport_policy"], "resource"),
    ("lambda.runtime_deprecated", ["awslambda_function_using_supported_runtimes"], "resource"),
    ("lambda.function_url_without_auth", ["awslambda_function_url_public"], "resource"),
    ("elbv2.load_balancer_unused", ["elbv2_listeners_underneath"], "resource"),
    ("elbv2.http_not_redirected_to_https", ["elbv2_ssl_listeners"], "resource"),
    ("iam.console_user_without_mfa", ["iam_user_mfa_enabled_console_access"], "resource"),
    ("iam.access_key_not_rotated", ["iam_rotate_access_key_90_days"], "resource"),
    ("iam.access_key_unused", ["iam_user_accesskey_unused", "iam_user_no_setup_initial_access_key"], "resource"),
    ("iam.user_two_active_keys", ["iam_user_two_active_access_key"], "resource"),
    ("iam.root_access_keys", ["iam_no_root_access_key"], "account"),
    ("iam.root_without_mfa", ["iam_root_mfa_enabled"], "account"),
    ("iam.password_policy_weak", ["iam_password_policy_minimum_length_14", "iam_password_policy_reuse_24",
                                  "iam_password_policy_uppercase", "iam_password_policy_lowercase",
                                  "iam_password_policy_number", "iam_password_policy_symbol"], "account"),
    ("kms.key_rotation_off", ["kms_cmk_rotation_enabled"], "resource"),
    ("kms.key_pending_deletion", ["kms_cmk_not_deleted_unintentionally"], "resource"),
    ("secretsmanager.rotation_off", ["secretsmanager_automatic_rotation_enabled"], "resource"),
    ("secretsmanager.unused", ["secretsmanager_secret_unused"], "resource"),
    ("logs.retention_never_expires", ["cloudwatch_log_group_retention_policy_specific_days_enabled"], "resource"),
    ("dynamodb.pitr_off", ["dynamodb_tables_pitr_enabled"], "resource"),
    ("dynamodb.deletion_protection_off", ["dynamodb_table_deletion_protection_enabled"], "resource"),
]

def key(arn, region, account, scope):
    if scope == "account":
        return account
    if scope == "region":
        return (account, region)
    # The id at the ARN's end (instance/i-1, db:name, :::bucket, secret:name-Ab1cDe).
    return (account, region or "", re.split(r"[/:]", arn)[-1])

def region_of(arn):
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""

ours_doc = json.load(open(sys.argv[1]))
scope_of = {p: scope for _, peers, scope in SHARED for p in peers}
scopes = {ours: scope for ours, _, scope in SHARED}
ours = collections.defaultdict(set)
for f in ours_doc["findings"]:
    scope = scopes.get(f["check_id"], "resource")
    # Regions from the ARNs on both sides: ours says "global" for IAM, Prowler us-east-1.
    ours[f["check_id"]].add(key(f["resource_arn"], region_of(f["resource_arn"]), f["account_id"], scope))

theirs, judged, fail_rows = collections.defaultdict(set), collections.Counter(), collections.Counter()
for path in sys.argv[2:]:
    for f in json.load(open(path)):
        check = f["metadata"]["event_code"]
        judged[check] += 1
        if f["status_code"] != "FAIL" or f.get("status") == "Suppressed":
            continue
        fail_rows[check] += 1
        r = f["resources"][0]
        account = f["cloud"]["account"]["uid"]
        # The account-settings rows (EBS default encryption) carry a region-less
        # template ARN: their region is the row's.
        region = region_of(r["uid"]) or (r.get("region") if scope_of.get(check) == "region" else "")
        theirs[check].add((r["uid"], region, account))

rows, same = [], 0
for check, peers, scope in SHARED:
    mine = ours[check]
    peer = {key(uid, region, account, scope) for p in peers for uid, region, account in theirs[p]}
    raw = "+".join(str(fail_rows[p]) for p in peers)
    if not mine and not peer and not any(judged[p] for p in peers):
        verdict = "equal (nothing to judge)"
    elif len(mine) == len(peer):
        verdict = "equal" if mine == peer else "equal count, other resources"
    else:
        verdict = "differs"
    same += verdict.startswith("equal") and verdict != "equal count, other resources"
    rows.append((check, len(mine), len(peer), raw, verdict, " + ".join(peers)))

head = ("cloudkeep check", "ours", "prowler", "rows", "verdict", "prowler check(s)")
w = [max(len(str(r[i])) for r in rows + [head]) for i in range(6)]
print("  ".join(str(h).ljust(w[i]) for i, h in enumerate(head)).rstrip())
for r in rows:
    print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip())
print(f"\n{same} of {len(rows)} shared rules agree resource for resource. "
      "'prowler' counts distinct resources failing any of its checks; 'rows' is its raw FAIL rows per check.")
only_ours = sorted(c for c in ours if c not in scopes)
if only_ours:
    print("open findings of checks Prowler does not have: " +
          ", ".join(f"{c} {len(ours[c])}" for c in only_ours))
EOF
