//! `emit_snapshot` and `read_snapshot`: what may be published as evidence, where it goes, and the
//! blockers a refusal records. The bytes are written by `evidence`.
//!
//! Refusals are gates, not errors: a payload holding a Secret or a resolved secret's plaintext
//! records the phase's secret code; a failed local or durable write records its write code.

use crate::host::handles::Resolution;
use crate::host::json::{canonical_bytes, to_json};
use crate::host::settle::PendingCheck;
use crate::host::settle::Settle;
use crate::host::{ArtifactRecord, Fail, Host, Outcome};
use crate::infra::evidence::{self, sha256_hex};
use crate::rules::credential::{self, Names};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::code_prefix_of_phase;
use crate::sync::Locked;
use serde_json::Value;

/// Where an artifact is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `evidence/<environment>/run_control/<execution_id>/<name>.json`
    Control,
    /// Another execution's control folder, e.g. a rollback's snapshot beside the execution it
    /// rolled back (still write-once).
    Execution { execution_id: String },
    /// `evidence/runs/<platform_run_id>/<path>.json`
    Run { path: String },
}

#[derive(Debug, Clone)]
pub struct EmitOptions {
    pub scope: Scope,
    pub write_code: Option<String>,
    pub secret_code: Option<String>,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            scope: Scope::Control,
            write_code: None,
            secret_code: None,
        }
    }
}

/// See `rules::execution_id` for the grammar.
pub fn valid_execution_id(id: &str) -> bool {
    crate::rules::execution_id::ExecutionId::parse(id).is_some()
}

/// The key under which every snapshot lists the artifacts this execution published before it,
/// with their SHA-256: a hash chain, so that the last artifact vouches for every earlier one and
/// `m4host report` can tell evidence changed after it was written.
pub const EVIDENCE_CHAIN_KEY: &str = "evidence_chain";

impl Host {
    /// `[#{name, uri, sha256}]` of every artifact published so far, by name.
    fn evidence_chain(&self) -> Value {
        let records = self.artifacts.locked();
        Value::Array(
            records
                .iter()
                .map(|(name, r)| {
                    serde_json::json!({
                        "name": name,
                        "uri": if r.uri.is_empty() { Value::Null } else { Value::String(r.uri.clone()) },
                        "sha256": r.sha256,
                    })
                })
                .collect(),
        )
    }

    /// The default blocker code of an evidence failure in the current phase: `<PHASE>-B3`.
    fn evidence_code(&self, given: &Option<String>) -> String {
        given.clone().unwrap_or_else(|| {
            let phase = self.ledger().current_phase().map(str::to_owned);
            match phase {
                Some(p) => format!("{}-B3", code_prefix_of_phase(&p)),
                None => "EVIDENCE-B3".to_owned(),
            }
        })
    }

    fn evidence_bucket(&self, write_code: &str) -> Outcome<String> {
        self.durable_bucket()?
            .map_err(|why| self.raise_block(write_code, &format!("{why}: cannot publish")))
    }

    /// The evidence bucket, from `[evidence] bucket_handle`; the outer error is a host failure,
    /// the inner one says why the handle names no bucket.
    pub(crate) fn durable_bucket(&self) -> Outcome<std::result::Result<String, String>> {
        let handle = self.config()?.evidence.bucket_handle.clone();
        let resolved = self.resolve(std::slice::from_ref(&handle))?;
        Ok(match resolved.into_iter().next().map(|(_, r)| r) {
            Some(Resolution::Resolved {
                value: Value::String(bucket),
                ..
            }) => Ok(bucket),
            Some(other) => Err(format!(
                "evidence bucket handle `{handle}` is {}",
                other.outcome()
            )),
            None => Err(format!("evidence bucket handle `{handle}` unresolved")),
        })
    }

    /// `evidence/<environment>/run_control/<execution_id>/`
    pub(crate) fn control_prefix(&self, execution_id: &str) -> Outcome<String> {
        let env = &self.config()?.evidence.environment;
        Ok(format!(
            "{}{execution_id}/",
            crate::rules::execution_id::control_root(env)
        ))
    }

    fn control_key(&self, execution_id: &str, name: &str) -> Outcome<String> {
        Ok(format!("{}{name}.json", self.control_prefix(execution_id)?))
    }

