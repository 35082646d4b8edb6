//! Singleton stability of an ECS service (plan M4.F/M4.G): pure judgement over what ECS reported,
//! no I/O, unit-tested on response shapes taken from the ECS API reference.
//!
//! The judgement follows ECS's documented semantics, not the emulator's:
//! - a task's `lastStatus` walks PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING →
//!   STOPPING → DEPROVISIONING → STOPPED (Developer Guide, "Amazon ECS task lifecycle"); only
//!   RUNNING carries the load, and every state but STOPPED still holds resources or runs code;
//! - task `healthStatus` is HEALTHY only when every essential container's declared check passed,
//!   UNHEALTHY when one failed, UNKNOWN while checks are evaluated or when none is declared
//!   (API reference, Task.healthStatus and HealthCheck);
//! - every stop of a daemon counts, whatever its exit code (0, non-zero or none): a daemon is not
//!   supposed to exit, and ECS replaces it so fast that a later poll shows a healthy replacement.
//!   Only the scheduler's own scaling and deployment replacements ("Scaling activity initiated by
//!   (deployment …)") are planned. Stop codes are botocore's TaskStopCode enum;
//! - placement failures show only as service events ("was unable to place a task", "is unable to
//!   consistently start tasks successfully"; Developer Guide, "Amazon ECS service event
//!   messages"), with no task at all;
//! - CODE_DEPLOY and EXTERNAL services keep `deployments` empty and report task sets instead
//!   (API reference, Service.taskSets); their rollout is not ECS's to judge here.
//!
//! ECS's deployment circuit breaker needs several failures and resets on one healthy task, so a
//! singleton can crash-loop under it for a long time; the stop threshold here defaults to 1.

use crate::rules::ecs_model::{
    short_id, ContainerStateView, DeploymentStatus, DeploymentView, EventView, HealthDeclaration,
    HealthStatus, RolloutState, ServiceStatus, ServiceView, TaskStatus, TaskView,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What stable means for one service.
#[derive(Debug, Clone)]
pub struct StabilityPolicy {
    pub desired_count: i32,
    /// The task definition the PRIMARY deployment must run (a rollback is not stable).
    pub expected_task_definition: Option<String>,
    /// Unplanned stops since `since` that make the service unstable (1 for a singleton).
    pub stop_threshold: usize,
    pub since: DateTime<Utc>,
    /// Declared health checks of the expected task definition; none means health is unproven.
    pub health: HealthDeclaration,
}

/// How far a server's timestamps may run behind the clock that stamped `since`: the update time
/// is this host's clock, stoppingAt and event times are ECS's. A crash right after the update,
/// stamped by a server a few seconds behind, must still count (a stop missed is a wrong
/// ADVANCE; one counted from just before the update is at worst a HOLD to re-run).
pub const CLOCK_SKEW_MARGIN_S: i64 = 5;

impl StabilityPolicy {
    /// Where the bring-up window starts for ECS's timestamps: `since`, less the skew margin.
    pub fn window_start(&self) -> DateTime<Utc> {
        self.since - chrono::Duration::seconds(CLOCK_SKEW_MARGIN_S)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOutcome {
    Stable,
    Settling,
    /// Essential containers stopped (exited, failed to start, were stopped) since the update.
    CrashLoop,
    /// A declared health check failed, or ECS replaced a task for failing one.
    Unhealthy,
    /// ECS could not place or start a task for longer than the grace (decided by the waiter).
    PlacementFailed,
    RolledBack,
    Failed,
    /// A deployment controller whose rollout this judgement does not cover.
    Unsupported,
}

impl ServiceOutcome {
    /// The outcome as evidence writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceOutcome::Stable => "stable",
            ServiceOutcome::Settling => "settling",
            ServiceOutcome::CrashLoop => "crash_loop",
            ServiceOutcome::Unhealthy => "unhealthy",
            ServiceOutcome::PlacementFailed => "placement_failed",
            ServiceOutcome::RolledBack => "rolled_back",
            ServiceOutcome::Failed => "failed",
            ServiceOutcome::Unsupported => "unsupported",
        }
    }

    /// A bad outcome no later poll can undo.
    pub fn is_final_failure(self) -> bool {
        !matches!(self, ServiceOutcome::Stable | ServiceOutcome::Settling)
    }
}

/// What was proven about a service's health at this poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Every essential container with a declared check reports HEALTHY.
    Healthy,
    /// Checks are declared but not (yet) passed.
    Unproven,
    Unhealthy,
    /// The task definition declares no container health check: health is not proven.
    NotDeclared,
}

