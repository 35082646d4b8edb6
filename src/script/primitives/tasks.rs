//! One-shot ECS task primitives: the guarded run, the bounded wait for a task to stop, and the
//! stop. The guards and records are the host's (`host::one_shot`), the laws `rules::one_shot`'s.

use super::ecs::{outcome, to_map};
use super::options::Options;
use super::{opt, Args, Failure, OptionDoc, Primitive, Shape, Ty};
use crate::host::one_shot::{RunAsk, Started, StopRecord};
use crate::host::{Fail, Host, Outcome};
use crate::infra::ecs_tasks::StopWaitEnd;
use crate::rules::ecs_model::TaskStatus;
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use rhai::{Dynamic, NativeCallContext};
use std::time::Duration;

const RUN_TASK_OPTIONS: &[OptionDoc] = &[
    opt("subnets", "Array of String", "required (awsvpc)", "the subnets the task's ENI goes in"),
    opt("security_groups", "Array of String", "required (awsvpc)", "its security groups"),
    opt("assign_public_ip", "Bool", "false", "whether the ENI gets a public address"),
    opt("launch_type", "String", "\"FARGATE\"", "FARGATE or EC2"),
    opt("environment", "Map (name -> String)", "none", "more variables for every essential container; no secret-named one, not the run-scope key (BAD_OPTION)"),
];

const WAIT_TASK_OPTIONS: &[OptionDoc] = &[opt(
    "timeout_ms",
    "Int (ms)",
    "required",
    "the job's budget: past it the host stops the task",
)];

fn run_ask(options: rhai::Map) -> Outcome<RunAsk> {
    let o = Options::new(options, "ecs_run_task", RUN_TASK_OPTIONS)?;
    let environment = o
        .map("environment", "name -> value")?
        .into_iter()
        .map(|(k, v)| match v.into_string() {
            Ok(v) => Ok((k.to_string(), v)),
            Err(t) => Err(Fail::error(
                ErrorCode::BadOption,
                format!("environment.{k} must be a string, found {t}"),
                "",
            )),
        })
        .collect::<Outcome<_>>()?;
    Ok(RunAsk {
        launch_type: o.text("launch_type")?,
        subnets: o.strings("subnets")?,
        security_groups: o.strings("security_groups")?,
        assign_public_ip: o.bool("assign_public_ip")?.unwrap_or(false),
        environment,
    })
}

fn run_task(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (cluster, task_definition) = (args.str(0), args.str(1));
    let ask = run_ask(args.map(2))?;
    let mut m = rhai::Map::new();
    m.insert("cluster".into(), cluster.clone().into());
    match host.run_one_shot(&cluster, &task_definition, &ask)? {
        Started::Planned(line) => {
            m.insert("performed".into(), false.into());
            m.insert("would_do".into(), line.into());
            m.insert("task_arn".into(), Dynamic::UNIT);
        }
        Started::Performed(record) => {
            m.insert("performed".into(), true.into());
            m.insert("task_arn".into(), record.task_arn.clone().into());
            m.insert("family".into(), record.family.clone().into());
            m.insert(
                "task_definition".into(),
                record.task_definition.clone().into(),
            );
            m.insert(
                "started_at".into(),
                record
                    .started_at
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
                    .into(),
            );
            m.insert("last_status".into(), record.last_status.to_string().into());
            m.insert("stop".into(), stop_map(record.stop.as_ref()));
        }
    }
    Ok(m.into())
}

fn stop_map(stop: Option<&StopRecord>) -> Dynamic {
    stop.map_or(Dynamic::UNIT, to_map)
}

