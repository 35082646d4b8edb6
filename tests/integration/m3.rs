//! M3 -> M4 preconditions: reported to the script for M4A-B1, and the platform run id is released
//! only when they hold.

use crate::support::{aws, block_on, Env, PLATFORM_RUN_ID};

const PROBE: &str = "let m3 = m3_preconditions();\nprint(`sound=${m3.sound}`);\nfor p in m3.problems { print(`problem: ${p}`) }\nprint(`run=${platform_run_id()}`);";

fn expect_hold(env: &Env, problem: &str) {
    let out = env.run(PROBE).args(["--output", "json"]).run();
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
    let out = env.run(PROBE).args(["--output", "json"]).run();
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
    let out = env.run(PROBE).run();
    out.status(3)
        .stdout_has("$.db_password (secret-named key with a value)")
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
    env.run(PROBE)
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
