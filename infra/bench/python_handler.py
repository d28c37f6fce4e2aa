"""The comparison point for the cold-start benchmark: a Lambda handler written
the usual Python way (boto3, clients created at import), doing the same health
work as our functions (DescribeTable + HeadBucket), driven through the same
Runtime API protocol by a minimal runtime loop like awslambdaric's."""

import json
import os
import urllib.request

import boto3

dynamodb = boto3.client("dynamodb")
s3 = boto3.client("s3")
secrets = boto3.client("secretsmanager")

TABLE = os.environ["PACKAGES_TABLE"]
BUCKET = os.environ["PACKAGE_BUCKET"]


def handler(event, context):
    dynamodb.describe_table(TableName=TABLE)
    s3.head_bucket(Bucket=BUCKET)
    return {"statusCode": 200, "body": json.dumps({"status": "ok"})}


def main():
    api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(f"{api}/next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        body = json.dumps(handler(event, None)).encode()
        urllib.request.urlopen(urllib.request.Request(f"{api}/{request_id}/response", data=body, method="POST")).read()


if __name__ == "__main__":
    main()
