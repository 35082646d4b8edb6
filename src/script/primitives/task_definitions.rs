//! Task definition primitives: describe one or many (a revision once per run), judge one by value
//! for secrets outside `secrets[].valueFrom`, and read where its containers log.

use super::ecs::{names, outcome, to_map};
use super::{Args, Failure, Primitive, Shape, Ty};
use crate::host::{Fail, Host, Outcome};
use crate::infra::ecs::{self};
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use rhai::{Dynamic, NativeCallContext};

/// A DescribeTaskDefinition answer as a primitive's outcome: fail when ECS says there is no such
/// task definition, error when it could not be asked.
fn task_definition_outcome(
    result: &Result<ecs::TaskDefinitionView, crate::infra::aws::AwsError>,
) -> Dynamic {
    match result {
        Ok(td) => outcome(
            ProbeOutcome::Pass,
            format!("{} revision {}", td.family, td.revision),
            vec![("task_definition", to_map(td))],
        ),
        // ECS answers a task definition it does not have with ClientException ("Unable to
        // describe task definition"), a 400: the definition is missing, which is a finding.
        Err(why) => outcome(
            why.outcome(),
            why.to_string(),
            vec![("task_definition", Dynamic::UNIT)],
        ),
    }
}

fn task_definition(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    host.aws()?;
    Ok(task_definition_outcome(&host.task_definition(&args.str(0))))
}

fn task_definitions(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let arns = names(args.array(0), "task definitions")?;
    host.aws()?;
    let described = host.task_definitions(&arns);
    let map: rhai::Map = arns
        .iter()
        .map(|a| (a.as_str().into(), task_definition_outcome(&described[a])))
        .collect();
    Ok(map.into())
}

/// A task definition judged by value (`Host::task_definition_secrets`): fail when a container
/// carries a secret outside `secrets[].valueFrom`, error when it could not be judged.
fn task_definition_secrets(
    host: &Host,
    _: &NativeCallContext,
    args: &mut Args,
) -> Outcome<Dynamic> {
    host.aws()?;
    let arn = args.str(0);
    let could_not = |why: String| {
        outcome(
            ProbeOutcome::Error,
            why,
            vec![
                ("task_definition", arn.clone().into()),
                ("findings", Dynamic::UNIT),
                ("known_secrets", Dynamic::UNIT),
                ("not_checked_by_value", Dynamic::UNIT),
            ],
        )
    };
    let td = match host.task_definition(&arn) {
        Ok(td) => td,
        Err(why) => return Ok(could_not(why.to_string())),
    };
    let check = match host.task_definition_secrets(&td) {
        Ok(check) => check,
        Err(Fail::Error { message, .. }) => return Ok(could_not(message)),
        Err(other) => return Err(other),
    };
    let reason = if check.findings.is_empty() {
        format!(
            "no secret outside secrets[].valueFrom ({} container(s), checked against {} known secret(s))",
            td.containers.len(),
            check.known_secrets
        )
    } else {
        let places: Vec<String> = check.findings.iter().map(|f| f.describe()).collect();
        format!("secret outside secrets[].valueFrom: {}", places.join("; "))
    };
    Ok(outcome(
        ProbeOutcome::of(check.findings.is_empty()),
        reason,
        vec![
            ("task_definition", td.arn.clone().into()),
            ("findings", to_map(&check.findings)),
            ("known_secrets", (check.known_secrets as i64).into()),
            ("not_checked_by_value", to_map(&check.not_checked_by_value)),
        ],
    ))
}

fn task_definition_logs(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    host.aws()?;
    let (arn, prefix) = (args.str(0), args.str(1));
    let td = match host.task_definition(&arn) {
        Ok(td) => td,
        Err(why) => {
            return Ok(outcome(
                ProbeOutcome::Error,
                why.to_string(),
                vec![
                    ("task_definition", arn.into()),
                    ("routes", Dynamic::UNIT),
                    ("groups", Dynamic::UNIT),
                ],
            ))
        }
    };
    let routes = crate::rules::task_definition::log_routes(&td, &prefix);
    let problems: Vec<String> = routes.iter().filter_map(|r| r.problem.clone()).collect();
    let mut groups: Vec<String> = routes.iter().filter_map(|r| r.group.clone()).collect();
    groups.sort();
    groups.dedup();
    let reason = if problems.is_empty() {
        format!("every essential container logs through awslogs into {groups:?}")
    } else {
        problems.join("; ")
    };
    Ok(outcome(
        ProbeOutcome::of(problems.is_empty() && !routes.is_empty()),
        reason,
        vec![
            ("task_definition", td.arn.clone().into()),
            ("routes", to_map(&routes)),
            ("groups", super::strings(groups)),
        ],
    ))
}

