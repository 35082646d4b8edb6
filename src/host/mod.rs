//! The host: everything a run shares between primitives — configuration, the async runtime and
//! AWS clients, the secret vault, the blocker ledger, evidence records and the run clock — and the
//! operations that primitives are thin wrappers of.
//!
//! Not here: argument marshalling (`primitives`), engine setup (`engine`), output (`report`).

pub mod entry;
pub mod evidence_review;
pub mod forensics;
pub mod handles;
pub mod json;
pub mod one_shot;
pub mod phase;
pub mod publish;
pub mod report_files;
pub mod run_report;
pub mod secrets;
pub mod settle;
pub mod signals;
pub mod snapshot;
pub mod stepper;
pub mod timeline;
pub mod update;

use crate::config::{Config, Location};
use crate::error::{Error, Result};
use crate::host::handles::Resolution;
use crate::infra::aws::{Aws, CallCounter};
use crate::rules::entry::{Entry, EntryStatus};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::{Blocker, Ledger};
use crate::rules::secret::{Secret, Vault};
use crate::sync::Locked;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// How a failing primitive ends: a catchable error, a blocker that stops the phase, or an error
/// Rhai raised that passes through unchanged.
#[derive(Debug)]
pub enum Fail {
    Error {
        code: &'static str,
        message: String,
        help: String,
    },
    Block(Blocker),
    Rhai(Box<rhai::EvalAltResult>),
}

impl Fail {
    pub fn error(code: ErrorCode, message: impl Into<String>, help: impl Into<String>) -> Fail {
        Fail::Error {
            code: code.as_str(),
            message: message.into(),
            help: help.into(),
        }
    }
}

/// What a primitive or a host call gives: its value, or why not (a catchable error, a block).
pub type Outcome<T> = std::result::Result<T, Fail>;

/// Marker key of the payload a block terminates evaluation with (the engine raises it, the
/// report recognises it).
pub const BLOCK_MARKER: &str = "m4host_block";

/// How the run was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    pub plan: bool,
    pub repl: bool,
    pub json: bool,
}

/// The run's identity in time: one UTC instant, formatted once.
#[derive(Debug, Clone)]
pub struct RunClock {
    pub started: DateTime<Utc>,
    /// `YYYYMMDDTHHmmssZ`
    pub stamp: String,
    pub execution_id: String,
}

impl RunClock {
    pub fn new(prefix: &str, now: DateTime<Utc>) -> RunClock {
        let id = crate::rules::execution_id::ExecutionId::new(prefix, now);
        RunClock {
            started: now,
            execution_id: id.id(),
            stamp: id.stamp,
        }
    }
}

/// One evidence artifact written in this run.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRecord {
    pub local: String,
    pub uri: String,
    pub sha256: String,
    /// The durable object as its read-back check verified it (entry conditions of later phases
    /// use it instead of fetching the same bytes again); none while the check runs, and under
    /// --plan.
    #[serde(skip)]
    pub verified: Option<std::sync::Arc<Vec<u8>>>,
    /// Why the read-back check failed (its blocker is recorded); the artifact is then unreadable.
    #[serde(skip)]
    pub check_failed: Option<String>,
}

/// A durable write's read-back check, running while the runbook goes on (`settle::Settle`).
pub(crate) struct PendingCheck {
    pub name: String,
    /// The phase that published it: a failed check is that phase's blocker.
    pub phase: Option<String>,
    pub write_code: String,
    pub check: tokio::task::JoinHandle<std::result::Result<Vec<u8>, String>>,
}

