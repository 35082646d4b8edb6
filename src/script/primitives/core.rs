//! Core primitives: handles, secrets, evidence, gates, run context and JSON.

use super::{map_of, strings, Args, Failure, Primitive, Shape, Ty};
use crate::host::handles::Resolution;
use crate::host::json::{from_json, to_json};
use crate::host::publish::{EmitOptions, Scope};
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::{self, PredicateValue};
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use crate::rules::secret::Secret;
use rhai::{Dynamic, NativeCallContext};
use std::collections::BTreeMap;

/// A resolved value as scripts see it: secrets wrapped, everything else as plain Rhai values.
fn handle_value(key: &str, value: &serde_json::Value, secret: bool) -> Dynamic {
    if secret {
        Dynamic::from(Secret::new(key, crate::host::secret_text(value)))
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

// ----- handles ---------------------------------------------------------------------------------

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

// ----- evidence ----------------------------------------------------------------------------------

fn emit_options(host: &Host, options: rhai::Map) -> Outcome<EmitOptions> {
    let _ = host;
    let mut out = EmitOptions::default();
    let text = |key: &str, v: &Dynamic| -> Outcome<String> {
        v.clone().into_string().map_err(|_| {
            Fail::error(
                ErrorCode::BadOption,
                format!("option `{key}` must be a string"),
                "",
            )
        })
    };
    let mut scope = "control".to_owned();
    let mut path = None;
    let mut execution: Option<String> = None;
    for (k, v) in options.iter() {
        match k.as_str() {
            "scope" => scope = text(k, v)?,
            "path" => path = Some(text(k, v)?),
            "write_code" => out.write_code = Some(text(k, v)?),
            "execution" => execution = Some(text(k, v)?),
            "secret_code" => out.secret_code = Some(text(k, v)?),
            other => {
                return Err(Fail::error(
                    ErrorCode::BadOption,
                    format!("unknown emit_snapshot option `{other}`"),
                    "options are scope (\"control\" | \"run\"), path, execution, write_code, secret_code",
                ))
            }
        }
    }
    for code in [&out.write_code, &out.secret_code].into_iter().flatten() {
        if !gate::is_valid_code(code) {
            return Err(Fail::error(
                ErrorCode::BadOption,
                format!("`{code}` is not a blocker code like M4A-B3"),
                "",
            ));
        }
    }
    if let Some(id) = &execution {
        if scope != "control" || !crate::host::publish::valid_execution_id(id) {
            return Err(Fail::error(
                ErrorCode::BadOption,
                format!(
                    "`execution` = `{id}`: a control-scope execution id like m4_20260214T121004Z"
                ),
                "",
            ));
        }
    }
    out.scope = match (scope.as_str(), path) {
        ("control", None) => match execution {
            Some(execution_id) => Scope::Execution { execution_id },
            None => Scope::Control,
        },
        ("run", Some(path)) => Scope::Run { path },
        ("control", Some(_)) => {
            return Err(Fail::error(
                ErrorCode::BadOption,
                "`path` applies only to scope \"run\"",
                "",
            ))
        }
        ("run", None) => {
            return Err(Fail::error(
                ErrorCode::BadOption,
                "scope \"run\" needs a `path`, e.g. \"operate/daemons_ready\"",
                "",
            ))
        }
        (other, _) => {
            return Err(Fail::error(
                ErrorCode::BadOption,
                format!("unknown scope `{other}`"),
                "use \"control\" or \"run\"",
            ))
        }
    };
    Ok(out)
}

fn emit_snapshot(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let name = args.str(0);
    let payload: Dynamic = args.map(1).into();
    Ok(host
        .emit_snapshot(&name, &payload, &EmitOptions::default())?
        .into())
}

fn emit_snapshot_with(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let name = args.str(0);
    let payload: Dynamic = args.map(1).into();
    let options = emit_options(host, args.map(2))?;
    Ok(host.emit_snapshot(&name, &payload, &options)?.into())
}

fn publish_phase(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (phase, name) = (args.str(0), args.str(1));
    let snapshot: Dynamic = host.phase_snapshot(&phase, args.map(2)).into();
    let options = emit_options(host, args.map(3))?;
    Ok(host.emit_snapshot(&name, &snapshot, &options)?.into())
}

fn read_snapshot(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(from_json(&host.read_snapshot(&args.str(0))?))
}

fn read_durable_snapshots(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let names: Vec<String> = args.array(0).into_iter().map(|v| v.to_string()).collect();
    let mut snapshots = rhai::Map::new();
    let mut errors = rhai::Map::new();
    for (name, read) in host.read_durable_snapshots(&names) {
        match read {
            Ok(doc) => {
                snapshots.insert(name.into(), from_json(&doc));
            }
            Err(Fail::Error { code, message, .. }) => {
                snapshots.insert(name.as_str().into(), Dynamic::UNIT);
                errors.insert(name.into(), format!("{code}: {message}").into());
            }
            Err(other) => return Err(other),
        }
    }
    let mut out = rhai::Map::new();
    out.insert("snapshots".into(), snapshots.into());
    out.insert("errors".into(), errors.into());
    Ok(out.into())
}

fn evidence_uri(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(host.evidence_uri(&args.str(0), &args.str(1))?.into())
}

fn read_evidence(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(from_json(&host.read_evidence(&args.str(0), &args.str(1))?))
}

fn artifacts(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let records = host.artifacts.lock().expect("artifacts lock").clone();
    let value = serde_json::to_value(records).expect("records serialise");
    Ok(from_json(&value))
}

// ----- gates -------------------------------------------------------------------------------------

fn block(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (code, reason) = (args.str(0), args.str(1));
    // A malformed code still blocks (fail closed); the reason says what was wrong with it.
    let reason = if gate::is_valid_code(&code) {
        reason
    } else {
        format!("{reason} [blocker code `{code}` is not of the form M4A-B1]")
    };
    let reason = if reason.trim().is_empty() {
        "no reason given".to_owned()
    } else {
        reason
    };
    Err(host.raise_block(&code, &reason))
}

fn hold(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (code, reason) = (args.str(0), args.str(1));
    if !gate::is_valid_code(&code) {
        return Err(Fail::error(
            ErrorCode::BadCode,
            format!("`{code}` is not a blocker code like M4A-B2"),
            "",
        ));
    }
    host.add_blocker(
        &code,
        if reason.trim().is_empty() {
            "no reason given"
        } else {
            &reason
        },
    );
    Ok(Dynamic::UNIT)
}

fn skip_phase(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    host.skip_phase(&args.str(0))?;
    Ok(Dynamic::UNIT)
}

fn blockers(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let list = host.ledger().blockers().to_vec();
    Ok(list
        .into_iter()
        .map(|b| map_of([("code", b.code), ("phase", b.phase), ("reason", b.reason)]))
        .collect::<rhai::Array>()
        .into())
}

fn held(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.ledger().held().into())
}

fn phases(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let records = host.ledger().phases().to_vec();
    Ok(from_json(
        &serde_json::to_value(records).expect("phases serialise"),
    ))
}

fn run_phase(host: &Host, ctx: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let id = args.str(0);
    let body = args.fn_ptr(1);
    let started = host.begin_phase(&id)?;
    let ended = host.end_phase(&id, body.call_raw(ctx, None, []), started)?;
    let r = &ended.record;
    Ok(map_of([
        ("phase", Dynamic::from(r.phase.clone())),
        (
            "status",
            if r.blocker_codes.is_empty() {
                "PASS"
            } else {
                "HOLD"
            }
            .into(),
        ),
        ("blockers", strings(r.blocker_codes.clone())),
        ("elapsed_ms", (r.elapsed_ms as i64).into()),
        ("fault", ended.fault.map_or(Dynamic::UNIT, Dynamic::from)),
    ]))
}

fn verdict(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    // No verdict while a write is unproven: a failed read-back check is a blocker it must see.
    host.settle_checks(crate::host::settle::Settle::All);
    let predicates: BTreeMap<String, PredicateValue> = args
        .map(0)
        .into_iter()
        .map(|(k, v)| {
            let value = match v.as_bool() {
                Ok(b) => PredicateValue::Bool(b),
                Err(t) => PredicateValue::Invalid(t.to_owned()),
            };
            (k.to_string(), value)
        })
        .collect();
    let (advance, hold) = (args.str(1), args.str(2));
    if advance.is_empty() || hold.is_empty() || advance == hold {
        return Err(Fail::error(
            ErrorCode::BadVerdictNames,
            "advance and hold verdict names must be two different non-empty strings",
            "e.g. verdict(predicates, \"ADVANCE_TO_M5\", \"HOLD_M4\")",
        ));
    }
    if host.typed_repl_line() {
        // A REPL verdict comes only from the runbook stepped in order, never from a typed line.
        return Err(Fail::error(
            ErrorCode::ReplVerdict,
            "a verdict cannot be decided from a REPL line",
            "step the runbook to its verdict phase with :step or :continue",
        ));
    }
    let decided = host
        .ledger()
        .decide_verdict(predicates, &advance, &hold)
        .ok_or_else(|| {
            Fail::error(
                ErrorCode::VerdictDecided,
                "the verdict of this execution is already decided",
                "decide it once, after every phase",
            )
        })?;
    Ok(from_json(
        &serde_json::to_value(decided).expect("verdict serialises"),
    ))
}

// ----- run context -------------------------------------------------------------------------------

fn platform_run_id(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.platform_run_id()?.into())
}