fn wait_task_stopped(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (cluster, arn) = (args.str(0), args.str(1));
    let o = Options::new(args.map(2), "ecs_wait_task_stopped", WAIT_TASK_OPTIONS)?;
    let timeout = o
        .int("timeout_ms")?
        .map(|v| v.max(0) as u64)
        .ok_or_else(|| {
            Fail::error(
                ErrorCode::BadOption,
                "ecs_wait_task_stopped needs #{timeout_ms: N}: a one-shot task has a budget",
                "",
            )
        })?;
    let result = host.wait_one_shot(&cluster, &arn, Duration::from_millis(timeout))?;
    let task = result.wait.task.as_ref();
    let (verdict, reason) = match (&result.wait.end, &result.ending) {
        (StopWaitEnd::Stopped, Some(e)) if e.succeeded => (ProbeOutcome::Pass, e.reason.clone()),
        (StopWaitEnd::Stopped, Some(e)) => (ProbeOutcome::Fail, e.reason.clone()),
        (StopWaitEnd::Stopped, None) => (
            ProbeOutcome::Error,
            "stopped, but its ending could not be judged".into(),
        ),
        (StopWaitEnd::TimedOut, _) => (
            ProbeOutcome::Fail,
            format!(
                "still {} after its budget of {timeout} ms: stopped by the host",
                result
                    .status_at_end
                    .as_ref()
                    .map_or("unseen", TaskStatus::as_str)
            ),
        ),
        (StopWaitEnd::Interrupted, _) => (
            ProbeOutcome::Fail,
            "interrupted (Ctrl-C or a signal) while waiting: stopped by the host".to_owned(),
        ),
        (StopWaitEnd::Error, _) => (
            ProbeOutcome::Error,
            result
                .wait
                .error
                .clone()
                .unwrap_or_else(|| "ECS could not be asked".into()),
        ),
    };
    let opt = |v: Option<String>| v.map_or(Dynamic::UNIT, Dynamic::from);
    Ok(outcome(
        verdict,
        reason,
        vec![
            ("task_arn", arn.clone().into()),
            ("stopped", (result.wait.end == StopWaitEnd::Stopped).into()),
            (
                "timed_out",
                (result.wait.end == StopWaitEnd::TimedOut).into(),
            ),
            (
                "interrupted",
                (result.wait.end == StopWaitEnd::Interrupted).into(),
            ),
            ("last_status", opt(task.map(|t| t.last_status.to_string()))),
            ("stop_code", opt(task.and_then(|t| t.stop_code.clone()))),
            (
                "stopped_reason",
                opt(task.and_then(|t| t.stopped_reason.clone())),
            ),
            (
                "exit_codes",
                result
                    .ending
                    .as_ref()
                    .map_or(rhai::Map::new().into(), |e| to_map(&e.exit_codes)),
            ),
            ("stop", stop_map(result.stop.as_ref())),
            ("polls", (result.wait.polls as i64).into()),
            ("elapsed_ms", (result.wait.elapsed_ms as i64).into()),
            ("task", task.map_or(Dynamic::UNIT, to_map)),
        ],
    ))
}

