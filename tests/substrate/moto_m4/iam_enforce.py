"""IAM authorization on the resources AWS authorizes, for a substrate started with enforcement.

moto enforces IAM only when asked (INITIAL_NO_AUTH_ACTION_COUNT, or POST /moto-api/reset-auth with
the number of requests to let through first), and then, for ECS, SSM, CloudWatch Logs and most of
IAM, against the resource `*`: a statement scoped to an ARN never matches, and a statement with a
Condition is taken as an explicit deny (moto/iam/access_control.py). Real AWS authorizes each
resource the request names, with the request's condition keys. This module models that for the
actions m4host sends, from the Service Authorization Reference ("Actions, resources, and condition
keys for Amazon Elastic Container Service / AWS Systems Manager / Amazon CloudWatch Logs / AWS
Identity and Access Management"):

  ecs:DescribeServices, ecs:UpdateService   service ARN (service/CLUSTER/NAME), ecs:cluster
  ecs:DescribeTasks, ecs:StopTask           task ARN (task/CLUSTER/ID), ecs:cluster
  ecs:ListTasks                             `*` with ecs:cluster (its resource type is the container
                                            instance, which a Fargate task has none of)
  ecs:RunTask                               task-definition ARN (FAMILY:REVISION), ecs:cluster, and
                                            iam:PassRole on the task and execution roles with
                                            iam:PassedToService = ecs-tasks.amazonaws.com (RunTask's
                                            "Dependent actions"; ECS Developer Guide, "Task IAM role")
  ecs:DescribeTaskDefinition                `*` (no resource type)
  ssm:GetParameters                         each parameter ARN (parameter/NAME)
  logs:DescribeLogGroups                    log-group:* of the account
  logs:FilterLogEvents, logs:CreateLogStream  log-group:NAME
  logs:GetLogEvents, logs:PutLogEvents      log-group:NAME:log-stream:STREAM
  iam:GetRole                               the role's ARN
  iam:SimulatePrincipalPolicy               the PolicySourceArn
  sts:GetCallerIdentity                     needs no permission (STS API Reference)

and S3's HeadBucket, which moto authorizes as "s3:HeadBucket", an action IAM does not have: the S3
API Reference (HeadBucket, "Permissions") requires s3:ListBucket. The evaluation is the IAM User
Guide's "Policy evaluation logic" for identity policies: an explicit Deny wins, else an Allow that
matches the action, the resource and every condition, else an implicit deny; `*` and `?` wildcards
(actions case-insensitive); a condition key the request does not carry fails its condition.
Operators: StringEquals, StringLike, ArnEquals, ArnLike (others never match: fail closed).
"""
import json
import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from moto.core.authorization import ActionAuthenticatorMixin
import uuid
from xml.sax.saxutils import escape

from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam.access_control import IAMPolicy, IAMRequest, S3IAMRequest
from moto.s3 import responses as s3_responses

ENFORCED = {"ecs", "ssm", "logs", "iam"}


def _like(pattern, value, case_sensitive=True):
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _list(v):
    return v if isinstance(v, list) else [v]


def _condition_holds(conditions, context):
    for operator, keys in (conditions or {}).items():
        for key, expected in keys.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator in ("StringEquals", "ArnEquals"):
                ok = actual in _list(expected)
            elif operator in ("StringLike", "ArnLike"):
                ok = any(_like(e, actual) for e in _list(expected))
            else:
                ok = False
            if not ok:
                return False
    return True


def _applies(statement, action, resource, context):
    if "Action" in statement:
        if not any(_like(a, action, case_sensitive=False) for a in _list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_like(a, action, case_sensitive=False) for a in _list(statement["NotAction"])):
            return False
    if "Resource" in statement:
        if not any(_like(r, resource) for r in _list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_like(r, resource) for r in _list(statement["NotResource"])):
            return False
    return _condition_holds(statement.get("Condition"), context)


def allowed(documents, action, resource, context):
    """The IAM decision for one action on one resource under identity policies."""
    allow = False
    for doc in documents:
        for statement in _list(doc.get("Statement", [])):
            if _applies(statement, action, resource, context):
                if statement.get("Effect") == "Deny":
                    return False
                allow = True
    return allow


def _body(response):
    try:
        return json.loads(response.body or b"{}")
    except ValueError:
        return {}


def _cluster_arn(region, account, cluster):
    cluster = cluster or "default"
    return cluster if cluster.startswith("arn:") else f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"


def _name(arn_or_name):
    return arn_or_name.rsplit("/", 1)[-1]