/// The rows of task definitions.
pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "ecs_task_definition",
        params: &[("task_definition", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "task_definition"]),
        doc: "Describes a task definition; task_definition: #{arn, family, revision, \
              network_mode, task_role_arn, execution_role_arn, containers: [#{name, image, \
              essential, environment (name -> value), secrets ([#{name, value_from}]), \
              log_driver, log_options, health_check, command, entry_point, docker_labels, \
              firelens_options, health_check_command, environment_files}]}.",
        example: "let td = ecs_task_definition(\"fraud-platform-dev-min-ig\");\nprint(td.outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_DESCRIBE_TASK_DEFINITION],
        call: task_definition,
    },
    Primitive {
        name: "ecs_task_definitions",
        params: &[("task_definitions", Ty::Array)],
        returns: "Map",
        shape: Shape::PerItem(&["outcome", "reason", "task_definition"]),
        doc: "ecs_task_definition for many at once (at most 8 in flight; a revisioned ARN is described \
              once per run, since revisions never change): ARN or family -> its ecs_task_definition \
              result; one failing does not hide the others.",
        example: "let r = ecs_task_definitions([\"fraud-platform-dev-min-ig\", \"no-such-family\"]);\nprint(r.values().map(|t| t.outcome));",
        example_exit: 0,
        example_prints: &["[\"pass\", \"fail\"]"],
        raises: &[ErrorCode::BadArgument, ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_DESCRIBE_TASK_DEFINITION],
        call: task_definitions,
    },
    Primitive {
        name: "task_definition_secrets",
        params: &[("task_definition", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&[
            "outcome",
            "reason",
            "task_definition",
            "findings",
            "known_secrets",
            "not_checked_by_value",
        ]),
        doc: "Judges by value whether a task definition carries a secret outside \
              secrets[].valueFrom (the launch contract's \"secrets only by reference\"): every \
              container's environment, command, entryPoint, dockerLabels, \
              logConfiguration.options, firelensConfiguration.options and healthCheck.command, \
              against the plaintext of every secret the environment knows of (handles classified \
              secret, each SecureString a handle names by path, the SSM parameters the task \
              definition's own secrets reference — read into the vault, never shown) and the \
              credential shapes (url_password, aws_key_pair, pem_private_key, bearer_token, jwt), \
              a secret-named variable with a value being one signal among them (secret_name). \
              fail lists findings [#{container, field, variable, rule, secret}] (never the \
              value); not_checked_by_value lists [#{container, field, reference, why}] (a \
              Secrets Manager reference, an S3 environment file, an SSM parameter the run may not \
              read); error when it could not be judged.",
        example: "let r = task_definition_secrets(\"fraud-platform-dev-min-ig\");\nprint(`${r.outcome} ${r.findings.len()}`);",
        example_exit: 0,
        example_prints: &["pass 0"],
        raises: &[ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_DESCRIBE_TASK_DEFINITION, SSM_GET_PARAMETERS],
        call: task_definition_secrets,
    },
    Primitive {
        name: "task_definition_logs",
        params: &[("task_definition", Ty::Str), ("log_group_prefix", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "task_definition", "routes", "groups"]),
        doc: "Where a task definition's essential containers log, from their logConfiguration \
              (routes: [#{container, driver, group, stream_prefix, problem}], groups: the distinct \
              awslogs groups): pass only when every one logs through the awslogs driver into a \
              group under log_group_prefix, the only route whose lines the runbook can read; a \
              missing logConfiguration, another driver or a group elsewhere is a problem named in \
              the reason. error when the task definition could not be described.",
        example: "let r = task_definition_logs(\"fraud-platform-dev-min-ig\", \"/fraud-platform/dev_min\");\nprint(`${r.outcome} ${r.groups}`);",
        example_exit: 0,
        example_prints: &["pass [\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\"]"],
        raises: &[ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_DESCRIBE_TASK_DEFINITION],
        call: task_definition_logs,
    },
];
