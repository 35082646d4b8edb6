//! Entry preconditions, M4's from M3 as the runbook declares them: reported to the script for
//! M4A-B1, and the platform run id is released only when they hold. The environment files here
//! still name the artifacts `[inputs] m3_verdict`/`m3_handoff`, as M4's first ones did: they keep
//! working. Other milestones declare other entries (`another_milestone_declares_its_entry`).

use crate::harness::{aws, block_on, Env, M4_ENTRY, PLATFORM_RUN_ID};

/// M4's entry, declared as scripts/m4/contract.rhai declares it, then judged.
const PROBE_BODY: &str = "let m3 = entry_preconditions();\nprint(`sound=${m3.sound}`);\nfor p in m3.problems { print(`problem: ${p}`) }\nprint(`run=${platform_run_id()}`);";

fn probe() -> String {
    format!("{M4_ENTRY}{PROBE_BODY}")
}

fn expect_hold(env: &Env, problem: &str) {
    let out = env.run(&probe()).args(["--output", "json"]).run();
    out.status(3)
        .stderr_has("sound=false")
        .stderr_has(problem)
        .nowhere("run=");
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4A-B1");
    assert!(json["platform_run_id"].is_null());
}

#[test]
fn sound_handoff_releases_run_id() {
    let env = Env::files_only();
    let out = env.run(&probe()).args(["--output", "json"]).run();
    out.status(0)
        .stderr_has("sound=true")
        .stderr_has(&format!("run={PLATFORM_RUN_ID}"));
    assert_eq!(out.json()["platform_run_id"], PLATFORM_RUN_ID);
}

#[test]
fn m3_verdict_not_advance() {
    let env = Env::files_only();
    env.write(
        "m3/m3_f_verdict_snapshot.json",
        &format!(r#"{{"verdict": "HOLD_M3", "platform_run_id": "{PLATFORM_RUN_ID}", "m3_execution_id": "m3_20260213T221631Z"}}"#),
    );
    expect_hold(&env, "M3 verdict is `HOLD_M3`, not `ADVANCE_TO_M4`");
}

#[test]
fn handoff_missing() {
    let env = Env::files_only();
    std::fs::remove_file(env.path("m3/m4_handoff_pack.json")).unwrap();
    expect_hold(&env, "m4_handoff_pack.json: cannot read");
}

#[test]
fn handoff_unparseable() {
    let env = Env::files_only();
    env.write("m3/m4_handoff_pack.json", "{ not json");
    expect_hold(&env, "not valid JSON");
}

#[test]
fn artifacts_disagree_on_run_id() {
    let env = Env::files_only();
    env.write(
        "m3/m4_handoff_pack.json",
        r#"{"platform_run_id": "platform_other", "m3_execution_id": "m3_20260213T221631Z", "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID"}"#,
    );
    expect_hold(&env, "disagree on `platform_run_id`");
}

#[test]
fn handoff_with_secret_content() {
    let env = Env::files_only();
    env.write(
        "m3/m4_handoff_pack.json",
        &format!(
            r#"{{"platform_run_id": "{PLATFORM_RUN_ID}", "m3_execution_id": "m3_20260213T221631Z",
                "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID", "db_password": "hunter2"}}"#
        ),
    );
    let out = env.run(&probe()).run();
    out.status(3)
        .stdout_has(
            "$.db_password holds a secret-named variable or key with a value (rule secret_name)",
        )
        .nowhere("hunter2");
}

#[test]
fn handoff_from_s3_uri() {
    let env = Env::new();
    let key = "evidence/dev_min/run_control/m3_20260213T221631Z/m4_handoff_pack.json";
    let body = std::fs::read(env.path("m3/m4_handoff_pack.json")).unwrap();
    block_on(
        aws()
            .s3
            .put_object()
            .bucket(&env.bucket)
            .key(key)
            .body(body.into())
            .send(),
    )
    .unwrap();
    let text = std::fs::read_to_string(env.path("m4host.toml"))
        .unwrap()
        .replace(
            "\"m3/m4_handoff_pack.json\"",
            &format!("\"s3://{}/{key}\"", env.bucket),
        );
    env.write("m4host.toml", &text);
    env.run(&probe())
        .run()
        .status(0)
        .stdout_has(&format!("run={PLATFORM_RUN_ID}"));
}

#[test]
fn handoff_s3_object_missing() {
    let env = Env::new();
    let text = std::fs::read_to_string(env.path("m4host.toml"))
        .unwrap()
        .replace(
            "\"m3/m4_handoff_pack.json\"",
            &format!("\"s3://{}/nope.json\"", env.bucket),
        );
    env.write("m4host.toml", &text);
    expect_hold(&env, "NoSuchKey");
}

/// The general form: the environment file says where the artifacts are (`[entry]`), the runbook
/// declares what it requires of them. A runbook that requires another verdict holds under its own
/// blocker code; one that declares nothing has no run scope; both forms at once are refused.
#[test]
fn another_milestone_declares_its_entry() {
    let env = Env::files_only();
    let legacy = std::fs::read_to_string(env.path("m4host.toml")).unwrap();
    let general = legacy
        .replace("m3_verdict = \"m3/m3_f_verdict_snapshot.json\"\n", "")
        .replace("m3_handoff = \"m3/m4_handoff_pack.json\"\n", "")
        + "\n[entry]\nverdict = \"m3/m3_f_verdict_snapshot.json\"\nhandoff = \"m3/m4_handoff_pack.json\"\n";
    assert_ne!(general, legacy);
    env.write("m4host.toml", &general);
    env.run(&probe())
        .run()
        .status(0)
        .stdout_has("sound=true")
        .stdout_has(&format!("run={PLATFORM_RUN_ID}"));

    let m9 = "declare_entry(#{ from: \"M8\", handoff_name: \"M9 handoff pack\", required_verdict: \"ADVANCE_TO_M9\", \
              execution_field: \"m3_execution_id\", agree: [\"platform_run_id\"], \
              env_key_field: \"required_platform_run_id_env_key\", blocker: \"M9A-B1\" });\n\
              print(`run=${platform_run_id()}`);";
    let out = env.run(m9).args(["--output", "json"]).run();
    out.status(3).nowhere("run=");
    assert_eq!(out.json()["blockers"][0]["code"], "M9A-B1");
    let reason = out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with("M8 handoff preconditions do not hold")
            && reason.contains("M8 verdict is `ADVANCE_TO_M4`, not `ADVANCE_TO_M9`"),
        "{reason}"
    );

    // No declaration: a catchable NO_ENTRY, never a run id.
    env.run("try { platform_run_id(); print(\"run=\"); } catch (e) { print(`code=${e.code}`) }")
        .run()
        .status(0)
        .stdout_has("code=NO_ENTRY")
        .nowhere("run=");

    // A second, different declaration is refused.
    env.run(&format!(
        "{}\ntry {{ {m9} }} catch (e) {{ print(`code=${{e.code}}`) }}",
        &probe()
    ))
    .run()
    .stdout_has("code=ENTRY_DECLARED");

    // The artifacts given twice: a configuration error that says what to keep.
    env.write(
        "m4host.toml",
        &format!("{legacy}\n[entry]\nverdict = \"a\"\nhandoff = \"b\"\n"),
    );
    env.run(&probe())
        .run()
        .status(2)
        .stderr_has("the entry artifacts are given twice");
}
