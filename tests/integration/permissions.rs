//! Issue 24: the AWS actions each primitive row states are the ones the adapters send. Every
//! primitive's example, and M4 and M5 end to end (also a daemon that dies, whose log tail M4.F
//! reads, and a one-shot job over its budget, which M5 stops), run through the fault proxy,
//! which names the IAM action each request needs (S3's by the S3 User Guide's table). Each action
//! a run sent must be listed by a primitive the script calls (found statically, as `m4host
//! policy` finds them): no action missing from the policy. Each action a row lists must be sent
//! by some run that calls that primitive: none listed that is never sent (an action AWS
//! authorizes beside another call, iam:PassRole for RunTask, is not a request of its own).

use crate::harness::{
    through, Env, FaultProxy, Tenant, M4_ENTRY, M4_SCRIPT, M5_SCRIPT, ROLLBACK_SCRIPT,
};
use m4host::script::primitives::{self, Primitive};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// Starts the oracle seed in a phase and stops it by hand (PREFIX: the tenant's).
const STOP_BY_HAND: &str = r#"
DECLARE_M4_ENTRY
run_phase("M9.S", || {
    let h = resolve_handles(["ECS_CLUSTER_NAME", "SUBNET_IDS_PUBLIC", "SECURITY_GROUP_ID_APP"]).resolved;
    let cluster = h.ECS_CLUSTER_NAME.value;
    let started = ecs_run_task(cluster, "PREFIX-oracle-seed", #{
        subnets: h.SUBNET_IDS_PUBLIC.value, security_groups: [h.SECURITY_GROUP_ID_APP.value] });
    let stop = ecs_stop_task(cluster, started.task_arn, "by hand");
    print(`stopped by hand: ${stop.stop.confirmed}`);
});
verdict(#{ stopped: true }, "ADVANCE", "HOLD");
"#;

/// What a script may send by `m4host policy`'s reading: the primitives it and its imports call,
/// and every action they and the handles' resolution under `registry` list.
fn called(script: &Path, registry: &Path) -> (Vec<&'static Primitive>, BTreeSet<&'static str>) {
    let host =
        Arc::new(m4host::host::Host::new(None, Default::default(), BTreeMap::new(), None).unwrap());
    let engine =
        m4host::script::engine::build(&host, &m4host::script::resolver::script_root(script));
    let calls = m4host::script::calls::of_script(&engine, script);
    assert!(calls.problems.is_empty(), "{:?}", calls.problems);
    let registry = m4host::config::registry::HandlesRegistry::load(registry).unwrap();
    let listed = m4host::command::policy::accesses(&calls, &registry)
        .iter()
        .map(|a| a.action)
        .collect();
    (calls.primitives(), listed)
}

/// The actions the proxy saw, by name.
fn actions(proxy: &FaultProxy) -> BTreeMap<String, u64> {
    proxy.stats()["actions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

/// What one run sent beyond `before`.
fn sent_since(proxy: &FaultProxy, before: &BTreeMap<String, u64>) -> BTreeSet<String> {
    actions(proxy)
        .into_iter()
        .filter(|(k, n)| before.get(k).copied().unwrap_or(0) < *n)
        .map(|(k, _)| k)
        .collect()
}

#[derive(Default)]
struct Ledger {
    failures: Vec<String>,
    /// (primitive, action) pairs some run calling that primitive sent.
    credited: BTreeSet<(&'static str, &'static str)>,
}

impl Ledger {
    fn judge(
        &mut self,
        run: &str,
        (called, listed): &(Vec<&'static Primitive>, BTreeSet<&'static str>),
        sent: &BTreeSet<String>,
    ) {
        for action in sent {
            if !listed.contains(action.as_str()) {
                let names: BTreeSet<&str> = called.iter().map(|p| p.name).collect();
                self.failures.push(format!(
                    "{run} sent {action}, which no primitive it calls lists (it calls {names:?})"
                ));
            }
        }
        for p in called {
            for a in p.aws.iter() {
                if sent.contains(a.action) {
                    self.credited.insert((p.name, a.action));
                }
            }
        }
    }
}

/// A runbook run through its own proxy: what it sent.
fn runbook_sent(t: &Tenant, run: impl FnOnce(&Tenant)) -> BTreeSet<String> {
    let proxy = FaultProxy::start();
    through(t, &proxy);
    t.edit(
        "local-m5.toml",
        "endpoint_url = \"http://127.0.0.1:4566\"",
        &format!("endpoint_url = \"{}\"", proxy.url()),
    );
    run(t);
    sent_since(&proxy, &BTreeMap::new())
}

#[test]
fn every_action_sent_is_listed_by_a_called_primitive_and_every_listed_action_is_sent() {
    // The runbooks, beside the examples (each its own tenant and proxy): M4 then M5 to
    // ADVANCE_TO_M6, then M5 again with its sort over budget (the host stops it); M4 with a
    // daemon in a crash loop (M4.F reads its log tail).
    let runbooks = std::thread::spawn(|| {
        let t = Tenant::new();
        runbook_sent(&t, |t| {
            let out = t.run(&[]);
            out.status(0);
            let m4 = out.json()["execution_id"].as_str().unwrap().to_owned();
            crate::harness::m5_run(t, &m4, &[]).run().status(0);
            crate::harness::control(
                "oneshot",
                &serde_json::json!({"family": format!("{}-oracle-sort", t.prefix()), "mode": "never_ends"}),
            );
            crate::harness::m5_run(t, &m4, &["sort_budget_ms=1500"])
                .run()
                .status(3);
            t.rollback(&m4).status(0);
        })
    });
    // A one-shot task started and stopped by hand in a phase, as an operator's script would.
    let stop_by_hand = std::thread::spawn(|| {
        let t = Tenant::new();
        let sent = runbook_sent(&t, |t| {
            let script = t.path("stop_by_hand.rhai");
            std::fs::write(
                &script,
                STOP_BY_HAND
                    .replace("PREFIX", &t.prefix())
                    .replace("DECLARE_M4_ENTRY\n", M4_ENTRY),
            )
            .unwrap();
            let out = crate::harness::Run::new()
                .arg("run")
                .arg(&script)
                .arg("--env")
                .arg(t.path("local.toml"))
                .run();
            out.status(0).stdout_has("stopped by hand");
        });
        (t, sent)
    });
    let m4_dying = std::thread::spawn(|| {
        let t = Tenant::new();
        runbook_sent(&t, |t| {
            t.fault("rtdl-ieg", "crash_loop", None);
            t.run(&[]).status(3);
        })
    });

    let mut ledger = Ledger::default();
    let proxy = FaultProxy::start();
    for primitive in primitives::all() {
        let env = Env::new();
        env.write("m4host.toml", &env.env_toml(&proxy.url()));
        let before = actions(&proxy);
        let out = env.run(primitive.example).run();
        assert_eq!(
            out.status, primitive.example_exit,
            "{}: {}",
            primitive.name, out.stderr
        );
        let sent = sent_since(&proxy, &before);
        ledger.judge(
            &format!("the example of {}", primitive.name),
            &called(
                &env.path("scripts/main.rhai"),
                &env.path("handles.registry.toml"),
            ),
            &sent,
        );
    }
    let registry = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/dev_min/handles.registry.toml"
    ));
    let m4 = called(Path::new(M4_SCRIPT), registry);
    let mut all = m4.clone();
    for script in [M5_SCRIPT, ROLLBACK_SCRIPT] {
        let (p, l) = called(Path::new(script), registry);
        all.0.extend(p);
        all.1.extend(l);
    }
    ledger.judge("M4, M5 and the rollback", &all, &runbooks.join().unwrap());
    ledger.judge("M4 with a dying daemon", &m4, &m4_dying.join().unwrap());
    let (t, sent) = stop_by_hand.join().unwrap();
    ledger.judge(
        "a task stopped by hand",
        &called(&t.path("stop_by_hand.rhai"), registry),
        &sent,
    );

    for p in primitives::all() {
        for a in p.aws.iter().filter(|a| !a.dependent) {
            if !ledger.credited.contains(&(p.name, a.action)) {
                ledger.failures.push(format!(
                    "{} lists {}, which no run calling it sent",
                    p.name, a.action
                ));
            }
        }
    }
    assert!(ledger.failures.is_empty(), "{}", ledger.failures.join("\n"));
}

fn policy(args: &[&str]) -> crate::harness::Outcome {
    crate::harness::Run::new().arg("policy").args(args).run()
}

fn statements(out: &crate::harness::Outcome) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    doc["Statement"].as_array().unwrap().clone()
}

