//! The M4 runbook end to end through the binary, each test on its own tenant of the dev_min
//! environment (own cluster, services, roles, buckets, parameters, topics and platform run id):
//! ADVANCE_TO_M5 with all 11 artifacts verified, the --plan rehearsal, a re-run after a fixed
//! HOLD, and HOLD_M4 for fourteen distinct causes over A–G with no action after the holding phase.

use crate::harness::{assert_hold, block_on, clients, control, first_blocker, unique, Tenant};
use sha2::Digest;

#[test]
fn advance_to_m5_with_all_artifacts_durable_matching_and_secret_free() {
    let t = Tenant::new();
    let out = t.run(&[]);
    out.status(0).nowhere("SCRIPT-FAULT");
    let json = out.json();
    assert_eq!(json["verdict"], "ADVANCE_TO_M5");
    assert_eq!(json["platform_run_id"], format!("platform_{}", t.name));
    let artifacts = json["artifacts"].as_object().unwrap();
    let names: Vec<&str> = artifacts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "daemons_ready",
            "m4_a_handle_closure_snapshot",
            "m4_b_service_map_snapshot",
            "m4_c_iam_binding_snapshot",
            "m4_d_dependency_snapshot",
            "m4_e_launch_contract_snapshot",
            "m4_f_daemon_start_snapshot",
            "m4_g_consumer_uniqueness_snapshot",
            "m4_h_readiness_publication_snapshot",
            "m4_i_verdict_snapshot",
            "m5_handoff_pack"
        ]
    );
    let exec = json["m4_execution_id"].as_str().unwrap();
    let secrets: Vec<String> = ["confluent/api_key", "confluent/api_secret", "db/password"]
        .iter()
        .map(|p| crate::harness::ssm_value(&format!("/fraud-platform/{}/{p}", t.name)))
        .collect();
    for (name, record) in artifacts {
        let uri = record["uri"].as_str().unwrap();
        let expected = if name == "daemons_ready" {
            format!(
                "s3://{}-evidence/evidence/runs/platform_{}/operate/daemons_ready.json",
                t.prefix(),
                t.name
            )
        } else {
            format!(
                "s3://{}-evidence/evidence/dev_min/run_control/{exec}/{name}.json",
                t.prefix()
            )
        };
        assert_eq!(uri, expected);
        let (bucket, key) = uri.trim_start_matches("s3://").split_once('/').unwrap();
        let durable = crate::harness::s3_object(bucket, key);
        let local = std::fs::read(record["local"].as_str().unwrap()).unwrap();
        assert_eq!(
            &local[..],
            &durable[..],
            "{name}: local mirror differs from S3"
        );
        assert_eq!(
            record["sha256"],
            hex::encode(sha2::Sha256::digest(&durable))
        );
        let text = String::from_utf8(local).unwrap();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{name} holds a secret's plaintext"
            );
        }
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        if name != "daemons_ready" && name != "m5_handoff_pack" {
            assert_eq!(doc["overall_pass"], true, "{name}");
            assert_eq!(doc["m4_execution_id"], exec);
        }
    }
    let verdict: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            artifacts["m4_i_verdict_snapshot"]["local"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(verdict["predicates"].as_object().unwrap().len(), 8);
    assert_eq!(t.desired_counts(), vec![1, 1, 1, 1]);
    // M4.D's probe objects are removed while the run goes on, and gone when it ends.
    for bucket in ["oracle", "archive", "quarantine", "evidence"] {
        let left: Vec<String> = t
            .keys_of(bucket)
            .into_iter()
            .filter(|k| k.contains("_m4host_probe"))
            .collect();
        assert!(left.is_empty(), "{bucket}: probe objects left: {left:?}");
    }
}

#[test]
fn plan_rehearsal_changes_nothing_and_lists_what_m4f_would_change() {
    let t = Tenant::new();
    let out = t.run(&["--plan"]);
    out.status(3);
    let json = out.json();
    assert_eq!(json["verdict"], "HOLD_M4");
    assert_eq!(
        first_blocker(&out).0,
        "M4I-B2",
        "only the unproven predicates hold a rehearsal"
    );
    assert_eq!(out.would_do_count("would update"), 13);
    assert!(t.bucket_keys().is_empty(), "nothing written durably");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
    // A phase line says what its snapshot says (issue #31): M4.F rehearsed its changes and could
    // not prove stability, so it is no PASS; M4.A proved what it set out to.
    out.stderr_has("M4.A   PASS  (")
        .stderr_has("M4.F   PLAN  (rehearsed, not proven: its snapshot says overall_pass false)");
}

