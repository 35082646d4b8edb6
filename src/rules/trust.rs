//! An IAM role's trust policy judged as IAM would judge ECS tasks assuming it (issue #32): an
//! Allow for `ecs-tasks.amazonaws.com` counts only when every condition in it is one this host
//! can evaluate and holds for this account and cluster; a Deny for it counts unless its
//! conditions are proven not to hold. Pure, over the policy grammar of the IAM User Guide
//! ("IAM JSON policy elements: Condition", "Condition operators").
//!
//! Evaluated keys: `aws:SourceAccount` (the account the tasks run in: a role cannot be passed to
//! ECS across accounts, so it is the role's own) and `aws:SourceArn` (the cluster's ARN), under
//! the operators StringEquals, StringLike, ArnEquals, ArnLike and their IfExists forms. Anything
//! else (another key, a set operator, NotPrincipal/NotAction) leaves the trust "not proven".

use serde_json::Value;

/// What a condition is evaluated against.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustContext<'a> {
    pub account: Option<&'a str>,
    pub cluster_arn: Option<&'a str>,
}

/// A trust policy as judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The services an Allow statement names for sts:AssumeRole (whatever its conditions).
    pub trusted_services: Vec<String>,
    pub allows_ecs_tasks: bool,
    /// Why an Allow for ECS tasks does not count: the conditions that could not be evaluated or
    /// do not hold, each named.
    pub not_proven: Vec<String>,
    /// A Deny that applies to ECS tasks.
    pub denied: bool,
}

const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

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

/// A condition block's verdict for this context.
#[derive(Debug, PartialEq, Eq)]
enum Holds {
    Yes,
    No(String),
    Unknown(String),
}

/// IAM's `*` (any run) and `?` (one character) wildcard match.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn condition_holds(condition: Option<&Value>, ctx: &TrustContext) -> Holds {
    let Some(condition) = condition else {
        return Holds::Yes;
    };
    let Some(operators) = condition.as_object() else {
        return Holds::Unknown("a Condition that is not an object".into());
    };
    let mut unknown = Vec::new();
    let mut failed = Vec::new();
    for (operator, block) in operators {
        let base = operator.strip_suffix("IfExists").unwrap_or(operator);
        let like = match base {
            "StringEquals" | "ArnEquals" => false,
            "StringLike" | "ArnLike" => true,
            _ => {
                unknown.push(format!("operator {operator}"));
                continue;
            }
        };
        let Some(keys) = block.as_object() else {
            unknown.push(format!("{operator} (not an object)"));
            continue;
        };
        for (key, values) in keys {
            let context = match key.to_ascii_lowercase().as_str() {
                "aws:sourceaccount" => ctx.account,
                "aws:sourcearn" => ctx.cluster_arn,
                _ => {
                    unknown.push(format!("{operator} {key} (a key m4host does not evaluate)"));
                    continue;
                }
            };
            let Some(actual) = context else {
                unknown.push(format!(
                    "{operator} {key} (its value is not known to this check)"
                ));
                continue;
            };
            let wanted = as_list(Some(values));
            let matched = wanted
                .iter()
                .any(|w| if like { glob(w, actual) } else { w == actual });
            if !matched {
                failed.push(format!(
                    "{operator} {key} {wanted:?} does not match `{actual}`"
                ));
            }
        }
    }
    if !failed.is_empty() {
        Holds::No(failed.join("; "))
    } else if !unknown.is_empty() {
        Holds::Unknown(unknown.join("; "))
    } else {
        Holds::Yes
    }
}