const ENTRY_KEYS: &[&str] = &[
    "from",
    "handoff_name",
    "required_verdict",
    "execution_field",
    "agree",
    "env_key_field",
    "blocker",
    "verdict_uri",
    "handoff_uri",
];

fn declare_entry(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let map = args.map(0);
    let bad = |what: String| {
        Fail::error(
            ErrorCode::BadEntry,
            what,
            "declare #{from, handoff_name, required_verdict, execution_field, agree: [fields], \
             env_key_field, blocker}",
        )
    };
    if let Some(unknown) = map.keys().find(|k| !ENTRY_KEYS.contains(&k.as_str())) {
        return Err(bad(format!("unknown entry key `{unknown}`")));
    }
    let text = |key: &str| -> Outcome<String> {
        map.get(key)
            .and_then(|v| v.clone().into_string().ok())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad(format!("entry `{key}` must be a non-empty string")))
    };
    let agree = map
        .get("agree")
        .and_then(|v| v.clone().try_cast::<rhai::Array>())
        .ok_or_else(|| bad("entry `agree` must be an array of field names".into()))?
        .into_iter()
        .map(|v| {
            v.into_string()
                .map_err(|_| bad("entry `agree` holds a non-string".into()))
        })
        .collect::<Outcome<Vec<String>>>()?;
    let blocker = text("blocker")?;
    if !crate::rules::gate::is_valid_code(&blocker) {
        return Err(bad(format!(
            "entry `blocker` `{blocker}` is not a blocker code"
        )));
    }
    // A runbook names its entry artifacts only as durable evidence (s3://): a local path would
    // mean something else on every machine.
    let locations = match (
        map.contains_key("verdict_uri"),
        map.contains_key("handoff_uri"),
    ) {
        (false, false) => None,
        (true, true) => {
            let at = |key: &str| -> Outcome<crate::config::Location> {
                let uri = text(key)?;
                match crate::config::Location::parse(std::path::Path::new("."), &uri) {
                    Ok(l @ crate::config::Location::S3 { .. }) => Ok(l),
                    _ => Err(bad(format!(
                        "entry `{key}` `{uri}` is not an s3://BUCKET/KEY URI"
                    ))),
                }
            };
            Some((at("verdict_uri")?, at("handoff_uri")?))
        }
        _ => {
            return Err(bad(
                "entry `verdict_uri` and `handoff_uri` go together".into()
            ))
        }
    };
    host.declare_entry(
        crate::rules::entry::Entry {
            from: text("from")?,
            handoff_name: text("handoff_name")?,
            required_verdict: text("required_verdict")?,
            execution_field: text("execution_field")?,
            agree,
            env_key_field: text("env_key_field")?,
            blocker,
        },
        locations,
    )?;
    Ok(Dynamic::UNIT)
}

