//! Durable writes and their read-back checks, settled at points fixed by the script's shape
//! (issues #13, #23): a durable write returns once its bytes are hashed and mirrored locally; the
//! PUT and the GET that proves its bytes run meanwhile (`PendingCheck`) until a settle point asks
//! for them, so a phase's write costs the next phase no round trip. A failed PUT or check is the
//! publishing phase's write-code blocker. Its own module so that what changes the world (`update`,
//! `one_shot`) settles without reaching into publication.

use crate::host::Host;
use crate::sync::Locked;

/// Which pending writes a settle waits for. A durable write returns at once; its PUT and the GET
/// that proves its bytes run meanwhile and are settled before the artifact is read (`Named`),
/// before anything changes the world, a verdict is decided, a REPL line's answer is shown, or the
/// run reports (`All`). So a failed write always holds the run before it changes anything, at a
/// point fixed by the script's shape, while read-only phases never wait for one.
pub enum Settle<'a> {
    All,
    Named(&'a str),
}

/// A durable write (PUT, then its read-back check), running while the runbook goes on (`settle::Settle`).
pub(super) struct PendingCheck {
    pub(super) name: String,
    /// The phase that published it: a failed check is that phase's blocker.
    pub(super) phase: Option<String>,
    pub(super) write_code: String,
    pub(super) check: tokio::task::JoinHandle<std::result::Result<Vec<u8>, String>>,
}

/// The checks not yet settled, in the order written.
#[derive(Default)]
pub(super) struct PendingChecks(std::sync::Mutex<Vec<PendingCheck>>);

/// What the run owes the world that no answer waits for (a probe object to remove): running
/// meanwhile, finished by every `Settle::All`, so before anything changes the world and before
/// the run reports. One that could not be done is told to the operator there, on stderr (never
/// from the runtime's thread, which would cut into a live view or the REPL's line).
#[derive(Default)]
pub(super) struct Cleanups(
    std::sync::Mutex<Vec<tokio::task::JoinHandle<std::result::Result<(), String>>>>,
);

impl PendingChecks {
    pub(super) fn push(&self, check: PendingCheck) {
        self.0.locked().push(check);
    }
}

impl Host {
    /// Runs `work` meanwhile; every `Settle::All` waits for it.
    pub fn clean_up_later(
        &self,
        work: impl std::future::Future<Output = std::result::Result<(), String>> + Send + 'static,
    ) {
        let handle = self.runtime().spawn(work);
        self.cleanups.0.locked().push(handle);
    }

    /// The artifacts whose write is not settled yet.
    pub(super) fn pending_check_names(&self) -> Vec<String> {
        self.pending_checks
            .0
            .locked()
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// Waits for the pending read-back checks `which` selects and records what they found: the
    /// verified bytes, or the publishing phase's write-code blocker.
    pub fn settle_checks(&self, which: Settle) {
        self.settle_checks_with(which, async {});
    }

    /// Runs `future` while the selected read-back checks finish, records them (as
    /// `settle_checks`), and returns the future's output.
    pub fn settle_checks_with<F: std::future::Future>(
        &self,
        which: Settle,
        future: F,
    ) -> F::Output {
        let mut taken = {
            let mut pending = self.pending_checks.0.locked();
            let (chosen, kept) = std::mem::take(&mut *pending)
                .into_iter()
                .partition::<Vec<_>, _>(|c| match &which {
                    Settle::All => true,
                    Settle::Named(name) => c.name == *name,
                });
            *pending = kept;
            chosen
        };
        let cleanups = match which {
            Settle::All => std::mem::take(&mut *self.cleanups.0.locked()),
            Settle::Named(_) => Vec::new(),
        };
        if taken.is_empty() && cleanups.is_empty() {
            return self.block_on(future);
        }
        let checks = futures::future::join_all(taken.iter_mut().map(|c| &mut c.check));
        let (results, out, cleaned) = self.block_on(futures::future::join3(
            checks,
            future,
            futures::future::join_all(cleanups),
        ));
        for not_done in cleaned.into_iter().filter_map(|c| match c {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(e) => Some(format!("a clean-up did not finish: {e}")),
        }) {
            crate::out::err_line(&format!("m4host: {not_done}"));
        }
        for (check, result) in taken.into_iter().zip(results) {
            let result =
                result.unwrap_or_else(|e| Err(format!("the read-back check did not finish: {e}")));
            self.record_check(check, result);
        }
        out
    }

    fn record_check(&self, check: PendingCheck, result: std::result::Result<Vec<u8>, String>) {
        let failed = result.as_ref().err().cloned();
        if let Some(record) = self.artifacts.locked().get_mut(&check.name) {
            match result {
                Ok(bytes) => record.verified = Some(std::sync::Arc::new(bytes)),
                Err(why) => record.check_failed = Some(why),
            }
        }
        if let Some(why) = failed {
            self.add_blocker_in(
                check.phase,
                &check.write_code,
                &format!("durable write of `{}`: {why}", check.name),
            );
        }
    }
}
