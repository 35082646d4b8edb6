//! What real ECS does that a naive stability check misses, each through the binary on its own
//! tenant (issue 11): declared health checks (proven, failing from the start, failing later in
//! the soak), exits with code 0 and 137 (OutOfMemoryError), tasks that fail to start, a daemon of
//! an earlier wave that dies while a later wave settles, tasks that can never be placed, a
//! CODE_DEPLOY service, a failed deployment without rollback, and more than 100 tasks in a
//! cluster (ListTasks pages, DescribeTasks batches). Each asserts verdict, code, phase and that
//! the reason names the cause.

use crate::harness::{
    assert_hold, block_on, clients, first_blocker, Env, OwnService, Tenant, PLATFORM_RUN_ID,
};
use serde_json::json;
use std::time::{Duration, Instant};

fn first_reason(out: &crate::harness::Outcome) -> String {
    out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The M4.F snapshot's row for a service.
fn f_row(t: &Tenant, out: &crate::harness::Outcome, short: &str) -> serde_json::Value {
    let f = t.artifact(out, "m4_f_daemon_start_snapshot");
    let name = format!("{}-{short}", t.prefix());
    f["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == name.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no row for {name} in {f}"))
}

#[test]
fn declared_health_check_is_proven_before_advance_and_undeclared_ones_are_named() {
    let t = Tenant::new();
    t.declare_health_check("ig", 5, 1);
    let out = t.run(&[]);
    out.status(0).nowhere("SCRIPT-FAULT");
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5");
    let ig = f_row(&t, &out, "ig");
    assert_eq!(ig["health"], "healthy", "{ig}");
    assert_eq!(ig["health_proven"], true);
    assert_eq!(
        ig["soak_ms"], 5000,
        "the check's startPeriod + interval x retries"
    );
    assert!(
        ig["soak_bound"]
            .as_str()
            .unwrap()
            .contains("declared health check"),
        "{ig}"
    );
    let f = t.artifact(&out, "m4_f_daemon_start_snapshot");
    let unproven = f["health_not_proven"].as_array().unwrap();
    assert_eq!(
        unproven.len(),
        12,
        "every other daemon declares no check: {f}"
    );
    assert!(!unproven.contains(&json!(format!("{}-ig", t.prefix()))));
}

