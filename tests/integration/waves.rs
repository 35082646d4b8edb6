//! Bring-up at the speed ECS allows (issue #23): with `wave_gate = "up"` (the default) a wave
//! starts once every service of the one before is up, every soak runs together after the last
//! wave, and pack order holds by ECS's own timestamps; `"stable"` keeps each wave's soak first.
//! Both advance; both holding on an earlier wave's daemon dying while a later wave comes up is
//! `ecs_truth::hold_earlier_wave_daemon_that_dies_while_a_later_wave_settles`.

use crate::harness::{block_on, clients, Tenant};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

fn time(t: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.to_millis().unwrap()).unwrap()
}

fn rfc3339(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

/// By ECS's own word: when each service's PRIMARY deployment was last updated (a desired-count
/// change updates it: Deployment.updatedAt, ECS API reference), and when its first task started
/// RUNNING.
fn ecs_times(t: &Tenant, services: &[String]) -> BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)> {
    let c = clients();
    block_on(async {
        let mut out = BTreeMap::new();
        for chunk in services.chunks(10) {
            let described = c
                .ecs
                .describe_services()
                .cluster(t.prefix())
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            for s in described.services() {
                let name = s.service_name().unwrap().to_owned();
                let primary = s
                    .deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
                    .unwrap();
                let arns = c
                    .ecs
                    .list_tasks()
                    .cluster(t.prefix())
                    .service_name(&name)
                    .send()
                    .await
                    .unwrap()
                    .task_arns()
                    .to_vec();
                let tasks = c
                    .ecs
                    .describe_tasks()
                    .cluster(t.prefix())
                    .set_tasks(Some(arns))
                    .send()
                    .await
                    .unwrap();
                let first_started = tasks
                    .tasks()
                    .iter()
                    .filter_map(|t| t.started_at())
                    .map(time)
                    .min()
                    .unwrap();
                out.insert(name, (time(primary.updated_at().unwrap()), first_started));
            }
        }
        out
    })
}

#[test]
fn the_up_gate_keeps_pack_order_by_ecs_timestamps_and_soaks_once() {
    let t = Tenant::new();
    let out = t.run_with(&["soak_ms=1500"], &[]);
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5", "{}", out.stderr);
    let f = t.artifact(&out, "m4_f_daemon_start_snapshot");
    assert_eq!(f["wave_gate"], "up");
    assert_eq!(f["waves"].as_array().unwrap().len(), 4, "{f}");
    let rows = f["services"].as_array().unwrap();
    let names: Vec<String> = rows
        .iter()
        .map(|r| r["service"].as_str().unwrap().to_owned())
        .collect();
    let times = ecs_times(&t, &names);
    for r in rows {
        assert!(r["up_at"].is_string() && r["stable_at"].is_string(), "{r}");
        assert_eq!(r["outcome"], "stable", "{r}");
    }
    // Each wave says, to the millisecond, when its updates left: after every service of the
    // wave before it was seen up (the host's clock on both sides).
    let waves = f["waves"].as_array().unwrap();
    for (before, next) in waves.iter().zip(&waves[1..]) {
        let sent = next["updates_sent_at"].as_str().unwrap();
        assert!(sent.contains('.'), "to the millisecond: {sent}");
        for r in rows.iter().filter(|r| r["wave"] == before["wave"]) {
            let up = r["up_at"].as_str().unwrap();
            assert!(
                rfc3339(sent) >= rfc3339(up),
                "wave {} sent at {sent} before {} was up at {up}",
                next["wave"],
                r["service"]
            );
        }
    }
    // No service of wave N+1 was updated before every service of wave N was RUNNING.
    for wave in 1..4 {
        let of = |w: i64| -> Vec<&str> {
            rows.iter()
                .filter(|r| r["wave"] == w)
                .map(|r| r["service"].as_str().unwrap())
                .collect()
        };
        let last_running = of(wave).iter().map(|s| times[*s].1).max().unwrap();
        let next_updated = of(wave + 1).iter().map(|s| times[*s].0).min().unwrap();
        assert!(
            next_updated >= last_running,
            "wave {} updated at {next_updated} before wave {wave} was running at {last_running}",
            wave + 1
        );
    }
}

#[test]
fn the_stable_gate_still_advances_and_soaks_each_wave() {
    let t = Tenant::new();
    let out = t.run_with(&["soak_ms=500", "wave_gate=stable"], &[]);
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5", "{}", out.stderr);
    let f = t.artifact(&out, "m4_f_daemon_start_snapshot");
    assert_eq!(f["wave_gate"], "stable");
    for r in f["services"].as_array().unwrap() {
        assert!(
            r["stable_at"].is_string() && r.get("up_at").is_none(),
            "{r}"
        );
    }
}

/// The guard of a wave reads its services again when the update does not follow at once the poll
/// that read them (issue #23: the next pack is read by the poll that finds this one up). Stopped
/// at a breakpoint before wave 2 starts, a wave-2 service is pointed at a task definition without
/// the run scope: the read wave 1's last poll made says it was sound, so a guard that used it
/// would start a daemon outside the run scope. On :continue the guard reads afresh and refuses
/// (M4F-B1, RUN_SCOPE_MISMATCH naming the service) and nothing of wave 2 starts. The near miss,
/// the same run without a pause, is every run that advances (the read rides, see
/// tests/bench/m4_latency.sh).
#[test]
fn a_pause_before_the_next_wave_makes_its_guard_read_again() {
    use crate::harness::{Tmux, M4_SCRIPT};
    let t = Tenant::new();
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/bringup.rhai"))
        .unwrap();
    let line = 1 + lib
        .lines()
        .position(|l| l.contains("let rows_started = start_wave("))
        .expect("bring_up starts each wave");
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::repl(&t, dir.path(), M4_SCRIPT);
    tmux.wait_prompt_after("waiting before M4.A");
    tmux.keys(&format!(":break stdlib/bringup.rhai:{line}"));
    tmux.keys(":watch wave");
    tmux.keys(":continue");
    let stop = format!("bringup.rhai:{line}");
    let stops = |n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let seen = tmux.history().matches(&stop).count();
            if seen >= n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stopped {seen} time(s) at {stop}, not {n}:\n{}",
                tmux.history()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    stops(1); // before wave 1
    tmux.wait_prompt_after(&stop);
    tmux.keys(":continue");
    stops(2); // before wave 2: wave 1 is up, its last poll read wave 2
    tmux.wait_prompt_after(&stop);
    assert!(tmux.history().contains("wave = 2"), "{}", tmux.history());
    let ofp = t.service("rtdl-ofp");
    t.replace_task_definition("rtdl-ofp", &[("SERVICE_NAME", "rtdl-ofp")]);
    tmux.keys(":continue");
    tmux.wait_prompt_after("runbook finished");
    tmux.keys(":blockers");
    // The phase line already shows the code M4F-B1: wait for the blocker's own line.
    let history = tmux.wait_for_line(|l| l.starts_with("M4F-B1") && l.contains("RUN_SCOPE"));
    assert!(
        history.lines().any(|l| l.starts_with("M4F-B1")
            && l.contains("RUN_SCOPE_MISMATCH")
            && l.contains(&format!("refused to start `{ofp}`"))),
        "{history}"
    );
    tmux.keys(":quit");
    assert_eq!(
        t.desired_counts(),
        vec![1, 0, 0, 0],
        "wave 1 up; nothing of wave 2 started"
    );
}
