//! The classifier over DescribeServices/DescribeTasks answers written in the API's own JSON shape
//! (field names and values as in the ECS API reference and botocore's service model), turned into
//! views by a small reader here, so the cases read like what ECS returns.

use super::*;
use crate::rules::ecs_model::*;
use serde_json::{json, Value};
use std::time::Duration;

const SINCE: &str = "2026-12-01T10:00:00Z";

fn at(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn string(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// A word from ECS's documented set, parsed as the adapter parses it.
fn word<T: for<'a> From<&'a str>>(v: &Value, k: &str) -> Option<T> {
    v.get(k).and_then(Value::as_str).map(T::from)
}

fn int(v: &Value, k: &str) -> i32 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0) as i32
}

fn time(v: &Value, k: &str) -> Option<DateTime<Utc>> {
    v.get(k).and_then(Value::as_str).and_then(at)
}

fn service(v: Value) -> ServiceView {
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    ServiceView {
        name: string(&v, "serviceName").unwrap(),
        arn: string(&v, "serviceArn").unwrap_or_default(),
        cluster_arn: string(&v, "clusterArn"),
        status: word(&v, "status").unwrap(),
        desired_count: int(&v, "desiredCount"),
        running_count: int(&v, "runningCount"),
        pending_count: int(&v, "pendingCount"),
        task_definition: string(&v, "taskDefinition").unwrap_or_default(),
        launch_type: string(&v, "launchType"),
        deployment_controller: v
            .get("deploymentController")
            .and_then(|c| string(c, "type")),
        deployments: list("deployments")
            .iter()
            .map(|d| DeploymentView {
                id: string(d, "id").unwrap(),
                status: word(d, "status").unwrap(),
                rollout_state: word(d, "rolloutState"),
                rollout_state_reason: string(d, "rolloutStateReason"),
                task_definition: string(d, "taskDefinition").unwrap(),
                desired_count: int(d, "desiredCount"),
                running_count: int(d, "runningCount"),
                pending_count: int(d, "pendingCount"),
                failed_tasks: int(d, "failedTasks"),
                created_at: time(d, "createdAt"),
                updated_at: time(d, "updatedAt"),
            })
            .collect(),
        task_sets: list("taskSets")
            .iter()
            .map(|s| TaskSetView {
                id: string(s, "id").unwrap(),
                status: string(s, "status").unwrap(),
                stability_status: string(s, "stabilityStatus"),
                task_definition: string(s, "taskDefinition").unwrap_or_default(),
                running_count: int(s, "runningCount"),
                pending_count: int(s, "pendingCount"),
            })
            .collect(),
        events: list("events")
            .iter()
            .map(|e| EventView {
                created_at: time(e, "createdAt"),
                message: string(e, "message").unwrap(),
            })
            .collect(),
        subnets: vec![],
        security_groups: vec![],
        assign_public_ip: None,
    }
}

fn task(v: Value) -> TaskView {
    let containers: Vec<ContainerStateView> = v["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| ContainerStateView {
            name: string(c, "name").unwrap(),
            last_status: word(c, "lastStatus"),
            exit_code: c.get("exitCode").and_then(Value::as_i64).map(|x| x as i32),
            reason: string(c, "reason"),
            health_status: word(c, "healthStatus"),
        })
        .collect();
    TaskView {
        arn: string(&v, "taskArn").unwrap(),
        group: string(&v, "group"),
        started_by: string(&v, "startedBy"),
        task_definition: string(&v, "taskDefinitionArn").unwrap(),
        last_status: word(&v, "lastStatus").unwrap(),
        desired_status: word(&v, "desiredStatus").unwrap(),
        health_status: word(&v, "healthStatus"),
        stop_code: string(&v, "stopCode"),
        stopped_reason: string(&v, "stoppedReason"),
        exit_codes: containers.iter().map(|c| c.exit_code).collect(),
        containers,
        created_at: time(&v, "createdAt"),
        started_at: time(&v, "startedAt"),
        pull_stopped_at: time(&v, "pullStoppedAt"),
        stopping_at: time(&v, "stoppingAt"),
        execution_stopped_at: time(&v, "executionStoppedAt"),
        stopped_at: time(&v, "stoppedAt"),
    }
}

const TD: &str = "arn:aws:ecs:eu-west-2:123456789012:task-definition/ig:2";