    /// The durable URI of an execution's artifact (what `read_evidence` reads).
    pub fn evidence_uri(&self, execution_id: &str, name: &str) -> Outcome<String> {
        let (bucket, key) = self.evidence_location(execution_id, name)?;
        Ok(format!("s3://{bucket}/{key}"))
    }

    fn evidence_location(&self, execution_id: &str, name: &str) -> Outcome<(String, String)> {
        if !valid_execution_id(execution_id) || !evidence::valid_artifact_name(name) {
            return Err(Fail::error(
                ErrorCode::BadArtifactName,
                format!(
                    "`{execution_id}`/`{name}` is not an execution id and artifact name (an id is {})",
                    crate::rules::execution_id::GRAMMAR
                ),
                "e.g. read_evidence(\"m4_20260214T121004Z\", \"m4_f_daemon_start_snapshot\")",
            ));
        }
        let bucket = self
            .durable_bucket()?
            .map_err(|why| Fail::error(ErrorCode::SnapshotUnreadable, why, ""))?;
        Ok((bucket, self.control_key(execution_id, name)?))
    }

    /// Reads an artifact another execution published (e.g. the M4.F snapshot a rollback restores
    /// from), from durable storage.
    pub fn read_evidence(&self, execution_id: &str, name: &str) -> Outcome<Value> {
        let (bucket, key) = self.evidence_location(execution_id, name)?;
        let aws = self.aws()?;
        let bytes = self
            .block_on(crate::infra::s3::read_durable(&aws.s3, &bucket, &key))
            .map_err(|why| {
                Fail::error(
                    ErrorCode::SnapshotUnreadable,
                    why,
                    "check the execution id and the evidence bucket",
                )
            })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Fail::error(
                ErrorCode::SnapshotUnreadable,
                format!("s3://{bucket}/{key} is not JSON: {e}"),
                "",
            )
        })
    }

    /// Publishes one artifact; see the module doc for the refusals.
    pub fn emit_snapshot(
        &self,
        name: &str,
        payload: &rhai::Dynamic,
        options: &EmitOptions,
    ) -> Outcome<rhai::Map> {
        if !evidence::valid_artifact_name(name) {
            return Err(Fail::error(
                ErrorCode::BadArtifactName,
                format!("artifact name `{name}` is not lower-case letters, digits and `_`"),
                "name it like m4_a_handle_closure_snapshot (no folders, no extension)",
            ));
        }
        if let Scope::Run { path } = &options.scope {
            if !evidence::valid_relative_path(path) {
                return Err(Fail::error(
                    ErrorCode::BadArtifactPath,
                    format!("run-scoped path `{path}` is not segments of lower-case letters, digits and `_`"),
                    "write it like operate/daemons_ready (no extension, no `..`)",
                ));
            }
        }
        let write_code = self.evidence_code(&options.write_code);
        let secret_code = self.evidence_code(&options.secret_code);

        let mut document = match to_json(payload, "payload") {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(Fail::error(
                    ErrorCode::BadPayload,
                    format!("payload of `{name}` is not a map"),
                    "pass an object map #{...}",
                ))
            }
            Err(refusal) => {
                return Err(self.raise_block(
                    &secret_code,
                    &format!("refused to publish `{name}`: {refusal}"),
                ))
            }
        };
        if self.plan() {
            document.insert("plan".into(), Value::Bool(true));
        }
        if self.replaying() {
            // A replay's evidence is a scratch copy, never mistaken for the run's own.
            document.insert("replay".into(), Value::Bool(true));
        }
        if self.mode.repl {
            document.insert("repl".into(), Value::Bool(true));
        }
        // The one-shot tasks the phase started or stopped, by construction: a phase that ended
        // early (a block, Ctrl-C) still says what it left behind.
        let phase = document
            .get("phase")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.ledger().current_phase().map(str::to_owned));
        if let Some(phase) = phase {
            let changes = self.service_changes(Some(&phase));
            if !changes.is_empty() {
                document.insert(
                    crate::host::update::SERVICE_CHANGES_KEY.into(),
                    crate::host::json::record(&changes),
                );
            }
            let tasks = self.one_shot_tasks_of(&phase);
            if !tasks.is_empty() {
                document.insert(
                    crate::host::one_shot::ONE_SHOT_KEY.into(),
                    crate::host::json::record(&tasks),
                );
            }
        }
        document.insert("provenance".into(), self.provenance());
        document.insert(EVIDENCE_CHAIN_KEY.into(), self.evidence_chain());
        let document = Value::Object(document);
        // Non-secret by value (issue #27): a known secret's plaintext or a credential shape at
        // any path refuses the write, naming the path; the byte scan below stays the last net.
        let found = credential::document_findings(&document, &self.vault.secrets(), Names::Ignored);
        if !found.is_empty() {
            let places: Vec<String> = found.iter().map(|f| f.describe()).collect();
            return Err(self.raise_block(
                &secret_code,
                &format!("refused to publish `{name}`: {}", places.join("; ")),
            ));
        }
        let bytes = canonical_bytes(&document);
        let leaks = self.vault.leaks_in(&bytes);
        if !leaks.is_empty() {
            return Err(self.raise_block(
                &secret_code,
                &format!(
                    "refused to publish `{name}`: it contains the plaintext of secret handle(s) {}",
                    leaks.join(", ")
                ),
            ));
        }
        let sha256 = sha256_hex(&bytes);

        let Some(root) = &self.evidence_root else {
            return Err(self.raise_block(
                &write_code,
                "no local evidence root: set [evidence] local_root",
            ));
        };
        let local = root.join(&self.clock.stamp).join(format!("{name}.json"));
        if let Err(why) = evidence::write_local_once(&local, &bytes) {
            return Err(self.raise_block(&write_code, &format!("local mirror of `{name}`: {why}")));
        }

        let (bucket, key) = {
            let bucket = self.evidence_bucket(&write_code)?;
            let key = match &options.scope {
                Scope::Control => self.control_key(&self.clock.execution_id, name)?,
                Scope::Execution { execution_id } => self.control_key(execution_id, name)?,
                Scope::Run { path } => {
                    let run_id = self.platform_run_id()?;
                    format!(
                        "{}{run_id}/{path}.json",
                        crate::rules::execution_id::RUN_SCOPED_ROOT
                    )
                }
            };
            (bucket, key)
        };
        let uri = format!("s3://{bucket}/{key}");
        let mut check = None;
        if self.plan() {
            self.would_do
                .locked()
                .push(format!("would write {uri} (sha256 {sha256})"));
        } else if self.replaying() {
            // Nothing durable from a replay: the local scratch mirror is its evidence.
        } else {
            // The PUT and the GET that proves its bytes run while the runbook goes on: no phase
            // waits for a write. Each is settled at a point the script's shape fixes
            // (`settle::Settle`): a read of it, anything that changes the world, a verdict, a REPL
            // line's answer, the run's report. A failed one is this phase's write-code blocker
            // then, and a held run changes nothing after it.
            let aws = self.aws()?;
            let (s3, bucket, key, sent, body) = (
                aws.s3.clone(),
                bucket.clone(),
                key.clone(),
                sha256.clone(),
                bytes.clone(),
            );
            check = Some(self.runtime().spawn(async move {
                evidence::put_once(&s3, &bucket, &key, &body).await?;
                evidence::verify_read_back(&s3, &bucket, &key, &sent).await
            }));
        }
        let record = ArtifactRecord {
            local: local.display().to_string(),
            uri: if self.local_evidence_only() {
                String::new()
            } else {
                uri.clone()
            },
            sha256: sha256.clone(),
            verified: None,
            check_failed: None,
        };
        self.artifacts
            .locked()
            .insert(name.to_owned(), record.clone());
        if let Some(check) = check {
            let phase = self.ledger().current_phase().map(str::to_owned);
            self.pending_checks.push(PendingCheck {
                name: name.to_owned(),
                phase,
                write_code,
                check,
            });
        }
        let mut out = rhai::Map::new();
        out.insert("name".into(), name.into());
        out.insert("local".into(), record.local.into());
        out.insert("uri".into(), uri.into());
        out.insert("sha256".into(), sha256.into());
        out.insert("durable".into(), (!self.local_evidence_only()).into());
        Ok(out)
    }

    /// An artifact this execution published, as its read-back check verified it (the local
    /// mirror in plan mode), checked against the hash recorded at write time; waits for that
    /// check if it still runs. `read_durable_snapshots` fetches afresh.
    pub fn read_snapshot(&self, name: &str) -> Outcome<Value> {
        self.settle_checks(Settle::Named(name));
        let record = self.published(name)?;
        match checked_document(name, &record)? {
            Some(document) => Ok(document),
            None => {
                let bytes = self.block_on(self.fetch_published(&record))?;
                parse_verified(name, &record, &bytes)
            }
        }
    }

    /// Artifacts this execution published, each read afresh from durable storage (the local
    /// mirror in plan mode), all at once, each checked against the hash recorded at write time:
    /// name -> the document, or the failure that stands instead of it. Every pending write is
    /// settled meanwhile, so what reads the answer also reads their blockers; an artifact whose
    /// write was still pending is read by its own read-back check (a GET after its PUT), the
    /// others by a GET now.
    pub fn read_durable_snapshots(&self, names: &[String]) -> Vec<(String, Outcome<Value>)> {
        let pending = self.pending_check_names();
        let fetches = names.iter().map(|name| {
            let pending = &pending;
            async move {
                if pending.contains(name) {
                    return (name.clone(), None);
                }
                let outcome = match self.published(name) {
                    Err(fail) => Err(fail),
                    Ok(record) => self
                        .fetch_published(&record)
                        .await
                        .and_then(|b| parse_verified(name, &record, &b)),
                };
                (name.clone(), Some(outcome))
            }
        });
        let fetched = self.settle_checks_with(Settle::All, futures::future::join_all(fetches));
        fetched
            .into_iter()
            .map(|(name, outcome)| {
                let outcome = outcome.unwrap_or_else(|| {
                    let record = self.published(&name)?;
                    checked_document(&name, &record)?.ok_or_else(|| missing(&name))
                });
                (name, outcome)
            })
            .collect()
    }

    fn published(&self, name: &str) -> Outcome<ArtifactRecord> {
        self.artifacts
            .locked()
            .get(name)
            .cloned()
            .ok_or_else(|| missing(name))
    }

    /// A published artifact's bytes from durable storage (the local mirror under --plan).
    async fn fetch_published(&self, record: &ArtifactRecord) -> Outcome<Vec<u8>> {
        if record.uri.is_empty() {
            return std::fs::read(&record.local).map_err(|e| {
                Fail::error(
                    ErrorCode::SnapshotUnreadable,
                    format!("{}: {e}", record.local),
                    "",
                )
            });
        }
        let (bucket, key) = split_uri(&record.uri)?;
        let aws = self.aws()?;
        crate::infra::s3::read_durable(&aws.s3, bucket, key)
            .await
            .map_err(|why| {
                Fail::error(
                    ErrorCode::SnapshotUnreadable,
                    why,
                    "check the evidence bucket",
                )
            })
    }
}

