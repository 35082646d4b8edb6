//! The second runbook on the same host: M4 then M5 ("oracle seed / sort / checker") end to end on
//! one tenant of dev_min, through the binary. ADVANCE_TO_M6 with every M5 artifact local and in S3
//! with matching hashes; HOLD_M5 with the right code and no later action for each cause (M4 held,
//! handoff missing, verdict tampered, seed exits 1, checker writes nothing, a once-off task
//! already running, a job over its budget, a job stuck pending, a daemon on another task
//! definition, a daemon gone); Ctrl-C during a job; M5 stepped in the REPL; --plan starts no task
//! and writes nothing durable.

use crate::harness::{
    block_on, clients, control, m5_run, next_execution_second, s3_object, Outcome, Run, Tenant,
    M5_SCRIPT,
};
use sha2::Digest;

/// M4 to ADVANCE_TO_M5 on the tenant; its execution id.
fn advanced_m4(t: &Tenant) -> String {
    let out = t.run(&[]);
    out.status(0);
    let json = out.json();
    assert_eq!(json["verdict"], "ADVANCE_TO_M5", "{}", out.stderr);
    json["execution_id"].as_str().unwrap().to_owned()
}

fn m5(t: &Tenant, m4: &str, sets: &[&str]) -> Outcome {
    m5_run(t, m4, sets).run()
}

/// How the tenant's one-shot tasks of an oracle stage behave in the emulator.
fn oneshot(t: &Tenant, stage: &str, behaviour: serde_json::Value) {
    let mut body = behaviour;
    body["family"] = format!("{}-oracle-{stage}", t.prefix()).into();
    control("oneshot", &body);
}

/// A HOLD_M5 with `code` first, in `phase`, and nothing after it but the verdict (SKIP).
fn assert_m5_hold(out: &Outcome, code: &str, phase: &str) {
    crate::harness::assert_runbook_hold(out, ("HOLD_M5", "M5.G"), code, phase);
    let json = out.json();
    assert!(
        json["artifacts"]["m5_g_verdict_snapshot"].is_object(),
        "the verdict is still published"
    );
    assert!(
        json["artifacts"]["m6_handoff_pack"].is_null(),
        "no handoff after a hold"
    );
}

/// The oracle tasks of the tenant's cluster with desired status `status`.
fn oracle_tasks(
    t: &Tenant,
    status: aws_sdk_ecs::types::DesiredStatus,
) -> Vec<aws_sdk_ecs::types::Task> {
    let c = clients();
    block_on(async {
        let arns = c
            .ecs
            .list_tasks()
            .cluster(t.prefix())
            .desired_status(status)
            .send()
            .await
            .unwrap()
            .task_arns()
            .to_vec();
        if arns.is_empty() {
            return Vec::new();
        }
        c.ecs
            .describe_tasks()
            .cluster(t.prefix())
            .set_tasks(Some(arns))
            .send()
            .await
            .unwrap()
            .tasks()
            .iter()
            .filter(|t| t.group().unwrap_or_default().contains("oracle"))
            .cloned()
            .collect()
    })
}

fn oracle_keys(t: &Tenant) -> Vec<String> {
    t.keys_of("oracle")
}

