//! ECS service primitives: describe, the guarded update, the stability waiter and task listings
//! (task definitions are `task_definitions.rs`'). Probes answer `#{outcome: "pass" | "fail" | "error", reason, ...}`; the update raises
//! a catchable error when a host guard refuses it.

use super::options::Options;
use super::{opt, Args, Failure, OptionDoc, Primitive, Shape, Ty};
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::infra::ecs;
use crate::infra::ecs_wait::{self, WaitOptions, WaitTarget};
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use crate::rules::stability::StabilityPolicy;
use crate::rules::update_guard::{Refusal, Request};
use rhai::{Dynamic, NativeCallContext};
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) fn names(array: rhai::Array, what: &str) -> Outcome<Vec<String>> {
    array
        .into_iter()
        .map(|v| {
            v.into_string().map_err(|t| {
                Fail::error(
                    ErrorCode::BadArgument,
                    format!("{what} must be strings, found {t}"),
                    "",
                )
            })
        })
        .collect()
}

pub(super) fn to_map<T: serde::Serialize>(value: &T) -> Dynamic {
    from_json(&crate::host::json::record(value))
}

pub(super) fn outcome(
    outcome: ProbeOutcome,
    reason: impl Into<String>,
    fields: Vec<(&str, Dynamic)>,
) -> Dynamic {
    let mut m: rhai::Map = fields.into_iter().map(|(k, v)| (k.into(), v)).collect();
    m.insert("outcome".into(), outcome.as_str().into());
    m.insert("reason".into(), reason.into().into());
    m.into()
}

fn describe_services(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let cluster = args.str(0);
    let wanted = names(args.array(1), "service names")?;
    let aws = host.aws()?;
    Ok(
        match host.call(ecs::describe_services(&aws.ecs, &cluster, &wanted))? {
            Err(why) => outcome(
                ProbeOutcome::Error,
                why,
                vec![
                    ("services", rhai::Map::new().into()),
                    ("missing", rhai::Array::new().into()),
                ],
            ),
            Ok((services, missing)) => {
                let by_name: BTreeMap<String, &crate::rules::ecs_model::ServiceView> =
                    services.iter().map(|s| (s.name.clone(), s)).collect();
                let verdict = ProbeOutcome::of(missing.is_empty());
                let reason = if missing.is_empty() {
                    format!("{} service(s) described", services.len())
                } else {
                    format!("not found: {}", missing.join(", "))
                };
                outcome(
                    verdict,
                    reason,
                    vec![
                        ("services", to_map(&by_name)),
                        ("missing", to_map(&missing)),
                    ],
                )
            }
        },
    )
}

fn changed_services(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(to_map(&crate::host::update::changed_services(
        &host.service_changes(None),
    )))
}

const UPDATE_OPTIONS: &[OptionDoc] = &[
    opt(
        "desired_count",
        "Int",
        "required",
        "1 (the singleton law), or 0 only with restore",
    ),
    opt(
        "restore",
        "Bool",
        "false",
        "return the service to the count this execution recorded before it changed it (a rollback)",
    ),
];

/// The request `#{desired_count, restore}` of ecs_update_service(s).
fn update_request(options: rhai::Map, primitive: &'static str) -> Outcome<Request> {
    let o = Options::new(options, primitive, UPDATE_OPTIONS)?;
    let desired_count = o.int("desired_count")?.ok_or_else(|| {
        Fail::error(
            ErrorCode::BadOption,
            format!("{primitive} needs #{{desired_count: 1}}"),
            "",
        )
    })?;
    Ok(Request {
        desired_count,
        restore: o.bool("restore")?.unwrap_or(false),
    })
}

fn refused(r: Refusal) -> Fail {
    Fail::error(r.code, r.message, r.help)
}

