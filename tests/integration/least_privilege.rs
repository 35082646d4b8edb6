//! Issue 24, proven by running under it: on a moto of its own that enforces IAM on the resources
//! AWS authorizes (tests/substrate/moto_m4/iam_enforce.py), a user holding exactly the policy
//! `m4host policy` generates runs M4 to ADVANCE_TO_M5 and M5 to ADVANCE_TO_M6, and `--plan` under
//! the `--plan-only` policy; with any one statement of M4's policy removed, M4 holds with the
//! denied action named (never a crash, never a pass), and so does M5 without RunTask or PassRole.

use crate::harness::{EnforcedMoto, Outcome, Run, Tenant, M4_SCRIPT, M5_SCRIPT};
use serde_json::Value;

/// A tenant of dev_min seeded on the enforcing moto, its environment files pointed there, with a
/// 3 s poll-failure budget (a wait that keeps being denied ends then).
fn tenant(moto: &EnforcedMoto) -> Tenant {
    let t = Tenant::seeded_on(&moto.url, &[], moto.admin());
    for file in ["local.toml", "local-m5.toml"] {
        t.edit(
            file,
            "endpoint_url = \"http://127.0.0.1:4566\"",
            &format!("endpoint_url = \"{}\"", moto.url),
        );
        let mut text = std::fs::read_to_string(t.path(file)).unwrap();
        text.push_str("\n[ecs]\npoll_failure_budget_ms = 3000\n");
        std::fs::write(t.path(file), text).unwrap();
    }
    t
}

/// What `m4host policy` prints for `script` under the tenant's `env` file.
fn generated(t: &Tenant, script: &str, env: &str, flags: &[&str]) -> Value {
    let out = Run::new()
        .args(["policy", script, "--env"])
        .arg(t.path(env))
        .args(flags)
        .run();
    out.status(0);
    serde_json::from_str(&out.stdout).unwrap()
}

/// Runs `run` with the user's keys, in a second of its own (execution ids are to the second).
fn as_user(run: Run, keys: &(String, String)) -> Outcome {
    crate::harness::next_execution_second();
    run.env("AWS_ACCESS_KEY_ID", &keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &keys.1)
        .run()
}

fn m5(t: &Tenant, m4: &str) -> Run {
    crate::harness::m5_run(t, m4, &[])
}

fn advanced_m4(t: &Tenant, keys: &(String, String)) -> String {
    let out = as_user(t.m4(&[]), keys);
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5", "{}", out.stdout);
    out.json()["execution_id"].as_str().unwrap().to_owned()
}

