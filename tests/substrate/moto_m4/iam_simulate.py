"""IAM SimulatePrincipalPolicy for moto, answered from the principal's real policies.

moto does not implement the action; its own policy evaluator (IAMPolicyStatement in
moto/iam/access_control.py) decides each statement. Decision per action/resource pair, as AWS
documents it: any matching Deny -> explicitDeny; else any matching Allow -> allowed; else
implicitDeny. MatchedStatements name the policy and the statement's position in it.
"""
import json

from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.iam.responses import IamResponse


def _documents(backend, arn):
    """(policy id, policy type, document) for every identity policy of the principal."""
    if ":role/" in arn:
        principal = backend.get_role_by_arn(arn)
        inline_type = "role"
    else:
        principal = backend.get_user(arn.split("/")[-1])
        inline_type = "user"
    for name, doc in principal.policies.items():
        yield name, inline_type, doc
    for policy in principal.managed_policies.values():
        version = next(v for v in policy.versions if v.is_default)
        kind = "aws-managed" if ":aws:policy/" in policy.arn else "user-managed"
        yield policy.name, kind, version.document


def _statements(doc):
    parsed = json.loads(doc) if isinstance(doc, str) else doc
    statements = parsed.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def evaluate(backend, arn, action, resource):
    allowed, denied = [], []
    for policy_id, policy_type, doc in _documents(backend, arn):
        for index, statement in enumerate(_statements(doc)):
            result = IAMPolicyStatement(statement).is_action_permitted(action, resource)
            match = {
                "SourcePolicyId": policy_id,
                "SourcePolicyType": policy_type,
                "StartPosition": {"Line": index + 1, "Column": 1},
                "EndPosition": {"Line": index + 1, "Column": 1},
            }
            if result == PermissionResult.DENIED:
                denied.append(match)
            elif result == PermissionResult.PERMITTED:
                allowed.append(match)
    if denied:
        return "explicitDeny", denied
    if allowed:
        return "allowed", allowed
    return "implicitDeny", []


def _list_param(response, name):
    value = response._get_param(name)
    if isinstance(value, list):
        return value
    return response._get_multi_param(f"{name}.member")


def simulate_principal_policy(self):
    arn = self._get_param("PolicySourceArn")
    actions = _list_param(self, "ActionNames")
    resources = _list_param(self, "ResourceArns") or ["*"]
    results = []
    for action in actions:
        for resource in resources:
            decision, matched = evaluate(self.backend, arn, action, resource)
            results.append({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decision,
                "MatchedStatements": matched,
                "MissingContextValues": [],
            })
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install():
    IamResponse.simulate_principal_policy = simulate_principal_policy
