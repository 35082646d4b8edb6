//! One poll of a stability wait, judged: the soak (how long a service must have been stable, and
//! which bound set it), the placement grace (how long ECS may fail to place a task) and the
//! bring-up timeline, kept per service across polls. Pure: the clock is an argument (`Reading`),
//! so a unit test or a replayed run gives it any time it needs; the adapter (`infra::ecs`)
//! polls, classifies (`rules::stability`) and calls `judge_poll` with its own clock.

use crate::rules::ecs_model::{
    DeploymentStatus, EventView, HealthCheckView, RolloutState, ServiceView, TaskView,
};
use crate::rules::stability::{
    self, Classification, Health, ServiceOutcome, StabilityPolicy, Stop,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One reading of the waiter's clock: `elapsed` on a monotonic clock (from any origin the waiter
/// keeps; spans are differences, and may begin before the origin) and the same instant in UTC,
/// for the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub elapsed: TimeDelta,
    pub at: DateTime<Utc>,
}

impl Reading {
    /// The span from `earlier` to this reading; zero when `earlier` is not earlier.
    pub fn since(self, earlier: Reading) -> Duration {
        (self.elapsed - earlier.elapsed)
            .to_std()
            .unwrap_or_default()
    }
}

/// The timing a wait judges by.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The soak asked for (a declared health check's verdict window may lengthen it).
    pub soak: Duration,
    /// How long a placement failure may persist before the service is judged unplaceable.
    pub placement_grace: Duration,
    /// End once up: no soak (the bring-up's wave gate, issue #23).
    pub until_up: bool,
}

/// One service's state at the end of a wait.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceWait {
    pub service: String,
    pub outcome: ServiceOutcome,
    pub stable: bool,
    pub reason: String,
    /// Not asked for in this wait, but started earlier by this execution and watched until the
    /// bring-up window closes: a failure here is a late failure.
    pub watched: bool,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub primary_task_definition: Option<String>,
    pub rollout_state: Option<RolloutState>,
    pub failed_tasks: i32,
    pub deployment_controller: Option<String>,
    pub task_arns: Vec<String>,
    pub task_states: BTreeMap<String, usize>,
    pub health: Health,
    /// Declared health checks of the expected task definition, by container.
    pub health_checks: BTreeMap<String, HealthCheckView>,
    pub soak_ms: u64,
    /// Which bound set the soak: the option, or the declared check's verdict window.
    pub soak_bound: String,
    pub stable_for_ms: u64,
    pub stops: Vec<Stop>,
    /// The last log lines of the live task judged UNHEALTHY (a stopped task's are in its stop),
    /// read once the wait ended (issue #26).
    pub log_tail: Option<crate::rules::stability::LogTail>,
    /// The service's events since the update, newest first (at most 20).
    pub events_since_update: Vec<EventView>,
    pub placement_problem: Option<String>,
    pub timeline: BringUpTimeline,
}

/// When one service passed each step of its bring-up. Two clocks, said per field: ECS stamps
/// task creation and start; health and stability have no ECS timestamp, so they are this host's
/// clock at the poll that first saw them (at most one poll interval late).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BringUpTimeline {
    /// This host's clock when it sent the update (none when this execution did not update it).
    #[serde(serialize_with = "fixed_width")]
    pub update_sent_at: Option<DateTime<Utc>>,
    /// ECS: createdAt of the first task since the update (it entered PENDING).
    #[serde(serialize_with = "fixed_width")]
    pub first_pending_at: Option<DateTime<Utc>>,
    /// ECS: startedAt of the first task since the update (PENDING to RUNNING).
    #[serde(serialize_with = "fixed_width")]
    pub first_running_at: Option<DateTime<Utc>>,
    /// This host: the first poll that saw the task HEALTHY (none without a declared check).
    #[serde(serialize_with = "fixed_width")]
    pub first_healthy_seen_at: Option<DateTime<Utc>>,
    /// This host: the first poll of the stable stretch that satisfied the soak.
    #[serde(serialize_with = "fixed_width")]
    pub stable_since: Option<DateTime<Utc>>,
    /// This host: the poll that found the soak complete.
    #[serde(serialize_with = "fixed_width")]
    pub stable_at: Option<DateTime<Utc>>,
    /// This host: the poll that first saw the final failure.
    #[serde(serialize_with = "fixed_width")]
    pub failed_at: Option<DateTime<Utc>>,
}

/// A timeline's times as fixed-width RFC 3339 (nanoseconds, `Z`): all as long as each other, so
/// their strings sort as the times do (a script picks a wave's earliest update by sorting them).
fn fixed_width<S: serde::Serializer>(at: &Option<DateTime<Utc>>, to: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => to.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        None => to.serialize_none(),
    }
}

/// One service a wait judges.
#[derive(Debug, Clone)]
pub struct WaitTarget {
    pub policy: StabilityPolicy,
    /// Watched only: must not fail, need not soak.
    pub watched: bool,
    /// When this execution sent the service's update, for the timeline.
    pub update_sent_at: Option<DateTime<Utc>>,
    /// When an earlier wait saw it up (issue #23): its soak counts from then, when it is still
    /// stable at this wait's first look (every stop since the update is counted regardless).
    pub up_since: Option<DateTime<Utc>>,
}

/// What a wait remembers of one service between polls: when its stable stretch and a placement
/// problem began (as clock readings), when it was first seen healthy, and its last result.
#[derive(Debug, Default)]
pub struct Tracker {
    stable_since: Option<Reading>,
    placement_seen: Option<Reading>,
    healthy_seen: Option<DateTime<Utc>>,
    /// When its soak ends (waiter's clock), while it is stable and soaking.
    soak_due: Option<TimeDelta>,
    pub result: Option<ServiceWait>,
}