#[test]
fn m4_then_m5_advance_to_m6_with_every_artifact_local_and_in_s3() {
    let t = Tenant::new();
    let m4 = advanced_m4(&t);
    let out = m5(&t, &m4, &[]);
    out.status(0);
    let json = out.json();
    assert_eq!(json["verdict"], "ADVANCE_TO_M6", "{}", out.stderr);
    let exec = json["execution_id"].as_str().unwrap();
    assert!(exec.starts_with("m5_"), "{exec}");
    assert_eq!(json["m5_execution_id"], exec);
    let names = [
        "m5_a_entry_snapshot",
        "m5_b_launch_contract_snapshot",
        "m5_c_no_parallel_snapshot",
        "m5_d_oracle_seed_snapshot",
        "m5_e_oracle_sort_snapshot",
        "m5_f_oracle_checker_snapshot",
        "m5_g_verdict_snapshot",
        "m6_handoff_pack",
    ];
    let artifacts = json["artifacts"].as_object().unwrap();
    assert_eq!(artifacts.len(), names.len(), "{artifacts:?}");
    for name in names {
        let a = &artifacts[name];
        let local = std::fs::read(a["local"].as_str().unwrap()).unwrap();
        let (bucket, key) = a["uri"]
            .as_str()
            .unwrap()
            .strip_prefix("s3://")
            .unwrap()
            .split_once('/')
            .unwrap();
        assert_eq!(
            key,
            format!("evidence/dev_min/run_control/{exec}/{name}.json")
        );
        let durable = s3_object(bucket, key);
        assert_eq!(local, durable, "{name}: local and S3 differ");
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&durable)),
            a["sha256"].as_str().unwrap()
        );
    }
    let doc = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(artifacts[name]["local"].as_str().unwrap()).unwrap())
            .unwrap()
    };
    // The entry: M4's pack and verdict as read from S3, with their hashes.
    let a = doc("m5_a_entry_snapshot");
    assert_eq!(a["m4_execution_id"], m4.as_str());
    assert_eq!(a["m4_verdict"], "ADVANCE_TO_M5");
    let handoff_key = format!("evidence/dev_min/run_control/{m4}/m5_handoff_pack.json");
    assert_eq!(
        a["m4_handoff_sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(t.object(&handoff_key)))
    );
    assert_eq!(a["m4_daemons"].as_array().unwrap().len(), 13);
    // Each job ran once, as a one-shot task with the run scope, exited 0 and left its output.
    let run_id = format!("platform_{}", t.name);
    for (name, stage, output) in [
        ("m5_d_oracle_seed_snapshot", "seed", "manifest.json"),
        ("m5_e_oracle_sort_snapshot", "sort", "manifest.json"),
        ("m5_f_oracle_checker_snapshot", "checker", "report.json"),
    ] {
        let d = doc(name);
        assert_eq!(d["overall_pass"], true, "{d}");
        assert_eq!(d["stop_code"], "EssentialContainerExited");
        let tasks = d["one_shot_tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{d}");
        assert_eq!(tasks[0]["ending"]["succeeded"], true);
        assert!(tasks[0]["stop"].is_null());
        assert_eq!(
            d["outputs_found"][0],
            format!("oracle/{run_id}/{stage}/{output}")
        );
    }
    let keys = oracle_keys(&t);
    assert_eq!(keys.len(), 3, "{keys:?}");
    // The tasks carried the run scope the host injected, and all stopped.
    let stopped = oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped);
    assert_eq!(stopped.len(), 3);
    for task in &stopped {
        assert_eq!(task.started_by(), Some(exec));
        let env = task.overrides().unwrap().container_overrides()[0].environment();
        assert!(env
            .iter()
            .any(|kv| kv.name() == Some("REQUIRED_PLATFORM_RUN_ID")
                && kv.value() == Some(run_id.as_str())));
    }
    assert!(oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Running).is_empty());
    let pack = doc("m6_handoff_pack");
    assert_eq!(pack["m5_verdict"], "ADVANCE_TO_M6");
    assert_eq!(pack["platform_run_id"], run_id.as_str());
    assert_eq!(
        pack["required_platform_run_id_env_key"],
        "REQUIRED_PLATFORM_RUN_ID"
    );
    assert_eq!(pack["source_execution_ids"]["m4"], m4.as_str());
    // Nothing secret anywhere in M5's evidence.
    let password = crate::harness::ssm_value(&format!("/fraud-platform/{}/db/password", t.name));
    out.nowhere(&password);
    for name in names {
        let text = std::fs::read_to_string(artifacts[name]["local"].as_str().unwrap()).unwrap();
        assert!(!text.contains(&password), "{name}");
    }
}

