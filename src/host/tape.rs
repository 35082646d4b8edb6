//! The run's tape (issue #25), the host's side: started at the run's first call to the world
//! (the runbook's files are loaded by then, so the header states their hashes), written at each
//! phase's end once the secrets its answers could carry are learnt, finished when the run ends.
//! What is recorded, and how it is kept non-secret, is `infra::tape`.

use crate::host::{Fail, Host};
use crate::infra::tape::{Entry, Header, Tape, TAPE_VERSION};
use crate::sync::Locked;
use std::path::PathBuf;
use std::sync::Arc;

impl Host {
    /// The run's tape (none without a local evidence root, or when it could not be opened: a
    /// tape is a record of the run, never a reason to stop it).
    pub fn tape(&self) -> Option<&Arc<Tape>> {
        self.tape
            .get_or_init(|| {
                let root = self.evidence_root.as_ref()?;
                let sources = self.sources.locked().clone();
                let header = Header {
                    tape: TAPE_VERSION,
                    m4host_version: env!("CARGO_PKG_VERSION").to_owned(),
                    execution_id: self.clock.execution_id.clone(),
                    run_stamp: self.clock.stamp.clone(),
                    script: self.script.get().map(|s| s.0.clone()).unwrap_or_default(),
                    script_path: self.script.get().map(|s| s.1.clone()).unwrap_or_default(),
                    env_file: self
                        .config
                        .as_ref()
                        .map(|c| c.env_file.display().to_string()),
                    sources,
                    args: self.args.clone(),
                };
                match Tape::record(&root.join(&self.clock.stamp), &header) {
                    Ok(tape) => Some(Arc::new(tape)),
                    Err(why) => {
                        tracing::warn!("no tape for this run: {why}");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// No tape for this host: an operator's read (`m4host report`) is not a run, and leaves no
    /// execution folder behind.
    pub fn without_tape(&self) {
        let _ = self.tape.set(None);
    }

    /// Makes this run a replay of `tape`: every answer of the world comes from it, nothing is
    /// sent, and evidence stays in the local (scratch) mirror. Before the first call to the world.
    pub fn replay_from(&self, tape: Arc<Tape>) {
        let _ = self.tape.set(Some(tape));
    }

    /// The tape this run replays, if it replays one (never starts a recording).
    fn replay_tape(&self) -> Option<&Arc<Tape>> {
        self.tape
            .get()
            .and_then(Option::as_ref)
            .filter(|t| t.replaying())
    }

    /// Whether this run replays a tape.
    pub fn replaying(&self) -> bool {
        self.replay_tape().is_some()
    }

    /// What a replay says of itself in the summary: the tape it ran on and how many answers it
    /// had to give past the recording ("the world was assumed unchanged"), and how many questions
    /// it asked that the tape does not hold.
    pub fn replayed(&self) -> Option<serde_json::Value> {
        let tape = self.replay_tape()?;
        let header = tape.header()?;
        Some(serde_json::json!({
            "execution_id": header.execution_id,
            "extrapolated": tape.extrapolated(),
            "not_on_tape": tape.miss_count(),
        }))
    }

    /// Evidence is written to the local mirror only: under `--plan`, and in a replay.
    pub fn local_evidence_only(&self) -> bool {
        self.plan() || self.replaying()
    }

    /// A recorded clock reading (replay), else now (recorded while recording).
    pub fn stamped_now(&self, key: &str) -> chrono::DateTime<chrono::Utc> {
        if let Some(tape) = self.replay_tape() {
            if let Some(Entry::Clock { at, .. }) = tape.fresh_answer(key) {
                return at;
            }
        }
        let at = chrono::Utc::now();
        self.record(|seq| Entry::Clock {
            seq,
            key: key.to_owned(),
            at,
            elapsed_ms: 0,
        });
        at
    }

    /// A span the run measured of the world (a probe's latency): recorded as measured, or in a
    /// replay the recorded one (else the replay's own, which is what it measured).
    pub fn measured_ms(&self, key: &str, measured: u64) -> u64 {
        if let Some(tape) = self.replay_tape() {
            return match tape.fresh_answer(key) {
                Some(Entry::Clock { elapsed_ms, .. }) => elapsed_ms.max(0) as u64,
                _ => measured,
            };
        }
        self.record(|seq| Entry::Clock {
            seq,
            key: key.to_owned(),
            at: chrono::Utc::now(),
            elapsed_ms: measured as i64,
        });
        measured
    }

    /// Records one answer of the world that does not come through the AWS client (a probe's
    /// report, a clock reading).
    pub fn record(&self, entry: impl FnOnce(u64) -> Entry) {
        if let Some(tape) = self.tape() {
            tape.append(entry(tape.next_seq()));
        }
    }

    /// Writes what the tape holds: first the secrets its answers could carry are learnt (the
    /// environment's, and each task definition's own `valueFrom`), so the vault redacts them;
    /// answers that could hold a secret the host could not learn are written without their body.
    pub fn flush_tape(&self) {
        let Some(tape) = self.tape.get().and_then(Option::as_ref) else {
            return;
        };
        let started = std::time::Instant::now();
        let withhold = if tape.pending_may_hold_secrets() {
            self.learn_for_tape().err()
        } else {
            None
        };
        tape.write_pending(
            |line| self.vault.redact(line),
            withhold
                .map(|why| format!("the secrets it could hold could not be learnt ({why})"))
                .as_deref(),
        );
        tape.add_spent(started.elapsed());
    }

    /// Time the run's tape has cost it so far (none without a tape).
    pub fn tape_spent(&self) -> std::time::Duration {
        self.tape().map(|t| t.spent()).unwrap_or_default()
    }

    fn learn_for_tape(&self) -> Result<(), String> {
        let said = |fail: Fail| match fail {
            Fail::Error { message, .. } => message,
            Fail::Block(blocker) => blocker.reason,
            Fail::Rhai(err) => err.to_string(),
        };
        self.environment_secrets().map_err(said)?;
        for td in self.described_task_definitions() {
            self.task_definition_secrets(&td).map_err(said)?;
        }
        Ok(())
    }

    /// Ends the run's tape: the last entries written, the tape under its final name; its path.
    pub fn finish_tape(&self) -> Option<PathBuf> {
        self.flush_tape();
        self.tape.get().and_then(Option::as_ref)?.finish()
    }
}
