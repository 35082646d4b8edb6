//! Gates: a block cannot be swallowed (try/catch, modules, exit), phases attribute and contain
//! blockers, and only an explicit positive verdict ends a runbook with exit 0.

use crate::harness::Env;

#[test]
fn block_inside_try_catch_still_holds() {
    let env = Env::files_only();
    let out = env
        .run("try { block(\"M4D-B1\", \"kafka unreachable\"); } catch (e) { print(\"swallowed\"); }\nprint(\"after\");")
        .args(["--output", "json"])
        .run();
    out.status(3).nowhere("swallowed").nowhere("after");
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4D-B1");
    assert_eq!(json["blockers"][0]["phase"], "M4.D");
    assert_eq!(json["blockers"][0]["reason"], "kafka unreachable");
}

#[test]
fn block_in_function_inside_try_still_holds() {
    let env = Env::files_only();
    env.run("fn check() { block(\"M4C-B1\", \"role missing\") }\ntry { check() } catch { print(\"swallowed\") }")
        .run()
        .status(3)
        .nowhere("swallowed")
        .stdout_has("M4C-B1");
}

#[test]
fn block_at_module_top_level_cannot_be_caught_around_import() {
    let env = Env::files_only();
    env.write(
        "scripts/lib/holds.rhai",
        "block(\"M4A-B2\", \"raised while importing\");\nfn f() { 1 }",
    );
    env.run(
        "try { import \"lib/holds\" as h; } catch (e) { print(\"swallowed\"); }\nprint(\"after\");",
    )
    .run()
    .status(3)
    .nowhere("swallowed")
    .nowhere("after")
    .stdout_has("M4A-B2");
}

#[test]
fn exit_after_block_still_exits_three() {
    let env = Env::files_only();
    env.run("run_phase(\"M4.B\", || { block(\"M4B-B1\", \"map drift\") });\nexit(0);")
        .run()
        .status(3);
}

#[test]
fn phase_contains_its_block_and_the_run_continues() {
    let env = Env::files_only();
    let out = env
        .run(
            r#"
let a = run_phase("M4.A", || { print("in A"); });
let d = run_phase("M4.D", || { block("M4D-B1", "db unreachable"); print("not reached"); });
print(`A=${a.status} D=${d.status} codes=${d.blockers}`);
let v = verdict(#{ handles_closed: a.status == "PASS", dependencies_reachable: d.status == "PASS" }, "ADVANCE_TO_M5", "HOLD_M4");
print(v.verdict);
"#,
        )
        .args(["--output", "json"])
        .run();
    out.status(3)
        .stderr_has("A=PASS D=HOLD codes=[\"M4D-B1\"]")
        .nowhere("not reached");
    let json = out.json();
    assert_eq!(json["verdict"], "HOLD_M4");
    assert_eq!(json["phases"][1]["status"], "HOLD");
    assert_eq!(json["blockers"][0]["phase"], "M4.D");
}

#[test]
fn phase_lines_are_printed() {
    let env = Env::files_only();
    env.run("run_phase(\"M4.A\", || {});\nrun_phase(\"M4.B\", || { block(\"M4B-B5\", \"TD_REPORTER in map\") });\nverdict(#{a: true}, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .run()
        .status(3)
        .stdout_has("M4.A   PASS")
        .stdout_has("M4.B   HOLD  M4B-B5")
        .stdout_has("verdict    HOLD_M4");
}

#[test]
fn uncaught_error_in_phase_is_a_script_fault_blocker() {
    let env = Env::files_only();
    let out = env
        .run("run_phase(\"M4.C\", || { let m = #{}; m.nope });\nverdict(#{ iam_binding_valid: true }, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .args(["--output", "json"])
        .run();
    out.status(3);
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "SCRIPT-FAULT");
    assert_eq!(json["blockers"][0]["phase"], "M4.C");
    assert_eq!(json["verdict"], "HOLD_M4");
}

#[test]
fn all_true_verdict_advances() {
    let env = Env::files_only();
    let out = env
        .run("run_phase(\"M4.A\", || {});\nverdict(#{ handles_closed: true, services_stable: true }, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .args(["--output", "json"])
        .run();
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5");
}

#[test]
fn false_or_non_boolean_predicate_holds() {
    let env = Env::files_only();
    env.run("verdict(#{ a: true, b: false }, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .run()
        .status(3);
    env.run("verdict(#{ a: \"true\" }, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .run()
        .status(3);
    env.run("verdict(#{}, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .run()
        .status(3);
}

#[test]
fn verdict_is_decided_once() {
    let env = Env::files_only();
    env.run("verdict(#{ a: false }, \"ADV\", \"HOLD\");\ntry { verdict(#{ a: true }, \"ADV\", \"HOLD\"); } catch (e) { print(e.code) }")
        .run()
        .status(3)
        .stdout_has("VERDICT_DECIDED");
}

#[test]
fn gates_without_verdict_is_no_answer() {
    let env = Env::files_only();
    env.run("run_phase(\"M4.A\", || {});")
        .run()
        .status(1)
        .stderr_has("ended without a verdict");
}

#[test]
fn exit_before_verdict_is_no_answer() {
    let env = Env::files_only();
    env.run("run_phase(\"M4.A\", || {});\nexit(0);\nverdict(#{a: true}, \"ADV\", \"HOLD\");")
        .run()
        .status(1);
}

#[test]
fn blocker_after_advance_verdict_holds() {
    let env = Env::files_only();
    env.run(
        "verdict(#{ a: true }, \"ADV\", \"HOLD\");\nblock(\"M4J-B4\", \"handoff write failed\");",
    )
    .run()
    .status(3);
}

#[test]
fn nested_and_repeated_phases_are_refused() {
    let env = Env::files_only();
    env.run("run_phase(\"M4.A\", || { try { run_phase(\"M4.B\", || {}) } catch (e) { print(e.code) } });\ntry { run_phase(\"M4.A\", || {}) } catch (e) { print(e.code) }\nverdict(#{a: true}, \"ADV\", \"HOLD\");")
        .run()
        .status(0)
        .stdout_has("NESTED_PHASE")
        .stdout_has("PHASE_REPEATED");
}

#[test]
fn imports_are_confined() {
    let env = Env::files_only();
    env.write("outside.rhai", "fn f() { 1 }");
    for path in ["../outside", "/etc/passwd", "lib/../../outside"] {
        env.run(&format!("import \"{path}\" as o;"))
            .run()
            .status(1)
            .stderr_has("no absolute paths, no `..`");
    }
}

#[test]
fn stdlib_imports_resolve() {
    let env = Env::files_only();
    env.run("import \"stdlib/gates\" as gates;\ngates::require(true, \"M4A-B2\", \"fine\");\nprint(\"ok\");")
        .run()
        .status(0)
        .stdout_has("ok");
    env.run("import \"stdlib/gates\" as gates;\ntry { gates::require(false, \"M4A-B2\", \"handles unresolved\"); } catch { print(\"swallowed\") }")
        .run()
        .status(3)
        .nowhere("swallowed")
        .stdout_has("M4A-B2");
}
