//! Signals: Ctrl-C in a REPL session marks `interrupted`; in a batch run SIGINT and SIGTERM end
//! the run at its next operation as the running phase's RUN-INTERRUPTED blocker, and a second
//! signal stops at once, still as a hold.

use super::Host;
use std::sync::Arc;

impl Host {
    /// Turns SIGINT into `interrupted` for the rest of the process (REPL sessions).
    pub fn spawn_interrupt_listener(&self) {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered here, before this returns: a handler installed only when a spawned task is
        // first polled leaves a window in which Ctrl-C still kills the process.
        let _entered = self.runtime().enter();
        let Ok(mut int) = signal(SignalKind::interrupt()) else {
            return;
        };
        let interrupted = Arc::clone(&self.interrupted);
        self.runtime().spawn(async move {
            while int.recv().await.is_some() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }

    /// A batch run's signals: SIGINT (Ctrl-C) and SIGTERM (an orchestrator stopping the job) end
    /// the run at its next operation or poll, recorded as the running phase's RUN-INTERRUPTED
    /// blocker, so the run holds (exit 3) and says what it was doing; evidence already written
    /// stays, and nothing half-written carries a final name (write-once, temp + link).
    pub fn spawn_run_signal_listener(self: &Arc<Self>) {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered before this returns (see spawn_interrupt_listener).
        let _entered = self.runtime().enter();
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let host = Arc::clone(self);
        self.runtime().spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            let reason = {
                let ledger = host.ledger();
                match ledger.current_phase() {
                    Some(phase) => format!("interrupted by {name} during {phase}; what it changed is in its snapshot (services it started may still be starting; one-shot tasks it started are stopped): roll back with the runbook's rollback if needed"),
                    None => format!("interrupted by {name} between phases"),
                }
            };
            let _ = host.raise_block("RUN-INTERRUPTED", &reason);
            host.interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!("{reason}");
            // A second signal is an operator who will not wait for the current call to return:
            // stop now, still as a hold (nothing half-written carries a final evidence name).
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            crate::out::err_line(&format!("m4host: {reason}; stopped at once on a second signal"));
            std::process::exit(crate::host::run_report::EXIT_HOLD);
        });
    }
}
