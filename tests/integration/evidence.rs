//! Evidence: atomic local mirror, write-once durable object verified by read-back hash, canonical
//! JSON, refusal of secrets (as values and as plaintext copies), plan mode.

use crate::harness::{Env, PLATFORM_RUN_ID};
use sha2::Digest;

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn snapshot_lands_locally_and_durably_with_matching_hash() {
    let env = Env::new();
    let out = env
        .run("emit_snapshot(\"m4_a_handle_closure_snapshot\", #{ z_last: 1, a_first: [true], overall_pass: true, blockers: [] });")
        .args(["--output", "json"])
        .env("M4HOST_RUN_STAMP", "20260214T121004Z")
        .run();
    out.status(0);
    let json = out.json();
    let record = &json["artifacts"]["m4_a_handle_closure_snapshot"];
    let key = "evidence/dev_min/run_control/m4_20260214T121004Z/m4_a_handle_closure_snapshot.json";
    assert_eq!(record["uri"], format!("s3://{}/{key}", env.bucket));
    let local =
        std::fs::read(env.path("runs/20260214T121004Z/m4_a_handle_closure_snapshot.json")).unwrap();
    let durable = env.s3_get(key);
    assert_eq!(local, durable);
    assert_eq!(record["sha256"], sha(&durable));
    let text = String::from_utf8(local).unwrap();
    assert!(
        text.find("a_first").unwrap() < text.find("z_last").unwrap(),
        "keys sorted: {text}"
    );
    assert_eq!(
        json["api_calls"]["s3"].as_u64().unwrap(),
        2,
        "PUT If-None-Match, then GET (no HEAD: the conditional PUT refuses an overwrite): {json}"
    );
}

#[test]
fn run_scoped_artifact_goes_under_the_platform_run() {
    let env = Env::new();
    env.run(&format!("{}emit_snapshot(\"daemons_ready\", #{{ packs: [] }}, #{{ scope: \"run\", path: \"operate/daemons_ready\", write_code: \"M4H-B2\" }});", crate::harness::M4_ENTRY))
        .run()
        .status(0);
    assert_eq!(
        env.s3_keys(),
        vec![format!(
            "evidence/runs/{PLATFORM_RUN_ID}/operate/daemons_ready.json"
        )]
    );
}

#[test]
fn second_run_never_overwrites_durable_evidence() {
    let env = Env::new();
    let script = "emit_snapshot(\"m4_b_service_map_snapshot\", #{ run: arg(\"n\") });";
    env.run(script)
        .args(["--set", "n=first"])
        .env("M4HOST_RUN_STAMP", "20260214T121004Z")
        .run()
        .status(0);
    let key = "evidence/dev_min/run_control/m4_20260214T121004Z/m4_b_service_map_snapshot.json";
    let before = env.s3_get(key);
    // Same execution id, fresh local mirror: only the durable write-once guard stands in the way.
    let other = tempfile::tempdir().unwrap();
    let out = env
        .run(&format!("run_phase(\"M4.B\", || {{ {script} }});"))
        .args(["--set", "n=second", "--output", "json", "--evidence-dir"])
        .arg(other.path())
        .env("M4HOST_RUN_STAMP", "20260214T121004Z")
        .run();
    out.status(3);
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4B-B3");
    assert!(
        json["blockers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("write-once"),
        "{json}"
    );
    assert_eq!(
        env.s3_get(key),
        before,
        "the first run's evidence is untouched"
    );
}

#[test]
fn same_name_twice_in_one_run_is_refused_locally() {
    let env = Env::new();
    let out = env
        .run("emit_snapshot(\"x_snapshot\", #{ n: 1 });\nemit_snapshot(\"x_snapshot\", #{ n: 2 });")
        .args(["--output", "json"])
        .run();
    out.status(3);
    let reason = out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("never overwritten"), "{reason}");
}

#[test]
fn missing_evidence_bucket_is_a_write_blocker() {
    let env = Env::files_only(); // bucket never created
    let out = env
        .run("run_phase(\"M4.A\", || { emit_snapshot(\"m4_a_handle_closure_snapshot\", #{ n: 1 }); });\nverdict(#{a: true}, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .args(["--output", "json"])
        .run();
    out.status(3);
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4A-B3");
    assert!(
        json["blockers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("NoSuchBucket"),
        "{json}"
    );
    assert_eq!(json["verdict"], "HOLD_M4");
}

#[test]
fn secret_value_in_payload_is_refused_and_nothing_written() {
    let env = Env::new();
    let out = env
        .run("run_phase(\"M4.E\", || {\n  let s = resolve_handle(\"API_SECRET\");\n  emit_snapshot(\"m4_e_launch_contract_snapshot\", #{ env: #{ key: s } }, #{ secret_code: \"M4E-B3\", write_code: \"M4E-B4\" });\n});\nverdict(#{a: true}, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .args(["--output", "json"])
        .run();
    out.status(3).nowhere("sekret-value-123");
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4E-B3");
    assert!(json["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("payload.env.key holds a Secret"));
    assert!(env.local_evidence().is_empty());
    assert!(env.s3_keys().is_empty());
}

#[test]
fn plaintext_copy_of_a_secret_is_refused() {
    let env = Env::new();
    // The plaintext reaches the payload by another road (here: a --set value an operator pasted).
    let out = env
        .run("let s = resolve_handle(\"API_SECRET\");\nrun_phase(\"M4.J\", || { emit_snapshot(\"m5_handoff_pack\", #{ note: `copied ${arg(\"pasted\")}` }); });\nverdict(#{a: true}, \"ADVANCE_TO_M5\", \"HOLD_M4\");")
        .args(["--set", "pasted=sekret-value-123", "--output", "json"])
        .run();
    out.status(3).nowhere("sekret-value-123");
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4J-B3");
    assert!(json["blockers"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("API_SECRET"));
    assert!(env.s3_keys().is_empty());
}

#[test]
fn plan_mode_writes_local_mirror_only() {
    let env = Env::new();
    let out = env
        .run("let a = emit_snapshot(\"m4_f_daemon_start_snapshot\", #{ n: 1 });\nprint(a.durable);\nprint(plan_mode());")
        .args(["--plan", "--output", "json"])
        .run();
    out.status(0);
    assert!(env.s3_keys().is_empty(), "plan mode never writes S3");
    let files = env.local_evidence();
    assert_eq!(files.len(), 1);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(doc["plan"], true);
    let json = out.json();
    assert!(json["would_do"][0]
        .as_str()
        .unwrap()
        .starts_with("would write s3://"));
}

#[test]
fn read_snapshot_reads_back_durable_copy() {
    let env = Env::new();
    env.run("emit_snapshot(\"m4_g_consumer_uniqueness_snapshot\", #{ overall_pass: true, n: 7 });\nlet back = read_snapshot(\"m4_g_consumer_uniqueness_snapshot\");\nprint(`n=${back.n} pass=${back.overall_pass}`);\ntry { read_snapshot(\"never_written\") } catch (e) { print(e.code) }")
        .run()
        .status(0)
        .stdout_has("n=7 pass=true")
        .stdout_has("SNAPSHOT_MISSING");
}

#[test]
fn bad_artifact_names_are_refused() {
    let env = Env::new();
    env.run("try { emit_snapshot(\"../escape\", #{}) } catch (e) { print(e.code) }\ntry { emit_snapshot(\"x\", #{}, #{ scope: \"run\", path: \"../x\" }) } catch (e) { print(e.code) }")
        .run()
        .status(0)
        .stdout_has("BAD_ARTIFACT_NAME")
        .stdout_has("BAD_ARTIFACT_PATH");
}
