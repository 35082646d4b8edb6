//! Non-secret judged by value, not by name (issue #27): a secret under an innocent name in a task
//! definition holds the launch contract (M4.E, M5.B), in the entry artifacts holds M4.A, and in a
//! snapshot is refused with its path named — each with the value nowhere (screen, local and
//! durable evidence, `m4host report`). The near misses (a DSN without a password, a URL without
//! userinfo, a key id alone) still pass, and M4 still advances over them.

use crate::harness::{
    assert_hold, next_execution_second, ssm_value, Builder, Env, Outcome, Tenant,
};

/// The plaintext of the tenant's SecureString at `rel` under its SSM prefix (`db/password`).
fn tenant_secret(t: &Tenant, rel: &str) -> String {
    ssm_value(&format!("/fraud-platform/{}/{rel}", t.name))
}

/// The byte string appears nowhere the run left a trace: its screen, every local artifact of its
/// execution, every durable object in the tenant's evidence bucket, and `m4host report`.
fn assert_nowhere(t: &Tenant, out: &Outcome, secret: &str) {
    out.nowhere(secret);
    let json = out.json();
    for (name, record) in json["artifacts"].as_object().unwrap() {
        let local = std::fs::read(record["local"].as_str().unwrap()).unwrap();
        assert!(
            !String::from_utf8_lossy(&local).contains(secret),
            "{name} (local) holds the secret"
        );
    }
    for key in t.bucket_keys() {
        let bytes = t.object(&key);
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "s3 {key} holds the secret"
        );
    }
    let execution = json["execution_id"].as_str().unwrap();
    let report = crate::harness::report(t, execution, &[]);
    report.nowhere(secret);
}

/// The first blocker's reason.
fn reason(out: &Outcome) -> String {
    out.json()["blockers"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Registers a revision of `short`'s task definition carrying the run scope, `env` and whatever
/// `more` adds to the container, and points the service at it.
fn deploy(
    t: &Tenant,
    short: &str,
    env: &[(&str, &str)],
    more: impl FnOnce(Builder) -> Builder,
) -> String {
    let scope = format!("platform_{}", t.name);
    let mut all = vec![("REQUIRED_PLATFORM_RUN_ID", scope.as_str())];
    all.extend_from_slice(env);
    t.replace_task_definition_with(short, &all, more)
}

#[test]
fn a_secret_under_an_innocent_name_holds_the_launch_contract_by_value() {
    let t = Tenant::new();
    let db_password = tenant_secret(&t, "db/password");
    let api_key = tenant_secret(&t, "confluent/api_key");
    let api_secret = tenant_secret(&t, "confluent/api_secret");
    let key_id = "AKIAM4HOSTEXAMPLE7QZ";
    let secret_key = "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";
    let pem =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAm4host\n-----END RSA PRIVATE KEY-----";
    let dsn = format!("postgresql://fraud_app:{db_password}@127.0.0.1:5432/fraud_platform");
    let blob = format!(
        r#"{{"bootstrap":"127.0.0.1:9092","sasl":{{"username":"{api_key}","password":"{api_secret}"}}}}"#
    );
    type More = Box<dyn FnOnce(Builder) -> Builder>;
    // (what, environment, what else the container carries, words the reason names, the secret)
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        More,
        Vec<&'a str>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "the DB password inside a DSN under an innocent name",
            vec![("DB_DSN", dsn.as_str())],
            Box::new(|b| b),
            vec!["environment `DB_DSN`", "known_secret", "url_password"],
            db_password.as_str(),
        ),
        (
            "the Confluent API secret inside a JSON blob",
            vec![("KAFKA_CLIENT_CONFIG", blob.as_str())],
            Box::new(|b| b),
            vec![
                "environment `KAFKA_CLIENT_CONFIG`",
                "known_secret",
                "confluent/api_secret",
            ],
            api_secret.as_str(),
        ),
        (
            "a secret as a command argument",
            vec![],
            {
                let arg = format!("--sasl-password={api_secret}");
                Box::new(move |b| b.command("serve").command(arg))
            },
            vec!["command[1]", "known_secret"],
            api_secret.as_str(),
        ),
        (
            "an AWS key pair under innocent names",
            vec![("UPLOAD_ID", key_id), ("UPLOAD_TOKEN_B", secret_key)],
            Box::new(|b| b),
            vec![
                "environment `UPLOAD_ID`",
                "environment `UPLOAD_TOKEN_B`",
                "aws_key_pair",
            ],
            secret_key,
        ),
        (
            "a PEM key in a docker label",
            vec![],
            Box::new(move |b| b.docker_labels("build.note", pem)),
            vec!["dockerLabels `build.note`", "pem_private_key"],
            "MIIEowIBAAKCAQEAm4host",
        ),
    ];
    for (what, env, more, says, secret) in cases {
        deploy(&t, "rtdl-ofp", &env, more);
        next_execution_second();
        let out = t.run(&[]);
        assert_hold(&out, "M4E-B3", "M4.E");
        let why = reason(&out);
        assert!(why.contains("rtdl-ofp"), "{what}: names the service: {why}");
        for word in says {
            assert!(why.contains(word), "{what}: the reason names {word}: {why}");
        }
        assert_nowhere(&t, &out, secret);
        assert_eq!(
            t.desired_counts(),
            vec![0, 0, 0, 0],
            "{what}: nothing started"
        );
    }
}

