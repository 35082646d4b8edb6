//! IAM primitives: role existence and trust, and access posture through SimulatePrincipalPolicy.

use super::{Args, Failure, Primitive, Ty};
use crate::host::{Fail, Host, Outcome};
use crate::json::from_json;
use rhai::{Dynamic, NativeCallContext};

fn role(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let name = args.str(0);
    let aws = host.aws()?;
    let (outcome, value) = match host.block_on(crate::iam::role(&aws.iam, &name)) {
        Ok(view) => {
            let verdict = if view.exists && view.trust_allows_ecs_tasks {
                "pass"
            } else {
                "fail"
            };
            (
                verdict,
                serde_json::to_value(&view).expect("role serialises"),
            )
        }
        // The same keys as a pass, with the facts IAM did not give as ().
        Err(why) => (
            "error",
            serde_json::json!({ "reason": why, "exists": null, "name": name, "arn": null,
                "trust_allows_ecs_tasks": null, "trusted_services": [] }),
        ),
    };
    let mut map = from_json(&value).cast::<rhai::Map>();
    map.insert("outcome".into(), outcome.into());
    Ok(map.into())
}

fn simulate(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let principal = args.str(0);
    let mut pairs = Vec::new();
    for item in args.array(1) {
        let map = item
            .try_cast::<rhai::Map>()
            .ok_or_else(|| Fail::error("BAD_ARGUMENT", "each pair is #{action, resource}", ""))?;
        let get = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
        match (get("action"), get("resource")) {
            (Some(a), Some(r)) => pairs.push((a, r)),
            _ => {
                return Err(Fail::error(
                    "BAD_ARGUMENT",
                    "each pair is #{action: String, resource: String}",
                    "",
                ))
            }
        }
    }
    if pairs.is_empty() {
        return Err(Fail::error(
            "BAD_ARGUMENT",
            "no action/resource pairs to simulate",
            "",
        ));
    }
    let aws = host.aws()?;
    let value = match host.block_on(crate::iam::simulate(&aws.iam, &principal, &pairs)) {
        Ok(decisions) => {
            let denied: Vec<&crate::iam::Decision> =
                decisions.iter().filter(|d| !d.allowed).collect();
            let reason = if denied.is_empty() {
                format!("{} action/resource pair(s) allowed", decisions.len())
            } else {
                denied
                    .iter()
                    .map(|d| format!("{} on {}: {}", d.action, d.resource, d.decision))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            serde_json::json!({
                "outcome": if denied.is_empty() && decisions.len() == pairs.len() { "pass" } else { "fail" },
                "all_allowed": denied.is_empty() && decisions.len() == pairs.len(),
                "results": decisions,
                "denied": denied,
                "reason": reason,
            })
        }
        Err(why) => {
            serde_json::json!({ "outcome": "error", "all_allowed": false, "results": [], "denied": [], "reason": why })
        }
    };
    Ok(from_json(&value))
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "iam_role",
        params: &[("name_or_arn", Ty::Str)],
        returns: "Map",
        doc: "Whether a role exists and its trust policy lets ecs-tasks.amazonaws.com call \
              sts:AssumeRole: #{outcome (pass only when both), exists, name, arn, \
              trust_allows_ecs_tasks, trusted_services, reason}.",
        example: "let r = iam_role(\"fraud-platform-dev-min-daemon-task\");\nprint(`${r.outcome}: ${r.reason}`);",
        example_exit: 0,
        failure: Failure::Catchable,
        call: role,
    },
    Primitive {
        name: "iam_simulate",
        params: &[("principal_arn", Ty::Str), ("pairs", Ty::Array)],
        returns: "Map",
        doc: "SimulatePrincipalPolicy for [#{action, resource}] pairs (one call per resource, \
              concurrent): #{outcome, all_allowed, results: [#{action, resource, decision (allowed | \
              explicitDeny | implicitDeny), allowed, matched_statements (policy#line)}], denied, reason}.",
        example: "let role = iam_role(\"fraud-platform-dev-min-daemon-task\");\nlet s = iam_simulate(role.arn, [#{ action: \"s3:DeleteBucket\", resource: \"*\" }]);\nprint(s.outcome);",
        example_exit: 0,
        failure: Failure::Catchable,
        call: simulate,
    },
];