fn update_service(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (cluster, service) = (args.str(0), args.str(1));
    let request = update_request(args.map(2), "ecs_update_service")?;
    let mut rows = host.guarded_updates(&cluster, std::slice::from_ref(&service), request)?;
    match rows.pop().map(|(_, r)| r) {
        Some(Ok(row)) => Ok(to_map(&row)),
        Some(Err(r)) => Err(refused(r)),
        None => Err(Fail::error(
            ErrorCode::UpdateFailed,
            "nothing was updated",
            "",
        )),
    }
}

fn update_services(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let cluster = args.str(0);
    let services = names(args.array(1), "service names")?;
    let request = update_request(args.map(2), "ecs_update_services")?;
    let rows = host.guarded_updates(&cluster, &services, request)?;
    let refused: Vec<String> = rows
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {}", e.code)))
        .collect();
    let list: rhai::Array = rows
        .into_iter()
        .map(|(name, row)| {
            let mut m = match row {
                Ok(row) => to_map(&row).cast::<rhai::Map>(),
                Err(r) => {
                    let mut m = rhai::Map::new();
                    m.insert("service".into(), name.into());
                    m.insert("performed".into(), false.into());
                    let mut e = rhai::Map::new();
                    e.insert("code".into(), r.code.as_str().into());
                    e.insert("message".into(), r.message.into());
                    e.insert("help".into(), r.help.into());
                    m.insert("error".into(), e.into());
                    m
                }
            };
            m.entry("error".into()).or_insert(Dynamic::UNIT);
            m.into()
        })
        .collect();
    let verdict = ProbeOutcome::of(refused.is_empty());
    let reason = if refused.is_empty() {
        format!("{} service(s) updated", list.len())
    } else {
        format!("refused or failed: {}", refused.join(", "))
    };
    Ok(outcome(verdict, reason, vec![("services", list.into())]))
}

const WAIT_STABLE_OPTIONS: &[OptionDoc] = &[
    opt("timeout_ms", "Int (ms)", "[ecs] stabilize_timeout_ms", "the longest the wait runs; services not settled by then are reported settling"),
    opt("soak_ms", "Int (ms)", "[ecs] soak_ms", "how long each service must hold stable; lengthened to a declared health check's startPeriod + interval x retries"),
    opt("crash_threshold", "Int", "[ecs] crash_threshold", "unplanned stops since the update at which a service is crash_loop"),
    opt("placement_grace_ms", "Int (ms)", "[ecs] placement_grace_ms", "how long placement events (or failedTasks) with no task may last before placement_failed"),
    opt("expected_task_definitions", "Map (service -> ARN)", "the ones ecs_update_service saw", "the task definition each service must run"),
    opt("desired_counts", "Map (service -> 0 | 1)", "1 each", "the count each service must settle at (0 for a rollback)"),
    opt("gate", "String", "\"stable\"", "\"up\" ends the wait once each service is up (stable but for the soak): a wave gate"),
    opt("soak_from", "String", "this wait's first stable look", "\"up\": count each soak from when an earlier wait saw the service up (a bring-up's soak together); \"stable\": from when an earlier full wait judged it stable (a stabilization interval after the bring-up). Stops since the update count either way"),
    opt("label", "String", "none", "what the live view shows beside each service (a bring-up's wave)"),
    opt("next", "Array of String", "[]", "services the caller updates as soon as this wait ends (a bring-up's next wave): read by the poll that ends it, so that update's guard need not read them again while the read is as fresh"),
];

/// Where a service's soak starts counting (`soak_from`).
#[derive(Clone, Copy)]
enum SoakFrom {
    /// This wait's first look that finds it stable.
    FirstLook,
    /// When an earlier wait saw it up (the bring-up's soak together).
    Up,
    /// When an earlier full wait judged it stable (a stabilization interval after it).
    Stable,
}

