//! Reachability probes through the binary against the substrate: Kafka metadata and groups,
//! PostgreSQL login over TLS, S3 prefix read/write, CloudWatch log groups and writes — and each
//! failure mode (missing topic, broker down, wrong password, DB down, bucket missing, group missing).

use crate::harness::{Env, OwnService, PLATFORM_RUN_ID};

const KAFKA: &str = r#"#{ bootstrap: "127.0.0.1:9092", security_protocol: "PLAINTEXT" }"#;

#[test]
fn kafka_probe_finds_topics_and_reports_missing_and_unreachable() {
    let env = Env::new();
    let script = r#"
let p = kafka_probe(#{ bootstrap: "127.0.0.1:9092", security_protocol: "PLAINTEXT", topics: ["fp.bus.control.v1", "fp.bus.audit.v1"] });
print(`ok: ${p.outcome} ${p.topics_present.len()} brokers=${p.brokers}`);
let m = kafka_probe(#{ bootstrap: "127.0.0.1:9092", security_protocol: "PLAINTEXT", topics: ["fp.bus.control.v1", "fp.bus.missing.v1"] });
print(`missing: ${m.outcome}: ${m.reason}`);
let d = kafka_probe(#{ bootstrap: "127.0.0.1:9", security_protocol: "PLAINTEXT", topics: [], timeout_ms: 1000 });
print(`down: ${d.outcome}: ${d.reason}`);
try { kafka_probe(#{ bootstrap: "x:9092", security_protocol: "SASL_SSL", sasl_username: "k", sasl_password: "plain", topics: [] }) } catch (e) { print(e.code) }
"#;
    let started = std::time::Instant::now();
    env.run(script)
        .run()
        .status(0)
        .stdout_has("ok: pass 2 brokers=[\"127.0.0.1:9092\"]")
        .stdout_has("missing: fail: required topic(s) missing: fp.bus.missing.v1")
        .stdout_has("down: fail: no metadata from 127.0.0.1:9")
        .stdout_has("NOT_A_SECRET");
    assert!(started.elapsed().as_secs() < 15, "{:?}", started.elapsed());
}

#[test]
fn kafka_groups_show_members_and_their_topics() {
    let env = Env::new();
    let own = OwnService::with_run_id(None, PLATFORM_RUN_ID);
    let group = own.with_lane("lane");
    own.scale(1);
    own.wait_until("running", |s| s.running_count() == 1);
    // The stand-in joins asynchronously; wait for it on the broker before asking through m4host.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !crate::harness::kafka_probe()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == group.as_str())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "stand-in never joined {group}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let script = format!(
        r#"let g = kafka_groups({KAFKA});
let x = g.groups["{group}"];
print(`members=${{x.members.len()}} topics=${{x.committed_topics}} state=${{x.state}}`);
print(`consumers=${{g.consumers_by_topic["m4host.test.lane.v1"]}}`);"#
    );
    // A join settles to Stable after the group's rebalance: wait for that state, as m4host sees
    // it, instead of sleeping and hoping.
    let want = "members=1 topics=[\"m4host.test.lane.v1\"] state=Stable";
    let out = loop {
        let out = env.run(&script).run();
        if out.stdout.contains(want) || std::time::Instant::now() >= deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    out.status(0)
        .stdout_has(want)
        .stdout_has(&format!("\"{group}\""));
    // Offsets asked on the named topics only: the same group on its lane topic, and nothing of
    // it when the topics asked are others.
    let only = |topics: &str| {
        env.run(&format!(
            r#"let o = {KAFKA}; o.topics = {topics};
let x = kafka_groups(o).groups["{group}"];
print(`only=${{x.committed_topics}}`);"#
        ))
        .run()
    };
    only("[\"m4host.test.lane.v1\"]")
        .status(0)
        .stdout_has("only=[\"m4host.test.lane.v1\"]");
    only("[\"some.other.topic\"]")
        .status(0)
        .stdout_has("only=[]");
    own.scale(0);
}

#[test]
fn db_probe_logs_in_over_tls_and_fails_with_the_servers_reason() {
    let env = Env::new();
    let script = r#"
let pw = ssm_secret("/fraud-platform/dev_min/db/password");
let base = #{ endpoint: "127.0.0.1:5432", dbname: "fraud_platform", user: "fraud_app", password: pw };
for mode in ["disable", "require"] {
    let o = base; o.sslmode = mode;
    let d = db_probe(o);
    print(`${mode}: ${d.outcome} tls=${d.tls} ${d.server_version}`);
}
let wrong = base; wrong.password = ssm_secret("/fraud-platform/dev_min/confluent/api_key"); wrong.sslmode = "disable";
print(`wrong: ${db_probe(wrong).reason}`);
let down = base; down.endpoint = "127.0.0.1:5999"; down.sslmode = "disable";
print(`down: ${db_probe(down).outcome}`);
let vf = base; vf.sslmode = "verify-full";
print(`verify-full: ${db_probe(vf).outcome}: ${db_probe(vf).reason}`);
try { let p = base; p.password = "plaintext"; db_probe(p) } catch (e) { print(e.code) }
"#;
    env.run(script)
        .run()
        .status(0)
        .stdout_has("disable: pass tls=false 15.")
        .stdout_has("require: pass tls=true 15.")
        .stdout_has("wrong: 127.0.0.1:5432/fraud_platform as fraud_app: 28P01: password authentication failed for user \"fraud_app\"")
        .stdout_has("down: fail")
        .stdout_has("verify-full: error: sslmode verify-full needs [db] ca_file")
        .stdout_has("NOT_A_SECRET");
}

#[test]
fn s3_and_log_probes_pass_and_fail() {
    let env = Env::new();
    let script = format!(
        r#"let ok = s3_probe("{bucket}", "evidence/");
print(`s3: ${{ok.outcome}} r=${{ok.readable}} w=${{ok.writable}}`);
print(`s3 missing: ${{s3_probe("no-such-bucket-{n}", "evidence/").reason}}`);
print(`groups: ${{log_groups("/fraud-platform/dev_min").outcome}}`);
print(`no groups: ${{log_groups("/no/such/prefix").outcome}}`);
print(`write: ${{log_write_probe("/fraud-platform/dev_min/fraud-platform-dev-min-case-ls").outcome}}`);
print(`write missing: ${{log_write_probe("/no/such/group").outcome}}`);
print(`filter: ${{log_filter("/fraud-platform/dev_min/fraud-platform-dev-min-case-ls", "m4host", 0).count > 0}}`);"#,
        bucket = env.bucket,
        n = std::process::id()
    );
    env.run(&script)
        .run()
        .status(0)
        .stdout_has("s3: pass r=true w=true")
        .stdout_has("s3 missing: bucket no-such-bucket-")
        .stdout_has("groups: pass")
        .stdout_has("no groups: fail")
        .stdout_has("write: pass")
        .stdout_has("write missing: fail")
        .stdout_has("filter: true");
    assert!(env.s3_keys().is_empty(), "the probe object is removed");
}

#[test]
fn probes_do_not_write_under_plan() {
    let env = Env::new();
    let out = env
        .run(&format!(
            "print(s3_probe(\"{}\", \"evidence/\").writable);\nprint(log_write_probe(\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\").written);",
            env.bucket
        ))
        .args(["--plan", "--output", "json"])
        .run();
    out.status(0);
    let would = out.json()["would_do"].to_string();
    assert!(
        would.contains("would write and remove a probe object")
            && would.contains("would create a probe stream"),
        "{would}"
    );
}

#[test]
fn sasl_ssl_against_a_plaintext_broker_fails_in_budget_without_showing_credentials() {
    // The production path (Confluent Cloud, SASL_SSL + PLAIN) misconfigured against a broker that
    // does not speak TLS: a fail with the transport reason inside the budget, never a hang.
    let env = Env::new();
    let secret = crate::harness::ssm_value("/fraud-platform/dev_min/confluent/api_secret");
    let script = r#"
let p = kafka_probe(#{ bootstrap: "127.0.0.1:9092", security_protocol: "SASL_SSL",
    sasl_username: ssm_secret("/fraud-platform/dev_min/confluent/api_key"),
    sasl_password: ssm_secret("/fraud-platform/dev_min/confluent/api_secret"),
    topics: ["fp.bus.control.v1"], timeout_ms: 2000 });
print(`${p.outcome}: ${p.reason}`);
"#;
    let started = std::time::Instant::now();
    env.run(script)
        .run()
        .status(0)
        .stdout_has("fail: no metadata from 127.0.0.1:9092 within 2000 ms")
        .nowhere(&secret);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}
