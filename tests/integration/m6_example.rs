//! The guide's third worked example (issue #31): examples/m6_reporter, a milestone of M5's shape
//! written on the stdlib steps, run after a real M4 and M5: to ADVANCE_TO_M7 with the reporter's
//! summary in the oracle bucket, and to HOLD_M6 when the reporter exits 0 and writes nothing.

use crate::harness::{control, next_execution_second, Outcome, Run, Tenant, M5_SCRIPT};

const M6_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/m6_reporter/main.rhai"
);

fn m6(t: &Tenant, m5: &str) -> Outcome {
    next_execution_second();
    Run::new()
        .args(["run", M6_SCRIPT, "--env"])
        .arg(t.path("local-m6.toml"))
        .args(["--output", "json", "--set", &format!("m5_execution={m5}")])
        .args(["--set", "daemon_check_ms=10000"])
        .run()
}

fn advanced(out: &Outcome, verdict: &str) -> String {
    out.status(0);
    assert_eq!(out.json()["verdict"], verdict, "{}", out.stdout);
    out.json()["execution_id"].as_str().unwrap().to_owned()
}

#[test]
fn the_m6_example_advances_after_m5_and_holds_when_the_reporter_writes_nothing() {
    let t = Tenant::new();
    let m4 = advanced(&t.run(&[]), "ADVANCE_TO_M5");
    next_execution_second();
    let m5 = advanced(
        &Run::new()
            .args(["run", M5_SCRIPT, "--env"])
            .arg(t.path("local-m5.toml"))
            .args(["--output", "json", "--set", &format!("m4_execution={m4}")])
            .args(["--set", "daemon_check_ms=10000"])
            .run(),
        "ADVANCE_TO_M6",
    );
    let reporter = |behaviour: serde_json::Value| {
        let mut body = behaviour;
        body["family"] = format!("{}-reporter", t.prefix()).into();
        control("oneshot", &body);
    };

    // The reporter exits 0 and writes nothing: its phase holds, the verdict says HOLD_M6, no
    // handoff is published.
    reporter(serde_json::json!({"output": false}));
    let out = m6(&t, &m5);
    crate::harness::assert_runbook_hold(&out, ("HOLD_M6", "M6.E"), "M6D-B3", "M6.D");
    assert!(out.json()["artifacts"]["m7_handoff_pack"].is_null());

    // The near miss: the same reporter writing its summary advances, the pack naming it.
    reporter(serde_json::json!({}));
    let out = m6(&t, &m5);
    advanced(&out, "ADVANCE_TO_M7");
    let json = out.json();
    for name in [
        "m6_a_entry_snapshot",
        "m6_b_launch_contract_snapshot",
        "m6_c_no_parallel_snapshot",
        "m6_d_reporter_snapshot",
        "m6_e_verdict_snapshot",
        "m7_handoff_pack",
    ] {
        assert!(
            json["artifacts"][name]["uri"]
                .as_str()
                .unwrap()
                .starts_with("s3://"),
            "{name}: {json}"
        );
    }
    let d = t.artifact(&out, "m6_d_reporter_snapshot");
    let run_id = json["platform_run_id"].as_str().unwrap();
    assert_eq!(
        d["outputs_found"],
        serde_json::json!([format!("oracle/{run_id}/reporter/summary.json")]),
        "{d}"
    );
    // M4's daemons, named by the M5 handoff pack as read and hashed, were checked still steady.
    let a = t.artifact(&out, "m6_a_entry_snapshot");
    assert_eq!(a["m4_daemons"].as_array().unwrap().len(), 13, "{a}");
    assert_eq!(a["m5_execution_id"], m5.as_str());
}

/// The lines of the `.rhai` files in `dir`, trimmed, without blank and comment-only lines.
fn code_lines(dir: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            let l = line.trim();
            if !l.is_empty() && !l.starts_with("//") {
                out.push((name.clone(), i + 1, l.to_owned()));
            }
        }
    }
    out
}

/// What the next author can be held to (issue #31): the M6 example, contract included, is at most
/// 120 lines, and no block of six code lines is shared with M5 (what `duplicates` cannot see, as
/// it does not read Rhai): the steps are reused from the stdlib, not copied.
#[test]
fn the_m6_example_is_short_and_copies_no_block_of_m5() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/examples/m6_reporter");
    let total: usize = ["main.rhai", "contract.rhai"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(format!("{example}/{f}"))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert!(total <= 120, "the M6 example is {total} lines");
    const BLOCK: usize = 6;
    let m5 = code_lines(&format!("{root}/scripts/m5"));
    let m5_blocks: std::collections::HashSet<Vec<&str>> = m5
        .windows(BLOCK)
        .map(|w| w.iter().map(|(_, _, l)| l.as_str()).collect())
        .collect();
    let shared = |lines: &[(String, usize, String)]| -> Vec<String> {
        lines
            .windows(BLOCK)
            .filter(|w| {
                m5_blocks.contains(&w.iter().map(|(_, _, l)| l.as_str()).collect::<Vec<_>>())
            })
            .map(|w| format!("{}:{}", w[0].0, w[0].1))
            .collect()
    };
    let m6 = code_lines(&example);
    assert_eq!(
        shared(&m6),
        Vec::<String>::new(),
        "blocks of {BLOCK} lines copied from M5"
    );
    // The check finds a copy: the example with six of M5's lines pasted into it.
    let mut pasted = m6.clone();
    pasted.extend(m5[10..10 + BLOCK].iter().cloned());
    assert_eq!(shared(&pasted).len(), 1);
}
