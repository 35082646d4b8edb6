//! Report files for CI and tickets (issue 16): `--report junit=FILE` read back by a real JUnit
//! consumer (Python's junitparser), `--report markdown=FILE`, both agreeing with the JSON summary
//! of the same run, for an ADVANCE and a HOLD; a bad `--report` is a usage error before anything
//! runs.

use crate::harness::{assert_hold, Run, Tenant};
use serde_json::Value;

/// The JUnit file as junitparser reads it: the suites' counters and every case's results.
fn junit(path: &std::path::Path) -> Value {
    const READ: &str = r#"
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = [{"name": c.name, "classname": c.classname, "time": c.time,
              "results": [{"kind": type(r).__name__, "type": r.type, "message": r.message, "text": r.text}
                          for r in c.result]} for c in suite]
    suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                   "errors": suite.errors, "skipped": suite.skipped, "cases": cases,
                   "properties": {p.name: p.value for p in suite.properties()}})
print(json.dumps(suites))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", READ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let suites: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(suites.as_array().unwrap().len(), 1, "{suites}");
    suites[0].clone()
}

fn report_args(t: &Tenant) -> [String; 4] {
    [
        "--report".into(),
        format!("junit={}", t.path("m4.xml").display()),
        "--report".into(),
        format!("markdown={}", t.path("m4.md").display()),
    ]
}

fn results_of<'a>(suite: &'a Value, name: &str) -> &'a Vec<Value> {
    suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no test case {name}: {suite}"))["results"]
        .as_array()
        .unwrap()
}

#[test]
fn an_advance_reports_every_phase_passed_and_every_artifact() {
    let t = Tenant::new();
    let args = report_args(&t);
    let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    out.status(0);
    let summary = out.json();
    let suite = junit(&t.path("m4.xml"));
    let phases: Vec<&str> = summary["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    let cases: Vec<&str> = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let mut expected = phases.clone();
    expected.extend(["run", "verdict ADVANCE_TO_M5"]);
    assert_eq!(cases, expected);
    assert_eq!(suite["tests"], cases.len());
    assert_eq!(
        (&suite["failures"], &suite["errors"]),
        (&0.into(), &0.into())
    );
    for case in suite["cases"].as_array().unwrap() {
        assert!(case["results"].as_array().unwrap().is_empty(), "{case}");
    }
    assert_eq!(suite["name"], summary["execution_id"]);
    assert_eq!(suite["properties"]["verdict"], "ADVANCE_TO_M5");
    assert_eq!(
        suite["properties"]["platform_run_id"],
        summary["platform_run_id"]
    );

    let md = std::fs::read_to_string(t.path("m4.md")).unwrap();
    assert!(md.starts_with(&format!(
        "# {} — ADVANCE_TO_M5\n",
        summary["execution_id"].as_str().unwrap()
    )));
    for phase in &phases {
        assert!(md.contains(&format!("| {phase} | PASS |")), "{phase}: {md}");
    }
    for (name, a) in summary["artifacts"].as_object().unwrap() {
        let row = format!(
            "| {name} | `{}` | `{}` |",
            a["uri"].as_str().unwrap(),
            a["sha256"].as_str().unwrap()
        );
        assert!(md.contains(&row), "{row} missing: {md}");
    }
    assert!(md.contains("## Blockers\n\nNone."), "{md}");
}

#[test]
fn a_hold_reports_its_blocker_as_a_failure_and_the_later_phases_skipped() {
    let t = Tenant::new();
    t.edit(
        "generated/terraform_outputs.json",
        "\"127.0.0.1:5432\"",
        "\"127.0.0.1:5999\"",
    );
    let args = report_args(&t);
    let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_hold(&out, "M4D-B1", "M4.D");
    let suite = junit(&t.path("m4.xml"));
    let d = results_of(&suite, "M4.D");
    let failure = d
        .iter()
        .find(|r| r["kind"] == "Failure" && r["type"] == "M4D-B1")
        .unwrap_or_else(|| panic!("{d:?}"));
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.starts_with("M4D-B1: database: 127.0.0.1:5999"),
        "{message}"
    );
    for later in ["M4.E", "M4.F", "M4.G"] {
        let r = results_of(&suite, later);
        assert_eq!(r.len(), 1, "{later}: {r:?}");
        assert_eq!(r[0]["kind"], "Skipped", "{later}");
    }
    let verdict = results_of(&suite, "verdict HOLD_M4");
    assert_eq!(verdict[0]["kind"], "Failure");
    let blockers = out.json()["blockers"].as_array().unwrap().len();
    assert_eq!(suite["failures"], blockers + 1, "{suite}");
    assert_eq!(suite["skipped"], 5, "E, F, G, H and J skipped: {suite}");

    let md = std::fs::read_to_string(t.path("m4.md")).unwrap();
    assert!(md.contains("| M4.D | HOLD | `M4D-B1`"), "{md}");
    assert!(
        md.contains("| `M4D-B1` | M4.D | database: 127.0.0.1:5999"),
        "{md}"
    );
}

#[test]
fn a_bad_report_argument_is_a_usage_error_before_anything_runs() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello");
    let script = format!("{hello}/hello.rhai");
    let env = format!("{hello}/m4host.toml");
    for (report, says) in [
        ("xml=out.xml", "no report kind `xml`"),
        ("junit", "expected KIND=FILE"),
        (
            "junit=/no/such/folder/m4.xml",
            "is not a file in an existing folder",
        ),
    ] {
        let out = Run::new()
            .args(["run", &script, "--env", &env, "--report", report])
            .run();
        out.status(2).stderr_has(says);
        assert!(out.stdout.is_empty(), "the script ran: {}", out.stdout);
    }
}