fn primary(state: &str, updated: &str) -> Value {
    json!({"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": TD, "desiredCount": 1,
           "runningCount": 1, "pendingCount": 0, "failedTasks": 0, "rolloutState": state,
           "rolloutStateReason": "ECS deployment ecs-svc/1 completed.",
           "createdAt": "2026-11-30T09:00:00Z", "updatedAt": updated})
}

fn ig(running: i32, pending: i32, deployments: Vec<Value>, events: Vec<Value>) -> ServiceView {
    service(
        json!({"serviceName": "ig", "status": "ACTIVE", "desiredCount": 1,
        "runningCount": running, "pendingCount": pending, "taskDefinition": TD,
        "launchType": "FARGATE", "deploymentController": {"type": "ECS"},
        "deployments": deployments, "events": events}),
    )
}

fn running_task(id: &str, health: &str) -> TaskView {
    task(
        json!({"taskArn": format!("arn:aws:ecs:eu-west-2:123456789012:task/c/{id}"),
        "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING", "healthStatus": health, "createdAt": "2026-12-01T10:00:01Z",
        "startedAt": "2026-12-01T10:00:05Z",
        "containers": [{"name": "ig", "lastStatus": "RUNNING", "healthStatus": health}]}),
    )
}

fn stopped_task(
    id: &str,
    stop_code: &str,
    reason: &str,
    exit: Value,
    container_reason: Value,
) -> TaskView {
    task(
        json!({"taskArn": format!("arn:aws:ecs:eu-west-2:123456789012:task/c/{id}"),
        "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED", "healthStatus": "UNKNOWN", "stopCode": stop_code,
        "stoppedReason": reason, "createdAt": "2026-12-01T10:00:01Z",
        "stoppingAt": "2026-12-01T10:00:20Z", "executionStoppedAt": "2026-12-01T10:00:20Z",
        "stoppedAt": "2026-12-01T10:00:50Z",
        "containers": [{"name": "ig", "lastStatus": "STOPPED", "exitCode": exit, "reason": container_reason}]}),
    )
}

fn policy(health: bool) -> StabilityPolicy {
    StabilityPolicy {
        desired_count: 1,
        expected_task_definition: Some(TD.into()),
        stop_threshold: 1,
        since: at(SINCE).unwrap(),
        health: crate::rules::ecs_model::ig_health(health),
    }
}

fn steady() -> ServiceView {
    ig(
        1,
        0,
        vec![primary("COMPLETED", "2026-11-30T09:05:00Z")],
        vec![],
    )
}

#[test]
fn running_singleton_without_a_declared_check_is_stable_but_health_unproven() {
    let c = classify(&steady(), &[running_task("a", "UNKNOWN")], &policy(false));
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
    assert_eq!(c.health, Health::NotDeclared);
    assert!(c.reason.contains("not declared"), "{}", c.reason);
}

#[test]
fn declared_check_needs_healthy() {
    let c = classify(&steady(), &[running_task("a", "UNKNOWN")], &policy(true));
    assert_eq!(c.outcome, ServiceOutcome::Settling, "{}", c.reason);
    assert_eq!(c.health, Health::Unproven);
    let c = classify(&steady(), &[running_task("a", "HEALTHY")], &policy(true));
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
    assert_eq!(c.health, Health::Healthy);
}

#[test]
fn running_but_unhealthy_names_the_container() {
    let c = classify(&steady(), &[running_task("a", "UNHEALTHY")], &policy(true));
    assert_eq!(c.outcome, ServiceOutcome::Unhealthy);
    assert!(c.reason.contains("container `ig`"), "{}", c.reason);
}

#[test]
fn scheduler_replacing_a_task_for_failed_health_checks_is_unhealthy() {
    let killed = stopped_task(
        "k",
        "ServiceSchedulerInitiated",
        "Task failed container health checks",
        json!(137),
        Value::Null,
    );
    let c = classify(
        &steady(),
        &[killed, running_task("b", "UNKNOWN")],
        &policy(true),
    );
    assert_eq!(c.outcome, ServiceOutcome::Unhealthy, "{}", c.reason);
    assert!(
        c.reason.contains("failed container health checks"),
        "{}",
        c.reason
    );
}