fn entry_preconditions(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let opt = |v: &Option<String>| v.clone().map_or(Dynamic::UNIT, Dynamic::from);
    let s = match host.entry_status() {
        Ok(s) => s,
        // Not declared: nothing holds, and the report says why instead of raising.
        Err(Fail::Error { message, .. }) => {
            return Ok(map_of([
                ("sound", Dynamic::from(false)),
                ("declared", Dynamic::from(false)),
                ("problems", strings([message])),
                ("verdict", Dynamic::UNIT),
                ("previous_execution_id", Dynamic::UNIT),
                ("required_platform_run_id_env_key", Dynamic::UNIT),
                ("verdict_uri", Dynamic::UNIT),
                ("handoff_uri", Dynamic::UNIT),
                ("verdict_sha256", Dynamic::UNIT),
                ("handoff_sha256", Dynamic::UNIT),
                ("blocker", Dynamic::UNIT),
            ]))
        }
        Err(other) => return Err(other),
    };
    let blocker = host.declared_entry().map(|e| e.blocker.clone());
    Ok(map_of([
        ("sound", Dynamic::from(s.sound())),
        ("declared", Dynamic::from(true)),
        ("problems", strings(s.problems.clone())),
        ("verdict", opt(&s.verdict)),
        ("previous_execution_id", opt(&s.previous_execution_id)),
        ("required_platform_run_id_env_key", opt(&s.required_env_key)),
        ("verdict_uri", s.verdict_uri.clone().into()),
        ("handoff_uri", s.handoff_uri.clone().into()),
        ("verdict_sha256", opt(&s.verdict_sha256)),
        ("handoff_sha256", opt(&s.handoff_sha256)),
        ("blocker", opt(&blocker)),
    ]))
}

fn execution_id(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.clock.execution_id.clone().into())
}

fn secret_named(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(crate::rules::secret::secret_named(&args.str(0)).into())
}

fn execution_prefix(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let id = crate::rules::execution_id::ExecutionId::parse(&host.clock.execution_id);
    Ok(id.map(|i| i.prefix).unwrap_or_default().into())
}

fn run_stamp(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.clock.stamp.clone().into())
}

fn now_utc(_: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
        .into())
}

fn now_ms(_: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(chrono::Utc::now().timestamp_millis().into())
}

fn setting(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let key = args.str(0);
    let c = host.config()?;
    let value = match key.as_str() {
        "aws.region" => c.region.clone(),
        "ecs.wave_gate" => c.ecs.wave_gate.as_str().into(),
        "kafka.security_protocol" => match c.kafka_security_protocol {
            crate::config::KafkaSecurityProtocol::Plaintext => "PLAINTEXT".into(),
            crate::config::KafkaSecurityProtocol::SaslSsl => "SASL_SSL".into(),
        },
        "db.sslmode" => match c.db_sslmode {
            crate::config::DbSslMode::Disable => "disable".into(),
            crate::config::DbSslMode::Require => "require".into(),
            crate::config::DbSslMode::VerifyFull => "verify-full".into(),
        },
        "evidence.environment" => c.evidence.environment.clone(),
        other => return Err(Fail::error(
            ErrorCode::UnknownSetting,
            format!("no setting `{other}`"),
            "settings are aws.region, kafka.security_protocol, db.sslmode, evidence.environment, ecs.wave_gate",
        )),
    };
    Ok(value.into())
}

fn arg(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let key = args.str(0);
    host.args
        .get(&key)
        .map(|v| v.clone().into())
        .ok_or_else(|| {
            Fail::error(
                ErrorCode::ArgMissing,
                format!("no value for `{key}`"),
                format!("pass --set {key}=VALUE"),
            )
        })
}

fn all_args(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(map_of(host.args.clone()))
}

