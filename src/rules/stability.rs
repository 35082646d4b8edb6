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

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentView {
    pub id: String,
    pub status: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    pub created_at: Option<DateTime<Utc>>,
    pub message: String,
}

/// A task set of a CODE_DEPLOY or EXTERNAL service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSetView {
    pub id: String,
    pub status: String,
    pub stability_status: Option<String>,
    pub task_definition: String,
    pub running_count: i32,
    pub pending_count: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub arn: String,
    /// The cluster's ARN (DescribeServices `clusterArn`).
    pub cluster_arn: Option<String>,
    pub status: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition: String,
    pub launch_type: Option<String>,
    /// ECS (rolling), CODE_DEPLOY or EXTERNAL; absent means ECS.
    pub deployment_controller: Option<String>,
    pub deployments: Vec<DeploymentView>,
    pub task_sets: Vec<TaskSetView>,
    pub events: Vec<EventView>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerStateView {
    pub name: String,
    pub last_status: Option<String>,
    pub exit_code: Option<i32>,
    /// Why the container stopped (OutOfMemoryError, CannotPullContainerError, …).
    pub reason: Option<String>,
    pub health_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    pub arn: String,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub task_definition: String,
    pub last_status: String,
    pub desired_status: String,
    pub health_status: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub exit_codes: Vec<Option<i32>>,
    pub containers: Vec<ContainerStateView>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopping_at: Option<DateTime<Utc>>,
    pub execution_stopped_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The running tasks no service started, by ECS's own word (issue #32): a task is a service's
/// only when its `group` names the service (`service:NAME`) and its `startedBy` is the id of one
/// of that service's deployments, as ECS sets it for the tasks a deployment starts ("startedBy:
/// ... the deployment ID of the service that starts it", Task in the ECS API reference). RunTask
/// lets anyone set `group` (and `startedBy`), so the group string alone proves nothing; an
/// impostor that copies both is a second task of the service, which the singleton judgement
/// holds. `deployments` maps each service described to its deployments' ids; a service not
/// described (outside the map) starts no task that counts as a service's.
pub fn not_started_by_a_service<'a>(
    tasks: &'a [TaskView],
    deployments: &BTreeMap<String, Vec<String>>,
) -> Vec<&'a TaskView> {
    tasks
        .iter()
        .filter(|t| {
            let owned = t.service().is_some_and(|name| {
                deployments.get(name).is_some_and(|ids| {
                    t.started_by
                        .as_deref()
                        .is_some_and(|by| ids.iter().any(|id| id == by))
                })
            });
            !owned
        })
        .collect()
}

/// The deployment ids of each service, for `not_started_by_a_service`.
pub fn deployment_ids(services: &[ServiceView]) -> BTreeMap<String, Vec<String>> {
    services
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.deployments.iter().map(|d| d.id.clone()).collect(),
            )
        })
        .collect()
}

impl TaskView {
    /// The service a task claims to belong to, from its group (`service:NAME`): what the
    /// stability judgement counts against that service (fail closed); not proof that the
    /// service started it (`not_started_by_a_service`).
    pub fn service(&self) -> Option<&str> {
        self.group
            .as_deref()
            .and_then(|g| g.strip_prefix("service:"))
    }

    /// Every state but STOPPED (and DELETED) still runs or holds the task (task lifecycle).
    pub fn live(&self) -> bool {
        !matches!(self.last_status.as_str(), "STOPPED" | "DELETED")
    }

    /// When the task began to stop, if it did: the earliest of stoppingAt, executionStoppedAt and
    /// stoppedAt, so that a task seen while still STOPPING already counts.
    pub fn stop_began(&self) -> Option<DateTime<Utc>> {
        [self.stopping_at, self.execution_stopped_at, self.stopped_at]
            .into_iter()
            .flatten()
            .min()
            .or_else(|| {
                (self.desired_status == "STOPPED" && self.stop_code.is_some())
                    .then_some(self.created_at)
                    .flatten()
            })
    }

