//! Faults through the project's own injection harness (tests/substrate/fault_proxy.py) between the
//! binary and moto: an ECS endpoint that stops answering in the middle of M4.F's wait holds within
//! the poll-failure budget, IAM answering 500 holds M4.C with its code (never a Rhai property
//! error), lasting ECS throttling holds in bounded time, S3 returning other bytes on read-back
//! holds with the phase's write code, transient faults a retry rides out still ADVANCE, a phase
//! that faults still publishes its snapshot, SIGTERM ends a run as a recorded hold, and SIGKILL
//! leaves no partial evidence.

use crate::harness::{assert_hold, spawn_run_with, through, FaultProxy, Outcome, Tenant};
use serde_json::json;
use std::time::{Duration, Instant};

fn first_reason(out: &Outcome) -> String {
    out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn ecs_that_stops_answering_mid_wait_holds_within_the_budget() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    // ListTasks is first asked by M4.F's wait: its first poll is answered, then ECS goes silent.
    proxy.rules(
        json!([{"service": "ecs", "operation": "ListTasks", "kind": "blackhole", "after": 2}]),
    );
    let started = Instant::now();
    let out = t.run_with(&["timeout_ms=600000"], &[]);
    let took = started.elapsed();
    assert_hold(&out, "M4F-B2", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("could not be read")
            && reason.contains(&proxy.url())
            && reason.contains("kept timing out"),
        "{reason}"
    );
    // Budget 3 s, measured from the first failing poll, plus at most one call timeout (15 s).
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert_eq!(out.json()["phases"][5]["status"], "HOLD");
}

/// The same wait against ECS that keeps throttling instead: the reason says which of the two it
/// is (from the error's code, not its words), so the operator knows to wait or to raise a quota
/// rather than to look for a dead endpoint.
#[test]
fn ecs_that_keeps_throttling_a_wait_says_so() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(
        json!([{"service": "ecs", "operation": "ListTasks", "kind": "throttle", "after": 2}]),
    );
    let started = Instant::now();
    let out = t.run_with(&["timeout_ms=600000"], &[]);
    assert_hold(&out, "M4F-B2", "M4.F");
    let reason = first_reason(&out);
    assert!(
        reason.contains("kept throttling this caller past the SDK's retries")
            && reason.contains("ThrottlingException"),
        "{reason}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn iam_unavailable_holds_m4c_with_its_code_and_the_aws_error() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(json!([{"service": "iam", "kind": "error5xx"}]));
    let out = t.run(&[]);
    assert_hold(&out, "M4C-B1", "M4.C");
    out.nowhere("SCRIPT-FAULT").nowhere("Property not found");
    let reason = first_reason(&out);
    assert!(reason.contains("ServiceUnavailable"), "{reason}");
    // The holding sub-phase still publishes its snapshot with the blocker.
    let c = t.artifact(&out, "m4_c_iam_binding_snapshot");
    assert_eq!(c["overall_pass"], false);
    assert_eq!(c["blockers"][0]["code"], "M4C-B1", "{c}");
}

