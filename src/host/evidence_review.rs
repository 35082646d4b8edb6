//! One execution's evidence read back for `m4host report`: every artifact under its control
//! folder in durable storage, and the ones its hash chain names elsewhere (run-scoped evidence),
//! each checked against the SHA-256 that every later artifact recorded for it
//! (`publish::EVIDENCE_CHAIN_KEY`) and against this machine's local mirror where there is one.
//!
//! Nothing here judges the runbook: it says whether the evidence is the evidence that was written,
//! and hands the documents to whoever draws them.

use crate::error::{Error, Result};
use crate::host::publish::EVIDENCE_CHAIN_KEY;
use crate::host::{Fail, Host};
use crate::infra::evidence::{self, sha256_hex};
use crate::rules::execution_id::ExecutionId;
use serde_json::Value;
use std::path::PathBuf;

/// How the local mirror's copy compares with the durable object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalCopy {
    /// No copy on this machine (another operator's run, or a cleaned folder).
    Absent,
    Same,
    Differs {
        sha256: String,
    },
}

/// One artifact as read back.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub uri: String,
    /// Of the bytes read; none when they could not be read.
    pub sha256: Option<String>,
    pub document: Option<Value>,
    pub read_error: Option<String>,
    pub local: LocalCopy,
    /// Later artifacts whose chain recorded this one with the hash it has now.
    pub vouched_by: Vec<String>,
    /// Why this artifact cannot be trusted as written; empty when it can.
    pub problems: Vec<String>,
}

