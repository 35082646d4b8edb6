//! The stability wait through the SDK: polls with backoff until every asked-for service is stable
//! (or up), reaches a final failure, a watched service fails, the timeout passes or ECS keeps
//! failing. A poll costs one round trip while no task is new, two when one is. What an answer
//! means is `rules::stability`, what polls mean over time `rules::service_wait`.

use crate::infra::aws::{AwsError, AwsErrorKind};
use crate::infra::ecs::{
    describe_services, describe_task_arns, list_task_arns, listing_of, TaskListing,
    DESCRIBE_SERVICES_BATCH,
};
use crate::infra::wait_clock::WaitClock;
use crate::rules::ecs_model::{deployment_ids, not_started_by_a_service, ServiceView, TaskView};
use crate::rules::outcome::ProbeOutcome;
use crate::rules::service_wait::{judge_poll, Timing, Tracker};
pub use crate::rules::service_wait::{BringUpTimeline, ServiceWait, WaitTarget};
use crate::rules::stability::{self, Health, ServiceOutcome};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One poll's answer: the services asked about (and the names ECS reported missing), the tasks
/// of the cluster stopped and running, what the next poll describes while it lists, and the
/// next services when its last leg read them.
struct PollAnswer {
    services: Vec<ServiceView>,
    missing: Vec<String>,
    stopped: TaskListing,
    running: TaskListing,
    asked: Vec<String>,
    guard_read: Option<GuardRead>,
}

/// One poll of the cluster. Its first leg describes the services `asking` while both task
/// listings (stopped, running) are read and the tasks the last poll asked about (`known`) are
/// described: one round trip when the listings hold no new task. When they hold one, a second
/// leg describes both listings together, so the next poll asks exactly what this one listed.
/// One DescribeTasks question per leg, sorted: a question is never asked twice at once, so a
/// replay hands its recorded answers back in the order they came, and a replay past the
/// recording asks a question the tape holds (issue #25).
///
/// The services `next` (a bring-up's next wave) are read in the poll's last leg when it may end
/// the wait: in the first leg's DescribeServices when they fit its batches (no call more); in
/// the second leg, beside DescribeTasks, when the first leg's answer says every service waited
/// for runs what it wants (`may_end`). That read is the guard read the update may use.
async fn poll(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    asking: &[String],
    next: &[String],
    known: &[String],
    clock: &WaitClock,
    may_end: impl Fn(&[ServiceView]) -> bool,
) -> Result<PollAnswer, AwsError> {
    use aws_sdk_ecs::types::DesiredStatus;
    let mut asked = known.to_vec();
    asked.sort();
    asked.dedup();
    let ride_first = rides_free(asking.len(), next.len());
    let first_question: Vec<String> = if ride_first {
        asking.iter().chain(next).cloned().collect()
    } else {
        asking.to_vec()
    };
    let first_sent = ride_first.then(|| clock.now().at);
    let (described, stopped, running, found) = futures::join!(
        describe_services(ecs, cluster, &first_question),
        list_task_arns(ecs, cluster, DesiredStatus::Stopped),
        list_task_arns(ecs, cluster, DesiredStatus::Running),
        describe_task_arns(ecs, cluster, &asked)
    );
    let first_answered = ride_first.then(|| clock.now().at);
    let ((views, missing), stopped, running, mut found) = (described?, stopped?, running?, found?);
    let is_next = |name: &str| next.iter().any(|n| n == name);
    let (next_views, views): (Vec<ServiceView>, Vec<ServiceView>) = views
        .into_iter()
        .partition(|v| is_next(&v.name) && !asking.contains(&v.name));
    let (next_missing, missing): (Vec<String>, Vec<String>) = missing
        .into_iter()
        .partition(|m| is_next(short_name(m)) && !asking.iter().any(|a| a == short_name(m)));
    let mut guard_read = match (first_sent, first_answered) {
        (Some(sent_at), Some(answered_at)) => Some(GuardRead {
            services: next_views,
            missing: next_missing,
            sent_at,
            answered_at,
        }),
        _ => None,
    };
    let listed_new = !stopped
        .iter()
        .chain(&running)
        .all(|arn| asked.binary_search(arn).is_ok());
    if listed_new {
        asked = stopped.iter().chain(&running).cloned().collect();
        asked.sort();
        asked.dedup();
        // The first leg was not the last: its read of the next services is a leg old.
        let ride = !next.is_empty() && may_end(&views);
        let sent = ride.then(|| clock.now().at);
        let (described_tasks, next_read) =
            futures::join!(describe_task_arns(ecs, cluster, &asked), async {
                match ride {
                    true => Some(describe_services(ecs, cluster, next).await),
                    false => None,
                }
            });
        let answered = ride.then(|| clock.now().at);
        found = described_tasks?;
        guard_read = match (next_read, sent, answered) {
            (Some(Ok((services, missing))), Some(sent_at), Some(answered_at)) => Some(GuardRead {
                services,
                missing,
                sent_at,
                answered_at,
            }),
            _ => None,
        };
    }
    Ok(PollAnswer {
        services: views,
        missing,
        stopped: listing_of(&stopped, &found),
        running: listing_of(&running, &found),
        asked,
        guard_read,
    })
}

