//! The value rule for secrets (issue #27): whether a value carries a secret is judged by what it
//! carries — the plaintext of a secret this run knows of, or a well-known credential shape — and
//! not by the name it stands under. A name is one signal among them (`secret_named`), asked only
//! where names are meaningful (environment variables, artifact keys).
//!
//! Pure: the host gathers the places (a task definition's container fields, a JSON document's
//! strings) and the known secrets; this module says which place holds what, by rule. A finding
//! never carries the value, not even a prefix: it names the place, the variable and the rule.

use crate::rules::secret::{secret_named, Secret};
use serde::Serialize;
use serde_json::Value;

/// Why a value counts as a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// It contains the plaintext of a secret the run knows of.
    KnownSecret,
    /// A URL whose userinfo carries a password (`scheme://user:password@host`).
    UrlPassword,
    /// An AWS access key id with a secret access key beside it (in the same task definition or
    /// document).
    AwsKeyPair,
    /// A PEM private key block.
    PemPrivateKey,
    /// An HTTP bearer credential (`Bearer <token>`).
    BearerToken,
    /// A JSON Web Token (three base64url segments, the first two JSON objects).
    Jwt,
    /// A secret-named variable or key with a value (`DB_PASSWORD=...`).
    SecretName,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::KnownSecret => "known_secret",
            Rule::UrlPassword => "url_password",
            Rule::AwsKeyPair => "aws_key_pair",
            Rule::PemPrivateKey => "pem_private_key",
            Rule::BearerToken => "bearer_token",
            Rule::Jwt => "jwt",
            Rule::SecretName => "secret_name",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Rule::KnownSecret => "the plaintext of a secret this run knows of",
            Rule::UrlPassword => "a URL whose userinfo carries a password",
            Rule::AwsKeyPair => "an AWS access key id with a secret access key beside it",
            Rule::PemPrivateKey => "a PEM private key block",
            Rule::BearerToken => "a bearer token",
            Rule::Jwt => "a JSON Web Token",
            Rule::SecretName => "a secret-named variable or key with a value",
        }
    }
}

/// One value and where it sits: `scope` groups places judged together (a container), `field`
/// is where in it (`environment`, `command[2]`, `$.notes`), `name` the variable or key it stands
/// under, if any.
#[derive(Debug, Clone)]
pub struct Place {
    pub scope: Option<String>,
    pub field: String,
    pub name: Option<String>,
    pub text: String,
}

/// A secret found at a place, by rule; never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The container (for a task definition), or none (a document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    pub rule: Rule,
    /// The handle of the known secret whose plaintext is there (rule `known_secret`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl Finding {
    /// One line for a blocker or a problem: where, and by which rule; the value never.
    pub fn describe(&self) -> String {
        let mut at = String::new();
        if let Some(c) = &self.container {
            at.push_str(&format!("container `{c}` "));
        }
        at.push_str(&self.field);
        // A document's path already ends with its key; a container's field names no variable.
        if let (Some(_), Some(v)) = (&self.container, &self.variable) {
            at.push_str(&format!(" `{v}`"));
        }
        let why = match &self.secret {
            Some(handle) => format!("the plaintext of secret {handle}"),
            None => self.rule.meaning().to_owned(),
        };
        format!("{at} holds {why} (rule {})", self.rule.as_str())
    }
}

/// Whether names count as a signal (`SecretName`): in environments and artifacts, where a name
/// says what a value is meant to be; not in evidence, whose keys describe (`secrets_by_reference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Judged,
    Ignored,
}

