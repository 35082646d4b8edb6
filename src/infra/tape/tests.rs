//! The tape's format, keys, order of answers and listing.
use super::*;

fn signed(service: &str) -> (String, String) {
    (
        "authorization".into(),
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-2/{service}/aws4_request, SignedHeaders=host, Signature=abc"),
    )
}

#[test]
fn a_json_request_is_keyed_by_its_target_and_sorted_body_never_its_signature() {
    let headers = vec![
        signed("ecs"),
        (
            "x-amz-target".into(),
            "AmazonEC2ContainerServiceV20141113.DescribeServices".into(),
        ),
        ("x-amz-date".into(), "20261207T120000Z".into()),
    ];
    let a = HttpKey::of(
        "POST",
        "https://ecs.eu-west-2.amazonaws.com/",
        &headers,
        Some(br#"{"services":["ig"],"cluster":"c"}"#),
    );
    let b = HttpKey::of(
        "POST",
        "http://127.0.0.1:4566/",
        &headers,
        Some(br#"{"cluster":"c","services":["ig"]}"#),
    );
    assert_eq!(a, b, "the same request whatever the endpoint or key order");
    assert_eq!(
        (a.service.as_str(), a.operation.as_str()),
        ("ecs", "DescribeServices")
    );
    assert!(!a.joined().contains("Signature") && !a.joined().contains("AKIDEXAMPLE"));
}

#[test]
fn query_and_rest_requests_are_keyed_by_action_and_by_path() {
    let form = vec![
        signed("iam"),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
    ];
    let k = HttpKey::of(
        "POST",
        "https://iam.amazonaws.com/",
        &form,
        Some(b"Version=2010-05-08&RoleName=r&Action=GetRole"),
    );
    assert_eq!(k.operation, "GetRole");
    assert_eq!(k.request, "Action=GetRole&RoleName=r&Version=2010-05-08");
    let k = HttpKey::of(
        "GET",
        "http://127.0.0.1:4566/bucket/evidence/a.json?x-id=GetObject",
        &[signed("s3")],
        None,
    );
    assert_eq!((k.service.as_str(), k.operation.as_str()), ("s3", "GET"));
    assert_eq!(k.request, "/bucket/evidence/a.json?x-id=GetObject");
}

#[test]
fn a_secure_string_never_reaches_the_tape_and_a_plain_one_does() {
    let body = r#"{"Parameters":[{"Name":"/p/db/password","Type":"SecureString","Value":"hunter2"},
        {"Name":"/p/db/name","Type":"String","Value":"fraud"}],"InvalidParameters":[]}"#;
    let out = redact_ssm_answer("ssm", body).unwrap();
    assert!(!out.contains("hunter2") && out.contains("<redacted:/p/db/password>"));
    assert!(out.contains("\"fraud\""));
    let one = r#"{"Parameter":{"Name":"/k","Type":"SecureString","Value":"s3cr3t"}}"#;
    assert!(!redact_ssm_answer("ssm", one).unwrap().contains("s3cr3t"));
    assert_eq!(
        redact_ssm_answer("ecs", body),
        None,
        "only SSM's answers carry SecureStrings"
    );
}

fn clock(key: &str, ms: i64) -> Entry {
    Entry::Clock {
        seq: 0,
        key: key.into(),
        at: Utc::now(),
        elapsed_ms: ms,
    }
}

fn header() -> Header {
    Header {
        tape: TAPE_VERSION,
        m4host_version: "0".into(),
        execution_id: "m4_20261207T120000Z".into(),
        run_stamp: "20261207T120000Z".into(),
        script: "m4/main.rhai".into(),
        script_path: "scripts/m4/main.rhai".into(),
        env_file: None,
        sources: BTreeMap::new(),
        args: BTreeMap::new(),
    }
}

