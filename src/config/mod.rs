//! The validated configuration: the environment file (SPEC §4) with every path resolved against its
//! folder, plus the handles registry and the terraform outputs it names, parsed before any script
//! runs so that a malformed file is a usage error (exit 2) and never a half-run.
//!
//! What the runbook itself must judge (wildcards, ambiguity, M3 preconditions) is not checked here.

mod bounds;
pub mod duration;
#[cfg(test)]
mod inputs_fuzz;
pub mod registry;
pub mod terraform;

use crate::config::bounds::{check_bounds, profile_missing, valid_region};
use crate::config::registry::HandlesRegistry;
use crate::config::terraform::TerraformOutputs;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where an M3 artifact lives: a local file or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    pub fn parse(base: &Path, text: &str) -> std::result::Result<Location, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Location::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(format!("`{text}` is not an s3://BUCKET/KEY URI")),
            }
        } else if text.contains("://") {
            Err(format!("`{text}` uses a scheme other than s3://"))
        } else {
            Ok(Location::File(under(base, text)))
        }
    }

    /// The location as the operator would write it, for evidence and messages.
    pub fn display(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KafkaSecurityProtocol {
    Plaintext,
    SaslSsl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbSslMode {
    Disable,
    Require,
    VerifyFull,
}

impl DbSslMode {
    /// As the env file and libpq write it.
    pub fn as_str(self) -> &'static str {
        match self {
            DbSslMode::Disable => "disable",
            DbSslMode::Require => "require",
            DbSslMode::VerifyFull => "verify-full",
        }
    }
}

/// Rhai engine limits; every one explicit so that debug and release builds behave alike.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_modules: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 64,
            max_string_size: 4 * 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_modules: 256,
        }
    }
}

/// Per-call network budget (SPEC §7): every AWS call is bounded by these.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    #[serde(deserialize_with = "duration::ms")]
    pub connect_timeout_ms: u64,
    #[serde(deserialize_with = "duration::ms")]
    pub attempt_timeout_ms: u64,
    #[serde(deserialize_with = "duration::ms")]
    pub call_timeout_ms: u64,
    pub max_attempts: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            connect_timeout_ms: 3_000,
            attempt_timeout_ms: 10_000,
            call_timeout_ms: 30_000,
            max_attempts: 3,
        }
    }
}

impl Budgets {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}

/// When a bring-up's next wave may start (SPEC §10, issue #23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaveGate {
    /// Once every service of the wave is up; every soak runs together after the last wave.
    Up,
    /// Once every service of the wave has soaked (each wave pays its own soak).
    Stable,
}

impl WaveGate {
    pub fn as_str(self) -> &'static str {
        match self {
            WaveGate::Up => "up",
            WaveGate::Stable => "stable",
        }
    }
}

/// ECS waiting defaults (SPEC §7 budgets); `ecs_wait_stable` options override them per call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcsConfig {
    #[serde(deserialize_with = "duration::ms")]
    pub stabilize_timeout_ms: u64,
    #[serde(deserialize_with = "duration::ms")]
    pub soak_ms: u64,
    /// Unplanned stops of a daemon since its update that make it unstable. A singleton has no
    /// redundancy: its first exit is an outage of its lane, and ECS's quick replacement would
    /// hide it from a later poll, so one stop holds by default.
    pub crash_threshold: usize,
    #[serde(deserialize_with = "duration::ms")]
    pub first_poll_ms: u64,
    #[serde(deserialize_with = "duration::ms")]
    pub max_poll_ms: u64,
    /// How long a placement failure (service events, no task) may last before the wait holds.
    #[serde(deserialize_with = "duration::ms")]
    pub placement_grace_ms: u64,
    /// How long ECS polls may fail in a row (refused, reset, timed out, 5xx, throttled past the
    /// retries) before a wait ends with an error instead of spending its whole timeout.
    #[serde(deserialize_with = "duration::ms")]
    pub poll_failure_budget_ms: u64,
    /// How long a one-shot task the host stops (over budget, interrupted) may take to be seen
    /// STOPPED: StopTask sends SIGTERM, then SIGKILL after the container's stopTimeout (30 s by
    /// default, at most 120 s on Fargate; ContainerDefinition).
    #[serde(deserialize_with = "duration::ms")]
    pub one_shot_stop_timeout_ms: u64,
    /// How long DescribeTasks may not yet know a task RunTask just started (the ECS API is
    /// eventually consistent; RunTask, API reference).
    #[serde(deserialize_with = "duration::ms")]
    pub one_shot_visibility_grace_ms: u64,
    /// When a bring-up's next wave may start.
    pub wave_gate: WaveGate,
}

