//! Judge the thing, not a name that stands for it (issue #32), each adversarial case beside its
//! near miss: a one-shot job's leftover output (M5.F), a consumer hiding in a group named after a
//! daemon (M4.G), a once-off task or a second service claiming a daemon (M4.G), a daemon logging
//! to a group the scan would not read (M4.F) or to none (M4.E), a trust whose condition is false
//! for this account (M4.C).

use crate::harness::{
    assert_hold, aws, block_on, clients, control, next_execution_second, unique, Outcome, Tenant,
};

fn reason(out: &Outcome) -> String {
    out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn advance(out: &Outcome) {
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5", "{}", out.stderr);
}

/// The network the tenant's services run in (a RunTask or a new service needs it).
fn network(t: &Tenant) -> aws_sdk_ecs::types::NetworkConfiguration {
    let svc = block_on(
        clients()
            .ecs
            .describe_services()
            .cluster(t.prefix())
            .services(t.service("ig"))
            .send(),
    )
    .unwrap();
    svc.services()[0].network_configuration().unwrap().clone()
}

#[test]
fn a_trust_condition_false_for_this_account_holds_m4c_and_a_true_one_advances() {
    let t = Tenant::new();
    let role = format!("{}-daemon-task", t.prefix());
    let trust = |condition: &str| {
        block_on(
            clients()
                .iam
                .update_assume_role_policy()
                .role_name(&role)
                .policy_document(format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"ecs-tasks.amazonaws.com"}},"Action":"sts:AssumeRole","Condition":{condition}}}]}}"#
                ))
                .send(),
        )
        .unwrap();
    };
    // Another account's: the role could not be assumed on a real account.
    trust(r#"{"StringEquals":{"aws:SourceAccount":"999999999999"}}"#);
    let out = t.run(&[]);
    assert_hold(&out, "M4C-B1", "M4.C");
    let why = reason(&out);
    assert!(
        why.contains(&role) && why.contains("aws:SourceAccount") && why.contains("999999999999"),
        "{why}"
    );
    // The near miss: the ECS guide's confused-deputy conditions, true for this account and cluster.
    trust(
        r#"{"StringEquals":{"aws:SourceAccount":"123456789012"},"ArnLike":{"aws:SourceArn":"arn:aws:ecs:eu-west-2:123456789012:*"}}"#,
    );
    next_execution_second();
    advance(&t.run(&[]));
}

