//! The phase, owned here (issue #30): the only code that begins, ends, faults, skips and halts a
//! phase and adds a blocker. The ledger's bookkeeping is `rules::gate::Ledger` (pure, its fields
//! private); the REPL's gate (`stepper`) decides only *when* a phase may begin. What a phase
//! publishes is `host::snapshot`.
//!
//! Not here: the step order, SKIP and `always` (the runbook's orchestration, `stdlib/runbook.rhai`).

use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::{Blocker, PhaseRecord, PhaseRefusal};
use rhai::{Dynamic, EvalAltResult};
use std::time::Instant;

/// How a phase ended.
pub struct PhaseEnd {
    pub record: PhaseRecord,
    /// The error nobody caught inside it (described, redacted): its SCRIPT-FAULT.
    pub fault: Option<String>,
}

fn refused(id: &str, why: PhaseRefusal) -> Fail {
    match why {
        PhaseRefusal::Empty => Fail::error(
            ErrorCode::BadPhase,
            "phase id is empty",
            "name it like M4.A",
        ),
        PhaseRefusal::Nested { current } => Fail::error(
            ErrorCode::NestedPhase,
            format!("phase `{id}` started inside phase `{current}`"),
            "run phases one after another from the top level",
        ),
        PhaseRefusal::Repeated => Fail::error(
            ErrorCode::PhaseRepeated,
            format!("phase `{id}` already ran in this execution"),
            "each phase runs once per execution; start a new execution to run it again",
        ),
    }
}

impl Host {
    /// In a REPL session phases run only on the runbook's thread, when the operator lets them go.
    fn pass_phase_gate(&self, id: &str) -> Outcome<()> {
        let Some(gate) = self.gate.get() else {
            return Ok(());
        };
        if self.typed_repl_line() {
            return Err(Fail::error(
                ErrorCode::ReplPhase,
                format!("phase `{id}` cannot be run from a REPL line"),
                "phases run in order through :step, :run PHASE or :continue",
            ));
        }
        if gate.before_phase(id) {
            Ok(())
        } else {
            Err(Fail::Rhai(Box::new(EvalAltResult::ErrorTerminated(
                "the REPL session ended".into(),
                rhai::Position::NONE,
            ))))
        }
    }

    /// Begins phase `id` (after the REPL's gate, when stepping): one at a time, once each.
    pub fn begin_phase(&self, id: &str) -> Outcome<Instant> {
        if id.trim().is_empty() {
            return Err(refused(id, PhaseRefusal::Empty));
        }
        self.pass_phase_gate(id)?;
        self.ledger().begin(id).map_err(|why| refused(id, why))?;
        Ok(Instant::now())
    }

    /// Ends phase `id` with what its body did: a block ends it (as a hold); an error nobody
    /// caught is its SCRIPT-FAULT blocker, described once here; an error no script may catch (a
    /// limit, Ctrl-C, a session that ended) leaves the phase unrecorded and passes through. The
    /// phase's line is printed.
    pub fn end_phase(
        &self,
        id: &str,
        result: Result<Dynamic, Box<EvalAltResult>>,
        started: Instant,
    ) -> Outcome<PhaseEnd> {
        if self.gate.get().is_some() {
            // Stepping, the operator reads a phase's line as its writes proved it: a failed write
            // is its blocker now, and the step runner sees the hold before the next phase.
            self.settle_checks(crate::host::settle::Settle::All);
        }
        let mut ledger = self.ledger();
        let fault = match result {
            Ok(_) => None,
            Err(_) if ledger.clear_halt() => None,
            Err(err) if err.is_catchable() => Some(
                self.vault
                    .redact(&crate::host::run_report::describe_rhai_error(&err)),
            ),
            Err(err) => {
                ledger.abandon();
                return Err(Fail::Rhai(err));
            }
        };
        let record = ledger.end(id, fault.as_deref(), started.elapsed().as_millis());
        drop(ledger);
        crate::host::run_report::phase_line(self, &record);
        // The phase's answers from the world go to the tape now: a SIGKILL later loses none.
        self.flush_tape();
        Ok(PhaseEnd { record, fault })
    }

    /// Records phase `id` as not run: the run already holds.
    pub fn skip_phase(&self, id: &str) -> Outcome<()> {
        self.pass_phase_gate(id)?;
        let record = self.ledger().skip(id).map_err(|why| refused(id, why))?;
        crate::host::run_report::phase_line(self, &record);
        Ok(())
    }

    /// Records a blocker (redacted) in the running phase, which goes on.
    pub fn add_blocker(&self, code: &str, reason: &str) -> Blocker {
        let phase = self.ledger().current_phase().map(str::to_owned);
        self.add_blocker_in(phase, code, reason)
    }

    /// Records a blocker (redacted) in `phase`, which may have ended: a check of its evidence
    /// that failed later turns its record to HOLD.
    pub fn add_blocker_in(&self, phase: Option<String>, code: &str, reason: &str) -> Blocker {
        let reason = self.vault.redact(reason);
        let blocker = self.ledger().record_in(phase, code, &reason);
        tracing::info!(code, phase = %blocker.phase, reason = %blocker.reason, "blocker recorded");
        blocker
    }

    /// Lets the next line of a REPL session run: a block ends the line that raised it, not the
    /// session (the blocker stays recorded).
    pub fn end_of_line(&self) {
        self.ledger().clear_halt();
    }

    /// Records a blocker and asks evaluation to stop up to the enclosing phase boundary.
    pub fn raise_block(&self, code: &str, reason: &str) -> Fail {
        let blocker = self.add_blocker(code, reason);
        self.ledger().request_halt();
        Fail::Block(blocker)
    }
}
