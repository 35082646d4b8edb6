//! What the operator sees: script output, one line per phase, the final verdict block, the JSON
//! object of `--output json`, and the exit status that follows from the ledger (SPEC §2).
//!
//! Every line passes through the vault's redaction before it is written.

use crate::host::report_files::ReportKind;
use crate::host::Host;
use crate::host::BLOCK_MARKER;
use crate::rules::gate::{Ledger, PhaseRecord, PhaseStatus};
use crate::sync::Locked;
use rhai::EvalAltResult;
use std::io::Write;
use std::path::PathBuf;

pub const EXIT_ADVANCE: i32 = 0;
pub const EXIT_HOLD: i32 = 3;

/// Where script `print` goes: stdout, except in JSON mode where stdout is kept for the result.
pub fn script_print(host: &Host, text: &str) {
    if host.mode.json {
        crate::out::err_line(text);
    } else {
        crate::out::line(text);
        let _ = std::io::stdout().flush();
    }
}

/// How a finished phase is said, on its line and in the REPL's `:phases`: the ledger's word, and
/// for a phase that passed but published a snapshot that is not a pass (a rehearsal that could
/// not prove its point), the snapshot's word beside it.
pub fn status_words(host: &Host, record: &PhaseRecord) -> String {
    match record.status {
        PhaseStatus::Pass if host.unproven.locked().contains(&record.phase) => {
            if host.plan() {
                "PLAN  (rehearsed, not proven: its snapshot says overall_pass false)".to_owned()
            } else {
                "PASS  (no blocker, but its snapshot says overall_pass false)".to_owned()
            }
        }
        PhaseStatus::Pass => "PASS".to_owned(),
        PhaseStatus::Hold => format!("HOLD  {}", record.blocker_codes.join(" ")),
        PhaseStatus::Skip => "SKIP  (the run holds; no action taken)".to_owned(),
    }
}

/// One line per finished phase.
pub fn phase_line(host: &Host, record: &PhaseRecord) {
    let status = status_words(host, record);
    let line = format!("{:<6} {}  ({} ms)", record.phase, status, record.elapsed_ms);
    script_print(host, &host.vault.redact(&line));
}

fn position_text(pos: rhai::Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

/// One readable sentence for a Rhai error, using our error maps where the payload is one.
/// The catchable code of an error nobody caught (`#{code, message, help}`), through the calls
/// and modules it passed.
pub fn uncaught_code(err: &EvalAltResult) -> Option<String> {
    match err {
        EvalAltResult::ErrorRuntime(payload, _) if payload.is_map() => {
            let map = payload.clone().cast::<rhai::Map>();
            (!map.contains_key(BLOCK_MARKER))
                .then(|| map.get("code").map(|c| c.to_string()))
                .flatten()
        }
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => uncaught_code(inner),
        _ => None,
    }
}

pub fn describe_rhai_error(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(payload, pos) | EvalAltResult::ErrorTerminated(payload, pos)
            if payload.is_map() =>
        {
            let map = payload.clone().cast::<rhai::Map>();
            let get = |k: &str| map.get(k).map(|v| v.to_string()).unwrap_or_default();
            if map.contains_key(BLOCK_MARKER) {
                format!("blocked {}: {}{}", get("code"), get("reason"), position_text(*pos))
            } else if map.contains_key("code") && map.contains_key("message") {
                let help = get("help");
                let help = if help.is_empty() { String::new() } else { format!("; help: {help}") };
                format!("{}: {}{}{help}", get("code"), get("message"), position_text(*pos))
            } else {
                err.to_string()
            }
        }
        EvalAltResult::ErrorInFunctionCall(name, source, inner, _) => {
            let source = if source.is_empty() { String::new() } else { format!(" in {source}") };
            format!("{} (in function `{name}`{source})", describe_rhai_error(inner))
        }
        EvalAltResult::ErrorInModule(name, inner, _) => {
            format!("{} (in module `{name}`)", describe_rhai_error(inner))
        }
        EvalAltResult::ErrorTooManyOperations(pos) => format!(
            "the script exceeded its operation limit{} (a runaway loop?); raise [limits] max_operations \
             in the environment file if the work is real",
            position_text(*pos)
        ),
        EvalAltResult::ErrorStackOverflow(pos) => format!(
            "the script called functions deeper than its limit{} (endless recursion?); [limits] \
             max_call_levels in the environment file bounds it (at most {})",
            position_text(*pos),
            crate::config::MAX_CALL_LEVELS
        ),
        EvalAltResult::ErrorDataTooLarge(what, pos) => format!(
            "{what} exceeds the script's size limits{}; [limits] max_string_size, max_array_size \
             and max_map_size in the environment file bound them",
            position_text(*pos)
        ),
        EvalAltResult::ErrorRuntime(payload, pos) if payload.is::<crate::rules::secret::Secret>() => {
            format!("a Secret was thrown{}: {payload}", position_text(*pos))
        }
        other => other.to_string(),
    }
}