/// One unplanned stop since the update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stop {
    pub task_arn: String,
    /// The task definition the stopped task ran (where its logs went).
    pub task_definition: String,
    pub at: Option<DateTime<Utc>>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerStateView>,
    pub cause: String,
    /// Its last log lines (issue #26), read once the wait ended: the daemon's last words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<LogTail>,
}

/// The last lines of a stopped task's log streams, bounded and redacted, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogTail {
    pub streams: Vec<String>,
    pub lines: Vec<String>,
    /// Why no line could be read (no awslogs, no stream, the read failed); none when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl LogTail {
    /// The last line with something on it.
    pub fn last_line(&self) -> Option<&str> {
        self.lines
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub outcome: ServiceOutcome,
    pub reason: String,
    pub health: Health,
    pub stops: Vec<Stop>,
    /// A placement-failure event since the update while no task runs (the waiter times it).
    pub placement_problem: Option<String>,
    /// Tasks of the service by lastStatus, for the snapshot.
    pub task_states: std::collections::BTreeMap<String, usize>,
}

/// Service event texts that mean ECS cannot place or start tasks (service event messages page).
const PLACEMENT_EVENTS: &[&str] = &[
    // "(service x) was unable to place a task because no container instance met all of its
    // requirements. Reason: No Container Instances were found in your cluster." (or "... in
    // your capacity provider"), and Fargate's "was unable to place a task. Reason:
    // CannotPullContainerError: ...": every form says this much.
    "unable to place a task",
    "is unable to consistently start tasks successfully",
    "operations are being throttled",
    "was unable to stop or start tasks during a deployment",
    "unable to launch tasks",
];

/// The events since `since`, newest first as ECS lists them.
pub fn events_since(service: &ServiceView, since: DateTime<Utc>) -> Vec<EventView> {
    service
        .events
        .iter()
        .filter(|e| e.created_at.is_none_or(|at| at >= since))
        .cloned()
        .collect()
}

/// When the service's first task since `since` entered PENDING and when the first went RUNNING,
/// on ECS's clock: Task.createdAt is "the time when the task entered the PENDING state" and
/// Task.startedAt "the time when the task transitioned from the PENDING state to the RUNNING
/// state" (ECS API Reference, Task). Earlier tasks of the service are not part of this bring-up.
pub fn first_task_times(
    service: &str,
    tasks: &[TaskView],
    since: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let since_update: Vec<&TaskView> = tasks
        .iter()
        .filter(|t| t.service() == Some(service))
        .filter(|t| t.created_at.is_some_and(|at| at >= since))
        .collect();
    (
        since_update.iter().filter_map(|t| t.created_at).min(),
        since_update.iter().filter_map(|t| t.started_at).min(),
    )
}

/// Unplanned stops of the service's tasks since `since`, oldest first.
pub fn stops_since(service: &str, tasks: &[TaskView], since: DateTime<Utc>) -> Vec<Stop> {
    let mut stops: Vec<Stop> = tasks
        .iter()
        .filter(|t| t.service() == Some(service))
        .filter(|t| !t.planned_stop())
        .filter_map(|t| {
            let at = t.stop_began()?;
            (at >= since).then(|| Stop {
                task_arn: t.arn.clone(),
                task_definition: t.task_definition.clone(),
                at: Some(at),
                stop_code: t.stop_code.clone(),
                stopped_reason: t.stopped_reason.clone(),
                containers: t.containers.clone(),
                cause: t.describe_stop(),
                log_tail: None,
            })
        })
        .collect();
    stops.sort_by_key(|s| s.at);
    stops
}

fn class(outcome: ServiceOutcome, reason: impl Into<String>, health: Health) -> Classification {
    Classification {
        outcome,
        reason: reason.into(),
        health,
        stops: vec![],
        placement_problem: None,
        task_states: Default::default(),
    }
}

