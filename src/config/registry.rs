//! The handles registry (SPEC §4): one TOML table per handle naming where its value comes from and
//! whether it is secret. Parsing rejects what is malformed (exit 2); judging wildcards and ambiguity
//! is left to `handles`, because the runbook must record those as blockers with evidence.

use crate::config::{one_line, read_text};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a handle's value is materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    TerraformOutput,
    SsmParameter,
    Literal,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::TerraformOutput => "terraform_output",
            Origin::SsmParameter => "ssm_parameter",
            Origin::Literal => "literal",
        }
    }
}

/// What a handle's value is in AWS, where `m4host policy` scopes a permission to it. Declared
/// (`kind = "ecs_service"`) for a bare name; an ARN says what it is itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    EcsCluster,
    EcsService,
    EcsTaskDefinition,
    IamRole,
    S3Bucket,
    SsmParameter,
    LogGroupPrefix,
}

pub const RESOURCE_KINDS: &str = "ecs_cluster, ecs_service, ecs_task_definition, iam_role, \
                                  s3_bucket, ssm_parameter or log_group_prefix";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandleEntry {
    pub origin: Origin,
    #[serde(rename = "ref")]
    pub reference: String,
    pub secret: bool,
    /// What the value is in AWS, for the least-privilege policy; none for what is not an AWS
    /// resource (a topic, a run id) or is an ARN.
    #[serde(default)]
    pub kind: Option<ResourceKind>,
}

#[derive(Debug, Clone)]
pub struct HandlesRegistry {
    pub path: PathBuf,
    pub entries: BTreeMap<String, HandleEntry>,
}

const ORIGINS: &str = "terraform_output, ssm_parameter or literal";