impl Default for EcsConfig {
    fn default() -> Self {
        EcsConfig {
            stabilize_timeout_ms: 600_000,
            soak_ms: 30_000,
            crash_threshold: 1,
            first_poll_ms: 250,
            max_poll_ms: 5_000,
            placement_grace_ms: 30_000,
            poll_failure_budget_ms: 30_000,
            one_shot_stop_timeout_ms: 60_000,
            one_shot_visibility_grace_ms: 30_000,
            wave_gate: WaveGate::Up,
        }
    }
}

/// How much of a failed daemon's log the evidence carries (issue #26).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// The last lines read from each stream of a task counted against a daemon.
    pub tail_lines: u32,
    /// At most this many bytes of them per task (the newest kept).
    pub tail_bytes: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            tail_lines: 50,
            tail_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    aws: RawAws,
    inputs: RawInputs,
    #[serde(default)]
    entry: Option<RawEntry>,
    evidence: RawEvidence,
    #[serde(default)]
    kafka: Option<RawKafka>,
    #[serde(default)]
    db: Option<RawDb>,
    #[serde(default)]
    run: Option<RawRun>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    budgets: Budgets,
    #[serde(default)]
    ecs: EcsConfig,
    #[serde(default)]
    logs: LogsConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: String,
    endpoint_url: Option<String>,
    profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInputs {
    handles_registry: String,
    terraform_outputs: String,
    /// The names M4's first environment files gave the entry artifacts; `[entry]` is the
    /// general form.
    m3_verdict: Option<String>,
    m3_handoff: Option<String>,
}

/// Where this environment keeps the previous milestone's verdict and handoff (path or s3:// URI).
/// What the runbook requires of them, it declares itself (`declare_entry`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    verdict: String,
    handoff: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvidence {
    local_root: String,
    bucket_handle: Option<String>,
    environment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    security_protocol: KafkaSecurityProtocol,
    /// CA bundle for the brokers' TLS (SASL_SSL); the system's trust store when absent.
    ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDb {
    sslmode: DbSslMode,
    ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    execution_prefix: Option<String>,
}

/// Evidence settings (SPEC §5).
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    pub local_root: PathBuf,
    /// The handle whose value is the durable evidence bucket.
    pub bucket_handle: String,
    /// The environment segment of the control-plane prefix (`evidence/<environment>/run_control/`).
    pub environment: String,
}

/// The validated environment.
#[derive(Debug)]
pub struct Config {
    pub env_file: PathBuf,
    pub region: String,
    pub endpoint_url: Option<String>,
    /// A named profile of the shared config and credentials files (`[aws] profile`); else the
    /// SDK's chain decides (`AWS_PROFILE`, then the environment, container and instance roles).
    pub aws_profile: Option<String>,
    pub registry: HandlesRegistry,
    pub outputs: TerraformOutputs,
    /// The previous milestone's verdict snapshot and handoff pack (`[entry]`).
    /// None when the file has no `[entry]`: a runbook that enters from this host's own evidence
    /// names the artifacts itself (`declare_entry` with `verdict_uri`, `handoff_uri`).
    pub entry: Option<(Location, Location)>,
    pub evidence: EvidenceConfig,
    pub kafka_security_protocol: KafkaSecurityProtocol,
    pub db_sslmode: DbSslMode,
    pub db_ca_file: Option<PathBuf>,
    pub kafka_ca_file: Option<PathBuf>,
    pub execution_prefix: String,
    pub limits: Limits,
    pub budgets: Budgets,
    pub ecs: EcsConfig,
    pub logs: LogsConfig,
}