#[test]
fn a_secure_string_under_an_innocent_key_in_the_handoff_pack_holds_m4a() {
    let t = Tenant::new();
    let db_password = tenant_secret(&t, "db/password");
    let pack = "m3/m4_handoff_pack.json";
    t.edit(
        pack,
        "{",
        &format!("{{\n  \"notes\": \"operator token {db_password}\","),
    );
    let out = t.run(&[]);
    assert_hold(&out, "M4A-B1", "M4.A");
    let why = reason(&out);
    assert!(
        why.contains("$.notes") && why.contains("known_secret"),
        "{why}"
    );
    assert_nowhere(&t, &out, &db_password);

    // The near miss: the same innocent key without the plaintext enters.
    t.edit(pack, &db_password, "rotated");
    next_execution_second();
    let out = t.run(&[]);
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5", "{}", out.stderr);
}

/// The near misses together in one task definition, then M4 end to end: ADVANCE_TO_M5; then M5
/// with the checker's task definition carrying the DB password in a DSN: M5B-B3.
#[test]
fn near_misses_advance_and_m5_holds_a_dsn_with_the_password() {
    let t = Tenant::new();
    deploy(
        &t,
        "rtdl-ofp",
        &[
            (
                "DB_DSN",
                "postgresql://fraud_app@127.0.0.1:5432/fraud_platform",
            ),
            (
                "HEALTH_URL",
                "https://fraud.example.com:8443/health?probe=a:b@c",
            ),
            ("UPLOAD_ID", "AKIAM4HOSTEXAMPLE7QZ"),
            ("GIT_SHA", "3f786850e387550fdab836ed7e6dc881de23001b"),
            ("REQUEST_ID", "123e4567-e89b-12d3-a456-426614174000"),
            ("DB_PASSWORD_PATH", "/fraud-platform/db/password"),
        ],
        |b| {
            b.command("serve")
                .command("--auth=bearer-from-secrets")
                .docker_labels(
                    "ca",
                    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                )
        },
    );
    let out = t.run(&[]);
    out.status(0);
    let json = out.json();
    assert_eq!(json["verdict"], "ADVANCE_TO_M5", "{}", out.stderr);
    let e = t.artifact(&out, "m4_e_launch_contract_snapshot");
    let ofp = e["contract"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["service"].as_str().unwrap().ends_with("rtdl-ofp"))
        .unwrap();
    assert_eq!(ofp["inline_secrets"], serde_json::json!([]), "{ofp}");
    assert!(
        ofp["checked_against_known_secrets"].as_i64().unwrap() >= 3,
        "{ofp}"
    );
    let m4 = json["execution_id"].as_str().unwrap().to_owned();

    // M5.B: the checker's DSN carries the DB password under an innocent name.
    let db_password = tenant_secret(&t, "db/password");
    let checker = t.register_revision(
        "oracle-checker",
        &[(
            "DB_DSN",
            &format!("postgresql://fraud_app:{db_password}@127.0.0.1/fraud_platform"),
        )],
    );
    t.edit(
        "generated/terraform_outputs.json",
        &format!("{}-oracle-checker:1", t.prefix()),
        checker.rsplit('/').next().unwrap(),
    );
    let out = crate::harness::m5_run(&t, &m4, &[]).run();
    crate::harness::assert_runbook_hold(&out, ("HOLD_M5", "M5.G"), "M5B-B3", "M5.B");
    let why = reason(&out);
    assert!(
        why.contains("DB_DSN") && why.contains("known_secret"),
        "{why}"
    );
    out.nowhere(&db_password);
    for key in t.bucket_keys() {
        assert!(!String::from_utf8_lossy(&t.object(&key)).contains(&db_password));
    }
}

#[test]
fn a_snapshot_carrying_a_credential_shape_is_refused_naming_its_path() {
    let env = Env::new();
    let out = env
        .run("run_phase(\"M4.B\", || { emit_snapshot(\"m4_b_service_map_snapshot\", #{ notes: [\"ok\", \"postgresql://u:pw-4f9a@db/x\"] }); });")
        .args(["--output", "json"])
        .run();
    out.status(3);
    let json = out.json();
    assert_eq!(json["blockers"][0]["code"], "M4B-B3", "{json}");
    let why = json["blockers"][0]["reason"].as_str().unwrap();
    assert!(
        why.contains("$.notes[1]") && why.contains("url_password"),
        "{why}"
    );
    out.nowhere("pw-4f9a");
    assert!(env.s3_keys().is_empty(), "nothing durable was written");

    // The near miss: the same URL without a password is published.
    env.run("emit_snapshot(\"m4_b_service_map_snapshot\", #{ notes: [\"ok\", \"postgresql://u@db/x\"] });")
        .run()
        .status(0);
}
