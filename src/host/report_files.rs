//! Report files for CI and tickets (`--report junit=FILE`, `--report markdown=FILE`), rendered
//! from the run summary — the same object `--output json` prints, whose schema is
//! `docs/run-summary.schema.json` — so a report never says what the summary does not.
//!
//! JUnit: one test case per phase (a blocker is a `<failure>` with its code as type and
//! `CODE: reason` as message; a skipped phase is `<skipped>`), one for the verdict, and one
//! named `run` for blockers outside any phase (an interruption) and a script fault (`<error>`).

use serde_json::Value;
use std::fmt::Write;

/// The kinds of report a run can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Junit,
    Markdown,
}

impl ReportKind {
    pub const NAMES: &'static [&'static str] = &["junit", "markdown"];

    pub fn parse(name: &str) -> Option<ReportKind> {
        match name {
            "junit" => Some(ReportKind::Junit),
            "markdown" => Some(ReportKind::Markdown),
            _ => None,
        }
    }

    pub fn render(self, summary: &Value) -> String {
        match self {
            ReportKind::Junit => junit(summary),
            ReportKind::Markdown => markdown(summary),
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

/// XML character data and attribute values: the five escapes, and characters XML 1.0 forbids
/// dropped (a reason may carry a server's control bytes).
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: &Value) -> String {
    format!("{:.3}", ms.as_u64().unwrap_or(0) as f64 / 1000.0)
}

fn junit(summary: &Value) -> String {
    let execution = text(summary, "execution_id");
    let phases = list(summary, "phases");
    let blockers = list(summary, "blockers");
    let phase_ids: Vec<&str> = phases.iter().map(|p| text(p, "phase")).collect();
    let mut cases = String::new();
    let (mut failures, mut errors, mut skipped, mut tests) = (0, 0, 0, 0);
    let mut case = |name: &str, ms: &Value, body: &str| {
        tests += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"m4host.{}\" name=\"{}\" time=\"{}\">{body}</testcase>",
            xml(execution),
            xml(name),
            seconds(ms)
        );
    };
    let failure = |b: &Value| {
        format!(
            "\n      <failure type=\"{}\" message=\"{}: {}\">{}</failure>",
            xml(text(b, "code")),
            xml(text(b, "code")),
            xml(text(b, "reason")),
            xml(text(b, "reason"))
        )
    };
    for p in &phases {
        let id = text(p, "phase");
        let mut body = String::new();
        if text(p, "status") == "SKIP" {
            skipped += 1;
            body.push_str("\n      <skipped message=\"not run: an earlier phase held\"/>");
        }
        for b in blockers.iter().filter(|b| text(b, "phase") == id) {
            failures += 1;
            body.push_str(&failure(b));
        }
        if !body.is_empty() {
            body.push_str("\n    ");
        }
        case(id, &p["elapsed_ms"], &body);
    }
    // Blockers outside every phase (an interruption, a check before the first phase), and a
    // script fault, belong to the run itself.
    let mut body = String::new();
    for b in blockers
        .iter()
        .filter(|b| !phase_ids.contains(&text(b, "phase")))
    {
        failures += 1;
        body.push_str(&failure(b));
    }
    if let Some(fault) = summary["error"].as_str() {
        errors += 1;
        let _ = write!(
            body,
            "\n      <error type=\"SCRIPT-FAULT\" message=\"{}\">{}</error>",
            xml(fault),
            xml(fault)
        );
    }
    if !body.is_empty() {
        body.push_str("\n    ");
    }
    case("run", &summary["elapsed_ms"], &body);
    let verdict = summary["verdict"].as_str();
    let advanced = summary["exit_status"] == 0 && verdict.is_some();
    let body = if advanced {
        String::new()
    } else {
        failures += 1;
        format!(
            "\n      <failure type=\"VERDICT\" message=\"{}\">exit status {}</failure>\n    ",
            xml(verdict.unwrap_or("no verdict decided")),
            summary["exit_status"]
        )
    };
    case(
        &format!("verdict {}", verdict.unwrap_or("none")),
        &Value::from(0),
        &body,
    );
    let mut properties = String::new();
    for key in [
        "verdict",
        "execution_id",
        "platform_run_id",
        "m4host_version",
        "exit_status",
        "plan",
    ] {
        let value = match &summary[key] {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let _ = write!(
            properties,
            "\n      <property name=\"{key}\" value=\"{}\"/>",
            xml(&value)
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"m4host\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">\n  \
         <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">\n    \
         <properties>{properties}\n    </properties>\n{cases}  </testsuite>\n</testsuites>\n",
        time = seconds(&summary["elapsed_ms"]),
        name = xml(execution),
    )
}

/// A Markdown table cell: pipes escaped, line breaks folded.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown(summary: &Value) -> String {
    let mut out = String::new();
    let verdict = summary["verdict"].as_str().unwrap_or("no verdict");
    let _ = writeln!(
        out,
        "# {} — {verdict}\n",
        cell(text(summary, "execution_id"))
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| verdict | **{}** |", cell(verdict));
    let _ = writeln!(out, "| exit status | {} |", summary["exit_status"]);
    if let Some(id) = summary["platform_run_id"].as_str() {
        let _ = writeln!(out, "| platform run | `{}` |", cell(id));
    }
    let _ = writeln!(
        out,
        "| m4host | {} |\n| elapsed | {} ms |",
        cell(text(summary, "m4host_version")),
        summary["elapsed_ms"]
    );
    if summary["plan"] == true {
        let _ = writeln!(out, "| mode | plan (nothing changed) |");
    }
    let _ = writeln!(
        out,
        "\n## Phases\n\n| Phase | Status | Blockers | Elapsed |\n|---|---|---|---|"
    );
    for p in list(summary, "phases") {
        let codes: Vec<String> = list(&p, "blocker_codes")
            .iter()
            .map(|c| format!("`{}`", cell(c.as_str().unwrap_or(""))))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ms |",
            cell(text(&p, "phase")),
            text(&p, "status"),
            codes.join(", "),
            p["elapsed_ms"]
        );
    }
    let blockers = list(summary, "blockers");
    let _ = writeln!(out, "\n## Blockers\n");
    if blockers.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(out, "| Code | Phase | Reason |\n|---|---|---|");
        for b in &blockers {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                cell(text(b, "code")),
                cell(text(b, "phase")),
                cell(text(b, "reason"))
            );
        }
    }
    if let Some(fault) = summary["error"].as_str() {
        let _ = writeln!(out, "\n## Script fault\n\n```\n{fault}\n```");
    }
    let _ = writeln!(
        out,
        "\n## Evidence\n\n| Artifact | Durable URI | SHA-256 |\n|---|---|---|"
    );
    if let Some(artifacts) = summary["artifacts"].as_object() {
        for (name, a) in artifacts {
            let uri = match text(a, "uri") {
                "" => "(plan: local only)".to_owned(),
                uri => format!("`{}`", cell(uri)),
            };
            let _ = writeln!(
                out,
                "| {} | {uri} | `{}` |",
                cell(name),
                cell(text(a, "sha256"))
            );
        }
    }
    let would = list(summary, "would_do");
    if !would.is_empty() {
        let _ = writeln!(out, "\n## Would do (plan)\n");
        for w in would {
            let _ = writeln!(out, "- {}", w.as_str().unwrap_or(""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn held() -> Value {
        json!({
            "verdict": "HOLD_M4", "execution_id": "m4_20260214T121004Z", "platform_run_id": "platform_x",
            "m4host_version": "0.1.0", "exit_status": 3, "elapsed_ms": 1500, "plan": false, "error": null,
            "phases": [
                {"phase": "M4.A", "status": "PASS", "blocker_codes": [], "elapsed_ms": 10},
                {"phase": "M4.B", "status": "HOLD", "blocker_codes": ["M4B-B2"], "elapsed_ms": 20},
                {"phase": "M4.C", "status": "SKIP", "blocker_codes": [], "elapsed_ms": 0}],
            "blockers": [
                {"code": "M4B-B2", "phase": "M4.B", "reason": "svc <a> & \"b\" | missing"},
                {"code": "RUN-INTERRUPTED", "phase": "", "reason": "SIGTERM"}],
            "artifacts": {"m4_a": {"local": "/x/m4_a.json", "uri": "s3://b/m4_a.json", "sha256": "ab12"}},
            "would_do": []
        })
    }

    #[test]
    fn junit_has_a_case_per_phase_and_a_failure_per_blocker_escaped() {
        let xml = junit(&held());
        assert!(
            xml.contains(r#"tests="5" failures="3" errors="0" skipped="1""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<failure type="M4B-B2" message="M4B-B2: svc &lt;a&gt; &amp; &quot;b&quot; | missing">"#), "{xml}");
        assert!(xml.contains(r#"name="run""#) && xml.contains(r#"type="RUN-INTERRUPTED""#));
        assert!(xml.contains(r#"name="M4.C" time="0.000">"#) && xml.contains("<skipped"));
        assert!(xml.contains(r#"name="verdict HOLD_M4""#));
    }

    #[test]
    fn an_advance_has_no_failures() {
        let mut s = held();
        s["verdict"] = json!("ADVANCE_TO_M5");
        s["exit_status"] = json!(0);
        s["blockers"] = json!([]);
        s["phases"][1]["status"] = json!("PASS");
        s["phases"][2]["status"] = json!("PASS");
        let xml = junit(&s);
        assert!(
            xml.contains(r#"failures="0" errors="0" skipped="0""#),
            "{xml}"
        );
    }

    #[test]
    fn markdown_tables_escape_pipes_and_name_every_artifact() {
        let md = markdown(&held());
        assert!(md.starts_with("# m4_20260214T121004Z — HOLD_M4\n"));
        assert!(md.contains("| M4.B | HOLD | `M4B-B2` | 20 ms |"), "{md}");
        assert!(
            md.contains(r#"| `M4B-B2` | M4.B | svc <a> & "b" \| missing |"#),
            "{md}"
        );
        assert!(
            md.contains("| m4_a | `s3://b/m4_a.json` | `ab12` |"),
            "{md}"
        );
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        assert_eq!(xml("a\u{1}b\tc"), "ab\tc");
    }
}