/// The secrets at `places`, judged together: each place by the known plaintexts and the shapes,
/// and the whole set for an AWS key pair (a key id in one place, its secret key in another).
pub fn scan(places: &[Place], known: &[Secret], names: Names) -> Vec<Finding> {
    let mut found = Vec::new();
    let finding = |p: &Place, rule: Rule, secret: Option<String>| Finding {
        container: p.scope.clone(),
        field: p.field.clone(),
        variable: p.name.clone(),
        rule,
        secret,
    };
    for p in places {
        if names == Names::Judged
            && !p.text.is_empty()
            && p.name.as_deref().is_some_and(secret_named)
        {
            found.push(finding(p, Rule::SecretName, None));
        }
        for s in known {
            if !s.expose().is_empty() && p.text.contains(s.expose()) {
                found.push(finding(p, Rule::KnownSecret, Some(s.handle().to_owned())));
            }
        }
        for rule in shapes(&p.text) {
            found.push(finding(p, rule, None));
        }
    }
    let key_ids: Vec<&Place> = places
        .iter()
        .filter(|p| has_access_key_id(&p.text))
        .collect();
    let secret_keys: Vec<&Place> = places
        .iter()
        .filter(|p| has_secret_access_key(&p.text))
        .collect();
    if !key_ids.is_empty() && !secret_keys.is_empty() {
        for p in key_ids.into_iter().chain(secret_keys) {
            let f = finding(p, Rule::AwsKeyPair, None);
            if !found.contains(&f) {
                found.push(f);
            }
        }
    }
    found
}

/// The string values of a JSON document as places (`$.a.b[0]`), under the key that holds them.
/// With `Names::Judged`, a secret-named key with any value (a string, a number, a list or a map
/// with something in it) is a place of its own, its value not walked.
pub fn document_places(doc: &Value, names: Names) -> Vec<Place> {
    let mut places = Vec::new();
    walk(doc, "$", None, names, &mut places);
    places
}

/// The secrets in a JSON document (an entry artifact, a snapshot), by path.
pub fn document_findings(doc: &Value, known: &[Secret], names: Names) -> Vec<Finding> {
    scan(&document_places(doc, names), known, names)
}

fn walk(value: &Value, path: &str, key: Option<&str>, names: Names, out: &mut Vec<Place>) {
    match value {
        Value::Object(members) => {
            for (k, v) in members {
                let here = format!("{path}.{k}");
                let valued = match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Null | Value::Bool(_) => false,
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    Value::Number(_) => true,
                };
                if names == Names::Judged && valued && secret_named(k) && !v.is_string() {
                    // A secret-named key holding a structure: the name is the signal; its text
                    // is the compact JSON, which is also scanned by value.
                    out.push(Place {
                        scope: None,
                        field: here,
                        name: Some(k.clone()),
                        text: v.to_string(),
                    });
                } else {
                    walk(v, &here, Some(k), names, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), key, names, out);
            }
        }
        Value::String(s) => out.push(Place {
            scope: None,
            field: path.to_owned(),
            name: key.map(str::to_owned),
            text: s.clone(),
        }),
        _ => {}
    }
}

/// The credential shapes one text has, each rule once.
pub fn shapes(text: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    if has_url_password(text) {
        rules.push(Rule::UrlPassword);
    }
    if has_pem_private_key(text) {
        rules.push(Rule::PemPrivateKey);
    }
    if has_bearer_token(text) {
        rules.push(Rule::BearerToken);
    }
    if has_jwt(text) {
        rules.push(Rule::Jwt);
    }
    rules
}

/// `scheme://user:password@host...` with a non-empty password that is not a placeholder
/// (`${VAR}`, `$VAR`, `{{ var }}`, `<password>`), as RFC 3986 section 3.2.1 lays out userinfo.
fn has_url_password(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_ok = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let after = &rest[at + 3..];
        let authority_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        if scheme_ok {
            if let Some((userinfo, _host)) = authority.rsplit_once('@') {
                if let Some((_user, password)) = userinfo.split_once(':') {
                    if !password.is_empty() && !is_placeholder(password) {
                        return true;
                    }
                }
            }
        }
        rest = after;
    }
    false
}