/// Whether `next` services fit the spare room of the DescribeServices batches a poll asks about
/// `asking` anyway (10 per call), so reading them costs no call.
fn rides_free(asking: usize, next: usize) -> bool {
    next > 0
        && asking > 0
        && (asking + next).div_ceil(DESCRIBE_SERVICES_BATCH)
            == asking.div_ceil(DESCRIBE_SERVICES_BATCH)
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitReport {
    pub all_stable: bool,
    pub outcome: ProbeOutcome,
    pub services: BTreeMap<String, ServiceWait>,
    /// Earlier-started services of this execution that failed during this wait.
    pub late_failures: Vec<ServiceWait>,
    pub polls: u32,
    pub failed_polls: u32,
    pub elapsed_ms: u64,
    pub error: Option<String>,
    /// Tasks of the cluster with desired status RUNNING that no service started (possible
    /// once-off consumers), as the wait's last successful poll listed them; () when none did.
    pub standalone_tasks: Option<Vec<TaskView>>,
    /// The tasks the last successful poll asked about (for the next wait of the cluster).
    #[serde(skip)]
    pub asked: AskedTasks,
    /// The services asked to be read `next`, as the last leg of the last poll read them.
    #[serde(skip)]
    pub guard_read: Option<GuardRead>,
}

/// The task ARNs a poll asked about: what the next poll describes while it lists.
#[derive(Debug, Clone, Default)]
pub struct AskedTasks(pub Vec<String>);

/// Services the caller updates next, as the last leg of the poll that ended a wait read them,
/// with when that leg was sent and answered (the wait's clock, on the tape): what the update's
/// guard may use instead of a read of its own while it is as fresh
/// (`rules::update_guard::ridden_read_is_fresh`).
#[derive(Debug, Clone)]
pub struct GuardRead {
    pub services: Vec<ServiceView>,
    /// DescribeServices `failures[]` among them, "name (reason)".
    pub missing: Vec<String>,
    pub sent_at: DateTime<Utc>,
    pub answered_at: DateTime<Utc>,
}

impl GuardRead {
    /// Its answer about `names` alone, as DescribeServices of them answers: (found, missing).
    pub fn only(self, names: &[String]) -> (Vec<ServiceView>, Vec<String>) {
        let asked = |n: &str| names.iter().any(|a| a == n);
        (
            self.services
                .into_iter()
                .filter(|s| asked(&s.name))
                .collect(),
            self.missing
                .into_iter()
                .filter(|m| asked(short_name(m)))
                .collect(),
        )
    }

    /// Whether it holds an answer for every one of `names`.
    pub fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|n| {
            self.services.iter().any(|s| &s.name == n)
                || self.missing.iter().any(|m| short_name(m) == n)
        })
    }
}

