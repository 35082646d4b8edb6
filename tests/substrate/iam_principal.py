"""Principals on a substrate whose moto enforces IAM (moto_m4/iam_enforce.py), for the
least-privilege tests. Loopback only.

    python3 iam_principal.py --endpoint URL admin
        creates the user m4host-admin allowed everything (with the default `testing` keys, so
        before enforcement is on), prints {"key": ..., "secret": ...}
    python3 iam_principal.py --endpoint URL enforce
        turns enforcement on: every later request needs a signature of a known user's key and
        a policy allowing it (POST /moto-api/reset-auth 0)
    python3 iam_principal.py --endpoint URL user NAME POLICY_FILE
        (with the admin's keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) creates the customer
        managed policy NAME from the file, the user NAME with it attached, and prints its keys
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request

import boto3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("what", choices=["admin", "enforce", "user"])
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if urllib.parse.urlsplit(args.endpoint).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback endpoints only")
    if args.what == "enforce":
        request = urllib.request.Request(f"{args.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).read()
        print(json.dumps({"enforced": True}))
        return 0
    iam = boto3.client("iam", endpoint_url=args.endpoint, region_name="eu-west-2")
    if args.what == "admin":
        name, document = "m4host-admin", {"Version": "2012-10-17",
                                          "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="everything", PolicyDocument=json.dumps(document))
    else:
        name, policy_file = args.rest
        with open(policy_file) as f:
            document = f.read()
        arn = iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    print(json.dumps({"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
