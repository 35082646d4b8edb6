//! Primitives of phases and gates: blockers (`block`, `hold`), skipping, the phase a closure runs
//! as (`run_phase`, whose lifecycle `host::phase` owns) and the verdict.

use super::{map_of, strings, Args, Failure, Primitive, Shape, Ty};
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::gate::{self, PredicateValue};
use rhai::{Dynamic, NativeCallContext};
use std::collections::BTreeMap;

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
    Ok(from_json(&crate::host::json::record(&records)))
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
    Ok(from_json(&crate::host::json::record(&decided)))
}

/// The rows of phases and gates.
pub const PRIMITIVES: &[Primitive] = &[
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
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
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: verdict,
    },
];