def _ecs_checks(response, action, region, account):
    body = _body(response)
    cluster_arn = _cluster_arn(region, account, body.get("cluster"))
    cluster = _name(cluster_arn)
    ctx = {"ecs:cluster": cluster_arn}
    arn = lambda rest: f"arn:aws:ecs:{region}:{account}:{rest}"
    if action == "DescribeServices":
        return [("ecs:DescribeServices", arn(f"service/{cluster}/{_name(s)}"), ctx) for s in body.get("services", [])]
    if action == "UpdateService":
        return [("ecs:UpdateService", arn(f"service/{cluster}/{_name(body.get('service', ''))}"), ctx)]
    if action in ("DescribeTasks", "StopTask"):
        tasks = body.get("tasks", []) if action == "DescribeTasks" else [body.get("task", "")]
        return [(f"ecs:{action}", arn(f"task/{cluster}/{_name(t)}"), ctx) for t in tasks]
    if action == "ListTasks":
        return [("ecs:ListTasks", "*", ctx)]
    if action == "RunTask":
        from moto.ecs.models import ecs_backends
        try:
            td = ecs_backends[account][region].describe_task_definition(body.get("taskDefinition", ""))
        except Exception:  # an unknown task definition: RunTask itself answers that
            return [("ecs:RunTask", arn(f"task-definition/{body.get('taskDefinition', '')}"), ctx)]
        checks = [("ecs:RunTask", td.arn, ctx)]
        for role in (getattr(td, "task_role_arn", None), getattr(td, "execution_role_arn", None)):
            if role:
                checks.append(("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
        return checks
    return [(f"ecs:{action}", "*", {})]


def _ssm_checks(response, action, region, account):
    body = _body(response)
    names = body.get("Names", []) if action == "GetParameters" else [body.get("Name", "")]
    return [(f"ssm:{action}", f"arn:aws:ssm:{region}:{account}:parameter/{n.lstrip('/')}", {}) for n in names]


def _logs_checks(response, action, region, account):
    body = _body(response)
    group = lambda g: f"arn:aws:logs:{region}:{account}:log-group:{g}"
    if action == "DescribeLogGroups":
        return [("logs:DescribeLogGroups", group("*"), {})]
    name = body.get("logGroupName", "")
    if action in ("GetLogEvents", "PutLogEvents"):
        return [(f"logs:{action}", f"{group(name)}:log-stream:{body.get('logStreamName', '')}", {})]
    return [(f"logs:{action}", group(name), {})]


def _iam_checks(response, action, region, account):
    query = response.querystring
    one = lambda k: (query.get(k) or [""])[0]
    if action == "SimulatePrincipalPolicy":
        return [("iam:SimulatePrincipalPolicy", one("PolicySourceArn"), {})]
    if action == "GetRole":
        from moto.iam.models import iam_backends
        backend = iam_backends[account]["aws"]
        try:
            return [("iam:GetRole", backend.get_role(one("RoleName")).arn, {})]
        except Exception:  # no such role: its ARN as AWS would build it
            return [("iam:GetRole", f"arn:aws:iam::{account}:role/{one('RoleName')}", {})]
    return [(f"iam:{action}", "*", {})]


CHECKS = {"ecs": _ecs_checks, "ssm": _ssm_checks, "logs": _logs_checks, "iam": _iam_checks}


class _JsonAccessDenied(JsonRESTError):
    """The JSON protocols' denial (ECS, SSM, CloudWatch Logs API References, "Common Errors":
    AccessDeniedException, HTTP 400), worded as AWS words it."""

    code = 400

    def __init__(self, user_arn, action, resource):
        super().__init__(
            "AccessDeniedException",
            f"User: {user_arn} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action",
        )


class _QueryAccessDenied(_RESTError):
    """IAM's denial in the awsQuery error shape the SDKs parse (`<ErrorResponse><Error><Type>Sender
    </Type><Code>AccessDenied</Code>...`, HTTP 403; moto's own AccessDeniedError nests it in
    `<Errors>`, which a query client reads as no code at all)."""

    code = 403

    def __init__(self, user_arn, action, resource):
        message = (f"User: {user_arn} is not authorized to perform: {action} on resource: {resource} "
                   f"because no identity-based policy allows the {action} action")
        super().__init__("AccessDenied", message)
        self.description = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )


class _ResourceRequest(IAMRequest):
    """moto's request check (signature, access key), deciding on the resources AWS authorizes."""

    checks = ()

    def check_action_permitted(self, resource):
        if self._action == "sts:GetCallerIdentity":
            return
        documents = [IAMPolicy(p)._policy_json for p in self._access_key.collect_policies()]
        for action, arn, context in self.checks or [(self._action, resource, {})]:
            if not allowed(documents, action, arn, context):
                if self._service == "iam":
                    raise _QueryAccessDenied(self._access_key.arn, action, arn)
                raise _JsonAccessDenied(self._access_key.arn, action, arn)


_original = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action


def _authorize(self, resource="*"):
    service = getattr(self, "service_name", None)
    if service not in ENFORCED or not hasattr(self, "_get_action"):
        return _original(self, resource)
    try:
        checks = CHECKS[service](self, self._get_action(), self.region, self.current_account)
    except Exception:  # a request too malformed to name its resources: authorize on `*`
        checks = []

    def request(**kwargs):
        r = _ResourceRequest(**kwargs)
        r.checks = checks
        return r

    return self._authenticate_and_authorize_action(request, resource)


_original_s3_request = S3IAMRequest._create_aws_request


def _s3_request_with_encoded_query(self):
    """moto rebuilds the request to check its signature from a path whose query is already
    decoded (`prefix=evidence/`), while SigV4's canonical request has it URI-encoded
    (`prefix=evidence%2F`: Signature Version 4, "Create a canonical request"); boto3 itself is
    refused then. Re-encoded here, so a correctly signed ListObjectsV2 with a prefix passes."""
    request = _original_s3_request(self)
    parts = urlsplit(request.url)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
        request.url = urlunsplit(parts._replace(query=query))
    return request


def install():
    S3IAMRequest._create_aws_request = _s3_request_with_encoded_query
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _authorize
    # S3 API Reference, HeadBucket, "Permissions": s3:ListBucket.
    s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