fn plan_mode(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.plan().into())
}

// ----- JSON --------------------------------------------------------------------------------------

fn to_json_text(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let value = to_json(&args.any(0), "value").map_err(|r| {
        Fail::error(
            ErrorCode::NotSerialisable,
            r.to_string(),
            "leave secrets out of what you serialise",
        )
    })?;
    Ok(serde_json::to_string(&crate::host::json::sorted(&value))
        .expect("JSON serialises")
        .into())
}

fn parse_json(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let text = args.str(0);
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| from_json(&v))
        .map_err(|e| Fail::error(ErrorCode::BadJson, format!("not valid JSON: {e}"), ""))
}

/// Runs several `together` primitives at once, each on its own thread (each waits on the host
/// runtime for its own calls): one row per call, in the order asked, `#{value, error}` with the
/// value, or the catchable error that stands instead of it, so one failure hides no other.
fn all_at_once(host: &Host, ctx: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let mut asked = Vec::new();
    for (i, item) in args.array(0).into_iter().enumerate() {
        asked.push(together_call(i, item));
    }
    // Whose error a row's is: the primitive asked, or all_at_once when the call was malformed.
    let names: Vec<&str> = asked
        .iter()
        .map(|call| call.as_ref().map_or("all_at_once", |(p, _)| p.name))
        .collect();
    let results: Vec<Outcome<Dynamic>> = std::thread::scope(|scope| {
        let running: Vec<_> = asked
            .into_iter()
            .map(|call| {
                scope.spawn(move || {
                    let (primitive, mut values) = call?;
                    let mut refs: Vec<&mut Dynamic> = values.iter_mut().collect();
                    let value = (primitive.call)(host, ctx, &mut Args::new(&mut refs))?;
                    super::kept_shape(primitive.name, primitive.shape, value)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(Fail::error(
                        ErrorCode::BadArgument,
                        "the call ended without an answer (a defect of m4host)",
                        "report it with the command that ran",
                    ))
                })
            })
            .collect()
    });
    let mut rows = rhai::Array::new();
    for (result, name) in results.into_iter().zip(names) {
        let (value, error) = match result {
            Ok(value) => (value, Dynamic::UNIT),
            // The same map a direct call's catch would see.
            Err(Fail::Error {
                code,
                message,
                help,
            }) => (
                Dynamic::UNIT,
                host.error_map(code, &message, &help, name).into(),
            ),
            // A block or an engine error is the whole call's (no `together` row raises one).
            Err(other) => return Err(other),
        };
        rows.push(map_of([("value", value), ("error", error)]));
    }
    Ok(rows.into())
}

/// The row and arguments of call `i` of all_at_once, checked as registration checks a direct call.
fn together_call(i: usize, item: Dynamic) -> Outcome<(&'static Primitive, Vec<Dynamic>)> {
    let bad = |what: String| {
        Fail::error(
            ErrorCode::BadArgument,
            format!("all_at_once call {i}: {what}"),
            "give each call as #{ primitive: \"s3_probes\", args: [...] }, naming a primitive whose doc says it runs in all_at_once",
        )
    };
    let map = item
        .try_cast::<rhai::Map>()
        .ok_or_else(|| bad("not a map".into()))?;
    let name = map
        .get("primitive")
        .and_then(|v| v.clone().into_string().ok())
        .ok_or_else(|| bad("`primitive` must name one".into()))?;
    let values = match map.get("args") {
        None => Vec::new(),
        Some(v) => v
            .clone()
            .try_cast::<rhai::Array>()
            .ok_or_else(|| bad("`args` must be an array".into()))?,
    };
    let primitive = super::all()
        .find(|p| p.name == name)
        .ok_or_else(|| bad(format!("no primitive `{name}`")))?;
    if !primitive.together {
        return Err(bad(format!("`{name}` does not run beside others")));
    }
    if values.len() != primitive.params.len() {
        return Err(bad(format!(
            "{} takes {} argument(s), {} given",
            primitive.signature(),
            primitive.params.len(),
            values.len()
        )));
    }
    for ((param, ty), value) in primitive.params.iter().zip(&values) {
        if *ty != Ty::Any && value.type_id() != ty.type_id() {
            return Err(bad(format!(
                "{name}: `{param}` must be {}, not {}",
                ty.rhai_name(),
                value.type_name()
            )));
        }
    }
    Ok((primitive, values))
}

