//! Primitives of handles and secrets: resolving handles (one or many, SSM batched), reading
//! SSM parameters and SecureStrings into the vault, and asking whether a value is a Secret.

use super::{map_of, strings, Args, Failure, Primitive, Shape, Ty};
use crate::host::handles::Resolution;
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use crate::rules::secret::Secret;
use rhai::{Dynamic, NativeCallContext};

/// A resolved value as scripts see it: secrets wrapped, everything else as plain Rhai values.
fn handle_value(key: &str, value: &serde_json::Value, secret: bool) -> Dynamic {
    if secret {
        Dynamic::from(Secret::new(key, crate::host::handles::secret_text(value)))
    } else {
        from_json(value)
    }
}

fn string_keys(host: &Host, keys: rhai::Array) -> Outcome<Vec<String>> {
    let _ = host;
    keys.into_iter()
        .map(|k| {
            k.into_string().map_err(|t| {
                Fail::error(
                    ErrorCode::BadArgument,
                    format!("handle keys must be strings, found {t}"),
                    "",
                )
            })
        })
        .collect()
}

fn resolve_handle(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let key = args.str(0);
    let (_, resolution) = host.resolve(std::slice::from_ref(&key))?.remove(0);
    let help = "fix the handles registry, the terraform outputs or the SSM parameter it names";
    match resolution {
        Resolution::Resolved { value, secret, .. } => Ok(handle_value(&key, &value, secret)),
        Resolution::Unresolved(why) => Err(Fail::error(ErrorCode::HandleUnresolved, why, help)),
        Resolution::Wildcard(why) => Err(Fail::error(ErrorCode::HandleWildcard, why, help)),
        Resolution::Ambiguous(why) => Err(Fail::error(ErrorCode::HandleAmbiguous, why, help)),
    }
}

fn resolve_handles(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let keys = string_keys(host, args.array(0))?;
    let results = host.resolve(&keys)?;
    let mut resolved = rhai::Map::new();
    let (mut unresolved, mut wildcard, mut ambiguous) =
        (rhai::Map::new(), Vec::new(), rhai::Map::new());
    for (key, r) in results {
        match r {
            Resolution::Resolved {
                value,
                origin,
                source,
                secret,
            } => {
                resolved.insert(
                    key.as_str().into(),
                    map_of([
                        ("value", handle_value(&key, &value, secret)),
                        ("origin", origin.as_str().into()),
                        ("source", source.into()),
                        (
                            "secret_class",
                            if secret { "secret" } else { "non_secret" }.into(),
                        ),
                    ]),
                );
            }
            Resolution::Unresolved(why) => {
                unresolved.insert(key.as_str().into(), why.into());
            }
            Resolution::Wildcard(why) => {
                wildcard.push(key.clone());
                unresolved.insert(key.as_str().into(), why.into());
            }
            Resolution::Ambiguous(why) => {
                ambiguous.insert(key.as_str().into(), why.clone().into());
                unresolved.insert(key.as_str().into(), why.into());
            }
        }
    }
    let unresolved_keys: Vec<String> = unresolved.keys().map(|k| k.to_string()).collect();
    let ambiguous_keys: Vec<String> = ambiguous.keys().map(|k| k.to_string()).collect();
    let closed = unresolved.is_empty();
    Ok(map_of([
        ("required_handle_keys", strings(keys)),
        ("resolved_handle_count", (resolved.len() as i64).into()),
        ("unresolved_handle_count", (unresolved.len() as i64).into()),
        ("unresolved_handle_keys", strings(unresolved_keys)),
        ("wildcard_key_present", (!wildcard.is_empty()).into()),
        ("wildcard_keys", strings(wildcard)),
        ("ambiguous_handle_keys", strings(ambiguous_keys)),
        ("resolved", resolved.into()),
        ("unresolved", unresolved.into()),
        ("closed", closed.into()),
    ]))
}

fn ssm_secret(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(Dynamic::from(host.ssm_secret(&args.str(0))?))
}

fn ssm_parameter(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let path = args.str(0);
    let (value, secure) = host.ssm_value(&path)?;
    if secure {
        // A SecureString is never handed out as plain text; the vault now knows it.
        return Err(Fail::error(
            ErrorCode::SsmSecure,
            format!("SSM parameter `{path}` is a SecureString"),
            "read it with ssm_secret(path)",
        ));
    }
    Ok(value.into())
}