#[test]
fn hold_container_unhealthy_from_the_start() {
    let t = Tenant::new();
    t.declare_health_check("ig", 5, 1);
    t.fault("ig", "unhealthy", None);
    let started = Instant::now();
    let out = t.run_with(&["timeout_ms=60000"], &[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("unhealthy") && reason.contains("health check"),
        "{reason}"
    );
    // Why, from the task's own stream (issue #26): the live UNHEALTHY task's, or the stopped
    // one's when ECS replaced it first.
    assert!(reason.contains("its last log line: \""), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(t.desired_counts()[1..], [0, 0, 0], "no later pack started");
    // Replayed offline (issue #25): the same blockers and snapshots, the UNHEALTHY reads and the
    // daemon's log tail from the tape.
    crate::tape::assert_replays_identically(&out, &crate::tape::dead_env(&t), 3);
}

#[test]
fn hold_container_turning_unhealthy_inside_the_soak() {
    let t = Tenant::new();
    t.declare_health_check("ig", 5, 1);
    // The first check (5 s after start) passes, the second (10 s) fails: HEALTHY is not enough,
    // the daemon must stay HEALTHY for the whole soak.
    t.fault_with(
        "ig",
        "unhealthy_after",
        None,
        json!({}),
        json!({"healthy_for": 7}),
    );
    let out = t.run_with(&["soak_ms=20000", "timeout_ms=60000"], &[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("fraud-platform") && reason.contains("health"),
        "{reason}"
    );
}

#[test]
fn hold_daemon_that_exits_zero() {
    let t = Tenant::new();
    t.fault_with("ig", "crash_loop", None, json!({}), json!({"exit_code": 0}));
    let out = t.run(&[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("EssentialContainerExited") && reason.contains("exit code 0"),
        "{reason}"
    );
}

#[test]
fn hold_daemon_killed_out_of_memory() {
    let t = Tenant::new();
    t.fault_with(
        "rtdl-ofp",
        "crash_loop",
        None,
        json!({"crash_after": 0.5}),
        json!({"exit_code": 137, "container_reason": "OutOfMemoryError: Container killed due to memory usage"}),
    );
    let out = t.run_with(&["soak_ms=1500"], &[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("-rtdl-ofp")
            && reason.contains("exit code 137")
            && reason.contains("OutOfMemoryError")
            // the daemon's last words, from its awslogs stream (issue #26)
            && reason.contains("its last log line: \"fatal error: runtime: out of memory\""),
        "{reason}"
    );
}

#[test]
fn hold_task_that_fails_to_start_on_its_secrets() {
    let t = Tenant::new();
    let why = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource \
               retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s)";
    t.fault_with(
        "ig",
        "fail_to_start",
        None,
        json!({}),
        json!({"stopped_reason": why}),
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("TaskFailedToStart")
            && reason.contains("ResourceInitializationError")
            && reason.contains("no container was created"),
        "{reason}"
    );
    let row = f_row(&t, &out, "ig");
    assert_eq!(row["stops"][0]["stop_code"], "TaskFailedToStart", "{row}");
}

#[test]
fn hold_earlier_wave_daemon_that_dies_while_a_later_wave_settles() {
    // Under both wave gates (issue #23): the "up" gate starts later waves sooner, the "stable"
    // gate soaks each first; either way the earlier wave's service is named first.
    for gate in ["up", "stable"] {
        let t = Tenant::new();
        // The ingress daemon passes wave 1, then dies 3 s after it started, while wave 4 (whose
        // daemon is stuck pending) is still settling: it must not be forgotten once it passed.
        t.fault_with(
            "ig",
            "crash_loop",
            None,
            json!({"crash_after": 3.0}),
            json!({}),
        );
        t.fault("env-conformance", "stuck_pending", None);
        let out = t.run_with(&["timeout_ms=12000", &format!("wave_gate={gate}")], &[]);
        assert_hold(&out, "M4F-B3", "M4.F");
        let reason = first_reason(&out);
        assert!(
            reason.contains(&format!("{}-ig", t.prefix()))
                && reason.contains("after it was stable"),
            "{gate}: {reason}"
        );
        let f = t.artifact(&out, "m4_f_daemon_start_snapshot");
        let late = f["late_failures"].as_array().unwrap();
        assert_eq!(late.len(), 1, "{gate}: {f}");
        assert!(
            late[0]["wave_settling"].as_i64().unwrap() > 1,
            "{gate}: {f}"
        );
        assert!(late[0]["failed_at"].is_string(), "{gate}: {f}");
    }
}

/// Issue #26: a deployment whose tasks keep failing to start says so from its own failedTasks
/// once the grace has passed, not at the timeout, also when the stop threshold is set high enough
/// that the stops alone would not end the wait.
#[test]
fn failed_tasks_end_the_wait_after_the_grace_not_the_timeout() {
    let t = Tenant::new();
    t.fault_with(
        "ig",
        "fail_to_start",
        None,
        json!({}),
        json!({"stopped_reason": "CannotPullContainerError: pull image manifest has been retried 1 time(s)"}),
    );
    let started = Instant::now();
    let out = t.run_with(
        &[
            "placement_grace_ms=1500",
            "timeout_ms=120000",
            "crash_threshold=99",
        ],
        &[],
    );
    assert_hold(&out, "M4F-B2", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("failed task(s) (failedTasks") && reason.contains("no task is RUNNING"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hold_task_that_cannot_be_placed_after_the_grace_not_the_timeout() {
    let t = Tenant::new();
    t.fault("ig", "unplaceable", None);
    let started = Instant::now();
    let out = t.run_with(&["placement_grace_ms=1500", "timeout_ms=120000"], &[]);
    assert_hold(&out, "M4F-B2", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("placement_failed") && reason.contains("was unable to place a task"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let row = f_row(&t, &out, "ig");
    assert!(
        row["events_since_update"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"]
                .as_str()
                .unwrap()
                .contains("Capacity is unavailable")),
        "{row}"
    );
    // Replayed offline (issue #25): the placement grace judged on the recorded clock.
    crate::tape::assert_replays_identically(&out, &crate::tape::dead_env(&t), 3);
}

#[test]
fn hold_code_deploy_service_at_once() {
    let t = Tenant::new();
    let service = format!("{}-ig", t.prefix());
    let c = clients();
    block_on(async {
        let old = c
            .ecs
            .describe_services()
            .cluster(t.prefix())
            .services(&service)
            .send()
            .await
            .unwrap();
        let old = old.services()[0].clone();
        c.ecs
            .delete_service()
            .cluster(t.prefix())
            .service(&service)
            .force(true)
            .send()
            .await
            .unwrap();
        c.ecs
            .create_service()
            .cluster(t.prefix())
            .service_name(&service)
            .task_definition(old.task_definition().unwrap())
            .desired_count(0)
            .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
            .set_network_configuration(old.network_configuration().cloned())
            .deployment_controller(
                aws_sdk_ecs::types::DeploymentController::builder()
                    .r#type(aws_sdk_ecs::types::DeploymentControllerType::CodeDeploy)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
    let started = Instant::now();
    let out = t.run_with(&["timeout_ms=120000"], &[]);
    assert_hold(&out, "M4F-B2", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("unsupported") && reason.contains("CODE_DEPLOY"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hold_failed_deployment_without_rollback_is_failed_not_rolled_back() {
    let t = Tenant::new();
    t.fault("case-ls", "failed_deployment", None);
    let out = t.run_with(&["crash_threshold=9", "timeout_ms=30000"], &[]);
    assert_hold(&out, "M4F-B2", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("(failed)") && reason.contains("not rolled back"),
        "{reason}"
    );
    assert!(!reason.contains("rolled_back"), "{reason}");
}

#[test]
fn more_than_a_hundred_tasks_are_paged_and_batched() {
    let env = Env::new();
    let own = OwnService::with_run_id(None, PLATFORM_RUN_ID);
    let td = block_on(own.register("batch"));
    block_on(async {
        for _ in 0..11 {
            clients()
                .ecs
                .run_task()
                .cluster(&own.cluster)
                .task_definition(&td)
                .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
                .count(10)
                .send()
                .await
                .unwrap();
        }
    });
    let script = format!(
        r#"let t = ecs_tasks("{c}", "RUNNING");
print(`outcome=${{t.outcome}} tasks=${{t.tasks.len()}} failures=${{t.failures.len()}}`);
let alone = ecs_standalone_tasks("{c}");
print(`alone=${{alone.tasks.len()}}`);"#,
        c = own.cluster
    );
    let out = env.run(&script).args(["--output", "json"]).run();
    out.status(0)
        .stderr_has("outcome=pass tasks=110 failures=0")
        .stderr_has("alone=110");
    // Two ListTasks pages and two DescribeTasks batches per listing.
    assert_eq!(out.json()["api_calls"]["ecs"], 8, "{}", out.stdout);
    let (code, _) = first_blocker(&out);
    assert_eq!(code, "");
}

/// M4.G's stabilization interval runs from when M4.F judged each daemon stable, and a daemon
/// stopped after that judgement holds M4.G however much of the interval has passed (every stop
/// since the update counts). The run is held in M4.F's log scan (after its judgement) by the
/// fault proxy while the test stops ig's task with StopTask (API reference: the task goes to
/// STOPPED with the reason given, and the service scheduler replaces it); let go, M4.F passes
/// (its judgement stands) and M4.G holds M4G-B2 naming ig. The near miss: every run that
/// advances, where M4.G's rows say the interval ran from M4.F's stable_at.
#[test]
fn a_daemon_stopped_after_m4f_judged_it_holds_m4g_whatever_the_interval() {
    use crate::harness::{spawn_run_with, through, FaultProxy, Outcome};
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(json!([{"service": "logs", "operation": "FilterLogEvents", "kind": "pause"}]));
    let child = spawn_run_with(&t, &["soak_ms=300", "stabilization_interval_ms=200"]);
    proxy.wait_paused(Duration::from_secs(120));
    let ig = t.service("ig");
    let c = clients();
    block_on(async {
        let running = c
            .ecs
            .list_tasks()
            .cluster(t.prefix())
            .service_name(&ig)
            .send()
            .await
            .unwrap();
        assert!(!running.task_arns().is_empty(), "ig runs no task to stop");
        for arn in running.task_arns() {
            c.ecs
                .stop_task()
                .cluster(t.prefix())
                .task(arn)
                .reason("stopped by an operator during the stabilization interval")
                .send()
                .await
                .unwrap();
        }
    });
    proxy.release();
    let out = Outcome::of(child.wait_with_output().unwrap());
    assert_hold(&out, "M4G-B2", "M4.G");
    let reason = first_reason(&out);
    assert!(
        reason.contains(&ig) && reason.contains("stopped by an operator"),
        "{reason}"
    );
    let phases = out.json()["phases"].clone();
    assert_eq!(phases[5]["phase"], "M4.F");
    assert_eq!(phases[5]["status"], "PASS", "{phases}");
}

/// The near miss of the above: a run that advances, where each M4.G posture row says its
/// interval ran from the time M4.F judged the daemon stable (its M4.F row's stable_at).
#[test]
fn m4g_counts_its_interval_from_m4f_judging_each_daemon_stable() {
    let t = Tenant::new();
    let out = t.run_with(&["soak_ms=300", "stabilization_interval_ms=400"], &[]);
    out.status(0);
    let g = t.artifact(&out, "m4_g_consumer_uniqueness_snapshot");
    let rows = g["singleton_posture"].as_array().unwrap();
    assert_eq!(rows.len(), 13);
    for short in ["ig", "rtdl-ofp", "case-ls", "env-conformance"] {
        let name = format!("{}-{short}", t.prefix());
        let row = rows.iter().find(|r| r["service"] == name.as_str()).unwrap();
        assert_eq!(
            row["interval_from"],
            f_row(&t, &out, short)["stable_at"],
            "{row}"
        );
    }
}
