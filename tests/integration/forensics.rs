//! Why a daemon failed (issue #26): every stop counted against a daemon brings the last lines of
//! the task's own awslogs stream into the F snapshot, and the blocker quotes the last one —
//! redacted; a task that never started says it wrote no stream; a clean run reads no tail.

use crate::harness::{assert_hold, ssm_value, Tenant};
use serde_json::json;

fn first_reason(out: &crate::harness::Outcome) -> String {
    out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The log tail of the ingress daemon's first counted stop, wherever M4.F recorded it: in its
/// row (it failed in its own wave) or among the late failures (it was up, then died while a
/// later wave came up: which one depends on how fast the machine is).
fn ig_tail(t: &Tenant, out: &crate::harness::Outcome) -> serde_json::Value {
    let f = t.artifact(out, "m4_f_daemon_start_snapshot");
    let name = t.service("ig");
    let in_rows = f["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"] == name.as_str())
        .map(|r| r["stops"][0]["log_tail"].clone());
    let in_late = f["late_failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"] == name.as_str())
        .map(|r| r["stops"][0]["log_tail"].clone());
    in_rows
        .chain(in_late)
        .find(|tail| !tail.is_null())
        .unwrap_or_else(|| panic!("no log tail for {name} in {f}"))
}

#[test]
fn a_crashing_daemon_says_why_and_its_secret_is_redacted() {
    let t = Tenant::new();
    let secret = ssm_value(&format!("/fraud-platform/{}/db/password", t.name));
    t.fault_with(
        "ig",
        "crash_loop",
        None,
        json!({}),
        json!({"last_words": [
            format!("connecting with password {secret}"),
            "panic: lost partition lease for fp.bus.control.v1",
        ]}),
    );
    let out = t.run_with(&["soak_ms=1500"], &[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let why = first_reason(&out);
    assert!(
        why.contains("its last log line: \"panic: lost partition lease for fp.bus.control.v1\""),
        "{why}"
    );
    let tail = ig_tail(&t, &out);
    let lines: Vec<&str> = tail["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines: {tail}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("run scope REQUIRED_PLATFORM_RUN_ID=platform_")),
        "{tail}"
    );
    assert!(
        lines.iter().any(|l| l.contains("<redacted:")),
        "the planted secret is redacted: {tail}"
    );
    assert!(tail["streams"][0]
        .as_str()
        .unwrap()
        .contains(&format!("ecs/{}/", t.service("ig"))));
    out.nowhere(&secret);
    // The run's tape holds the daemon's log lines as it read them, redacted the same way.
    let tape = std::fs::read_to_string(out.json()["tape"]["path"].as_str().unwrap()).unwrap();
    assert!(
        tape.contains("panic: lost partition lease") && !tape.contains(&secret),
        "the tape holds the last words, never the planted secret"
    );
    for key in t.bucket_keys() {
        assert!(
            !String::from_utf8_lossy(&t.object(&key)).contains(&secret),
            "{key} holds the planted secret"
        );
    }
    // The report shows the lines under the failed lane, still redacted.
    // An operator's read leaves no tape and no execution folder of its own in the mirror.
    let root = std::path::Path::new(out.json()["tape"]["path"].as_str().unwrap())
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf();
    let folders = || std::fs::read_dir(&root).unwrap().count();
    let before = folders();
    let report = crate::harness::report(&t, out.json()["execution_id"].as_str().unwrap(), &[]);
    assert_eq!(
        folders(),
        before,
        "m4host report made a folder in {}",
        root.display()
    );
    report.nowhere(&secret);
    report
        .stdout_has(&format!(
            "why {} failed: its task's last log lines",
            t.service("ig")
        ))
        .stdout_has("| panic: lost partition lease for fp.bus.control.v1");

    // The REPL's :logs reads the service's current task, read-only and redacted; the cluster
    // comes from the registry's one ecs_cluster handle. A name with no task says so.
    let logs = crate::harness::repl(
        &t,
        &format!(":logs {}\n:logs no-such-service\n:quit\n", t.service("ig")),
    );
    logs.stdout_has(&format!("of {} (", t.service("ig")))
        .stdout_has("run scope REQUIRED_PLATFORM_RUN_ID=platform_")
        .stdout_has("service no-such-service has no task in cluster");
    logs.nowhere(&secret);
}

#[test]
fn an_oom_kill_and_a_task_that_never_started_say_so() {
    let t = Tenant::new();
    t.fault_with(
        "ig",
        "crash_loop",
        None,
        json!({}),
        json!({"exit_code": 137, "container_reason": "OutOfMemoryError: Container killed due to memory usage"}),
    );
    let out = t.run_with(&["soak_ms=1500"], &[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    assert!(
        first_reason(&out).contains("out of memory"),
        "{}",
        first_reason(&out)
    );

    let t = Tenant::new();
    t.fault_with(
        "ig",
        "fail_to_start",
        None,
        json!({}),
        json!({"stopped_reason": "CannotPullContainerError: pull image manifest has been retried 1 time(s)"}),
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4F-B3", "M4.F");
    let tail = ig_tail(&t, &out);
    assert!(
        tail["note"]
            .as_str()
            .unwrap_or_default()
            .contains("no log stream"),
        "{tail}"
    );
    assert_eq!(tail["lines"], json!([]));
}

/// A clean run reads no log tail: the only CloudWatch Logs calls are M4.D's probes and M4.F's
/// run-scope mismatch scan (16 on dev_min, as before).
#[test]
fn a_clean_run_reads_no_log_tail() {
    let t = Tenant::new();
    let out = t.run(&[]);
    out.status(0);
    assert_eq!(out.json()["api_calls"]["logs"], 16, "{}", out.json());
}