    /// A stop the service scheduler made on purpose: a scale-in or a deployment's replacement.
    /// Health-check replacements are also ServiceSchedulerInitiated, but their reason says so.
    pub fn planned_stop(&self) -> bool {
        self.stop_code.as_deref() == Some("ServiceSchedulerInitiated")
            && self
                .stopped_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("Scaling activity initiated by"))
    }

    /// A stop that ECS made because a health check failed (container or load balancer).
    pub fn health_stop(&self) -> bool {
        self.stopped_reason.as_deref().is_some_and(|r| {
            let r = r.to_ascii_lowercase();
            r.contains("failed container health checks") || r.contains("failed elb health checks")
        })
    }

    fn describe_stop(&self) -> String {
        let containers: Vec<String> = self
            .containers
            .iter()
            .map(|c| {
                let code = c.exit_code.map_or("none".to_owned(), |c| c.to_string());
                match &c.reason {
                    Some(r) => format!("container `{}` exit code {code} ({r})", c.name),
                    None => format!("container `{}` exit code {code}", c.name),
                }
            })
            .collect();
        format!(
            "task {} {}: {}{}",
            short_id(&self.arn),
            self.stop_code.as_deref().unwrap_or("stopping"),
            self.stopped_reason
                .as_deref()
                .unwrap_or("no stopped reason"),
            if containers.is_empty() {
                String::new()
            } else {
                format!("; {}", containers.join(", "))
            }
        )
    }
}

fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A container health check as the task definition declares it (HealthCheck; seconds, with the
/// documented defaults for what is omitted: interval 30, timeout 5, retries 3, startPeriod 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthCheckView {
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

impl HealthCheckView {
    /// The longest a container with this check can take to turn UNHEALTHY after it starts: no
    /// failure counts during the start period, then `retries` consecutive failures one interval
    /// apart (Docker HEALTHCHECK semantics, which ECS maps to).
    pub fn verdict_window(&self) -> Duration {
        Duration::from_secs(u64::from(
            self.start_period_s + self.interval_s * self.retries,
        ))
    }
}

/// The declared health checks of a task definition's essential containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthDeclaration {
    pub checks: Vec<(String, HealthCheckView)>,
}

impl HealthDeclaration {
    pub fn declared(&self) -> bool {
        !self.checks.is_empty()
    }

    /// The soak a stability wait needs so that a check could have failed inside it.
    pub fn soak_floor(&self) -> Duration {
        self.checks
            .iter()
            .map(|(_, c)| c.verdict_window())
            .max()
            .unwrap_or_default()
    }
}

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
pub enum Outcome {
    Stable,
    Settling,
    /// Essential containers stopped (exited, failed to start, were stopped) since the update.
    CrashLoop,
    /// A declared health check failed, or ECS replaced a task for failing one.
    Unhealthy,
    /// ECS could not place a task for longer than the grace (decided by the waiter).
    PlacementFailed,
    RolledBack,
    Failed,
    /// A deployment controller whose rollout this judgement does not cover.
    Unsupported,
}