#[test]
fn lasting_ecs_throttling_holds_in_bounded_time() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(json!([{"service": "ecs", "kind": "throttle"}]));
    let started = Instant::now();
    let out = t.run(&[]);
    assert_eq!(out.json()["verdict"], "HOLD_M4", "{}", out.stdout);
    out.status(3).nowhere("SCRIPT-FAULT");
    let reason = first_reason(&out);
    assert!(reason.contains("ThrottlingException"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn s3_read_back_with_other_bytes_holds_with_the_write_code() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(json!([{"service": "s3", "operation": "GET object", "kind": "corrupt"}]));
    let out = t.run(&[]);
    assert_eq!(out.json()["verdict"], "HOLD_M4", "{}", out.stdout);
    out.status(3);
    let (code, phase) = crate::harness::first_blocker(&out);
    assert_eq!(
        (code.as_str(), phase.as_str()),
        ("M4A-B3", "M4.A"),
        "{}",
        out.stdout
    );
    // The SDK's response checksum or the host's sha256 comparison, whichever sees it first.
    let reason = first_reason(&out);
    assert!(
        reason.contains("checksum mismatch") || reason.contains("sha256"),
        "{reason}"
    );
}

/// A durable write (PUT, then its read-back check) runs while the runbook goes on (issues 13, 23)
/// and is settled before anything changes the world: a failed check of M4.B's snapshot holds M4.B
/// (its record says so, with the write code); the read-only phases under way meanwhile (M4.C–E)
/// ran and published; M4.F's guarded update settles it first and so is refused (the run holds),
/// no service is started, and nothing after M4.F runs. The point is fixed by the runbook's
/// shape (the first change of the world), not by when the GET happened to answer.
#[test]
fn a_failed_read_back_check_holds_its_phase_before_anything_changes() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(
        json!([{"service": "s3", "operation": "GET object", "kind": "corrupt",
                        "path_contains": "m4_b_service_map_snapshot"}]),
    );
    let out = t.run(&[]);
    out.status(3).nowhere("SCRIPT-FAULT");
    let json = out.json();
    assert_eq!(json["verdict"], "HOLD_M4", "{}", out.stdout);
    let (code, phase) = crate::harness::first_blocker(&out);
    assert_eq!(
        (code.as_str(), phase.as_str()),
        ("M4B-B3", "M4.B"),
        "{}",
        json["blockers"]
    );
    let reason = first_reason(&out);
    assert!(reason.contains("m4_b_service_map_snapshot"), "{reason}");
    let status = |id: &str| {
        json["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == id)
            .map(|p| {
                (
                    p["status"].as_str().unwrap().to_owned(),
                    p["blocker_codes"].clone(),
                )
            })
            .unwrap_or_else(|| panic!("{id} has no record: {}", out.stdout))
    };
    assert_eq!(status("M4.B"), ("HOLD".to_owned(), json!(["M4B-B3"])));
    for (id, artifact) in [
        ("M4.C", "m4_c_iam_binding_snapshot"),
        ("M4.D", "m4_d_dependency_snapshot"),
        ("M4.E", "m4_e_launch_contract_snapshot"),
    ] {
        assert_eq!(status(id).0, "PASS", "{id}: {}", out.stdout);
        assert!(
            json["artifacts"][artifact].is_object(),
            "{}",
            json["artifacts"]
        );
    }
    // M4.F's first change settled the write first: refused, because the run holds.
    assert_eq!(status("M4.F"), ("HOLD".to_owned(), json!(["M4F-B1"])));
    let refusal = json["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == "M4F-B1")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(refusal.contains("already holds a blocker"), "{refusal}");
    assert!(
        t.desired_counts().iter().all(|&n| n == 0),
        "no service was started: {:?}",
        t.desired_counts()
    );
    for id in ["M4.G", "M4.H"] {
        assert_eq!(status(id).0, "SKIP", "{id}: {}", out.stdout);
    }
    // The verdict read every snapshot afresh: M4.B's bytes are the ones that do not match.
    assert_eq!(status("M4.I").0, "HOLD");
}

#[test]
fn transient_faults_a_retry_rides_out_still_advance() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(json!([
        {"service": "*", "kind": "throttle", "probability": 0.15, "first_attempt_only": true},
        {"service": "ecs", "kind": "error5xx", "probability": 0.05, "first_attempt_only": true},
        {"service": "*", "kind": "latency", "delay_ms": 20},
    ]));
    let out = t.run(&[]);
    out.status(0).nowhere("SCRIPT-FAULT");
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5");
    let faults = proxy.stats()["faults"].clone();
    assert!(
        faults
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with(":throttle")),
        "the proxy injected throttling: {faults}"
    );
}

#[test]
fn a_phase_that_faults_still_publishes_its_snapshot_with_the_fault() {
    let t = Tenant::new();
    // A copy of the runbook whose M4.E trips over a property its input lacks, as a script bug or
    // an unexpected answer would.
    let scripts = t.path("m4");
    std::fs::create_dir_all(&scripts).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/m4");
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), scripts.join(entry.file_name())).unwrap();
    }
    let e = scripts.join("e_launch_contract.rhai");
    let text = std::fs::read_to_string(&e).unwrap().replace(
        "    let key = ctx.a.handles.REQUIRED_PLATFORM_RUN_ID_ENV_KEY;",
        "    let key = ctx.a.no_such_field.REQUIRED_PLATFORM_RUN_ID_ENV_KEY;",
    );
    std::fs::write(&e, text).unwrap();
    let out = crate::harness::Run::new()
        .arg("run")
        .arg(scripts.join("main.rhai"))
        .arg("--env")
        .arg(t.path("local.toml"))
        .args(["--output", "json", "--set", "soak_ms=300"])
        .run();
    assert_hold(&out, "SCRIPT-FAULT", "M4.E");
    let reason = first_reason(&out);
    assert!(
        reason.contains("uncaught error in phase M4.E") && reason.contains("line"),
        "{reason}"
    );
    let snapshot = t.artifact(&out, "m4_e_launch_contract_snapshot");
    assert_eq!(snapshot["overall_pass"], false);
    assert_eq!(
        snapshot["blockers"][0]["code"], "SCRIPT-FAULT",
        "{snapshot}"
    );
    assert!(
        snapshot["fault"]
            .as_str()
            .unwrap()
            .contains("no_such_field")
            || snapshot["fault"].as_str().unwrap().contains("Property"),
        "{snapshot}"
    );
    let verdict = t.artifact(&out, "m4_i_verdict_snapshot");
    let rollup = verdict["blocker_rollup"].to_string();
    assert!(
        !rollup.contains("M4I-B1"),
        "M4.I found every snapshot that ran: {rollup}"
    );
}