fn granted(statements: &[serde_json::Value]) -> BTreeSet<String> {
    statements
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The README's dev_min policy: M4's changes only on its thirteen services, its reads scoped to
/// the cluster, `*` only with a Sid that says why; the rehearsal's policy changes nothing.
#[test]
fn the_policy_of_m4_scopes_every_change_and_the_rehearsal_policy_has_none() {
    let env = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dev_min/local.toml");
    let out = policy(&[M4_SCRIPT, "--env", env]);
    out.status(0);
    let full = statements(&out);
    let update = full
        .iter()
        .find(|s| s["Action"] == serde_json::json!(["ecs:UpdateService"]))
        .expect("UpdateService is granted");
    let services = update["Resource"].as_array().unwrap();
    assert_eq!(services.len(), 13);
    assert!(services.iter().all(|r| r.as_str().unwrap().starts_with(
        "arn:aws:ecs:eu-west-2:123456789012:service/fraud-platform-dev-min/fraud-platform-dev-min-"
    )));
    for s in &full {
        if s["Resource"] == serde_json::json!(["*"]) {
            let sid = s["Sid"].as_str().unwrap();
            assert!(
                sid.contains("NoResourceLevel") || s["Condition"].is_object(),
                "a `*` statement says why or is narrowed by a condition: {s}"
            );
        }
    }
    assert!(
        !granted(&full).contains("ecs:RunTask"),
        "M4 starts no one-shot task"
    );

    let out = policy(&[M4_SCRIPT, "--env", env, "--plan-only"]);
    out.status(0);
    let rehearsal = granted(&statements(&out));
    for change in [
        "ecs:UpdateService",
        "s3:PutObject",
        "s3:DeleteObject",
        "logs:PutLogEvents",
        "logs:CreateLogStream",
    ] {
        assert!(!rehearsal.contains(change), "--plan-only grants {change}");
    }
    assert!(rehearsal.contains("ecs:DescribeServices"));
}

/// M5 starts one-shot tasks: RunTask on their families in the cluster only, and the roles passed
/// to ECS tasks only.
#[test]
fn the_policy_of_m5_runs_only_the_one_shot_families_and_passes_roles_to_ecs_only() {
    let env = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/dev_min/local-m5.toml"
    );
    let out = policy(&[M5_SCRIPT, "--env", env]);
    out.status(0);
    let all = statements(&out);
    let run = all
        .iter()
        .find(|s| s["Action"] == serde_json::json!(["ecs:RunTask"]))
        .unwrap();
    assert_eq!(
        run["Condition"]["ArnEquals"]["ecs:cluster"],
        "arn:aws:ecs:eu-west-2:123456789012:cluster/fraud-platform-dev-min"
    );
    assert!(run["Resource"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(
        "arn:aws:ecs:eu-west-2:123456789012:task-definition/fraud-platform-dev-min-oracle-seed:*"
    )));
    let pass = all
        .iter()
        .find(|s| s["Action"] == serde_json::json!(["iam:PassRole"]))
        .unwrap();
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
}