impl Tracker {
    /// How long after `elapsed` (the waiter's clock) its soak ends, while it soaks: the poll that
    /// can judge it stable need not wait a whole backoff interval past that.
    pub fn soak_ends_in(&self, elapsed: TimeDelta) -> Option<Duration> {
        self.soak_due
            .map(|due| (due - elapsed).to_std().unwrap_or(Duration::ZERO))
    }
}

/// Turns one poll's classification into the service's result, keeping the soak and placement
/// clocks. Spans are measured on the waiter's own monotonic clock (`Reading::elapsed`): server
/// timestamps may be skewed against it, and wall time may step.
pub fn judge_poll(
    service: &ServiceView,
    tasks: &[TaskView],
    target: &WaitTarget,
    judged: Classification,
    tracker: &mut Tracker,
    options: &Timing,
    now: Reading,
) -> ServiceWait {
    let now_utc = now.at;
    let policy = &target.policy;
    let floor = policy.health.soak_floor();
    let (soak, soak_bound) = if options.until_up {
        (
            Duration::ZERO,
            "up: the wave gate waits for no soak (the full judgement soaks later)".to_owned(),
        )
    } else if floor > options.soak {
        (
            floor,
            format!(
                "declared health check: startPeriod + interval x retries = {} s (longer than the {} ms asked)",
                floor.as_secs(),
                options.soak.as_millis()
            ),
        )
    } else if policy.health.declared() {
        (
            options.soak,
            format!(
                "soak option {} ms (at least the declared check's {} s)",
                options.soak.as_millis(),
                floor.as_secs()
            ),
        )
    } else {
        (
            options.soak,
            format!(
                "soak option {} ms (no health check declared)",
                options.soak.as_millis()
            ),
        )
    };
    let Classification {
        mut outcome,
        mut reason,
        health,
        stops,
        placement_problem,
        task_states,
    } = judged;
    match &placement_problem {
        Some(event) => {
            let seen = *tracker.placement_seen.get_or_insert(now);
            let lasted = now.since(seen);
            if lasted >= options.placement_grace {
                outcome = ServiceOutcome::PlacementFailed;
                reason = format!(
                    "ECS could not place or start a task for {:.1} s (grace {} ms): {event}",
                    lasted.as_secs_f64(),
                    options.placement_grace.as_millis()
                );
            }
        }
        None => tracker.placement_seen = None,
    }
    let since = if outcome == ServiceOutcome::Stable {
        *tracker.stable_since.get_or_insert_with(|| {
            // Up since an earlier wait: the stretch began then (the monotonic clock moved back by
            // the same span), never in the future.
            match target.up_since.filter(|t| *t <= now_utc) {
                Some(up) => Reading {
                    elapsed: now.elapsed - (now_utc - up),
                    at: up,
                },
                None => now,
            }
        })
    } else {
        tracker.stable_since = None;
        now
    };
    let since_utc = since.at;
    if health == Health::Healthy {
        tracker.healthy_seen.get_or_insert(now_utc);
    }
    let stable_for = now.since(since);
    let soaked = outcome == ServiceOutcome::Stable && (target.watched || stable_for >= soak);
    tracker.soak_due = (outcome == ServiceOutcome::Stable && !soaked).then(|| {
        now.elapsed + TimeDelta::from_std(soak.saturating_sub(stable_for)).unwrap_or_default()
    });
    if outcome == ServiceOutcome::Stable && !soaked {
        outcome = ServiceOutcome::Settling;
        reason = format!(
            "{reason}; soaking {} of {} ms",
            stable_for.as_millis(),
            soak.as_millis()
        );
    }
    let previous_failure = tracker.result.as_ref().and_then(|r| {
        r.timeline
            .failed_at
            .filter(|_| r.outcome.is_final_failure())
    });
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary);
    let mut events = stability::events_since(service, policy.window_start());
    events.truncate(20);
    let failed_at = outcome
        .is_final_failure()
        .then(|| previous_failure.unwrap_or(now_utc));
    let previous_stable_at = tracker
        .result
        .as_ref()
        .filter(|r| r.stable)
        .and_then(|r| r.timeline.stable_at);
    let (first_pending_at, first_running_at) =
        stability::first_task_times(&service.name, tasks, policy.window_start());
    let timeline = BringUpTimeline {
        update_sent_at: target.update_sent_at,
        first_pending_at,
        first_running_at,
        first_healthy_seen_at: tracker.healthy_seen,
        stable_since: soaked.then_some(since_utc),
        stable_at: soaked.then(|| previous_stable_at.unwrap_or(now_utc)),
        failed_at,
    };
    ServiceWait {
        service: service.name.clone(),
        outcome,
        stable: soaked,
        reason,
        watched: target.watched,
        desired_count: service.desired_count,
        running_count: service.running_count,
        pending_count: service.pending_count,
        primary_task_definition: primary.map(|d| d.task_definition.clone()),
        rollout_state: primary.and_then(|d| d.rollout_state.clone()),
        failed_tasks: primary.map_or(0, |d| d.failed_tasks),
        deployment_controller: service.deployment_controller.clone(),
        task_arns: tasks
            .iter()
            .filter(|t| t.service() == Some(service.name.as_str()) && t.live())
            .map(|t| t.arn.clone())
            .collect(),
        task_states,
        health,
        health_checks: policy.health.checks.iter().cloned().collect(),
        soak_ms: soak.as_millis() as u64,
        soak_bound,
        stable_for_ms: stable_for.as_millis() as u64,
        stops,
        log_tail: None,
        events_since_update: events,
        placement_problem,
        timeline,
    }
}

#[cfg(test)]
#[path = "service_wait/tests.rs"]
mod tests;
