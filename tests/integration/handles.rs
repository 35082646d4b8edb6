//! Handle resolution against the substrate: each origin, and what the runbook must judge
//! (unresolved, wildcard, ambiguous) reported rather than defaulted.

use crate::harness::Env;

#[test]
fn resolves_each_origin() {
    let env = Env::new();
    let out = env
        .run("print(resolve_handle(\"REQUIRED_PLATFORM_RUN_ID_ENV_KEY\"));\nprint(resolve_handle(\"ECS_CLUSTER_NAME\"));\nprint(resolve_handle(\"SUBNET_IDS_PUBLIC\")[1]);\nprint(resolve_handle(\"DB_NAME\"));")
        .args(["--output", "json"])
        .run();
    out.status(0)
        .stderr_has("REQUIRED_PLATFORM_RUN_ID")
        .stderr_has("fraud-platform-dev-min")
        .stderr_has("subnet-0b2")
        .stderr_has("fraud");
    assert_eq!(out.json()["api_calls"]["ssm"], 1);
}

#[test]
fn closure_report_lists_every_kind_of_problem() {
    let env = Env::new();
    let out = env
        .run(
            r#"
let r = resolve_handles(["ECS_CLUSTER_NAME", "DB_NAME", "API_SECRET", "MISSING_PARAM", "NOT_IN_REGISTRY",
                         "SVC_WILDCARD", "SVC_*", "DB_PASSWORD_SENSITIVE_OUTPUT", "SECURE_BUT_PUBLIC"]);
print(to_json(#{
    resolved: r.resolved_handle_count, unresolved: r.unresolved_handle_keys, wildcard: r.wildcard_key_present,
    wildcard_keys: r.wildcard_keys, ambiguous: r.ambiguous_handle_keys, closed: r.closed,
    origin: r.resolved.DB_NAME.origin, class: r.resolved.API_SECRET.secret_class,
}));
print(r.resolved.API_SECRET.value);
print(r.unresolved.MISSING_PARAM);
"#,
        )
        .run();
    out.status(0)
        .stdout_has(r#""resolved":3"#)
        .stdout_has(r#""unresolved":["DB_PASSWORD_SENSITIVE_OUTPUT","MISSING_PARAM","NOT_IN_REGISTRY","SECURE_BUT_PUBLIC","SVC_*","SVC_WILDCARD"]"#)
        .stdout_has(r#""wildcard":true"#)
        .stdout_has(r#""wildcard_keys":["SVC_WILDCARD","SVC_*"]"#)
        .stdout_has(r#""ambiguous":["DB_PASSWORD_SENSITIVE_OUTPUT","SECURE_BUT_PUBLIC"]"#)
        .stdout_has(r#""closed":false"#)
        .stdout_has(r#""origin":"ssm_parameter""#)
        .stdout_has(r#""class":"secret""#)
        .stdout_has("<redacted:API_SECRET>")
        .stdout_has("does not exist")
        .nowhere("sekret-value-123")
        .nowhere("tf-sensitive");
}

#[test]
fn single_handle_failures_are_catchable_with_codes() {
    let env = Env::new();
    env.run("for k in [\"NOT_IN_REGISTRY\", \"SVC_WILDCARD\", \"DB_PASSWORD_SENSITIVE_OUTPUT\"] { try { resolve_handle(k) } catch (e) { print(`${k}: ${e.code}`) } }")
        .run()
        .status(0)
        .stdout_has("NOT_IN_REGISTRY: HANDLE_UNRESOLVED")
        .stdout_has("SVC_WILDCARD: HANDLE_WILDCARD")
        .stdout_has("DB_PASSWORD_SENSITIVE_OUTPUT: HANDLE_AMBIGUOUS");
}

#[test]
fn uncaught_unresolved_handle_is_a_fault_not_a_pass() {
    let env = Env::new();
    env.run("let v = resolve_handle(\"NOT_IN_REGISTRY\");\nprint(\"continued\");")
        .run()
        .status(1)
        .nowhere("continued")
        .stderr_has("HANDLE_UNRESOLVED: `NOT_IN_REGISTRY` is not in the handles registry");
}

#[test]
fn dead_endpoint_fails_in_seconds_not_minutes() {
    let env = Env::files_only();
    env.write("m4host.toml", &env.env_toml("http://127.0.0.1:9"));
    let started = std::time::Instant::now();
    env.run("try { resolve_handle(\"DB_NAME\") } catch (e) { print(e.message) }")
        .run()
        .status(0)
        .stdout_has("could not be read")
        .stdout_has("could not connect");
    assert!(
        started.elapsed().as_secs() < 15,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn ssm_secret_reads_a_path_as_a_secret() {
    let env = Env::new();
    env.run("let s = ssm_secret(resolve_handle(\"SSM_CONFLUENT_API_SECRET_PATH\"));\nprint(is_secret(s));\nprint(s.handle.len() > 0);\ntry { ssm_secret(\"/no/such/param\") } catch (e) { print(e.code) }")
        .run()
        .status(0)
        .stdout_has("true")
        .stdout_has("SSM_MISSING")
        .nowhere("sekret-value-123");
}