/// A registry that does not say which handles are services: the statement is left out and said
/// (exit 1), never widened to `*`; the near miss with the kinds declared grants it.
#[test]
fn a_service_the_registry_does_not_declare_is_not_granted_and_is_said() {
    let t = Tenant::new();
    let registry = std::fs::read_to_string(t.path("handles.registry.toml")).unwrap();
    std::fs::write(
        t.path("handles.registry.toml"),
        registry.replace("kind = \"ecs_service\"\n", ""),
    )
    .unwrap();
    let env = t.path("local.toml");
    let out = policy(&[M4_SCRIPT, "--env", env.to_str().unwrap()]);
    out.status(1)
        .stderr_has("not granted: ecs:UpdateService")
        .stderr_has("kind = ");
    let left = statements(&out);
    assert!(!granted(&left).contains("ecs:UpdateService"));
    // Nothing else widened to `*` in its place.
    let everywhere: Vec<&serde_json::Value> = left
        .iter()
        .filter(|s| s["Resource"] == serde_json::json!(["*"]))
        .collect();
    assert_eq!(
        granted(&everywhere.into_iter().cloned().collect::<Vec<_>>()),
        BTreeSet::from([
            "ecs:DescribeTaskDefinition".to_owned(),
            "ecs:ListTasks".to_owned()
        ])
    );

    let out = policy(&[
        M4_SCRIPT,
        "--env",
        env.to_str().unwrap(),
        "--account",
        "12345",
    ]);
    out.status(2).stderr_has("--account");
}

/// The README's dev_min policy is the one `m4host policy` generates, so it cannot drift.
#[test]
fn the_readme_shows_the_policy_as_generated() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let shown = readme
        .split_once("dev_min's M4 policy as generated:\n\n```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(json, _)| json)
        .expect("the README shows dev_min's M4 policy");
    let out = policy(&[
        M4_SCRIPT,
        "--env",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dev_min/local.toml"),
    ]);
    out.status(0);
    assert_eq!(
        shown,
        out.stdout.trim_end(),
        "regenerate the README's policy"
    );
}
