//! The value rule's inputs (issue #27): the secrets this run knows of, gathered into the vault
//! before anything is judged by value — every handle the registry classifies secret, every
//! SecureString a handle's value names by path (`SSM_DB_PASSWORD_PATH`), and every SSM parameter
//! a task definition's own `secrets[].valueFrom` references — read through the vault, never shown.
//! The judgement itself is `rules::task_definition::inline_secrets` (and `rules::credential` for
//! documents); this module only learns the values and says which it could not.

use crate::host::handles::{Resolution, SsmAnswer};
use crate::host::{Fail, Host, Outcome};
use crate::rules::credential::Finding;
use crate::rules::error_code::ErrorCode;
use crate::rules::task_definition::{
    inline_secrets, parameters_named_by, ssm_parameter_names, unread_environment_files,
    TaskDefinitionView,
};
use serde::Serialize;

/// A value the run could not read, so nothing was checked against it by value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Where the reference stands (`secrets`, `environmentFiles`, `handle SSM_DB_PASSWORD_PATH`).
    pub field: String,
    pub reference: String,
    pub why: String,
}

/// A task definition judged by value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretCheck {
    pub findings: Vec<Finding>,
    /// How many distinct secret values it was checked against.
    pub known_secrets: usize,
    pub not_checked_by_value: Vec<Unread>,
}

impl Host {
    /// Learns every secret the environment's registry leads to (see the module doc), once per
    /// run. Returns the references whose reading was denied (not checked by value); any other
    /// failure to read is an error, since a check by value that could not learn the values has
    /// not checked.
    pub fn environment_secrets(&self) -> Outcome<Vec<Unread>> {
        if let Some(unread) = self.environment_secrets.get() {
            return Ok(unread.clone());
        }
        let config = self.config()?;
        let keys: Vec<String> = config.registry.entries.keys().cloned().collect();
        let mut paths: Vec<(String, String)> = Vec::new();
        for (key, resolution) in self.resolve(&keys)? {
            match resolution {
                Resolution::Resolved {
                    value,
                    secret: false,
                    ..
                } => {
                    if let Some(v) = value.as_str() {
                        for name in parameters_named_by(v) {
                            paths.push((key.clone(), name));
                        }
                    }
                }
                Resolution::Resolved { secret: true, .. } => {}
                // A secret handle that did not resolve: a missing parameter has no plaintext to
                // leak, but one the run may not read, or could not reach, is asked again below.
                _ => {
                    let entry = &config.registry.entries[&key];
                    if entry.secret && entry.origin == crate::config::registry::Origin::SsmParameter
                    {
                        paths.push((key.clone(), entry.reference.clone()));
                    }
                }
            }
        }
        let mut unread = Vec::new();
        let names: Vec<String> = paths.iter().map(|(_, p)| p.clone()).collect();
        let answers = if names.is_empty() {
            Default::default()
        } else {
            self.ssm_fetch(&names)?
        };
        for (key, path) in paths {
            match answers.get(&path) {
                Some(SsmAnswer::Value { .. } | SsmAnswer::Missing) => {}
                Some(SsmAnswer::Denied(why)) => unread.push(Unread {
                    container: None,
                    field: format!("handle {key}"),
                    reference: path,
                    why: why.clone(),
                }),
                Some(SsmAnswer::Error(why)) => {
                    return Err(Fail::error(
                        ErrorCode::SsmError,
                        format!(
                            "SSM parameter `{path}` (named by handle {key}) could not be read to learn \
                             the environment's secrets: {why}"
                        ),
                        "check the endpoint, credentials and ssm:GetParameters; nothing can be \
                         judged non-secret by value until it is read",
                    ))
                }
                None => {}
            }
        }
        Ok(self.environment_secrets.get_or_init(|| unread).clone())
    }

    /// A task definition judged by value: the environment's secrets and the SSM parameters its
    /// `secrets[].valueFrom` reference (read now, into the vault), then every container field.
    pub fn task_definition_secrets(&self, td: &TaskDefinitionView) -> Outcome<SecretCheck> {
        let mut not_checked = self.environment_secrets()?;
        let mut references: Vec<(String, String, Vec<String>)> = Vec::new();
        for c in &td.containers {
            for s in &c.secrets {
                let Some(value_from) = s.get("value_from") else {
                    continue;
                };
                match ssm_parameter_names(value_from) {
                    Some(names) => references.push((c.name.clone(), value_from.clone(), names)),
                    None => not_checked.push(Unread {
                        container: Some(c.name.clone()),
                        field: "secrets".into(),
                        reference: value_from.clone(),
                        why:
                            "not an SSM parameter (a Secrets Manager secret is not read by m4host)"
                                .into(),
                    }),
                }
            }
        }
        let names: Vec<String> = references
            .iter()
            .flat_map(|(_, _, n)| n.iter().cloned())
            .collect();
        let answers = if names.is_empty() {
            Default::default()
        } else {
            self.ssm_fetch(&names)?
        };
        for (container, reference, names) in references {
            let got: Vec<Option<&SsmAnswer>> = names.iter().map(|n| answers.get(n)).collect();
            if got
                .iter()
                .any(|a| matches!(a, Some(SsmAnswer::Value { .. })))
            {
                continue;
            }
            let why = got
                .iter()
                .find_map(|a| match a {
                    Some(SsmAnswer::Denied(why) | SsmAnswer::Error(why)) => Some(why.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "no such SSM parameter".into());
            not_checked.push(Unread {
                container: Some(container),
                field: "secrets".into(),
                reference,
                why,
            });
        }
        for (container, reference) in unread_environment_files(td) {
            not_checked.push(Unread {
                container: Some(container),
                field: "environmentFiles".into(),
                reference,
                why: "an S3 environment file is not read by m4host".into(),
            });
        }
        let known = self.vault.secrets();
        Ok(SecretCheck {
            findings: inline_secrets(td, &known),
            known_secrets: known.len(),
            not_checked_by_value: not_checked,
        })
    }
}
