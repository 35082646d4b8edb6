//! Servers beyond AWS that die in the middle of a run (issue 12): a private tansu stopped while
//! M4.G reads consumer groups, and a private PostgreSQL stopped just before M4.D probes it. The
//! run is held at a known point by the fault proxy's `pause` rule (a call the phase before waits
//! for: M4.C's IAM reads, M4.F's log scan — not a snapshot's PUT, which no phase waits for), the
//! server is stopped by its PID, and the run is let go: it must HOLD with
//! that phase's code and a reason that names the server, inside the probe's budget, and act no
//! further. No sleep decides the order; the pause does.

use crate::harness::{
    assert_hold, spawn_run_with, through, FaultProxy, Outcome, PrivateKafka, PrivatePostgres,
    Tenant,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Runs M4 through a proxy that holds the calls `pause` selects (a fault-proxy rule's `service`
/// and `operation`); when the run stands there, `stop` runs, and the run is let go. Returns what
/// the run showed and how long it took after the stop.
fn stop_at(t: &Tenant, pause: (&str, &str), stop: impl FnOnce()) -> (Outcome, Duration) {
    let proxy = FaultProxy::start();
    through(t, &proxy);
    proxy.rules(json!([{"service": pause.0, "operation": pause.1, "kind": "pause"}]));
    let child = spawn_run_with(t, &["soak_ms=300", "stabilization_interval_ms=200"]);
    proxy.wait_paused(Duration::from_secs(120));
    stop();
    let stopped = Instant::now();
    proxy.release();
    let out = Outcome::of(child.wait_with_output().unwrap());
    (out, stopped.elapsed())
}

fn blocker_reasons(out: &Outcome, code: &str) -> Vec<String> {
    out.json()["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["code"] == code)
        .map(|b| b["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn kafka_that_dies_before_m4g_reads_consumer_groups_holds_m4g_within_the_budget() {
    let mut kafka = PrivateKafka::start();
    let address = kafka.address.clone();
    let t = Tenant::with_replacements(&[("127.0.0.1:9092", &address)]);
    let (out, after) = stop_at(&t, ("logs", "FilterLogEvents"), || kafka.stop());
    assert_hold(&out, "M4G-B1", "M4.G");
    let reasons = blocker_reasons(&out, "M4G-B1");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("consumer groups could not be read") && r.contains(&address)),
        "{reasons:?}"
    );
    // The Kafka calls are bounded by the attempt timeout (5 s in dev_min); the rest of the run
    // after the stop is M4.G's posture wait, M4.H/M4.I's publication.
    assert!(
        after < Duration::from_secs(45),
        "{after:?} after the broker died"
    );
}

#[test]
fn postgres_that_dies_before_m4d_probes_it_holds_m4d_within_the_budget() {
    let mut db = PrivatePostgres::start();
    let port = db.port.to_string();
    let t = Tenant::with_replacements(&[("port = 5432", &format!("port = {port}"))]);
    let (out, after) = stop_at(&t, ("iam", "GetRole"), || db.stop());
    assert_hold(&out, "M4D-B1", "M4.D");
    let reasons = blocker_reasons(&out, "M4D-B1");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("database:") && r.contains(&port)),
        "{reasons:?}"
    );
    assert!(
        after < Duration::from_secs(45),
        "{after:?} after the database stopped"
    );
}