pub struct Host {
    pub config: Option<Config>,
    pub mode: Mode,
    pub args: BTreeMap<String, String>,
    pub clock: RunClock,
    pub vault: Vault,
    pub ledger: Mutex<Ledger>,
    pub artifacts: Mutex<BTreeMap<String, ArtifactRecord>>,
    /// Read-back checks of durable writes not yet settled, in the order written.
    pending_checks: Mutex<Vec<PendingCheck>>,
    /// Mutations a plan run recorded instead of performing.
    pub would_do: Mutex<Vec<String>>,
    pub calls: CallCounter,
    pub evidence_root: Option<PathBuf>,
    /// Started at the first call that needs it: `check` and `doc` never do, so they run no
    /// threads and touch no network.
    runtime: OnceLock<tokio::runtime::Runtime>,
    aws: OnceLock<Aws>,
    /// What the runbook declared it enters from (`declare_entry`), and that entry as judged.
    entry: OnceLock<(Entry, Option<(Location, Location)>)>,
    entry_status: OnceLock<EntryStatus>,
    resolved: Mutex<HashMap<String, Resolution>>,
    probes: std::sync::atomic::AtomicU64,
    plan: std::sync::atomic::AtomicBool,
    /// Present when a REPL steps a runbook: phases wait for the operator.
    pub gate: OnceLock<Arc<crate::host::stepper::PhaseGate>>,
    /// Set by Ctrl-C (and by the REPL's own handler): the running script stops at its next
    /// operation and a wait ends at its next poll. Passed to what waits, never read from a global.
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
    /// The runbook's files as loaded (path -> SHA-256 of the text), for provenance in evidence.
    pub sources: Arc<Mutex<BTreeMap<String, String>>>,
    /// Services this execution updated, by name.
    updates: Mutex<BTreeMap<String, UpdateRecord>>,
    /// SSM parameter values read so far in this run, by path (read once per run).
    ssm_values: Mutex<HashMap<String, handles::SsmAnswer>>,
    /// One-shot tasks this execution started, in order.
    one_shot: Mutex<Vec<one_shot::OneShotRecord>>,
    /// Task definitions described so far, by revisioned ARN (a revision never changes).
    task_definitions: Mutex<BTreeMap<String, crate::infra::ecs::TaskDefinitionView>>,
    /// The environment's secrets learnt (`secrets`): the references it could not read.
    environment_secrets: OnceLock<Vec<secrets::Unread>>,
    /// Every change this execution made to a service, in order (`update`).
    service_changes: Mutex<Vec<update::ServiceChange>>,
}

impl Host {
    pub fn new(
        config: Option<Config>,
        mode: Mode,
        args: BTreeMap<String, String>,
        evidence_dir: Option<PathBuf>,
    ) -> Result<Host> {
        let prefix = config
            .as_ref()
            .map_or("m4", |c| c.execution_prefix.as_str());
        let clock = RunClock::new(prefix, run_instant()?);
        let evidence_root =
            evidence_dir.or_else(|| config.as_ref().map(|c| c.evidence.local_root.clone()));
        Ok(Host {
            config,
            mode,
            args,
            clock,
            vault: Vault::default(),
            ledger: Mutex::new(Ledger::default()),
            artifacts: Mutex::new(BTreeMap::new()),
            pending_checks: Mutex::new(Vec::new()),
            would_do: Mutex::new(Vec::new()),
            calls: CallCounter::default(),
            evidence_root,
            runtime: OnceLock::new(),
            aws: OnceLock::new(),
            entry: OnceLock::new(),
            entry_status: OnceLock::new(),
            resolved: Mutex::new(HashMap::new()),
            updates: Mutex::new(BTreeMap::new()),
            interrupted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            sources: Default::default(),
            task_definitions: Mutex::new(BTreeMap::new()),
            environment_secrets: OnceLock::new(),
            service_changes: Mutex::new(Vec::new()),
            one_shot: Mutex::new(Vec::new()),
            ssm_values: Mutex::new(HashMap::new()),
            probes: std::sync::atomic::AtomicU64::new(0),
            plan: std::sync::atomic::AtomicBool::new(mode.plan),
            gate: OnceLock::new(),
        })
    }

