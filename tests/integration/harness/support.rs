//! The test harness: a throw-away environment (env file, registry, outputs, M3 artifacts) whose
//! AWS resources live on the local substrate's moto server under names unique to the test, and a
//! small builder that runs the real `m4host` binary and checks what the operator would see.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub fn endpoint() -> String {
    std::env::var("M4HOST_TEST_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
}

/// SDK clients on the substrate, for seeding and for checking what m4host wrote.
pub fn aws() -> &'static Aws {
    static AWS: OnceLock<Aws> = OnceLock::new();
    AWS.get_or_init(|| {
        let conf = runtime().block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-2"))
                .endpoint_url(endpoint())
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load(),
        );
        let s3 = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build();
        let aws = Aws {
            s3: aws_sdk_s3::Client::from_conf(s3),
            ssm: aws_sdk_ssm::Client::new(&conf),
        };
        let reachable = runtime().block_on(aws.s3.list_buckets().send());
        assert!(
            reachable.is_ok(),
            "moto is not answering on {}: start the substrate with tests/substrate/up.sh ({:?})",
            endpoint(),
            reachable.err()
        );
        aws
    })
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique lower-case name for this test's resources.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The entry M4 declares (scripts/m4/contract.rhai), for test scripts that need a run scope.
pub const M4_ENTRY: &str = m4host::script::primitives::M4_ENTRY_EXAMPLE;

/// Writes a SecureString parameter (overwriting), as an operator rotating a secret would.
pub fn put_ssm_secret(name: &str, value: &str) {
    block_on(
        aws()
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send(),
    )
    .unwrap();
}

pub fn ssm_value(name: &str) -> String {
    block_on(
        aws()
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send(),
    )
    .unwrap()
    .parameter()
    .unwrap()
    .value()
    .unwrap()
    .to_owned()
}

