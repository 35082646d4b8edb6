//! IAM and STS primitives: who the run acts as, role existence and trust, and access posture
//! through SimulatePrincipalPolicy.

use super::{Args, Failure, Primitive, Shape, Ty};
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use rhai::{Dynamic, NativeCallContext};

async fn role_value(
    iam: &aws_sdk_iam::Client,
    name: &str,
    cluster_arn: Option<&str>,
) -> serde_json::Value {
    let (outcome, mut value) = match crate::infra::iam::role(iam, name, cluster_arn).await {
        Ok(view) => {
            let verdict = ProbeOutcome::of(view.exists && view.trust_allows_ecs_tasks);
            (verdict, crate::host::json::record(&view))
        }
        // The same keys as a pass, with the facts IAM did not give as ().
        Err(why) => (
            ProbeOutcome::Error,
            serde_json::json!({ "reason": why.to_string(), "exists": null, "name": name, "arn": null,
                "trust_allows_ecs_tasks": null, "trusted_services": [] }),
        ),
    };
    value["outcome"] = outcome.as_str().into();
    value
}

fn role(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let name = args.str(0);
    let aws = host.aws()?;
    Ok(from_json(&host.call(role_value(&aws.iam, &name, None))?))
}

const ROLES_OPTIONS: &[super::OptionDoc] = &[super::opt(
    "cluster_arn",
    "String",
    "none",
    "the cluster the roles' tasks run in, against which a trust's aws:SourceArn condition is evaluated; without it such a condition is not proven",
)];

fn roles(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let names: Vec<String> = args.array(0).into_iter().map(|n| n.to_string()).collect();
    let o = super::options::Options::new(args.map(1), "iam_roles", ROLES_OPTIONS)?;
    let cluster_arn = o.text("cluster_arn")?;
    let aws = host.aws()?;
    let cluster_arn = cluster_arn.as_deref();
    let results =
        host.call(crate::host::bounded(names.iter().map(|n| async move {
            (n.clone(), role_value(&aws.iam, n, cluster_arn).await)
        })))?;
    Ok(from_json(&serde_json::Value::Object(
        results.into_iter().collect(),
    )))
}

/// `[#{action, resource}]` as pairs.
fn pairs_of(items: rhai::Array) -> Outcome<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for item in items {
        let map = item.try_cast::<rhai::Map>().ok_or_else(|| {
            Fail::error(
                ErrorCode::BadArgument,
                "each pair is #{action, resource}",
                "",
            )
        })?;
        let get = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
        match (get("action"), get("resource")) {
            (Some(a), Some(r)) => pairs.push((a, r)),
            _ => {
                return Err(Fail::error(
                    ErrorCode::BadArgument,
                    "each pair is #{action: String, resource: String}",
                    "",
                ))
            }
        }
    }
    if pairs.is_empty() {
        return Err(Fail::error(
            ErrorCode::BadArgument,
            "no action/resource pairs to simulate",
            "",
        ));
    }
    Ok(pairs)
}

async fn simulate_value(
    iam: &aws_sdk_iam::Client,
    principal: &str,
    pairs: &[(String, String)],
) -> serde_json::Value {
    match crate::infra::iam::simulate(iam, principal, pairs).await {
        Ok(decisions) => {
            let denied: Vec<&crate::infra::iam::Decision> =
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
                "outcome": ProbeOutcome::of(denied.is_empty() && decisions.len() == pairs.len()),
                "all_allowed": denied.is_empty() && decisions.len() == pairs.len(),
                "results": decisions,
                "denied": denied,
                "reason": reason,
            })
        }
        Err(why) => {
            serde_json::json!({ "outcome": ProbeOutcome::Error, "all_allowed": false, "results": [], "denied": [], "reason": why.to_string() })
        }
    }
}

fn simulate(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let principal = args.str(0);
    let pairs = pairs_of(args.array(1))?;
    let aws = host.aws()?;
    Ok(from_json(
        &host.call(simulate_value(&aws.iam, &principal, &pairs))?,
    ))
}

fn simulations(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let mut asked = Vec::new();
    for (principal, items) in args.map(0) {
        let items = items.try_cast::<rhai::Array>().ok_or_else(|| {
            Fail::error(
                ErrorCode::BadArgument,
                format!("`{principal}` must map to [#{{action, resource}}]"),
                "",
            )
        })?;
        asked.push((principal.to_string(), pairs_of(items)?));
    }
    let aws = host.aws()?;
    // Every role's simulations at once: each one's calls take their permits from the one
    // process-wide bound (`infra::aws::bounded`), so this level only joins them.
    let results = host.call(futures::future::join_all(asked.iter().map(
        |(principal, pairs)| async move {
            (
                principal.clone(),
                simulate_value(&aws.iam, principal, pairs).await,
            )
        },
    )))?;
    Ok(from_json(&serde_json::Value::Object(
        results.into_iter().collect(),
    )))
}

/// Where the credentials in force were chosen: the env file's profile, `AWS_PROFILE`, or the
/// rest of the SDK's chain.
/// Where the credentials in force were chosen, in the SDK's order of precedence: the env file's
/// profile (the only source when named), keys in the environment (which the default chain
/// prefers to `AWS_PROFILE`), `AWS_PROFILE`, then the rest of the chain.
fn credential_source(host: &Host) -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(p) = host.config().ok().and_then(|c| c.aws_profile.clone()) {
        return format!("profile {p} ([aws] profile)");
    }
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_PROFILE")) {
        (Some(_), Some(p)) => format!(
            "keys in the environment (AWS_ACCESS_KEY_ID; the SDK prefers them to AWS_PROFILE={p})"
        ),
        (Some(_), None) => "keys in the environment (AWS_ACCESS_KEY_ID)".to_owned(),
        (None, Some(p)) => format!("profile {p} (AWS_PROFILE)"),
        (None, None) => {
            "the default chain (default profile, web identity, container or instance role)"
                .to_owned()
        }
    }
}