    /// The async runtime, started on first use (two workers: the machine's cores).
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.get_or_init(|| {
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("m4host-io")
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    // No thread could be started: nothing can run, and there is no caller to
                    // hand a Result to from inside a primitive. Say so and stop (exit 1).
                    crate::out::err_line(&format!("m4host: cannot start the async runtime: {e}"));
                    std::process::exit(1);
                }
            }
        })
    }

    /// Runs a future to completion on the host runtime. Primitives are synchronous to Rhai.
    /// Not cut short by Ctrl-C: for what must finish once begun (updates, evidence writes) and
    /// for waits that watch `interrupted` themselves.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Runs a read-only call (a probe, a describe, a lookup) unless Ctrl-C or a signal comes first:
    /// then the call is dropped and `INTERRUPTED` raised at once, instead of the operator waiting
    /// out the call's own timeouts and retries. The flag is only read here; the engine's progress
    /// hook still ends the script at its next operation.
    pub fn call<F: Future>(&self, future: F) -> Outcome<F::Output> {
        self.runtime().block_on(self.interruptible(future))
    }

    /// `future`, or `INTERRUPTED` as soon as Ctrl-C or a signal comes (what `call` runs).
    pub fn interruptible<F: Future>(&self, future: F) -> impl Future<Output = Outcome<F::Output>> {
        let flag = Arc::clone(&self.interrupted);
        let interrupted = async move {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        };
        async {
            tokio::select! {
                biased;
                out = future => Ok(out),
                () = interrupted => Err(Fail::error(
                    ErrorCode::Interrupted,
                    "interrupted (Ctrl-C or a signal) while the call was in flight; it was abandoned",
                    "nothing was changed by a read; run the line or the phase again",
                )),
            }
        }
    }

    pub fn config(&self) -> Outcome<&Config> {
        self.config.as_ref().ok_or_else(|| {
            Fail::error(
                ErrorCode::NoEnv,
                "this primitive needs an environment file, and none was given",
                "pass --env FILE (or set M4HOST_ENV, or put m4host.toml in the working folder)",
            )
        })
    }

    pub fn aws(&self) -> Outcome<&Aws> {
        let config = self.config()?;
        if let Some(aws) = self.aws.get() {
            return Ok(aws);
        }
        let aws = self.block_on(Aws::connect(config, &self.calls));
        Ok(self.aws.get_or_init(|| aws))
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.locked()
    }

    // ----- handles -----------------------------------------------------------------------

    /// Resolves the keys, fetching every SSM parameter they need in one batched pass.
    pub fn resolve(&self, keys: &[String]) -> Outcome<Vec<(String, Resolution)>> {
        let config = self.config()?;
        let cached: HashMap<String, Resolution> = self.resolved.locked().clone();
        let missing: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !cached.contains_key(*k))
            .collect();
        let names = handles::ssm_names(&config.registry, missing.iter().copied());
        let answers = if names.is_empty() {
            BTreeMap::new()
        } else {
            let aws = self.aws()?;
            self.call(handles::fetch_ssm(&aws.ssm, &names))?
        };
        let mut out = Vec::with_capacity(keys.len());
        let mut cache = self.resolved.locked();
        for key in keys {
            let resolution = match cached.get(key) {
                Some(r) => r.clone(),
                None => handles::classify(key, &config.registry, &config.outputs, &answers),
            };
            if let Resolution::Resolved {
                value,
                secret: true,
                ..
            } = &resolution
            {
                self.vault
                    .remember(&Secret::new(key.as_str(), secret_text(value)));
            }
            if matches!(resolution, Resolution::Resolved { .. }) {
                cache.insert(key.clone(), resolution.clone());
            }
            out.push((key.clone(), resolution));
        }
        Ok(out)
    }

    /// The plaintext at an SSM path, decrypted, as a Secret.
    /// SSM answers for the paths, the ones not read yet in this run fetched together
    /// (GetParameters, 10 per call). Values are kept for the run; misses and errors are not, so a
    /// later ask tries again. SecureString plaintexts go to the vault as they arrive.
    pub fn ssm_fetch(&self, paths: &[String]) -> Outcome<BTreeMap<String, handles::SsmAnswer>> {
        let mut out = BTreeMap::new();
        let mut wanted = Vec::new();
        {
            let cache = self.ssm_values.locked();
            for p in paths {
                match cache.get(p) {
                    Some(answer) => {
                        out.insert(p.clone(), answer.clone());
                    }
                    None if !wanted.contains(p) => wanted.push(p.clone()),
                    None => {}
                }
            }
        }
        if !wanted.is_empty() {
            let aws = self.aws()?;
            // A read: Ctrl-C abandons it at once (INTERRUPTED), like every other lookup.
            let answers = self.call(handles::fetch_ssm(&aws.ssm, &wanted))?;
            let mut cache = self.ssm_values.locked();
            for (path, answer) in answers {
                if let handles::SsmAnswer::Value { value, secure } = &answer {
                    if *secure {
                        self.vault
                            .remember(&Secret::new(path.as_str(), value.as_str()));
                    }
                    cache.insert(path.clone(), answer.clone());
                }
                out.insert(path, answer);
            }
        }
        Ok(out)
    }

    pub fn ssm_secret(&self, path: &str) -> Outcome<Secret> {
        let (value, _) = self.ssm_value(path)?;
        let secret = Secret::new(path, value.as_str());
        self.vault.remember(&secret);
        Ok(secret)
    }

    /// An SSM parameter's value and whether it is a SecureString (whose plaintext the vault
    /// learns before anything else can see it).
    pub fn ssm_value(&self, path: &str) -> Outcome<(String, bool)> {
        let answers = self.ssm_fetch(&[path.to_owned()])?;
        match answers.get(path) {
            Some(handles::SsmAnswer::Value { value, secure }) if !value.is_empty() => {
                if *secure {
                    self.vault.remember(&Secret::new(path, value.as_str()));
                }
                Ok((value.clone(), *secure))
            }
            Some(handles::SsmAnswer::Value { .. }) => Err(Fail::error(
                ErrorCode::SsmEmpty,
                format!("SSM parameter `{path}` is empty"),
                "store the secret value at that path",
            )),
            Some(handles::SsmAnswer::Missing) => Err(Fail::error(
                ErrorCode::SsmMissing,
                format!("SSM parameter `{path}` does not exist"),
                "check the path the handle resolves to, and the region",
            )),
            Some(handles::SsmAnswer::Error(why) | handles::SsmAnswer::Denied(why)) => {
                Err(Fail::error(
                    ErrorCode::SsmError,
                    format!("SSM parameter `{path}` could not be read: {why}"),
                    "check credentials, the endpoint and ssm:GetParameter permission",
                ))
            }
            None => Err(Fail::error(
                ErrorCode::SsmError,
                format!("no answer for `{path}`"),
                "",
            )),
        }
    }
}