/// The bytes of an S3 object on the substrate.
pub fn s3_object(bucket: &str, key: &str) -> Vec<u8> {
    block_on(async {
        let out = aws()
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

pub const PLATFORM_RUN_ID: &str = "platform_20260213T221631Z";

/// A complete environment in a temp folder, with its bucket and SSM parameters on moto.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub bucket: String,
    pub ssm_prefix: String,
}

impl Env {
    /// An environment whose files exist but whose AWS resources are not created.
    pub fn files_only() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            bucket: unique("m4t"),
            ssm_prefix: format!("/{}", unique("m4t")),
        };
        env.write("m4host.toml", &env.env_toml(&endpoint()));
        env.write("handles.registry.toml", &env.registry());
        env.write(
            "terraform_outputs.json",
            &format!(
                r#"{{"ecs_cluster_name": {{"value": "fraud-platform-dev-min", "type": "string", "sensitive": false}},
                    "subnet_ids_public": {{"value": ["subnet-0a1", "subnet-0b2"], "sensitive": false}},
                    "s3_evidence_bucket": {{"value": "{}", "sensitive": false}},
                    "db_password_out": {{"value": "tf-sensitive", "sensitive": true}}}}"#,
                env.bucket
            ),
        );
        env.write(
            "m3/m3_f_verdict_snapshot.json",
            &format!(r#"{{"verdict": "ADVANCE_TO_M4", "platform_run_id": "{PLATFORM_RUN_ID}", "m3_execution_id": "m3_20260213T221631Z"}}"#),
        );
        env.write(
            "m3/m4_handoff_pack.json",
            &format!(
                r#"{{"platform_run_id": "{PLATFORM_RUN_ID}", "m3_execution_id": "m3_20260213T221631Z",
                    "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID"}}"#
            ),
        );
        env
    }

    /// An environment with its bucket and parameters seeded on moto.
    pub fn new() -> Env {
        let env = Env::files_only();
        let aws = aws();
        block_on(async {
            aws.s3
                .create_bucket()
                .bucket(&env.bucket)
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            for (name, value, secure) in [
                ("db_name", "fraud", false),
                ("api_secret", "sekret-value-123", true),
                ("secure_but_public", "not-so-public", true),
            ] {
                aws.ssm
                    .put_parameter()
                    .name(format!("{}/{name}", env.ssm_prefix))
                    .value(value)
                    .r#type(if secure {
                        aws_sdk_ssm::types::ParameterType::SecureString
                    } else {
                        aws_sdk_ssm::types::ParameterType::String
                    })
                    .send()
                    .await
                    .unwrap();
            }
        });
        env
    }

    pub fn env_toml(&self, endpoint: &str) -> String {
        format!(
            r#"[aws]
region = "eu-west-2"
endpoint_url = "{endpoint}"

[inputs]
handles_registry = "handles.registry.toml"
terraform_outputs = "terraform_outputs.json"
m3_verdict = "m3/m3_f_verdict_snapshot.json"
m3_handoff = "m3/m4_handoff_pack.json"

[evidence]
local_root = "runs"

[limits]
max_operations = 2000000

[budgets]
connect_timeout_ms = 500
attempt_timeout_ms = 2000
call_timeout_ms = 6000
max_attempts = 2
"#
        )
    }

    fn registry(&self) -> String {
        let p = &self.ssm_prefix;
        format!(
            r#"[REQUIRED_PLATFORM_RUN_ID_ENV_KEY]
origin = "literal"
ref = "REQUIRED_PLATFORM_RUN_ID"
secret = false

[ECS_CLUSTER_NAME]
origin = "terraform_output"
ref = "ecs_cluster_name"
secret = false

[SUBNET_IDS_PUBLIC]
origin = "terraform_output"
ref = "subnet_ids_public"
secret = false

[S3_EVIDENCE_BUCKET]
origin = "terraform_output"
ref = "s3_evidence_bucket"
secret = false

[DB_NAME]
origin = "ssm_parameter"
ref = "{p}/db_name"
secret = false

[API_SECRET]
origin = "ssm_parameter"
ref = "{p}/api_secret"
secret = true

[SSM_CONFLUENT_API_SECRET_PATH]
origin = "literal"
ref = "{p}/api_secret"
secret = false

[SECURE_BUT_PUBLIC]
origin = "ssm_parameter"
ref = "{p}/secure_but_public"
secret = false

[DB_PASSWORD_SENSITIVE_OUTPUT]
origin = "terraform_output"
ref = "db_password_out"
secret = false

[MISSING_PARAM]
origin = "ssm_parameter"
ref = "{p}/missing"
secret = false

[SVC_WILDCARD]
origin = "literal"
ref = "fraud-svc-*"
secret = false
"#
        )
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Runs `script` (written to main.rhai) with this environment.
    pub fn run(&self, script: &str) -> Run {
        self.write("scripts/main.rhai", script);
        Run::new()
            .arg("run")
            .arg(self.path("scripts/main.rhai"))
            .arg("--env")
            .arg(self.path("m4host.toml"))
            .cwd(self.dir.path())
    }

    /// Every local evidence file written under this environment's root.
    /// The evidence files of the local mirror (the run's tape beside them is not evidence).
    pub fn local_evidence(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if e.path().is_dir() {
                        walk(&e.path(), out)
                    } else if !(name.starts_with("world.tape") || name.starts_with(".world.tape")) {
                        out.push(e.path())
                    }
                }
            }
        }
        walk(&self.path("runs"), &mut out);
        out.sort();
        out
    }

    pub fn s3_keys(&self) -> Vec<String> {
        block_on(aws().s3.list_objects_v2().bucket(&self.bucket).send())
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    pub fn s3_get(&self, key: &str) -> Vec<u8> {
        s3_object(&self.bucket, key)
    }
}

/// One run of the real binary.
pub struct Run {
    command: Command,
    stdin: Option<String>,
}