/// Classifies one service now. `tasks` are the cluster's tasks, live and stopped (any age and
/// service: filtered here).
pub fn classify(
    service: &ServiceView,
    tasks: &[TaskView],
    policy: &StabilityPolicy,
) -> Classification {
    let mine: Vec<&TaskView> = tasks
        .iter()
        .filter(|t| t.service() == Some(service.name.as_str()))
        .collect();
    let mut task_states = std::collections::BTreeMap::new();
    for t in mine.iter().filter(|t| t.live()) {
        *task_states.entry(t.last_status.to_string()).or_insert(0) += 1;
    }
    let stops = stops_since(&service.name, tasks, policy.window_start());
    let mut c = judge(service, &mine, &stops, policy);
    c.stops = stops;
    c.task_states = task_states;
    c
}

/// The rules in the order they are asked: the first that finds a failure ECS will not undo
/// decides; otherwise the service is stable or still settling (`settling_or_stable`).
fn judge(
    service: &ServiceView,
    mine: &[&TaskView],
    stops: &[Stop],
    policy: &StabilityPolicy,
) -> Classification {
    let declared = if policy.health.declared() {
        Health::Unproven
    } else {
        Health::NotDeclared
    };
    let live: Vec<&TaskView> = mine.iter().copied().filter(|t| t.live()).collect();
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary);
    not_active(service, declared)
        .or_else(|| unsupported_controller(service, declared))
        .or_else(|| unhealthy_tasks(&live, policy))
        .or_else(|| past_stop_threshold(stops, policy, declared))
        .or_else(|| failed_without_rollback(primary, policy, declared))
        .or_else(|| rolled_back(service, primary, policy, declared))
        .unwrap_or_else(|| settling_or_stable(service, &live, primary, policy, declared))
}

/// A deployment counts when it changed inside the bring-up window (an old FAILED rollout is
/// history, not evidence).
fn recent(d: &DeploymentView, policy: &StabilityPolicy) -> bool {
    d.updated_at
        .or(d.created_at)
        .is_none_or(|at| at >= policy.window_start())
}

/// A service that is not ACTIVE (DRAINING, INACTIVE) runs nothing ECS will keep.
fn not_active(service: &ServiceView, declared: Health) -> Option<Classification> {
    (service.status != ServiceStatus::Active).then(|| {
        class(
            ServiceOutcome::Failed,
            format!("service status is {}", service.status),
            declared,
        )
    })
}

/// CODE_DEPLOY and EXTERNAL keep their rollout in task sets, which this judgement does not read.
fn unsupported_controller(service: &ServiceView, declared: Health) -> Option<Classification> {
    let controller = service.deployment_controller.as_deref().unwrap_or("ECS");
    (controller != "ECS").then(|| {
        let sets: Vec<String> = service
            .task_sets
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} running {}",
                    s.id,
                    s.status,
                    s.stability_status.as_deref().unwrap_or("-"),
                    s.running_count
                )
            })
            .collect();
        class(
            ServiceOutcome::Unsupported,
            format!(
                "deployment controller {controller} is not supported: its rollout lives in task sets \
                 [{}], not in ECS deployments; bring it up with {controller} and judge it there",
                sets.join("; ")
            ),
            declared,
        )
    })
}

/// UNHEALTHY is final: ECS said so, and replaces the task. The task's status counts only
/// essential containers ("the container health check status of nonessential containers don't
/// have an effect on the health status of a task"), so a container is named only when it is one
/// of the essential ones with a declared check.
fn unhealthy_tasks(live: &[&TaskView], policy: &StabilityPolicy) -> Option<Classification> {
    let essential_checked = |name: &str| policy.health.checks.iter().any(|(c, _)| c == name);
    let unhealthy: Vec<String> = live
        .iter()
        .filter(|t| t.desired_status == TaskStatus::Running)
        .flat_map(|t| {
            let containers: Vec<String> = t
                .containers
                .iter()
                .filter(|c| c.health_status == Some(HealthStatus::Unhealthy))
                .filter(|c| essential_checked(&c.name))
                .map(|c| format!("container `{}` of task {}", c.name, short_id(&t.arn)))
                .collect();
            if containers.is_empty() && t.health_status == Some(HealthStatus::Unhealthy) {
                vec![format!("task {}", short_id(&t.arn))]
            } else {
                containers
            }
        })
        .collect();
    (!unhealthy.is_empty()).then(|| {
        class(
            ServiceOutcome::Unhealthy,
            format!(
                "UNHEALTHY: {} (the declared container health check failed)",
                unhealthy.join(", ")
            ),
            Health::Unhealthy,
        )
    })
}