#[test]
fn m5_holds_with_the_right_code_and_takes_no_later_action() {
    let t = Tenant::new();
    let m4 = advanced_m4(&t);

    // The seed exits 1: M5.D holds, sort and checker never start.
    oneshot(
        &t,
        "seed",
        serde_json::json!({"exit_code": 1, "run_for": 0.2}),
    );
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5D-B1", "M5.D");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("exited 1"));
    assert!(oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped)
        .iter()
        .all(|task| task.group().unwrap().ends_with("oracle-seed")));
    oneshot(&t, "seed", serde_json::json!({}));

    // The checker exits 0 but writes nothing.
    oneshot(&t, "checker", serde_json::json!({"output": false}));
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5F-B3", "M5.F");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("was not written"));
    oneshot(&t, "checker", serde_json::json!({}));

    // The sort runs past its budget: the host stops it and the stop is in the evidence.
    oneshot(&t, "sort", serde_json::json!({"mode": "never_ends"}));
    let out = m5(&t, &m4, &["sort_budget_ms=1500"]);
    assert_m5_hold(&out, "M5E-B2", "M5.E");
    // Replayed offline from its tape (issue #25), the job overruns its budget where it did: the
    // one-shot wait judges by the recorded clock, the stop comes from the tape.
    crate::tape::assert_replays_identically(
        &out,
        &crate::tape::dead_env_of(&t, "local-m5.toml"),
        3,
    );
    let e: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            out.json()["artifacts"]["m5_e_oracle_sort_snapshot"]["local"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        e["budget_ms"], 1500,
        "the operator's --set is the budget: {e}"
    );
    assert_eq!(e["timed_out"], true, "{e}");
    assert_eq!(e["stop_code"], "UserInitiated");
    let stop = &e["one_shot_tasks"][0]["stop"];
    assert_eq!(stop["cause"], "budget");
    assert_eq!(stop["confirmed"], true, "{stop}");
    assert!(
        oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Running).is_empty(),
        "nothing left running"
    );
    oneshot(&t, "sort", serde_json::json!({}));

    // The seed never leaves PENDING: also over budget, stopped.
    oneshot(&t, "seed", serde_json::json!({"mode": "stuck_pending"}));
    let out = m5(&t, &m4, &["seed_budget_ms=1500"]);
    assert_m5_hold(&out, "M5D-B2", "M5.D");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("still PENDING"));
    oneshot(&t, "seed", serde_json::json!({}));

    // A once-off seed task someone started by hand is running: M5 starts nothing.
    let family = format!("{}-oracle-seed", t.prefix());
    let outputs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.path("generated/terraform_outputs.json")).unwrap(),
    )
    .unwrap();
    oneshot(&t, "seed", serde_json::json!({"mode": "never_ends"}));
    let rogue = block_on(
        clients()
            .ecs
            .run_task()
            .cluster(t.prefix())
            .task_definition(&family)
            .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
            .network_configuration(
                aws_sdk_ecs::types::NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                            .subnets(outputs["subnet_ids_public"]["value"][0].as_str().unwrap())
                            .security_groups(
                                outputs["security_group_id_app"]["value"].as_str().unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let rogue = rogue.tasks()[0].task_arn().unwrap().to_owned();
    let before = oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped).len();
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5C-B1", "M5.C");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains(&rogue));
    assert_eq!(
        oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped).len(),
        before,
        "no job started"
    );
    block_on(
        clients()
            .ecs
            .stop_task()
            .cluster(t.prefix())
            .task(&rogue)
            .send(),
    )
    .unwrap();
    oneshot(&t, "seed", serde_json::json!({}));

    // A daemon now runs another task definition than the one M4 started it on (drift).
    let run_id = format!("platform_{}", t.name);
    t.replace_task_definition(
        "decision-df",
        &[("REQUIRED_PLATFORM_RUN_ID", run_id.as_str())],
    );
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5C-B2", "M5.C");
    assert!(
        out.json()["blockers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("decision-df"),
        "{}",
        out.json()["blockers"]
    );

    // One of M4's daemons is gone: not the posture M5 may run beside.
    block_on(
        clients()
            .ecs
            .update_service()
            .cluster(t.prefix())
            .service(t.service("case-ls"))
            .desired_count(0)
            .send(),
    )
    .unwrap();
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5C-B2", "M5.C");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("case-ls"));

    // M4's verdict snapshot changed after its handoff pack vouched for it.
    let verdict_key = format!("evidence/dev_min/run_control/{m4}/m4_i_verdict_snapshot.json");
    let mut verdict: serde_json::Value = serde_json::from_slice(&t.object(&verdict_key)).unwrap();
    verdict["captured_at_utc"] = "2026-01-01T00:00:00Z".into();
    t.put_object(&verdict_key, &serde_json::to_vec(&verdict).unwrap());
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5A-B1", "M5.A");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("changed after the M5 handoff pack was written"));

    // The handoff pack is gone.
    t.delete_object(&format!(
        "evidence/dev_min/run_control/{m4}/m5_handoff_pack.json"
    ));
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5A-B1", "M5.A");
    assert!(out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("m5_handoff_pack.json"));
}

#[test]
fn m5_refuses_to_enter_from_an_m4_that_held() {
    let t = Tenant::new();
    t.fault("ig", "crash_loop", None);
    let out = t.run(&[]);
    out.status(3);
    let m4 = out.json()["execution_id"].as_str().unwrap().to_owned();
    let out = m5(&t, &m4, &[]);
    assert_m5_hold(&out, "M5A-B1", "M5.A");
    let reason = out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("`HOLD_M4`, not `ADVANCE_TO_M5`"),
        "{reason}"
    );
    assert!(oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped).is_empty());
    assert!(oracle_keys(&t).is_empty());
}