fn wait_stable(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let cluster = args.str(0);
    let services = names(args.array(1), "service names")?;
    let o = Options::new(args.map(2), "ecs_wait_stable", WAIT_STABLE_OPTIONS)?;
    // `gate: "up"` ends the wait once each service is up (stable but for the soak): the next
    // wave may start then (issue #23). `soak_from` counts each soak from the time an earlier
    // wait saw the service up, or judged it stable.
    let until_up = match o.text("gate")?.as_deref() {
        None | Some("stable") => false,
        Some("up") => true,
        Some(other) => {
            return Err(Fail::error(
                ErrorCode::BadOption,
                format!("gate `{other}`"),
                "use \"up\" (until each service is up) or \"stable\" (until it has soaked)",
            ))
        }
    };
    let soak_from = match o.text("soak_from")?.as_deref() {
        None => SoakFrom::FirstLook,
        Some("up") => SoakFrom::Up,
        Some("stable") => SoakFrom::Stable,
        Some(other) => {
            return Err(Fail::error(
                ErrorCode::BadOption,
                format!("soak_from `{other}`"),
                "use \"up\" (from when an earlier wait saw it up) or \"stable\" (from when an \
                 earlier wait judged it stable), or leave it out (from this wait's first look)",
            ))
        }
    };
    let next = o.strings("next")?;
    let config = host.config()?;
    let defaults = &config.ecs;
    let ms = |key: &str, default: u64| -> Outcome<u64> {
        Ok(o.int(key)?.map_or(default, |v| v.max(0) as u64))
    };
    let timeout = ms("timeout_ms", defaults.stabilize_timeout_ms)?;
    let soak = if until_up {
        0
    } else {
        ms("soak_ms", defaults.soak_ms)?
    };
    let grace = ms("placement_grace_ms", defaults.placement_grace_ms)?;
    let threshold = o
        .int("crash_threshold")?
        .map_or(defaults.crash_threshold, |v| v.max(1) as usize);
    let expected: BTreeMap<String, String> = o
        .map("expected_task_definitions", "name -> arn")?
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let desired_counts: BTreeMap<String, i32> = o
        .map("desired_counts", "name -> 0 | 1")?
        .into_iter()
        .map(|(k, v)| match v.as_int() {
            Ok(n @ 0..=1) => Ok((k.to_string(), n as i32)),
            _ => Err(Fail::error(
                ErrorCode::BadOption,
                format!("desired_counts.{k} must be 0 or 1"),
                "",
            )),
        })
        .collect::<Outcome<_>>()?;
    let started = host.stamped_now(&format!("ecs wait started {cluster}"));
    // The bring-up window: every service this execution started in the cluster is watched by
    // every later wait, so a daemon that dies after it passed is still seen (late failure).
    let mut wanted: Vec<(String, bool)> = services.iter().map(|n| (n.clone(), false)).collect();
    for (name, update) in host.updated_services() {
        if update.cluster == cluster && update.desired_count > 0 && !services.contains(&name) {
            wanted.push((name, true));
        }
    }
    let mut targets = BTreeMap::new();
    for (name, watched) in wanted {
        let update = host.update_of(&name);
        let expected_td = expected
            .get(&name)
            .cloned()
            .or_else(|| update.as_ref().map(|u| u.task_definition.clone()));
        let desired = desired_counts.get(&name).copied().unwrap_or(1);
        // Health checks come from the task definition the service must run; one that cannot be
        // read leaves health unproven rather than guessed.
        let health = match (&expected_td, desired) {
            (Some(td), 1..) => host
                .task_definition(td)
                .map(|t| t.health())
                .unwrap_or_default(),
            _ => Default::default(),
        };
        targets.insert(
            name.clone(),
            WaitTarget {
                watched,
                update_sent_at: update.as_ref().map(|u| u.at),
                up_since: update.as_ref().and_then(|u| match soak_from {
                    SoakFrom::FirstLook => None,
                    SoakFrom::Up => u.up_at,
                    SoakFrom::Stable => u.stable_at,
                }),
                policy: StabilityPolicy {
                    desired_count: desired,
                    expected_task_definition: expected_td,
                    stop_threshold: threshold,
                    // Stops count from this execution's update of the service (else from now).
                    since: update.map(|u| u.at).unwrap_or(started),
                    health,
                },
            },
        );
    }
    let wait = WaitOptions {
        asked: host.asked_tasks(&cluster),
        timeout: Duration::from_millis(timeout),
        soak: Duration::from_millis(soak),
        first_poll_ms: defaults.first_poll_ms,
        max_poll_ms: defaults.max_poll_ms,
        placement_grace: Duration::from_millis(grace),
        poll_failure_budget: Duration::from_millis(defaults.poll_failure_budget_ms),
        endpoint: crate::infra::aws::endpoint_override(config)
            .unwrap_or_else(|| format!("ecs.{}.amazonaws.com", config.region)),
        until_up,
        tape: host.tape().cloned(),
        next,
    };
    let aws = host.aws()?;
    let interrupted = || host.is_interrupted();
    // A replay draws nothing: it takes no wall time to watch.
    let mode = if host.replaying() {
        crate::script::wait_view::ViewMode::Off
    } else {
        crate::script::wait_view::ViewMode::detect(host.mode().json)
    };
    let label = o.text("label")?.unwrap_or_default();
    let mut view = crate::script::wait_view::WaitView::new(mode, &label, &services, until_up);
    let report = host.block_on(ecs_wait::wait_stable(
        &aws.ecs,
        &cluster,
        &targets,
        &wait,
        &interrupted,
        |results, elapsed| view.update(results, elapsed),
    ));
    view.finish();
    let mut report = report;
    host.remember_asked_tasks(&cluster, std::mem::take(&mut report.asked));
    host.remember_guard_read(&cluster, report.guard_read.take());
    host.read_stop_logs(&mut report);
    for (name, r) in &report.services {
        if let (true, Some(at)) = (r.stable, r.timeline.stable_at) {
            if until_up {
                host.mark_up(name, at);
            } else {
                host.mark_stable(name, at);
            }
        }
    }
    Ok(to_map(&report))
}

