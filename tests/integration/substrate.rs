//! The local substrate itself: the seeded dev_min environment as the AWS SDK sees it, the moto
//! extension's ECS scheduler (running, crash loop, stuck pending, rollback), SimulatePrincipalPolicy,
//! stand-in consumers on the broker, and PostgreSQL's SCRAM login. Scheduler tests use their own
//! clusters so they never disturb dev_min.

use crate::harness::{
    block_on, clients, kafka_probe, state, OwnService, DEV_MIN_CLUSTER, DEV_MIN_DIR,
};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn seeded_dev_min_is_visible_to_the_sdk() {
    let c = clients();
    let env: toml::Table = toml::from_str(
        &std::fs::read_to_string(format!("{DEV_MIN_DIR}/environment.toml")).unwrap(),
    )
    .unwrap();
    let services: Vec<String> = env["service"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(services.len(), 13);
    block_on(async {
        let clusters = c
            .ecs
            .describe_clusters()
            .clusters(DEV_MIN_CLUSTER)
            .send()
            .await
            .unwrap();
        assert_eq!(clusters.clusters()[0].status(), Some("ACTIVE"));
        let mut seen = BTreeSet::new();
        for batch in services.chunks(10) {
            let out = c
                .ecs
                .describe_services()
                .cluster(DEV_MIN_CLUSTER)
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .unwrap();
            for s in out.services() {
                assert_eq!(s.status(), Some("ACTIVE"));
                seen.insert(s.service_name().unwrap().to_owned());
                let td = c
                    .ecs
                    .describe_task_definition()
                    .task_definition(s.task_definition().unwrap())
                    .send()
                    .await
                    .unwrap();
                let td = td.task_definition().unwrap();
                let container = &td.container_definitions()[0];
                assert!(container
                    .environment()
                    .iter()
                    .any(|kv| kv.name() == Some("REQUIRED_PLATFORM_RUN_ID")
                        && kv.value() == Some("platform_20260213T221631Z")));
                assert!(container
                    .secrets()
                    .iter()
                    .all(|s| s.value_from().starts_with("arn:aws:ssm:")));
                assert!(td.execution_role_arn().is_some() && td.task_role_arn().is_some());
                let group = container.log_configuration().unwrap().options().unwrap()
                    ["awslogs-group"]
                    .clone();
                let groups = c
                    .logs
                    .describe_log_groups()
                    .log_group_name_prefix(&group)
                    .send()
                    .await
                    .unwrap();
                let exact = groups
                    .log_groups()
                    .iter()
                    .filter(|g| g.log_group_name() == Some(group.as_str()))
                    .count();
                assert_eq!(exact, 1, "log group {group}");
            }
        }
        assert_eq!(seen.len(), 13);
        let role = c
            .iam
            .get_role()
            .role_name("fraud-platform-dev-min-daemon-task")
            .send()
            .await
            .unwrap();
        let trust = role.role().unwrap().assume_role_policy_document().unwrap();
        assert!(trust.contains("ecs-tasks.amazonaws.com"), "{trust}");
        let families = c
            .ecs
            .list_task_definition_families()
            .family_prefix("fraud-platform-dev-min-reporter")
            .send()
            .await
            .unwrap();
        assert_eq!(
            families.families().len(),
            1,
            "the one-shot reporter is registered"
        );
        let buckets = crate::harness::aws()
            .s3
            .list_buckets()
            .send()
            .await
            .unwrap();
        let names: BTreeSet<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
        for b in ["oracle", "archive", "quarantine", "evidence"] {
            assert!(names.contains(format!("fraud-platform-dev-min-{b}").as_str()));
        }
        let params = crate::harness::aws()
            .ssm
            .get_parameters_by_path()
            .path("/fraud-platform/dev_min")
            .recursive(true)
            .send()
            .await
            .unwrap();
        assert_eq!(params.parameters().len(), 5);
    });
    let outputs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DEV_MIN_DIR}/generated/terraform_outputs.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(outputs["svc_ig"]["value"], "fraud-platform-dev-min-ig");
    assert!(outputs["vpc_id"]["value"]
        .as_str()
        .unwrap()
        .starts_with("vpc-"));
}