#[test]
fn a_daemon_logging_where_the_scan_does_not_look_holds() {
    let t = Tenant::new();
    let log_prefix = format!("/fraud-platform/{}", t.name);
    let group = format!("{log_prefix}/{}-v2", t.service("ig"));
    let logs = &clients().logs;
    block_on(async {
        logs.create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .unwrap();
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name("ecs/ig/adversary")
            .send()
            .await
            .unwrap();
        // Stamped a minute ahead: after the run's start, whenever the run begins.
        let at = chrono::Utc::now().timestamp_millis() + 60_000;
        logs.put_log_events()
            .log_group_name(&group)
            .log_stream_name("ecs/ig/adversary")
            .log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(at)
                    .message("RUN_SCOPE_MISMATCH refusing run id platform_other")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
    // The ingress daemon's task definition logs to the -v2 group: the scan reads that one.
    let scope = format!("platform_{}", t.name);
    t.replace_task_definition_with("ig", &[("REQUIRED_PLATFORM_RUN_ID", &scope)], |b| {
        b.log_configuration(
            aws_sdk_ecs::types::LogConfiguration::builder()
                .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
                .options("awslogs-group", &group)
                .options("awslogs-region", "eu-west-2")
                .options("awslogs-stream-prefix", "ecs")
                .build()
                .unwrap(),
        )
    });
    let out = t.run(&[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let why = reason(&out);
    assert!(
        why.contains(&group) && why.contains("run-scope mismatch"),
        "{why}"
    );

    // A daemon task definition with no log configuration: its log status cannot be proven.
    t.replace_task_definition_with("rtdl-ofp", &[("REQUIRED_PLATFORM_RUN_ID", &scope)], |b| {
        b.set_log_configuration(None)
    });
    next_execution_second();
    let out = t.run(&[]);
    assert_hold(&out, "M4E-B2", "M4.E");
    let why = reason(&out);
    assert!(
        why.contains("rtdl-ofp") && why.contains("has no logConfiguration"),
        "{why}"
    );
}

#[test]
fn a_consumer_hiding_in_the_group_of_the_daemon_without_a_lane_holds_m4g() {
    let t = Tenant::new();
    let rogue = unique("rogue");
    let started = control(
        "rogue",
        &serde_json::json!({"name": rogue, "client_id": "manual-replay", "action": "start",
            "group": t.service("env-conformance"), "wait_s": 60,
            "topics": [format!("{}.fp.bus.traffic.fraud.v1", t.name)], "bootstrap": "127.0.0.1:9092"}),
    );
    assert_eq!(started["joined"], true, "the manual consumer joined");
    let out = t.run_with(&["stabilization_interval_ms=3000"], &[]);
    control(
        "rogue",
        &serde_json::json!({"name": rogue, "action": "stop"}),
    );
    assert_hold(&out, "M4G-B1", "M4.G");
    let why = reason(&out);
    assert!(
        why.contains("manual-replay")
            && why.contains(&format!(
                "is not a running task of service {}",
                t.service("env-conformance")
            )),
        "{why}"
    );
    // The near miss in the same run: the daemons' own members in their lane groups are
    // recognised, so the manual consumer is the only conflict.
    let g = t.artifact(&out, "m4_g_consumer_uniqueness_snapshot");
    let conflicts = g["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{g}");
    assert_eq!(conflicts[0]["group"], t.service("env-conformance").as_str());
    for row in g["lane_groups"].as_array().unwrap() {
        if row["group"] != t.service("env-conformance").as_str() {
            assert!(
                row["member_tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m.is_string()),
                "a daemon's own member is recognised: {row}"
            );
        }
    }
}

#[test]
fn a_once_off_task_or_a_second_service_claiming_a_daemon_holds_m4g() {
    let t = Tenant::new();
    let ig_td = t.current_task_definition("ig");
    let family = ig_td.family().unwrap().to_owned();
    control(
        "oneshot",
        &serde_json::json!({"family": family, "mode": "never_ends"}),
    );
    let claimed = format!("service:{}-adhoc-replay", t.prefix());
    let task = block_on(
        clients()
            .ecs
            .run_task()
            .cluster(t.prefix())
            .task_definition(ig_td.task_definition_arn().unwrap())
            .group(&claimed)
            .network_configuration(network(&t))
            .send(),
    )
    .unwrap()
    .tasks()[0]
        .task_arn()
        .unwrap()
        .to_owned();
    let out = t.run(&[]);
    block_on(
        clients()
            .ecs
            .stop_task()
            .cluster(t.prefix())
            .task(&task)
            .send(),
    )
    .unwrap();
    assert_hold(&out, "M4G-B1", "M4.G");
    let why = reason(&out);
    assert!(why.contains("once-off") && why.contains(&claimed), "{why}");

    // A second service outside the map running the ingress task definition.
    let copy = format!("{}-ig-copy", t.prefix());
    block_on(
        clients()
            .ecs
            .create_service()
            .cluster(t.prefix())
            .service_name(&copy)
            .task_definition(ig_td.task_definition_arn().unwrap())
            .desired_count(1)
            .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
            .network_configuration(network(&t))
            .send(),
    )
    .unwrap();
    next_execution_second();
    let out = t.run(&[]);
    block_on(
        clients()
            .ecs
            .update_service()
            .cluster(t.prefix())
            .service(&copy)
            .desired_count(0)
            .send(),
    )
    .unwrap();
    // (The first run started the mapped daemons; this one holds at M4.H's write-once evidence or
    // earlier — what matters is that M4.G holds the copy.)
    let json = out.json();
    let g: Vec<&serde_json::Value> = json["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["code"] == "M4G-B1")
        .collect();
    assert!(
        g.iter().any(|b| b["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("service:{copy}"))),
        "{json}"
    );
}

/// M4 then M5 with a leftover report from before M5: an empty one, then a full one written
/// before the checker started; the checker itself writes nothing. Each holds M5F-B3.
#[test]
fn a_leftover_output_is_not_the_jobs_own() {
    let t = Tenant::new();
    let out = t.run(&[]);
    advance(&out);
    let m4 = out.json()["execution_id"].as_str().unwrap().to_owned();
    let bucket = format!("{}-oracle", t.prefix());
    let key = format!("oracle/platform_{}/checker/report.json", t.name);
    let put = |bytes: &[u8]| {
        block_on(
            aws()
                .s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
                .send(),
        )
        .unwrap();
    };
    let m5 = |t: &Tenant| crate::harness::m5_run(t, &m4, &[]).run();
    control(
        "oneshot",
        &serde_json::json!({"family": format!("{}-oracle-checker", t.prefix()), "output": false}),
    );
    put(b"");
    let out = m5(&t);
    crate::harness::assert_runbook_hold(&out, ("HOLD_M5", "M5.G"), "M5F-B3", "M5.F");
    assert!(
        reason(&out).contains("is empty (0 bytes)"),
        "{}",
        reason(&out)
    );

    // A full report, but older than the task: it was there before the checker started.
    put(br#"{"ok": true}"#);
    std::thread::sleep(std::time::Duration::from_millis(2100 + 1000));
    let out = m5(&t);
    crate::harness::assert_runbook_hold(&out, ("HOLD_M5", "M5.G"), "M5F-B3", "M5.F");
    assert!(
        reason(&out).contains("before the task started"),
        "{}",
        reason(&out)
    );
    control(
        "oneshot",
        &serde_json::json!({"family": format!("{}-oracle-checker", t.prefix())}),
    );
}