fn list_tasks(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let cluster = args.str(0);
    let status = match args.str(1).as_str() {
        "RUNNING" => aws_sdk_ecs::types::DesiredStatus::Running,
        "STOPPED" => aws_sdk_ecs::types::DesiredStatus::Stopped,
        "PENDING" => aws_sdk_ecs::types::DesiredStatus::Pending,
        other => {
            return Err(Fail::error(
                ErrorCode::BadArgument,
                format!("desired status `{other}`"),
                "use RUNNING, STOPPED or PENDING",
            ))
        }
    };
    let aws = host.aws()?;
    Ok(match host.call(ecs::tasks(&aws.ecs, &cluster, status))? {
        Ok(listing) if listing.failures.is_empty() => outcome(
            ProbeOutcome::Pass,
            format!("{} task(s)", listing.tasks.len()),
            vec![
                ("tasks", to_map(&listing.tasks)),
                ("failures", to_map(&listing.failures)),
            ],
        ),
        // Tasks ECS listed but could not describe: the listing is incomplete, not empty.
        Ok(listing) => outcome(
            ProbeOutcome::Error,
            format!(
                "{} task(s) described, {} not: {}",
                listing.tasks.len(),
                listing.failures.len(),
                listing.failures.join(", ")
            ),
            vec![
                ("tasks", to_map(&listing.tasks)),
                ("failures", to_map(&listing.failures)),
            ],
        ),
        Err(why) => outcome(
            ProbeOutcome::Error,
            why,
            vec![
                ("tasks", to_map(&Vec::<()>::new())),
                ("failures", to_map(&Vec::<()>::new())),
            ],
        ),
    })
}