/// Unplanned stops since the update at or past the threshold: a crash loop, or unhealthy when
/// ECS stopped a task for its health checks. Scaling to zero (a rollback's restore) ends the
/// tasks anyway: how they end is reported in `stops`, but only a start is judged by them.
fn past_stop_threshold(
    stops: &[Stop],
    policy: &StabilityPolicy,
    declared: Health,
) -> Option<Classification> {
    let past_threshold = policy.desired_count > 0 && stops.len() >= policy.stop_threshold.max(1);
    let last = stops.last().filter(|_| past_threshold)?;
    let health_stops = stops
        .iter()
        .filter(|s| {
            s.stopped_reason.as_deref().is_some_and(|r| {
                let r = r.to_ascii_lowercase();
                r.contains("failed container health checks")
                    || r.contains("failed elb health checks")
            })
        })
        .count();
    let (outcome, health) = if health_stops > 0 {
        (ServiceOutcome::Unhealthy, Health::Unhealthy)
    } else {
        (ServiceOutcome::CrashLoop, declared)
    };
    Some(class(
        outcome,
        format!(
            "{} unplanned stop(s) since the update (threshold {}); last at {}: {}",
            stops.len(),
            policy.stop_threshold.max(1),
            last.at
                .map_or("-".into(), |t| t.format("%H:%M:%S%.3fZ").to_string()),
            last.cause
        ),
        health,
    ))
}

/// The PRIMARY deployment's rollout FAILED in the window and ECS did not roll back.
fn failed_without_rollback(
    primary: Option<&DeploymentView>,
    policy: &StabilityPolicy,
    declared: Health,
) -> Option<Classification> {
    let p =
        primary.filter(|p| p.rollout_state == Some(RolloutState::Failed) && recent(p, policy))?;
    Some(class(
        ServiceOutcome::Failed,
        format!(
            "deployment {} FAILED and was not rolled back ({} failed task(s)): {}",
            p.id,
            p.failed_tasks,
            p.rollout_state_reason.as_deref().unwrap_or("no reason")
        ),
        declared,
    ))
}

/// What ECS writes in the PRIMARY deployment's `rolloutStateReason` while its circuit breaker
/// rolls a service back: "ECS deployment circuit breaker: rolling back to deploymentId
/// ecs-svc/…" (the reason of the rollback deployment, as real DescribeServices answers and the
/// Developer Guide's "Amazon ECS service deployment state change events" show it).
const ROLLING_BACK: &str = "rolling back to deploymentId";

