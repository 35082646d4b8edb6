//! The soak, the placement grace and the timeline over a clock the test turns by hand.

use super::*;

const T0: &str = "2026-12-01T10:00:00Z";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The clock `secs` seconds after the wait began (monotonic and wall clock move together).
fn at(secs: f64) -> Reading {
    let span = TimeDelta::milliseconds((secs * 1000.0) as i64);
    Reading {
        elapsed: span,
        at: utc(T0) + span,
    }
}

fn service() -> ServiceView {
    ServiceView {
        name: "ig".into(),
        arn: "arn:aws:ecs:eu-west-2:123456789012:service/c/ig".into(),
        cluster_arn: None,
        status: "ACTIVE".into(),
        desired_count: 1,
        running_count: 1,
        pending_count: 0,
        task_definition: "arn:aws:ecs:eu-west-2:123456789012:task-definition/ig:2".into(),
        launch_type: Some("FARGATE".into()),
        deployment_controller: Some("ECS".into()),
        deployments: vec![],
        task_sets: vec![],
        events: vec![],
        subnets: vec![],
        security_groups: vec![],
        assign_public_ip: None,
    }
}

fn target(health: bool) -> WaitTarget {
    WaitTarget {
        policy: StabilityPolicy {
            desired_count: 1,
            expected_task_definition: None,
            stop_threshold: 1,
            since: utc(T0),
            health: crate::rules::ecs_model::ig_health(health),
        },
        watched: false,
        update_sent_at: Some(utc(T0)),
        up_since: None,
    }
}

fn judged(outcome: ServiceOutcome, placement: Option<&str>) -> Classification {
    Classification {
        outcome,
        reason: format!("{outcome:?}"),
        health: Health::NotDeclared,
        stops: vec![],
        placement_problem: placement.map(str::to_owned),
        task_states: BTreeMap::new(),
    }
}

const SOAK_30S: Timing = Timing {
    soak: Duration::from_secs(30),
    placement_grace: Duration::from_secs(10),
    until_up: false,
};

/// Polls one service at the given seconds with the given classifications; the last result.
fn polls(target: &WaitTarget, timing: &Timing, seen: &[(f64, ServiceOutcome)]) -> ServiceWait {
    let mut tracker = Tracker::default();
    for &(secs, outcome) in seen {
        let r = judge_poll(
            &service(),
            &[],
            target,
            judged(outcome, None),
            &mut tracker,
            timing,
            at(secs),
        );
        tracker.result = Some(r);
    }
    tracker.result.unwrap()
}

#[test]
fn stable_only_once_the_soak_has_passed_on_the_waiters_clock() {
    use ServiceOutcome::Stable;
    // Near miss: exactly the soak after the first stable poll passes.
    let r = polls(&target(false), &SOAK_30S, &[(0.0, Stable), (30.0, Stable)]);
    assert!(r.stable, "{}", r.reason);
    assert_eq!(r.outcome, Stable);
    assert_eq!(r.stable_for_ms, 30_000);
    assert_eq!(r.timeline.stable_since, Some(utc(T0)));
    assert_eq!(r.timeline.stable_at, Some(at(30.0).at));
    // Adversarial twin: one millisecond short is still settling, and says how far it got.
    let r = polls(
        &target(false),
        &SOAK_30S,
        &[(0.0, Stable), (29.999, Stable)],
    );
    assert!(!r.stable);
    assert_eq!(r.outcome, ServiceOutcome::Settling);
    assert!(
        r.reason.ends_with("soaking 29999 of 30000 ms"),
        "{}",
        r.reason
    );
    assert_eq!(r.timeline.stable_at, None);
}

#[test]
fn a_poll_that_is_not_stable_starts_the_soak_again() {
    use ServiceOutcome::{Settling, Stable};
    let seen = [
        (0.0, Stable),
        (20.0, Settling),
        (25.0, Stable),
        (50.0, Stable),
    ];
    let r = polls(&target(false), &SOAK_30S, &seen);
    assert!(!r.stable, "25 s since the stretch began at 25 s");
    assert_eq!(r.stable_for_ms, 25_000);
    let r = polls(
        &target(false),
        &SOAK_30S,
        &[seen.as_slice(), &[(55.0, Stable)]].concat(),
    );
    assert!(r.stable);
    assert_eq!(r.timeline.stable_since, Some(at(25.0).at));
}