/// Waits (bounded) until the run has published `name` in its local evidence folder.
fn wait_for_evidence(t: &Tenant, name: &str, within: Duration) -> std::path::PathBuf {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(stamps) = std::fs::read_dir(t.path("runs")) {
            for stamp in stamps.flatten() {
                let file = stamp.path().join(format!("{name}.json"));
                if file.exists() {
                    return stamp.path();
                }
            }
        }
        assert!(Instant::now() < deadline, "{name} never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_run(t: &Tenant, soak_ms: u64) -> std::process::Child {
    spawn_run_with(t, &[&format!("soak_ms={soak_ms}")])
}

#[test]
fn sigterm_ends_the_run_as_a_recorded_hold() {
    let t = Tenant::new();
    let child = spawn_run(&t, 120_000);
    // M4.E's snapshot is written just before M4.F starts its (long) stability soak; wherever the
    // signal lands from here on, the run must end as a recorded hold.
    wait_for_evidence(&t, "m4_e_launch_contract_snapshot", Duration::from_secs(60));
    let stopped = Instant::now();
    crate::harness::signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopped.elapsed()
    );
    let json = crate::harness::summary_of(&out, 3);
    let b = &json["blockers"][0];
    assert_eq!(b["code"], "RUN-INTERRUPTED", "{json}");
    assert!(b["reason"].as_str().unwrap().contains("SIGTERM"), "{json}");
}

#[test]
fn sigkill_leaves_no_partial_evidence_and_the_next_run_starts_clean() {
    let t = Tenant::new();
    let mut child = spawn_run(&t, 120_000);
    let folder = wait_for_evidence(&t, "m4_e_launch_contract_snapshot", Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for entry in std::fs::read_dir(&folder).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue; // a temp file the kill interrupted never carries a final name
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{name} is not whole JSON: {e}"));
    }
    // The tape of the phases that finished is there, under its partial name (issue #25): a
    // header and whole lines.
    let partial = std::fs::read_to_string(folder.join(".world.tape.jsonl.partial"))
        .expect("a killed run leaves its partial tape");
    let lines: Vec<serde_json::Value> = partial
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("a tape line is not whole: {e}"))
        })
        .collect();
    assert!(
        lines[0]["execution_id"].is_string() && lines.len() > 1,
        "{partial}"
    );
    assert!(
        !folder.join("world.tape.jsonl").exists(),
        "no final name for a killed run's tape"
    );
    let killed = folder.file_name().unwrap().to_string_lossy().to_string();
    std::thread::sleep(Duration::from_millis(1100)); // a new second: a new execution id
    let out = t.run(&[]);
    out.status(0);
    let json = out.json();
    assert_eq!(json["verdict"], "ADVANCE_TO_M5");
    assert_ne!(
        json["m4_execution_id"].as_str().unwrap(),
        format!("m4_{killed}"),
        "a new execution"
    );
}

#[test]
fn malformed_describe_services_answers_hold_m4b_cleanly() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(json!([{"service": "ecs", "operation": "DescribeServices", "kind": "malformed"}]));
    let out = t.run(&[]);
    assert_hold(&out, "M4B-B1", "M4.B");
    out.nowhere("SCRIPT-FAULT").nowhere("panicked");
}

#[test]
fn answers_slower_than_the_attempt_timeout_hold_in_bounded_time() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    // Every IAM answer takes 8 s, past the 5 s attempt timeout: retried, then given up inside
    // the 15 s call timeout.
    proxy.rules(json!([{"service": "iam", "kind": "slow", "delay_ms": 8000}]));
    let started = Instant::now();
    let out = t.run(&[]);
    assert_hold(&out, "M4C-B1", "M4.C");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let reason = first_reason(&out);
    assert!(
        reason.to_lowercase().contains("timeout") || reason.contains("timed out"),
        "{reason}"
    );
}

#[test]
fn connection_resets_a_retry_rides_out_still_advance() {
    let t = Tenant::new();
    let proxy = FaultProxy::start();
    through(&t, &proxy);
    proxy.rules(
        json!([{"service": "*", "kind": "reset", "probability": 0.2, "first_attempt_only": true}]),
    );
    let out = t.run(&[]);
    out.status(0).nowhere("SCRIPT-FAULT");
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5");
    assert!(
        proxy.stats()["faults"].to_string().contains(":reset"),
        "resets were injected"
    );
}