/// ECS rolled the service back, or is rolling it back: the PRIMARY deployment runs another task
/// definition than the one asked for (ECS rolled back to it, or someone deployed it), or its
/// `rolloutStateReason` says the circuit breaker is rolling back. The deployment rolled back
/// from stays ACTIVE (IN_PROGRESS, or FAILED in older answers) until the rollback completes, and
/// is gone after; the reason names what ECS said of both. Event wording is not read: only the
/// deployments' own fields decide.
fn rolled_back(
    service: &ServiceView,
    primary: Option<&DeploymentView>,
    policy: &StabilityPolicy,
    declared: Health,
) -> Option<Classification> {
    let p = primary?;
    let expected = policy.expected_task_definition.as_deref();
    let other_td = expected.is_some_and(|e| p.task_definition != e);
    let reason = p.rollout_state_reason.as_deref().unwrap_or("");
    let rolling_back = reason.contains(ROLLING_BACK);
    if !other_td && !rolling_back {
        return None;
    }
    let from = service
        .deployments
        .iter()
        .filter(|d| d.status != DeploymentStatus::Primary)
        .find(|d| {
            expected.is_some_and(|e| d.task_definition == e)
                || (d.rollout_state == Some(RolloutState::Failed) && recent(d, policy))
        });
    let mut said = match (rolling_back, expected) {
        (true, Some(e)) if other_td => format!(
            "ECS is rolling back ({reason}): PRIMARY deployment {} runs {}, not the expected {e}",
            p.id, p.task_definition
        ),
        (true, _) => format!(
            "ECS is rolling back ({reason}): PRIMARY deployment {} runs {}",
            p.id, p.task_definition
        ),
        (false, Some(e)) => match from.filter(|f| f.rollout_state == Some(RolloutState::Failed)) {
            Some(f) => format!(
                "deployment {} FAILED ({}) and ECS rolled back: PRIMARY runs {}, not the expected {e}",
                f.id,
                f.rollout_state_reason.as_deref().unwrap_or("no reason"),
                p.task_definition
            ),
            None => format!(
                "PRIMARY deployment {} runs {}, not the expected {e}",
                p.id, p.task_definition
            ),
        },
        (false, None) => return None,
    };
    if let Some(f) = from.filter(|f| f.rollout_state != Some(RolloutState::Failed)) {
        said.push_str(&format!(
            "; deployment {} of the expected task definition: {} {}, {} failed task(s)",
            f.id,
            f.status,
            f.rollout_state.as_ref().map_or("-", RolloutState::as_str),
            f.failed_tasks
        ));
    }
    Some(class(ServiceOutcome::RolledBack, said, declared))
}

/// No failure: stable when every condition of a singleton holds at this poll, else settling
/// with what is still missing (and the placement problem ECS reports, which the waiter times).
fn settling_or_stable(
    service: &ServiceView,
    live: &[&TaskView],
    primary: Option<&DeploymentView>,
    policy: &StabilityPolicy,
    declared: Health,
) -> Classification {
    let Some(primary) = primary else {
        return class(
            ServiceOutcome::Settling,
            "no PRIMARY deployment reported",
            declared,
        );
    };
    let expected_td = policy
        .expected_task_definition
        .as_deref()
        .unwrap_or(&primary.task_definition);
    let running: Vec<&TaskView> = live
        .iter()
        .copied()
        .filter(|t| t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running)
        .collect();
    let mut missing = not_yet_singleton(service, live, &running, expected_td, primary, policy);
    let placement_problem = placement_problem(service, &running, policy)
        .or_else(|| failed_to_start(primary, &running, policy));
    let health = health_of(&running, policy, &mut missing);
    let mut c = if missing.is_empty() {
        class(
            ServiceOutcome::Stable,
            format!(
                "running {0}/{0} on {1}, nothing else live, one PRIMARY deployment; health {2}",
                policy.desired_count,
                short_id(expected_td),
                match health {
                    Health::Healthy if policy.health.declared() => "HEALTHY",
                    _ => "not declared (unproven)",
                }
            ),
            health,
        )
    } else {
        class(ServiceOutcome::Settling, missing.join(", "), health)
    };
    if let Some(p) = &placement_problem {
        c.reason = format!("{}; ECS: {p}", c.reason);
    }
    c.placement_problem = placement_problem;
    c
}

/// What stands between this poll and a steady singleton: counts, other live tasks, tasks on
/// another task definition, more than one deployment, a rollout still in progress.
fn not_yet_singleton(
    service: &ServiceView,
    live: &[&TaskView],
    running: &[&TaskView],
    expected_td: &str,
    primary: &DeploymentView,
    policy: &StabilityPolicy,
) -> Vec<String> {
    let mut missing = Vec::new();
    if service.desired_count != policy.desired_count {
        missing.push(format!(
            "desired {} (want {})",
            service.desired_count, policy.desired_count
        ));
    }
    if service.running_count != policy.desired_count {
        missing.push(format!(
            "running {}/{}",
            service.running_count, policy.desired_count
        ));
    }
    if service.pending_count != 0 {
        missing.push(format!("{} pending", service.pending_count));
    }
    let others: Vec<String> = live
        .iter()
        .filter(|t| {
            !(t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running)
        })
        .map(|t| {
            format!(
                "task {} {} (desired {})",
                short_id(&t.arn),
                t.last_status,
                t.desired_status
            )
        })
        .collect();
    if !others.is_empty() {
        missing.push(others.join(", "));
    }
    let on_expected = running
        .iter()
        .filter(|t| t.task_definition == expected_td)
        .count();
    if running.len() as i32 != policy.desired_count || on_expected != running.len() {
        missing.push(format!(
            "{} RUNNING task(s), {on_expected} on {}",
            running.len(),
            short_id(expected_td)
        ));
    }
    if service.deployments.len() != 1 {
        missing.push(format!("{} deployments", service.deployments.len()));
    }
    if primary.rollout_state == Some(RolloutState::InProgress) {
        missing.push("rollout IN_PROGRESS".to_owned());
    }
    missing
}