/// Reads a file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Config {
    /// Loads and validates the environment file and the files it names.
    pub fn load(env_file: &Path) -> Result<Config> {
        if !env_file.is_file() {
            return Err(Error::config(
                env_file,
                "environment file not found",
                "pass an existing file with --env FILE or M4HOST_ENV (see examples/ for the format)",
            ));
        }
        let text = read_text(env_file)?;
        let raw: RawEnv = toml::from_str(&text).map_err(|e| {
            Error::config(
                env_file,
                format!(
                    "invalid environment file: {}",
                    toml_problem(&text, &e, true)
                ),
                "fix the TOML at the position shown; sections are [aws], [inputs], [entry], \
                 [evidence], [kafka], [db], [run], [limits], [budgets], [ecs], [logs]; durations are \
                 milliseconds or e.g. \"30s\"",
            )
        })?;
        let base = env_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();

        let non_empty = |key: &str, value: &str| -> Result<()> {
            if value.trim().is_empty() {
                Err(Error::config(
                    env_file,
                    format!("`{key}` is empty"),
                    format!("give `{key}` a value"),
                ))
            } else {
                Ok(())
            }
        };
        non_empty("aws.region", &raw.aws.region)?;
        non_empty("evidence.local_root", &raw.evidence.local_root)?;
        if !valid_region(&raw.aws.region) {
            return Err(Error::config(
                env_file,
                format!(
                    "`aws.region` = `{}` is not an AWS Region name",
                    raw.aws.region
                ),
                "write it like eu-west-2 or us-gov-west-1",
            ));
        }
        if let Some(url) = &raw.aws.endpoint_url {
            let authority = url
                .split_once("://")
                .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
                .unwrap_or("");
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
                _ => (authority, None),
            };
            let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
            // (A URL without a scheme is the next check's.)
            if url.contains("://") && (host.is_empty() || !port_ok) {
                return Err(Error::config(
                    env_file,
                    format!("`aws.endpoint_url` = `{url}` names no host (or no valid port)"),
                    "write it as http://HOST:PORT, or remove it to use the real AWS endpoints",
                ));
            }
        }
        if let Some(url) = &raw.aws.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::config(
                    env_file,
                    format!("`aws.endpoint_url` = `{url}` is not an http(s) URL"),
                    "write it as http://HOST:PORT, or remove it to use the real AWS endpoints",
                ));
            }
        }
        if let Some(profile) = &raw.aws.profile {
            // Profile names as the shared files allow them: no blanks, no brackets.
            let plain = !profile.is_empty()
                && profile.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@' | '+')
                });
            if !plain {
                return Err(Error::config(
                    env_file,
                    format!("`aws.profile` = `{profile}` is not a profile name"),
                    "name a profile of ~/.aws/config (e.g. \"m4-operator\"), or remove the key to use AWS_PROFILE or the default chain",
                ));
            }
            if let Some(files) = profile_missing(profile) {
                return Err(Error::config(
                    env_file,
                    format!("`aws.profile` = `{profile}` is not a profile of {files}"),
                    "add it there (`aws configure --profile NAME`), or name one that exists",
                ));
            }
        }
        check_bounds(env_file, &raw)?;

        let location = |key: &str, value: &str| -> Result<Location> {
            non_empty(key, value)?;
            Location::parse(&base, value).map_err(|what| {
                Error::config(
                    env_file,
                    format!("`{key}`: {what}"),
                    "give a path relative to the environment file, or s3://BUCKET/KEY",
                )
            })
        };
        let entry = match (&raw.entry, &raw.inputs.m3_verdict, &raw.inputs.m3_handoff) {
            (Some(entry), None, None) => Some((
                location("entry.verdict", &entry.verdict)?,
                location("entry.handoff", &entry.handoff)?,
            )),
            (None, Some(verdict), Some(handoff)) => Some((
                location("inputs.m3_verdict", verdict)?,
                location("inputs.m3_handoff", handoff)?,
            )),
            (Some(_), _, _) => {
                return Err(Error::config(
                    env_file,
                    "the entry artifacts are given twice: `[entry]` and `inputs.m3_verdict`/`inputs.m3_handoff`",
                    "keep `[entry] verdict = ...` and `handoff = ...`, and remove the two `inputs.m3_*` keys",
                ))
            }
            (None, None, None) => None,
            (None, _, _) => {
                return Err(Error::config(
                    env_file,
                    "only one of `inputs.m3_verdict` and `inputs.m3_handoff` is given",
                    "give the entry artifacts as `[entry]` with `verdict = \"PATH or s3://...\"` and `handoff = \"PATH or s3://...\"`",
                ))
            }
        };

        non_empty("inputs.handles_registry", &raw.inputs.handles_registry)?;
        non_empty("inputs.terraform_outputs", &raw.inputs.terraform_outputs)?;
        let registry = HandlesRegistry::load(&under(&base, &raw.inputs.handles_registry))?;
        let outputs = TerraformOutputs::load(&under(&base, &raw.inputs.terraform_outputs))?;

        let execution_prefix = raw
            .run
            .and_then(|r| r.execution_prefix)
            .unwrap_or_else(|| "m4".to_owned());
        if !crate::rules::execution_id::valid_prefix(&execution_prefix) {
            return Err(Error::config(
                env_file,
                format!(
                    "`run.execution_prefix` = `{execution_prefix}` is not a lower-case identifier"
                ),
                format!(
                    "execution ids are {}; use such a prefix, e.g. \"m4\" or \"m4_dev\"",
                    crate::rules::execution_id::GRAMMAR
                ),
            ));
        }
        let db = raw.db;
        Ok(Config {
            env_file: env_file.to_path_buf(),
            region: raw.aws.region,
            endpoint_url: raw.aws.endpoint_url,
            aws_profile: raw.aws.profile,
            registry,
            outputs,
            entry,
            evidence: EvidenceConfig {
                local_root: under(&base, &raw.evidence.local_root),
                bucket_handle: raw
                    .evidence
                    .bucket_handle
                    .unwrap_or_else(|| "S3_EVIDENCE_BUCKET".to_owned()),
                environment: raw
                    .evidence
                    .environment
                    .unwrap_or_else(|| "dev_min".to_owned()),
            },
            kafka_security_protocol: raw
                .kafka
                .as_ref()
                .map(|k| k.security_protocol)
                .unwrap_or(KafkaSecurityProtocol::SaslSsl),
            kafka_ca_file: raw.kafka.and_then(|k| k.ca_file).map(|f| under(&base, &f)),
            db_sslmode: db.as_ref().map(|d| d.sslmode).unwrap_or(DbSslMode::Require),
            db_ca_file: db.and_then(|d| d.ca_file).map(|f| under(&base, &f)),
            execution_prefix,
            limits: raw.limits,
            budgets: raw.budgets,
            ecs: raw.ecs,
            logs: raw.logs,
        })
    }
}

