//! IAM posture: a role exists, its trust policy lets ECS tasks assume it, and what its policies
//! allow for named action/resource pairs (SimulatePrincipalPolicy). The trust judgement is
//! `rules::trust`.

use crate::infra::aws::{AwsError, AwsErrorKind};
use crate::rules::trust::{self, TrustContext};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub exists: bool,
    pub name: String,
    pub arn: Option<String>,
    pub trust_allows_ecs_tasks: bool,
    pub trusted_services: Vec<String>,
    pub reason: String,
}

/// IAM returns the trust document URL-encoded; decode it (a plain JSON document is left as is).
pub fn decode_policy(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Looks a role up by name or ARN, its trust judged for ECS tasks of `cluster_arn` (when known)
/// in the role's own account (`rules::trust`).
pub async fn role(
    iam: &aws_sdk_iam::Client,
    name_or_arn: &str,
    cluster_arn: Option<&str>,
) -> Result<RoleView, AwsError> {
    let name = name_or_arn
        .rsplit('/')
        .next()
        .unwrap_or(name_or_arn)
        .to_owned();
    match iam.get_role().role_name(&name).send().await {
        Ok(out) => {
            let malformed = |why: String| {
                AwsError::new(format!("GetRole {name}"), AwsErrorKind::Malformed, why)
            };
            let role = out
                .role()
                .ok_or_else(|| malformed("the answer holds no role".into()))?;
            // arn:aws:iam::ACCOUNT:role/NAME
            let account = role.arn().split(':').nth(4).filter(|a| !a.is_empty());
            let context = TrustContext {
                account,
                cluster_arn,
            };
            let trust = match role.assume_role_policy_document() {
                Some(doc) => trust::judge(&decode_policy(doc), &context).map_err(malformed)?,
                None => trust::judge("{}", &context).map_err(malformed)?,
            };
            Ok(RoleView {
                exists: true,
                arn: Some(role.arn().to_owned()),
                reason: trust.describe(),
                name,
                trust_allows_ecs_tasks: trust.allows_ecs_tasks,
                trusted_services: trust.trusted_services,
            })
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            Ok(RoleView {
                exists: false,
                arn: None,
                reason: format!("role `{name}` does not exist"),
                name,
                trust_allows_ecs_tasks: false,
                trusted_services: vec![],
            })
        }
        Err(e) => Err(AwsError::from_sdk(format!("GetRole {name}"), &e)),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub action: String,
    pub resource: String,
    pub decision: String,
    pub allowed: bool,
    pub matched_statements: Vec<String>,
}

/// SimulatePrincipalPolicy over action/resource pairs (one call per distinct resource, at most AWS_CONCURRENCY in flight).
pub async fn simulate(
    iam: &aws_sdk_iam::Client,
    principal_arn: &str,
    pairs: &[(String, String)],
) -> Result<Vec<Decision>, AwsError> {
    let mut by_resource: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (action, resource) in pairs {
        by_resource.entry(resource).or_default().push(action);
    }
    let calls = by_resource.iter().map(|(resource, actions)| {
        iam.simulate_principal_policy()
            .policy_source_arn(principal_arn)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .resource_arns(resource.to_string())
            .send()
    });
    let mut out = Vec::new();
    for result in crate::infra::aws::bounded(calls).await {
        let result = result.map_err(|e| {
            AwsError::from_sdk(format!("SimulatePrincipalPolicy {principal_arn}"), &e)
        })?;
        for r in result.evaluation_results() {
            let decision = r.eval_decision().as_str().to_owned();
            out.push(Decision {
                action: r.eval_action_name().to_owned(),
                resource: r.eval_resource_name().unwrap_or("*").to_owned(),
                allowed: decision == "allowed",
                decision,
                matched_statements: r
                    .matched_statements()
                    .iter()
                    .map(|m| {
                        let line = m.start_position().map(|p| p.line()).unwrap_or(0);
                        format!("{}#{}", m.source_policy_id().unwrap_or("?"), line)
                    })
                    .collect(),
            });
        }
    }
    // Keep the caller's order.
    out.sort_by_key(|d| {
        pairs
            .iter()
            .position(|(a, r)| a == &d.action && r == &d.resource)
            .unwrap_or(usize::MAX)
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_trust_is_decoded() {
        let doc = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22%3A%20%7B%22Service%22%3A%20%22ecs-tasks.amazonaws.com%22%7D%2C%20%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D";
        let t = trust::judge(&decode_policy(doc), &TrustContext::default()).unwrap();
        assert_eq!(t.trusted_services, vec!["ecs-tasks.amazonaws.com"]);
        assert!(t.allows_ecs_tasks);
    }
}