/// The run's instant: now, or `M4HOST_RUN_STAMP` (YYYYMMDDTHHmmssZ) to pin it, which makes a
/// rehearsal's evidence paths reproducible and lets tests prove write-once across runs.
fn run_instant() -> Result<DateTime<Utc>> {
    match std::env::var("M4HOST_RUN_STAMP") {
        Ok(stamp) if !stamp.is_empty() => crate::rules::execution_id::parse_stamp(&stamp)
            .ok_or_else(|| {
                Error::usage(
                    format!("M4HOST_RUN_STAMP `{stamp}` is not YYYYMMDDTHHmmssZ"),
                    "unset it, or write it like 20260214T121004Z",
                )
            }),
        _ => Ok(Utc::now()),
    }
}

/// The plaintext form of a secret handle's value (lists and objects as compact JSON).
pub fn secret_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One service update this execution made.
#[derive(Debug, Clone)]
pub struct UpdateRecord {
    pub cluster: String,
    pub at: DateTime<Utc>,
    /// The task definition in force when the update was sent.
    pub task_definition: String,
    pub desired_count: i64,
    /// When a wait first saw it up (`gate: "up"`): a later wait may count its soak from then.
    pub up_at: Option<DateTime<Utc>>,
}

impl Host {
    /// Remembers when a service this execution updated was first seen up.
    pub fn mark_up(&self, service: &str, at: DateTime<Utc>) {
        if let Some(r) = self.updates.locked().get_mut(service) {
            r.up_at.get_or_insert(at);
        }
    }

    /// Remembers that this execution changed a service (stability counts stops from here, and
    /// every started service is watched until the bring-up window closes).
    pub fn record_update(&self, service: &str, record: UpdateRecord) {
        self.updates.locked().insert(service.to_owned(), record);
    }

    /// Records a change to a service (`update::ServiceChange`).
    pub fn record_change(&self, change: update::ServiceChange) {
        self.service_changes.locked().push(change);
    }

    /// Every change this execution made to a service, in order; of one phase with `Some`.
    pub fn service_changes(&self, phase: Option<&str>) -> Vec<update::ServiceChange> {
        self.service_changes
            .locked()
            .iter()
            .filter(|c| phase.is_none_or(|p| c.phase == p))
            .cloned()
            .collect()
    }

