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
pub mod tape;
pub mod timeline;
pub mod update;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::infra::aws::{Aws, CallCounter};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::{Blocker, Ledger};
use crate::rules::secret::Vault;
use crate::sync::Locked;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
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

pub struct Host {
    config: Option<Config>,
    mode: Mode,
    args: BTreeMap<String, String>,
    clock: RunClock,
    vault: Vault,
    ledger: Mutex<Ledger>,
    artifacts: Mutex<BTreeMap<String, ArtifactRecord>>,
    /// Read-back checks of durable writes not yet settled, in the order written (`settle`).
    pending_checks: settle::PendingChecks,
    cleanups: settle::Cleanups,
    /// Phases that ended without a blocker but published a snapshot that is not a pass (a
    /// rehearsal that could not prove its point): their line says so (`run_report`).
    unproven: Mutex<std::collections::BTreeSet<String>>,
    /// The script the run was started with: as `sources` names it, and its path as given.
    script: OnceLock<(String, String)>,
    /// The world's answers to this run (`tape`), started at its first call to the world.
    tape: OnceLock<Option<Arc<crate::infra::tape::Tape>>>,
    /// The entry precondition, declared and judged (`entry`).
    entry: entry::EntryState,
    /// Handles resolved and SSM parameters read (`handles`).
    handles: handles::HandleCache,
    /// Service updates, changes and task definitions (`update`).
    services: update::ServiceRecords,
    /// Mutations a plan run recorded instead of performing.
    would_do: Mutex<Vec<String>>,
    calls: CallCounter,
    evidence_root: Option<PathBuf>,
    /// Started at the first call that needs it: `check` and `doc` never do, so they run no
    /// threads and touch no network.
    runtime: OnceLock<tokio::runtime::Runtime>,
    aws: OnceLock<Aws>,
    probes: Mutex<BTreeMap<String, u64>>,
    plan: std::sync::atomic::AtomicBool,
    /// Present when a REPL steps a runbook: phases wait for the operator.
    gate: OnceLock<Arc<crate::host::stepper::PhaseGate>>,
    /// Set by Ctrl-C (and by the REPL's own handler): the running script stops at its next
    /// operation and a wait ends at its next poll. Passed to what waits, never read from a global.
    interrupted: Arc<std::sync::atomic::AtomicBool>,
    /// The runbook's files as loaded (path -> SHA-256 of the text), for provenance in evidence.
    sources: Arc<Mutex<BTreeMap<String, String>>>,
    /// One-shot tasks this execution started, in order.
    one_shot: Mutex<Vec<one_shot::OneShotRecord>>,
    /// The environment's secrets learnt (`secrets`): the references it could not read.
    environment_secrets: OnceLock<Vec<secrets::Unread>>,
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
            pending_checks: Default::default(),
            cleanups: Default::default(),
            unproven: Default::default(),
            tape: OnceLock::new(),
            script: OnceLock::new(),
            entry: Default::default(),
            handles: Default::default(),
            services: Default::default(),
            would_do: Mutex::new(Vec::new()),
            calls: CallCounter::default(),
            evidence_root,
            runtime: OnceLock::new(),
            aws: OnceLock::new(),
            interrupted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            sources: Default::default(),
            environment_secrets: OnceLock::new(),
            one_shot: Mutex::new(Vec::new()),
            probes: Mutex::new(BTreeMap::new()),
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
        let aws = match self.tape() {
            // A replay sends nothing: its answers come from the tape, its requests are signed
            // with placeholder credentials (no credential chain is asked).
            Some(tape) if tape.replaying() => self.block_on(Aws::connect_replay(
                config,
                &self.calls,
                crate::infra::tape_http::replaying(Arc::clone(tape)),
            )),
            tape => {
                let http = tape.map(|tape| {
                    crate::infra::tape_http::recording(
                        crate::infra::aws::default_http_client(),
                        Arc::clone(tape),
                    )
                });
                self.block_on(Aws::connect(config, &self.calls, http))
            }
        };
        Ok(self.aws.get_or_init(|| aws))
    }

    // ----- what the layers above read -----------------------------------------------------

    /// The environment file, when the run has one (`config()` refuses when it has none).
    pub fn environment(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// How the run was started.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The `--set KEY=VALUE` arguments.
    pub fn args(&self) -> &BTreeMap<String, String> {
        &self.args
    }

    /// The run's identity in time.
    pub fn clock(&self) -> &RunClock {
        &self.clock
    }

    /// The secrets this run knows, and the redaction every output goes through.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Calls made, by service.
    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// The runbook's files as loaded (path -> SHA-256), shared with the module resolver.
    pub fn sources(&self) -> &Arc<Mutex<BTreeMap<String, String>>> {
        &self.sources
    }

    /// The evidence this run wrote, by name.
    pub fn artifacts(&self) -> BTreeMap<String, ArtifactRecord> {
        self.artifacts.locked().clone()
    }

    /// Records what a plan run would have done instead of doing it.
    pub fn would(&self, line: String) {
        self.would_do.locked().push(line);
    }

    /// The REPL's phase gate: phases wait for the operator (set once, when a session begins).
    pub fn attach_gate(&self, gate: Arc<crate::host::stepper::PhaseGate>) {
        let _ = self.gate.set(gate);
    }

    /// Whether Ctrl-C (or a run's signal) asked the running work to stop.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes the interrupt: true once for each Ctrl-C (the engine's progress hook stops there).
    pub fn take_interrupt(&self) -> bool {
        self.interrupted
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets an interrupt that arrived after the work it was meant for (the REPL's next line).
    pub fn clear_interrupt(&self) {
        self.interrupted
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The blocker ledger, locked.
    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.locked()
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

impl Host {
    /// Records a runbook file the run loaded (its imports are recorded as they resolve).
    pub fn record_source(&self, path: &std::path::Path) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Ok(text) = std::fs::read(&canonical) {
            let name = crate::infra::evidence::source_name(&canonical);
            // The first file recorded is the script the run was started with.
            let _ = self.script.set((name.clone(), path.display().to_string()));
            self.sources
                .locked()
                .insert(name, crate::infra::evidence::sha256_hex(&text));
        }
    }

    /// runbook files with their hashes. Every snapshot carries it.
    pub fn provenance(&self) -> serde_json::Value {
        serde_json::json!({
            "m4host_version": env!("CARGO_PKG_VERSION"),
            "rhai_version": env!("M4HOST_RHAI_VERSION"),
            "environment": self.config.as_ref().map(|c| c.evidence.environment.clone()),
            "runbook_files": *self.sources.locked(),
        })
    }
}

pub use crate::infra::aws::{bounded, AWS_CONCURRENCY};

impl Host {
    /// A name unique within this run for a probe of `target` (an object or stream name): the
    /// execution, a short hash of the target and how many times this run probed it. It depends
    /// only on what is probed and in which order, never on which of concurrent probes ran first,
    /// so a replay asks for the same names the recording did (issue #25).
    pub fn probe_name(&self, target: &str) -> String {
        let n = {
            let mut seen = self.probes.locked();
            let n = seen.entry(target.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        let hash = crate::infra::evidence::sha256_hex(target.as_bytes());
        format!("{}-{}-{n}", self.clock.execution_id, &hash[..8])
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
