//! A runbook's entry precondition (plan M4.A task 1, SPEC §4): the previous milestone's verdict
//! artifact and handoff pack, judged against what the runbook declares it enters from (`Entry`:
//! the verdict it requires, the fields both must carry and agree on, where the run-scope key is
//! named). No milestone is known here: M4 declares its entry from M3 in scripts/m4/contract.rhai.
//!
//! Pure judgement over the two artifacts as read (or the reason they could not be read). Every
//! failure is a problem the runbook records under the declared blocker code; the platform run id
//! is released to scripts only when there is none. Run scope comes from here and nowhere else.

use crate::rules::credential::{document_findings, Names};
use crate::rules::secret::Secret;
use serde_json::Value;

/// What a runbook enters from, as it declares itself (`declare_entry`); where the two artifacts
/// are is the environment file's `[entry]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The previous milestone's name, as messages say it ("M3").
    pub from: String,
    /// What the handoff pack is called ("M4 handoff pack").
    pub handoff_name: String,
    /// The verdict the previous milestone must have reached.
    pub required_verdict: String,
    /// The field naming the previous milestone's execution, in both artifacts.
    pub execution_field: String,
    /// Fields both artifacts carry and must agree on (the platform run id is always one).
    pub agree: Vec<String>,
    /// The handoff pack's field naming the environment key that carries the run scope.
    pub env_key_field: String,
    /// The blocker code of a precondition that does not hold.
    pub blocker: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryStatus {
    pub problems: Vec<String>,
    pub verdict: Option<String>,
    pub platform_run_id: Option<String>,
    /// The previous milestone's execution id (the declared `execution_field`).
    pub previous_execution_id: Option<String>,
    pub required_env_key: Option<String>,
    pub verdict_uri: String,
    pub handoff_uri: String,
    /// SHA-256 of the two artifacts' bytes as read (recorded by the entry's snapshot).
    pub verdict_sha256: Option<String>,
    pub handoff_sha256: Option<String>,
    /// The two documents as read and hashed (the one read an author needs: the pack's fields
    /// are these, not a second read); none when unreadable, not an object, or not non-secret.
    pub verdict_document: Option<Value>,
    pub handoff_document: Option<Value>,
}

impl EntryStatus {
    pub fn sound(&self) -> bool {
        self.problems.is_empty() && self.platform_run_id.is_some()
    }
}

