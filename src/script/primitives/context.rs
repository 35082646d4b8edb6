//! Primitives of the run's context: the entry it declares and its preconditions, the platform
//! run and execution ids, the clock, settings, `--set` arguments and plan mode.

use super::{map_of, strings, Args, Failure, Primitive, Shape, Ty};
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::permissions::*;
use rhai::{Dynamic, NativeCallContext};

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
    let doc = |v: &Option<serde_json::Value>| v.as_ref().map_or(Dynamic::UNIT, from_json);
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
                ("handoff", Dynamic::UNIT),
                ("verdict_snapshot", Dynamic::UNIT),
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
        ("handoff", doc(&s.handoff_document)),
        ("verdict_snapshot", doc(&s.verdict_document)),
        ("blocker", opt(&blocker)),
    ]))
}

fn execution_id(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.clock().execution_id.clone().into())
}

fn secret_named(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    Ok(crate::rules::secret::secret_named(&args.str(0)).into())
}

fn execution_prefix(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    let id = crate::rules::execution_id::ExecutionId::parse(&host.clock().execution_id);
    Ok(id.map(|i| i.prefix).unwrap_or_default().into())
}

fn run_stamp(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.clock().stamp.clone().into())
}

// A script's clock is part of what it asks the world (a log filter's start, a window): on the
// tape, and from it in a replay (issue #25).
fn now_utc(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host
        .stamped_now("script now")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
        .into())
}

fn now_ms(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.stamped_now("script now").timestamp_millis().into())
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
    host.args()
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

fn arg_int(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let key = args.str(0);
    let Some(value) = host.args().get(&key) else {
        return Ok(args.any(1));
    };
    value
        .trim()
        .parse::<rhai::INT>()
        .map(Dynamic::from)
        .map_err(|_| {
            Fail::error(
                ErrorCode::ArgInvalid,
                format!("--set {key}=… is not a whole number"),
                format!("pass --set {key}=N (digits only, e.g. 30000)"),
            )
        })
}

fn all_args(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(map_of(host.args().clone()))
}

fn plan_mode(host: &Host, _: &NativeCallContext, _: &mut Args) -> Outcome<Dynamic> {
    Ok(host.plan().into())
}

/// The rows of run context.
pub const PRIMITIVES: &[Primitive] = &[
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
        options: &[],
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
        options: &[],
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
              handoff, verdict_snapshot (the two documents as read and hashed: the one read of \
              the previous milestone's fields an author needs; () when unreadable or not \
              non-secret), blocker}; sound false with the reason when the runbook \
              declared none.",
        example: "let e = entry_preconditions();\nprint(`${e.declared} ${e.sound}`);",
        example_exit: 0,
        example_prints: &["false false"],
        raises: &[ErrorCode::NoEnv],
        options: &[],
        failure: Failure::Catchable,
        together: true,
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: arg,
    },
    Primitive {
        name: "arg_int",
        params: &[("key", Ty::Str), ("otherwise", Ty::Int)],
        returns: "int",
        shape: Shape::Value,
        doc: "The whole number given with --set KEY=N, else `otherwise`; raises ARG_INVALID \
              when the value given is not one (before the first phase, a usage error: exit 2, \
              the value never quoted).",
        example: "print(arg_int(\"soak_ms\", 30000));",
        example_exit: 0,
        example_prints: &["30000"],
        raises: &[ErrorCode::ArgInvalid],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: arg_int,
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
        options: &[],
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
        options: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: plan_mode,
    },
];
