#!/usr/bin/env python3
"""Seeds AWS resources described in a seed.toml into an endpoint (moto), idempotently.

[[s3_bucket]]       name
[[ssm_parameter]]   name, type (String | SecureString), value, or generate = true for a random
                    value made here (so no secret plaintext is ever committed)
"""
import argparse
import secrets
import sys
import tomllib

import boto3
from botocore.exceptions import ClientError


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("seed")
    args = parser.parse_args()
    with open(args.seed, "rb") as f:
        seed = tomllib.load(f)
    s3 = boto3.client("s3", endpoint_url=args.endpoint)
    ssm = boto3.client("ssm", endpoint_url=args.endpoint)
    region = s3.meta.region_name
    for bucket in seed.get("s3_bucket", []):
        try:
            s3.head_bucket(Bucket=bucket["name"])
        except ClientError:
            s3.create_bucket(
                Bucket=bucket["name"],
                CreateBucketConfiguration={"LocationConstraint": region},
            )
    for param in seed.get("ssm_parameter", []):
        try:
            ssm.get_parameter(Name=param["name"])
            continue  # already seeded: keep its value
        except ClientError:
            pass
        value = secrets.token_urlsafe(24) if param.get("generate") else param["value"]
        ssm.put_parameter(Name=param["name"], Value=value, Type=param.get("type", "String"))
    print(f"seed: {args.seed}: {len(seed.get('s3_bucket', []))} bucket(s), "
          f"{len(seed.get('ssm_parameter', []))} parameter(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