fn standalone_tasks(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let cluster = args.str(0);
    let aws = host.aws()?;
    Ok(
        match host.call(ecs::tasks(
            &aws.ecs,
            &cluster,
            aws_sdk_ecs::types::DesiredStatus::Running,
        ))? {
            Ok(listing) if !listing.failures.is_empty() => outcome(
                ProbeOutcome::Error,
                format!(
                    "DescribeTasks could not describe {}",
                    listing.failures.join(", ")
                ),
                vec![("tasks", to_map(&Vec::<()>::new()))],
            ),
            Ok(listing) => {
                // The services the tasks claim, described: only their deployments prove a task
                // is a service's (rules::ecs_model::not_started_by_a_service).
                let mut claimed: Vec<String> = listing
                    .tasks
                    .iter()
                    .filter_map(|t| t.service().map(str::to_owned))
                    .collect();
                claimed.sort();
                claimed.dedup();
                let described = if claimed.is_empty() {
                    Ok((Vec::new(), Vec::new()))
                } else {
                    host.call(ecs::describe_services(&aws.ecs, &cluster, &claimed))?
                };
                let services = match described {
                    Ok((services, _)) => services,
                    Err(why) => {
                        return Ok(outcome(
                            ProbeOutcome::Error,
                            why.to_string(),
                            vec![("tasks", to_map(&Vec::<()>::new()))],
                        ))
                    }
                };
                let deployments = crate::rules::ecs_model::deployment_ids(&services);
                let alone: Vec<_> =
                    crate::rules::ecs_model::not_started_by_a_service(&listing.tasks, &deployments)
                        .into_iter()
                        .cloned()
                        .collect();
                let verdict = ProbeOutcome::of(alone.is_empty());
                let reason = if alone.is_empty() {
                    "no running task outside a service".to_owned()
                } else {
                    let which: Vec<String> = alone
                        .iter()
                        .map(|t| {
                            format!(
                                "{} {}",
                                t.group.as_deref().unwrap_or("(no group)"),
                                t.task_definition
                            )
                        })
                        .collect();
                    format!(
                        "{} running task(s) not started by a service's deployment (possible \
                         once-off consumers): {which:?}",
                        alone.len()
                    )
                };
                outcome(verdict, reason, vec![("tasks", to_map(&alone))])
            }
            Err(why) => outcome(
                ProbeOutcome::Error,
                why,
                vec![("tasks", rhai::Array::new().into())],
            ),
        },
    )
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "ecs_describe_services",
        params: &[("cluster", Ty::Str), ("services", Ty::Array)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "services", "missing"]),
        doc: "Describes services, 10 per DescribeServices call, calls concurrent. services: \
              name -> #{name, arn, status, desired_count, running_count, pending_count, \
              task_definition, launch_type, deployments, events, subnets, security_groups, \
              assign_public_ip}; outcome is fail when any is missing, error when ECS could not \
              be asked.",
        example: "let r = ecs_describe_services(\"fraud-platform-dev-min\", [\"fraud-platform-dev-min-ig\"]);\nprint(r.outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::BadArgument, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_DESCRIBE_SERVICES],
        call: describe_services,
    },
    Primitive {
        name: "ecs_update_service",
        params: &[("cluster", Ty::Str), ("service", Ty::Str), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Sets a service's desired count, behind host guards: only #{desired_count: 1} (singleton \
              law, else NOT_SINGLETON); refused once the run holds a blocker (HELD); refused unless \
              every essential container of its task definition carries REQUIRED_PLATFORM_RUN_ID=\
              <platform_run_id> from the M3 handoff (RUN_SCOPE_MISMATCH). #{desired_count: 0 | 1, \
              restore: true} returns a service to a recorded count (rollback). Under --plan records \
              \"would update\" and changes nothing. Returns #{service, previous_desired_count, \
              desired_count, task_definition, performed, updated_at | would_do}.",
        example: "let r = run_phase(\"M9.F\", || { try { ecs_update_service(\"fraud-platform-dev-min\", \"fraud-platform-dev-min-ig\", #{ desired_count: 2 }) } catch (e) { print(e.code) } });\nverdict(#{ refused: r.status == \"PASS\" }, \"ADVANCE\", \"HOLD\");",
        example_exit: 0,
        example_prints: &["NOT_SINGLETON"],
        raises: &[ErrorCode::NotSingleton, ErrorCode::Held, ErrorCode::NoEntry, ErrorCode::RunScopeMismatch, ErrorCode::RunScopeMissing, ErrorCode::UpdateFailed, ErrorCode::BadOption, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: UPDATE_OPTIONS,
        failure: Failure::Catchable,
        together: false,
        changes_world: true,
        aws: &[ECS_DESCRIBE_SERVICES, ECS_UPDATE_SERVICE],
        call: update_service,
    },
    Primitive {
        name: "ecs_update_services",
        params: &[("cluster", Ty::Str), ("services", Ty::Array), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Value,
        doc: "ecs_update_service for many services of one cluster at once, behind the same guards: \
              one batched DescribeServices, the task definitions and the UpdateService calls \
              concurrently (at most 8 in flight). The singleton law, a held run and an unsound M3 \
              entry refuse the whole call (NOT_SINGLETON, HELD, block M4A-B1); a service that is \
              missing or breaks the run-scope law gets its own error, and then none is sent (the \
              others get HELD: the call holds, so it takes no action); an UpdateService that fails \
              gets its own error without hiding the others. Returns #{outcome (pass when every service was updated or, under \
              --plan, would be), reason, services: [#{service, previous_desired_count, desired_count, \
              task_definition, performed, updated_at | would_do, error: () | #{code, message, help}}]}.",
        example: "try { ecs_update_services(\"fraud-platform-dev-min\", [\"fraud-platform-dev-min-ig\", \"fraud-platform-dev-min-rtdl-ofp\"], #{ desired_count: 1 }) } catch (e) { print(e.code) }",
        example_exit: 0,
        example_prints: &["OUTSIDE_PHASE"],
        raises: &[ErrorCode::NotSingleton, ErrorCode::Held, ErrorCode::NoEntry, ErrorCode::UpdateFailed, ErrorCode::BadOption, ErrorCode::BadArgument, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: UPDATE_OPTIONS,
        failure: Failure::Catchable,
        together: false,
        changes_world: true,
        aws: &[ECS_DESCRIBE_SERVICES, ECS_UPDATE_SERVICE],
        call: update_services,
    },
    Primitive {
        name: "changed_services",
        params: &[],
        returns: "Array",
        shape: Shape::Value,
        doc: "The services this execution changed, as the host recorded each update (whatever the \
              script did with its result), in the order first changed: [#{service, cluster, \
              previous_desired_count (as ECS reported it before this execution's first change of \
              the service: what a rollback restores), desired_count (the last asked), \
              task_definition, first_changed_in, first_changed_at, changes}]. Every snapshot of \
              a phase that changed a service also lists its changes (service_changes: what was \
              asked, ECS before and after, the time).",
        example: "print(changed_services().len());",
        example_exit: 0,
        example_prints: &["0"],
        raises: &[],
        options: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: changed_services,
    },
    Primitive {
        name: "ecs_wait_stable",
        params: &[("cluster", Ty::Str), ("services", Ty::Array), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "all_stable", "services", "late_failures", "polls", "failed_polls", "elapsed_ms", "error", "standalone_tasks"]),
        doc: "Waits, all services together, for singleton stability as ECS documents it: \
              running == desired == 1 on the expected task definition (the one \
              ecs_update_service saw, or options.expected_task_definitions), nothing else live \
              (PROVISIONING, PENDING, ACTIVATING, DEACTIVATING, STOPPING, DEPROVISIONING \
              tasks are not done), one PRIMARY deployment not IN_PROGRESS, and, where the task \
              definition declares a container healthCheck, the task HEALTHY; all held for \
              soak_ms, lengthened to the check's startPeriod + interval x retries. Final \
              failures: crash_loop (unplanned stops since the update, any exit code, \
              TaskFailedToStart, user stops; at or above crash_threshold), unhealthy \
              (UNHEALTHY, or replaced for failed health checks), placement_failed (placement \
              events and no task for longer than placement_grace_ms), rolled_back, failed \
              (FAILED deployment without rollback, service not ACTIVE), unsupported \
              (CODE_DEPLOY or EXTERNAL controller). Every service this execution started \
              earlier in the cluster is watched too: one that fails ends the wait and comes \
              back in late_failures. Polls back off from [ecs] first_poll_ms to max_poll_ms, \
              a fifth of it while a task is about to run (its images pulled, not RUNNING \
              yet), never past the end of a soak; each poll describes the tasks the last one \
              asked about while it lists (one round trip unless new tasks appear). Polls that keep \
              failing past [ecs] poll_failure_budget_ms end the wait with outcome error. standalone_tasks: the running tasks no service \
              started, as the last successful poll listed them (ecs_standalone_tasks without \
              another round trip; () when no poll succeeded). services: name -> #{outcome, stable, reason, watched, \
              counts, primary_task_definition, rollout_state, failed_tasks, \
              deployment_controller, task_arns, task_states, health, health_checks, soak_ms, \
              soak_bound, stops, events_since_update, placement_problem, timeline: \
              #{update_sent_at, first_pending_at, first_running_at (ECS's createdAt and \
              startedAt), first_healthy_seen_at, stable_since, stable_at, failed_at (this host's \
              clock at the poll that saw them)}}.",
        example: "let w = ecs_wait_stable(\"fraud-platform-dev-min\", [\"fraud-platform-dev-min-ig\"], #{ timeout_ms: 300 });\nprint(w.outcome);",
        example_exit: 0,
        example_prints: &["fail"],
        raises: &[ErrorCode::BadOption, ErrorCode::BadArgument, ErrorCode::NoEnv],
        options: WAIT_STABLE_OPTIONS,
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[ECS_DESCRIBE_SERVICES, ECS_LIST_TASKS, ECS_DESCRIBE_TASKS, ECS_DESCRIBE_TASK_DEFINITION, LOGS_GET_LOG_EVENTS],
        call: wait_stable,
    },
    Primitive {
        name: "ecs_tasks",
        params: &[("cluster", Ty::Str), ("desired_status", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "tasks", "failures"]),
        doc: "Every task of the cluster with desired status RUNNING, STOPPED or PENDING \
              (ListTasks page by page, DescribeTasks 100 per call); tasks: [#{arn, group, \
              started_by, task_definition, last_status, desired_status, health_status, \
              stop_code, stopped_reason, exit_codes, containers: [#{name, last_status, \
              exit_code, reason, health_status}], created_at, started_at, stopping_at, \
              execution_stopped_at, stopped_at}]; outcome is error when ECS could not be asked \
              or DescribeTasks reported failures (the listing is then incomplete).",
        example: "print(ecs_tasks(\"fraud-platform-dev-min\", \"STOPPED\").outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::BadArgument, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_LIST_TASKS, ECS_DESCRIBE_TASKS],
        call: list_tasks,
    },
    Primitive {
        name: "ecs_standalone_tasks",
        params: &[("cluster", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "tasks"]),
        doc: "Running tasks not started by a service (possible manual once-off consumers): a \
              task counts as a service's only when its group names the service and its \
              startedBy is one of that service's deployment ids (the group alone can be set by \
              anyone's RunTask); outcome is pass when there are none.",
        example: "print(ecs_standalone_tasks(\"fraud-platform-dev-min\").outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[ECS_LIST_TASKS, ECS_DESCRIBE_TASKS],
        call: standalone_tasks,
    },
];
