//! The entry precondition a runbook declares: where its two artifacts are, judged once (read,
//! hashed, checked by `rules::entry`), and the platform run id it releases only when sound.

use super::{Fail, Host, Outcome};
use crate::config::Location;
use crate::rules::entry::{self, Entry, EntryStatus};
use crate::rules::error_code::ErrorCode;
use std::sync::OnceLock;

/// What the runbook declared it enters from (`declare_entry`), and that entry as judged (once).
#[derive(Default)]
pub(super) struct EntryState {
    declared: OnceLock<(Entry, Option<(Location, Location)>)>,
    judged: OnceLock<EntryStatus>,
}

impl Host {
    /// Records what this runbook enters from, and where its two artifacts are when the runbook
    /// names them (`locations`; else the environment file's `[entry]`); once per run.
    pub fn declare_entry(
        &self,
        declared: Entry,
        locations: Option<(Location, Location)>,
    ) -> Outcome<()> {
        if let Some((existing, existing_locations)) = self.entry.declared.get() {
            if *existing == declared && *existing_locations == locations {
                return Ok(());
            }
            return Err(Fail::error(
                ErrorCode::EntryDeclared,
                format!(
                    "this run already entered from {} ({}); a run has one entry",
                    existing.from, existing.required_verdict
                ),
                "declare the entry once, at the top of the runbook",
            ));
        }
        let _ = self.entry.declared.set((declared, locations));
        Ok(())
    }

    pub fn declared_entry(&self) -> Option<&Entry> {
        self.entry.declared.get().map(|(entry, _)| entry)
    }

    /// The entry precondition as judged, once per run; `NO_ENTRY` until the runbook declared it.
    /// The two artifacts are read concurrently, hashed as read, and the handoff pack's evidence
    /// chain (when it has one) must vouch for the verdict snapshot's bytes.
    pub fn entry_status(&self) -> Outcome<&EntryStatus> {
        if let Some(status) = self.entry.judged.get() {
            return Ok(status);
        }
        let (declared, named) = self.entry.declared.get().ok_or_else(|| {
            Fail::error(
                ErrorCode::NoEntry,
                "this runbook declared no entry precondition, so it has no run scope",
                "call declare_entry(#{from, handoff_name, required_verdict, execution_field, agree, \
                 env_key_field, blocker}) before its first phase",
            )
        })?;
        let config = self.config()?;
        let status = match named.as_ref().or(config.entry.as_ref()) {
            None => EntryStatus {
                problems: vec![format!(
                    "no {} artifacts to enter from: the runbook names none and the environment file has no `[entry]` \
                     (add `[entry]` with `verdict = \"PATH or s3://...\"` and `handoff = \"PATH or s3://...\"`)",
                    declared.from
                )],
                ..EntryStatus::default()
            },
            Some((verdict_at, handoff_at)) => {
                if [verdict_at, handoff_at].iter().any(|l| matches!(l, Location::S3 { .. })) {
                    self.aws()?;
                }
                let (verdict, handoff) = self.block_on(async {
                    futures::join!(
                        self.read_artifact_bytes(verdict_at),
                        self.read_artifact_bytes(handoff_at)
                    )
                });
                let hash = |r: &std::result::Result<Vec<u8>, String>| {
                    r.as_ref().ok().map(|b| crate::infra::evidence::sha256_hex(b))
                };
                let (verdict_sha, handoff_sha) = (hash(&verdict), hash(&handoff));
                let json = |r: std::result::Result<Vec<u8>, String>| {
                    r.and_then(|b| {
                        serde_json::from_slice(&b).map_err(|e| format!("not valid JSON: {e}"))
                    })
                };
                // Non-secret is judged by value (issue #27): the environment's secrets first.
                let unread = self.environment_secrets();
                let mut status = entry::judge(
                    declared,
                    json(verdict),
                    json(handoff),
                    &verdict_at.display(),
                    &handoff_at.display(),
                    verdict_sha.as_deref(),
                    &self.vault.secrets(),
                );
                match unread {
                    Ok(unread) => status.problems.extend(unread.iter().map(|u| {
                        format!(
                            "the {} artifacts could not be checked against the secret at {} ({}): {}",
                            declared.from, u.reference, u.field, u.why
                        )
                    })),
                    Err(Fail::Error { message, .. }) => status.problems.push(format!(
                        "the {} artifacts could not be checked by value: {message}",
                        declared.from
                    )),
                    Err(other) => return Err(other),
                }
                status.verdict_sha256 = verdict_sha;
                status.handoff_sha256 = handoff_sha;
                status
            }
        };
        Ok(self.entry.judged.get_or_init(|| status))
    }

    async fn read_artifact_bytes(
        &self,
        location: &Location,
    ) -> std::result::Result<Vec<u8>, String> {
        match location {
            Location::File(path) => crate::infra::evidence::read_regular(path),
            Location::S3 { bucket, key } => {
                let aws = self
                    .aws
                    .get()
                    .ok_or_else(|| "no AWS configuration".to_owned())?;
                crate::infra::s3::read_durable(&aws.s3, bucket, key).await
            }
        }
    }

    /// The platform run id, only once the entry precondition holds; otherwise the run blocks
    /// with the declared code (M4's: M4A-B1).
    pub fn platform_run_id(&self) -> Outcome<String> {
        let status = self.entry_status()?;
        match (&status.platform_run_id, status.problems.is_empty()) {
            (Some(id), true) => Ok(id.clone()),
            _ => {
                // entry_status() refuses a run that declared no entry, so this is the declared one.
                let Some(declared) = self.declared_entry() else {
                    return Err(Fail::error(
                        ErrorCode::NoEntry,
                        "this runbook declared no entry precondition, so it has no run scope",
                        "call declare_entry(...) before its first phase",
                    ));
                };
                Err(self.raise_block(
                    &declared.blocker,
                    &format!(
                        "{} handoff preconditions do not hold: {}",
                        declared.from,
                        status.problems.join("; ")
                    ),
                ))
            }
        }
    }

    /// The platform run id if the entry was already judged and is sound; never reads it.
    pub fn known_platform_run_id(&self) -> Option<String> {
        self.entry
            .judged
            .get()
            .filter(|s| s.sound())
            .and_then(|s| s.platform_run_id.clone())
    }
}