#[test]
fn answers_come_in_recorded_order_then_the_last_again_counted() {
    let dir = tempfile::tempdir().unwrap();
    let header = header();
    let tape = Tape::record(dir.path(), &header).unwrap();
    for ms in [1, 2] {
        tape.append(clock("poll", ms));
    }
    tape.append(clock("other", 9));
    tape.write_pending(|l| l.replace("never", "-"), None);
    let path = tape.finish().unwrap();
    assert_eq!(path, dir.path().join(TAPE_FILE));
    // A second recording in the same folder never overwrites the first.
    let again = Tape::record(dir.path(), &header).unwrap().finish().unwrap();
    assert_eq!(again, dir.path().join("world.tape.2.jsonl"));

    let replay = Tape::open(&path).unwrap();
    assert_eq!(replay.header(), Some(&header));
    let ms = |e: Entry| match e {
        Entry::Clock { elapsed_ms, .. } => elapsed_ms,
        _ => -1,
    };
    assert_eq!(ms(replay.answer("poll").unwrap()), 1);
    assert_eq!(ms(replay.answer("poll").unwrap()), 2);
    assert_eq!(ms(replay.answer("poll").unwrap()), 2);
    assert_eq!(replay.extrapolated(), 1);
    assert_eq!(replay.miss_count(), 0);
    let missing = replay.answer("pol").unwrap_err();
    assert_eq!(missing.nearest.as_deref(), Some("poll"));
    assert!(missing.to_string().starts_with("not on the tape: pol"));
    assert_eq!(replay.misses_from(0), vec![missing]);
    assert!(replay.misses_from(1).is_empty() && replay.misses_from(7).is_empty());

    // What `m4host report` lists: both finished tapes and a partial one (a killed run), each
    // hashed as it is on disk; the evidence and a file that is not a tape are not tapes.
    let partial = Tape::record(dir.path(), &header).unwrap();
    partial.append(clock("poll", 3));
    partial.write_pending(|l| l.to_owned(), None);
    std::fs::write(dir.path().join("world.tape.9.jsonl"), "not a tape\n").unwrap();
    std::fs::write(dir.path().join("m4_a_snapshot.json"), "{}").unwrap();
    let listed = tapes_in(dir.path());
    let names: Vec<String> = listed
        .iter()
        .map(|t| t.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            ".world.tape.3.jsonl.partial",
            "world.tape.2.jsonl",
            "world.tape.9.jsonl",
            TAPE_FILE
        ]
    );
    let first = listed.iter().find(|t| t.path == path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    use sha2::Digest;
    assert_eq!(first.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(first.bytes, bytes.len() as u64);
    assert_eq!(first.execution_id.as_deref(), Some("m4_20261207T120000Z"));
    assert!(!first.partial && listed[0].partial);
    assert_eq!(listed[2].execution_id, None, "not a tape header");
}

/// Past the recording a replayed wait moves only by its own sleeps: a pause shorter than a
/// millisecond (a soak ending a few microseconds away) still moves virtual time, rounded up, or
/// the wait would poll forever at 100% CPU (found by the changed-rule replay test).
#[test]
fn a_replayed_wait_moves_on_even_by_a_pause_shorter_than_a_millisecond() {
    let dir = tempfile::tempdir().unwrap();
    let header = header();
    let tape = Tape::record(dir.path(), &header).unwrap();
    tape.append(clock("wait", 40));
    tape.write_pending(|l| l.to_owned(), None);
    let replay = std::sync::Arc::new(Tape::open(&tape.finish().unwrap()).unwrap());
    let clock = crate::infra::wait_clock::WaitClock::new("wait".into(), Some(replay));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(clock.now().elapsed.num_milliseconds(), 40);
    runtime.block_on(clock.sleep(std::time::Duration::from_micros(300)));
    assert_eq!(clock.elapsed(), std::time::Duration::from_millis(41));
    // Past the recording: the reading is the virtual time, which moved.
    assert_eq!(clock.now().elapsed.num_milliseconds(), 41);
    runtime.block_on(clock.sleep(std::time::Duration::from_millis(250)));
    assert_eq!(clock.now().elapsed.num_milliseconds(), 291);
}