#[test]
fn the_stable_time_is_the_first_poll_that_found_the_soak_complete() {
    use ServiceOutcome::Stable;
    let r = polls(
        &target(false),
        &SOAK_30S,
        &[(0.0, Stable), (31.0, Stable), (40.0, Stable)],
    );
    assert_eq!(r.timeline.stable_at, Some(at(31.0).at));
    assert_eq!(r.stable_for_ms, 40_000);
}

#[test]
fn a_declared_health_check_lengthens_the_soak_to_its_verdict_window() {
    use ServiceOutcome::Stable;
    // startPeriod 60 + interval 30 x retries 3 = 150 s, longer than the 30 s asked.
    let r = polls(&target(true), &SOAK_30S, &[(0.0, Stable), (149.0, Stable)]);
    assert!(!r.stable);
    assert_eq!(r.soak_ms, 150_000);
    assert!(
        r.soak_bound.starts_with("declared health check"),
        "{}",
        r.soak_bound
    );
    let r = polls(&target(true), &SOAK_30S, &[(0.0, Stable), (150.0, Stable)]);
    assert!(r.stable);
    // Asked for longer than the window: the option holds, and says it covers the check.
    let long = Timing {
        soak: Duration::from_secs(200),
        ..SOAK_30S
    };
    let r = polls(&target(true), &long, &[(0.0, Stable), (150.0, Stable)]);
    assert!(!r.stable);
    assert!(
        r.soak_bound.contains("at least the declared check's 150 s"),
        "{}",
        r.soak_bound
    );
}

#[test]
fn the_wave_gate_waits_for_up_and_no_soak() {
    let up = Timing {
        until_up: true,
        ..SOAK_30S
    };
    let r = polls(&target(true), &up, &[(0.0, ServiceOutcome::Stable)]);
    assert!(r.stable);
    assert_eq!(r.soak_ms, 0);
    assert!(r.soak_bound.starts_with("up:"), "{}", r.soak_bound);
}

#[test]
fn a_service_up_since_an_earlier_wait_soaks_from_then_never_from_the_future() {
    use ServiceOutcome::Stable;
    let mut earlier = target(false);
    // Up 20 s before this wait began: 10 s more complete the 30 s soak.
    earlier.up_since = Some(utc(T0) - TimeDelta::seconds(20));
    let r = polls(&earlier, &SOAK_30S, &[(0.0, Stable), (10.0, Stable)]);
    assert!(r.stable, "{}", r.reason);
    assert_eq!(r.timeline.stable_since, earlier.up_since);
    let r = polls(&earlier, &SOAK_30S, &[(0.0, Stable), (9.0, Stable)]);
    assert!(!r.stable);
    // A time after now (another clock ahead of this one) is not trusted: the soak starts now.
    let mut ahead = target(false);
    ahead.up_since = Some(utc(T0) + TimeDelta::seconds(5));
    let r = polls(&ahead, &SOAK_30S, &[(0.0, Stable), (29.0, Stable)]);
    assert!(!r.stable);
    assert_eq!(r.stable_for_ms, 29_000);
}

#[test]
fn a_watched_service_need_not_soak() {
    let mut watched = target(false);
    watched.watched = true;
    let r = polls(&watched, &SOAK_30S, &[(0.0, ServiceOutcome::Stable)]);
    assert!(r.stable);
}

