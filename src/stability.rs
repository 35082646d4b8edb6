//! Singleton stability and crash-loop classification (plan M4.F/M4.G): pure logic over what ECS
//! reported, unit-tested on realistic responses without I/O.
//!
//! ECS's own deployment circuit breaker needs several failures and resets on one healthy task, so
//! a desired count of 1 can crash-loop under it for a long time; here a configurable number of
//! crashed tasks since the update (default 2) is a crash loop.

use chrono::{DateTime, Utc};
use serde::Serialize;

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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    pub created_at: Option<DateTime<Utc>>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub deployments: Vec<DeploymentView>,
    pub events: Vec<EventView>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    pub arn: String,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub task_definition: String,
    pub last_status: String,
    pub desired_status: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub exit_codes: Vec<Option<i32>>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

impl TaskView {
    /// The service a task belongs to, from its group (`service:NAME`), not from list filters.
    pub fn service(&self) -> Option<&str> {
        self.group
            .as_deref()
            .and_then(|g| g.strip_prefix("service:"))
    }

    /// A task that ended on its own: a container exited non-zero or the task failed to start.
    pub fn crashed(&self) -> bool {
        matches!(
            self.stop_code.as_deref(),
            Some("EssentialContainerExited" | "TaskFailedToStart")
        ) && (self.exit_codes.iter().any(|c| c.is_some_and(|c| c != 0))
            || self.stop_code.as_deref() == Some("TaskFailedToStart"))
    }
}

/// What stable means for one service.
#[derive(Debug, Clone)]
pub struct StabilityPolicy {
    pub desired_count: i32,
    /// The task definition the PRIMARY deployment must run (a rollback is not stable).
    pub expected_task_definition: Option<String>,
    /// Crashed tasks since `since` that make a crash loop.
    pub crash_threshold: usize,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Stable,
    Settling,
    CrashLoop,
    RolledBack,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub outcome: Outcome,
    pub reason: String,
}

fn class(outcome: Outcome, reason: impl Into<String>) -> Classification {
    Classification {
        outcome,
        reason: reason.into(),
    }
}

/// Classifies one service now. `stopped` are its stopped tasks (any age; filtered here).
pub fn classify(
    service: &ServiceView,
    stopped: &[TaskView],
    policy: &StabilityPolicy,
) -> Classification {
    if service.status != "ACTIVE" {
        return class(
            Outcome::Failed,
            format!("service status is {}", service.status),
        );
    }
    let crashes: Vec<&TaskView> = stopped
        .iter()
        .filter(|t| t.service() == Some(service.name.as_str()))
        .filter(|t| t.stopped_at.is_some_and(|at| at >= policy.since))
        .filter(|t| t.crashed())
        .collect();
    if crashes.len() >= policy.crash_threshold.max(1) {
        let last = crashes
            .iter()
            .max_by_key(|t| t.stopped_at)
            .expect("non-empty");
        let codes: Vec<String> = last
            .exit_codes
            .iter()
            .map(|c| c.map_or("-".into(), |c| c.to_string()))
            .collect();
        return class(
            Outcome::CrashLoop,
            format!(
                "{} task(s) crashed since the update (threshold {}); last: {} exit code(s) [{}], {}",
                crashes.len(),
                policy.crash_threshold,
                last.stop_code.as_deref().unwrap_or("-"),
                codes.join(","),
                last.stopped_reason.as_deref().unwrap_or("no reason")
            ),
        );
    }
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    if let Some(failed) = service
        .deployments
        .iter()
        .find(|d| d.rollout_state.as_deref() == Some("FAILED"))
    {
        return class(
            Outcome::RolledBack,
            format!(
                "deployment {} FAILED: {}",
                failed.id,
                failed
                    .rollout_state_reason
                    .as_deref()
                    .unwrap_or("no reason")
            ),
        );
    }
    if let (Some(expected), Some(primary)) = (&policy.expected_task_definition, primary) {
        if &primary.task_definition != expected {
            return class(
                Outcome::RolledBack,
                format!(
                    "PRIMARY deployment runs {}, not the expected {expected} (rolled back?)",
                    primary.task_definition
                ),
            );
        }
    }
    let rolled_back_event = service.events.iter().find(|e| {
        e.message.contains("rolling back") && e.created_at.is_some_and(|at| at >= policy.since)
    });
    if let Some(event) = rolled_back_event {
        return class(Outcome::RolledBack, event.message.clone());
    }
    let Some(primary) = primary else {
        return class(Outcome::Settling, "no PRIMARY deployment reported");
    };
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
    if service.deployments.len() != 1 {
        missing.push(format!("{} deployments", service.deployments.len()));
    }
    if primary
        .rollout_state
        .as_deref()
        .is_some_and(|s| s != "COMPLETED")
    {
        missing.push(format!(
            "rollout {}",
            primary.rollout_state.as_deref().unwrap_or("-")
        ));
    }
    if missing.is_empty() {
        class(
            Outcome::Stable,
            format!(
                "running {0}/{0}, one PRIMARY deployment COMPLETED",
                policy.desired_count
            ),
        )
    } else {
        class(Outcome::Settling, missing.join(", "))
    }
}