#[test]
fn m4_and_m5_advance_under_exactly_their_generated_policies_and_plan_under_the_plan_policy() {
    let moto = EnforcedMoto::start();
    let t = tenant(&moto);
    let m4_keys = moto.user("m4-operator", &generated(&t, M4_SCRIPT, "local.toml", &[]));
    // The near miss first: the default keys are no user here, so nothing is allowed.
    crate::harness::next_execution_second();
    let out = t.m4(&[]).run();
    out.status(3);
    assert!(
        out.stdout.contains("InvalidClientTokenId") || out.stdout.contains("security token"),
        "{}",
        out.stdout
    );

    let m4 = advanced_m4(&t, &m4_keys);
    let m5_keys = moto.user(
        "m5-operator",
        &generated(&t, M5_SCRIPT, "local-m5.toml", &[]),
    );
    let out = as_user(m5(&t, &m4), &m5_keys);
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M6", "{}", out.stdout);

    let rehearsal = tenant(&moto);
    let plan_keys = moto.user(
        "m4-rehearsal",
        &generated(&rehearsal, M4_SCRIPT, "local.toml", &["--plan-only"]),
    );
    let out = as_user(rehearsal.m4(&[]).arg("--plan"), &plan_keys);
    // As on the open substrate: only the predicates a rehearsal cannot prove hold it.
    out.status(3);
    let json = out.json();
    let codes: Vec<&str> = json["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["M4I-B2"], "{}", out.stdout);
    assert_eq!(out.would_do_count("would update"), 13);
}

/// The statement-by-statement near misses: M4 under its policy less one statement holds, with
/// the denial in a blocker's reason, in the phase that needs what was removed.
#[test]
fn m4_without_any_one_statement_of_its_policy_holds_with_the_denial_named() {
    let moto = EnforcedMoto::start();
    let sids: Vec<String> = generated(&tenant(&moto), M4_SCRIPT, "local.toml", &[])["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_owned())
        .collect();
    assert!(sids.len() >= 10, "{sids:?}");
    let moto = &moto;
    // Three at a time, each on a tenant of its own with the policy generated for it.
    let results: Vec<(Value, Outcome)> = std::thread::scope(|scope| {
        let lanes: Vec<_> = (0..3)
            .map(|lane| {
                let mine: Vec<String> = sids.iter().skip(lane).step_by(3).cloned().collect();
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|sid| {
                            let t = tenant(moto);
                            let mut less = generated(&t, M4_SCRIPT, "local.toml", &[]);
                            let statements = less["Statement"].as_array_mut().unwrap();
                            let at = statements.iter().position(|s| s["Sid"] == sid.as_str());
                            let removed = statements.remove(at.unwrap());
                            let keys = moto.user(&format!("without-{sid}"), &less);
                            (removed, as_user(t.m4(&[]), &keys))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        lanes.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut failures = Vec::new();
    for (removed, out) in &results {
        let sid = removed["Sid"].as_str().unwrap();
        let actions: Vec<&str> = removed["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let json = out.json();
        let blockers = json["blockers"].as_array().cloned().unwrap_or_default();
        let reasons: Vec<String> = blockers
            .iter()
            .map(|b| format!("{} {}: {}", b["phase"], b["code"], b["reason"]))
            .collect();
        // S3 says "Access Denied" without the action; the JSON and query services name it.
        let named = if actions.iter().all(|a| a.starts_with("s3:")) {
            reasons
                .iter()
                .any(|r| r.contains("AccessDenied") || r.contains("denied"))
        } else {
            reasons.iter().any(|r| {
                actions
                    .iter()
                    .any(|a| r.contains(&format!("not authorized to perform: {a}")))
            })
        };
        let in_a_sub_phase = blockers
            .first()
            .is_some_and(|b| b["phase"] != "M4.I" && b["phase"] != "M4.J");
        if out.status != 3 || json["verdict"] != "HOLD_M4" || !named || !in_a_sub_phase {
            failures.push(format!(
                "without {sid}: exit {}, verdict {}, blockers:\n  {}\nstderr: {}",
                out.status,
                json["verdict"],
                reasons.join("\n  "),
                out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A probe object is not evidence: under M4's policy without s3:DeleteObject on the probe objects
/// (as an evidence bucket that denies every delete would be) M4 still advances, and the operator
/// is told, once per bucket, which object is left and how to stop it being left. The near miss:
/// under the whole policy nothing is said (the advance test asserts no probe object is left).
#[test]
fn a_probe_object_that_cannot_be_removed_is_named_and_holds_nothing() {
    let moto = EnforcedMoto::start();
    let t = tenant(&moto);
    let mut less = generated(&t, M4_SCRIPT, "local.toml", &[]);
    let probes = less["Statement"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["Sid"] == "S3WriteProbeObjectsOnly")
        .expect("the policy has a statement for the probe objects");
    let actions = probes["Action"].as_array_mut().unwrap();
    actions.retain(|a| a != "s3:DeleteObject");
    assert!(!actions.is_empty(), "{probes}");
    let keys = moto.user("m4-no-probe-delete", &less);
    let out = as_user(t.m4(&[]), &keys);
    out.status(0);
    assert_eq!(out.json()["verdict"], "ADVANCE_TO_M5", "{}", out.stdout);
    let left: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("/_m4host_probe/") && l.contains("is left in place"))
        .collect();
    assert_eq!(left.len(), 4, "one per bucket probed:\n{}", out.stderr);
    assert!(
        left.iter()
            .all(|l| l.contains("AccessDenied") && l.contains("allow s3:DeleteObject on")),
        "{left:?}"
    );

    let whole = tenant(&moto);
    let keys = moto.user(
        "m4-operator",
        &generated(&whole, M4_SCRIPT, "local.toml", &[]),
    );
    let out = as_user(whole.m4(&[]), &keys);
    out.status(0);
    assert!(!out.stderr.contains("is left in place"), "{}", out.stderr);
}

/// M5 starts one-shot tasks: without RunTask, or without passing the task's roles, it holds
/// before any job ran, naming the action ECS denied.
#[test]
fn m5_without_run_task_or_pass_role_holds_naming_it() {
    let moto = EnforcedMoto::start();
    let t = tenant(&moto);
    let m4 = advanced_m4(
        &t,
        &moto.user("m4-operator", &generated(&t, M4_SCRIPT, "local.toml", &[])),
    );
    for action in ["iam:PassRole", "ecs:RunTask"] {
        let mut less = generated(&t, M5_SCRIPT, "local-m5.toml", &[]);
        less["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Action"] != serde_json::json!([action]));
        let keys = moto.user(&format!("m5-without-{}", action.replace(':', "-")), &less);
        let out = as_user(m5(&t, &m4), &keys);
        out.status(3);
        let json = out.json();
        assert_eq!(json["verdict"], "HOLD_M5", "{}", out.stdout);
        let first = &json["blockers"][0];
        assert!(
            first["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("not authorized to perform: {action}")),
            "without {action}: {first}"
        );
        assert!(
            json["artifacts"]["m6_handoff_pack"].is_null(),
            "no handoff after a hold"
        );
    }
}