    /// When this execution updated a service, and the task definition it expected.
    pub fn update_of(&self, service: &str) -> Option<UpdateRecord> {
        self.updates.locked().get(service).cloned()
    }

    /// Records a runbook file the run loaded (its imports are recorded as they resolve).
    pub fn record_source(&self, path: &std::path::Path) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Ok(text) = std::fs::read(&canonical) {
            self.sources.locked().insert(
                crate::infra::evidence::source_name(&canonical),
                crate::infra::evidence::sha256_hex(&text),
            );
        }
    }

    /// What produced this run's evidence: the m4host and Rhai versions, the environment and the
    /// runbook files with their hashes. Every snapshot carries it.
    pub fn provenance(&self) -> serde_json::Value {
        serde_json::json!({
            "m4host_version": env!("CARGO_PKG_VERSION"),
            "rhai_version": env!("M4HOST_RHAI_VERSION"),
            "environment": self.config.as_ref().map(|c| c.evidence.environment.clone()),
            "runbook_files": *self.sources.locked(),
        })
    }

    /// Every service this execution updated.
    pub fn updated_services(&self) -> BTreeMap<String, UpdateRecord> {
        self.updates.locked().clone()
    }

    /// A task definition, described once per revisioned ARN (revisions are immutable, so a
    /// cached answer is the same answer); family names without a revision are always asked.
    pub fn task_definition(
        &self,
        arn: &str,
    ) -> Result<crate::infra::ecs::TaskDefinitionView, crate::infra::aws::AwsError> {
        let arns = [arn.to_owned()];
        self.task_definitions(&arns).remove(arn).unwrap_or_else(|| {
            Err(crate::infra::aws::AwsError::new(
                format!("DescribeTaskDefinition {arn}"),
                crate::infra::aws::AwsErrorKind::Other,
                "was not described",
            ))
        })
    }

    /// Task definitions by ARN, the ones not cached yet described concurrently (bounded).
    pub fn task_definitions(
        &self,
        arns: &[String],
    ) -> BTreeMap<String, Result<crate::infra::ecs::TaskDefinitionView, crate::infra::aws::AwsError>>
    {
        let mut out = BTreeMap::new();
        let mut wanted = Vec::new();
        {
            let cache = self.task_definitions.locked();
            for arn in arns {
                match cache.get(arn) {
                    Some(td) => {
                        out.insert(arn.clone(), Ok(td.clone()));
                    }
                    None if !wanted.contains(arn) => wanted.push(arn.clone()),
                    None => {}
                }
            }
        }
        if wanted.is_empty() {
            return out;
        }
        let aws = match self.aws() {
            Ok(aws) => aws,
            Err(_) => {
                for arn in wanted {
                    out.insert(
                        arn,
                        Err(crate::infra::aws::AwsError::new(
                            "DescribeTaskDefinition",
                            crate::infra::aws::AwsErrorKind::Credentials,
                            "AWS is not configured",
                        )),
                    );
                }
                return out;
            }
        };
        let described = self.block_on(bounded(wanted.iter().map(|arn| async move {
            (
                arn.clone(),
                crate::infra::ecs::describe_task_definition(&aws.ecs, arn).await,
            )
        })));
        let mut cache = self.task_definitions.locked();
        for (arn, result) in described {
            let revisioned = arn
                .rsplit_once(':')
                .is_some_and(|(_, r)| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()));
            if let (true, Ok(td)) = (revisioned, &result) {
                cache.insert(arn.clone(), td.clone());
            }
            out.insert(arn, result);
        }
        out
    }
}

pub use crate::infra::aws::{bounded, AWS_CONCURRENCY};

impl Host {
    /// A number unique within this run, for probe object and stream names.
    pub fn next_probe_id(&self) -> u64 {
        self.probes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }
}

impl Host {
    /// Whether mutations are recorded as would-do (--plan, or `:plan on` in the REPL).
    pub fn plan(&self) -> bool {
        self.plan.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Switches plan mode; only before the execution's first phase, so one execution never
    /// mixes rehearsed and real evidence.
    pub fn set_plan(&self, on: bool) -> Result<(), String> {
        if !self.ledger().phases().is_empty() {
            return Err("plan mode can change only before the first phase of the execution".into());
        }
        self.plan.store(on, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}