fn is_placeholder(value: &str) -> bool {
    value.starts_with('$')
        || (value.starts_with("{{") && value.ends_with("}}"))
        || (value.starts_with('<') && value.ends_with('>'))
        || value.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

/// `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED ]PRIVATE KEY-----` (RFC 7468 section 10 and its
/// kin); a certificate or public key is not a secret.
fn has_pem_private_key(text: &str) -> bool {
    text.match_indices("-----BEGIN ").any(|(i, _)| {
        let label = &text[i + 11..];
        label
            .find("-----")
            .is_some_and(|end| label[..end].ends_with("PRIVATE KEY"))
    })
}

/// `Bearer <token>` (RFC 6750 section 2.1: b64token) with a token of 16 characters or more, so
/// that prose ("a bearer token") does not count.
fn has_bearer_token(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("bearer").any(|(i, _)| {
        let before_ok = i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &text[i + 6..];
        let trimmed = after.trim_start_matches([' ', '\t']);
        let spaced = trimmed.len() < after.len();
        let token: String = trimmed
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(*c))
            .collect();
        before_ok && spaced && token.len() >= 16 && token.chars().any(|c| c.is_ascii_digit())
    })
}

/// A JWT (RFC 7519): `eyJ...` `.` `eyJ...` `.` signature, base64url; `eyJ` is the base64 of `{"`.
fn has_jwt(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.=".contains(c)))
        .any(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && parts[..2]
                    .iter()
                    .all(|p| p.starts_with("eyJ") && p.len() >= 10)
        })
}