impl Run {
    pub fn new() -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_m4host"));
        command
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("M4HOST_ENV")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env(
                "M4HOST_STDLIB",
                concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib"),
            );
        Run {
            command,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Run {
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Run {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.command.env_remove(key);
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Run {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(mut self, text: &str) -> Run {
        self.stdin = Some(text.to_owned());
        self
    }

    pub fn run(mut self) -> Outcome {
        use std::io::Write;
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("m4host runs");
        let input = self.stdin.take().unwrap_or_default();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Outcome::of(child.wait_with_output().unwrap())
    }
}

impl Outcome {
    /// What a finished process showed.
    pub fn of(out: std::process::Output) -> Outcome {
        Outcome {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            schema_checked: std::sync::OnceLock::new(),
        }
    }
}

/// What the operator saw.
pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// Set once the JSON summary was validated against docs/run-summary.schema.json.
    schema_checked: std::sync::OnceLock<()>,
}

impl Outcome {
    /// How many of the JSON summary's would-do lines (a --plan run) start with `prefix`.
    pub fn would_do_count(&self, prefix: &str) -> usize {
        self.json()["would_do"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|w| w.as_str())
                    .filter(|w| w.starts_with(prefix))
                    .count()
            })
            .unwrap_or(0)
    }

    fn shown(&self) -> String {
        format!(
            "--- exit {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    pub fn status(&self, expected: i32) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "unexpected exit status\n{}",
            self.shown()
        );
        self
    }

    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n{}",
            self.shown()
        );
        self
    }

    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n{}",
            self.shown()
        );
        self
    }

    pub fn nowhere(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "{text:?} must not be shown\n{}",
            self.shown()
        );
        self
    }

    /// The JSON object on the last stdout line (`--output json`).
    /// Every summary a test reads is checked against the published JSON Schema, by a real
    /// validator (Python's jsonschema, installed with moto).
    pub fn json(&self) -> serde_json::Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        let value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("last line is not JSON ({e})\n{}", self.shown()));
        self.schema_checked.get_or_init(|| validate_summary(line));
        value
    }

    /// The one message of a usage error: stderr holds exactly one `error[` line and no panic.
    pub fn one_usage_error(&self, what: &str) -> &Self {
        self.status(2).stderr_has(what);
        assert_eq!(
            self.stderr.matches("error[").count(),
            1,
            "one message expected\n{}",
            self.shown()
        );
        assert!(!self.stderr.contains("panicked"), "panic\n{}", self.shown());
        self
    }
}

/// Validates one `--output json` summary against docs/run-summary.schema.json.
fn validate_summary(line: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator(schema).validate(json.loads(sys.stdin.read()))",
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/run-summary.schema.json"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the schema check");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the summary does not match docs/run-summary.schema.json: {}\n{line}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON summary (last stdout line) of a background run, which must have exited `code`.
pub fn summary_of(out: &std::process::Output, code: i32) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// Sends `signal` (INT, TERM, ...) to a process a test started, by its PID.
pub fn signal(child: &std::process::Child, signal: &str) {
    assert!(std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// The binary started in the background with the substrate's credentials, no stdin and piped
/// stdout/stderr, for tests that act on the running process (close its pipe, signal it).
pub fn spawn_m4host<I, S>(args: I) -> std::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new(env!("CARGO_BIN_EXE_m4host"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A moto of its own with m4host's extension, enforcing IAM on the resources AWS authorizes
/// (tests/substrate/moto_m4/iam_enforce.py), for the least-privilege tests: the shared substrate
/// never enforces. Started on a free loopback port; stopped by its PID (SIGTERM, so it stops its
/// stand-ins) when dropped.
pub struct EnforcedMoto {
    child: std::process::Child,
    pub url: String,
    /// The keys of a user allowed everything: seeding and principals go through it.
    pub admin: (String, String),
}

fn principal(url: &str, keys: (&str, &str), args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/substrate/iam_principal.py"
        ))
        .args(["--endpoint", url])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "iam_principal.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl EnforcedMoto {
    pub fn start() -> EnforcedMoto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto_m4.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env(
                "PYTHONPATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/substrate"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs moto");
        let url = format!("http://127.0.0.1:{port}");
        let mut moto = EnforcedMoto {
            child,
            url,
            admin: (String::new(), String::new()),
        };
        // Wait for it to answer (bounded): its control endpoint, which is never authorized.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the enforcing moto did not start"
            );
            assert!(
                moto.child.try_wait().unwrap().is_none(),
                "the enforcing moto exited"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let admin = principal(&moto.url, ("testing", "testing"), &["admin"]);
        moto.admin = (
            admin["key"].as_str().unwrap().to_owned(),
            admin["secret"].as_str().unwrap().to_owned(),
        );
        principal(&moto.url, ("testing", "testing"), &["enforce"]);
        moto
    }

    pub fn admin(&self) -> (&str, &str) {
        (&self.admin.0, &self.admin.1)
    }

    /// A user holding exactly `policy` (a customer managed policy of the same name): its keys.
    pub fn user(&self, name: &str, policy: &serde_json::Value) -> (String, String) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), policy.to_string()).unwrap();
        let keys = principal(
            &self.url,
            self.admin(),
            &["user", name, file.path().to_str().unwrap()],
        );
        (
            keys["key"].as_str().unwrap().to_owned(),
            keys["secret"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for EnforcedMoto {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
