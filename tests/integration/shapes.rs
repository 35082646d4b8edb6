//! Every probe's outcome has one shape (issue 12): the same keys whether it passed, failed or
//! could not ask, absent facts as (), so a script reading a field never trips over an error
//! outcome, and the keys are the ones the primitive table states. Each probe runs once against the live substrate and once against a dead endpoint
//! (AWS on a closed port; Kafka and PostgreSQL on closed ports), and the key sets are compared.

use crate::harness::{Tenant, M4_ENTRY};
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
keys("aws_identity", aws_identity());
keys("ecs_describe_services", ecs_describe_services(cluster, [svc]));
keys("ecs_task_definition", ecs_task_definition(td));
keys("ecs_task_definitions.item", ecs_task_definitions([td])[td]);
keys("task_definition_secrets", task_definition_secrets(td));
keys("task_definition_logs", task_definition_logs(td, prefix));
keys("job_outputs", job_outputs(bucket, "no/such/job/", ["report.json"], #{ started_at: "2026-12-07T10:00:05Z" }));
keys("ecs_tasks", ecs_tasks(cluster, "RUNNING"));
keys("ecs_standalone_tasks", ecs_standalone_tasks(cluster));
keys("ecs_wait_stable", ecs_wait_stable(cluster, [svc], #{ timeout_ms: 300, soak_ms: 0 }));
keys("iam_role", iam_role(role));
keys("iam_roles.item", iam_roles([role], #{})[role]);
keys("iam_simulate", iam_simulate(role, [#{ action: "s3:GetObject", resource: "*" }]));
let arn = iam_role(role).arn ?? "arn:aws:iam::123456789012:role/none";
let asked = #{};
asked[arn] = [#{ action: "s3:GetObject", resource: "*" }];
keys("iam_simulations.item", iam_simulations(asked)[arn]);
keys("s3_probe", s3_probe(bucket, "evidence/"));
keys("s3_probes.item", s3_probes([#{ bucket: bucket, prefix: "evidence/" }])[0]);
keys("s3_list", s3_list(bucket, "evidence/"));
// A one-shot task to wait for exists only where ECS answers: live only (the dead wait is the
// fault tests' business).
DECLARE_M4_ENTRY
let started = ();
// Starting a task changes the world: only inside a phase (issue #29).
run_phase("M9.S", || {
    try { started = ecs_run_task(cluster, td, #{ subnets: resolve_handle("SUBNET_IDS_PUBLIC"), security_groups: [resolve_handle("SECURITY_GROUP_ID_APP")] }); } catch { }
});
if started != () { keys("ecs_wait_task_stopped", ecs_wait_task_stopped(cluster, started.task_arn, #{ timeout_ms: 20000 })); }
keys("log_groups", log_groups(prefix));
keys("log_filter", log_filter(group, "RUN_SCOPE_MISMATCH", 0));
keys("log_filters.item", log_filters([group], "RUN_SCOPE_MISMATCH", 0)[group]);
keys("log_write_probe", log_write_probe(group));
keys("ssm_prefetch", ssm_prefetch(["/no/such/parameter"]));
let bootstrap = arg("bootstrap");
keys("kafka_probe", kafka_probe(#{ bootstrap: bootstrap, security_protocol: "PLAINTEXT", topics: ["fp.bus.control.v1"], timeout_ms: 3000 }));
keys("kafka_groups", kafka_groups(#{ bootstrap: bootstrap, security_protocol: "PLAINTEXT", timeout_ms: 3000 }));
// A Secret cannot be had from a dead SSM, so the database is probed live and dead in the live run.
if arg("db_down") != "" {
    let db = #{ dbname: resolve_handle("DB_NAME"), user: ssm_parameter(resolve_handle("SSM_DB_USER_PATH")),
                password: ssm_secret(resolve_handle("SSM_DB_PASSWORD_PATH")), sslmode: "disable", timeout_ms: 3000 };
    db.endpoint = resolve_handle("RDS_ENDPOINT");
    keys("db_probe", db_probe(db));
    db.endpoint = arg("db_down");
    keys("db_probe@dead", db_probe(db));
}
verdict(#{ probed: true }, "PROBED", "HELD");
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
    db_down: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let script = t.path("shapes.rhai");
    std::fs::write(&script, SCRIPT.replace("DECLARE_M4_ENTRY\n", M4_ENTRY)).unwrap();
    let out = crate::harness::Run::new()
        .arg("run")
        .arg(&script)
        .arg("--env")
        .arg(t.path(env))
        .args(["--set", &format!("bootstrap={bootstrap}")])
        .args(["--set", &format!("db_down={db_down}")])
        .run();
    // Live, the script advances; dead, its one phase (the task start) holds: the entry cannot be
    // checked by value without SSM (M4A-B1), so nothing is started — and the probes still ran.
    out.status(if db_down.is_empty() { 3 } else { 0 });
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
    let (mut up, up_outcomes) = shapes(&t, "local.toml", "127.0.0.1:9092", "127.0.0.1:9");
    let (mut down, outcomes) = shapes(&t, "dead.toml", "127.0.0.1:9", "");
    // The database's dead probe ran in the live run (a Secret needs a live SSM).
    down.insert("db_probe".into(), up.remove("db_probe@dead").unwrap());
    assert_ne!(up_outcomes["db_probe@dead"], "pass");
    for (name, outcome) in &outcomes {
        assert_ne!(outcome, "pass", "{name} passed against a dead endpoint");
    }
    // Every row of the table that states a result shape is probed, live and dead, and both key
    // sets are the ones the table states.
    let table = crate::harness::Run::new().args(["doc", "--json"]).run();
    let table: serde_json::Value = serde_json::from_str(&table.status(0).stdout).unwrap();
    let mut declared = BTreeMap::new();
    for row in table.as_array().unwrap() {
        let Some(keys) = row["result_keys"].as_array() else {
            continue;
        };
        let mut keys: Vec<String> = keys
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        let name = row["name"].as_str().unwrap();
        let probe = if row["per_item"] == true {
            format!("{name}.item")
        } else {
            name.to_owned()
        };
        declared.insert(probe, keys);
    }
    assert_eq!(declared.len(), 26, "{declared:#?}");
    let parse = |shown: &str| -> Vec<String> {
        let inner = shown.trim_start_matches('[').trim_end_matches(']');
        inner
            .split(", ")
            .filter(|k| !k.is_empty())
            .map(|k| k.trim_matches('"').to_owned())
            .collect()
    };
    for (probe, keys) in &declared {
        let live = up
            .get(probe)
            .unwrap_or_else(|| panic!("{probe} is not probed"));
        assert_eq!(
            &parse(live),
            keys,
            "{probe}: a pass outcome's keys are not the table's"
        );
        // There is no task of this execution to wait for where ECS does not answer; the wait's
        // outcomes are built from one key list in every branch, and registration checks it.
        if probe == "ecs_wait_task_stopped" {
            continue;
        }
        let dead = down
            .get(probe)
            .unwrap_or_else(|| panic!("{probe} is not probed dead"));
        assert_eq!(
            &parse(dead),
            keys,
            "{probe}: an error outcome's keys are not the table's"
        );
    }
    assert_eq!(
        up.len(),
        declared.len(),
        "a probe the table states no shape for: {up:#?}"
    );
}
