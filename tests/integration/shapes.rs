//! Every probe's outcome has one shape (issue 12): the same keys whether it passed, failed or
//! could not ask, absent facts as (), so a script reading a field never trips over an error
//! outcome. Each probe runs once against the live substrate and once against a dead endpoint
//! (AWS on a closed port; Kafka and PostgreSQL on closed ports), and the key sets are compared.

use crate::runbook::Tenant;
use std::collections::BTreeMap;

const SCRIPT: &str = r#"
fn keys(name, r) {
    let ks = r.keys();
    ks.sort();
    print(`KEYS ${name}=${ks}`);
    print(`OUTCOME ${name}=${r.outcome}`);
}
let cluster = resolve_handle("ECS_CLUSTER_NAME");
let svc = resolve_handle("SVC_IG");
let bucket = resolve_handle("S3_EVIDENCE_BUCKET");
let prefix = resolve_handle("CLOUDWATCH_LOG_GROUP_PREFIX");
let role = resolve_handle("ROLE_ECS_TASK_EXECUTION");
let td = resolve_handle("TD_ORACLE_SEED");
let group = `${prefix}/${svc}`;
keys("ecs_describe_services", ecs_describe_services(cluster, [svc]));
keys("ecs_task_definition", ecs_task_definition(td));
keys("ecs_task_definitions.item", ecs_task_definitions([td])[td]);
keys("ecs_tasks", ecs_tasks(cluster, "RUNNING"));
keys("ecs_standalone_tasks", ecs_standalone_tasks(cluster));
keys("ecs_wait_stable", ecs_wait_stable(cluster, [svc], #{ timeout_ms: 300, soak_ms: 0 }));
keys("iam_role", iam_role(role));
keys("iam_roles.item", iam_roles([role])[role]);
keys("iam_simulate", iam_simulate(role, [#{ action: "s3:GetObject", resource: "*" }]));
keys("s3_probe", s3_probe(bucket, "evidence/"));
keys("s3_probes.item", s3_probes([#{ bucket: bucket, prefix: "evidence/" }])[0]);
keys("log_groups", log_groups(prefix));
keys("log_filter", log_filter(group, "RUN_SCOPE_MISMATCH", 0));
keys("log_filters.item", log_filters([group], "RUN_SCOPE_MISMATCH", 0)[group]);
keys("ssm_prefetch", ssm_prefetch(["/no/such/parameter"]));
let bootstrap = arg("bootstrap");
keys("kafka_probe", kafka_probe(#{ bootstrap: bootstrap, security_protocol: "PLAINTEXT", topics: ["fp.bus.control.v1"], timeout_ms: 3000 }));
keys("kafka_groups", kafka_groups(#{ bootstrap: bootstrap, security_protocol: "PLAINTEXT", timeout_ms: 3000 }));
"#;

fn lines(stdout: &str, tag: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(tag))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// (keys, outcome) of every probe, by name.
fn shapes(
    t: &Tenant,
    env: &str,
    bootstrap: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let script = t.path("shapes.rhai");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = crate::support::Run::new()
        .arg("run")
        .arg(&script)
        .arg("--env")
        .arg(t.path(env))
        .args(["--set", &format!("bootstrap={bootstrap}")])
        .run();
    out.status(0);
    (lines(&out.stdout, "KEYS "), lines(&out.stdout, "OUTCOME "))
}

#[test]
fn every_probe_has_the_same_keys_whether_it_passed_or_could_not_ask() {
    let t = Tenant::new();
    let live = std::fs::read_to_string(t.path("local.toml")).unwrap();
    let dead = live
        .replace("http://127.0.0.1:4566", "http://127.0.0.1:9")
        .replace("attempt_timeout_ms = 5000", "attempt_timeout_ms = 1000")
        .replace("call_timeout_ms = 15000", "call_timeout_ms = 2000");
    std::fs::write(t.path("dead.toml"), dead).unwrap();
    let (up, _) = shapes(&t, "local.toml", "127.0.0.1:9092");
    let (down, outcomes) = shapes(&t, "dead.toml", "127.0.0.1:9");
    for (name, outcome) in &outcomes {
        assert_ne!(outcome, "pass", "{name} passed against a dead endpoint");
    }
    assert_eq!(up.len(), 17, "{up:#?}");
    for (name, keys) in &up {
        assert_eq!(
            down.get(name),
            Some(keys),
            "{name}: keys differ between a pass and an error outcome"
        );
    }
}
