//! Each malformed configuration file is a usage error found before any script runs: exit 2 and
//! one message naming the file, the key and the fix.

use crate::harness::{Env, Run};

const SCRIPT: &str = "print(\"must not run\");";

fn expect_usage(env: &Env, what: &str) {
    env.run(SCRIPT)
        .run()
        .one_usage_error(what)
        .nowhere("must not run");
}

#[test]
fn env_file_missing() {
    let env = Env::files_only();
    Run::new()
        .args(["run", "x.rhai", "--env", "/nonexistent/m4host.toml"])
        .run()
        .one_usage_error("/nonexistent/m4host.toml: environment file not found");
    let _ = env;
}

#[test]
fn env_file_missing_via_m4host_env() {
    Run::new()
        .args(["run", "x.rhai"])
        .env("M4HOST_ENV", "/nonexistent/env.toml")
        .run()
        .one_usage_error("environment file not found");
}

#[test]
fn env_toml_syntax_error_names_line() {
    let env = Env::files_only();
    env.write("m4host.toml", "[aws]\nregion = \"eu-west-2\n");
    expect_usage(&env, "m4host.toml: invalid environment file");
    env.run(SCRIPT).run().stderr_has("line 2");
}

#[test]
fn env_unknown_key_is_named() {
    let env = Env::files_only();
    let text = env
        .env_toml("http://127.0.0.1:4566")
        .replace("region =", "regoin =");
    env.write("m4host.toml", &text);
    expect_usage(&env, "regoin");
}

#[test]
fn env_endpoint_not_a_url() {
    let env = Env::files_only();
    env.write("m4host.toml", &env.env_toml("127.0.0.1:4566"));
    expect_usage(
        &env,
        "`aws.endpoint_url` = `127.0.0.1:4566` is not an http(s) URL",
    );
}

#[test]
fn registry_unknown_origin() {
    let env = Env::files_only();
    env.write(
        "handles.registry.toml",
        "[ECS_CLUSTER_NAME]\norigin = \"vault\"\nref = \"x\"\nsecret = false\n",
    );
    expect_usage(&env, "handle `ECS_CLUSTER_NAME` has unknown origin `vault`");
    env.run(SCRIPT)
        .run()
        .stderr_has("help: origin must be one of terraform_output, ssm_parameter or literal");
}

#[test]
fn registry_missing_ref() {
    let env = Env::files_only();
    env.write(
        "handles.registry.toml",
        "[DB_NAME]\norigin = \"ssm_parameter\"\nsecret = false\n",
    );
    expect_usage(&env, "handles.registry.toml: handle `DB_NAME` has no `ref`");
}

#[test]
fn registry_duplicate_key() {
    let env = Env::files_only();
    env.write(
        "handles.registry.toml",
        "[DB_NAME]\norigin = \"literal\"\nref = \"a\"\nsecret = false\n\n[DB_NAME]\norigin = \"literal\"\nref = \"b\"\nsecret = false\n",
    );
    expect_usage(&env, "handles.registry.toml: invalid handles registry");
    env.run(SCRIPT).run().stderr_has("line 6");
}

#[test]
fn registry_syntax_error() {
    let env = Env::files_only();
    env.write("handles.registry.toml", "[DB_NAME\norigin = \"literal\"\n");
    expect_usage(&env, "invalid handles registry");
}

#[test]
fn outputs_not_terraform_shape() {
    let env = Env::files_only();
    env.write(
        "terraform_outputs.json",
        r#"{"ecs_cluster_name": "fraud-platform-dev-min"}"#,
    );
    expect_usage(
        &env,
        "terraform_outputs.json: output `ecs_cluster_name` is not an object with a `value`",
    );
    env.run(SCRIPT).run().stderr_has("terraform output -json");
}

#[test]
fn outputs_json_syntax_error() {
    let env = Env::files_only();
    env.write("terraform_outputs.json", "{\"a\": {\"value\": }");
    expect_usage(&env, "terraform_outputs.json: invalid JSON");
}

#[test]
fn outputs_file_missing() {
    let env = Env::files_only();
    std::fs::remove_file(env.path("terraform_outputs.json")).unwrap();
    expect_usage(&env, "terraform outputs file not found");
}

#[test]
fn m3_location_with_foreign_scheme() {
    let env = Env::files_only();
    let text = env.env_toml("http://127.0.0.1:4566").replace(
        "\"m3/m4_handoff_pack.json\"",
        "\"https://example.invalid/pack.json\"",
    );
    env.write("m4host.toml", &text);
    expect_usage(
        &env,
        "`inputs.m3_handoff`: `https://example.invalid/pack.json` uses a scheme other than s3://",
    );
}

#[test]
fn durations_take_human_forms_and_refuse_the_rest() {
    let env = Env::files_only();
    let base = env.env_toml("http://127.0.0.1:4566");
    env.write(
        "m4host.toml",
        &format!("{base}\n[ecs]\nsoak_ms = \"1m30s\"\nplacement_grace_ms = 45000\n"),
    );
    env.run("print(\"ran\");").run().status(0).stdout_has("ran");
    env.write(
        "m4host.toml",
        &format!("{base}\n[ecs]\nsoak_ms = \"45 parsecs\"\n"),
    );
    expect_usage(&env, "not a duration");
    env.run(SCRIPT).run().stderr_has("soak_ms");
}