/// Judges a trust document (JSON, already URL-decoded) for ECS tasks in `ctx`.
pub fn judge(document: &str, ctx: &TrustContext) -> Result<Trust, String> {
    let doc: Value =
        serde_json::from_str(document).map_err(|e| format!("trust policy is not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
        None => vec![],
    };
    let mut trust = Trust {
        trusted_services: Vec::new(),
        allows_ecs_tasks: false,
        not_proven: Vec::new(),
        denied: false,
    };
    let mut allowed = false;
    for (i, s) in statements.iter().enumerate() {
        let effect = s.get("Effect").and_then(Value::as_str);
        if s.get("NotAction").is_some() || s.get("NotPrincipal").is_some() {
            // What such a statement covers is everything but what it names: not evaluated here.
            if effect == Some("Deny") {
                trust.denied = true;
            }
            trust
                .not_proven
                .push(format!("statement {i} uses NotAction/NotPrincipal"));
            continue;
        }
        let actions = as_list(s.get("Action"));
        if !actions
            .iter()
            .any(|a| a == "sts:AssumeRole" || a == "sts:*" || a == "*")
        {
            continue;
        }
        let principals = as_list(s.get("Principal").and_then(|p| p.get("Service")));
        let for_ecs = principals.iter().any(|p| p == ECS_TASKS);
        let holds = condition_holds(s.get("Condition"), ctx);
        match effect {
            Some("Allow") => {
                trust.trusted_services.extend(principals);
                if for_ecs {
                    match holds {
                        Holds::Yes => allowed = true,
                        Holds::No(why) => trust
                            .not_proven
                            .push(format!("the Allow for {ECS_TASKS} does not hold: {why}")),
                        Holds::Unknown(why) => trust
                            .not_proven
                            .push(format!("the Allow for {ECS_TASKS} is conditional on {why}")),
                    }
                }
            }
            // A Deny counts unless it is proven not to apply (fail closed).
            Some("Deny") if for_ecs && !matches!(holds, Holds::No(_)) => trust.denied = true,
            _ => {}
        }
    }
    trust.trusted_services.sort();
    trust.trusted_services.dedup();
    trust.allows_ecs_tasks = allowed && !trust.denied;
    Ok(trust)
}

impl Trust {
    /// One line for the role's reason.
    pub fn describe(&self) -> String {
        if self.allows_ecs_tasks {
            return format!("trust policy lets {ECS_TASKS} assume the role");
        }
        if self.denied {
            return format!("trust policy denies {ECS_TASKS}");
        }
        if !self.not_proven.is_empty() {
            return format!(
                "trust not proven for {ECS_TASKS}: {}",
                self.not_proven.join("; ")
            );
        }
        format!(
            "trust policy does not let {ECS_TASKS} assume the role (trusted: {:?})",
            self.trusted_services
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "arn:aws:ecs:eu-west-2:123456789012:cluster/fraud-platform-dev-min";

    fn ctx() -> TrustContext<'static> {
        TrustContext {
            account: Some("123456789012"),
            cluster_arn: Some(CLUSTER),
        }
    }

    fn with_condition(condition: &str) -> String {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Service":"ecs-tasks.amazonaws.com"}},"Action":"sts:AssumeRole","Condition":{condition}}}]}}"#
        )
    }

    #[test]
    fn an_unconditional_allow_and_the_documented_confused_deputy_conditions_hold() {
        let plain = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(judge(plain, &ctx()).unwrap().allows_ecs_tasks);
        // As the ECS developer guide's task IAM role page writes it.
        let documented = with_condition(
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:ecs:eu-west-2:123456789012:*"},"StringEquals":{"aws:SourceAccount":"123456789012"}}"#,
        );
        let t = judge(&documented, &ctx()).unwrap();
        assert!(t.allows_ecs_tasks, "{t:?}");
        let exact = with_condition(&format!(
            r#"{{"ArnEquals":{{"aws:SourceArn":"{CLUSTER}"}}}}"#
        ));
        assert!(judge(&exact, &ctx()).unwrap().allows_ecs_tasks);
    }

    #[test]
    fn another_account_or_cluster_is_not_this_one() {
        let other = with_condition(r#"{"StringEquals":{"aws:SourceAccount":"999999999999"}}"#);
        let t = judge(&other, &ctx()).unwrap();
        assert!(!t.allows_ecs_tasks);
        assert!(
            t.describe().contains("aws:SourceAccount"),
            "{}",
            t.describe()
        );
        assert!(t.describe().contains("999999999999"));
        let cluster = with_condition(
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:ecs:eu-west-2:123456789012:cluster/other-*"}}"#,
        );
        assert!(!judge(&cluster, &ctx()).unwrap().allows_ecs_tasks);
    }

    #[test]
    fn a_condition_not_evaluated_here_is_not_proven() {
        for condition in [
            r#"{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}"#,
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            r#"{"ForAnyValue:StringEquals":{"aws:SourceAccount":["123456789012"]}}"#,
        ] {
            let t = judge(&with_condition(condition), &ctx()).unwrap();
            assert!(!t.allows_ecs_tasks, "{condition}");
            assert!(
                t.describe().starts_with("trust not proven"),
                "{}",
                t.describe()
            );
        }
        // Without the cluster's ARN a SourceArn condition cannot be proven either.
        let arn = with_condition(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:ecs:*"}}"#);
        let no_cluster = TrustContext {
            account: Some("123456789012"),
            cluster_arn: None,
        };
        assert!(!judge(&arn, &no_cluster).unwrap().allows_ecs_tasks);
    }

    #[test]
    fn a_deny_wins_unless_proven_not_to_apply() {
        let deny = |cond: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Service":"ecs-tasks.amazonaws.com"}},"Action":"sts:AssumeRole"}},
                   {{"Effect":"Deny","Principal":{{"Service":"ecs-tasks.amazonaws.com"}},"Action":"sts:AssumeRole"{cond}}}]}}"#
            )
        };
        assert!(!judge(&deny(""), &ctx()).unwrap().allows_ecs_tasks);
        let elsewhere =
            deny(r#","Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"}}"#);
        assert!(judge(&elsewhere, &ctx()).unwrap().allows_ecs_tasks);
        let unknown = deny(r#","Condition":{"Bool":{"aws:SecureTransport":"false"}}"#);
        assert!(!judge(&unknown, &ctx()).unwrap().allows_ecs_tasks);
    }

    #[test]
    fn other_services_only_are_not_ecs_tasks() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]},"Action":["sts:AssumeRole"]}]}"#;
        let t = judge(doc, &ctx()).unwrap();
        assert!(!t.allows_ecs_tasks);
        assert_eq!(t.trusted_services, vec!["lambda.amazonaws.com"]);
    }

    #[test]
    fn iam_wildcards() {
        assert!(glob(
            "arn:aws:ecs:*:123:*",
            "arn:aws:ecs:eu-west-2:123:cluster/x"
        ));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob(
            "arn:aws:ecs:us-*",
            "arn:aws:ecs:eu-west-2:1:cluster/x"
        ));
    }
}
