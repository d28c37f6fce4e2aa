"""Fixes, in the project's own virtualenv, ways moto 5.2.5 differs from AWS
that our tests and benchmarks depend on:

1. S3 responses made by moto's generic serializer use `<{Operation}Response>`
   as the XML root, where S3 (and the S3 model's `@xmlName` traits) use e.g.
   `<ListPartsResult>` or `<VersioningConfiguration>`. botocore ignores the
   root element, so moto's own tests never notice; the Rust SDK checks it and
   fails ListParts and GetBucketVersioning.
2. moto serves requests on many threads, and its DynamoDB checks a condition
   and then writes without a lock, so two concurrent conditional writes can
   both succeed. Real DynamoDB never lets that happen, and our tests of races
   (concurrent refreshes, reservations, completions) rely on it. DynamoDB
   requests are serialised with one lock; every other service stays concurrent.
3. moto answers a ranged GET by reading the whole object and slicing it, so
   reading a multi-GB object in chunks costs O(size) per chunk (hours for the
   validator's 3.2 GB benchmark). An object's bytes are cached once read; the
   cache is dropped whenever the object is written.
4. moto's server finds the backend of every request by listing its own
   package directory (an `isdir` per entry) and then trying hundreds of URL
   patterns, under one global lock: about a millisecond of CPU per request,
   serialised, which dominated the emulator's time in the scan benchmark.
   The answer depends only on the host, so it is remembered per host.
5. moto's DeleteNatGateway ignores `DryRun` and deletes: a dry run of the
   `ec2.delete_nat_gateway` action would delete the gateway it only asks
   about. AWS answers `DryRunOperation`, as moto does for the other calls.

Idempotent; run by venv.sh after every install. Fails loudly if moto's code
no longer looks as expected (after a version bump), so it is never silently
skipped."""

import pathlib
import sys

import moto

MARKER = "# cloudkeep: S3 XML roots"
# The XML root names of S3 outputs that moto serializes generically (from the
# S3 Smithy model's @xmlName traits).
ROOTS = {
    "ListParts": "ListPartsResult",
    "GetBucketVersioning": "VersioningConfiguration",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListBuckets": "ListAllMyBucketsResult",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketLocation": "LocationConstraint",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "DeleteObjects": "DeleteResult",
}

ANCHOR = """        if shape is not None:
            result_key = shape.serialization.get("resultWrapper", result_key)
        result_wrapper = {"""

PATCH = f"""        if shape is not None:
            result_key = shape.serialization.get("resultWrapper", result_key)
        {MARKER}
        if (
            self.operation_model.metadata.get("endpointPrefix") == "s3"
            and not (shape and "payload" in shape.serialization)
        ):
            result_key = {ROOTS!r}.get(self.operation_model.name, result_key)
        result_wrapper = {{"""


DYNAMO_MARKER = "# cloudkeep: linearizable DynamoDB"
DYNAMO_PATCH = f"""

{DYNAMO_MARKER}
import threading as _cloudkeep_threading

_cloudkeep_lock = _cloudkeep_threading.RLock()
_cloudkeep_call_action = DynamoHandler.call_action


def _cloudkeep_serialised_call_action(self):  # type: ignore[no-untyped-def]
    with _cloudkeep_lock:
        return _cloudkeep_call_action(self)


DynamoHandler.call_action = _cloudkeep_serialised_call_action  # type: ignore[method-assign]
"""


VALUE_MARKER = "# cloudkeep: value cache"
VALUE_GETTER = """        with self.lock:
            self._value_buffer.seek(0)
            r = self._value_buffer.read()
            r = copy.copy(r)
            return r
"""
VALUE_GETTER_PATCHED = f"""        with self.lock:
            {VALUE_MARKER}
            cached = self.__dict__.get("_cloudkeep_value")
            if cached is not None:
                return cached
            self._value_buffer.seek(0)
            r = self._value_buffer.read()
            self.__dict__["_cloudkeep_value"] = r
            return r
"""
VALUE_SETTER = """        self._value_buffer.seek(0)
        self._value_buffer.truncate()
"""
VALUE_SETTER_PATCHED = """        self._value_buffer.seek(0)
        self._value_buffer.truncate()
        self.__dict__.pop("_cloudkeep_value", None)
"""


DISPATCH_MARKER = "# cloudkeep: dispatch cache"
DISPATCH_ANCHOR = "    def get_backend_for_host(self, host: str | None) -> Any:\n"
DISPATCH_PATCHED = f"""    {DISPATCH_MARKER}
    def get_backend_for_host(self, host: str | None) -> Any:
        cache = self.__dict__.setdefault("_cloudkeep_backends", {{}})
        if host not in cache:
            cache[host] = self._cloudkeep_get_backend_for_host(host)
        return cache[host]

    def _cloudkeep_get_backend_for_host(self, host: str | None) -> Any:
"""


NAT_MARKER = "# cloudkeep: DeleteNatGateway honours DryRun"
NAT_ANCHOR = """        nat_gateway_id = self._get_param("NatGatewayId")
        nat_gateway = self.ec2_backend.delete_nat_gateway(nat_gateway_id)
"""
NAT_PATCHED = f"""        nat_gateway_id = self._get_param("NatGatewayId")
        {NAT_MARKER}
        self.error_on_dryrun()
        nat_gateway = self.ec2_backend.delete_nat_gateway(nat_gateway_id)
"""


def fail(path: pathlib.Path) -> int:
    print(f"patch_moto: {path} changed shape; review infra/scripts/patch_moto.py for this moto version", file=sys.stderr)
    return 1


def main() -> int:
    root = pathlib.Path(moto.__file__).parent
    serialize = root / "core" / "serialize.py"
    text = serialize.read_text()
    if MARKER not in text:
        if text.count(ANCHOR) != 1:
            return fail(serialize)
        serialize.write_text(text.replace(ANCHOR, PATCH))
    responses = root / "dynamodb" / "responses.py"
    text = responses.read_text()
    if DYNAMO_MARKER not in text:
        if "class DynamoHandler(BaseResponse):" not in text or "    def call_action(self)" not in text:
            return fail(responses)
        responses.write_text(text + DYNAMO_PATCH)
    models = root / "s3" / "models.py"
    text = models.read_text()
    if VALUE_MARKER not in text:
        if text.count(VALUE_GETTER) != 1 or text.count(VALUE_SETTER) != 1:
            return fail(models)
        models.write_text(text.replace(VALUE_GETTER, VALUE_GETTER_PATCHED).replace(VALUE_SETTER, VALUE_SETTER_PATCHED))
    dispatch = root / "moto_server" / "werkzeug_app.py"
    text = dispatch.read_text()
    if DISPATCH_MARKER not in text:
        if text.count(DISPATCH_ANCHOR) != 1:
            return fail(dispatch)
        dispatch.write_text(text.replace(DISPATCH_ANCHOR, DISPATCH_PATCHED))
    nat = root / "ec2" / "responses" / "nat_gateways.py"
    text = nat.read_text()
    if NAT_MARKER not in text:
        if text.count(NAT_ANCHOR) != 1:
            return fail(nat)
        nat.write_text(text.replace(NAT_ANCHOR, NAT_PATCHED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
