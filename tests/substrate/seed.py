#!/usr/bin/env python3
"""Seeds an environment described as data (examples/*/seed.toml or examples/dev_min/environment.toml)
into the local substrate, idempotently: what `terraform apply` would build, then writes
<folder>/generated/terraform_outputs.json as `terraform output -json` would.

Sections (all optional): s3_bucket, ssm_parameter (value, or generate = true: a random value made
here, so no secret plaintext is ever committed), vpc, cluster, role, service, one_shot, kafka, db.
"""
import argparse
import json
import os
import secrets
import subprocess
import sys
import tomllib
import urllib.request

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"


def log(msg):
    print(f"seed: {msg}", file=sys.stderr)



def kafka_security(sasl):
    """kafka-python's options for a SASL_SSL PLAIN login, or none for PLAINTEXT."""
    if not sasl:
        return {}
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": sasl["username"], "sasl_plain_password": sasl["password"],
            "ssl_cafile": sasl["cafile"]}

class Seeder:
    def __init__(self, env, endpoint, folder, control):
        self.env, self.folder, self.control = env, folder, control
        self.region = env.get("region", os.environ.get("AWS_DEFAULT_REGION", "eu-west-2"))
        make = lambda name: boto3.client(name, endpoint_url=endpoint, region_name=self.region)
        self.s3, self.ssm, self.ec2 = make("s3"), make("ssm"), make("ec2")
        self.ecs, self.iam, self.logs = make("ecs"), make("iam"), make("logs")
        self.outputs = {}

    def output(self, name, value, sensitive=False):
        kind = ["list", "string"] if isinstance(value, list) else "string"
        self.outputs[name] = {"sensitive": sensitive, "type": kind, "value": value}

    def buckets(self):
        for bucket in self.env.get("s3_bucket", []):
            try:
                self.s3.head_bucket(Bucket=bucket["name"])
            except ClientError:
                self.s3.create_bucket(Bucket=bucket["name"],
                                      CreateBucketConfiguration={"LocationConstraint": self.region})
            if "output" in bucket:
                self.output(bucket["output"], bucket["name"])

    def parameters(self):
        for param in self.env.get("ssm_parameter", []):
            try:
                self.ssm.get_parameter(Name=param["name"])
                continue  # already seeded: keep its value
            except ClientError:
                pass
            value = secrets.token_urlsafe(24) if param.get("generate") else param["value"]
            self.ssm.put_parameter(Name=param["name"], Value=value, Type=param.get("type", "String"))

    def parameter_value(self, name):
        return self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]

    def network(self):
        spec = self.env.get("vpc")
        if not spec:
            return
        tag = lambda name: [{"Key": "Name", "Value": name}]
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [spec["name"]]}])["Vpcs"]
        if vpcs:
            vpc_id = vpcs[0]["VpcId"]
        else:
            vpc_id = self.ec2.create_vpc(CidrBlock=spec["cidr"], TagSpecifications=[
                {"ResourceType": "vpc", "Tags": tag(spec["name"])}])["Vpc"]["VpcId"]
            self.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
            self.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        subnet_ids = []
        for i, cidr in enumerate(spec["public_subnets"]):
            name = f"{spec['name']}-public-{i + 1}"
            found = self.ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [name]}])["Subnets"]
            if found:
                subnet_ids.append(found[0]["SubnetId"])
            else:
                subnet_ids.append(self.ec2.create_subnet(
                    VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{self.region}{'abc'[i % 3]}",
                    TagSpecifications=[{"ResourceType": "subnet", "Tags": tag(name)}])["Subnet"]["SubnetId"])
        groups = self.ec2.describe_security_groups(Filters=[
            {"Name": "group-name", "Values": [spec["app_security_group"]]},
            {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
        sg_id = groups[0]["GroupId"] if groups else self.ec2.create_security_group(
            GroupName=spec["app_security_group"], Description="P2 daemons", VpcId=vpc_id)["GroupId"]
        self.vpc = {"vpc_id": vpc_id, "subnets": subnet_ids, "sg": sg_id}
        self.output("vpc_id", vpc_id)
        self.output("subnet_ids_public", subnet_ids)
        self.output("security_group_id_app", sg_id)

    def roles(self):
        self.role_arns = {}
        for role in self.env.get("role", []):
            trust = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": role["trust_service"]}, "Action": "sts:AssumeRole"}]}
            try:
                arn = self.iam.get_role(RoleName=role["name"])["Role"]["Arn"]
            except ClientError:
                arn = self.iam.create_role(RoleName=role["name"],
                                           AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            policy = {"Version": "2012-10-17", "Statement": [
                {"Sid": s["sid"], "Effect": s.get("effect", "Allow"), "Action": s["actions"], "Resource": s["resources"]}
                for s in role.get("statement", [])]}
            self.iam.put_role_policy(RoleName=role["name"], PolicyName=f"{role['name']}-policy",
                                     PolicyDocument=json.dumps(policy))
            self.role_arns[role["output"]] = arn
            self.output(role["output"], arn)

    def container(self, name, image_name, extra_env=()):
        prefix = self.env["log_group_prefix"]
        ssm = self.env["ssm_prefix"]
        ssm_arn = lambda path: f"arn:aws:ssm:{self.region}:{ACCOUNT}:parameter{path}"
        return {
            "name": name,
            "image": f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/fraud-platform/{image_name}:v0",
            "essential": True,
            "memory": 512,
            "cpu": 256,
            "environment": [
                {"name": self.env["run_scope_env_key"], "value": self.env["platform_run_id"]},
                {"name": "SERVICE_NAME", "value": name},
                *({"name": k, "value": v} for k, v in extra_env),
            ],
            "secrets": [
                {"name": "KAFKA_BOOTSTRAP", "valueFrom": ssm_arn(f"{ssm}/confluent/bootstrap")},
                {"name": "KAFKA_API_KEY", "valueFrom": ssm_arn(f"{ssm}/confluent/api_key")},
                {"name": "KAFKA_API_SECRET", "valueFrom": ssm_arn(f"{ssm}/confluent/api_secret")},
                {"name": "DB_PASSWORD", "valueFrom": ssm_arn(f"{ssm}/db/password")},
            ],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": f"{prefix}/{name}", "awslogs-region": self.region, "awslogs-stream-prefix": "ecs"}},
        }

    def task_definition(self, family, image_name, extra_env=()):
        container = self.container(family, image_name, extra_env)
        existing = self.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
        if existing:
            latest = self.ecs.describe_task_definition(taskDefinition=existing[-1])["taskDefinition"]
            # A substrate seeded before a variable was added gets a new revision with it.
            if latest["containerDefinitions"][0].get("environment") == container["environment"]:
                return existing[-1]
        return self.ecs.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            executionRoleArn=self.role_arns.get("ecs_task_execution_role_arn"),
            taskRoleArn=self.role_arns.get("ecs_daemon_task_role_arn"),
            containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]

    def compute(self):
        cluster = self.env.get("cluster")
        if not cluster:
            return
        self.ecs.create_cluster(clusterName=cluster["name"])
        self.output("ecs_cluster_name", cluster["name"])
        prefix = self.env["log_group_prefix"]
        self.output("cloudwatch_log_group_prefix", prefix)
        existing_groups = {g["logGroupName"] for g in self.logs.describe_log_groups(
            logGroupNamePrefix=prefix)["logGroups"]}
        for svc in self.env.get("service", []):
            group = f"{prefix}/{svc['name']}"
            if group not in existing_groups:
                self.logs.create_log_group(logGroupName=group)
            td = self.task_definition(svc["name"], svc["name"].rsplit("dev-min-", 1)[-1])
            found = self.ecs.describe_services(cluster=cluster["name"], services=[svc["name"]])["services"]
            if not any(s["status"] == "ACTIVE" for s in found):
                self.ecs.create_service(
                    cluster=cluster["name"], serviceName=svc["name"], taskDefinition=td, desiredCount=0,
                    launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                        "subnets": self.vpc["subnets"], "securityGroups": [self.vpc["sg"]],
                        "assignPublicIp": "ENABLED"}})
            self.output(svc["handle"].lower(), svc["name"])
        for one in self.env.get("one_shot", []):
            # An oracle job learns its stage and its output bucket from its task definition.
            extra = [(k, v) for k, v in (("ORACLE_STAGE", one.get("stage")),
                                         ("ORACLE_OUTPUT_BUCKET", one.get("output_bucket"))) if v]
            self.output(one["handle"].lower(),
                        self.task_definition(one["family"], one["family"].rsplit("dev-min-", 1)[-1], extra))

    def kafka(self):
        spec = self.env.get("kafka")
        if not spec:
            return
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        # Over SASL_SSL (the substrate's gateway) the seeder and the stand-in daemons log in as the
        # daemons do in production: PLAIN with the API key and secret seeded in SSM, the test CA.
        sasl = None
        if spec.get("security_protocol", "PLAINTEXT") == "SASL_SSL":
            ssm = self.env["ssm_prefix"]
            sasl = {"username": self.parameter_value(f"{ssm}/confluent/api_key"),
                    "password": self.parameter_value(f"{ssm}/confluent/api_secret"),
                    "cafile": spec["ca_file"]}
        admin = KafkaAdminClient(bootstrap_servers=spec["bootstrap"], client_id="m4host-seed",
                                 **kafka_security(sasl))
        missing = [t for t in spec["topics"] if t not in set(admin.list_topics())]
        if missing:
            admin.create_topics([NewTopic(t, 1, 1) for t in missing])
        admin.close()
        for svc in self.env.get("service", []):
            if svc.get("consumes"):
                body = json.dumps({"cluster": self.env["cluster"]["name"], "service": svc["name"],
                                   "group": svc["name"], "topics": svc["consumes"],
                                   "bootstrap": spec["bootstrap"], "region": self.region,
                                   "sasl": sasl}).encode()
                request = urllib.request.Request(f"{self.control}/lanes", data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=5).read()

    def database(self):
        spec = self.env.get("db")
        if not spec:
            return
        password = self.parameter_value(f"{self.env['ssm_prefix']}/db/password")
        # The role's password follows SSM (a --reset generates a new one); SCRAM by PostgreSQL 15's default.
        sql = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{spec['user']}') THEN
    CREATE ROLE {spec['user']} LOGIN;
  END IF;
END $$;
SET password_encryption = 'scram-sha-256';
ALTER ROLE {spec['user']} PASSWORD :'pw';
"""
        psql = ["runuser", "-u", "postgres", "--", "psql", "-p", str(spec["port"]), "-v", "ON_ERROR_STOP=1", "-q",
                "-v", f"pw={password}"]
        subprocess.run(psql + ["-d", "postgres"], input=sql, text=True, check=True, capture_output=True)
        exists = subprocess.run(psql + ["-d", "postgres", "-tAc",
                                        f"SELECT 1 FROM pg_database WHERE datname = '{spec['name']}'"],
                                text=True, check=True, capture_output=True).stdout.strip()
        if not exists:
            subprocess.run(psql + ["-d", "postgres", "-c", f"CREATE DATABASE {spec['name']} OWNER {spec['user']}"],
                           text=True, check=True, capture_output=True)
        self.output("rds_endpoint", f"{spec['host']}:{spec['port']}")
        self.output("db_name", spec["name"])

    def timing(self, timing):
        for svc in self.env.get("service", []):
            body = json.dumps({"cluster": self.env["cluster"]["name"], "service": svc["name"],
                               "mode": None, "timing": timing, "region": self.region}).encode()
            request = urllib.request.Request(f"{self.control}/fault", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=5).read()

    def write_outputs(self):
        if not self.outputs:
            return
        path = os.path.join(self.folder, "generated", "terraform_outputs.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(sorted(self.outputs.items())), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)


def tenant_copy(source_dir, tenant, out_dir, extra=()):
    """Copies an environment folder for a tenant: every name, path, topic and the platform run id
    made the tenant's own, so that tests (and rehearsals) never share a cluster, a bucket, a lane
    or a run-scoped evidence path with each other or with dev_min."""
    if not all(c.isalnum() or c == "-" for c in tenant) or tenant != tenant.lower():
        sys.exit(f"tenant `{tenant}` must be lower-case letters, digits and -")
    with open(os.path.join(source_dir, "environment.toml"), "rb") as f:
        env = tomllib.load(f)
    old_name, old_env = env["cluster"]["name"], env["name"]
    replacements = [
        (old_name, f"fraud-platform-{tenant}"),
        (f"/fraud-platform/{old_env}", f"/fraud-platform/{tenant}"),
        ("fp.bus.", f"{tenant}.fp.bus."),
        (env["platform_run_id"], f"platform_{tenant}"),
        ("../../runs/dev_substrate/m4", "runs"),
        ("../../runs/dev_substrate/m5", "runs-m5"),
        ("../../runs/dev_substrate/m6", "runs-m6"),
        # The database and its login role are the tenant's own too (a shared role's password
        # would be reset by every tenant's seeding).
        (env["db"]["user"], f"{env['db']['user']}_{tenant.replace('-', '_')}"),
        (env["db"]["name"], f"{env['db']['name']}_{tenant.replace('-', '_')}"),
        *extra,
    ]
    for rel in ["environment.toml", "handles.registry.toml", "local.toml", "local-m5.toml", "local-m6.toml",
                "m3/m3_f_verdict_snapshot.json", "m3/m4_handoff_pack.json"]:
        with open(os.path.join(source_dir, rel)) as f:
            text = f.read()
        for old, new in replacements:
            text = text.replace(old, new)
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return os.path.join(out_dir, "environment.toml")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--control", help="base URL of the moto extension's control endpoints")
    parser.add_argument("--tenant", help="seed a copy of the environment under this name (with --out)")
    parser.add_argument("--out", help="folder the tenant's environment files are written to")
    parser.add_argument("--replace", action="append", default=[], metavar="OLD=>NEW",
                        help="one more replacement in the tenant's copy, e.g. a private broker's address")
    parser.add_argument("--timing", help="JSON of per-service scheduler timings for the seeded services")
    parser.add_argument("seed")
    args = parser.parse_args()
    if args.tenant:
        if not args.out:
            sys.exit("--tenant needs --out")
        extra = [tuple(r.split("=>", 1)) for r in args.replace]
        args.seed = tenant_copy(os.path.dirname(os.path.abspath(args.seed)), args.tenant, args.out, extra)
    with open(args.seed, "rb") as f:
        env = tomllib.load(f)
    seeder = Seeder(env, args.endpoint, os.path.dirname(os.path.abspath(args.seed)),
                    args.control or f"{args.endpoint}/m4host-substrate")
    seeder.buckets()
    seeder.parameters()
    seeder.network()
    seeder.roles()
    seeder.compute()
    seeder.kafka()
    seeder.database()
    seeder.write_outputs()
    if args.timing:
        seeder.timing(json.loads(args.timing))
    log(f"{args.seed}: {len(env.get('s3_bucket', []))} bucket(s), {len(env.get('ssm_parameter', []))} parameter(s), "
        f"{len(env.get('service', []))} service(s), {len(seeder.outputs)} output(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
