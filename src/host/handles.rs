//! Handle resolution (plan M4.A tasks 2–4): every handle key resolves to one concrete value from one
//! origin, or it is reported unresolved, wildcard or ambiguous. Never a default for a missing handle.
//!
//! `classify` is the pure core; the SSM values it needs are fetched in one batched, concurrent pass
//! by `fetch_ssm` before it runs.

use super::{Fail, Host, Outcome};
use crate::config::registry::{HandleEntry, HandlesRegistry, Origin};
use crate::config::terraform::TerraformOutputs;
use crate::rules::error_code::ErrorCode;
use crate::rules::secret::Secret;
use crate::sync::Locked;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// What SSM said about one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsmAnswer {
    Value {
        value: String,
        secure: bool,
    },
    Missing,
    /// The caller may not read it (AccessDenied, for the parameter or its KMS key).
    Denied(String),
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Resolved {
        value: Value,
        origin: Origin,
        source: String,
        secret: bool,
    },
    Unresolved(String),
    Wildcard(String),
    Ambiguous(String),
}

impl Resolution {
    /// Short outcome name used in reports and error codes.
    pub fn outcome(&self) -> &'static str {
        match self {
            Resolution::Resolved { .. } => "resolved",
            Resolution::Unresolved(_) => "unresolved",
            Resolution::Wildcard(_) => "wildcard",
            Resolution::Ambiguous(_) => "ambiguous",
        }
    }
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Where a handle's value would come from, as written in evidence (`source`).
pub fn source_of(
    registry: &HandlesRegistry,
    outputs: &TerraformOutputs,
    entry: &HandleEntry,
) -> String {
    match entry.origin {
        Origin::TerraformOutput => format!("{}#{}", outputs.path.display(), entry.reference),
        Origin::SsmParameter => format!("ssm:{}", entry.reference),
        Origin::Literal => format!("{}#literal", registry.path.display()),
    }
}

/// Classifies one handle. `ssm` holds the answers for every SSM parameter the registry names.
pub fn classify(
    key: &str,
    registry: &HandlesRegistry,
    outputs: &TerraformOutputs,
    ssm: &BTreeMap<String, SsmAnswer>,
) -> Resolution {
    if key.contains('*') {
        return Resolution::Wildcard(format!("handle key `{key}` contains a wildcard"));
    }
    let Some(entry) = registry.entries.get(key) else {
        return Resolution::Unresolved(format!("`{key}` is not in the handles registry"));
    };
    if entry.reference.contains('*') {
        // A secret literal is never quoted, not even to say where the `*` is.
        return Resolution::Wildcard(if entry.secret {
            format!("`{key}`'s reference (secret, not shown) contains a wildcard")
        } else {
            format!(
                "`{key}` refers to `{}`, which contains a wildcard",
                entry.reference
            )
        });
    }
    let source = source_of(registry, outputs, entry);
    let (value, secure) = match entry.origin {
        Origin::Literal => (Value::String(entry.reference.clone()), false),
        Origin::TerraformOutput => match outputs.outputs.get(&entry.reference) {
            None => {
                return Resolution::Unresolved(format!(
                    "terraform output `{}` for `{key}` is not in {}",
                    entry.reference,
                    outputs.path.display()
                ))
            }
            Some(output) => (output.value.clone(), output.sensitive),
        },
        Origin::SsmParameter => match ssm.get(&entry.reference) {
            Some(SsmAnswer::Value { value, secure }) => (Value::String(value.clone()), *secure),
            Some(SsmAnswer::Missing) => {
                return Resolution::Unresolved(format!(
                    "SSM parameter `{}` for `{key}` does not exist",
                    entry.reference
                ))
            }
            Some(SsmAnswer::Error(why) | SsmAnswer::Denied(why)) => {
                return Resolution::Unresolved(format!(
                    "SSM parameter `{}` for `{key}` could not be read: {why}",
                    entry.reference
                ))
            }
            None => {
                return Resolution::Unresolved(format!(
                    "SSM parameter `{}` for `{key}` was not fetched",
                    entry.reference
                ))
            }
        },
    };
    if secure && !entry.secret {
        let what = match entry.origin {
            Origin::TerraformOutput => "terraform output is marked sensitive",
            _ => "SSM parameter is a SecureString",
        };
        return Resolution::Ambiguous(format!(
            "`{key}`: the {what} but the handle is classified non-secret; classify it in the registry"
        ));
    }
    if is_empty_value(&value) {
        return Resolution::Unresolved(format!("`{key}` resolves to an empty value at {source}"));
    }
    Resolution::Resolved {
        value,
        origin: entry.origin,
        source,
        secret: entry.secret,
    }
}

