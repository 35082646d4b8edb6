//! AWS credentials as operators hold them (issue 15): a named profile in the environment file or
//! `AWS_PROFILE`, through aws-config's standard chain — shared config and credentials files, a
//! `role_arn` + `source_profile` profile assumed through STS (moto's) — with the identity the run
//! acted as recorded in M4.A's snapshot and the keys nowhere: not on the screen, not in evidence.

use crate::harness::{endpoint, Run, Tenant};

const KEY_ID: &str = "AKIAM4HOSTPROFILE01";
const SECRET: &str = "m4host-profile-secret-never-printed";
const ROLE: &str = "arn:aws:iam::123456789012:role/m4-operator";

/// Shared config and credentials files in the tenant's folder: a source profile with static keys
/// and an operator profile that assumes a role from it (STS at the profile's endpoint_url, the
/// AWS-documented per-profile endpoint setting).
fn shared_files(t: &Tenant) -> (String, String) {
    let config = t.path("aws-config");
    let credentials = t.path("aws-credentials");
    std::fs::write(
        &config,
        format!(
            "[profile m4-source]\nregion = eu-west-2\n\n\
             [profile m4-operator]\nrole_arn = {ROLE}\nsource_profile = m4-source\n\
             role_session_name = m4host-profile-test\nregion = eu-west-2\nendpoint_url = {}\n",
            endpoint()
        ),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!("[m4-source]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    (
        config.display().to_string(),
        credentials.display().to_string(),
    )
}

/// A run with only the shared files for credentials: no keys in the environment.
fn with_files(run: Run, files: &(String, String)) -> Run {
    run.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &files.0)
        .env("AWS_SHARED_CREDENTIALS_FILE", &files.1)
}

#[test]
fn m4_advances_through_an_assumed_role_profile_and_records_who_it_acted_as() {
    let t = Tenant::new();
    let files = shared_files(&t);
    t.edit(
        "local.toml",
        "region = \"eu-west-2\"",
        "region = \"eu-west-2\"\nprofile = \"m4-operator\"",
    );
    // Keys stay in the environment too: a profile named in the env file is the only source, so
    // the run acts as the assumed role and not as whoever the environment's keys belong to.
    let run = t
        .m4(&[])
        .env("AWS_CONFIG_FILE", &files.0)
        .env("AWS_SHARED_CREDENTIALS_FILE", &files.1)
        .run();
    run.status(0);
    assert_eq!(run.json()["verdict"], "ADVANCE_TO_M5");
    assert!(
        run.json()["api_calls"]["sts"].as_u64().unwrap_or(0) >= 1,
        "{}",
        run.json()["api_calls"]
    );
    let key = t
        .bucket_keys()
        .into_iter()
        .find(|k| k.ends_with("/m4_a_handle_closure_snapshot.json"))
        .unwrap();
    let a: serde_json::Value = serde_json::from_slice(&t.object(&key)).unwrap();
    let who = &a["aws_identity"];
    assert_eq!(who["outcome"], "pass", "{who}");
    assert_eq!(who["account"], "123456789012", "{who}");
    let arn = who["arn"].as_str().unwrap();
    assert!(
        arn.contains(":assumed-role/m4-operator/m4host-profile-test"),
        "the assumed role acted, not the source keys: {arn}"
    );
    assert!(
        who["credential_source"]
            .as_str()
            .unwrap()
            .contains("profile m4-operator ([aws] profile)"),
        "{who}"
    );
    // The keys are nowhere: not on the screen, not in any artifact.
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(KEY_ID) && !text.contains(SECRET), "{text}");
    }
    for key in t.bucket_keys() {
        let body = String::from_utf8_lossy(&t.object(&key)).into_owned();
        assert!(
            !body.contains(KEY_ID) && !body.contains(SECRET),
            "{key} holds a key"
        );
    }
}

/// A script that prints who it acts as, run with only the shared files for credentials.
fn who(t: &Tenant, files: &(String, String)) -> Run {
    let path = t.path("who.rhai");
    std::fs::write(
        &path,
        "let who = aws_identity();\nprint(`${who.outcome}|${who.arn}|${who.credential_source}|${who.reason}`);\n",
    )
    .unwrap();
    with_files(
        Run::new()
            .arg("run")
            .arg(&path)
            .arg("--env")
            .arg(t.path("local.toml")),
        files,
    )
}

#[test]
fn aws_profile_from_the_environment_and_a_profile_that_does_not_exist() {
    let t = Tenant::new();
    let files = shared_files(&t);
    let out = who(&t, &files).env("AWS_PROFILE", "m4-operator").run();
    out.status(0)
        .stdout_has("pass|arn:aws:sts::123456789012:assumed-role/m4-operator/m4host-profile-test|profile m4-operator (AWS_PROFILE)");

    // A profile the files do not define: a configuration error before anything runs (issue
    // #28; it used to surface at the first call), naming the files looked in — it never falls
    // back to other credentials.
    t.edit(
        "local.toml",
        "region = \"eu-west-2\"",
        "region = \"eu-west-2\"\nprofile = \"m4-missing\"",
    );
    who(&t, &files)
        .run()
        .status(2)
        .stderr_has("`aws.profile` = `m4-missing` is not a profile of");

    // Not a profile name: a configuration error before anything runs.
    t.edit(
        "local.toml",
        "profile = \"m4-missing\"",
        "profile = \"m4 [missing]\"",
    );
    who(&t, &files)
        .run()
        .status(2)
        .stderr_has("`aws.profile` = `m4 [missing]` is not a profile name");
}