/// The service a DescribeServices failure names ("name (reason)").
fn short_name(missing: &str) -> &str {
    missing.split(' ').next().unwrap_or(missing)
}

pub struct WaitOptions {
    /// The tasks an earlier wait of the cluster asked about last: its first poll describes them
    /// while it lists, as every later poll does with what the one before asked.
    pub asked: AskedTasks,
    pub timeout: Duration,
    pub soak: Duration,
    pub first_poll_ms: u64,
    pub max_poll_ms: u64,
    /// How long a placement failure may persist before the service is judged unplaceable.
    pub placement_grace: Duration,
    /// How long polls may fail one after another before the wait ends with an error.
    pub poll_failure_budget: Duration,
    /// Where ECS is asked, for the operator's reason when it stops answering.
    pub endpoint: String,
    /// End once each service is up (stable but for any soak, declared health checks HEALTHY):
    /// the bring-up's wave gate (issue #23). The full judgement comes in a later wait.
    pub until_up: bool,
    /// Where the clock readings the judgement used are recorded (issue #25).
    pub tape: Option<std::sync::Arc<crate::infra::tape::Tape>>,
    /// Services the caller updates as soon as this wait ends (a bring-up's next wave): read in
    /// the last leg of a poll that may end the wait, so their update's guard need not read them
    /// again (issue #23). Never asked about otherwise: their answers judge nothing here.
    pub next: Vec<String>,
}

