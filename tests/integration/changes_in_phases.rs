//! Every change to the world belongs to a phase (issue #29): a typed REPL line never starts a
//! service, also at a breakpoint inside M4.F; a plain script's update outside `run_phase` is
//! refused (exit 1, OUTSIDE_PHASE) and inside one it works and its phase's snapshot records it;
//! a rollback restores what ECS reported before the execution's first change, also a service
//! that was already running before the run.

use crate::harness::{
    assert_hold, block_on, clients, next_execution_second, Run, Tenant, M4_ENTRY,
};

fn set_desired(t: &Tenant, short: &str, count: i32) {
    block_on(
        clients()
            .ecs
            .update_service()
            .cluster(t.prefix())
            .service(t.service(short))
            .desired_count(count)
            .send(),
    )
    .unwrap();
}

#[test]
fn a_typed_repl_line_never_changes_the_world_before_or_inside_a_phase() {
    let t = Tenant::new();
    let f = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/m4/f_daemon_start.rhai"
    ))
    .unwrap();
    // The first statement of M4.F's body: the phase is running, nothing of it is started yet.
    let line = 1 + f
        .lines()
        .position(|l| l.trim().starts_with("let brought = bringup::bring_up("))
        .expect("M4.F brings its waves up");
    assert!(f
        .lines()
        .take(line - 1)
        .any(|l| l.starts_with("fn run(ctx) {")));
    let (cluster, ig, obs) = (t.prefix(), t.service("ig"), t.service("env-conformance"));
    let update = |svc: &str| {
        format!("ecs_update_services(\"{cluster}\", [\"{svc}\"], #{{ desired_count: 1 }})\n")
    };
    let read = |svc: &str| {
        format!(
            "print(`{svc} desired ${{ecs_describe_services(\"{cluster}\", [\"{svc}\"]).services[\"{svc}\"].desired_count}}`)\n"
        )
    };
    // Before M4.A: refused, and ECS still says 0. Then at a breakpoint inside M4.F, before its
    // first wave: a wave-4 service refused too; the runbook then brings everything up itself.
    let input = format!(
        "{}{}:break scripts/m4/f_daemon_start.rhai:{line}\n:continue\n{}{}:continue\n:quit\n",
        update(&ig),
        read(&ig),
        update(&obs),
        read(&obs)
    );
    let out = crate::harness::repl(&t, &input);
    out.status(0)
        .stdout_has("OUTSIDE_PHASE")
        .stdout_has(
            "refused: `ecs_update_services` changes the world, and a typed REPL line never does",
        )
        .stdout_has("(the runbook is stopped inside M4.F)")
        .stdout_has(&format!("{ig} desired 0"))
        .stdout_has(&format!("{obs} desired 0"))
        .stdout_has("runbook finished: ADVANCE_TO_M5, 0 blocker(s)");
    assert_eq!(
        out.stdout.matches("OUTSIDE_PHASE").count(),
        2,
        "{}",
        out.stdout
    );
}

#[test]
fn a_plain_script_changes_the_world_only_inside_a_phase_which_records_it() {
    let t = Tenant::new();
    let (cluster, ig) = (t.prefix(), t.service("ig"));
    let outside = t.path("outside.rhai");
    std::fs::write(
        &outside,
        format!(
            "{M4_ENTRY}ecs_update_service(\"{cluster}\", \"{ig}\", #{{ desired_count: 1 }});\nprint(\"not reached\");\n"
        ),
    )
    .unwrap();
    let out = Run::new()
        .args(["run"])
        .arg(&outside)
        .args(["--env"])
        .arg(t.path("local.toml"))
        .run();
    out.status(1)
        .stderr_has("OUTSIDE_PHASE")
        .stderr_has("changes the world outside a running phase")
        .stderr_has("run_phase");
    assert!(!out.stdout.contains("not reached"), "{}", out.stdout);
    assert_eq!(t.desired_counts(), vec![0, 0, 0, 0], "nothing was started");

    // Inside run_phase it is done, and the phase's snapshot records it without the script
    // putting it there.
    let inside = t.path("inside.rhai");
    std::fs::write(
        &inside,
        format!(
            "{M4_ENTRY}let r = run_phase(\"M4.F\", || {{\n  ecs_update_service(\"{cluster}\", \"{ig}\", #{{ desired_count: 1 }});\n  \
             emit_snapshot(\"m4_f_daemon_start_snapshot\", #{{ overall_pass: true }});\n}});\n\
             print(`changed ${{changed_services().map(|c| `${{c.service}} ${{c.previous_desired_count}}->${{c.desired_count}}`)}}`);\n\
             verdict(#{{ started: r.status == \"PASS\" }}, \"ADVANCE\", \"HOLD\");\n"
        ),
    )
    .unwrap();
    next_execution_second();
    let out = Run::new()
        .args(["run"])
        .arg(&inside)
        .args(["--env"])
        .arg(t.path("local.toml"))
        .args(["--output", "json"])
        .run();
    out.status(0)
        .stderr_has(&format!("changed [\"{ig} 0->1\"]"));
    assert_eq!(t.desired_counts(), vec![1, 0, 0, 0]);
    let f = t.artifact(&out, "m4_f_daemon_start_snapshot");
    let changes = f["service_changes"]
        .as_array()
        .expect("recorded by the host");
    assert_eq!(changes.len(), 1, "{f}");
    let c = &changes[0];
    assert_eq!(c["service"], ig.as_str());
    assert_eq!(c["phase"], "M4.F");
    assert_eq!(c["asked_desired_count"], 1);
    assert_eq!(c["before"]["desired_count"], 0, "{c}");
    assert_eq!(c["after"]["desired_count"], 1, "{c}");
    assert!(c["at"].as_str().unwrap().ends_with('Z'), "{c}");
}

#[test]
fn a_rollback_restores_what_ecs_had_before_the_execution_also_a_service_already_running() {
    let t = Tenant::new();
    // rtdl-ofp was already running before the run (started by its owner, not by M4).
    set_desired(&t, "rtdl-ofp", 1);
    t.fault("case-ls", "crash_loop", None);
    // The "stable" gate: the case wave never soaks, so wave 4 never starts.
    let held = t.run_with(&["soak_ms=1500", "wave_gate=stable"], &[]);
    assert_hold(&held, "M4F-B3", "M4.F");
    let f = t.artifact(&held, "m4_f_daemon_start_snapshot");
    let changed = f["changed_services"].as_array().unwrap();
    let previous = |short: &str| {
        changed
            .iter()
            .find(|c| c["service"] == t.service(short).as_str())
            .map(|c| c["previous_desired_count"].clone())
    };
    assert_eq!(previous("ig"), Some(0.into()), "{f}");
    assert_eq!(
        previous("rtdl-ofp"),
        Some(1.into()),
        "recorded as it was: {f}"
    );
    assert_eq!(previous("env-conformance"), None, "wave 4 never started");
    assert!(
        f["service_changes"].as_array().unwrap().len() >= changed.len(),
        "every change is in the phase's snapshot"
    );
    let execution = held.json()["m4_execution_id"].as_str().unwrap().to_owned();
    let back = t.rollback(&execution);
    back.status(0);
    assert_eq!(back.json()["verdict"], "ROLLED_BACK");
    assert_eq!(
        t.desired_counts(),
        vec![0, 1, 0, 0],
        "ingress and case back to 0; rtdl-ofp back to the 1 it had"
    );
}
