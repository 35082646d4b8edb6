//! Secrets: a value that scripts can hold and pass to the primitives that need its plaintext, but
//! never see. Every textual form of a `Secret` is `<redacted:HANDLE>`; the `Vault` remembers every
//! plaintext resolved in this run so that outgoing text (stdout, errors, evidence, REPL history)
//! can be scanned and redacted by construction, including copies a script made by other means.

use crate::sync::Locked;
use std::sync::{Arc, Mutex};

/// A secret value. Cloning shares the plaintext; no method returns it except `expose`, which
/// only host code calls.
#[derive(Clone)]
pub struct Secret {
    handle: Arc<str>,
    plaintext: Arc<str>,
}

impl Secret {
    pub fn new(handle: impl Into<Arc<str>>, plaintext: impl Into<Arc<str>>) -> Secret {
        Secret {
            handle: handle.into(),
            plaintext: plaintext.into(),
        }
    }

    /// The handle (or SSM path) this secret was resolved from; not secret.
    pub fn handle(&self) -> &str {
        &self.handle
    }

    /// The plaintext, for primitives that must hand it to a client (Kafka SASL, DB login).
    pub fn expose(&self) -> &str {
        &self.plaintext
    }

    /// The only text form of a secret.
    pub fn redacted(&self) -> String {
        format!("<redacted:{}>", self.handle)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Every secret plaintext seen in this run, with its handle.
#[derive(Default, Debug)]
pub struct Vault {
    known: Mutex<Vec<Secret>>,
}

impl Vault {
    /// Remembers a secret so its plaintext is redacted from all output from now on.
    pub fn remember(&self, secret: &Secret) {
        if secret.expose().is_empty() {
            return;
        }
        let mut known = self.known.locked();
        if !known.iter().any(|s| s.expose() == secret.expose()) {
            known.push(secret.clone());
            // Longest first, so a secret that contains another is replaced whole.
            known.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        }
    }

    /// Every secret known so far, longest plaintext first (for the value rule).
    pub fn secrets(&self) -> Vec<Secret> {
        self.known.locked().clone()
    }

    /// Replaces every known plaintext in `text` with its redaction marker.
    pub fn redact(&self, text: &str) -> String {
        let known = self.known.locked();
        let mut out = text.to_owned();
        for s in known.iter() {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), &s.redacted());
            }
        }
        out
    }

    /// The handles of the secrets whose plaintext occurs in `bytes`.
    pub fn leaks_in(&self, bytes: &[u8]) -> Vec<String> {
        let known = self.known.locked();
        known
            .iter()
            .filter(|s| contains(bytes, s.expose().as_bytes()))
            .map(|s| s.handle().to_owned())
            .collect()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
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

/// Whether a key or variable name says it holds a secret value: one of the secret words, and not
/// a name for where a secret lives (`DB_PASSWORD_PATH`, `api_key_arn`), which is not secret. The
/// one statement of the rule: evidence, handoff packs and task-definition environments use it.
pub fn secret_named(name: &str) -> bool {
    let key = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| key.contains(w))
        && !REFERENCE_ENDINGS.iter().any(|e| key.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_text_forms_are_redacted() {
        let s = Secret::new("DB_PASSWORD", "hunter2");
        assert_eq!(format!("{s}"), "<redacted:DB_PASSWORD>");
        assert_eq!(format!("{s:?}"), "<redacted:DB_PASSWORD>");
    }

    #[test]
    fn vault_redacts_longest_first_and_finds_leaks() {
        let v = Vault::default();
        v.remember(&Secret::new("SHORT", "abc"));
        v.remember(&Secret::new("LONG", "abcdef"));
        assert_eq!(
            v.redact("x abcdef y abc"),
            "x <redacted:LONG> y <redacted:SHORT>"
        );
        assert_eq!(v.leaks_in(b"..abc.."), vec!["SHORT".to_owned()]);
        assert!(v.leaks_in(b"nothing").is_empty());
    }

    #[test]
    fn empty_secret_is_not_remembered() {
        let v = Vault::default();
        v.remember(&Secret::new("EMPTY", ""));
        assert_eq!(v.redact("text"), "text");
    }

    #[test]
    fn secret_names_and_names_of_where_secrets_live() {
        for name in [
            "DB_PASSWORD",
            "KAFKA_API_SECRET",
            "api_key",
            "GITHUB_TOKEN",
            "passwd",
            "TLS_PRIVATE_KEY",
        ] {
            assert!(secret_named(name), "{name}");
        }
        for name in [
            "DB_PASSWORD_PATH",
            "ssm_confluent_api_secret_path",
            "KAFKA_API_KEY_ARN",
            "SERVICE_NAME",
            "REQUIRED_PLATFORM_RUN_ID",
        ] {
            assert!(!secret_named(name), "{name}");
        }
    }
}