impl HandlesRegistry {
    pub fn load(path: &Path) -> Result<HandlesRegistry> {
        if !path.is_file() {
            return Err(Error::config(
                path,
                "handles registry not found",
                "fix `inputs.handles_registry` in the environment file",
            ));
        }
        Self::parse(path, &read_text(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<HandlesRegistry> {
        // Parse into generic tables first so each problem can name the handle it is in.
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            Error::config(
                path,
                format!("invalid handles registry: {}", super::toml_problem(text, &e, false)),
                "each handle is a table: [KEY] origin = \"...\" ref = \"...\" secret = true|false; \
                 a key may appear only once",
            )
        })?;
        let mut entries = BTreeMap::new();
        for (key, value) in table {
            let toml::Value::Table(fields) = value else {
                return Err(Error::config(
                    path,
                    format!("handle `{key}` is not a table"),
                    format!("write it as [{key}] with origin, ref and secret"),
                ));
            };
            for required in ["origin", "ref", "secret"] {
                if !fields.contains_key(required) {
                    return Err(Error::config(
                        path,
                        format!("handle `{key}` has no `{required}`"),
                        match required {
                            "origin" => format!("add origin = one of {ORIGINS}"),
                            "ref" => "add ref = the output name, parameter name or literal value"
                                .to_owned(),
                            _ => {
                                "add secret = true or false: every handle is classified explicitly"
                                    .to_owned()
                            }
                        },
                    ));
                }
            }
            if let Some(origin) = fields.get("origin").and_then(|o| o.as_str()) {
                if !["terraform_output", "ssm_parameter", "literal"].contains(&origin) {
                    // Quoted only when it is a plain word: a line a paste went wrong in may hold
                    // a secret's text (found by tests/bench/fuzz_inputs.sh).
                    let plain = origin.len() <= 32
                        && origin.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                    let shown = if plain {
                        format!("`{origin}`")
                    } else {
                        "(not shown: not a plain word)".to_owned()
                    };
                    return Err(Error::config(
                        path,
                        format!("handle `{key}` has unknown origin {shown}"),
                        format!("origin must be one of {ORIGINS}"),
                    ));
                }
            }
            if let Some(kind) = fields.get("kind") {
                let known = kind.as_str().is_some_and(|k| {
                    RESOURCE_KINDS
                        .split([',', ' '])
                        .any(|word| word == k && !word.is_empty() && word != "or")
                });
                if !known {
                    return Err(Error::config(
                        path,
                        format!("handle `{key}` has an unknown kind (not shown)"),
                        format!("kind must be one of {RESOURCE_KINDS}, or left out"),
                    ));
                }
            }
            let entry: HandleEntry = toml::Value::Table(fields).try_into().map_err(|e| {
                Error::config(
                    path,
                    format!("handle `{key}`: {}", one_line(e.message())),
                    format!(
                        "fields are origin ({ORIGINS}), ref (string), secret (bool) and, for an \
                         AWS resource named by a bare name, kind ({RESOURCE_KINDS})"
                    ),
                )
            })?;
            if entry.reference.trim().is_empty() {
                return Err(Error::config(
                    path,
                    format!("handle `{key}` has an empty `ref`"),
                    "give the output name, parameter name or literal value",
                ));
            }
            entries.insert(key, entry);
        }
        Ok(HandlesRegistry {
            path: path.to_path_buf(),
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_kind_is_read_and_an_unknown_one_is_refused_without_quoting_it() {
        let ok = HandlesRegistry::parse(
            Path::new("r.toml"),
            "[SVC]\norigin = \"literal\"\nref = \"svc-a\"\nsecret = false\nkind = \"ecs_service\"\n",
        )
        .unwrap();
        assert_eq!(ok.entries["SVC"].kind, Some(ResourceKind::EcsService));
        let err = HandlesRegistry::parse(
            Path::new("r.toml"),
            "[SVC]\norigin = \"literal\"\nref = \"svc-a\"\nsecret = false\nkind = \"hunter2-or\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown kind") && !err.contains("hunter2"),
            "{err}"
        );
        // "or", the list's own word, is no kind either.
        assert!(HandlesRegistry::parse(
            Path::new("r.toml"),
            "[SVC]\norigin = \"literal\"\nref = \"svc-a\"\nsecret = false\nkind = \"or\"\n",
        )
        .is_err());
    }

    /// Found by tests/bench/fuzz_inputs.sh (seed 923232845): a line joined with a secret's
    /// made the origin quote the secret.
    #[test]
    fn an_unknown_origin_that_is_not_a_word_is_not_quoted() {
        let text =
            "[API_SECRET]\norigin = \"literzz-s3cr3t-literal\"\nref = \"x\"\nsecret = true\n";
        let shown = HandlesRegistry::parse(Path::new("r.toml"), text)
            .unwrap_err()
            .render();
        assert!(shown.contains("unknown origin (not shown"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    fn parse(text: &str) -> Result<HandlesRegistry> {
        HandlesRegistry::parse(Path::new("handles.toml"), text)
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().render()
    }

    #[test]
    fn parses_all_origins() {
        let r = parse(
            "[A]\norigin='literal'\nref='x'\nsecret=false\n\
             [B]\norigin='ssm_parameter'\nref='/p'\nsecret=true\n\
             [C]\norigin='terraform_output'\nref='c'\nsecret=false\n",
        )
        .unwrap();
        assert_eq!(r.entries.len(), 3);
        assert_eq!(r.entries["B"].origin, Origin::SsmParameter);
        assert!(r.entries["B"].secret);
    }

    #[test]
    fn unknown_origin_names_handle_and_choices() {
        let m = message("[A]\norigin='vault'\nref='x'\nsecret=false\n");
        assert!(m.contains("handle `A` has unknown origin `vault`"), "{m}");
        assert!(
            m.contains("terraform_output, ssm_parameter or literal"),
            "{m}"
        );
    }

    #[test]
    fn missing_ref_and_secret_are_named() {
        assert!(
            message("[A]\norigin='literal'\nsecret=false\n").contains("handle `A` has no `ref`")
        );
        assert!(message("[A]\norigin='literal'\nref='x'\n").contains("handle `A` has no `secret`"));
    }

    #[test]
    fn duplicate_key_is_rejected_with_position() {
        let m = message("[A]\norigin='literal'\nref='x'\nsecret=false\n[A]\norigin='literal'\nref='y'\nsecret=false\n");
        assert!(m.contains("line 5"), "{m}");
        assert!(
            m.to_lowercase().contains("duplicate") || m.contains("defined"),
            "{m}"
        );
    }

    #[test]
    fn unknown_field_is_rejected() {
        let m = message("[A]\norigin='literal'\nref='x'\nsecret=false\ndefault='z'\n");
        assert!(m.contains("handle `A`") && m.contains("default"), "{m}");
    }
}