/// Polls until every asked-for service has been stable for its soak at the same poll, or reaches
/// a final failure, or a watched service fails, or the timeout passes (the unsettled ones are then
/// `settling` with their last reason: never a pass), or polls keep failing past the budget
/// (outcome `error`), or `cancelled()` says so.
pub async fn wait_stable(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    targets: &BTreeMap<String, WaitTarget>,
    options: &WaitOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
    mut progress: impl FnMut(&BTreeMap<String, ServiceWait>, Duration),
) -> WaitReport {
    let clock = WaitClock::new(
        format!(
            "ecs wait {cluster} {}",
            targets.keys().cloned().collect::<Vec<_>>().join(",")
        ),
        options.tape.clone(),
    );
    let timing = Timing {
        soak: options.soak,
        placement_grace: options.placement_grace,
        until_up: options.until_up,
    };
    let names: Vec<String> = targets.keys().cloned().collect();
    let mut trackers: BTreeMap<String, Tracker> = names
        .iter()
        .map(|n| (n.clone(), Tracker::default()))
        .collect();
    let mut interval = options.first_poll_ms;
    let (mut polls, mut failed_polls) = (0, 0);
    let mut failing_since: Option<Duration> = None;
    let mut error: Option<String>;
    let mut lasting_failure = false;
    let mut standalone: Option<Vec<TaskView>> = None;
    // The deployments of every service described so far (a service no longer asked about keeps
    // its last ones): what proves a running task was started by a service.
    let mut deployments: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // What the last poll asked about: described while this poll lists.
    let mut known = options.asked.clone();
    // The next services as the last poll's last leg read them (none when it did not).
    let mut guard_read: Option<GuardRead> = None;
    loop {
        polls += 1;
        let poll_started = clock.elapsed();
        // Final failures are not asked about again; stable ones are, until the wait ends.
        let asking: Vec<String> = names
            .iter()
            .filter(|n| {
                !trackers[*n]
                    .result
                    .as_ref()
                    .is_some_and(|r| r.outcome.is_final_failure())
            })
            .cloned()
            .collect();
        // The poll may end the wait when every service waited for runs what it wants: then the
        // next services are read in its last leg (at most one DescribeServices more when wrong).
        let waited: Vec<&str> = names
            .iter()
            .filter(|n| !targets[*n].watched)
            .map(String::as_str)
            .collect();
        let may_end = |views: &[ServiceView]| stability::may_end_at_this_poll(views, &waited);
        let answer = poll(
            ecs,
            cluster,
            &asking,
            &options.next,
            &known.0,
            &clock,
            may_end,
        )
        .await;
        let mut starting_soon = false;
        let poll = match answer {
            Ok(p) if p.stopped.failures.is_empty() && p.running.failures.is_empty() => {
                // What the next poll describes while it lists: on the tape as asked.
                known = AskedTasks(p.asked);
                guard_read = p.guard_read;
                Ok(((p.services, p.missing), p.stopped, p.running))
            }
            Ok(p) => Err(AwsError::new(
                "DescribeTasks",
                AwsErrorKind::Other,
                format!(
                    "could not describe {}",
                    [p.stopped.failures, p.running.failures].concat().join(", ")
                ),
            )),
            Err(why) => Err(why),
        };
        match poll {
            Ok(((services, missing), stopped, running)) => {
                failing_since = None;
                error = None;
                deployments.extend(deployment_ids(&services));
                standalone = Some(
                    not_started_by_a_service(&running.tasks, &deployments)
                        .into_iter()
                        .cloned()
                        .collect(),
                );
                let mut all = running.tasks;
                let known: std::collections::BTreeSet<String> =
                    all.iter().map(|t| t.arn.clone()).collect();
                all.extend(
                    stopped
                        .tasks
                        .into_iter()
                        .filter(|t| !known.contains(&t.arn)),
                );
                starting_soon = all.iter().any(|t| {
                    t.starting_soon()
                        && t.service()
                            .and_then(|s| targets.get(s))
                            .is_some_and(|target| !target.watched)
                });
                let now = clock.now();
                for service in &services {
                    let Some(target) = targets.get(&service.name) else {
                        continue;
                    };
                    let Some(tracker) = trackers.get_mut(&service.name) else {
                        continue; // a tracker per target, made with it
                    };
                    let judged = stability::classify(service, &all, &target.policy);
                    let result = judge_poll(service, &all, target, judged, tracker, &timing, now);
                    tracker.result = Some(result);
                }
                for name in missing {
                    let short = name.split(' ').next().unwrap_or(&name).to_owned();
                    if let Some(tracker) = trackers.get_mut(&short) {
                        let mut r = ServiceWait::without_service(
                            &short,
                            ServiceOutcome::Failed,
                            format!("service not found: {name}"),
                        );
                        r.watched = targets[&short].watched;
                        r.timeline.update_sent_at = targets[&short].update_sent_at;
                        r.timeline.failed_at = Some(now.at);
                        tracker.result = Some(r);
                    }
                }
            }
            Err(why) => {
                guard_read = None;
                // A failed poll is never a pass; polls failing for longer than the budget end the
                // wait instead of spending the whole timeout (a dead or throttling endpoint).
                failed_polls += 1;
                // The failure clock starts when the first failing poll was sent.
                let since = *failing_since.get_or_insert(poll_started);
                let failing_for = clock.elapsed().saturating_sub(since);
                error = Some(why.to_string());
                if failing_for >= options.poll_failure_budget {
                    error = Some(format!(
                        "ECS at {} kept {} for {:.1} s ({} poll(s) in a row); last error: {why}",
                        options.endpoint,
                        why.kind.said(),
                        failing_for.as_secs_f64(),
                        failed_polls
                    ));
                    lasting_failure = true;
                }
            }
        }
        let results: BTreeMap<String, ServiceWait> = trackers
            .iter()
            .filter_map(|(n, t)| t.result.clone().map(|r| (n.clone(), r)))
            .collect();
        progress(&results, clock.elapsed());
        let watched_failed = results
            .values()
            .any(|r| r.watched && r.outcome.is_final_failure());
        let asked_done = names.iter().filter(|n| !targets[*n].watched).all(|n| {
            results
                .get(n)
                .is_some_and(|r| r.stable || r.outcome.is_final_failure())
        });
        if asked_done
            || watched_failed
            || lasting_failure
            || clock.elapsed() >= options.timeout
            || cancelled()
        {
            break;
        }
        // Backoff, but no later than the first soak's end (a soaked service is judged stable by
        // the next poll, not up to a whole interval after), and closer while a task is about to
        // run (issue #23).
        let now = chrono::TimeDelta::from_std(clock.elapsed()).unwrap_or_default();
        let soak_ends = trackers.values().filter_map(|t| t.soak_ends_in(now)).min();
        let ceiling = if starting_soon {
            stability::starting_soon_interval(options.max_poll_ms)
        } else {
            interval
        };
        clock
            .sleep(
                Duration::from_millis(interval.min(ceiling))
                    .min(soak_ends.map_or(Duration::MAX, |d| d.max(Duration::from_millis(1))))
                    .min(options.timeout.saturating_sub(clock.elapsed())),
            )
            .await;
        interval = stability::next_interval(interval, options.max_poll_ms);
    }
    let mut services: BTreeMap<String, ServiceWait> = BTreeMap::new();
    let mut late_failures = Vec::new();
    for name in &names {
        let mut r = trackers
            .get_mut(name)
            .and_then(|t| t.result.take())
            .unwrap_or_else(|| {
                ServiceWait::without_service(
                    name,
                    ServiceOutcome::Settling,
                    error.clone().unwrap_or_else(|| "never described".into()),
                )
            });
        r.watched = targets[name].watched;
        if r.watched {
            if r.outcome.is_final_failure() {
                late_failures.push(r);
            }
            continue;
        }
        services.insert(name.clone(), r);
    }
    let all_stable =
        services.values().all(|r| r.stable) && late_failures.is_empty() && error.is_none();
    let outcome = if all_stable {
        ProbeOutcome::Pass
    } else if lasting_failure
        || (error.is_some() && services.values().all(|r| !r.outcome.is_final_failure()))
    {
        ProbeOutcome::Error
    } else {
        ProbeOutcome::Fail
    };
    WaitReport {
        all_stable,
        outcome,
        services,
        late_failures,
        polls,
        failed_polls,
        elapsed_ms: clock.elapsed().as_millis() as u64,
        error,
        standalone_tasks: standalone,
        asked: known,
        guard_read,
    }
}