/// An access key id: 20 characters, `AKIA` (long-term) or `ASIA` (temporary), upper case and
/// digits (IAM User Guide, "Manage access keys for IAM users": unique identifiers).
fn has_access_key_id(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        w.len() == 20
            && (w.starts_with("AKIA") || w.starts_with("ASIA"))
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

/// A secret access key: 40 characters of base64 (`A-Z a-z 0-9 / +`), mixed case with a digit or
/// a symbol, as the IAM User Guide's example `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY` is. A hex
/// digest (lower case only) is not one.
fn has_secret_access_key(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '+'))
        .any(|w| {
            w.len() == 40
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
                && w.chars()
                    .any(|c| c.is_ascii_digit() || c == '/' || c == '+')
                && !w.starts_with('/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn place(field: &str, name: Option<&str>, text: &str) -> Place {
        Place {
            scope: Some("c".into()),
            field: field.into(),
            name: name.map(str::to_owned),
            text: text.into(),
        }
    }

    fn rules(places: &[Place], known: &[Secret]) -> Vec<Rule> {
        scan(places, known, Names::Judged)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn a_url_with_a_password_in_its_userinfo() {
        for text in [
            "postgresql://fraud_app:s3cr3t-Pw@db.internal:5432/fraud",
            "redis://:onlypassword@cache:6379",
            "jdbc:postgresql://u:p@h/db",
            "amqps://user:pa%40ss@mq.example.com/vhost",
        ] {
            assert_eq!(shapes(text), vec![Rule::UrlPassword], "{text}");
        }
        // Near misses: no userinfo, user without password, a port, placeholders, email-ish text.
        for text in [
            "postgresql://fraud_app@db.internal:5432/fraud",
            "https://api.example.com:443/v1?x=a:b@c",
            "https://example.com/path/user:pass@not-authority",
            "postgresql://u:${DB_PASSWORD}@h/db",
            "postgresql://u:$DB_PASSWORD@h/db",
            "mysql://u:<password>@h/db",
            "mailto:ops@example.com",
            "s3://fraud-platform-dev-min-evidence/evidence/runs/platform_20260101T000000Z/",
            "arn:aws:ssm:eu-west-2:123456789012:parameter/fraud-platform/dev_min/db/password",
        ] {
            assert!(shapes(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn pem_private_keys_but_not_certificates() {
        for label in [
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
        ] {
            let text = format!("-----BEGIN {label}-----\nMIIEv...\n-----END {label}-----");
            assert_eq!(shapes(&text), vec![Rule::PemPrivateKey], "{label}");
        }
        assert!(shapes("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
        assert!(shapes("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----").is_empty());
        assert!(shapes("our private key lives in SSM").is_empty());
    }

    #[test]
    fn bearer_tokens_and_jwts() {
        assert_eq!(
            shapes("Authorization: Bearer 9f8e7d6c5b4a39281706abcdef"),
            vec![Rule::BearerToken]
        );
        let jwt =
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(shapes(jwt), vec![Rule::Jwt]);
        assert_eq!(
            shapes(&format!("Bearer {jwt}")),
            vec![Rule::BearerToken, Rule::Jwt]
        );
        // Near misses: prose, a short word, a dotted hostname or version.
        for text in [
            "pass a bearer token in the header",
            "Bearer token",
            "bearer-auth-enabled",
            "fraud-platform-dev-min-ig.fraud.local",
            "v1.2.3",
            "eyJ.short.x",
        ] {
            assert!(shapes(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn an_aws_key_pair_under_innocent_names_but_not_a_key_id_alone() {
        let pair = [
            place("environment", Some("A"), "AKIAIOSFODNN7EXAMPLE"),
            place(
                "environment",
                Some("B"),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
        ];
        assert_eq!(rules(&pair, &[]), vec![Rule::AwsKeyPair, Rule::AwsKeyPair]);
        assert!(rules(&pair[..1], &[]).is_empty(), "a key id alone");
        assert!(rules(&pair[1..], &[]).is_empty(), "a 40-char token alone");
        // A git commit or SHA-1 digest beside a key id is not a secret key.
        let digest = [
            pair[0].clone(),
            place(
                "environment",
                Some("GIT_SHA"),
                "3f786850e387550fdab836ed7e6dc881de23001b",
            ),
        ];
        assert!(rules(&digest, &[]).is_empty());
    }

    #[test]
    fn known_plaintexts_anywhere_in_a_value() {
        let known = [Secret::new("SSM_DB_PASSWORD_PATH", "Xy7-q")];
        let found = scan(
            &[place("command[2]", None, "--dsn=host=db password=Xy7-q")],
            &known,
            Names::Judged,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, Rule::KnownSecret);
        assert_eq!(found[0].secret.as_deref(), Some("SSM_DB_PASSWORD_PATH"));
        let line = found[0].describe();
        assert!(line.contains("command[2]") && line.contains("SSM_DB_PASSWORD_PATH"));
        assert!(!line.contains("Xy7-q"), "{line}");
    }

    #[test]
    fn ordinary_values_are_not_secrets() {
        let known = [Secret::new("S", "a-long-random-secret-value")];
        for text in [
            "arn:aws:ecs:eu-west-2:123456789012:task-definition/fraud-platform-dev-min-ig:3",
            "arn:aws:iam::123456789012:role/fraud-platform-dev-min-ecs-task",
            "fraud-platform-dev-min-ig.fraud.local",
            "https://fraud.example.com/health",
            "123e4567-e89b-12d3-a456-426614174000",
            "platform_20260305T101500Z",
            "127.0.0.1:9092",
            "/fraud-platform/dev_min/db/password",
        ] {
            assert!(
                rules(&[place("environment", Some("X"), text)], &known).is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn names_are_one_signal_where_judged() {
        let p = [place("environment", Some("DB_PASSWORD"), "anything")];
        assert_eq!(rules(&p, &[]), vec![Rule::SecretName]);
        assert!(scan(&p, &[], Names::Ignored).is_empty());
        let reference = [place(
            "environment",
            Some("DB_PASSWORD_PATH"),
            "/fraud/db/password",
        )];
        assert!(rules(&reference, &[]).is_empty());
    }

    #[test]
    fn documents_by_path() {
        let doc = json!({
            "platform_run_id": "platform_1",
            "notes": "operator token Xy7-q",
            "nested": {"list": ["ok", "postgresql://u:pw1@h/db"]},
            "api_secret": {"v": 1},
            "ssm_confluent_api_secret_path": "/fraud/confluent/api_secret",
        });
        let known = [Secret::new("SSM_DB_PASSWORD_PATH", "Xy7-q")];
        let found: Vec<(String, Rule)> = document_findings(&doc, &known, Names::Judged)
            .into_iter()
            .map(|f| (f.field, f.rule))
            .collect();
        assert_eq!(
            found,
            vec![
                ("$.api_secret".to_owned(), Rule::SecretName),
                ("$.nested.list[1]".to_owned(), Rule::UrlPassword),
                ("$.notes".to_owned(), Rule::KnownSecret),
            ]
        );
        let ignored: Vec<Rule> = document_findings(&doc, &known, Names::Ignored)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(ignored, vec![Rule::UrlPassword, Rule::KnownSecret]);
    }
}
