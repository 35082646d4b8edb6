//! A tenant of dev_min: a fresh copy of the environment seeded under names of its own (cluster,
//! services, roles, buckets, parameters, topics, database), the M4 and M5 runs on it, and the
//! assertions every runbook test makes of a HOLD.

use super::substrate::{clients, control};
use super::support::{aws, block_on, unique, Outcome, Run};
use std::path::PathBuf;

/// The runbooks, as the tests run them.
pub(crate) const M4_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/m4/main.rhai");
pub(crate) const M5_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/m5/main.rhai");
pub(crate) const ROLLBACK_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/m4/rollback.rhai");
const DEV_MIN_ENVIRONMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/dev_min/environment.toml"
);

/// A container definition being written, as a test edits a task definition.
pub(crate) type Builder = aws_sdk_ecs::types::builders::ContainerDefinitionBuilder;

pub(crate) struct Tenant {
    dir: tempfile::TempDir,
    pub(crate) name: String,
}

/// Waits for the wall clock's next second: execution ids (and the local mirror's folders) are
/// stamped to the second, so a second run of the same tenant must start in a later one.
pub(crate) fn next_execution_second() {
    let millis = chrono::Utc::now().timestamp_subsec_millis().min(999);
    std::thread::sleep(std::time::Duration::from_millis(
        u64::from(1000 - millis) + 10,
    ));
}

impl Tenant {
    /// Seeds a fresh copy of dev_min with fast scheduler timings.
    pub(crate) fn new() -> Tenant {
        Tenant::with_replacements(&[])
    }

    /// Seeds a fresh copy of dev_min with one more text replacement per pair (OLD, NEW) in its
    /// files, e.g. a private broker's or database's address, which the seeding then uses too.
    pub(crate) fn with_replacements(replacements: &[(&str, &str)]) -> Tenant {
        aws(); // the substrate answers
        Tenant::seeded_on(&super::endpoint(), replacements, ("testing", "testing"))
    }