fn text_field(doc: &Value, field: &str) -> Option<String> {
    doc.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Judges the two artifacts against `entry`. `Err` carries why an artifact could not be read or
/// parsed. A handoff pack that carries an evidence chain (`evidence_chain: [#{uri, sha256}]`, as
/// this host's snapshots do) must record the verdict snapshot with the hash of the bytes read
/// (`verdict_sha256`): a verdict changed after the handoff was written is not entered from.
pub fn judge(
    entry: &Entry,
    verdict_doc: Result<Value, String>,
    handoff_doc: Result<Value, String>,
    verdict_uri: &str,
    handoff_uri: &str,
    verdict_sha256: Option<&str>,
    known_secrets: &[Secret],
) -> EntryStatus {
    let mut status = EntryStatus {
        verdict_uri: verdict_uri.to_owned(),
        handoff_uri: handoff_uri.to_owned(),
        ..EntryStatus::default()
    };
    let verdict_doc = match verdict_doc {
        Ok(doc) if doc.is_object() => Some(doc),
        Ok(_) => {
            status.problems.push(format!(
                "{} verdict snapshot {verdict_uri} is not a JSON object",
                entry.from
            ));
            None
        }
        Err(why) => {
            status.problems.push(format!(
                "{} verdict snapshot {verdict_uri}: {why}",
                entry.from
            ));
            None
        }
    };
    let handoff_doc = match handoff_doc {
        Ok(doc) if doc.is_object() => Some(doc),
        Ok(_) => {
            status.problems.push(format!(
                "{} {handoff_uri} is not a JSON object",
                entry.handoff_name
            ));
            None
        }
        Err(why) => {
            status
                .problems
                .push(format!("{} {handoff_uri}: {why}", entry.handoff_name));
            None
        }
    };

    let required = &entry.required_verdict;
    let mut carried: Vec<&str> = vec!["platform_run_id", entry.execution_field.as_str()];
    for field in &entry.agree {
        if !carried.contains(&field.as_str()) {
            carried.push(field);
        }
    }
    if let Some(doc) = &verdict_doc {
        status.verdict = text_field(doc, "verdict");
        match status.verdict.as_deref() {
            Some(v) if v == required => {}
            Some(other) => status.problems.push(format!(
                "{} verdict is `{other}`, not `{required}`",
                entry.from
            )),
            None => status.problems.push(format!(
                "{} verdict snapshot {verdict_uri} has no `verdict`",
                entry.from
            )),
        }
        for field in &carried {
            if text_field(doc, field).is_none() {
                status.problems.push(format!(
                    "{} verdict snapshot {verdict_uri} has no `{field}`",
                    entry.from
                ));
            }
        }
        let findings = document_findings(doc, known_secrets, Names::Judged);
        for found in &findings {
            status.problems.push(format!(
                "{} verdict snapshot is not non-secret: {}",
                entry.from,
                found.describe()
            ));
        }
        if findings.is_empty() {
            status.verdict_document = Some(doc.clone());
        }
    }
    if let Some(doc) = &handoff_doc {
        for field in carried
            .iter()
            .copied()
            .chain([entry.env_key_field.as_str()])
        {
            if text_field(doc, field).is_none() {
                status.problems.push(format!(
                    "{} {handoff_uri} has no `{field}`",
                    entry.handoff_name
                ));
            }
        }
        status.required_env_key = text_field(doc, &entry.env_key_field);
        let findings = document_findings(doc, known_secrets, Names::Judged);
        for found in &findings {
            status.problems.push(format!(
                "{} is not non-secret: {}",
                entry.handoff_name,
                found.describe()
            ));
        }
        if findings.is_empty() {
            status.handoff_document = Some(doc.clone());
        }
    }
    if let (Some(v), Some(h)) = (&verdict_doc, &handoff_doc) {
        for field in &carried {
            let (a, b) = (text_field(v, field), text_field(h, field));
            if let (Some(a), Some(b)) = (&a, &b) {
                if a != b {
                    status.problems.push(format!(
                        "{} artifacts disagree on `{field}`: verdict snapshot has `{a}`, handoff pack has `{b}`",
                        entry.from
                    ));
                }
            }
        }
        if let (Some(chain), Some(read)) = (
            h.get("evidence_chain").and_then(Value::as_array),
            verdict_sha256,
        ) {
            let recorded = chain
                .iter()
                .find(|link| link.get("uri").and_then(Value::as_str) == Some(verdict_uri))
                .and_then(|link| link.get("sha256").and_then(Value::as_str));
            match recorded {
                Some(sha) if sha == read => {}
                Some(sha) => status.problems.push(format!(
                    "{} verdict snapshot {verdict_uri} changed after the {} was written: it recorded sha256 {sha}, the bytes read hash to {read}",
                    entry.from, entry.handoff_name
                )),
                None => status.problems.push(format!(
                    "the {}'s evidence chain does not record the verdict snapshot {verdict_uri}",
                    entry.handoff_name
                )),
            }
        }
        status.previous_execution_id = text_field(v, &entry.execution_field);
        if status.problems.is_empty() {
            status.platform_run_id = text_field(v, "platform_run_id");
        }
    }
    status
}

/// M4's entry from M3, as scripts/m4/contract.rhai declares it, for unit tests.
#[cfg(test)]
pub fn m4_example() -> Entry {
    Entry {
        from: "M3".into(),
        handoff_name: "M4 handoff pack".into(),
        required_verdict: "ADVANCE_TO_M4".into(),
        execution_field: "m3_execution_id".into(),
        agree: vec!["platform_run_id".into(), "m3_execution_id".into()],
        env_key_field: "required_platform_run_id_env_key".into(),
        blocker: "M4A-B1".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good_pair() -> (Value, Value) {
        (
            json!({"verdict": "ADVANCE_TO_M4", "platform_run_id": "platform_20260213T221631Z", "m3_execution_id": "m3_20260213T221631Z"}),
            json!({"platform_run_id": "platform_20260213T221631Z", "m3_execution_id": "m3_20260213T221631Z",
                   "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID",
                   "ssm_confluent_api_secret_path": "/fraud-platform/dev_min/confluent/api_secret"}),
        )
    }

    fn m4() -> Entry {
        m4_example()
    }

    fn judge_pair(v: Value, h: Value) -> EntryStatus {
        judge(&m4(), Ok(v), Ok(h), "v.json", "h.json", None, &[])
    }

    #[test]
    fn sound_pair_releases_run_id() {
        let (v, h) = good_pair();
        let s = judge_pair(v, h);
        assert!(s.sound(), "{:?}", s.problems);
        assert_eq!(
            s.platform_run_id.as_deref(),
            Some("platform_20260213T221631Z")
        );
        assert_eq!(
            s.required_env_key.as_deref(),
            Some("REQUIRED_PLATFORM_RUN_ID")
        );
    }

    #[test]
    fn wrong_verdict_withholds_run_id() {
        let (mut v, h) = good_pair();
        v["verdict"] = json!("HOLD_M3");
        let s = judge_pair(v, h);
        assert!(!s.sound());
        assert!(s.platform_run_id.is_none());
        assert!(s.problems[0].contains("`HOLD_M3`"));
    }

    #[test]
    fn disagreement_is_a_problem() {
        let (v, mut h) = good_pair();
        h["platform_run_id"] = json!("platform_other");
        let s = judge_pair(v, h);
        assert!(s
            .problems
            .iter()
            .any(|p| p.contains("disagree on `platform_run_id`")));
    }

    #[test]
    fn unreadable_artifact_is_a_problem() {
        let (_, h) = good_pair();
        let s = judge(
            &m4(),
            Err("not found".into()),
            Ok(h),
            "v.json",
            "h.json",
            None,
            &[],
        );
        assert!(!s.sound());
        assert!(s.problems[0].contains("v.json: not found"));
    }

    #[test]
    fn secret_content_is_found_but_secret_paths_are_not() {
        let (v, mut h) = good_pair();
        assert!(judge_pair(v.clone(), h.clone()).sound());
        h["confluent_api_secret"] = json!("s3cr3t");
        let s = judge_pair(v, h);
        assert!(s
            .problems
            .iter()
            .any(|p| p.contains("$.confluent_api_secret")));
    }

    /// A secret's plaintext under an innocent key (issue #27): judged by value, naming the path.
    #[test]
    fn a_known_secret_under_an_innocent_key_is_found_by_value() {
        let (v, mut h) = good_pair();
        h["notes"] = json!("operator token Zq9-plaintext");
        let known = [Secret::new("SSM_DB_PASSWORD_PATH", "Zq9-plaintext")];
        let s = judge(&m4(), Ok(v.clone()), Ok(h.clone()), "v", "h", None, &known);
        assert!(!s.sound());
        let problem = s.problems.join("\n");
        assert!(problem.contains("$.notes") && problem.contains("SSM_DB_PASSWORD_PATH"));
        assert!(!problem.contains("Zq9-plaintext"), "{problem}");
        // The documents a runbook reads its fields from never carry it: the pack is withheld.
        assert_eq!(s.handoff_document, None);
        assert_eq!(s.verdict_document.as_ref(), Some(&v));
        // The near miss: the same pack without the plaintext is sound, and handed over as read.
        h["notes"] = json!("operator token rotated");
        let s = judge(&m4(), Ok(v), Ok(h.clone()), "v", "h", None, &known);
        assert!(s.sound());
        assert_eq!(s.handoff_document, Some(h));
    }

    /// The next milestone's entry, declared as M5 enters from M4: M4's verdict snapshot and
    /// handoff pack, ADVANCE_TO_M5, m4_execution_id.
    #[test]
    fn another_milestone_declares_its_own_entry() {
        let m5 = Entry {
            from: "M4".into(),
            handoff_name: "M5 handoff pack".into(),
            required_verdict: "ADVANCE_TO_M5".into(),
            execution_field: "m4_execution_id".into(),
            agree: vec!["platform_run_id".into(), "m4_execution_id".into()],
            env_key_field: "required_platform_run_id_env_key".into(),
            blocker: "M5A-B1".into(),
        };
        let v = json!({"verdict": "ADVANCE_TO_M5", "platform_run_id": "p1", "m4_execution_id": "m4_dev_20261201T100000Z"});
        let h = json!({"platform_run_id": "p1", "m4_execution_id": "m4_dev_20261201T100000Z",
                       "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID"});
        let s = judge(&m5, Ok(v.clone()), Ok(h.clone()), "v", "h", None, &[]);
        assert!(s.sound(), "{:?}", s.problems);
        assert_eq!(
            s.previous_execution_id.as_deref(),
            Some("m4_dev_20261201T100000Z")
        );
        // M4's entry refuses the same pair: another verdict, and no m3_execution_id.
        let s = judge(&m4(), Ok(v), Ok(h), "v", "h", None, &[]);
        assert!(!s.sound());
        assert!(s
            .problems
            .iter()
            .any(|p| p.contains("`ADVANCE_TO_M5`, not `ADVANCE_TO_M4`")));
        assert!(s
            .problems
            .iter()
            .any(|p| p.contains("no `m3_execution_id`")));
    }

    /// A handoff pack with an evidence chain vouches for the verdict snapshot's bytes.
    #[test]
    fn a_verdict_changed_after_the_handoff_is_refused() {
        let (v, mut h) = good_pair();
        h["evidence_chain"] = json!([{"name": "v", "uri": "s3://b/v.json", "sha256": "aa"}]);
        let at = |sha| {
            judge(
                &m4(),
                Ok(v.clone()),
                Ok(h.clone()),
                "s3://b/v.json",
                "h",
                Some(sha),
                &[],
            )
        };
        assert!(at("aa").sound());
        let s = at("bb");
        assert!(!s.sound());
        assert!(
            s.problems[0].contains("changed after the M4 handoff pack was written"),
            "{:?}",
            s.problems
        );
        h["evidence_chain"] = json!([]);
        let s = judge(&m4(), Ok(v), Ok(h), "s3://b/v.json", "h", Some("aa"), &[]);
        assert!(s.problems[0].contains("does not record the verdict snapshot"));
    }
}