#[test]
fn a_placement_problem_fails_only_after_it_has_lasted_the_grace() {
    let mut tracker = Tracker::default();
    let mut poll = |secs: f64, problem: Option<&str>| {
        let r = judge_poll(
            &service(),
            &[],
            &target(false),
            judged(ServiceOutcome::Settling, problem),
            &mut tracker,
            &SOAK_30S,
            at(secs),
        );
        tracker.result = Some(r.clone());
        r
    };
    let event = "(service ig) was unable to place a task because no container instance met all of its requirements.";
    assert_eq!(poll(0.0, Some(event)).outcome, ServiceOutcome::Settling);
    assert_eq!(poll(9.9, Some(event)).outcome, ServiceOutcome::Settling);
    // A poll without the problem resets its clock: a passing hiccup is not a failure.
    assert_eq!(poll(12.0, None).outcome, ServiceOutcome::Settling);
    assert_eq!(poll(15.0, Some(event)).outcome, ServiceOutcome::Settling);
    let r = poll(25.0, Some(event));
    assert_eq!(r.outcome, ServiceOutcome::PlacementFailed);
    assert!(
        r.reason
            .starts_with("ECS could not place or start a task for 10.0 s (grace 10000 ms)"),
        "{}",
        r.reason
    );
    assert_eq!(r.timeline.failed_at, Some(at(25.0).at));
}

#[test]
fn a_final_failure_keeps_the_time_it_was_first_seen() {
    use ServiceOutcome::{CrashLoop, Stable};
    let r = polls(
        &target(false),
        &SOAK_30S,
        &[(0.0, Stable), (5.0, CrashLoop), (9.0, CrashLoop)],
    );
    assert_eq!(r.outcome, CrashLoop);
    assert!(!r.stable);
    assert_eq!(r.timeline.failed_at, Some(at(5.0).at));
    assert_eq!(r.timeline.stable_since, None);
}

#[test]
fn a_reading_before_an_earlier_one_is_no_span() {
    assert_eq!(at(1.0).since(at(2.0)), Duration::ZERO);
    assert_eq!(at(2.5).since(at(1.0)), Duration::from_millis(1500));
}

/// The waiter may poll when the soak ends rather than a whole backoff interval after it: while a
/// service soaks, the tracker says when; a service not soaking (settling, soaked) says nothing.
#[test]
fn a_soaking_service_says_when_its_soak_ends() {
    use ServiceOutcome::{Settling, Stable};
    let judge = |tracker: &mut Tracker, secs: f64, outcome| {
        let r = judge_poll(
            &service(),
            &[],
            &target(false),
            judged(outcome, None),
            tracker,
            &SOAK_30S,
            at(secs),
        );
        tracker.result = Some(r);
    };
    let mut tracker = Tracker::default();
    judge(&mut tracker, 0.0, Settling);
    assert_eq!(tracker.soak_ends_in(at(0.0).elapsed), None);
    judge(&mut tracker, 5.0, Stable);
    assert_eq!(
        tracker.soak_ends_in(at(12.0).elapsed),
        Some(Duration::from_secs(23))
    );
    // Asked past the end: now, never a negative pause.
    assert_eq!(tracker.soak_ends_in(at(40.0).elapsed), Some(Duration::ZERO));
    // Soaked: stable, nothing left to wait for.
    judge(&mut tracker, 35.0, Stable);
    assert!(tracker.result.as_ref().unwrap().stable);
    assert_eq!(tracker.soak_ends_in(at(35.0).elapsed), None);
    // A stop starts the soak again, and its end is no longer due.
    judge(&mut tracker, 36.0, Settling);
    assert_eq!(tracker.soak_ends_in(at(36.0).elapsed), None);
}

/// A timeline's times are written at one width whatever their fraction (a whole second, a
/// millisecond, a nanosecond), so sorting their strings sorts the times: with chrono's own
/// width "…:00Z" would sort after "…:00.5Z".
#[test]
fn timeline_times_sort_as_strings_in_time_order() {
    let times = [
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:00:00.5Z",
        "2026-12-01T10:00:00.000000001Z",
    ];
    let written: Vec<String> = times
        .iter()
        .map(|t| {
            let timeline = BringUpTimeline {
                update_sent_at: Some(utc(t)),
                ..Default::default()
            };
            serde_json::to_value(&timeline).unwrap()["update_sent_at"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(written.iter().all(|w| w.len() == 30), "{written:?}");
    let mut sorted = written.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [written[0].clone(), written[2].clone(), written[1].clone()]
    );
    let none = serde_json::to_value(BringUpTimeline::default()).unwrap();
    assert!(none["stable_at"].is_null());
}