#[test]
fn every_exit_counts_zero_none_or_oom() {
    for (exit, creason, want) in [
        (json!(0), Value::Null, "exit code 0"),
        (Value::Null, Value::Null, "exit code none"),
        (
            json!(137),
            json!("OutOfMemoryError: Container killed due to memory usage"),
            "OutOfMemoryError",
        ),
    ] {
        let t = stopped_task(
            "s",
            "EssentialContainerExited",
            "Essential container in task exited",
            exit,
            creason,
        );
        let c = classify(
            &steady(),
            &[t, running_task("b", "UNKNOWN")],
            &policy(false),
        );
        assert_eq!(c.outcome, ServiceOutcome::CrashLoop, "{}", c.reason);
        assert!(c.reason.contains(want), "{want}: {}", c.reason);
        assert_eq!(c.stops.len(), 1);
    }
}

#[test]
fn failed_to_start_counts_with_its_reason() {
    let t = stopped_task("s", "TaskFailedToStart",
        "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm",
        Value::Null, Value::Null);
    let c = classify(
        &ig(0, 0, vec![primary("IN_PROGRESS", SINCE)], vec![]),
        &[t],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::CrashLoop);
    assert!(
        c.reason.contains("ResourceInitializationError"),
        "{}",
        c.reason
    );
}