#[test]
fn m5_plan_rehearses_every_job_and_changes_nothing() {
    let t = Tenant::new();
    let m4 = advanced_m4(&t);
    let evidence_before = t.bucket_keys();
    next_execution_second();
    let out = Run::new()
        .args(["run", M5_SCRIPT, "--plan", "--env"])
        .arg(t.path("local-m5.toml"))
        .args(["--output", "json", "--set", &format!("m4_execution={m4}")])
        .run();
    out.status(3);
    let json = out.json();
    assert_eq!(json["verdict"], "HOLD_M5");
    assert_eq!(
        json["blockers"][0]["code"], "M5G-B2",
        "only the unproven predicates hold a rehearsal: {}",
        json["blockers"]
    );
    assert_eq!(
        out.would_do_count("would run a task of"),
        3,
        "{}",
        json["would_do"]
    );
    assert!(oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped).is_empty());
    assert!(oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Running).is_empty());
    assert!(oracle_keys(&t).is_empty());
    assert_eq!(t.bucket_keys(), evidence_before, "nothing written durably");
}

#[test]
fn m5_stepped_in_the_repl() {
    let t = Tenant::new();
    let m4 = advanced_m4(&t);
    next_execution_second();
    let out = Run::new()
        .arg("repl")
        .arg("--env")
        .arg(t.path("local-m5.toml"))
        .args(["--set", &format!("m4_execution={m4}"), "--set", "daemon_check_ms=10000", M5_SCRIPT])
        .stdin(":phases\n:step\n:snapshot m5_a_entry_snapshot\n:run M5.D\n:step\n:step\n:continue\n:blockers\n:quit\n")
        .run();
    out.status(0)
        .stdout_has("waiting before M5.A")
        .stdout_has("M5.A   PASS")
        .stdout_has(&format!("\"m4_execution_id\": \"{m4}\""))
        .stdout_has("the next phase is M5.B")
        .stdout_has("M5.F   PASS")
        .stdout_has("runbook finished: ADVANCE_TO_M6, 0 blocker(s)");
}

#[test]
fn ctrl_c_during_a_job_stops_its_task_and_the_stop_is_in_the_evidence() {
    let t = Tenant::new();
    let m4 = advanced_m4(&t);
    oneshot(&t, "sort", serde_json::json!({"mode": "never_ends"}));
    next_execution_second();
    let child = crate::harness::spawn_m4host([
        "run".into(),
        M5_SCRIPT.into(),
        "--env".into(),
        t.path("local-m5.toml").into_os_string(),
        std::ffi::OsString::from("--output"),
        "json".into(),
        "--set".into(),
        format!("m4_execution={m4}").into(),
    ]);
    // Wait for the state: the sort task RUNNING (bounded), then Ctrl-C.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Running)
        .iter()
        .any(|task| {
            task.group().unwrap().ends_with("oracle-sort") && task.last_status() == Some("RUNNING")
        })
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sort task never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    crate::harness::signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let json = crate::harness::summary_of(&out, 3);
    assert_eq!(json["verdict"], "HOLD_M5");
    assert_eq!(json["blockers"][0]["code"], "RUN-INTERRUPTED", "{json}");
    assert_eq!(json["blockers"][0]["phase"], "M5.E");
    let e: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            json["artifacts"]["m5_e_oracle_sort_snapshot"]["local"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let stop = &e["one_shot_tasks"][0]["stop"];
    assert_eq!(stop["cause"], "interrupted", "{e}");
    assert_eq!(stop["confirmed"], true, "{e}");
    assert!(
        oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Running).is_empty(),
        "nothing left running"
    );
    let sort = oracle_tasks(&t, aws_sdk_ecs::types::DesiredStatus::Stopped)
        .into_iter()
        .find(|task| task.group().unwrap().ends_with("oracle-sort"))
        .unwrap();
    assert_eq!(sort.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert!(
        json["artifacts"]["m5_f_oracle_checker_snapshot"].is_null(),
        "the checker never started"
    );
}

#[test]
fn m5_without_a_valid_m4_execution_is_a_usage_error_before_anything_runs() {
    let env = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/dev_min/local-m5.toml"
    );
    Run::new()
        .args(["run", M5_SCRIPT, "--env", env])
        .run()
        .status(2)
        .stderr_has("no value for `m4_execution`");
    Run::new()
        .args([
            "run",
            M5_SCRIPT,
            "--env",
            env,
            "--set",
            "m4_execution=last-tuesday",
        ])
        .run()
        .status(2)
        .stderr_has("`last-tuesday`/`m4_i_verdict_snapshot` is not an execution id");
}