/// The first of PLACEMENT_EVENTS that appeared wins over the later ones: "was unable to place
/// a task" carries ECS's reason (capacity, constraints), which the scheduler's later summary
/// ("is unable to consistently start tasks") does not; newest first within a kind. Only while
/// nothing runs.
fn placement_problem(
    service: &ServiceView,
    running: &[&TaskView],
    policy: &StabilityPolicy,
) -> Option<String> {
    if !running.is_empty() || policy.desired_count <= 0 {
        return None;
    }
    let events = events_since(service, policy.window_start());
    PLACEMENT_EVENTS.iter().find_map(|p| {
        events
            .iter()
            .find(|e| e.message.contains(p))
            .map(|e| e.message.clone())
    })
}

/// The deployment's own count of tasks that failed to start (`failedTasks`, which the circuit
/// breaker counts) while none runs: the waiter times it like a placement problem, so a wait that
/// could say "2 tasks failed to start" ends after the grace instead of settling to its timeout.
fn failed_to_start(
    primary: &DeploymentView,
    running: &[&TaskView],
    policy: &StabilityPolicy,
) -> Option<String> {
    (running.is_empty() && policy.desired_count > 0 && primary.failed_tasks > 0).then(|| {
        format!(
            "deployment {} reports {} failed task(s) (failedTasks, rollout {}) and no task is RUNNING",
            primary.id,
            primary.failed_tasks,
            primary
                .rollout_state
                .as_ref()
                .map_or("-", RolloutState::as_str)
        )
    })
}

/// Health as proven at this poll: HEALTHY on every running task where checks are declared (a
/// shortfall is added to `missing`), else not declared.
fn health_of(running: &[&TaskView], policy: &StabilityPolicy, missing: &mut Vec<String>) -> Health {
    if !policy.health.declared() {
        return Health::NotDeclared;
    }
    let all_healthy = !running.is_empty()
        && running
            .iter()
            .all(|t| t.health_status == Some(HealthStatus::Healthy));
    if all_healthy || policy.desired_count == 0 {
        return Health::Healthy;
    }
    missing.push(format!(
        "health {} (declared checks not passed yet)",
        running
            .iter()
            .map(|t| t
                .health_status
                .as_ref()
                .map_or("UNKNOWN", HealthStatus::as_str))
            .collect::<Vec<_>>()
            .join(",")
    ));
    Health::Unproven
}

/// The next poll interval: fast first polls, growing by half, capped.
pub fn next_interval(previous_ms: u64, cap_ms: u64) -> u64 {
    (previous_ms + previous_ms / 2).clamp(50, cap_ms)
}

/// The ceiling while a task of the wait is `starting_soon` (its images pulled, not yet
/// RUNNING): a fifth of the usual ceiling (1 s of the default 5 s), so the next wave starts
/// within about a second of the last task running rather than up to a whole ceiling after.
pub fn starting_soon_interval(cap_ms: u64) -> u64 {
    (cap_ms / 5).max(50)
}

/// Whether a poll's DescribeServices answer leaves room for the wait to end at this poll: every
/// service `waited` for is described, runs as many tasks as it wants and has none pending. A
/// guess, and a cheap one: when right, the next wave's read rides on the poll's last leg instead
/// of costing the update a round trip of its own; when wrong, it costs one DescribeServices.
pub fn may_end_at_this_poll(views: &[ServiceView], waited: &[&str]) -> bool {
    waited.iter().all(|name| {
        views
            .iter()
            .any(|v| v.name == *name && v.running_count == v.desired_count && v.pending_count == 0)
    })
}

#[cfg(test)]
mod tests;