    /// Seeds a fresh copy of dev_min on the moto at `endpoint`, signing with `keys`.
    pub(crate) fn seeded_on(
        endpoint: &str,
        replacements: &[(&str, &str)],
        keys: (&str, &str),
    ) -> Tenant {
        let tenant = Tenant {
            dir: tempfile::tempdir().unwrap(),
            name: unique("t").replace('_', "-"),
        };
        let out = std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/substrate/seed.py"
            ))
            .args(["--endpoint", endpoint, "--tenant", &tenant.name, "--out"])
            .arg(tenant.dir.path())
            .args(
                replacements
                    .iter()
                    .flat_map(|(old, new)| ["--replace".to_owned(), format!("{old}=>{new}")]),
            )
            .args([
                "--timing",
                r#"{"start_delay": 0.1, "crash_after": 0.2, "restart_delay": 0.1}"#,
                DEV_MIN_ENVIRONMENT,
            ])
            .env("AWS_ACCESS_KEY_ID", keys.0)
            .env("AWS_SECRET_ACCESS_KEY", keys.1)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "seeding failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tenant
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn prefix(&self) -> String {
        format!("fraud-platform-{}", self.name)
    }

    pub(crate) fn service(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix())
    }

    pub(crate) fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(rel)).unwrap();
        assert!(text.contains(from), "{rel} has no {from:?}");
        std::fs::write(self.path(rel), text.replacen(from, to, 1)).unwrap();
    }

    /// Runs M4 with fast windows; `sets` (KEY=VALUE) override them.
    pub(crate) fn run_with(&self, sets: &[&str], flags: &[&str]) -> Outcome {
        self.m4(sets).args(flags).run()
    }

    /// The M4 run of `run_with`, not yet started (a test may add to its environment).
    pub(crate) fn m4(&self, sets: &[&str]) -> Run {
        let mut values = std::collections::BTreeMap::from([
            ("soak_ms", "300".to_owned()),
            ("stabilization_interval_ms", "200".to_owned()),
        ]);
        for s in sets {
            let (k, v) = s.split_once('=').unwrap();
            values.insert(k, v.to_owned());
        }
        let mut run = Run::new()
            .args(["run", M4_SCRIPT, "--env"])
            .arg(self.path("local.toml"))
            .args(["--output", "json"]);
        for (k, v) in values {
            run = run.args(["--set", &format!("{k}={v}")]);
        }
        run
    }

    /// Rolls back `execution` with scripts/m4/rollback.rhai, in a second of its own (execution
    /// ids are stamped to the second, so two runs in one second would share one).
    pub(crate) fn rollback(&self, execution: &str) -> Outcome {
        next_execution_second();
        Run::new()
            .args([
                "run",
                concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/m4/rollback.rhai"),
                "--env",
            ])
            .arg(self.path("local.toml"))
            .args([
                "--output",
                "json",
                "--set",
                &format!("execution={execution}"),
            ])
            .run()
    }

    pub(crate) fn run(&self, flags: &[&str]) -> Outcome {
        self.run_with(&[], flags)
    }

    pub(crate) fn fault(&self, short: &str, mode: &str, rollback_to: Option<&str>) {
        self.fault_with(
            short,
            mode,
            rollback_to,
            serde_json::json!({}),
            serde_json::json!({}),
        );
    }

    /// A fault with emulator options (exit_code, container_reason, stopped_reason, healthy_for,
    /// event) and per-service timing over the fast defaults.
    pub(crate) fn fault_with(
        &self,
        short: &str,
        mode: &str,
        rollback_to: Option<&str>,
        timing: serde_json::Value,
        options: serde_json::Value,
    ) {
        let mut all =
            serde_json::json!({"start_delay": 0.1, "crash_after": 0.2, "restart_delay": 0.1});
        all.as_object_mut()
            .unwrap()
            .extend(timing.as_object().unwrap().clone());
        control(
            "fault",
            &serde_json::json!({"cluster": self.prefix(), "service": self.service(short), "mode": mode,
                "rollback_to": rollback_to, "timing": all, "options": options}),
        );
    }

    /// The task definition a service runs now.
    pub(crate) fn current_task_definition(
        &self,
        short: &str,
    ) -> aws_sdk_ecs::types::TaskDefinition {
        let c = clients();
        block_on(async {
            let current = c
                .ecs
                .describe_services()
                .cluster(self.prefix())
                .services(self.service(short))
                .send()
                .await
                .unwrap();
            let td = current.services()[0].task_definition().unwrap().to_owned();
            c.ecs
                .describe_task_definition()
                .task_definition(&td)
                .send()
                .await
                .unwrap()
                .task_definition()
                .unwrap()
                .clone()
        })
    }

    /// Registers a revision of a service's task definition that is the current one plus a
    /// container health check, and points the service at it (still at desired count 0).
    pub(crate) fn declare_health_check(&self, short: &str, interval: i32, retries: i32) -> String {
        use aws_sdk_ecs::types::{ContainerDefinition, HealthCheck};
        let old = self.current_task_definition(short);
        let container = &old.container_definitions()[0];
        let check = HealthCheck::builder()
            .command("CMD-SHELL")
            .command("test -f /tmp/healthy")
            .interval(interval)
            .timeout(2)
            .retries(retries)
            .start_period(0)
            .build()
            .unwrap();
        let def = ContainerDefinition::builder()
            .name(container.name().unwrap())
            .image(container.image().unwrap())
            .memory(512)
            .essential(true)
            .set_environment(Some(container.environment().to_vec()))
            .set_secrets(Some(container.secrets().to_vec()))
            .set_log_configuration(container.log_configuration().cloned())
            .health_check(check)
            .build();
        self.deploy_revision(short, &old, def)
    }

    /// Registers a revision of `old`'s family with one container, and points the service at it.
    fn deploy_revision(
        &self,
        short: &str,
        old: &aws_sdk_ecs::types::TaskDefinition,
        container: aws_sdk_ecs::types::ContainerDefinition,
    ) -> String {
        let c = clients();
        block_on(async {
            let arn = c
                .ecs
                .register_task_definition()
                .family(old.family().unwrap())
                .set_network_mode(old.network_mode().cloned())
                .set_execution_role_arn(old.execution_role_arn().map(str::to_owned))
                .set_task_role_arn(old.task_role_arn().map(str::to_owned))
                .container_definitions(container)
                .send()
                .await
                .unwrap()
                .task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap()
                .to_owned();
            c.ecs
                .update_service()
                .cluster(self.prefix())
                .service(self.service(short))
                .task_definition(&arn)
                .send()
                .await
                .unwrap();
            arn
        })
    }

    /// The local copy of an artifact the run published.
    pub(crate) fn artifact(&self, out: &Outcome, name: &str) -> serde_json::Value {
        let json = out.json();
        let path = json["artifacts"][name]["local"]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {json}"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    pub(crate) fn desired_counts(&self) -> Vec<i32> {
        let names: Vec<String> = ["ig", "rtdl-ofp", "case-ls", "env-conformance"]
            .iter()
            .map(|s| self.service(s))
            .collect();
        let out = block_on(
            clients()
                .ecs
                .describe_services()
                .cluster(self.prefix())
                .set_services(Some(names))
                .send(),
        )
        .unwrap();
        out.services().iter().map(|s| s.desired_count()).collect()
    }

    pub(crate) fn bucket_keys(&self) -> Vec<String> {
        self.keys_of("evidence")
    }

    /// The keys in one of the tenant's buckets (`evidence`, `oracle`, ...).
    pub(crate) fn keys_of(&self, bucket: &str) -> Vec<String> {
        block_on(
            aws()
                .s3
                .list_objects_v2()
                .bucket(format!("{}-{bucket}", self.prefix()))
                .send(),
        )
        .map(|o| {
            o.contents()
                .iter()
                .filter_map(|c| c.key().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Writes an object into the tenant's evidence bucket over whatever is there (what someone
    /// changing evidence after a run would do; m4host itself never overwrites).
    pub(crate) fn put_object(&self, key: &str, bytes: &[u8]) {
        block_on(
            aws()
                .s3
                .put_object()
                .bucket(format!("{}-evidence", self.prefix()))
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
                .send(),
        )
        .unwrap();
    }

    pub(crate) fn delete_object(&self, key: &str) {
        block_on(
            aws()
                .s3
                .delete_object()
                .bucket(format!("{}-evidence", self.prefix()))
                .key(key)
                .send(),
        )
        .unwrap();
    }

    /// The bytes of an object in the tenant's evidence bucket.
    pub(crate) fn object(&self, key: &str) -> Vec<u8> {
        block_on(async {
            aws()
                .s3
                .get_object()
                .bucket(format!("{}-evidence", self.prefix()))
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes()
                .to_vec()
        })
    }

    /// Registers a task definition revision for a service (optionally without run scope or with
    /// an inline secret-named variable) and points the service at it, still at desired count 0.
    pub(crate) fn replace_task_definition(&self, short: &str, env: &[(&str, &str)]) -> String {
        self.replace_task_definition_with(short, env, |b| b)
    }

    /// `replace_task_definition`, with whatever `more` adds to the container (a command, labels).
    pub(crate) fn replace_task_definition_with(
        &self,
        short: &str,
        env: &[(&str, &str)],
        more: impl FnOnce(Builder) -> Builder,
    ) -> String {
        use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair};
        let old = self.current_task_definition(short);
        let container = &old.container_definitions()[0];
        let mut builder = ContainerDefinition::builder()
            .name(container.name().unwrap())
            .image(container.image().unwrap())
            .memory(512)
            .essential(true)
            .set_secrets(Some(container.secrets().to_vec()))
            .set_log_configuration(container.log_configuration().cloned());
        for (k, v) in env {
            builder = builder.environment(KeyValuePair::builder().name(*k).value(*v).build());
        }
        self.deploy_revision(short, &old, more(builder).build())
    }

    /// Registers a new revision of the tenant's task definition family `<prefix>-<short>` (a
    /// one-shot job's, which no service runs): the latest revision's container plus `env`.
    pub(crate) fn register_revision(&self, short: &str, env: &[(&str, &str)]) -> String {
        use aws_sdk_ecs::types::KeyValuePair;
        let c = clients();
        let family = format!("{}-{short}", self.prefix());
        block_on(async {
            let old = c
                .ecs
                .describe_task_definition()
                .task_definition(&family)
                .send()
                .await
                .unwrap()
                .task_definition()
                .unwrap()
                .clone();
            let mut container = old.container_definitions()[0].clone();
            let mut vars = container.environment().to_vec();
            vars.extend(
                env.iter()
                    .map(|(k, v)| KeyValuePair::builder().name(*k).value(*v).build()),
            );
            container.environment = Some(vars);
            c.ecs
                .register_task_definition()
                .family(&family)
                .set_network_mode(old.network_mode().cloned())
                .set_requires_compatibilities(Some(old.requires_compatibilities().to_vec()))
                .set_cpu(old.cpu().map(str::to_owned))
                .set_memory(old.memory().map(str::to_owned))
                .set_execution_role_arn(old.execution_role_arn().map(str::to_owned))
                .set_task_role_arn(old.task_role_arn().map(str::to_owned))
                .container_definitions(container)
                .send()
                .await
                .unwrap()
                .task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap()
                .to_owned()
        })
    }
}

impl Drop for Tenant {
    /// Scales the tenant's services back to 0 (their stand-in consumers leave the broker) and
    /// drops its database and login role.
    fn drop(&mut self) {
        let c = clients();
        let services = [
            "ig",
            "rtdl-archive-writer",
            "rtdl-ieg",
            "rtdl-ofp",
            "rtdl-csfb",
            "decision-dl",
            "decision-df",
            "decision-al",
            "decision-dla",
            "case-trigger",
            "case-cm",
            "case-ls",
            "env-conformance",
        ];
        block_on(async {
            for short in services {
                let _ = c
                    .ecs
                    .update_service()
                    .cluster(self.prefix())
                    .service(self.service(short))
                    .desired_count(0)
                    .send()
                    .await;
            }
        });
        let suffix = self.name.replace('-', "_");
        for sql in [
            format!("DROP DATABASE IF EXISTS fraud_platform_{suffix}"),
            format!("DROP ROLE IF EXISTS fraud_app_{suffix}"),
        ] {
            let _ = std::process::Command::new("runuser")
                .args(["-u", "postgres", "--", "psql", "-q", "-c", &sql])
                .output();
        }
    }
}

pub(crate) fn first_blocker(out: &Outcome) -> (String, String) {
    let json = out.json();
    let b = &json["blockers"][0];
    (
        b["code"].as_str().unwrap_or_default().to_owned(),
        b["phase"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A HOLD with `code` first, the verdict snapshot still published, and nothing after `phase` run
/// (every later phase SKIP, except the verdict).
pub(crate) fn assert_hold(out: &Outcome, code: &str, phase: &str) {
    assert_runbook_hold(out, ("HOLD_M4", "M4.I"), code, phase);
}

/// A runbook's HOLD (`verdict` = the hold verdict and the phase that decides it) with `code`
/// first, in `phase`, and nothing after `phase` but the verdict phase run (every other SKIP).
pub(crate) fn assert_runbook_hold(out: &Outcome, verdict: (&str, &str), code: &str, phase: &str) {
    out.status(3);
    let json = out.json();
    assert_eq!(json["verdict"], verdict.0, "{}", out.stdout);
    assert_eq!(
        first_blocker(out),
        (code.to_owned(), phase.to_owned()),
        "{}\n{}",
        json["blockers"],
        out.stderr
    );
    let mut after = false;
    for p in json["phases"].as_array().unwrap() {
        let id = p["phase"].as_str().unwrap();
        if after && id != verdict.1 {
            assert_eq!(
                p["status"], "SKIP",
                "{id} acted after {phase} held: {}",
                out.stdout
            );
        }
        if id == phase {
            assert_eq!(p["status"], "HOLD");
            after = true;
        }
    }
    assert!(after, "{phase} did not run: {}", out.stdout);
}

/// M5 entering from `m4`, in a second of its own, with short budgets; `sets` (KEY=VALUE) add.
pub(crate) fn m5_run(t: &Tenant, m4: &str, sets: &[&str]) -> Run {
    next_execution_second();
    let mut run = Run::new()
        .args(["run", M5_SCRIPT, "--env"])
        .arg(t.path("local-m5.toml"))
        .args(["--output", "json", "--set", &format!("m4_execution={m4}")])
        .args(["--set", "daemon_check_ms=10000"]);
    for s in sets {
        run = run.args(["--set", s]);
    }
    run
}

/// `m4host report` of an execution of the tenant.
pub(crate) fn report(t: &Tenant, execution: &str, extra: &[&str]) -> Outcome {
    Run::new()
        .args(["report", execution, "--env"])
        .arg(t.path("local.toml"))
        .args(extra)
        .run()
}

/// The REPL on the tenant, `input` piped in.
pub(crate) fn repl(t: &Tenant, input: &str) -> Outcome {
    Run::new()
        .arg("repl")
        .arg("--env")
        .arg(t.path("local.toml"))
        .args([
            "--set",
            "soak_ms=300",
            "--set",
            "stabilization_interval_ms=200",
            M4_SCRIPT,
        ])
        .stdin(input)
        .run()
}

pub(crate) fn db_password(t: &Tenant) -> String {
    super::ssm_value(&format!("/fraud-platform/{}/db/password", t.name))
}

/// M4 in the background, with `--set` KEY=VALUE pairs.
pub(crate) fn spawn_run_with(t: &Tenant, sets: &[&str]) -> std::process::Child {
    let env = t.path("local.toml");
    let mut args: Vec<std::ffi::OsString> = vec![
        "run".into(),
        M4_SCRIPT.into(),
        "--env".into(),
        env.into_os_string(),
        "--output".into(),
        "json".into(),
    ];
    for set in sets {
        args.push("--set".into());
        args.push(set.into());
    }
    super::support::spawn_m4host(args)
}
