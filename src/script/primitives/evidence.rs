//! Primitives of evidence: publishing snapshots (write-once, read back and hash-checked),
//! a phase's snapshot, and reading this or another execution's artifacts back.

use super::options::Options;
use super::{opt, Args, Failure, OptionDoc, Primitive, Shape, Ty};
use crate::host::json::from_json;
use crate::host::publish::{EmitOptions, Scope};
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::{self};
use crate::rules::permissions::*;
use rhai::{Dynamic, NativeCallContext};

const EMIT_OPTIONS: &[OptionDoc] = &[
    opt("scope", "String", "\"control\"", "\"control\" (this execution's folder) or \"run\" (the platform run's, with path)"),
    opt("path", "String", "none", "under scope \"run\": e.g. \"operate/daemons_ready\" -> evidence/runs/<platform_run_id>/operate/daemons_ready.json"),
    opt("execution", "String", "this execution", "another execution's control folder (a rollback's snapshot)"),
    opt("write_code", "String", "<PHASE>-B3", "the blocker code of a failed write"),
    opt("secret_code", "String", "<PHASE>-B3", "the blocker code of a secret refused in the payload"),
];

fn emit_options(host: &Host, options: rhai::Map) -> Outcome<EmitOptions> {
    let _ = host;
    let o = Options::new(options, "emit_snapshot", EMIT_OPTIONS)?;
    let mut out = EmitOptions {
        write_code: o.text("write_code")?,
        secret_code: o.text("secret_code")?,
        ..EmitOptions::default()
    };
    let scope = o.text("scope")?.unwrap_or_else(|| "control".to_owned());
    let path = o.text("path")?;
    let execution = o.text("execution")?;
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
    let records = host.artifacts();
    let value = crate::host::json::record(&records);
    Ok(from_json(&value))
}

/// The rows of evidence.
pub const PRIMITIVES: &[Primitive] = &[
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
        options: &[],
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
        doc: "emit_snapshot with options: where the snapshot goes and the blocker codes of a \
              failed write or a secret refusal.",
        example: concat!(m4_entry_example!(), "let r = emit_snapshot(\"example_run_scoped\", #{ ok: true }, #{ scope: \"run\", path: \"operate/example\", write_code: \"M4H-B2\" });\nprint(r.uri.ends_with(\"/operate/example.json\"));"),
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::BadArtifactName, ErrorCode::BadArtifactPath, ErrorCode::BadPayload, ErrorCode::BadOption, ErrorCode::NoEntry, ErrorCode::NoEnv],
        options: EMIT_OPTIONS,
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
        options: EMIT_OPTIONS,
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
        failure: Failure::Never,
        together: false,
        changes_world: false,
        aws: &[],
        call: artifacts,
    },
];