#[test]
fn service_scaled_to_one_runs_with_deployment_and_events() {
    let own = OwnService::new(None);
    own.scale(1);
    let s = own.wait_until("running 1", |s| {
        s.running_count() == 1 && s.pending_count() == 0
    });
    assert_eq!(s.deployments().len(), 1);
    assert_eq!(s.deployments()[0].status(), Some("PRIMARY"));
    assert_eq!(
        s.deployments()[0].rollout_state().map(|r| r.as_str()),
        Some("COMPLETED")
    );
    let events: Vec<&str> = s.events().iter().filter_map(|e| e.message()).collect();
    assert!(
        events.iter().any(|m| m.contains("has started 1 tasks")),
        "{events:?}"
    );
    assert!(
        events[0].contains("has reached a steady state"),
        "{events:?}"
    );
    let running = own.tasks(aws_sdk_ecs::types::DesiredStatus::Running);
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].last_status(), Some("RUNNING"));
    assert_eq!(
        running[0].group(),
        Some(format!("service:{}", own.service).as_str())
    );
    assert!(running[0].started_at().is_some());
    own.scale(0);
    own.wait_until("scaled in", |s| s.running_count() == 0);
    let stopped = own.tasks(aws_sdk_ecs::types::DesiredStatus::Stopped);
    assert_eq!(
        stopped[0].stop_code().map(|c| c.as_str()),
        Some("ServiceSchedulerInitiated")
    );
}

