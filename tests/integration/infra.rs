//! ECS and IAM primitives through the binary against the substrate: host guards, stability,
//! crash loop, stuck pending, rollback, plan mode, describe batching, IAM posture.

use crate::harness::{block_on, clients, Env, OwnService, M4_ENTRY, PLATFORM_RUN_ID};

/// `body` inside a phase (a change to the world needs one, issue #29), then a verdict, so the
/// script ends 0 when the body raised nothing uncaught.
fn in_phase(body: &str) -> String {
    format!(
        "{M4_ENTRY}run_phase(\"M9.F\", || {{\n{body}\n}});\nverdict(#{{ done: true }}, \"DONE\", \"NOT_DONE\");\n"
    )
}

fn wait_script(own: &OwnService, timeout_ms: u64) -> String {
    in_phase(&format!(
        r#"let u = ecs_update_service("{c}", "{s}", #{{ desired_count: 1 }});
print(`performed=${{u.performed}} previous=${{u.previous_desired_count}}`);
let w = ecs_wait_stable("{c}", ["{s}"], #{{ timeout_ms: {timeout_ms}, soak_ms: 300 }});
let r = w.services["{s}"];
print(`outcome=${{w.outcome}} all_stable=${{w.all_stable}} service=${{r.outcome}} tasks=${{r.task_arns.len()}} stops=${{r.stops.len()}}`);
print(`reason=${{r.reason}}`);
if r.stops.len() > 0 {{ print(`exit=${{r.stops[0].containers.map(|c| c.exit_code)}} code=${{r.stops[0].stop_code}}`) }}
"#,
        c = own.cluster,
        s = own.service
    ))
}

#[test]
fn update_and_wait_reaches_stable_singleton() {
    let env = Env::new();
    let own = OwnService::with_run_id(None, PLATFORM_RUN_ID);
    let started = std::time::Instant::now();
    let out = env
        .run(&wait_script(&own, 10_000))
        .args(["--output", "json"])
        .run();
    out.status(0)
        .stderr_has("performed=true previous=0")
        .stderr_has("outcome=pass all_stable=true service=stable tasks=1 stops=0");
    assert!(started.elapsed().as_secs() < 10);
    let json = out.json();
    assert!(json["api_calls"]["ecs"].as_u64().unwrap() >= 4, "{json}");
    assert_eq!(own.describe().desired_count(), 1);
}

#[test]
fn crash_loop_is_detected_before_the_timeout() {
    let env = Env::new();
    let own = OwnService::with_run_id(Some("crash_loop"), PLATFORM_RUN_ID);
    let started = std::time::Instant::now();
    env.run(&wait_script(&own, 20_000))
        .run()
        .status(0)
        .stdout_has("outcome=fail all_stable=false service=crash_loop")
        .stdout_has("exit=[1] code=EssentialContainerExited");
    assert!(
        started.elapsed().as_secs() < 10,
        "crash loop found in {:?}",
        started.elapsed()
    );
}

#[test]
fn stuck_pending_times_out_as_a_failure_not_a_pass() {
    let env = Env::new();
    let own = OwnService::with_run_id(Some("stuck_pending"), PLATFORM_RUN_ID);
    env.run(&wait_script(&own, 1_500))
        .run()
        .status(0)
        .stdout_has("outcome=fail all_stable=false service=settling")
        .stdout_has("running 0/1, 1 pending");
}

#[test]
fn rolled_back_deployment_is_not_stable() {
    let env = Env::new();
    let own = OwnService::with_run_id(None, PLATFORM_RUN_ID);
    own.scale(1);
    own.wait_until("running", |s| s.running_count() == 1);
    let v2 = block_on(own.register("v2"));
    own.fault(Some("rollback"));
    own.deploy(&v2);
    let script = format!(
        r#"let w = ecs_wait_stable("{c}", ["{s}"], #{{ timeout_ms: 10000, soak_ms: 1500, crash_threshold: 99, expected_task_definitions: #{{ "{s}": "{v2}" }} }});
print(`service=${{w.services["{s}"].outcome}} primary=${{w.services["{s}"].primary_task_definition}}`);"#,
        c = own.cluster,
        s = own.service
    );
    env.run(&script)
        .run()
        .status(0)
        .stdout_has("service=rolled_back");
}

#[test]
fn update_guards_refuse() {
    let env = Env::new();
    let wrong_scope = OwnService::new(None); // carries REQUIRED_PLATFORM_RUN_ID=platform_x
    let script = in_phase(&format!(
        r#"for d in [2, 0] {{ try {{ ecs_update_service("{c}", "{s}", #{{ desired_count: d }}) }} catch (e) {{ print(`${{d}}: ${{e.code}}`) }} }}
try {{ ecs_update_service("{c}", "{s}", #{{ desired_count: 1 }}) }} catch (e) {{ print(`${{e.code}}: ${{e.message}}`) }}"#,
        c = wrong_scope.cluster,
        s = wrong_scope.service
    ));
    env.run(&script)
        .run()
        .status(0)
        .stdout_has("2: NOT_SINGLETON")
        .stdout_has("0: NOT_SINGLETON")
        .stdout_has("RUN_SCOPE_MISMATCH: refused to start")
        .stdout_has("carries REQUIRED_PLATFORM_RUN_ID=platform_x, not platform_20260213T221631Z");
    assert_eq!(wrong_scope.describe().desired_count(), 0, "nothing changed");
}

#[test]
fn no_action_after_a_hold() {
    let env = Env::new();
    let own = OwnService::with_run_id(None, PLATFORM_RUN_ID);
    let script = format!(
        r#"{M4_ENTRY}run_phase("M4.D", || {{ block("M4D-B1", "kafka unreachable") }});
run_phase("M4.F", || {{ try {{ ecs_update_service("{c}", "{s}", #{{ desired_count: 1 }}) }} catch (e) {{ print(e.code) }} }});
verdict(#{{ a: true }}, "ADVANCE_TO_M5", "HOLD_M4");"#,
        c = own.cluster,
        s = own.service
    );
    env.run(&script).run().status(3).stdout_has("HELD");
    assert_eq!(own.describe().desired_count(), 0);
}

#[test]
fn plan_mode_records_would_update_and_changes_nothing() {
    let env = Env::new();
    let own = OwnService::with_run_id(None, PLATFORM_RUN_ID);
    let script = in_phase(&format!(
        r#"let u = ecs_update_service("{c}", "{s}", #{{ desired_count: 1 }});
print(`performed=${{u.performed}}`);"#,
        c = own.cluster,
        s = own.service
    ));
    let out = env.run(&script).args(["--plan", "--output", "json"]).run();
    out.status(0).stderr_has("performed=false");
    let would = out.json()["would_do"][0].as_str().unwrap().to_owned();
    assert!(
        would.contains(&format!(
            "would update {}/{}: desired count 0 -> 1",
            own.cluster, own.service
        )),
        "{would}"
    );
    assert_eq!(own.describe().desired_count(), 0);
}

#[test]
fn describe_batches_ten_per_call_and_reports_missing() {
    let env = Env::new();
    let script = r#"
let names = [];
for s in ["ig", "rtdl-archive-writer", "rtdl-ieg", "rtdl-ofp", "rtdl-csfb", "decision-dl", "decision-df",
          "decision-al", "decision-dla", "case-trigger", "case-cm", "case-ls", "env-conformance"] {
    names.push(`fraud-platform-dev-min-${s}`);
}
let r = ecs_describe_services("fraud-platform-dev-min", names);
print(`${r.outcome} ${r.services.len()} ${r.missing.len()}`);
let ig = r.services["fraud-platform-dev-min-ig"];
print(`subnets=${ig.subnets.len()} public=${ig.assign_public_ip} deployments=${ig.deployments.len()}`);
let m = ecs_describe_services("fraud-platform-dev-min", ["fraud-platform-dev-min-ig", "no-such-service"]);
print(`${m.outcome}: ${m.reason}`);
let td = ecs_task_definition(ig.task_definition).task_definition;
print(`scope=${td.containers[0].environment.REQUIRED_PLATFORM_RUN_ID} secrets=${td.containers[0].secrets.len()} log=${td.containers[0].log_driver}`);
"#;
    let out = env.run(script).args(["--output", "json"]).run();
    out.status(0)
        .stderr_has("pass 13 0")
        .stderr_has("subnets=2 public=ENABLED deployments=1")
        .stderr_has("fail: not found: no-such-service (MISSING)")
        .stderr_has("scope=platform_20260213T221631Z secrets=4 log=awslogs");
    // 13 services in 2 DescribeServices calls, the second describe 1 call, 1 DescribeTaskDefinition.
    assert_eq!(out.json()["api_calls"]["ecs"], 4);
}

#[test]
fn iam_role_and_simulation() {
    let env = Env::new();
    let lambda_role = crate::harness::unique("lambda-only");
    block_on(
        clients()
            .iam
            .create_role()
            .role_name(&lambda_role)
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send(),
    )
    .unwrap();
    let script = format!(
        r#"let r = iam_role("fraud-platform-dev-min-daemon-task");
print(`daemon: ${{r.outcome}} ${{r.trust_allows_ecs_tasks}}`);
print(`missing: ${{iam_role("no-such-role").outcome}} ${{iam_role("no-such-role").reason}}`);
print(`lambda: ${{iam_role("{lambda_role}").outcome}}`);
let s = iam_simulate(r.arn, [
  #{{ action: "ssm:GetParameter", resource: "arn:aws:ssm:eu-west-2:123456789012:parameter/fraud-platform/dev_min/confluent/api_secret" }},
  #{{ action: "s3:PutObject", resource: "arn:aws:s3:::fraud-platform-dev-min-evidence/evidence/x.json" }},
  #{{ action: "s3:DeleteObject", resource: "arn:aws:s3:::fraud-platform-dev-min-evidence/evidence/x.json" }},
]);
print(`simulate: ${{s.outcome}} ${{s.results[0].decision}} ${{s.results[1].decision}} ${{s.results[2].decision}}`);
print(`matched: ${{s.results[0].matched_statements}}`);
print(`denied: ${{s.reason}}`);"#
    );
    env.run(&script)
        .run()
        .status(0)
        .stdout_has("daemon: pass true")
        .stdout_has("missing: fail role `no-such-role` does not exist")
        .stdout_has("lambda: fail")
        .stdout_has("simulate: fail allowed allowed implicitDeny")
        .stdout_has("fraud-platform-dev-min-daemon-task-policy#1")
        .stdout_has("denied: s3:DeleteObject on arn:aws:s3:::fraud-platform-dev-min-evidence/evidence/x.json: implicitDeny");
}

#[test]
fn dead_endpoint_is_an_error_outcome_in_seconds() {
    let env = Env::files_only();
    env.write("m4host.toml", &env.env_toml("http://127.0.0.1:9"));
    let started = std::time::Instant::now();
    env.run("let r = ecs_describe_services(\"c\", [\"s\"]);\nprint(`${r.outcome}: ${r.reason}`);\nprint(iam_role(\"r\").outcome);")
        .run()
        .status(0)
        .stdout_has("error: DescribeServices: could not connect")
        .stdout_has("error");
    assert!(started.elapsed().as_secs() < 15, "{:?}", started.elapsed());
}