/// The core rows of the primitive table.
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
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: is_secret,
    },
    Primitive {
        name: "emit_snapshot",
        params: &[("name", Ty::Str), ("payload", Ty::Map)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Publishes an evidence artifact: canonical JSON (sorted keys) written atomically to \
              the local mirror <local_root>/<stamp>/<name>.json and once to \
              s3://<evidence bucket>/evidence/<environment>/run_control/<execution_id>/<name>.json \
              (If-None-Match), read back and SHA-256 compared. Refuses a Secret or a resolved \
              secret's plaintext anywhere in the payload (blocker <PHASE>-B3). Returns #{name, \
              local, uri, sha256, durable}. Under --plan only the local mirror is written.",
        example: "let a = emit_snapshot(\"example_snapshot\", #{ overall_pass: true, blockers: [] });\nprint(a.sha256.len() == 64 && a.name == \"example_snapshot\");",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::BadArtifactName, ErrorCode::BadArtifactPath, ErrorCode::BadPayload, ErrorCode::BadOption, ErrorCode::NoEntry, ErrorCode::NoEnv],
        failure: Failure::Gate,
        together: false,
        changes_world: false,
        aws: &[S3_PUT_EVIDENCE, S3_READ_BACK_EVIDENCE, SSM_GET_PARAMETERS],
        call: emit_snapshot,
    },
    Primitive {
        name: "emit_snapshot",
        params: &[("name", Ty::Str), ("payload", Ty::Map), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Value,
        doc: "emit_snapshot with options: scope \"control\" (default) or \"run\" with path (e.g. \
              \"operate/daemons_ready\" -> evidence/runs/<platform_run_id>/operate/daemons_ready.json), \
              execution (another execution's control folder, for a rollback's snapshot), write_code and secret_code (blocker codes of a failed write or a secret refusal; \
              default <PHASE>-B3).",
        example: concat!(m4_entry_example!(), "let r = emit_snapshot(\"example_run_scoped\", #{ ok: true }, #{ scope: \"run\", path: \"operate/example\", write_code: \"M4H-B2\" });\nprint(r.uri.ends_with(\"/operate/example.json\"));"),
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::BadArtifactName, ErrorCode::BadArtifactPath, ErrorCode::BadPayload, ErrorCode::BadOption, ErrorCode::NoEntry, ErrorCode::NoEnv],
        failure: Failure::Gate,
        together: false,
        changes_world: false,
        aws: &[S3_PUT_EVIDENCE, S3_READ_BACK_EVIDENCE, S3_PUT_RUN_EVIDENCE, S3_READ_BACK_RUN_EVIDENCE, SSM_GET_PARAMETERS],
        call: emit_snapshot_with,
    },
    Primitive {
        name: "publish_phase",
        params: &[("phase", Ty::Str), ("name", Ty::Str), ("fields", Ty::Map), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Publishes phase `phase`'s snapshot `name` (as emit_snapshot with options): `fields` \
              plus what every phase snapshot carries, stated once in the host — phase, \
              <prefix>_execution_id, captured_at_utc, platform_run_id (once the entry holds), the \
              phase's blockers [#{code, reason}] and overall_pass (false when the phase recorded a \
              blocker, fields say overall_pass: false, or plan_incomplete: true).",
        example: "let r = run_phase(\"M9.A\", || { publish_phase(\"M9.A\", \"m9_a_example_snapshot\", #{ checked: 3 }, #{ write_code: \"M9A-B3\", secret_code: \"M9A-B3\" }); });\nlet s = read_snapshot(\"m9_a_example_snapshot\");\nprint(`${s.phase} ${s.checked} ${s.overall_pass} ${s.blockers.len()}`);\nverdict(#{ published: r.status == \"PASS\" }, \"ADVANCE\", \"HOLD\");",
        example_exit: 0,
        example_prints: &["M9.A 3 true 0"],
        raises: &[ErrorCode::BadArtifactName, ErrorCode::BadArtifactPath, ErrorCode::BadPayload, ErrorCode::BadOption, ErrorCode::NoEntry, ErrorCode::NoEnv],
        failure: Failure::Gate,
        together: false,
        changes_world: false,
        aws: &[S3_PUT_EVIDENCE, S3_READ_BACK_EVIDENCE, S3_PUT_RUN_EVIDENCE, S3_READ_BACK_RUN_EVIDENCE, SSM_GET_PARAMETERS],
        call: publish_phase,
    },
    Primitive {
        name: "read_snapshot",
        params: &[("name", Ty::Str)],
        returns: "Map",
        shape: Shape::Value,
        doc: "An artifact this execution published, as it was read back from durable storage and \
              verified when it was written (the local mirror under --plan), its SHA-256 checked against \
              the one recorded at write time: the entry condition of a later phase, at no extra round \
              trip. Raises SNAPSHOT_MISSING, SNAPSHOT_UNREADABLE or SNAPSHOT_CHANGED.",
        example: "emit_snapshot(\"example_read\", #{ n: 1 });\nprint(read_snapshot(\"example_read\").n);",
        example_exit: 0,
        example_prints: &["1"],
        raises: &[ErrorCode::SnapshotMissing, ErrorCode::SnapshotChanged, ErrorCode::SnapshotUnreadable],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: read_snapshot,
    },
    Primitive {
        name: "read_durable_snapshots",
        params: &[("names", Ty::Array)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Fetches artifacts this execution published afresh from durable storage (the local \
              mirror under --plan), all at once, each checked against the SHA-256 recorded at write \
              time (a verdict computed from evidence, not from memory): #{snapshots: name -> the \
              document or () when missing, unreadable or changed, errors: name -> \"CODE: message\"}.",
        example: "emit_snapshot(\"example_durable\", #{ n: 2 });\nlet r = read_durable_snapshots([\"example_durable\", \"never_written\"]);\nprint(`${r.snapshots.example_durable.n} ${r.snapshots.never_written} ${r.errors.never_written}`);",
        example_exit: 0,
        example_prints: &["2  SNAPSHOT_MISSING: `never_written` was not published by this execution"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[S3_GET_EVIDENCE],
        call: read_durable_snapshots,
    },
    Primitive {
        name: "evidence_uri",
        params: &[("execution_id", Ty::Str), ("name", Ty::Str)],
        returns: "String",
        shape: Shape::Value,
        doc: "Where an execution's artifact is in durable storage: \
              s3://<evidence bucket>/evidence/<environment>/run_control/<execution_id>/<name>.json \
              (e.g. what a runbook enters from, for declare_entry). Raises BAD_ARTIFACT_NAME, \
              SNAPSHOT_UNREADABLE when the evidence bucket handle does not resolve.",
        example: "let u = evidence_uri(\"m4_20260214T121004Z\", \"m5_handoff_pack\");\nprint(u.starts_with(\"s3://\") && u.ends_with(\"/run_control/m4_20260214T121004Z/m5_handoff_pack.json\"));",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::BadArtifactName, ErrorCode::SnapshotUnreadable, ErrorCode::NoEnv],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: evidence_uri,
    },
    Primitive {
        name: "read_evidence",
        params: &[("execution_id", Ty::Str), ("name", Ty::Str)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Reads an artifact another execution published, from durable storage: \
              evidence/<environment>/run_control/<execution_id>/<name>.json (e.g. the M4.F \
              snapshot a rollback restores from). Raises SNAPSHOT_UNREADABLE.",
        example: "try { read_evidence(\"m4_20260214T121004Z\", \"m4_f_daemon_start_snapshot\") } catch (e) { print(e.code) }",
        example_exit: 0,
        example_prints: &["SNAPSHOT_UNREADABLE"],
        raises: &[ErrorCode::BadArtifactName, ErrorCode::SnapshotUnreadable, ErrorCode::NoEnv],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[S3_GET_EVIDENCE],
        call: read_evidence,
    },
    Primitive {
        name: "artifacts",
        params: &[],
        returns: "Map",
        shape: Shape::Value,
        doc: "Every artifact published in this execution: name -> #{local, uri, sha256}.",
        example: "print(artifacts().len());",
        example_exit: 0,
        example_prints: &["0"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: artifacts,
    },
    Primitive {
        name: "block",
        params: &[("code", Ty::Str), ("reason", Ty::Str)],
        returns: "()",
        shape: Shape::Value,
        doc: "Records a blocker (code like M4D-B1, and a reason an operator can act on) and stops \
              the current phase. try/catch cannot swallow it, nor can a module import; a run with \
              a blocker always ends HOLD (exit 3).",
        example: "print(\"before\");\nblock(\"M4D-B1\", \"kafka bootstrap unreachable\");\nprint(\"never printed\");",
        example_exit: 3,
        example_prints: &["before"],
        raises: &[],
        failure: Failure::Gate,
        together: false,
        changes_world: false,
        aws: &[],
        call: block,
    },
    Primitive {
        name: "hold",
        params: &[("code", Ty::Str), ("reason", Ty::Str)],
        returns: "()",
        shape: Shape::Value,
        doc: "Records a blocker and lets the phase go on, so that a phase can collect every finding \
              and still write its snapshot; the phase ends HOLD and the run holds (exit 3). Nothing \
              removes a recorded blocker.",
        example: "run_phase(\"M9.A\", || { hold(\"M9A-B2\", \"two handles unresolved\"); print(\"snapshot still written\") });\nverdict(#{ a: true }, \"ADVANCE\", \"HOLD\");",
        example_exit: 3,
        example_prints: &["snapshot still written"],
        raises: &[ErrorCode::BadCode],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: hold,
    },
    Primitive {
        name: "skip_phase",
        params: &[("id", Ty::Str)],
        returns: "()",
        shape: Shape::Value,
        doc: "Records that a phase did not run because an earlier one held (prints a SKIP line).",
        example: "skip_phase(\"M9.B\");\nprint(phases()[0].status);\nverdict(#{ a: true }, \"ADVANCE\", \"HOLD\");",
        example_exit: 0,
        example_prints: &["SKIP"],
        raises: &[ErrorCode::PhaseRepeated, ErrorCode::ReplPhase],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: skip_phase,
    },
    Primitive {
        name: "blockers",
        params: &[],
        returns: "Array",
        shape: Shape::Value,
        doc: "The blocker rollup so far: [#{code, phase, reason}].",
        example: "print(blockers().len());",
        example_exit: 0,
        example_prints: &["0"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: blockers,
    },
    Primitive {
        name: "held",
        params: &[],
        returns: "bool",
        shape: Shape::Value,
        doc: "True once any blocker is recorded or a hold verdict is decided.",
        example: "print(held());",
        example_exit: 0,
        example_prints: &["false"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: held,
    },
    Primitive {
        name: "phases",
        params: &[],
        returns: "Array",
        shape: Shape::Value,
        doc: "Every phase run so far: [#{phase, status, blocker_codes, elapsed_ms}].",
        example: "print(phases());",
        example_exit: 0,
        example_prints: &["[]"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: phases,
    },
    Primitive {
        name: "run_phase",
        params: &[("id", Ty::Str), ("body", Ty::Fn)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Runs one phase (e.g. \"M4.A\"): blockers raised inside are attributed to it, a block \
              ends the phase (not the run), an uncaught error is a SCRIPT-FAULT blocker. Prints one \
              line PASS/HOLD. Returns #{phase, status, blockers, elapsed_ms, fault (the uncaught \
              error described, or ())}. A script that runs a phase owes an explicit verdict.",
        example: "let r = run_phase(\"M9.A\", || { block(\"M9A-B1\", \"example hold\") });\nprint(r.status);\nverdict(#{ a: r.status == \"PASS\" }, \"ADVANCE\", \"HOLD\");",
        example_exit: 3,
        example_prints: &["HOLD"],
        raises: &[ErrorCode::BadPhase, ErrorCode::NestedPhase, ErrorCode::PhaseRepeated, ErrorCode::ReplPhase],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: run_phase,
    },
    Primitive {
        name: "verdict",
        params: &[("predicates", Ty::Map), ("advance", Ty::Str), ("hold", Ty::Str)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Decides the execution's verdict, once: `advance` only if there is at least one \
              predicate, every predicate is the boolean true and the blocker rollup is empty; \
              otherwise `hold`. Returns #{verdict, advance, predicates, failed_predicates, \
              invalid_predicates, blocker_codes}. The exit status follows it (0 advance, 3 hold).",
        example: "let v = verdict(#{ handles_closed: true }, \"ADVANCE_TO_M5\", \"HOLD_M4\");\nprint(v.verdict);",
        example_exit: 0,
        example_prints: &["ADVANCE_TO_M5"],
        raises: &[ErrorCode::BadVerdictNames, ErrorCode::ReplVerdict, ErrorCode::VerdictDecided],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: verdict,
    },
    Primitive {
        name: "platform_run_id",
        params: &[],
        returns: "String",
        shape: Shape::Value,
        doc: "The platform run id from the previous milestone's handoff, only once the entry \
              precondition the runbook declared holds (the required verdict, the artifacts agree, \
              nothing secret); otherwise blocks with the declared code (M4: M4A-B1). Raises \
              NO_ENTRY when no entry was declared. Scripts cannot set it.",
        example: concat!(m4_entry_example!(), "print(platform_run_id());"),
        example_exit: 0,
        example_prints: &["platform_20260213T221631Z"],
        raises: &[ErrorCode::NoEntry, ErrorCode::NoEnv],
        failure: Failure::Gate,
        together: false,
        changes_world: false,
        aws: &[],
        call: platform_run_id,
    },
    Primitive {
        name: "declare_entry",
        params: &[("entry", Ty::Map)],
        returns: "()",
        shape: Shape::Value,
        doc: "Declares what this runbook enters from, once, before its first phase: #{from (the \
              previous milestone, e.g. \"M3\"), handoff_name, required_verdict, execution_field \
              (the previous execution id's field), agree (fields both artifacts carry and must \
              agree on), env_key_field (the handoff field naming the run-scope env key), blocker \
              (the code of a precondition that does not hold), and optionally verdict_uri and \
              handoff_uri (s3://, e.g. from evidence_uri: a runbook entering from this host's \
              own evidence names them)}. Without them the two artifacts are the environment \
              file's [entry] verdict and handoff. Raises BAD_ENTRY, or \
              ENTRY_DECLARED for a second, different declaration.",
        example: concat!(m4_entry_example!(), "print(entry_preconditions().declared);"),
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::BadEntry, ErrorCode::EntryDeclared],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[S3_GET_ENTRY, S3_GET_EVIDENCE, SSM_GET_PARAMETERS],
        call: declare_entry,
    },
    Primitive {
        name: "entry_preconditions",
        params: &[],
        returns: "Map",
        shape: Shape::Value,
        doc: "The entry precondition as judged against the declaration: #{sound, declared, \
              problems, verdict, previous_execution_id, required_platform_run_id_env_key, \
              verdict_uri, handoff_uri, verdict_sha256, handoff_sha256 (of the bytes read), \
              blocker}; sound false with the reason when the runbook \
              declared none.",
        example: "let e = entry_preconditions();\nprint(`${e.declared} ${e.sound}`);",
        example_exit: 0,
        example_prints: &["false false"],
        raises: &[ErrorCode::NoEnv],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: entry_preconditions,
    },
    Primitive {
        name: "execution_id",
        params: &[],
        returns: "String",
        shape: Shape::Value,
        doc: "This execution's id, <prefix>_<YYYYMMDDTHHmmssZ> (e.g. m4_20260214T121004Z).",
        example: "print(execution_id().starts_with(\"m4_\") && execution_id().len() == 19);",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: execution_id,
    },
    Primitive {
        name: "secret_named",
        params: &[("name", Ty::Str)],
        returns: "bool",
        shape: Shape::Value,
        doc: "Whether a key or variable name says it holds a secret value (password, secret, \
              token, api_key, private_key, credential …), and is not the name of where one lives \
              (…_PATH, …_ARN, …_REF): the host's one statement of the rule, which evidence and \
              handoff checks use too. Such a task-definition variable must come by valueFrom.",
        example: "print(`${secret_named(\"DB_PASSWORD\")} ${secret_named(\"DB_PASSWORD_PATH\")} ${secret_named(\"SERVICE_NAME\")}`);",
        example_exit: 0,
        example_prints: &["true false false"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: secret_named,
    },
    Primitive {
        name: "execution_prefix",
        params: &[],
        returns: "String",
        shape: Shape::Value,
        doc: "This execution's prefix, `[run] execution_prefix` (lower-case letters, digits and \
              `_`): what precedes the stamp in execution_id(). Snapshots name the id's field \
              `<prefix>_execution_id`.",
        example: "let p = execution_prefix();\nprint(execution_id().starts_with(`${p}_`) && p != \"\");",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: execution_prefix,
    },
    Primitive {
        name: "run_stamp",
        params: &[],
        returns: "String",
        shape: Shape::Value,
        doc: "This execution's UTC stamp, YYYYMMDDTHHmmssZ (the local mirror folder name).",
        example: "print(run_stamp().len() == 16 && run_stamp().ends_with(\"Z\"));",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: run_stamp,
    },
    Primitive {
        name: "now_utc",
        params: &[],
        returns: "String",
        shape: Shape::Value,
        doc: "The current time, UTC, RFC 3339 to the second (2026-02-14T12:10:04Z).",
        example: "print(now_utc().len() == 20 && now_utc().ends_with(\"Z\"));",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: now_utc,
    },
    Primitive {
        name: "now_ms",
        params: &[],
        returns: "int",
        shape: Shape::Value,
        doc: "The current time as milliseconds since the Unix epoch (for log filters).",
        example: "print(now_ms() > 0);",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: now_ms,
    },
    Primitive {
        name: "setting",
        params: &[("key", Ty::Str)],
        returns: "String",
        shape: Shape::Value,
        doc: "A non-secret setting of the environment file: aws.region, kafka.security_protocol, \
              db.sslmode, evidence.environment, ecs.wave_gate (up | stable).",
        example: "print(setting(\"aws.region\"));",
        example_exit: 0,
        example_prints: &["eu-west-2"],
        raises: &[ErrorCode::UnknownSetting, ErrorCode::NoEnv],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: setting,
    },
    Primitive {
        name: "arg",
        params: &[("key", Ty::Str)],
        returns: "String",
        shape: Shape::Value,
        doc: "The value given with --set KEY=VALUE; raises ARG_MISSING when absent.",
        example: "try { print(arg(\"who\")) } catch (e) { print(e.code) }",
        example_exit: 0,
        example_prints: &["ARG_MISSING"],
        raises: &[ErrorCode::ArgMissing],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: arg,
    },
    Primitive {
        name: "args",
        params: &[],
        returns: "Map",
        shape: Shape::Value,
        doc: "Every --set KEY=VALUE as a map.",
        example: "print(args());",
        example_exit: 0,
        example_prints: &["#{}"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: all_args,
    },
    Primitive {
        name: "plan_mode",
        params: &[],
        returns: "bool",
        shape: Shape::Value,
        doc: "True under --plan (read-only rehearsal: mutations are recorded as would-do).",
        example: "print(plan_mode());",
        example_exit: 0,
        example_prints: &["false"],
        raises: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: plan_mode,
    },
    Primitive {
        name: "to_json",
        params: &[("value", Ty::Map)],
        returns: "String",
        shape: Shape::Value,
        doc: "to_json for a map. Declared for maps too so that it takes precedence over Rhai's \
              built-in map to_json, which would print a Secret as its type name.",
        example: "try { to_json(#{ s: ssm_secret(resolve_handle(\"SSM_CONFLUENT_API_SECRET_PATH\")) }) } catch (e) { print(e.code) }",
        example_exit: 0,
        example_prints: &["NOT_SERIALISABLE"],
        raises: &[ErrorCode::NotSerialisable],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: to_json_text,
    },
    Primitive {
        name: "to_json",
        params: &[("value", Ty::Any)],
        returns: "String",
        shape: Shape::Value,
        doc: "Compact JSON with sorted keys; raises NOT_SERIALISABLE for a Secret or a value with \
              no JSON form.",
        example: "print(to_json(#{ b: 1, a: [true, ()] }));",
        example_exit: 0,
        example_prints: &["{\"a\":[true,null],\"b\":1}"],
        raises: &[ErrorCode::NotSerialisable],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: to_json_text,
    },
    Primitive {
        name: "all_at_once",
        params: &[("calls", Ty::Array)],
        returns: "Array",
        shape: Shape::Value,
        doc: "Runs several primitives at once, inside the host: calls is [#{primitive: NAME, args: \
              [...]}], each a primitive whose doc says it runs in all_at_once (reads and \
              self-cleaning probes). Returns one #{value, error} per call, in the order asked: \
              the primitive's result, or the catchable error #{code, message, help, primitive} that stands \
              instead of it, so one failure hides no other. The way to ask many independent \
              things in one round trip (a phase's probes of S3, logs, Kafka and the database).",
        example: "let r = all_at_once([#{ primitive: \"ssm_prefetch\", args: [[\"/fraud-platform/dev_min/confluent/bootstrap\"]] },\n                      #{ primitive: \"ssm_prefetch\", args: [[\"/no/such/parameter\"]] },\n                      #{ primitive: \"emit_snapshot\", args: [\"x\", #{}] }]);\nprint(`${r[0].value.outcome} ${r[1].value.outcome} ${r[2].error.code}`);",
        example_exit: 0,
        example_prints: &["pass fail BAD_ARGUMENT"],
        raises: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: all_at_once,
    },
    Primitive {
        name: "parse_json",
        params: &[("text", Ty::Str)],
        returns: "?",
        shape: Shape::Value,
        doc: "Parses JSON text into maps, arrays and scalars; raises BAD_JSON.",
        example: "print(parse_json(\"{\\\"a\\\": [1, 2]}\").a[1]);",
        example_exit: 0,
        example_prints: &["2"],
        raises: &[ErrorCode::BadJson],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: parse_json,
    },
];