fn identity(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let aws = host.aws()?;
    let source = credential_source(host);
    let value = match host.call(crate::infra::aws::caller_identity(&aws.sts))? {
        Ok(who) => serde_json::json!({
            "outcome": ProbeOutcome::Pass,
            "reason": format!("{} in account {}", who.arn, who.account),
            "account": who.account, "arn": who.arn, "user_id": who.user_id,
            "credential_source": source,
        }),
        Err(why) => serde_json::json!({
            "outcome": ProbeOutcome::Error, "reason": why.to_string(), "account": null, "arn": null, "user_id": null,
            "credential_source": source,
        }),
    };
    Ok(from_json(&value))
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "aws_identity",
        params: &[],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "account", "arn", "user_id", "credential_source"]),
        doc: "Who this run acts as on AWS: STS GetCallerIdentity with the credentials in force \
              (the env file's [aws] profile, else AWS_PROFILE, else the SDK's default chain; a \
              profile with role_arn + source_profile is assumed through STS). Account, ARN and \
              user id only: never a key.",
        example: "let who = aws_identity();\nprint(`${who.outcome}: ${who.arn} via ${who.credential_source}`);",
        example_exit: 0,
        example_prints: &["pass: arn:aws:sts::123456789012:user/moto via keys in the environment (AWS_ACCESS_KEY_ID)"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[STS_GET_CALLER_IDENTITY],
        call: identity,
    },
    Primitive {
        name: "iam_role",
        params: &[("name_or_arn", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "exists", "name", "arn", "trust_allows_ecs_tasks", "trusted_services"]),
        doc: "Whether a role exists and its trust policy lets ecs-tasks.amazonaws.com call \
              sts:AssumeRole; outcome is pass only when both hold. An Allow counts only when \
              each of its conditions is evaluated and holds (aws:SourceAccount against the \
              role's account; aws:SourceArn needs the cluster's ARN: use iam_roles with \
              #{cluster_arn}); any other condition is \"trust not proven\", named in the reason.",
        example: "let r = iam_role(\"fraud-platform-dev-min-daemon-task\");\nprint(`${r.outcome}: ${r.reason}`);",
        example_exit: 0,
        example_prints: &["pass: trust policy lets ecs-tasks.amazonaws.com assume the role"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[IAM_GET_ROLE],
        call: role,
    },
    Primitive {
        name: "iam_simulate",
        params: &[("principal_arn", Ty::Str), ("pairs", Ty::Array)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "all_allowed", "results", "denied"]),
        doc: "SimulatePrincipalPolicy for [#{action, resource}] pairs (one call per resource, \
              concurrent); results: [#{action, resource, decision (allowed | explicitDeny | \
              implicitDeny), allowed, matched_statements (policy#line)}].",
        example: "let role = iam_role(\"fraud-platform-dev-min-daemon-task\");\nlet s = iam_simulate(role.arn, [#{ action: \"s3:DeleteBucket\", resource: \"*\" }]);\nprint(s.outcome);",
        example_exit: 0,
        example_prints: &["fail"],
        raises: &[ErrorCode::BadArgument, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[IAM_SIMULATE_PRINCIPAL_POLICY],
        call: simulate,
    },
    Primitive {
        name: "iam_roles",
        params: &[("roles", Ty::Array), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::PerItem(&["outcome", "reason", "exists", "name", "arn", "trust_allows_ecs_tasks", "trusted_services"]),
        doc: "iam_role for many roles at once (at most 8 in flight): name or ARN -> its \
              iam_role result; one role failing does not hide the others.",
        example: "let r = iam_roles([\"fraud-platform-dev-min-daemon-task\", \"no-such-role\"], #{ cluster_arn: \"arn:aws:ecs:eu-west-2:123456789012:cluster/fraud-platform-dev-min\" });\nprint(r.values().map(|x| x.outcome));",
        example_exit: 0,
        example_prints: &["[\"pass\", \"fail\"]"],
        raises: &[ErrorCode::BadArgument, ErrorCode::BadOption, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: ROLES_OPTIONS,
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[IAM_GET_ROLE],
        call: roles,
    },
    Primitive {
        name: "iam_simulations",
        params: &[("asked", Ty::Map)],
        returns: "Map",
        shape: Shape::PerItem(&["outcome", "reason", "all_allowed", "results", "denied"]),
        doc: "iam_simulate for many principals at once (at most 8 in flight): #{principal ARN: \
              [#{action, resource}]} -> principal -> its iam_simulate result.",
        example: "let role = iam_role(\"fraud-platform-dev-min-daemon-task\");\nlet asked = #{};\nasked[role.arn] = [#{ action: \"s3:DeleteBucket\", resource: \"*\" }];\nprint(iam_simulations(asked).values().map(|x| x.outcome));",
        example_exit: 0,
        example_prints: &["[\"fail\"]"],
        raises: &[ErrorCode::BadArgument, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[IAM_SIMULATE_PRINCIPAL_POLICY],
        call: simulations,
    },
];
