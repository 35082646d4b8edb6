//! Every run leaves a tape (issue #25, recording): every AWS exchange, probe report and clock
//! reading the run's decisions used, one JSON line each beside the execution's local evidence,
//! and never a secret, a key or a signature.

use crate::harness::{ssm_value, Tenant};
use serde_json::Value;
use std::collections::BTreeMap;

fn tape_of(out: &crate::harness::Outcome) -> (String, Vec<Value>) {
    let tape = &out.json()["tape"];
    let path = tape["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no tape in the summary: {}", out.json()));
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        tape["sha256"].as_str().unwrap(),
        sha256(&bytes),
        "the summary states the tape's SHA-256"
    );
    let text = String::from_utf8(bytes).unwrap();
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("tape line {}: {e}", i + 1))
        })
        .collect();
    (text, lines)
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn an_advance_leaves_every_answer_on_its_tape_and_no_secret() {
    let t = Tenant::new();
    let out = t.run(&[]);
    out.status(0);
    let (text, lines) = tape_of(&out);
    let header = &lines[0];
    assert_eq!(header["tape"], 1);
    assert_eq!(header["execution_id"], out.json()["execution_id"]);
    let sources = header["sources"].as_object().unwrap();
    assert_eq!(header["script"], "m4/main.rhai", "{header}");
    assert!(
        sources.contains_key("m4/main.rhai")
            && sources.contains_key("stdlib/runbook.rhai")
            && sources.values().all(|h| h.as_str().unwrap().len() == 64),
        "the runbook's files and their hashes: {header}"
    );
    // Every AWS call the run counted is on the tape, by service; every probe too.
    let mut on_tape: BTreeMap<String, u64> = BTreeMap::new();
    for e in &lines[1..] {
        let service = match e["kind"].as_str().unwrap() {
            "http" => e["key"]["service"].as_str().unwrap().to_owned(),
            "probe" => e["key"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned(),
            "clock" => "clock".to_owned(),
            other => panic!("unknown entry kind {other}"),
        };
        *on_tape.entry(service).or_default() += 1;
    }
    let counted = out.json()["api_calls"].clone();
    for (service, n) in counted.as_object().unwrap() {
        let taped = on_tape.get(service.as_str()).copied().unwrap_or(0);
        assert!(
            taped >= n.as_u64().unwrap(),
            "{service}: {n} call(s) counted, {taped} on the tape: {on_tape:?}"
        );
    }
    assert!(
        on_tape.get("clock").copied().unwrap_or(0) > 0,
        "{on_tape:?}"
    );
    // Non-secret by construction: no SecureString value, no signature, no key.
    for path in ["db/password", "confluent/api_secret", "confluent/api_key"] {
        let secret = ssm_value(&format!("/fraud-platform/{}/{path}", t.name));
        assert!(
            !text.contains(&secret),
            "the tape holds the value of {path}"
        );
    }
    for never in [
        "AWS4-HMAC-SHA256",
        "Signature=",
        "X-Amz-Security-Token",
        "x-amz-security-token",
    ] {
        assert!(!text.contains(never), "the tape holds {never}");
    }
    assert!(
        text.contains("<redacted:/fraud-platform/"),
        "SecureStrings are marked"
    );
    // What a tape costs (issue #25): a dev_min M4 run's stays under 2 MiB.
    assert!(
        text.len() <= 2 * 1024 * 1024,
        "{} bytes, {} lines",
        text.len(),
        lines.len()
    );
}

/// The tenant's environment file with every endpoint dead: a replay that sent anything would
/// fail to reach it.
pub(crate) fn dead_env(t: &Tenant) -> std::path::PathBuf {
    dead_env_of(t, "local.toml")
}

/// `dead_env` of another of the tenant's environment files (M5's, say).
pub(crate) fn dead_env_of(t: &Tenant, file: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(t.path(file)).unwrap();
    let dead: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("endpoint_url") {
                "endpoint_url = \"http://127.0.0.1:9\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(dead, text, "local.toml names an endpoint");
    let path = t.path(&format!("dead-{file}"));
    std::fs::write(&path, dead).unwrap();
    path
}

pub(crate) fn replay(tape: &str, env: &std::path::Path, more: &[&str]) -> crate::harness::Outcome {
    crate::harness::Run::new()
        .args(["replay", tape, "--output", "json", "--env"])
        .arg(env)
        .args(more)
        .run()
}

/// Where two JSON documents differ, as paths (`a.b[3].c: left != right`), ignoring what differs
/// between a run and its replay by design: when a document was captured, the hashes over
/// documents that say so (the chain, `*_sha256`), where the local copy is (`*_local`), the
/// replay's own mark, and the durable URIs a replay never writes (`*_uri`, empty in a replay).
fn differences(path: &str, was: &Value, is: &Value, out: &mut Vec<String>) {
    const BY_DESIGN: [&str; 3] = ["captured_at_utc", "evidence_chain", "replay"];
    let by_design = |k: &str, replayed: &Value| {
        BY_DESIGN.contains(&k)
            || k.ends_with("_sha256")
            || k.ends_with("_local")
            || (k.ends_with("_uri") && replayed == "")
    };
    match (was, is) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys
                .into_iter()
                .filter(|k| !by_design(k, b.get(*k).unwrap_or(&Value::Null)))
            {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{k}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if was != is => out.push(format!("{path}: {was} != {is}")),
        _ => {}
    }
}

/// A recorded run replayed offline (every endpoint in `env` dead) gives the same verdict, the
/// same blockers reason for reason, and every snapshot the same content bar its capture time.
pub(crate) fn assert_replays_identically(
    out: &crate::harness::Outcome,
    env: &std::path::Path,
    status: i32,
) {
    let tape = out.json()["tape"]["path"].as_str().unwrap().to_owned();
    let scratch = tempfile::tempdir().unwrap();
    let again = replay(
        &tape,
        env,
        &["--evidence-dir", scratch.path().to_str().unwrap()],
    );
    again.status(status);
    let (was, is) = (out.json(), again.json());
    assert_eq!(is["verdict"], was["verdict"], "{}", again.stderr);
    assert_eq!(is["blockers"], was["blockers"]);
    assert_eq!(is["replay"]["not_on_tape"], 0, "{}", is["replay"]);
    let mut differ = Vec::new();
    for (name, artifact) in was["artifacts"].as_object().unwrap() {
        let read = |a: &Value| -> Value {
            let path = a["local"].as_str().unwrap_or_else(|| panic!("{name}: {a}"));
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
        };
        let replayed = &is["artifacts"][name];
        assert!(replayed.is_object(), "{name} was not written by the replay");
        differences(name, &read(artifact), &read(replayed), &mut differ);
    }
    assert!(
        differ.is_empty(),
        "snapshots differ:\n{}",
        differ.join("\n")
    );
}

/// Replay (issue #25): the same runbook on its tape, offline (every endpoint dead), reproduces
/// the verdict, every phase and every blocker, with its evidence in a scratch mirror marked
/// `replay`, never in S3.
#[test]
fn a_run_replays_offline_to_the_same_verdict_phases_and_blockers() {
    let t = Tenant::new();
    let out = t.run(&[]);
    out.status(0);
    let tape = out.json()["tape"]["path"].as_str().unwrap().to_owned();
    let keys_before = t.bucket_keys();
    let scratch = tempfile::tempdir().unwrap();
    let again = replay(
        &tape,
        &dead_env(&t),
        &["--evidence-dir", scratch.path().to_str().unwrap()],
    );
    again.status(0);
    let (was, is) = (out.json(), again.json());
    assert_eq!(is["verdict"], was["verdict"], "{}", again.stderr);
    assert_eq!(is["execution_id"], was["execution_id"]);
    assert_eq!(is["blockers"], was["blockers"]);
    let statuses = |j: &Value| -> Vec<(String, String)> {
        j["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["phase"].as_str().unwrap().to_owned(),
                    p["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(statuses(&is), statuses(&was));
    assert_eq!(is["replay"]["extrapolated"], 0, "{}", is["replay"]);
    assert_eq!(
        t.bucket_keys(),
        keys_before,
        "a replay writes nothing durable"
    );
    let f = std::fs::read_to_string(
        is["artifacts"]["m4_f_daemon_start_snapshot"]["local"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        f.contains("\"replay\": true"),
        "the scratch evidence says it is a replay"
    );
    assert_replays_identically(&out, &dead_env(&t), 0);
}

/// A crash-loop HOLD replays to the same blockers, reason for reason: the stops, their times and
/// the daemon's last log line come from the tape, the waits judge on the recorded clock.
#[test]
fn a_crash_loop_hold_replays_to_the_same_blockers() {
    let t = Tenant::new();
    t.fault_with(
        "ig",
        "crash_loop",
        None,
        serde_json::json!({}),
        serde_json::json!({"last_words": ["panic: lost partition lease for fp.bus.control.v1"]}),
    );
    let out = t.run_with(&["soak_ms=1500"], &[]);
    crate::harness::assert_hold(&out, "M4F-B3", "M4.F");
    let tape = out.json()["tape"]["path"].as_str().unwrap().to_owned();
    assert_replays_identically(&out, &dead_env(&t), 3);

    // The same world in the REPL (`repl --replay TAPE`): the recorded runbook steps phase by
    // phase, holds where the run held; a typed question the tape does not hold is
    // NOT_ON_TAPE; nothing reaches S3.
    let keys_before = t.bucket_keys();
    let input = format!(
        ":step\n:step\n:step\n:step\n:step\n:phases\n:continue\n:blockers\n\
         try {{ ecs_describe_services(\"{cluster}\", [\"ghost\"]) }} catch (e) {{ print(`typed: ${{e.code}}`) }}\n:quit\n",
        cluster = t.prefix()
    );
    let session = crate::harness::Run::new()
        .args(["repl", "--replay", &tape, "--env"])
        .arg(dead_env(&t))
        .stdin(&input)
        .run();
    session
        .stdout_has("replaying m4_")
        .stdout_has("M4.E   PASS")
        .stdout_has("M4.F   next")
        .stdout_has("M4F-B3")
        .stdout_has("panic: lost partition lease for fp.bus.control.v1")
        .stdout_has("typed: NOT_ON_TAPE");
    assert_eq!(
        t.bucket_keys(),
        keys_before,
        "a replayed session writes nothing durable"
    );
}

/// A changed runbook asks the tape what the recorded run never asked (issue #25): the call raises
/// a catchable NOT_ON_TAPE naming what it asked and the nearest recorded question, while what the
/// two runs share is still answered from the tape; nothing is sent anywhere.
#[test]
fn a_question_the_tape_does_not_hold_is_a_catchable_not_on_tape() {
    let t = Tenant::new();
    let out = t.run(&[]);
    out.status(0);
    let tape = out.json()["tape"]["path"].as_str().unwrap().to_owned();
    let cluster = t.prefix();
    let script = t.path("asks_more.rhai");
    std::fs::write(
        &script,
        format!(
            r#"let recorded = ecs_describe_services("{cluster}", ["{ig}"]);
print(`recorded: ${{recorded.outcome}} ${{recorded.services.keys().len()}}`);
try {{
    ecs_describe_services("{cluster}", ["{ig}-never-asked"]);
    print("answered: a miss passed as an answer");
}} catch (e) {{
    print(`caught: ${{e.code}}`);
    print(`message: ${{e.message}}`);
}}
try {{
    kafka_groups(#{{ bootstrap: "127.0.0.1:1", security_protocol: "PLAINTEXT" }});
    print("probe: a miss passed as an answer");
}} catch (e) {{
    print(`probe: ${{e.code}}`);
}}"#,
            ig = t.service("ig"),
        ),
    )
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let again = crate::harness::Run::new()
        .args(["replay", &tape])
        .arg(&script)
        .args(["--env"])
        .arg(dead_env(&t))
        .args(["--evidence-dir", scratch.path().to_str().unwrap()])
        .run();
    let said = format!("{}\n{}", again.stdout, again.stderr);
    assert!(said.contains("caught: NOT_ON_TAPE"), "{said}");
    assert!(said.contains("probe: NOT_ON_TAPE"), "{said}");
    assert!(said.contains("recorded: pass 1"), "{said}");
    let message = said
        .lines()
        .find(|l| l.starts_with("message: "))
        .unwrap_or_default();
    assert!(
        message.contains("not on the tape: ")
            && message.contains("-never-asked")
            && message.contains("nearest recorded: "),
        "{message}"
    );
    // Another milestone's environment would replay as another execution: refused before any work.
    let other = replay(&tape, &dead_env_of(&t, "local-m5.toml"), &[]);
    other.status(2);
    assert!(
        other
            .stderr
            .contains("but this environment's execution prefix is `m5`"),
        "{}",
        other.stderr
    );
}

/// A runbook change tested against history (issue #25): the crash-loop HOLD replayed with a
/// crash threshold of 2 shows the verdict the change would have given, and says how far past
/// the recording the world had to be assumed unchanged.
#[test]
fn a_changed_rule_replays_against_a_recorded_hold() {
    let t = Tenant::new();
    // Crashes 9 s apart: the recorded wait ends (threshold 1) on the poll that sees the first,
    // long before a second could happen, so the tape holds a world of exactly one stop.
    t.fault_with(
        "ig",
        "crash_loop",
        None,
        serde_json::json!({"crash_after": 3.0, "restart_delay": 5.0}),
        serde_json::json!({}),
    );
    let out = t.run_with(&["soak_ms=1500"], &[]);
    crate::harness::assert_hold(&out, "M4F-B3", "M4.F");
    assert!(
        out.json()["blockers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(" 1 unplanned stop(s)"),
        "{}",
        out.stdout
    );
    let tape = out.json()["tape"]["path"].as_str().unwrap().to_owned();
    let scratch = tempfile::tempdir().unwrap();
    let again = replay(
        &tape,
        &dead_env(&t),
        &[
            "--evidence-dir",
            scratch.path().to_str().unwrap(),
            "--set",
            "crash_threshold=2",
        ],
    );
    // The recorded world after the first crash is all the tape knows: with the threshold at 2 the
    // crash is no longer a hold of its own, the daemon is seen not stable to the wait's end, and
    // the replay says it assumed the last recorded answers held.
    again.status(3);
    let is = again.json();
    assert_eq!(is["verdict"], "HOLD_M4", "{is}");
    let first = &is["blockers"][0];
    assert_eq!(
        (first["code"].as_str(), first["phase"].as_str()),
        (Some("M4F-B2"), Some("M4.F")),
        "{is}"
    );
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}: not stable", t.service("ig"))),
        "{first}"
    );
    assert_ne!(is["blockers"], out.json()["blockers"]);
    assert!(is["replay"]["extrapolated"].as_u64().unwrap() > 0, "{is}");
    assert_eq!(is["replay"]["not_on_tape"], 0, "{is}");
}
