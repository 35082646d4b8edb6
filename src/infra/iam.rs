//! IAM posture: a role exists, its trust policy lets ECS tasks assume it, and what its policies
//! allow for named action/resource pairs (SimulatePrincipalPolicy). The trust judgement is pure.

use crate::infra::aws::{AwsError, AwsErrorKind};
use serde::Serialize;
use serde_json::Value;

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

fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// The services an Allow statement lets call `sts:AssumeRole`, and whether ECS tasks is one.
pub fn trust_of(document: &str) -> Result<(Vec<String>, bool), String> {
    let doc: Value = serde_json::from_str(&decode_policy(document))
        .map_err(|e| format!("trust policy is not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
        None => vec![],
    };
    let mut services = Vec::new();
    let mut denied = Vec::new();
    for s in &statements {
        let actions = as_list(s.get("Action"));
        if !actions
            .iter()
            .any(|a| a == "sts:AssumeRole" || a == "sts:*" || a == "*")
        {
            continue;
        }
        let principals = as_list(s.get("Principal").and_then(|p| p.get("Service")));
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => services.extend(principals),
            Some("Deny") => denied.extend(principals),
            _ => {}
        }
    }
    services.sort();
    services.dedup();
    let ecs = services.iter().any(|s| s == "ecs-tasks.amazonaws.com")
        && !denied.iter().any(|s| s == "ecs-tasks.amazonaws.com");
    Ok((services, ecs))
}

/// Looks a role up by name or ARN.
pub async fn role(iam: &aws_sdk_iam::Client, name_or_arn: &str) -> Result<RoleView, AwsError> {
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
            let (trusted_services, ecs) = match role.assume_role_policy_document() {
                Some(doc) => trust_of(doc).map_err(malformed)?,
                None => (vec![], false),
            };
            Ok(RoleView {
                exists: true,
                arn: Some(role.arn().to_owned()),
                reason: if ecs {
                    "trust policy lets ecs-tasks.amazonaws.com assume the role".into()
                } else {
                    format!("trust policy does not let ecs-tasks.amazonaws.com assume the role (trusted: {trusted_services:?})")
                },
                name,
                trust_allows_ecs_tasks: ecs,
                trusted_services,
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
    fn url_encoded_trust_is_decoded_and_judged() {
        let doc = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22%3A%20%7B%22Service%22%3A%20%22ecs-tasks.amazonaws.com%22%7D%2C%20%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D";
        let (services, ecs) = trust_of(doc).unwrap();
        assert_eq!(services, vec!["ecs-tasks.amazonaws.com"]);
        assert!(ecs);
    }

    #[test]
    fn other_service_only_is_not_ecs() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]},"Action":["sts:AssumeRole"]}]}"#;
        assert!(!trust_of(doc).unwrap().1);
    }

    #[test]
    fn deny_wins_over_allow() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"},
                                   {"Effect":"Deny","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(!trust_of(doc).unwrap().1);
    }
}