/// The SSM parameter names the given keys need.
pub fn ssm_names<'a>(
    registry: &HandlesRegistry,
    keys: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut names: Vec<String> = keys
        .into_iter()
        .filter_map(|k| registry.entries.get(k))
        .filter(|e| e.origin == Origin::SsmParameter && !e.reference.contains('*'))
        .map(|e| e.reference.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Fetches parameters with GetParameters, 10 names per call (the API's limit), calls concurrent.
pub async fn fetch_ssm(
    client: &aws_sdk_ssm::Client,
    names: &[String],
) -> BTreeMap<String, SsmAnswer> {
    let batches = names.chunks(10).map(|batch| async move {
        let result = client
            .get_parameters()
            .set_names(Some(batch.to_vec()))
            .with_decryption(true)
            .send()
            .await;
        let mut answers = Vec::new();
        match result {
            Ok(out) => {
                for p in out.parameters() {
                    if let Some(name) = p.name() {
                        answers.push((
                            name.to_owned(),
                            SsmAnswer::Value {
                                value: p.value().unwrap_or_default().to_owned(),
                                secure: p.r#type()
                                    == Some(&aws_sdk_ssm::types::ParameterType::SecureString),
                            },
                        ));
                    }
                }
                for name in out.invalid_parameters() {
                    answers.push((name.clone(), SsmAnswer::Missing));
                }
                // A name SSM neither returned nor listed invalid is not silently a pass.
                for name in batch {
                    if !answers.iter().any(|(n, _)| n == name) {
                        answers.push((
                            name.clone(),
                            SsmAnswer::Error("not in the GetParameters answer".into()),
                        ));
                    }
                }
            }
            Err(err) => {
                let err = crate::infra::aws::AwsError::from_sdk("GetParameters", &err);
                let denied = err.kind == crate::infra::aws::AwsErrorKind::AccessDenied;
                for name in batch {
                    let why = err.detail.clone();
                    answers.push((
                        name.clone(),
                        if denied {
                            SsmAnswer::Denied(why)
                        } else {
                            SsmAnswer::Error(why)
                        },
                    ));
                }
            }
        }
        answers
    });
    futures::future::join_all(batches)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The plaintext form of a secret handle's value (lists and objects as compact JSON).
pub fn secret_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What this run has resolved and read so far: handles by key, SSM parameters by path (each
/// read once per run).
#[derive(Default)]
pub(super) struct HandleCache {
    resolved: std::sync::Mutex<HashMap<String, Resolution>>,
    ssm_values: std::sync::Mutex<HashMap<String, SsmAnswer>>,
}

impl Host {
    /// Resolves the keys, fetching every SSM parameter they need in one batched pass.
    pub fn resolve(&self, keys: &[String]) -> Outcome<Vec<(String, Resolution)>> {
        let config = self.config()?;
        let cached: HashMap<String, Resolution> = self.handles.resolved.locked().clone();
        let missing: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !cached.contains_key(*k))
            .collect();
        let names = ssm_names(&config.registry, missing.iter().copied());
        let answers = if names.is_empty() {
            BTreeMap::new()
        } else {
            let aws = self.aws()?;
            self.call(fetch_ssm(&aws.ssm, &names))?
        };
        let mut out = Vec::with_capacity(keys.len());
        let mut cache = self.handles.resolved.locked();
        for key in keys {
            let resolution = match cached.get(key) {
                Some(r) => r.clone(),
                None => classify(key, &config.registry, &config.outputs, &answers),
            };
            if let Resolution::Resolved {
                value,
                secret: true,
                ..
            } = &resolution
            {
                self.vault
                    .remember(&Secret::new(key.as_str(), secret_text(value)));
            }
            if matches!(resolution, Resolution::Resolved { .. }) {
                cache.insert(key.clone(), resolution.clone());
            }
            out.push((key.clone(), resolution));
        }
        Ok(out)
    }

    /// The plaintext at an SSM path, decrypted, as a Secret.
    /// SSM answers for the paths, the ones not read yet in this run fetched together
    /// (GetParameters, 10 per call). Values are kept for the run; misses and errors are not, so a
    /// later ask tries again. SecureString plaintexts go to the vault as they arrive.
    pub fn ssm_fetch(&self, paths: &[String]) -> Outcome<BTreeMap<String, SsmAnswer>> {
        let mut out = BTreeMap::new();
        let mut wanted = Vec::new();
        {
            let cache = self.handles.ssm_values.locked();
            for p in paths {
                match cache.get(p) {
                    Some(answer) => {
                        out.insert(p.clone(), answer.clone());
                    }
                    None if !wanted.contains(p) => wanted.push(p.clone()),
                    None => {}
                }
            }
        }
        if !wanted.is_empty() {
            let aws = self.aws()?;
            // A read: Ctrl-C abandons it at once (INTERRUPTED), like every other lookup.
            let answers = self.call(fetch_ssm(&aws.ssm, &wanted))?;
            let mut cache = self.handles.ssm_values.locked();
            for (path, answer) in answers {
                if let SsmAnswer::Value { value, secure } = &answer {
                    if *secure {
                        self.vault
                            .remember(&Secret::new(path.as_str(), value.as_str()));
                    }
                    cache.insert(path.clone(), answer.clone());
                }
                out.insert(path, answer);
            }
        }
        Ok(out)
    }

    pub fn ssm_secret(&self, path: &str) -> Outcome<Secret> {
        let (value, _) = self.ssm_value(path)?;
        let secret = Secret::new(path, value.as_str());
        self.vault.remember(&secret);
        Ok(secret)
    }

    /// An SSM parameter's value and whether it is a SecureString (whose plaintext the vault
    /// learns before anything else can see it).
    pub fn ssm_value(&self, path: &str) -> Outcome<(String, bool)> {
        let answers = self.ssm_fetch(&[path.to_owned()])?;
        match answers.get(path) {
            Some(SsmAnswer::Value { value, secure }) if !value.is_empty() => {
                if *secure {
                    self.vault.remember(&Secret::new(path, value.as_str()));
                }
                Ok((value.clone(), *secure))
            }
            Some(SsmAnswer::Value { .. }) => Err(Fail::error(
                ErrorCode::SsmEmpty,
                format!("SSM parameter `{path}` is empty"),
                "store the secret value at that path",
            )),
            Some(SsmAnswer::Missing) => Err(Fail::error(
                ErrorCode::SsmMissing,
                format!("SSM parameter `{path}` does not exist"),
                "check the path the handle resolves to, and the region",
            )),
            Some(SsmAnswer::Error(why) | SsmAnswer::Denied(why)) => Err(Fail::error(
                ErrorCode::SsmError,
                format!("SSM parameter `{path}` could not be read: {why}"),
                "check credentials, the endpoint and ssm:GetParameter permission",
            )),
            None => Err(Fail::error(
                ErrorCode::SsmError,
                format!("no answer for `{path}`"),
                "",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixtures() -> (HandlesRegistry, TerraformOutputs) {
        let registry = HandlesRegistry::parse(
            Path::new("handles.toml"),
            r#"
[ECS_CLUSTER_NAME]
origin = "terraform_output"
ref = "ecs_cluster_name"
secret = false
[SUBNET_IDS_PUBLIC]
origin = "terraform_output"
ref = "subnet_ids_public"
secret = false
[DB_URL]
origin = "terraform_output"
ref = "db_url"
secret = false
[API_SECRET]
origin = "ssm_parameter"
ref = "/p/secret"
secret = true
[MISSING_PARAM]
origin = "ssm_parameter"
ref = "/p/missing"
secret = false
[STAR]
origin = "literal"
ref = "svc-*"
secret = false
[EMPTY]
origin = "terraform_output"
ref = "empty"
secret = false
"#,
        )
        .unwrap();
        let outputs = TerraformOutputs::parse(
            Path::new("outputs.json"),
            r#"{"ecs_cluster_name":{"value":"fraud-dev-min"},
                "subnet_ids_public":{"value":["subnet-1","subnet-2"]},
                "db_url":{"value":"postgres://x","sensitive":true},
                "empty":{"value":""}}"#,
        )
        .unwrap();
        (registry, outputs)
    }

    fn ssm() -> BTreeMap<String, SsmAnswer> {
        BTreeMap::from([
            (
                "/p/secret".to_owned(),
                SsmAnswer::Value {
                    value: "s".into(),
                    secure: true,
                },
            ),
            ("/p/missing".to_owned(), SsmAnswer::Missing),
        ])
    }

    #[test]
    fn outcomes() {
        let (r, o) = fixtures();
        let s = ssm();
        let c = |k: &str| classify(k, &r, &o, &s);
        assert!(matches!(
            c("ECS_CLUSTER_NAME"),
            Resolution::Resolved { secret: false, .. }
        ));
        assert!(matches!(
            c("SUBNET_IDS_PUBLIC"),
            Resolution::Resolved {
                value: Value::Array(_),
                ..
            }
        ));
        assert!(matches!(
            c("API_SECRET"),
            Resolution::Resolved { secret: true, .. }
        ));
        assert_eq!(c("DB_URL").outcome(), "ambiguous");
        assert_eq!(c("MISSING_PARAM").outcome(), "unresolved");
        assert_eq!(c("NOT_THERE").outcome(), "unresolved");
        assert_eq!(c("STAR").outcome(), "wildcard");
        assert_eq!(c("SVC_*").outcome(), "wildcard");
        assert_eq!(c("EMPTY").outcome(), "unresolved");
    }

    #[test]
    fn ssm_names_are_deduplicated_and_skip_wildcards() {
        let (r, _) = fixtures();
        assert_eq!(
            ssm_names(
                &r,
                [
                    "API_SECRET",
                    "MISSING_PARAM",
                    "API_SECRET",
                    "ECS_CLUSTER_NAME"
                ]
            ),
            vec!["/p/missing".to_owned(), "/p/secret".to_owned()]
        );
    }
}