#[test]
fn a_task_still_stopping_already_counts() {
    let mut t = stopped_task(
        "s",
        "EssentialContainerExited",
        "Essential container in task exited",
        json!(1),
        Value::Null,
    );
    t.last_status = "STOPPING".into();
    t.stopped_at = None;
    let c = classify(
        &steady(),
        &[t, running_task("b", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::CrashLoop, "{}", c.reason);
}

#[test]
fn planned_scheduler_stops_and_stops_before_the_update_do_not_count() {
    let scaled = stopped_task(
        "p",
        "ServiceSchedulerInitiated",
        "Scaling activity initiated by (deployment ecs-svc/1)",
        json!(143),
        Value::Null,
    );
    let mut old = stopped_task(
        "o",
        "EssentialContainerExited",
        "Essential container in task exited",
        json!(1),
        Value::Null,
    );
    old.stopping_at = at("2026-12-01T09:00:00Z");
    old.execution_stopped_at = old.stopping_at;
    old.stopped_at = old.stopping_at;
    let mut other = stopped_task(
        "x",
        "EssentialContainerExited",
        "Essential container in task exited",
        json!(1),
        Value::Null,
    );
    other.group = Some("service:other".into());
    let c = classify(
        &steady(),
        &[scaled, old, other, running_task("b", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
}

#[test]
fn user_stops_count() {
    let t = stopped_task(
        "u",
        "UserInitiated",
        "Task stopped by user",
        json!(143),
        Value::Null,
    );
    let c = classify(
        &steady(),
        &[t, running_task("b", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::CrashLoop, "{}", c.reason);
    assert!(c.reason.contains("UserInitiated"), "{}", c.reason);
}

#[test]
fn intermediate_states_are_settling_and_a_stopping_task_still_runs() {
    let mut t = running_task("a", "UNKNOWN");
    t.last_status = "ACTIVATING".into();
    let c = classify(
        &ig(
            0,
            1,
            vec![primary("COMPLETED", "2026-11-30T09:05:00Z")],
            vec![],
        ),
        &[t],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::Settling);
    assert!(c.reason.contains("ACTIVATING"), "{}", c.reason);
    // Scaled to 0 (a rollback restore): the service counts say 0, but the task is still STOPPING.
    let mut p = policy(false);
    p.desired_count = 0;
    let mut stopping = running_task("a", "UNKNOWN");
    stopping.last_status = "STOPPING".into();
    stopping.desired_status = "STOPPED".into();
    stopping.stop_code = Some("ServiceSchedulerInitiated".into());
    stopping.stopped_reason = Some("Scaling activity initiated by (deployment ecs-svc/1)".into());
    let mut zero = ig(
        0,
        0,
        vec![primary("COMPLETED", "2026-11-30T09:05:00Z")],
        vec![],
    );
    zero.desired_count = 0;
    let c = classify(&zero, &[stopping.clone()], &p);
    assert_eq!(c.outcome, ServiceOutcome::Settling, "{}", c.reason);
    assert!(c.reason.contains("STOPPING"), "{}", c.reason);
    stopping.last_status = "STOPPED".into();
    assert_eq!(
        classify(&zero, &[stopping], &p).outcome,
        ServiceOutcome::Stable
    );
}

#[test]
fn placement_failure_events_are_reported_while_no_task_runs() {
    let svc = ig(
        0,
        0,
        vec![primary("IN_PROGRESS", SINCE)],
        vec![
            json!({"createdAt": "2026-12-01T10:00:03Z", "message": "(service ig) was unable to place a task. Reason: Capacity is unavailable at this time. Please try again later or in a different availability zone."}),
            json!({"createdAt": "2026-11-30T08:00:00Z", "message": "(service ig) was unable to place a task because no container instance met all of its requirements."}),
        ],
    );
    let c = classify(&svc, &[], &policy(false));
    assert_eq!(c.outcome, ServiceOutcome::Settling);
    assert!(c
        .placement_problem
        .as_deref()
        .unwrap()
        .contains("Capacity is unavailable"));
    // An old event, from before the update, is not this update's problem.
    let old = ig(
        0,
        0,
        vec![primary("IN_PROGRESS", SINCE)],
        vec![
            json!({"createdAt": "2026-11-30T08:00:00Z", "message": "(service ig) was unable to place a task."}),
        ],
    );
    assert_eq!(classify(&old, &[], &policy(false)).placement_problem, None);
}

#[test]
fn the_placement_event_with_ecs_reason_is_quoted_over_the_later_summary() {
    // After repeated failures ECS adds "is unable to consistently start tasks successfully"
    // (newest first in DescribeServices); the reason an operator acts on is in the earlier one.
    let svc = ig(
        0,
        0,
        vec![primary("IN_PROGRESS", SINCE)],
        vec![
            json!({"createdAt": "2026-12-01T10:00:09Z", "message": "(service ig) is unable to consistently start tasks successfully."}),
            json!({"createdAt": "2026-12-01T10:00:03Z", "message": "(service ig) was unable to place a task. Reason: Capacity is unavailable at this time."}),
        ],
    );
    let c = classify(&svc, &[], &policy(false));
    assert!(c
        .placement_problem
        .as_deref()
        .unwrap()
        .contains("Reason: Capacity is unavailable"));
    // The summary alone still counts as a placement problem.
    let only = ig(
        0,
        0,
        vec![primary("IN_PROGRESS", SINCE)],
        vec![
            json!({"createdAt": "2026-12-01T10:00:09Z", "message": "(service ig) is unable to consistently start tasks successfully."}),
        ],
    );
    assert!(classify(&only, &[], &policy(false))
        .placement_problem
        .is_some());
}

#[test]
fn code_deploy_with_empty_deployments_is_unsupported_at_once() {
    let svc = service(
        json!({"serviceName": "ig", "status": "ACTIVE", "desiredCount": 1,
        "runningCount": 0, "pendingCount": 0, "deploymentController": {"type": "CODE_DEPLOY"},
        "deployments": [], "taskSets": [{"id": "ecs-svc/9", "status": "PRIMARY",
        "stabilityStatus": "STABILIZING", "taskDefinition": TD, "runningCount": 0, "pendingCount": 0}]}),
    );
    let c = classify(&svc, &[], &policy(false));
    assert_eq!(c.outcome, ServiceOutcome::Unsupported);
    assert!(
        c.reason.contains("CODE_DEPLOY") && c.reason.contains("STABILIZING"),
        "{}",
        c.reason
    );
}

#[test]
fn failed_without_rollback_is_failed_not_rolled_back() {
    let mut d = primary("FAILED", "2026-12-01T10:03:00Z");
    d["rolloutStateReason"] = json!("ECS deployment circuit breaker: tasks failed to start.");
    d["failedTasks"] = json!(3);
    let c = classify(
        &ig(0, 0, vec![d], vec![]),
        &[],
        &StabilityPolicy {
            stop_threshold: 9,
            ..policy(false)
        },
    );
    assert_eq!(c.outcome, ServiceOutcome::Failed, "{}", c.reason);
    assert!(
        c.reason.contains("not rolled back") && c.reason.contains("3 failed"),
        "{}",
        c.reason
    );
}

#[test]
fn a_failed_rollout_from_before_the_update_is_not_evidence() {
    let d = primary("FAILED", "2026-11-30T09:05:00Z");
    let c = classify(
        &ig(1, 0, vec![d], vec![]),
        &[running_task("a", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
}

#[test]
fn rolled_back_to_another_task_definition() {
    let mut failed = primary("FAILED", "2026-12-01T10:02:00Z");
    failed["status"] = json!("ACTIVE");
    let mut back = primary("IN_PROGRESS", "2026-12-01T10:02:00Z");
    back["taskDefinition"] = json!("arn:aws:ecs:eu-west-2:123456789012:task-definition/ig:1");
    let c = classify(
        &ig(1, 0, vec![back, failed], vec![]),
        &[],
        &StabilityPolicy {
            stop_threshold: 9,
            ..policy(false)
        },
    );
    assert_eq!(c.outcome, ServiceOutcome::RolledBack, "{}", c.reason);
}

#[test]
fn inactive_service_fails() {
    let mut s = steady();
    s.status = "DRAINING".into();
    assert_eq!(
        classify(&s, &[], &policy(false)).outcome,
        ServiceOutcome::Failed
    );
}

#[test]
fn soak_floor_is_start_period_plus_interval_times_retries() {
    assert_eq!(
        policy(true).health.soak_floor(),
        Duration::from_secs(60 + 30 * 3)
    );
    assert_eq!(policy(false).health.soak_floor(), Duration::ZERO);
}

#[test]
fn intervals_grow_and_cap() {
    assert_eq!(next_interval(100, 2000), 150);
    assert_eq!(next_interval(1900, 2000), 2000);
    assert_eq!(next_interval(0, 2000), 50);
}

#[test]
fn scaling_to_zero_is_not_judged_by_how_the_last_task_ended() {
    let crashed = stopped_task(
        "c",
        "EssentialContainerExited",
        "Essential container in task exited",
        json!(1),
        Value::Null,
    );
    let mut zero = ig(
        0,
        0,
        vec![primary("COMPLETED", "2026-12-01T10:00:10Z")],
        vec![],
    );
    zero.desired_count = 0;
    let p = StabilityPolicy {
        desired_count: 0,
        ..policy(false)
    };
    let c = classify(&zero, &[crashed], &p);
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
    assert_eq!(c.stops.len(), 1, "the stop is still reported");
}

#[test]
fn a_nonessential_container_turning_unhealthy_does_not_hold() {
    // Task.healthStatus counts essential containers only; the sidecar's own status is noise.
    let mut t = running_task("a", "HEALTHY");
    t.containers.push(ContainerStateView {
        name: "sidecar".into(),
        last_status: Some("RUNNING".into()),
        exit_code: None,
        reason: None,
        health_status: Some("UNHEALTHY".into()),
    });
    let c = classify(&steady(), &[t], &policy(true));
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
}

#[test]
fn a_stop_stamped_by_a_server_clock_slightly_behind_still_counts() {
    // ECS stamps stoppingAt with its clock; ours stamped the update 2 s "later" than the crash.
    let mut t = stopped_task(
        "s",
        "EssentialContainerExited",
        "Essential container in task exited",
        json!(1),
        Value::Null,
    );
    t.stopping_at = at("2026-12-01T09:59:58Z");
    t.execution_stopped_at = t.stopping_at;
    t.stopped_at = at("2026-12-01T10:00:01Z");
    let c = classify(
        &steady(),
        &[t, running_task("b", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::CrashLoop, "{}", c.reason);
}

/// The bring-up timeline reads createdAt (entered PENDING) and startedAt (went RUNNING) of the
/// service's tasks created since the update; a task of an earlier bring-up and another service's
/// task do not count, and a replacement does not move "first".
#[test]
fn first_task_times_are_the_first_since_the_update() {
    let earlier = task(
        json!({"taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/c/old",
        "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED", "createdAt": "2026-12-01T09:00:00Z",
        "startedAt": "2026-12-01T09:00:04Z", "containers": []}),
    );
    let other = task(
        json!({"taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/c/other",
        "group": "service:ofp", "taskDefinitionArn": TD, "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING", "createdAt": "2026-12-01T10:00:00Z",
        "startedAt": "2026-12-01T10:00:02Z", "containers": []}),
    );
    let replacement = task(
        json!({"taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/c/new",
        "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": "PENDING",
        "desiredStatus": "RUNNING", "createdAt": "2026-12-01T10:00:30Z", "containers": []}),
    );
    let first = running_task("t1", "HEALTHY");
    let tasks = [earlier, other, replacement, first];
    let (pending, running) = first_task_times("ig", &tasks, at(SINCE).unwrap());
    assert_eq!(pending, at("2026-12-01T10:00:01Z"));
    assert_eq!(running, at("2026-12-01T10:00:05Z"));
    let (pending, running) = first_task_times("ig", &tasks[..1], at(SINCE).unwrap());
    assert_eq!((pending, running), (None, None));
}

/// Issue #32: a task is a service's only when ECS says so through the service itself — its group
/// names the service and its startedBy is one of the service's deployments; a once-off RunTask
/// that sets `--group service:NAME` (any name) is not.
#[test]
fn a_task_is_a_services_only_through_its_deployment() {
    let running = |arn: &str, group: &str, started_by: Option<&str>| {
        let mut v = json!({"taskArn": arn, "group": group, "taskDefinitionArn": TD,
                           "lastStatus": "RUNNING", "desiredStatus": "RUNNING"});
        if let Some(by) = started_by {
            v["startedBy"] = by.into();
        }
        task(v)
    };
    let tasks = vec![
        // The near miss that must pass: the service's own (replacement) task.
        running("t/own", "service:ig", Some("ecs-svc/1")),
        running("t/adhoc", "service:adhoc-replay", Some("ecs-svc/1")),
        running("t/claims-ig", "service:ig", None),
        running("t/claims-ig-by-hand", "service:ig", Some("operator")),
        running("t/family", "family:ig", None),
    ];
    let ig = service(
        json!({"serviceName": "ig", "status": "ACTIVE", "desiredCount": 1,
        "runningCount": 1, "pendingCount": 0, "taskDefinition": TD,
        "deployments": [primary("COMPLETED", "2026-11-30T09:01:00Z")]}),
    );
    let deployments = deployment_ids(&[ig]);
    let alone: Vec<&str> = not_started_by_a_service(&tasks, &deployments)
        .iter()
        .map(|t| t.arn.as_str())
        .collect();
    assert_eq!(
        alone,
        vec!["t/adhoc", "t/claims-ig", "t/claims-ig-by-hand", "t/family"]
    );
}

// ----- ECS's rollout signals as real answers write them (issue #26) ------------------------------

const TD_OLD: &str = "arn:aws:ecs:eu-west-2:123456789012:task-definition/ig:1";

/// The rollback deployment ECS's circuit breaker starts: PRIMARY, on the last completed task
/// definition, its reason naming the deployment it rolls back to.
fn rollback_deployment(state: &str) -> Value {
    let mut d = primary(state, "2026-12-01T10:02:00Z");
    d["id"] = json!("ecs-svc/2222");
    d["taskDefinition"] = json!(TD_OLD);
    d["rolloutStateReason"] =
        json!("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1111.");
    d
}

/// The deployment rolled back from: still listed, ACTIVE and IN_PROGRESS, with its failures.
fn ours_rolled_back_from() -> Value {
    let mut d = primary("IN_PROGRESS", "2026-12-01T10:02:00Z");
    d["id"] = json!("ecs-svc/3333");
    d["status"] = json!("ACTIVE");
    d["failedTasks"] = json!(3);
    d["rolloutStateReason"] = json!("ECS deployment ecs-svc/3333 in progress.");
    d
}

#[test]
fn a_rollback_in_progress_is_rolled_back_naming_both_deployments() {
    let s = ig(
        0,
        1,
        vec![rollback_deployment("IN_PROGRESS"), ours_rolled_back_from()],
        vec![],
    );
    let c = classify(
        &s,
        &[],
        &StabilityPolicy {
            stop_threshold: 9,
            ..policy(false)
        },
    );
    assert_eq!(c.outcome, ServiceOutcome::RolledBack, "{}", c.reason);
    for said in [
        "rolling back to deploymentId ecs-svc/1111",
        "ecs-svc/2222",
        "ig:1",
        "ecs-svc/3333",
        "3 failed task(s)",
    ] {
        assert!(c.reason.contains(said), "{said}: {}", c.reason);
    }
    // Near miss: a caller that names no expected task definition still hears ECS say it.
    let anyone = StabilityPolicy {
        expected_task_definition: None,
        stop_threshold: 9,
        ..policy(false)
    };
    assert_eq!(
        classify(&s, &[], &anyone).outcome,
        ServiceOutcome::RolledBack
    );
}

#[test]
fn a_completed_rollback_is_the_previous_task_definition_on_primary() {
    // Once the rollback completes, the deployment rolled back from is gone.
    let s = ig(1, 0, vec![rollback_deployment("COMPLETED")], vec![]);
    let mut old = running_task("b", "UNKNOWN");
    old.task_definition = TD_OLD.into();
    let c = classify(&s, &[old], &policy(false));
    assert_eq!(c.outcome, ServiceOutcome::RolledBack, "{}", c.reason);
    assert!(c.reason.contains("not the expected"), "{}", c.reason);
}

#[test]
fn event_words_alone_never_make_a_rollback() {
    // Adversarial twin: an event saying "rolling back" while ECS's own deployment fields show our
    // task definition PRIMARY, COMPLETED and running is not a rollback: the fields decide.
    let s = ig(
        1,
        0,
        vec![primary("COMPLETED", "2026-12-01T10:03:00Z")],
        vec![json!({"createdAt": "2026-12-01T10:01:00Z",
                    "message": "(service ig) rolling back to deployment ecs-svc/1111."})],
    );
    let c = classify(&s, &[running_task("a", "UNKNOWN")], &policy(false));
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
}

#[test]
fn placement_events_in_their_real_forms_are_placement_problems() {
    for message in [
        "(service ig) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
        "(service ig) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your capacity provider. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
        "(service ig) was unable to place a task. Reason: CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/ig:v9: not found.",
    ] {
        let s = ig(
            0,
            0,
            vec![primary("IN_PROGRESS", "2026-12-01T10:00:01Z")],
            vec![json!({"createdAt": "2026-12-01T10:00:30Z", "message": message})],
        );
        let c = classify(&s, &[], &policy(false));
        assert_eq!(c.outcome, ServiceOutcome::Settling, "{}", c.reason);
        assert_eq!(c.placement_problem.as_deref(), Some(message));
    }
    // Near miss: the same event before the update is history.
    let s = ig(
        0,
        0,
        vec![primary("IN_PROGRESS", "2026-12-01T10:00:01Z")],
        vec![json!({"createdAt": "2026-11-30T09:00:00Z",
                    "message": "(service ig) was unable to place a task. Reason: CannotPullContainerError: x"})],
    );
    assert_eq!(classify(&s, &[], &policy(false)).placement_problem, None);
}

#[test]
fn failed_tasks_with_nothing_running_is_a_problem_the_waiter_times() {
    let mut d = primary("IN_PROGRESS", "2026-12-01T10:00:01Z");
    d["failedTasks"] = json!(2);
    let c = classify(&ig(0, 1, vec![d.clone()], vec![]), &[], &policy(false));
    assert_eq!(c.outcome, ServiceOutcome::Settling);
    let problem = c.placement_problem.unwrap_or_default();
    assert!(
        problem.contains("2 failed task(s)") && problem.contains("IN_PROGRESS"),
        "{problem}"
    );
    // Near miss: a replacement RUNNING on the expected revision is no such problem.
    let c = classify(
        &ig(1, 0, vec![d], vec![]),
        &[running_task("c", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.placement_problem, None, "{}", c.reason);
}

#[test]
fn an_older_answer_without_rollout_fields_still_judges() {
    let mut d = primary("COMPLETED", "2026-11-30T09:05:00Z");
    let m = d.as_object_mut().unwrap();
    m.remove("rolloutState");
    m.remove("rolloutStateReason");
    m.remove("failedTasks");
    let c = classify(
        &ig(1, 0, vec![d], vec![]),
        &[running_task("a", "UNKNOWN")],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
}

#[test]
fn a_stopped_task_that_still_says_healthy_is_not_health() {
    // Real answers keep healthStatus HEALTHY on a STOPPED task.
    let mut t = stopped_task(
        "d",
        "EssentialContainerExited",
        "Essential container in task exited",
        json!(1),
        json!(null),
    );
    t.health_status = Some(HealthStatus::Healthy);
    let c = classify(
        &ig(
            0,
            0,
            vec![primary("IN_PROGRESS", "2026-12-01T10:00:01Z")],
            vec![],
        ),
        &[t],
        &policy(true),
    );
    assert_ne!(c.outcome, ServiceOutcome::Stable, "{}", c.reason);
    assert_ne!(c.health, Health::Healthy, "{}", c.reason);
}

#[test]
fn a_task_that_failed_to_start_counts_without_containers_or_a_start() {
    // TaskFailedToStart after a long PROVISIONING: `containers: []`, no startedAt.
    let t = task(
        json!({"taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/c/e",
        "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED", "stopCode": "TaskFailedToStart",
        "stoppedReason": "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed",
        "createdAt": "2026-12-01T10:00:01Z", "stoppingAt": "2026-12-01T10:03:20Z",
        "stoppedAt": "2026-12-01T10:03:50Z", "containers": []}),
    );
    let c = classify(
        &ig(
            0,
            0,
            vec![primary("IN_PROGRESS", "2026-12-01T10:00:01Z")],
            vec![],
        ),
        &[t],
        &policy(false),
    );
    assert_eq!(c.outcome, ServiceOutcome::CrashLoop, "{}", c.reason);
    assert!(
        c.reason.contains("ResourceInitializationError")
            && c.reason.contains("no container was created"),
        "{}",
        c.reason
    );
}

/// A wait looks closely once a task's images are pulled and it is not yet running (shaped like a
/// DescribeTasks answer between the pull and RUNNING); the near misses look at the ceiling.
#[test]
fn a_task_is_starting_soon_once_its_images_are_pulled_and_only_until_it_runs() {
    let starting = |status: &str, desired: &str, pulled: Option<&str>| {
        let mut v = json!({"taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/c/t1",
            "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": status,
            "desiredStatus": desired, "createdAt": "2026-12-01T10:00:01Z",
            "pullStartedAt": "2026-12-01T10:00:11Z",
            "containers": [{"name": "ig", "lastStatus": "PENDING"}]});
        if let Some(at) = pulled {
            v["pullStoppedAt"] = json!(at);
        }
        task(v).starting_soon()
    };
    let pulled = Some("2026-12-01T10:00:21Z");
    assert!(starting("PENDING", "RUNNING", pulled));
    assert!(starting("ACTIVATING", "RUNNING", pulled));
    // Still pulling: the start is not near yet.
    assert!(!starting("PENDING", "RUNNING", None));
    // Running already, or asked to stop: nothing to look closely for.
    assert!(!starting("RUNNING", "RUNNING", pulled));
    assert!(!starting("PENDING", "STOPPED", pulled));
    assert_eq!(starting_soon_interval(5_000), 1_000);
    assert_eq!(starting_soon_interval(100), 50);
}

/// A poll may end the wait only when every service waited for runs what it wants with nothing
/// pending (DescribeServices counts, as in the API reference's Service data type). The twins: a
/// task still PENDING (pendingCount 1), none running yet, a service ECS did not describe; the
/// near miss: a service not waited for (an earlier wave, watched) still pending does not matter.
#[test]
fn a_poll_may_end_the_wait_only_when_every_waited_service_runs_what_it_wants() {
    let svc = |name: &str, running: i64, pending: i64| {
        service(
            json!({"serviceName": name, "status": "ACTIVE", "desiredCount": 1,
                       "runningCount": running, "pendingCount": pending}),
        )
    };
    let views = [svc("a", 1, 0), svc("b", 1, 0), svc("watched", 0, 1)];
    assert!(may_end_at_this_poll(&views, &["a", "b"]));
    assert!(!may_end_at_this_poll(
        &[svc("a", 1, 0), svc("b", 1, 1)],
        &["a", "b"]
    ));
    assert!(!may_end_at_this_poll(
        &[svc("a", 1, 0), svc("b", 0, 1)],
        &["a", "b"]
    ));
    assert!(!may_end_at_this_poll(&[svc("a", 0, 0)], &["a"]));
    assert!(!may_end_at_this_poll(&[svc("a", 1, 0)], &["a", "b"]));
}

/// A stopped task answered without any stop time nor stop code (moto's StopTask of a service's
/// task did so) is still a stop when it was created after the update: its creation bounds when
/// it stopped. The near miss: the same task created before the update is not this update's stop;
/// and a task still RUNNING is no stop at all.
#[test]
fn a_stop_answered_without_its_times_counts_from_when_the_task_was_created() {
    let bare = |created: &str| {
        task(
            json!({"taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/c/bare",
            "group": "service:ig", "taskDefinitionArn": TD, "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED", "stoppedReason": "stopped by an operator",
            "createdAt": created, "containers": []}),
        )
    };
    let since = at(SINCE).unwrap();
    let after = stops_since("ig", &[bare("2026-12-01T10:00:01Z")], since);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].at, at("2026-12-01T10:00:01Z"));
    assert!(stops_since("ig", &[bare("2026-12-01T09:59:59Z")], since).is_empty());
    assert!(stops_since("ig", &[running_task("r", "UNKNOWN")], since).is_empty());
}