#[test]
fn rerun_after_a_fixed_hold_advances_without_overwriting() {
    let t = Tenant::new();
    t.edit(
        "handles.registry.toml",
        "ref = \"db_name\"",
        "ref = \"db_name_typo\"",
    );
    let first = t.run(&[]);
    assert_hold(&first, "M4A-B2", "M4.A");
    let before: Vec<String> = t.bucket_keys();
    assert!(before
        .iter()
        .any(|k| k.ends_with("m4_a_handle_closure_snapshot.json")));
    let a_key = before
        .iter()
        .find(|k| k.ends_with("m4_a_handle_closure_snapshot.json"))
        .unwrap()
        .clone();
    let a_bytes = crate::harness::s3_object(&format!("{}-evidence", t.prefix()), &a_key);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a new second: a new execution id
    t.edit(
        "handles.registry.toml",
        "ref = \"db_name_typo\"",
        "ref = \"db_name\"",
    );
    let second = t.run(&[]);
    second.status(0);
    assert_ne!(
        first.json()["m4_execution_id"],
        second.json()["m4_execution_id"]
    );
    let after = crate::harness::s3_object(&format!("{}-evidence", t.prefix()), &a_key);
    assert_eq!(
        a_bytes, after,
        "the earlier execution's evidence is untouched"
    );
    assert!(t.bucket_keys().len() > before.len());
}

#[test]
fn hold_m3_verdict_not_advance() {
    let t = Tenant::new();
    t.edit(
        "m3/m3_f_verdict_snapshot.json",
        "\"ADVANCE_TO_M4\"",
        "\"HOLD_M3\"",
    );
    assert_hold(&t.run(&[]), "M4A-B1", "M4.A");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
}

#[test]
fn hold_unresolved_handle() {
    let t = Tenant::new();
    t.edit(
        "handles.registry.toml",
        "ref = \"rds_endpoint\"",
        "ref = \"rds_endpoint_gone\"",
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4A-B2", "M4.A");
    assert!(
        out.json()["artifacts"]
            .get("m4_i_verdict_snapshot")
            .is_some(),
        "the HOLD verdict is still published"
    );
}

#[test]
fn hold_wildcard_handle() {
    let t = Tenant::new();
    t.edit(
        "handles.registry.toml",
        "ref = \"svc_ig\"",
        "ref = \"svc_*\"",
    );
    assert_hold(&t.run(&[]), "M4A-B4", "M4.A");
}

#[test]
fn hold_evidence_bucket_missing() {
    let t = Tenant::new();
    t.edit(
        "generated/terraform_outputs.json",
        &format!("\"{}-evidence\"", t.prefix()),
        &format!("\"{}-nowhere\"", t.prefix()),
    );
    let out = t.run(&[]);
    // A durable write is settled before anything changes the world, not before the next
    // read-only phase: M4.B and M4.C ran meanwhile (M4.C's IAM check finds the bucket it names
    // unwritable too), but M4.A's failed write is the first blocker and nothing was started.
    out.status(3);
    assert_eq!(out.json()["verdict"], "HOLD_M4", "{}", out.stdout);
    assert_eq!(
        first_blocker(&out),
        ("M4A-B3".to_owned(), "M4.A".to_owned()),
        "{}",
        out.stdout
    );
    assert!(
        t.desired_counts().iter().all(|&n| n == 0),
        "nothing was started: {:?}",
        t.desired_counts()
    );
    assert!(
        out.json()["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["code"] == "M4I-B4"),
        "the verdict could not be published either"
    );
}

#[test]
fn hold_missing_role() {
    let t = Tenant::new();
    let role = format!("{}-daemon-task", t.prefix());
    block_on(async {
        clients()
            .iam
            .delete_role_policy()
            .role_name(&role)
            .policy_name(format!("{role}-policy"))
            .send()
            .await
            .unwrap();
        clients()
            .iam
            .delete_role()
            .role_name(&role)
            .send()
            .await
            .unwrap();
    });
    let out = t.run(&[]);
    assert_hold(&out, "M4C-B1", "M4.C");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
    crate::tape::assert_replays_identically(&out, &crate::tape::dead_env(&t), 3);
}

#[test]
fn hold_denied_action() {
    let t = Tenant::new();
    let role = format!("{}-daemon-task", t.prefix());
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"NoEvidenceWrites","Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::{}-evidence/*"}}]}}"#,
        t.prefix()
    );
    block_on(
        clients()
            .iam
            .put_role_policy()
            .role_name(&role)
            .policy_name("deny-evidence")
            .policy_document(deny)
            .send(),
    )
    .unwrap();
    let out = t.run(&[]);
    assert_hold(&out, "M4C-B2", "M4.C");
    assert!(out.stdout.contains("explicitDeny"), "{}", out.stdout);
}