fn ssm_prefetch(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let paths: Vec<String> = args.array(0).into_iter().map(|p| p.to_string()).collect();
    let answers = host.ssm_fetch(&paths)?;
    let mut unreadable = rhai::Array::new();
    for path in &paths {
        match answers.get(path) {
            Some(crate::host::handles::SsmAnswer::Value { .. }) => {}
            Some(crate::host::handles::SsmAnswer::Missing) => {
                unreadable.push(format!("{path} (missing)").into())
            }
            Some(
                crate::host::handles::SsmAnswer::Error(why)
                | crate::host::handles::SsmAnswer::Denied(why),
            ) => unreadable.push(format!("{path} ({why})").into()),
            None => unreadable.push(format!("{path} (no answer)").into()),
        }
    }
    let mut out = rhai::Map::new();
    out.insert(
        "outcome".into(),
        ProbeOutcome::of(unreadable.is_empty()).as_str().into(),
    );
    out.insert(
        "reason".into(),
        if unreadable.is_empty() {
            format!("{} parameter(s) read", paths.len())
        } else {
            format!(
                "unreadable: {}",
                unreadable
                    .iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        .into(),
    );
    out.insert("unreadable".into(), unreadable.into());
    Ok(out.into())
}

fn is_secret(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(args.any(0).flatten_clone().is::<Secret>().into())
}

/// The rows of handles and secrets.
pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "resolve_handle",
        params: &[("key", Ty::Str)],
        returns: "String | Array | Secret",
        shape: Shape::Value,
        doc: "Resolves one handle from the handles registry to its concrete value (a Secret for a \
              handle classified secret). Never a default: an unresolved, wildcard or ambiguous \
              handle raises HANDLE_UNRESOLVED, HANDLE_WILDCARD or HANDLE_AMBIGUOUS.",
        example: "let cluster = resolve_handle(\"ECS_CLUSTER_NAME\");\nprint(cluster);",
        example_exit: 0,
        example_prints: &["fraud-platform-dev-min"],
        raises: &[ErrorCode::HandleUnresolved, ErrorCode::HandleWildcard, ErrorCode::HandleAmbiguous, ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[SSM_GET_PARAMETERS],
        call: resolve_handle,
    },
    Primitive {
        name: "resolve_handles",
        params: &[("keys", Ty::Array)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Resolves many handles in one pass (SSM parameters batched, concurrent) and reports \
              closure: required_handle_keys, resolved (value, origin, source, secret_class per key), \
              resolved_handle_count, unresolved_handle_count, unresolved_handle_keys, unresolved \
              (reason per key), wildcard_key_present, wildcard_keys, ambiguous_handle_keys, closed.",
        example: "let r = resolve_handles([\"ECS_CLUSTER_NAME\", \"NOT_A_HANDLE\"]);\nprint(r.unresolved_handle_keys);",
        example_exit: 0,
        example_prints: &["[\"NOT_A_HANDLE\"]"],
        raises: &[ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[SSM_GET_PARAMETERS],
        call: resolve_handles,
    },
    Primitive {
        name: "ssm_secret",
        params: &[("path", Ty::Str)],
        returns: "Secret",
        shape: Shape::Value,
        doc: "The decrypted value stored at an SSM parameter path, as a Secret: shown as \
              <redacted:PATH> everywhere, refused in evidence, usable only by primitives that need \
              the plaintext.",
        example: "let path = resolve_handle(\"SSM_CONFLUENT_API_SECRET_PATH\");\nlet s = ssm_secret(path);\nprint(is_secret(s) && `${s}`.starts_with(\"<redacted:\"));",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::SsmMissing, ErrorCode::SsmEmpty, ErrorCode::SsmError, ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[SSM_GET_PARAMETERS],
        call: ssm_secret,
    },
    Primitive {
        name: "ssm_parameter",
        params: &[("path", Ty::Str)],
        returns: "String",
        shape: Shape::Value,
        doc: "The value of a plain (String) SSM parameter, e.g. the Kafka bootstrap or a DB user name. \
              A SecureString is refused with SSM_SECURE: read those with ssm_secret.",
        example: "print(ssm_parameter(\"/fraud-platform/dev_min/confluent/bootstrap\"));",
        example_exit: 0,
        example_prints: &["127.0.0.1:9092"],
        raises: &[ErrorCode::SsmSecure, ErrorCode::SsmMissing, ErrorCode::SsmEmpty, ErrorCode::SsmError, ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[SSM_GET_PARAMETERS],
        call: ssm_parameter,
    },
    Primitive {
        name: "ssm_prefetch",
        params: &[("paths", Ty::Array)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "unreadable"]),
        doc: "Reads SSM parameters together (GetParameters, 10 per call) and keeps their \
              values for the run, so the ssm_parameter and ssm_secret calls that follow cost \
              no round trip; no value is returned (SecureStrings go straight to the redaction \
              vault). outcome is fail when any is missing or unreadable; unreadable lists \
              [\"PATH (why)\"].",
        example: "let r = ssm_prefetch([\"/fraud-platform/dev_min/confluent/bootstrap\", \"/no/such/parameter\"]);\nprint(`${r.outcome} ${r.unreadable}`);",
        example_exit: 0,
        example_prints: &["fail [\"/no/such/parameter (missing)\"]"],
        raises: &[ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[SSM_GET_PARAMETERS],
        call: ssm_prefetch,
    },
    Primitive {
        name: "is_secret",
        params: &[("value", Ty::Any)],
        returns: "bool",
        shape: Shape::Value,
        doc: "True when the value is a Secret.",
        example: "print(is_secret(resolve_handle(\"DB_NAME\")));",
        example_exit: 0,
        example_prints: &["false"],
        raises: &[],
        options: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: is_secret,
    },
];