/// The version of the `--output json` summary's shape (docs/run-summary.schema.json): raised when
/// a key is removed or changes meaning, not when one is added.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// True when the error is the termination a block caused.
pub fn is_block(err: &EvalAltResult) -> bool {
    match err {
        EvalAltResult::ErrorTerminated(payload, _) => {
            payload.is_map()
                && payload
                    .clone()
                    .cast::<rhai::Map>()
                    .contains_key(BLOCK_MARKER)
        }
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => is_block(inner),
        _ => false,
    }
}

/// The exit status the ledger and any fault add up to (SPEC §2). A blocker always holds; an
/// explicit advance verdict is the only 0 for a script that used a gate.
pub fn exit_status(ledger: &Ledger, faulted: bool) -> i32 {
    if !ledger.blockers().is_empty() {
        return EXIT_HOLD;
    }
    match &ledger.verdict() {
        Some(v) if !v.advance => EXIT_HOLD,
        Some(_) if faulted => crate::error::EXIT_FAULT,
        Some(_) => EXIT_ADVANCE,
        None if faulted || ledger.gate_used() => crate::error::EXIT_FAULT,
        None => EXIT_ADVANCE,
    }
}

/// The final report of a run: the verdict block (text) or the JSON object (last stdout line),
/// and the report files asked for with `--report`, all from one summary. A report that cannot
/// be written is an error on stderr and makes an advance exit 1: CI that asked for it must not
/// pass without it.
pub fn finish(
    host: &Host,
    fault: Option<String>,
    elapsed_ms: u128,
    reports: &[(ReportKind, PathBuf)],
) -> i32 {
    // Every durable write is proven before the run says what it decided.
    host.settle_checks(crate::host::settle::Settle::All);
    let tape = host.finish_tape().map(|path| {
        let bytes = std::fs::read(&path).unwrap_or_default();
        serde_json::json!({
            "path": path.display().to_string(),
            "sha256": crate::infra::evidence::sha256_hex(&bytes),
            "bytes": bytes.len(),
            // What recording cost the run: writing, redacting, learning secrets for the tape.
            "recording_ms": host.tape_spent().as_millis() as u64,
        })
    });
    let ledger = host.ledger();
    let mut status = exit_status(&ledger, fault.is_some());
    let fault = fault.map(|f| host.vault.redact(&f));
    if let Some(f) = &fault {
        crate::out::err_line(&format!("error[E-SCRIPT]: {f}"));
    }
    let no_answer = ledger.verdict().is_none()
        && ledger.blockers().is_empty()
        && ledger.gate_used()
        && fault.is_none();
    if no_answer {
        crate::out::err_line(
            "error[E-NO-VERDICT]: the script used gates but ended without a verdict; \
             a runbook ends ADVANCE only through verdict(...)",
        );
    }
    let artifacts = host.artifacts.locked().clone();
    let calls = host.calls.snapshot();
    let run_id = host.known_platform_run_id();
    // `<prefix>_execution_id` beside `execution_id`, as the runbook's snapshots name it:
    // `m4_execution_id` for M4's consumers, `m5_execution_id` for M5's.
    let prefixed_key = crate::rules::execution_id::field_name(&host.clock.execution_id);
    let summary = |status: i32| {
        let mut value = serde_json::json!({
            "verdict": ledger.verdict().as_ref().map(|v| v.verdict.clone()),
            "platform_run_id": run_id,
            "execution_id": host.clock.execution_id,
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "m4host_version": env!("CARGO_PKG_VERSION"),
            "blockers": ledger.blockers(),
            "phases": ledger.phases(),
            "artifacts": artifacts,
            "api_calls": calls,
            "elapsed_ms": elapsed_ms as u64,
            "plan": host.plan(),
            "would_do": *host.would_do.locked(),
            "exit_status": status,
            "error": fault,
            "tape": tape,
        });
        if let Some(replayed) = host.replayed() {
            value["replay"] = replayed;
        }
        value[prefixed_key.as_str()] = host.clock.execution_id.clone().into();
        crate::host::json::sorted(&value)
    };
    for (kind, path) in reports {
        let text = host.vault.redact(&kind.render(&summary(status)));
        if let Err(why) = crate::infra::evidence::write_local_replacing(path, text.as_bytes()) {
            crate::out::err_line(&format!("error[E-REPORT]: {why}"));
            if status == EXIT_ADVANCE {
                status = crate::error::EXIT_FAULT;
            }
        }
    }
    if host.mode.json {
        let line = crate::host::json::record(&summary(status)).to_string();
        crate::out::line(&host.vault.redact(&line));
        return status;
    }
    if !(ledger.gate_used() || !artifacts.is_empty() || fault.is_some()) {
        return status;
    }
    let mut out = String::new();
    out.push_str("──── result ────\n");
    let verdict = match (&ledger.verdict(), status) {
        (Some(v), _) => v.verdict.clone(),
        (None, EXIT_HOLD) => "HOLD (blockers, no verdict decided)".to_owned(),
        (None, _) => "none".to_owned(),
    };
    out.push_str(&format!("verdict    {verdict}\n"));
    out.push_str(&format!("execution  {}\n", host.clock.execution_id));
    if let Some(replayed) = host.replayed() {
        let past = replayed["extrapolated"].as_u64().unwrap_or(0);
        let missed = replayed["not_on_tape"].as_u64().unwrap_or(0);
        let mut said = String::from("offline, from the tape");
        if past > 0 {
            said.push_str(&format!(
                "; {past} answer(s) past the recording: the world was assumed unchanged"
            ));
        }
        if missed > 0 {
            said.push_str(&format!(
                "; {missed} question(s) not on the tape (NOT_ON_TAPE): the recorded run never asked them"
            ));
        }
        out.push_str(&format!("replay     {said}\n"));
    }
    if let Some(id) = &run_id {
        out.push_str(&format!("run        {id}\n"));
    }
    if ledger.blockers().is_empty() {
        out.push_str("blockers   none\n");
    } else {
        for (i, b) in ledger.blockers().iter().enumerate() {
            let lead = if i == 0 { "blockers  " } else { "          " };
            out.push_str(&format!("{lead} {} [{}] {}\n", b.code, b.phase, b.reason));
        }
    }
    if !artifacts.is_empty() {
        let local_dir = host
            .evidence_root
            .as_ref()
            .map(|r| r.join(&host.clock.stamp).display().to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "evidence   {} artifact(s) in {local_dir}\n",
            artifacts.len()
        ));
        for (name, record) in &artifacts {
            let uri = match (record.uri.is_empty(), host.replaying()) {
                (false, _) => record.uri.as_str(),
                (true, true) => "(replay: scratch only)",
                (true, false) => "(plan: local only)",
            };
            out.push_str(&format!("           {name}: {uri}\n"));
        }
    }
    if let Some(t) = &tape {
        out.push_str(&format!(
            "tape       {} (sha256 {}; `m4host replay` runs it again offline)\n",
            t["path"].as_str().unwrap_or_default(),
            t["sha256"].as_str().unwrap_or_default()
        ));
    }
    let would = host.would_do.locked();
    for w in would.iter() {
        out.push_str(&format!("plan       {w}\n"));
    }
    let calls_text: Vec<String> = calls.iter().map(|(s, n)| format!("{s}={n}")).collect();
    out.push_str(&format!(
        "api calls  {}\nelapsed    {} ms\n",
        if calls_text.is_empty() {
            "none".to_owned()
        } else {
            calls_text.join(" ")
        },
        elapsed_ms
    ));
    crate::out::text(&host.vault.redact(&out));
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::gate::PredicateValue;
    use std::collections::BTreeMap;

    #[test]
    fn exit_statuses() {
        let mut l = Ledger::default();
        assert_eq!(exit_status(&l, false), 0, "plain script");
        assert_eq!(exit_status(&l, true), 1, "script fault");
        l.use_gate();
        assert_eq!(
            exit_status(&l, false),
            1,
            "gates used, no verdict: no answer is not success"
        );
        let preds = BTreeMap::from([("a".to_owned(), PredicateValue::Bool(true))]);
        l.decide_verdict(preds.clone(), "ADV", "HOLD");
        assert_eq!(exit_status(&l, false), 0);
        l.record("M4A-B1", "x");
        assert_eq!(
            exit_status(&l, false),
            3,
            "a blocker after an advance verdict still holds"
        );
        let mut l = Ledger::default();
        l.decide_verdict(BTreeMap::new(), "ADV", "HOLD");
        assert_eq!(exit_status(&l, false), 3);
    }
}