#[test]
fn hold_missing_topic() {
    let t = Tenant::new();
    t.edit(
        "handles.registry.toml",
        ".fp.bus.audit.v1\"",
        ".fp.bus.audit.v9\"",
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4D-B1", "M4.D");
    assert!(
        out.stdout.contains("required topic(s) missing"),
        "{}",
        out.stdout
    );
}

#[test]
fn hold_db_unreachable() {
    let t = Tenant::new();
    t.edit(
        "generated/terraform_outputs.json",
        "\"127.0.0.1:5432\"",
        "\"127.0.0.1:5999\"",
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4D-B1", "M4.D");
    assert!(out.stdout.contains("database"), "{}", out.stdout);
    crate::tape::assert_replays_identically(&out, &crate::tape::dead_env(&t), 3);
}

#[test]
fn hold_task_definition_without_run_scope() {
    let t = Tenant::new();
    t.replace_task_definition("ig", &[("SERVICE_NAME", "ig")]);
    assert_hold(&t.run(&[]), "M4E-B1", "M4.E");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
}

#[test]
fn hold_secret_inline_in_task_definition() {
    let t = Tenant::new();
    let scope = format!("platform_{}", t.name);
    t.replace_task_definition(
        "rtdl-ofp",
        &[
            ("REQUIRED_PLATFORM_RUN_ID", &scope),
            ("DB_PASSWORD", "inline-not-allowed"),
        ],
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4E-B3", "M4.E");
    out.nowhere("inline-not-allowed");
}

#[test]
fn hold_crash_loop() {
    let t = Tenant::new();
    t.fault("ig", "crash_loop", None);
    // The soak must outlast a crash cycle (0.1 s start + 0.2 s run + 0.1 s restart), as in production
    // the default 30 s soak outlasts a daemon's crash period. With the "stable" gate the wave
    // soaks before the next starts, so no later pack can start (under "up" a daemon seen up
    // before its crash lets the next wave start, and the crash is a late failure: waves.rs).
    let out = t.run_with(&["soak_ms=1500", "wave_gate=stable"], &[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    assert_eq!(
        t.desired_counts()[1..],
        [0, 0, 0],
        "no later pack started after the ingress wave failed"
    );
}

#[test]
fn hold_rollback() {
    let t = Tenant::new();
    let scope = format!("platform_{}", t.name);
    let old = t.replace_task_definition(
        "case-ls",
        &[("REQUIRED_PLATFORM_RUN_ID", &scope), ("VARIANT", "old")],
    );
    t.replace_task_definition(
        "case-ls",
        &[("REQUIRED_PLATFORM_RUN_ID", &scope), ("VARIANT", "new")],
    );
    t.fault("case-ls", "rollback", Some(&old));
    // A high crash threshold lets the rollback, not the crash loop, be what is seen.
    let out = t.run_with(&["soak_ms=1500", "crash_threshold=9"], &[]);
    assert_hold(&out, "M4F-B2", "M4.F");
    assert!(out.stdout.contains("rolled_back"), "{}", out.stdout);
    // Said as ECS's deployments say it (issue #26): seen while the circuit breaker rolls back,
    // its PRIMARY's reason names the deployment it returns to; seen after, the PRIMARY
    // deployment on the old revision is named. Either way by deployment id, not by event words.
    let reason = out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("ecs-svc/")
            && (reason.contains("rolling back to deploymentId ecs-svc/")
                || reason.contains("not the expected")),
        "{reason}"
    );
}

#[test]
fn hold_stuck_pending() {
    let t = Tenant::new();
    t.fault("env-conformance", "stuck_pending", None);
    // The timeout bounds every wave's wait: long enough for the healthy waves on a loaded machine,
    // and the stuck one still holds when it runs out.
    let out = t.run_with(&["timeout_ms=8000"], &[]);
    assert_hold(&out, "M4F-B2", "M4.F");
    assert!(out.stdout.contains("1 pending"), "{}", out.stdout);
}

#[test]
fn hold_duplicate_consumer() {
    let t = Tenant::new();
    let group = t.service("decision-df");
    let rogue = unique("rogue");
    let started = control(
        "rogue",
        &serde_json::json!({"name": rogue, "action": "start", "group": group, "wait_s": 60,
            "topics": [format!("{}.fp.bus.traffic.fraud.v1", t.name)], "bootstrap": "127.0.0.1:9092"}),
    );
    assert_eq!(
        started["joined"], true,
        "the rogue consumer joined its group"
    );
    // The stabilization interval is what gives the daemon's own consumer time to join on a real
    // account too; a loaded machine needs more than the other tests' 200 ms.
    let out = t.run_with(&["stabilization_interval_ms=3000"], &[]);
    control(
        "rogue",
        &serde_json::json!({"name": rogue, "action": "stop"}),
    );
    assert_hold(&out, "M4G-B1", "M4.G");
    assert!(
        out.stdout
            .contains("live members in a singleton lane group"),
        "{}",
        out.stdout
    );
}

#[test]
fn rollback_restores_what_a_held_execution_changed_and_is_harmless_twice() {
    let t = Tenant::new();
    t.fault("case-ls", "crash_loop", None);
    // The "stable" gate: which waves started is then fixed (the case wave never soaks).
    let held = t.run_with(&["soak_ms=1500", "wave_gate=stable"], &[]);
    assert_hold(&held, "M4F-B3", "M4.F");
    let execution = held.json()["m4_execution_id"].as_str().unwrap().to_owned();
    assert_eq!(
        t.desired_counts(),
        vec![1, 1, 1, 0],
        "ingress, rtdl and case waves were started"
    );
    let first = t.rollback(&execution);
    first.status(0);
    assert_eq!(first.json()["verdict"], "ROLLED_BACK");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
    let second = t.rollback(&execution);
    second.status(0);
    let snapshots: Vec<String> = t
        .bucket_keys()
        .into_iter()
        .filter(|k| k.contains(&format!("run_control/{execution}/m4_rollback_")))
        .collect();
    assert_eq!(
        snapshots.len(),
        2,
        "each rollback publishes its own snapshot beside the execution: {snapshots:?}"
    );
}

/// One execution-id grammar: a prefix with `_` names the run's ids and snapshot field, and the
/// rollback that reads its evidence back by id accepts them (it used to refuse `m4_dev_…`).
#[test]
fn a_prefix_with_an_underscore_names_its_ids_and_rolls_back() {
    let t = Tenant::new();
    t.edit(
        "local.toml",
        "[inputs]",
        "[run]\nexecution_prefix = \"m4_dev\"\n\n[inputs]",
    );
    t.fault("case-ls", "crash_loop", None);
    let held = t.run_with(&["soak_ms=1500"], &[]);
    assert_hold(&held, "M4F-B3", "M4.F");
    let execution = held.json()["execution_id"].as_str().unwrap().to_owned();
    // The summary names the id as the snapshots do, and not as M4's default prefix would.
    assert_eq!(held.json()["m4_dev_execution_id"], execution.as_str());
    assert!(held.json().get("m4_execution_id").is_none());
    assert!(
        execution.starts_with("m4_dev_2"),
        "execution id {execution} carries the prefix"
    );
    let snapshot = t
        .bucket_keys()
        .into_iter()
        .find(|k| {
            k.ends_with(&format!(
                "run_control/{execution}/m4_f_daemon_start_snapshot.json"
            ))
        })
        .expect("the F snapshot is under the execution's folder");
    let f: serde_json::Value = serde_json::from_slice(&t.object(&snapshot)).unwrap();
    assert_eq!(f["m4_dev_execution_id"], execution.as_str());
    // The held execution's evidence verifies, and its timeline marks the failure.
    let report = crate::harness::report(&t, &execution, &[]);
    report.status(0).stdout_has("M4.F   HOLD");
    let case_ls = report
        .stdout
        .lines()
        .find(|l| l.contains(&format!("{}-case-ls ", t.prefix())))
        .unwrap_or_else(|| panic!("no case-ls lane:\n{}", report.stdout));
    assert!(
        case_ls.contains("crash_loop at +") && case_ls.contains('X'),
        "{case_ls}"
    );
    let rollback = t.rollback(&execution);
    rollback.status(0);
    assert_eq!(rollback.json()["verdict"], "ROLLED_BACK");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
}

#[test]
fn hold_reporter_mapped_as_a_daemon() {
    // The spine-only law: the P11 reporter (a one-shot task definition) never joins the P2 map.
    let t = Tenant::new();
    t.edit(
        "generated/terraform_outputs.json",
        &format!("\"{}-case-cm\"", t.prefix()),
        &format!("\"{}-reporter\"", t.prefix()),
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4B-B5", "M4.B");
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0]);
}