fn stop_task(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (cluster, arn, reason) = (args.str(0), args.str(1), args.str(2));
    let mut m = rhai::Map::new();
    m.insert("task_arn".into(), arn.clone().into());
    match host.stop_one_shot(&cluster, &arn, &reason)? {
        None => {
            m.insert("performed".into(), false.into());
            m.insert("stop".into(), Dynamic::UNIT);
        }
        Some(stop) => {
            m.insert("performed".into(), true.into());
            m.insert("stop".into(), to_map(&stop));
        }
    }
    Ok(m.into())
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "ecs_run_task",
        params: &[("cluster", Ty::Str), ("task_definition", Ty::Str), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Starts one one-shot task (RunTask, count 1, startedBy the execution id, a \
              clientToken per execution and family so a retry cannot start a second), behind \
              host guards: refused once the run holds (HELD), blocked by the declared entry's \
              code when it is unsound, refused unless every essential container of the task \
              definition carries <run-scope key>=<platform_run_id> (RUN_SCOPE_MISMATCH, \
              RUN_SCOPE_MISSING), refused while this execution's earlier task of the family has \
              not been seen STOPPED (ALREADY_RUNNING); the host injects the run scope into every \
              essential container's environment. RUN_TASK_FAILED when ECS \
              starts nothing (failures[]). Under --plan records \"would run\" and starts nothing. \
              Returns #{cluster, performed, task_arn, family, task_definition, started_at, \
              last_status, stop | would_do}.",
        example: concat!(
            m4_entry_example!(),
            "let r = run_phase(\"M9.D\", || { try { ecs_run_task(\"fraud-platform-dev-min\", \"fraud-platform-dev-min-oracle-seed\", #{ environment: #{ DB_PASSWORD: \"x\" } }) } catch (e) { print(e.code == \"BAD_OPTION\") } });\nverdict(#{ refused: r.status == \"PASS\" }, \"ADVANCE\", \"HOLD\");"
        ),
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::Held, ErrorCode::NoEntry, ErrorCode::RunScopeMismatch, ErrorCode::RunScopeMissing, ErrorCode::AlreadyRunning, ErrorCode::BadOption, ErrorCode::RunTaskFailed, ErrorCode::NoEnv],
        options: RUN_TASK_OPTIONS,
        failure: Failure::Catchable,
        together: false,
        changes_world: true,
        aws: &[ECS_RUN_TASK, IAM_PASS_ROLE, ECS_DESCRIBE_TASK_DEFINITION],
        call: run_task,
    },
    Primitive {
        name: "ecs_wait_task_stopped",
        params: &[("cluster", Ty::Str), ("task_arn", Ty::Str), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "task_arn", "stopped", "timed_out", "interrupted", "last_status", "stop_code", "stopped_reason", "exit_codes", "stop", "polls", "elapsed_ms", "task"]),
        doc: "Waits (DescribeTasks with backoff, bounded by options.timeout_ms, which is required) \
              for a task this execution started to be STOPPED (NOT_STARTED_HERE otherwise). pass: \
              stop code EssentialContainerExited and every essential container exited 0; fail: \
              another exit code, no exit code, TaskFailedToStart, UserInitiated or any other stop \
              code, the budget passed, or Ctrl-C; error: ECS could not be asked past [ecs] \
              poll_failure_budget_ms, or still does not know the task after \
              one_shot_visibility_grace_ms. A task over its budget, interrupted, or no longer \
              watchable is stopped by the host (StopTask, then seen STOPPED within [ecs] \
              one_shot_stop_timeout_ms): `stop` #{cause, reason, requested_at, confirmed, error}, \
              also in every snapshot of the phase (one_shot_tasks).",
        example: "try { ecs_wait_task_stopped(\"fraud-platform-dev-min\", \"arn:aws:ecs:eu-west-2:123456789012:task/fraud-platform-dev-min/0\", #{ timeout_ms: 100 }) } catch (e) { print(e.code == \"NOT_STARTED_HERE\") }",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::NotStartedHere, ErrorCode::BadArgument, ErrorCode::BadOption, ErrorCode::NoEnv],
        options: WAIT_TASK_OPTIONS,
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[ECS_DESCRIBE_TASKS, ECS_STOP_TASK],
        call: wait_task_stopped,
    },
    Primitive {
        name: "ecs_stop_task",
        params: &[("cluster", Ty::Str), ("task_arn", Ty::Str), ("reason", Ty::Str)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Stops a task this execution started (NOT_STARTED_HERE otherwise; allowed when the \
              run holds: stopping makes a hold safe): StopTask with the reason (255 characters at \
              most), then waits to see it STOPPED. Under --plan records \"would stop\". Returns \
              #{task_arn, performed, stop: #{cause, reason, requested_at, confirmed, error}}.",
        example: "try { ecs_stop_task(\"fraud-platform-dev-min\", \"arn:aws:ecs:eu-west-2:123456789012:task/fraud-platform-dev-min/0\", \"by hand\") } catch (e) { print(e.code) }\nlet r = run_phase(\"M9.E\", || { try { ecs_stop_task(\"fraud-platform-dev-min\", \"arn:aws:ecs:eu-west-2:123456789012:task/fraud-platform-dev-min/0\", \"by hand\") } catch (e) { print(e.code) } });\nverdict(#{ refused: r.status == \"PASS\" }, \"ADVANCE\", \"HOLD\");",
        example_exit: 0,
        example_prints: &["OUTSIDE_PHASE", "NOT_STARTED_HERE"],
        raises: &[ErrorCode::NotStartedHere, ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: true,
        aws: &[ECS_STOP_TASK, ECS_DESCRIBE_TASKS],
        call: stop_task,
    },
];