impl ServiceWait {
    /// The result for a service ECS never described.
    pub(crate) fn without_service(
        name: &str,
        outcome: ServiceOutcome,
        reason: String,
    ) -> ServiceWait {
        ServiceWait {
            service: name.to_owned(),
            outcome,
            stable: false,
            reason,
            watched: false,
            desired_count: 0,
            running_count: 0,
            pending_count: 0,
            primary_task_definition: None,
            rollout_state: None,
            failed_tasks: 0,
            deployment_controller: None,
            task_arns: vec![],
            task_states: BTreeMap::new(),
            health: Health::NotDeclared,
            health_checks: BTreeMap::new(),
            soak_ms: 0,
            soak_bound: String::new(),
            stable_for_ms: 0,
            stops: vec![],
            log_tail: None,
            events_since_update: vec![],
            placement_problem: None,
            timeline: BringUpTimeline::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next services ride on a poll's DescribeServices only when they fit its batches of 10:
    /// 1 + 8 and 12 + 1 do; 9 + 3 (a second call) and 10 + 1 do not; nothing asked, nothing rides.
    #[test]
    fn the_next_services_ride_only_in_spare_room() {
        assert!(rides_free(1, 8));
        assert!(rides_free(12, 1));
        assert!(rides_free(1, 9));
        assert!(!rides_free(9, 3));
        assert!(!rides_free(10, 1));
        assert!(!rides_free(0, 1));
        assert!(!rides_free(5, 0));
    }
}
