//! `m4host report EXECUTION --env FILE [--svg FILE]`: reads one execution's evidence back from
//! durable storage, checks every artifact against the hash chain and the local mirror, prints the
//! phases, blockers, evidence and bring-up timeline, and draws the timeline as SVG.
//!
//! Exit status: 0 every artifact verifies; 1 evidence changed, missing, unreadable or absent (or
//! S3 cannot be listed); 2 usage (no environment file, not an execution id).

use crate::command::cli::ReportArgs;
use crate::error::{Error, Result, EXIT_FAULT};
use crate::host::evidence_review::{ExecutionEvidence, LocalCopy};
use crate::host::{timeline, Host, Mode};
use crate::rules::execution_id::{ExecutionId, GRAMMAR};
use serde_json::Value;
use std::collections::BTreeMap;

pub fn run(args: ReportArgs) -> Result<i32> {
    let execution = ExecutionId::parse(&args.execution).ok_or_else(|| {
        Error::usage(
            format!("`{}` is not an execution id", args.execution),
            format!("an execution id is {GRAMMAR}; `--output json` of a run prints it"),
        )
    })?;
    if let Some(path) = &args.svg {
        crate::command::run::output_file("--svg", &path.display().to_string())?;
    }
    let config = crate::command::run::load_env(&args.env)?.ok_or_else(|| {
        Error::usage(
            "report needs the environment the execution ran in",
            "pass --env FILE (or set M4HOST_ENV)",
        )
    })?;
    let host = Host::new(
        Some(config),
        Mode::default(),
        BTreeMap::new(),
        args.evidence_dir,
    )?;
    host.without_tape();
    let evidence = host.read_execution(&execution)?;
    let lanes = timeline::lanes(evidence.documents().map(|(_, d)| d));
    crate::out::text(&render(&evidence));
    crate::out::text(&timeline::text(&lanes));
    let problems = evidence.problems();
    if let Some(path) = &args.svg {
        let title = format!(
            "{} bring-up timeline ({})",
            evidence.execution_id, evidence.environment
        );
        crate::infra::evidence::write_local_replacing(
            path,
            timeline::svg(&lanes, &title).as_bytes(),
        )
        .map_err(Error::fault)?;
        crate::out::line(&format!("timeline drawn to {}", path.display()));
    }
    if problems.is_empty() {
        crate::out::line(&format!(
            "result: all {} artifact(s) verify",
            evidence.artifacts.len()
        ));
        Ok(0)
    } else {
        crate::out::line(&format!(
            "result: the evidence does not verify ({} problem(s)):",
            problems.len()
        ));
        for p in &problems {
            crate::out::line(&format!("  {p}"));
        }
        Ok(EXIT_FAULT)
    }
}

fn field<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Header, phases, blockers and evidence as text.
fn render(evidence: &ExecutionEvidence) -> String {
    let mut out = format!(
        "execution  {}  (environment {})\nevidence   {}  {} artifact(s)\n",
        evidence.execution_id,
        evidence.environment,
        evidence.location,
        evidence.artifacts.len()
    );
    if let Some(p) = evidence
        .documents()
        .find_map(|(_, d)| d.get("provenance").filter(|p| p.is_object()))
    {
        out.push_str(&format!(
            "written by m4host {} (rhai {})\n",
            field(p, "m4host_version"),
            field(p, "rhai_version")
        ));
    }
    for (name, doc) in evidence.documents() {
        if let Some(verdict) = doc.get("verdict").and_then(Value::as_str) {
            out.push_str(&format!("verdict    {verdict}  (from {name})\n"));
        }
    }
    out.push_str("\nphases\n");
    let mut blockers = Vec::new();
    for (name, doc) in evidence.documents() {
        let phase = field(doc, "phase");
        if phase.is_empty() {
            continue;
        }
        let found = doc
            .get("blockers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pass = match doc.get("overall_pass").and_then(Value::as_bool) {
            Some(true) => "pass",
            Some(false) => "HOLD",
            None => "-",
        };
        out.push_str(&format!(
            "  {phase:<6} {pass:<5} {:>2} blocker(s)  {}  {name}\n",
            found.len(),
            field(doc, "captured_at_utc")
        ));
        for b in found {
            blockers.push(format!(
                "  {:<7} {phase:<6} {}",
                field(&b, "code"),
                field(&b, "reason")
            ));
        }
    }
    if !blockers.is_empty() {
        out.push_str("\nblockers\n");
        for b in blockers {
            out.push_str(&b);
            out.push('\n');
        }
    }
    out.push_str("\nevidence (each artifact's sha256 against the chain of the later ones, and the local mirror)\n");
    for a in &evidence.artifacts {
        let state = if a.problems.is_empty() {
            "verified"
        } else {
            "PROBLEM"
        };
        let sha = a.sha256.as_deref().map_or("-", |s| &s[..12.min(s.len())]);
        let mut how = Vec::new();
        if !a.vouched_by.is_empty() {
            how.push(format!("chain of {} later artifact(s)", a.vouched_by.len()));
        }
        match a.local {
            LocalCopy::Same => how.push("local copy identical".into()),
            LocalCopy::Differs { .. } => how.push("local copy DIFFERS".into()),
            LocalCopy::Absent => {}
        }
        if how.is_empty() && a.problems.is_empty() {
            how.push("the last of the chain: S3's checksum only".into());
        }
        out.push_str(&format!(
            "  {state:<9} {:<40} {sha}  {}\n",
            a.name,
            how.join(", ")
        ));
    }
    out.push_str(&tapes(evidence));
    out.push('\n');
    out
}

/// The tapes beside the local evidence, each with its SHA-256 (what `m4host replay` takes), or
/// why there is none here.
fn tapes(evidence: &ExecutionEvidence) -> String {
    if evidence.tapes.is_empty() {
        return "\ntape       none on this machine (a tape stays beside the local evidence of the machine that ran)\n"
            .to_owned();
    }
    let mut out =
        String::from("\ntape (the world's answers, replayable offline: m4host replay TAPE)\n");
    for t in &evidence.tapes {
        let mut notes = Vec::new();
        if t.partial {
            notes.push("partial: the run never ended, whole phases up to its stop".to_owned());
        }
        match &t.execution_id {
            Some(id) if *id == evidence.execution_id => {}
            Some(id) => notes.push(format!("its header names {id}, not this execution")),
            None => notes.push("no tape header: not a tape m4host can replay".to_owned()),
        }
        out.push_str(&format!(
            "  {}  sha256 {}  {} bytes{}\n",
            t.path.display(),
            t.sha256,
            t.bytes,
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            }
        ));
    }
    out
}