/// A settled artifact's document as its read-back check found it: the failure the check
/// recorded, or its verified bytes parsed, or None when no check ran (plan mode, a replay).
fn checked_document(name: &str, record: &ArtifactRecord) -> Outcome<Option<Value>> {
    if let Some(why) = &record.check_failed {
        return Err(Fail::error(
            ErrorCode::SnapshotUnreadable,
            format!("`{name}` failed its read-back check: {why}"),
            "check the evidence bucket",
        ));
    }
    record
        .verified
        .as_ref()
        .map(|bytes| parse_verified(name, record, bytes))
        .transpose()
}

fn missing(name: &str) -> Fail {
    Fail::error(
        ErrorCode::SnapshotMissing,
        format!("`{name}` was not published by this execution"),
        "publish it with emit_snapshot first; entry conditions read only this execution's evidence",
    )
}

fn split_uri(uri: &str) -> Outcome<(&str, &str)> {
    evidence::split_s3_uri(uri)
        .ok_or_else(|| Fail::error(ErrorCode::SnapshotUnreadable, format!("bad uri {uri}"), ""))
}

/// The document, if the bytes are the ones written (same SHA-256) and JSON.
fn parse_verified(name: &str, record: &ArtifactRecord, bytes: &[u8]) -> Outcome<Value> {
    let sha = sha256_hex(bytes);
    if sha != record.sha256 {
        return Err(Fail::error(
            ErrorCode::SnapshotChanged,
            format!(
                "`{name}` read back with sha256 {sha}, written with {}",
                record.sha256
            ),
            "the evidence was changed after it was written; investigate before trusting it",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Fail::error(
            ErrorCode::SnapshotUnreadable,
            format!("`{name}` is not JSON: {e}"),
            "",
        )
    })
}