impl Artifact {
    fn read(name: String, uri: String, bytes: std::result::Result<Vec<u8>, String>) -> Artifact {
        let mut artifact = Artifact {
            name,
            uri,
            sha256: None,
            document: None,
            read_error: None,
            local: LocalCopy::Absent,
            vouched_by: vec![],
            problems: vec![],
        };
        match bytes {
            Ok(bytes) => {
                artifact.sha256 = Some(sha256_hex(&bytes));
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(doc) => artifact.document = Some(doc),
                    Err(e) => artifact.problems.push(format!("not JSON: {e}")),
                }
            }
            Err(why) => {
                artifact.problems.push(format!("unreadable: {why}"));
                artifact.read_error = Some(why);
            }
        }
        artifact
    }

    /// When the artifact says it was captured (for ordering), else empty.
    pub fn captured_at(&self) -> &str {
        self.document
            .as_ref()
            .and_then(|d| d.get("captured_at_utc"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Everything found for one execution.
#[derive(Debug, Clone)]
pub struct ExecutionEvidence {
    pub execution_id: String,
    pub environment: String,
    /// `s3://bucket/evidence/<environment>/run_control/<execution_id>/`
    pub location: String,
    /// In the order they were captured.
    pub artifacts: Vec<Artifact>,
    /// The tapes the run left beside its local evidence on this machine (none elsewhere: a tape
    /// is never published).
    pub tapes: Vec<crate::infra::tape::TapeFile>,
}

impl ExecutionEvidence {
    /// Every reason to distrust the evidence, `name: why`; empty when all of it verifies.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .artifacts
            .iter()
            .flat_map(|a| a.problems.iter().map(move |p| format!("{}: {p}", a.name)))
            .collect();
        if self.artifacts.is_empty() {
            out.push(format!("no evidence found under {}", self.location));
        }
        out
    }

    pub fn documents(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.artifacts
            .iter()
            .filter_map(|a| a.document.as_ref().map(|d| (a.name.as_str(), d)))
    }
}

/// One entry of an artifact's hash chain.
struct ChainEntry {
    name: String,
    uri: Option<String>,
    sha256: String,
}

fn chain_of(document: &Value) -> Vec<ChainEntry> {
    document
        .get(EVIDENCE_CHAIN_KEY)
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    Some(ChainEntry {
                        name: e.get("name")?.as_str()?.to_owned(),
                        uri: e.get("uri").and_then(Value::as_str).map(str::to_owned),
                        sha256: e.get("sha256")?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies every artifact's chain to the others: a match vouches, a mismatch is a problem, an
/// entry no artifact answers is a missing artifact. Pure, so the rules are tested without S3.
pub fn check_chains(artifacts: &mut Vec<Artifact>) {
    let chains: Vec<(String, Vec<ChainEntry>)> = artifacts
        .iter()
        .filter_map(|a| a.document.as_ref().map(|d| (a.name.clone(), chain_of(d))))
        .collect();
    // name -> (recorded sha256, the artifacts that recorded it) for hashes that disagree.
    let mut disagreeing: std::collections::BTreeMap<usize, Vec<(String, String)>> =
        Default::default();
    for (voucher, chain) in chains {
        for entry in chain {
            let found = artifacts.iter().position(|a| match &entry.uri {
                Some(uri) => &a.uri == uri,
                None => a.name == entry.name,
            });
            match found {
                Some(i) => match &artifacts[i].sha256 {
                    Some(sha) if *sha == entry.sha256 => {
                        artifacts[i].vouched_by.push(voucher.clone())
                    }
                    Some(_) => disagreeing
                        .entry(i)
                        .or_default()
                        .push((entry.sha256, voucher.clone())),
                    None => {}
                },
                None => artifacts.push(Artifact {
                    name: entry.name.clone(),
                    uri: entry.uri.clone().unwrap_or_default(),
                    sha256: None,
                    document: None,
                    read_error: None,
                    local: LocalCopy::Absent,
                    vouched_by: vec![],
                    problems: vec![format!(
                        "missing: {voucher} recorded it (sha256 {}) but it is not in durable storage",
                        entry.sha256
                    )],
                }),
            }
        }
    }
    for (i, records) in disagreeing {
        let sha = artifacts[i].sha256.clone().unwrap_or_default();
        let mut recorded: Vec<&str> = records.iter().map(|(s, _)| s.as_str()).collect();
        recorded.dedup();
        let by: Vec<&str> = records.iter().map(|(_, v)| v.as_str()).collect();
        artifacts[i].problems.push(format!(
            "changed after it was written: its sha256 is {sha}, recorded as {} by {} later artifact(s) ({})",
            recorded.join(" / "),
            by.len(),
            by.join(", ")
        ));
    }
    for a in artifacts.iter_mut() {
        if let (LocalCopy::Differs { sha256 }, Some(durable)) = (&a.local, &a.sha256) {
            a.problems.push(format!(
                "the local mirror's copy differs from the durable object (sha256 {sha256} here, {durable} durable)"
            ));
        }
    }
}

impl Host {
    /// Reads `execution`'s evidence back from durable storage, all at once (bounded), and checks
    /// it. `Err` only when the evidence cannot be listed at all (no bucket, S3 not answering).
    pub fn read_execution(&self, execution: &ExecutionId) -> Result<ExecutionEvidence> {
        let host_fail = |f: Fail| match f {
            Fail::Error { message, help, .. } => Error::usage(message, help),
            other => Error::fault(format!("{other:?}")),
        };
        let config = self.config().map_err(host_fail)?;
        let id = execution.id();
        let bucket = self.durable_bucket().map_err(host_fail)?.map_err(|why| {
            Error::usage(
                format!("{why}: cannot find the evidence"),
                "check [evidence] bucket_handle and the terraform outputs of the environment file",
            )
        })?;
        let prefix = self.control_prefix(&id).map_err(host_fail)?;
        let location = format!("s3://{bucket}/{prefix}");
        let aws = self.aws().map_err(host_fail)?;
        let keys = self
            .block_on(evidence::list_durable(&aws.s3, &bucket, &prefix))
            .map_err(Error::fault)?;
        // Every artifact (name, s3 URI) is read the same way, bounded.
        let read_all = |wanted: Vec<(String, String)>| -> Vec<Artifact> {
            let reads = wanted.into_iter().map(|(name, uri)| async move {
                let bytes = match evidence::split_s3_uri(&uri) {
                    Some((b, k)) => crate::infra::s3::read_durable(&aws.s3, b, k).await,
                    None => Err(format!("`{uri}` is not an s3:// URI")),
                };
                Artifact::read(name, uri, bytes)
            });
            self.block_on(crate::infra::aws::bounded(reads))
        };
        let listed = keys
            .iter()
            .filter(|k| k.ends_with(".json"))
            .map(|key| {
                let name = key.rsplit('/').next().unwrap_or(key);
                (
                    name.trim_end_matches(".json").to_owned(),
                    format!("s3://{bucket}/{key}"),
                )
            })
            .collect();
        let mut artifacts = read_all(listed);
        // Evidence the chain names outside the control folder (run-scoped, e.g. daemons_ready);
        // one inside it that the listing lacks is missing, and the chain check says so.
        let mut elsewhere: Vec<(String, String)> = artifacts
            .iter()
            .filter_map(|a| a.document.as_ref())
            .flat_map(chain_of)
            .filter_map(|e| e.uri.map(|u| (e.name, u)))
            .filter(|(_, uri)| !uri.starts_with(&location))
            .filter(|(_, uri)| !artifacts.iter().any(|a| &a.uri == uri))
            .collect();
        elsewhere.sort();
        elsewhere.dedup();
        artifacts.extend(read_all(elsewhere));
        let mirror: Option<PathBuf> = self
            .evidence_root
            .as_ref()
            .map(|r| r.join(&execution.stamp));
        for a in &mut artifacts {
            let Some(dir) = &mirror else { continue };
            let Ok(bytes) = std::fs::read(dir.join(format!("{}.json", a.name))) else {
                continue;
            };
            let sha256 = sha256_hex(&bytes);
            a.local = if a.sha256.as_ref() == Some(&sha256) {
                LocalCopy::Same
            } else {
                LocalCopy::Differs { sha256 }
            };
        }
        check_chains(&mut artifacts);
        artifacts.sort_by(|a, b| (a.captured_at(), &a.name).cmp(&(b.captured_at(), &b.name)));
        let tapes = mirror
            .as_deref()
            .map(crate::infra::tape::tapes_in)
            .unwrap_or_default();
        Ok(ExecutionEvidence {
            execution_id: id,
            environment: config.evidence.environment.clone(),
            location,
            artifacts,
            tapes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn artifact(name: &str, doc: Value) -> Artifact {
        let bytes = serde_json::to_vec(&doc).unwrap();
        Artifact::read(name.into(), format!("s3://b/{name}.json"), Ok(bytes))
    }

    fn sha(a: &Artifact) -> String {
        a.sha256.clone().unwrap()
    }

    #[test]
    fn a_later_chain_vouches_and_a_changed_artifact_is_named() {
        let a = artifact("a", json!({"phase": "A"}));
        let b = artifact(
            "b",
            json!({"phase": "B", "evidence_chain": [
            {"name": "a", "uri": "s3://b/a.json", "sha256": sha(&a)}]}),
        );
        let c = artifact(
            "c",
            json!({"phase": "C", "evidence_chain": [
            {"name": "a", "uri": "s3://b/a.json", "sha256": sha(&a)},
            {"name": "b", "uri": "s3://b/b.json", "sha256": "0".repeat(64)},
            {"name": "gone", "uri": "s3://b/gone.json", "sha256": "1".repeat(64)}]}),
        );
        let mut all = vec![a, b, c];
        check_chains(&mut all);
        assert_eq!(all[0].vouched_by, ["b", "c"]);
        assert!(all[0].problems.is_empty());
        assert!(
            all[1].problems[0].contains("changed after it was written"),
            "{:?}",
            all[1].problems
        );
        assert!(
            all[1].problems[0].contains("recorded as 0000") && all[1].problems[0].ends_with("(c)"),
            "{:?}",
            all[1].problems
        );
        assert!(all[2].problems.is_empty() && all[2].vouched_by.is_empty());
        assert_eq!(all[3].name, "gone");
        assert!(
            all[3].problems[0].starts_with("missing: c recorded it"),
            "{:?}",
            all[3].problems
        );
    }

    #[test]
    fn a_local_copy_that_differs_and_bytes_that_are_not_json_are_problems() {
        let mut a = artifact("a", json!({}));
        a.local = LocalCopy::Differs {
            sha256: "f".repeat(64),
        };
        let b = Artifact::read(
            "b".into(),
            "s3://b/b.json".into(),
            Ok(b"{not json".to_vec()),
        );
        let c = Artifact::read(
            "c".into(),
            "s3://b/c.json".into(),
            Err("AccessDenied".into()),
        );
        let mut all = vec![a, b, c];
        check_chains(&mut all);
        assert!(
            all[0].problems[0].contains("local mirror"),
            "{:?}",
            all[0].problems
        );
        assert!(all[1].problems[0].starts_with("not JSON"));
        assert_eq!(all[2].problems, ["unreadable: AccessDenied"]);
    }
}