/// The next poll interval: fast first polls, growing by half, capped.
pub fn next_interval(previous_ms: u64, cap_ms: u64) -> u64 {
    (previous_ms + previous_ms / 2).clamp(50, cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_500_000 + secs, 0).unwrap()
    }

    fn deployment(td: &str, state: &str) -> DeploymentView {
        DeploymentView {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            rollout_state: Some(state.into()),
            rollout_state_reason: None,
            task_definition: td.into(),
            desired_count: 1,
            running_count: 1,
            pending_count: 0,
            failed_tasks: 0,
        }
    }

    fn service(running: i32, pending: i32, deployments: Vec<DeploymentView>) -> ServiceView {
        ServiceView {
            name: "svc".into(),
            arn: "arn:svc".into(),
            status: "ACTIVE".into(),
            desired_count: 1,
            running_count: running,
            pending_count: pending,
            task_definition: "td:1".into(),
            launch_type: Some("FARGATE".into()),
            deployments,
            events: vec![],
            subnets: vec![],
            security_groups: vec![],
            assign_public_ip: None,
        }
    }

    fn crashed(at: i64) -> TaskView {
        TaskView {
            arn: format!("task/{at}"),
            group: Some("service:svc".into()),
            started_by: None,
            task_definition: "td:1".into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            exit_codes: vec![Some(1)],
            started_at: Some(t(at - 1)),
            stopped_at: Some(t(at)),
        }
    }

    fn policy() -> StabilityPolicy {
        StabilityPolicy {
            desired_count: 1,
            expected_task_definition: Some("td:1".into()),
            crash_threshold: 2,
            since: t(0),
        }
    }

    #[test]
    fn running_singleton_with_completed_primary_is_stable() {
        let c = classify(
            &service(1, 0, vec![deployment("td:1", "COMPLETED")]),
            &[],
            &policy(),
        );
        assert_eq!(c.outcome, Outcome::Stable, "{}", c.reason);
    }

    #[test]
    fn pending_or_in_progress_is_settling() {
        let c = classify(
            &service(0, 1, vec![deployment("td:1", "IN_PROGRESS")]),
            &[],
            &policy(),
        );
        assert_eq!(c.outcome, Outcome::Settling);
        assert!(
            c.reason.contains("running 0/1") && c.reason.contains("1 pending"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn two_crashes_since_the_update_are_a_crash_loop_even_while_running() {
        let c = classify(
            &service(1, 0, vec![deployment("td:1", "COMPLETED")]),
            &[crashed(5), crashed(9)],
            &policy(),
        );
        assert_eq!(c.outcome, Outcome::CrashLoop);
        assert!(c.reason.contains("exit code(s) [1]"), "{}", c.reason);
    }

    #[test]
    fn crashes_before_the_update_or_of_other_services_do_not_count() {
        let mut other = crashed(5);
        other.group = Some("service:other".into());
        let c = classify(
            &service(1, 0, vec![deployment("td:1", "COMPLETED")]),
            &[crashed(-5), other, crashed(7)],
            &policy(),
        );
        assert_eq!(c.outcome, Outcome::Stable, "{}", c.reason);
    }

    #[test]
    fn scheduler_stops_are_not_crashes() {
        let mut scaled = crashed(5);
        scaled.stop_code = Some("ServiceSchedulerInitiated".into());
        scaled.exit_codes = vec![Some(0)];
        assert!(!scaled.crashed());
    }

    #[test]
    fn primary_on_another_task_definition_is_rolled_back() {
        let c = classify(
            &service(1, 0, vec![deployment("td:0", "COMPLETED")]),
            &[],
            &policy(),
        );
        assert_eq!(c.outcome, Outcome::RolledBack);
    }

    #[test]
    fn failed_rollout_is_rolled_back() {
        let mut failed = deployment("td:1", "FAILED");
        failed.status = "ACTIVE".into();
        let c = classify(
            &service(1, 0, vec![deployment("td:0", "IN_PROGRESS"), failed]),
            &[],
            &policy(),
        );
        assert_eq!(c.outcome, Outcome::RolledBack);
    }

    #[test]
    fn inactive_service_fails() {
        let mut s = service(0, 0, vec![]);
        s.status = "DRAINING".into();
        assert_eq!(classify(&s, &[], &policy()).outcome, Outcome::Failed);
    }

    #[test]
    fn intervals_grow_and_cap() {
        assert_eq!(next_interval(100, 2000), 150);
        assert_eq!(next_interval(1900, 2000), 2000);
        assert_eq!(next_interval(0, 2000), 50);
    }
}