impl Outcome {
    /// A bad outcome no later poll can undo.
    pub fn is_final_failure(self) -> bool {
        !matches!(self, Outcome::Stable | Outcome::Settling)
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
    pub outcome: Outcome,
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
    "was unable to place a task",
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

fn class(outcome: Outcome, reason: impl Into<String>, health: Health) -> Classification {
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
        *task_states.entry(t.last_status.clone()).or_insert(0) += 1;
    }
    let stops = stops_since(&service.name, tasks, policy.window_start());
    let mut c = judge(service, &mine, &stops, policy);
    c.stops = stops;
    c.task_states = task_states;
    c
}

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
    if service.status != "ACTIVE" {
        return class(
            Outcome::Failed,
            format!("service status is {}", service.status),
            declared,
        );
    }
    let controller = service.deployment_controller.as_deref().unwrap_or("ECS");
    if controller != "ECS" {
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
        return class(
            Outcome::Unsupported,
            format!(
                "deployment controller {controller} is not supported: its rollout lives in task sets \
                 [{}], not in ECS deployments; bring it up with {controller} and judge it there",
                sets.join("; ")
            ),
            declared,
        );
    }
    let live: Vec<&TaskView> = mine.iter().copied().filter(|t| t.live()).collect();
    // UNHEALTHY is final: ECS said so, and replaces the task. The task's status counts only
    // essential containers ("the container health check status of nonessential containers
    // don't have an effect on the health status of a task"), so a container is named only when
    // it is one of the essential ones with a declared check.
    let essential_checked = |name: &str| policy.health.checks.iter().any(|(c, _)| c == name);
    let unhealthy: Vec<String> = live
        .iter()
        .filter(|t| t.desired_status == "RUNNING")
        .flat_map(|t| {
            let containers: Vec<String> = t
                .containers
                .iter()
                .filter(|c| c.health_status.as_deref() == Some("UNHEALTHY"))
                .filter(|c| essential_checked(&c.name))
                .map(|c| format!("container `{}` of task {}", c.name, short_id(&t.arn)))
                .collect();
            if containers.is_empty() && t.health_status.as_deref() == Some("UNHEALTHY") {
                vec![format!("task {}", short_id(&t.arn))]
            } else {
                containers
            }
        })
        .collect();
    if !unhealthy.is_empty() {
        return class(
            Outcome::Unhealthy,
            format!(
                "UNHEALTHY: {} (the declared container health check failed)",
                unhealthy.join(", ")
            ),
            Health::Unhealthy,
        );
    }
    // Scaling to zero (a rollback's restore) ends the tasks anyway: how they end is reported in
    // `stops`, but only a start is judged by them.
    if policy.desired_count > 0 && stops.len() >= policy.stop_threshold.max(1) {
        let last = stops.last().expect("non-empty");
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
            (Outcome::Unhealthy, Health::Unhealthy)
        } else {
            (Outcome::CrashLoop, declared)
        };
        return class(
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
        );
    }
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let recent = |d: &DeploymentView| {
        d.updated_at
            .or(d.created_at)
            .is_none_or(|at| at >= policy.window_start())
    };
    if let Some(p) = primary.filter(|p| p.rollout_state.as_deref() == Some("FAILED") && recent(p)) {
        return class(
            Outcome::Failed,
            format!(
                "deployment {} FAILED and was not rolled back ({} failed task(s)): {}",
                p.id,
                p.failed_tasks,
                p.rollout_state_reason.as_deref().unwrap_or("no reason")
            ),
            declared,
        );
    }
    if let (Some(expected), Some(p)) = (&policy.expected_task_definition, primary) {
        if &p.task_definition != expected {
            let failed = service
                .deployments
                .iter()
                .find(|d| d.rollout_state.as_deref() == Some("FAILED") && recent(d));
            return class(
                Outcome::RolledBack,
                match failed {
                    Some(f) => format!(
                        "deployment {} FAILED ({}) and ECS rolled back: PRIMARY runs {}, not the expected {expected}",
                        f.id,
                        f.rollout_state_reason.as_deref().unwrap_or("no reason"),
                        p.task_definition
                    ),
                    None => format!(
                        "PRIMARY deployment runs {}, not the expected {expected}",
                        p.task_definition
                    ),
                },
                declared,
            );
        }
    }
    if let Some(event) = events_since(service, policy.window_start())
        .into_iter()
        .find(|e| e.message.contains("rolling back"))
    {
        return class(Outcome::RolledBack, event.message, declared);
    }
    let Some(primary) = primary else {
        return class(
            Outcome::Settling,
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
        .filter(|t| t.last_status == "RUNNING" && t.desired_status == "RUNNING")
        .collect();
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
        .filter(|t| !(t.last_status == "RUNNING" && t.desired_status == "RUNNING"))
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
    if primary.rollout_state.as_deref() == Some("IN_PROGRESS") {
        missing.push("rollout IN_PROGRESS".to_owned());
    }
    // The first of PLACEMENT_EVENTS that appeared wins over the later ones: "was unable to place
    // a task" carries ECS's reason (capacity, constraints), which the scheduler's later summary
    // ("is unable to consistently start tasks") does not; newest first within a kind.
    let placement_problem = if running.is_empty() && policy.desired_count > 0 {
        let events = events_since(service, policy.window_start());
        PLACEMENT_EVENTS.iter().find_map(|p| {
            events
                .iter()
                .find(|e| e.message.contains(p))
                .map(|e| e.message.clone())
        })
    } else {
        None
    };
    let health = if policy.health.declared() {
        let all_healthy = !running.is_empty()
            && running
                .iter()
                .all(|t| t.health_status.as_deref() == Some("HEALTHY"));
        if all_healthy || policy.desired_count == 0 {
            Health::Healthy
        } else {
            missing.push(format!(
                "health {} (declared checks not passed yet)",
                running
                    .iter()
                    .map(|t| t.health_status.as_deref().unwrap_or("UNKNOWN"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
            Health::Unproven
        }
    } else {
        Health::NotDeclared
    };
    let mut c = if missing.is_empty() {
        class(
            Outcome::Stable,
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
        class(Outcome::Settling, missing.join(", "), health)
    };
    if let Some(p) = &placement_problem {
        c.reason = format!("{}; ECS: {p}", c.reason);
    }
    c.placement_problem = placement_problem;
    c
}

/// The next poll interval: fast first polls, growing by half, capped.
pub fn next_interval(previous_ms: u64, cap_ms: u64) -> u64 {
    (previous_ms + previous_ms / 2).clamp(50, cap_ms)
}

#[cfg(test)]
mod tests;