/// The deepest Rhai call and expression nesting the host's engine thread is tested to survive.
pub const MAX_CALL_LEVELS: u64 = 128;
pub const MAX_EXPR_DEPTH: u64 = 128;

/// `base/rel` with `.` and `..` folded lexically, so messages show the path an operator would type.
pub fn under(base: &Path, rel: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in base.join(rel).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// A TOML parse error as `line L, column C: what was expected`, without quoting the input: the
/// line may hold a secret (a literal handle's value), and a file given by mistake may hold
/// anything (issue #28).
/// `name_key` adds the key of the offending line (for files whose lines hold no secret: the
/// environment file, not the registry).
pub fn toml_problem(text: &str, err: &toml::de::Error, name_key: bool) -> String {
    let message = one_line(err.message());
    match err.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let before = text.get(..start).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            // The key of that line (never its value) says which setting it is.
            let key = if !name_key {
                String::new()
            } else {
                text.lines()
                    .nth(line - 1)
                    .and_then(|l| l.split_once('='))
                    .map(|(k, _)| k.trim())
                    .filter(|k| {
                        !k.is_empty()
                            && k.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c))
                    })
                    .map(|k| format!(" (key `{}`)", k.trim_matches('"')))
                    .unwrap_or_default()
            };
            format!("line {line}, column {column}{key}: {message}")
        }
        None => message,
    }
}

/// Folds a multi-line parser message (toml draws a caret diagram) onto one line.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "eu-west-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-2",
            "il-central-1",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "eu",
            "eu-west",
            "EU-WEST-2",
            "eu-west-x",
            "eu--2",
            "europe-west-2",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn under_folds_dots() {
        assert_eq!(
            under(Path::new("examples/hello"), "../../runs/hello"),
            PathBuf::from("runs/hello")
        );
        assert_eq!(
            under(Path::new("."), "m3/x.json"),
            PathBuf::from("m3/x.json")
        );
        assert_eq!(under(Path::new("a"), "../../x"), PathBuf::from("../x"));
        assert_eq!(under(Path::new("/etc"), "/abs/p"), PathBuf::from("/abs/p"));
    }
}