#[test]
fn crash_loop_leaves_stopped_tasks_with_exit_code_one() {
    let own = OwnService::new(Some("crash_loop"));
    own.scale(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let stopped = loop {
        let stopped = own.tasks(aws_sdk_ecs::types::DesiredStatus::Stopped);
        // A stopping task is listed under desired status STOPPED before it reaches lastStatus
        // STOPPED (task lifecycle): it has stoppingAt, and stoppedAt only once STOPPED.
        for t in &stopped {
            assert!(t.stopping_at().is_some() && t.execution_stopped_at().is_some());
            assert_eq!(t.stopped_at().is_some(), t.last_status() == Some("STOPPED"));
        }
        let done: Vec<_> = stopped
            .into_iter()
            .filter(|t| t.last_status() == Some("STOPPED"))
            .collect();
        if done.len() >= 2 {
            break done;
        }
        assert!(Instant::now() < deadline, "no crash loop: {done:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for t in &stopped {
        assert_eq!(
            t.stop_code().map(|c| c.as_str()),
            Some("EssentialContainerExited")
        );
        assert_eq!(
            t.stopped_reason(),
            Some("Essential container in task exited")
        );
        assert_eq!(t.containers()[0].exit_code(), Some(1));
        assert!(t.stopped_at().is_some());
    }
    let s = own.describe();
    // Tasks that reached RUNNING and then exited are not "failed tasks": the count is of tasks
    // that never ran or failed their health checks, and once one ran it resets to zero and stops
    // being evaluated (failedTasks, Deployment, ECS API reference).
    assert_eq!(s.deployments()[0].failed_tasks(), 0, "{s:#?}");
    // ListTasks without desiredStatus lists RUNNING tasks only: "The default status filter is
    // RUNNING" (ListTasks, ECS API reference).
    let listed = block_on(
        clients()
            .ecs
            .list_tasks()
            .cluster(&own.cluster)
            .service_name(&own.service)
            .send(),
    )
    .unwrap();
    for t in &stopped {
        assert!(
            !listed
                .task_arns()
                .contains(&t.task_arn().unwrap().to_owned()),
            "a stopped task is listed without desiredStatus: {listed:?}"
        );
    }
}

/// A fault that names no service is refused, not answered `ok` while doing nothing (issue #31);
/// clearing one with `"mode": null` is answered.
#[test]
fn a_fault_on_a_service_that_does_not_exist_is_refused() {
    let own = OwnService::new(None);
    let (status, answer) = crate::harness::control_answer(
        "fault",
        &serde_json::json!({"cluster": own.cluster, "service": "no-such-service", "mode": "crash_loop"}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("oneshot"),
        "{answer}"
    );
    let (status, _) = crate::harness::control_answer(
        "fault",
        &serde_json::json!({"cluster": own.cluster, "service": own.service, "mode": null}),
    );
    assert_eq!(status, 200);
}

#[test]
fn stuck_pending_never_runs() {
    let own = OwnService::new(Some("stuck_pending"));
    own.scale(1);
    std::thread::sleep(Duration::from_millis(600)); // three start delays: a healthy task would run
    let s = own.describe();
    assert_eq!((s.running_count(), s.pending_count()), (0, 1));
}

/// The circuit breaker's rollback in the shape real DescribeServices answers have (issue #26):
/// while it runs, a new PRIMARY on the last completed revision whose rolloutStateReason names the
/// deployment it rolls back to, the deployment rolled back from still ACTIVE and IN_PROGRESS
/// with its failedTasks; once done, only the rollback deployment, COMPLETED.
#[test]
fn failed_deployment_rolls_back_to_previous_task_definition() {
    let own = OwnService::new(None);
    own.scale(1);
    let first = own.wait_until("running v1", |s| s.running_count() == 1);
    let v1 = first.task_definition().unwrap().to_owned();
    let v1_deployment = first.deployments()[0].id().unwrap().to_owned();
    let v2 = block_on(own.register("v2"));
    // Slow starts, so the rollback's own deployment is seen while it brings v1 back (3 s).
    own.fault_timed(
        Some("rollback"),
        serde_json::json!({"start_delay": 3.0, "restart_delay": 0.1,
                           "rollback_after": 1}),
    );
    own.deploy(&v2);
    let rolling = own.wait_until_within("rolling back", Duration::from_secs(30), |s| {
        s.deployments().len() == 2
            && s.deployments()[0]
                .rollout_state_reason()
                .unwrap_or_default()
                .contains("rolling back to deploymentId")
    });
    let (back, from) = (&rolling.deployments()[0], &rolling.deployments()[1]);
    assert_eq!(
        back.rollout_state_reason(),
        Some(
            format!(
                "ECS deployment circuit breaker: rolling back to deploymentId {v1_deployment}."
            )
            .as_str()
        )
    );
    assert_eq!(
        (back.status(), back.task_definition()),
        (Some("PRIMARY"), Some(v1.as_str()))
    );
    assert_eq!(
        (from.status(), from.task_definition()),
        (Some("ACTIVE"), Some(v2.as_str()))
    );
    assert_eq!(
        from.rollout_state().map(|r| r.as_str()),
        Some("IN_PROGRESS")
    );
    assert!(from.failed_tasks() >= 1, "{from:?}");
    let from_id = from.id().unwrap().to_owned();
    let done = own.wait_until_within("rolled back", Duration::from_secs(30), |s| {
        s.running_count() == 1 && s.deployments().len() == 1
    });
    let primary = &done.deployments()[0];
    assert_eq!(
        primary.task_definition(),
        Some(v1.as_str()),
        "PRIMARY is the old revision"
    );
    assert_eq!(
        primary.rollout_state().map(|r| r.as_str()),
        Some("COMPLETED")
    );
    let events: Vec<&str> = done.events().iter().filter_map(|e| e.message()).collect();
    let name = &own.service;
    for said in [
        format!(
            "(service {name}) (deployment {from_id}) deployment failed: tasks failed to start."
        ),
        format!(
            "(service {name}) (deployment {}) deployment completed.",
            primary.id().unwrap()
        ),
    ] {
        assert!(events.contains(&said.as_str()), "{said} in {events:#?}");
    }
    assert!(
        !events.iter().any(|e| e.contains("rolling back")),
        "no invented rollback wording: {events:#?}"
    );
    // The circuit breaker counts tasks that never reached RUNNING (its Stage 1): v2's did not.
    let failed: Vec<_> = own
        .tasks(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .into_iter()
        .filter(|t| {
            t.task_definition_arn() == Some(v2.as_str())
                && t.stop_code().map(|c| c.as_str()) == Some("TaskFailedToStart")
                && t.started_at().is_none()
        })
        .collect();
    assert!(
        !failed.is_empty(),
        "v2 tasks failed to start before the rollback"
    );
}

#[test]
fn simulate_principal_policy_allows_what_is_granted_and_denies_the_rest() {
    let c = clients();
    block_on(async {
        let arn = c
            .iam
            .get_role()
            .role_name("fraud-platform-dev-min-daemon-task")
            .send()
            .await
            .unwrap();
        let arn = arn.role().unwrap().arn().to_owned();
        let out = c
            .iam
            .simulate_principal_policy()
            .policy_source_arn(&arn)
            .action_names("ssm:GetParameter")
            .action_names("s3:DeleteObject")
            .resource_arns(
                "arn:aws:ssm:eu-west-2:123456789012:parameter/fraud-platform/dev_min/db/password",
            )
            .send()
            .await
            .unwrap();
        let decisions: Vec<(String, String)> = out
            .evaluation_results()
            .iter()
            .map(|r| {
                (
                    r.eval_action_name().to_owned(),
                    r.eval_decision().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            decisions,
            vec![
                ("ssm:GetParameter".to_owned(), "allowed".to_owned()),
                ("s3:DeleteObject".to_owned(), "implicitDeny".to_owned())
            ]
        );
        assert_eq!(
            out.evaluation_results()[0].matched_statements()[0].source_policy_id(),
            Some("fraud-platform-dev-min-daemon-task-policy")
        );
        let missing = c
            .iam
            .simulate_principal_policy()
            .policy_source_arn("arn:aws:iam::123456789012:role/no-such-role")
            .action_names("ssm:GetParameter")
            .send()
            .await;
        assert!(missing.is_err());
    });
}

#[test]
fn stand_in_joins_the_services_group_while_its_task_runs() {
    let own = OwnService::new(None);
    let group = own.with_lane("group");
    own.scale(1);
    own.wait_until("running", |s| s.running_count() == 1);
    let lane = format!("{}/{}", own.cluster, own.service);
    let live = |st: &serde_json::Value| {
        st["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["lane"] == lane.as_str())
            .count()
    };
    assert_eq!(live(&state()), 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let broker = kafka_probe();
        if broker["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == group.as_str())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} never appeared: {broker}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    own.scale(0);
    own.wait_until("stopped", |s| s.running_count() == 0);
    assert_eq!(live(&state()), 0, "the stand-in leaves when its task stops");
}

#[test]
fn broker_has_the_nine_lane_topics() {
    let topics = kafka_probe()["topics"].clone();
    for t in [
        "fp.bus.control.v1",
        "fp.bus.traffic.fraud.v1",
        "fp.bus.context.arrival.events.v1",
        "fp.bus.context.arrival.entities.v1",
        "fp.bus.context.flow.anchor.fraud.v1",
        "fp.bus.rtdl.v1",
        "fp.bus.audit.v1",
        "fp.bus.case.triggers.v1",
        "fp.bus.labels.events.v1",
    ] {
        assert!(
            topics.as_array().unwrap().iter().any(|x| x == t),
            "{t} missing from {topics}"
        );
    }
}

#[test]
fn postgres_accepts_the_roles_scram_login_and_refuses_a_wrong_password() {
    let password = crate::harness::ssm_value("/fraud-platform/dev_min/db/password");
    let login = |pw: &str| {
        std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "fraud_app",
                "-d",
                "fraud_platform",
                "-tAc",
                "select 1",
            ])
            .env("PGPASSWORD", pw)
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .unwrap()
    };
    let ok = login(&password);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "1");
    let bad = login("wrong-password");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));
}
