//! The M3 -> M4 handoff preconditions (plan M4.A task 1, SPEC §4).
//!
//! Pure judgement over the two artifacts as read (or the reason they could not be read). Every
//! failure is a problem the runbook records as M4A-B1; the platform run id is released to scripts
//! only when there is none. Run scope comes from here and nowhere else.

use serde_json::Value;

/// The verdict M3 must have reached for M4 to start.
pub const REQUIRED_M3_VERDICT: &str = "ADVANCE_TO_M4";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct M3Status {
    pub problems: Vec<String>,
    pub verdict: Option<String>,
    pub platform_run_id: Option<String>,
    pub m3_execution_id: Option<String>,
    pub required_env_key: Option<String>,
    pub verdict_uri: String,
    pub handoff_uri: String,
}

impl M3Status {
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

/// Words that mark a key as holding a secret value.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "private_key",
    "api_key",
    "credential",
];
/// Endings that mark a key as naming where a secret lives, which is not itself secret.
const REFERENCE_ENDINGS: &[&str] = &[
    "_path", "_ref", "_arn", "_handle", "_env_key", "_key_env", "_uri", "_name", "_id", "_keys",
];

/// Places in a JSON document that look like secret content: secret-named keys with a value, PEM
/// private keys, AWS access key ids, or any plaintext in `known_plaintexts`.
pub fn secret_content(doc: &Value, known_plaintexts: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    walk(doc, "$", known_plaintexts, &mut found);
    found
}

fn walk(value: &Value, path: &str, known: &[String], found: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (k, v) in members {
                let here = format!("{path}.{k}");
                let key = k.to_ascii_lowercase();
                let secret_named = SECRET_WORDS.iter().any(|w| key.contains(w))
                    && !REFERENCE_ENDINGS.iter().any(|e| key.ends_with(e));
                let has_value = match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Null | Value::Bool(_) => false,
                    _ => true,
                };
                if secret_named && has_value {
                    found.push(format!("{here} (secret-named key with a value)"));
                } else {
                    walk(v, &here, known, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), known, found);
            }
        }
        Value::String(s) => {
            if s.contains("PRIVATE KEY-----") {
                found.push(format!("{path} (PEM private key)"));
            } else if looks_like_access_key_id(s) {
                found.push(format!("{path} (AWS access key id)"));
            } else if known
                .iter()
                .any(|k| !k.is_empty() && s.contains(k.as_str()))
            {
                found.push(format!("{path} (plaintext of a resolved secret)"));
            }
        }
        _ => {}
    }
}

fn looks_like_access_key_id(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| {
        word.len() == 20
            && (word.starts_with("AKIA") || word.starts_with("ASIA"))
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

/// Judges the two artifacts. `Err` carries why an artifact could not be read or parsed.
pub fn judge(
    verdict_doc: Result<Value, String>,
    handoff_doc: Result<Value, String>,
    verdict_uri: &str,
    handoff_uri: &str,
    known_plaintexts: &[String],
) -> M3Status {
    let mut status = M3Status {
        verdict_uri: verdict_uri.to_owned(),
        handoff_uri: handoff_uri.to_owned(),
        ..M3Status::default()
    };
    let verdict_doc = match verdict_doc {
        Ok(doc) if doc.is_object() => Some(doc),
        Ok(_) => {
            status.problems.push(format!(
                "M3 verdict snapshot {verdict_uri} is not a JSON object"
            ));
            None
        }
        Err(why) => {
            status
                .problems
                .push(format!("M3 verdict snapshot {verdict_uri}: {why}"));
            None
        }
    };
    let handoff_doc = match handoff_doc {
        Ok(doc) if doc.is_object() => Some(doc),
        Ok(_) => {
            status.problems.push(format!(
                "M4 handoff pack {handoff_uri} is not a JSON object"
            ));
            None
        }
        Err(why) => {
            status
                .problems
                .push(format!("M4 handoff pack {handoff_uri}: {why}"));
            None
        }
    };

    if let Some(doc) = &verdict_doc {
        status.verdict = text_field(doc, "verdict");
        match status.verdict.as_deref() {
            Some(REQUIRED_M3_VERDICT) => {}
            Some(other) => status.problems.push(format!(
                "M3 verdict is `{other}`, not `{REQUIRED_M3_VERDICT}`"
            )),
            None => status.problems.push(format!(
                "M3 verdict snapshot {verdict_uri} has no `verdict`"
            )),
        }
        for field in ["platform_run_id", "m3_execution_id"] {
            if text_field(doc, field).is_none() {
                status.problems.push(format!(
                    "M3 verdict snapshot {verdict_uri} has no `{field}`"
                ));
            }
        }
        for place in secret_content(doc, known_plaintexts) {
            status.problems.push(format!(
                "M3 verdict snapshot holds secret content at {place}"
            ));
        }
    }
    if let Some(doc) = &handoff_doc {
        for field in [
            "platform_run_id",
            "m3_execution_id",
            "required_platform_run_id_env_key",
        ] {
            if text_field(doc, field).is_none() {
                status
                    .problems
                    .push(format!("M4 handoff pack {handoff_uri} has no `{field}`"));
            }
        }
        status.required_env_key = text_field(doc, "required_platform_run_id_env_key");
        for place in secret_content(doc, known_plaintexts) {
            status
                .problems
                .push(format!("M4 handoff pack holds secret content at {place}"));
        }
    }
    if let (Some(v), Some(h)) = (&verdict_doc, &handoff_doc) {
        for field in ["platform_run_id", "m3_execution_id"] {
            let (a, b) = (text_field(v, field), text_field(h, field));
            if let (Some(a), Some(b)) = (&a, &b) {
                if a != b {
                    status.problems.push(format!(
                        "M3 artifacts disagree on `{field}`: verdict snapshot has `{a}`, handoff pack has `{b}`"
                    ));
                }
            }
        }
        status.m3_execution_id = text_field(v, "m3_execution_id");
        if status.problems.is_empty() {
            status.platform_run_id = text_field(v, "platform_run_id");
        }
    }
    status
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

    fn judge_pair(v: Value, h: Value) -> M3Status {
        judge(Ok(v), Ok(h), "v.json", "h.json", &[])
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
        let s = judge(Err("not found".into()), Ok(h), "v.json", "h.json", &[]);
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
        assert!(!secret_content(&json!({"k": "AKIAABCDEFGHIJKLMNOP"}), &[]).is_empty());
        assert!(!secret_content(&json!({"k": "x-hunter2-y"}), &["hunter2".into()]).is_empty());
    }
}
