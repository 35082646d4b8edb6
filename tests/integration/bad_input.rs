//! Bad input never crashes, hangs or leaks (issue #28): each row is an input as an operator (or a
//! hostile file) would give it, run through the binary within a bound; the row says the exit
//! status, words the one error must name and words it must never contain (a secret, the line of
//! a file given by mistake). Dead endpoints only: nothing here needs the substrate to answer.

use crate::harness::{Env, Outcome, Run};
use std::time::{Duration, Instant};

/// A secret literal as an operator might paste it into a registry.
const SECRET: &str = "pl41n-s3cr3t-literal";

struct Case {
    what: &'static str,
    /// Files to write (relative path, content) over the base environment.
    files: Vec<(&'static str, String)>,
    /// Text appended to the environment file.
    env_tail: &'static str,
    /// A line added to the environment file's `[limits]`.
    limits: &'static str,
    /// Arguments after the binary (`{env}` and `{dir}` are replaced).
    args: Vec<&'static str>,
    status: i32,
    says: Vec<&'static str>,
    never: Vec<&'static str>,
}

fn case(what: &'static str) -> Case {
    Case {
        what,
        files: Vec::new(),
        env_tail: "",
        limits: "",
        args: vec!["run", "{dir}/scripts/main.rhai", "--env", "{env}"],
        status: 2,
        says: Vec::new(),
        never: vec!["panicked", "RUST_BACKTRACE", SECRET],
    }
}

fn run_case(c: &Case) -> Outcome {
    let env = Env::files_only();
    let dead = env
        .env_toml("http://127.0.0.1:9")
        .replace("connect_timeout_ms = 500", "connect_timeout_ms = 200");
    let dead = dead.replace("[limits]\n", &format!("[limits]\n{}\n", c.limits));
    env.write("m4host.toml", &format!("{dead}{}", c.env_tail));
    env.write("scripts/main.rhai", "print(\"ran\");\n");
    for (rel, content) in &c.files {
        env.write(rel, content);
    }
    let dir = env.dir.path().display().to_string();
    let envf = env.path("m4host.toml").display().to_string();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| a.replace("{dir}", &dir).replace("{env}", &envf))
        .collect();
    let started = Instant::now();
    let out = Run::new().args(&args).cwd(env.dir.path()).run();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{}: took {:?}",
        c.what,
        started.elapsed()
    );
    out
}

/// A usage error found before any work leaves no execution behind: no folder, no tape.
#[test]
fn a_usage_error_before_any_phase_leaves_no_execution_folder() {
    let env = Env::files_only();
    env.write("m4host.toml", &env.env_toml("http://127.0.0.1:9"));
    env.write(
        "scripts/main.rhai",
        "let soak = arg_int(\"soak_ms\", 30000);\nrun_phase(\"X.A\", || {});\n",
    );
    let out = Run::new()
        .args([
            "run",
            "scripts/main.rhai",
            "--env",
            "m4host.toml",
            "--set",
            "soak_ms=x",
        ])
        .cwd(env.dir.path())
        .run();
    out.status(2);
    let left: Vec<_> = std::fs::read_dir(env.path("runs"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a usage error left {left:?}");
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    let mut c = case("an import cycle of one file (run)");
    c.files = vec![("scripts/main.rhai", "import \"main\" as m;\n".into())];
    c.says = vec!["import cycle: main.rhai -> main.rhai"];
    cases.push(c);

    let mut c = case("an import cycle of two files (check)");
    c.files = vec![
        ("scripts/main.rhai", "import \"b\" as b;\n".into()),
        ("scripts/b.rhai", "import \"main\" as m;\n".into()),
    ];
    c.args = vec!["check", "{dir}/scripts/main.rhai"];
    c.status = 1;
    c.says = vec!["import cycle: main.rhai -> b.rhai -> main.rhai"];
    cases.push(c);

    // A runbook's whole-number argument that is not one: a usage error before any phase, the
    // key named, the value never quoted (it could be anything an operator pasted).
    let mut c = case("an --set value that is not a whole number (arg_int)");
    c.files = vec![(
        "scripts/main.rhai",
        "let soak = arg_int(\"soak_ms\", 30000);\nrun_phase(\"X.A\", || {});\n".into(),
    )];
    c.args = vec![
        "run",
        "{dir}/scripts/main.rhai",
        "--env",
        "{env}",
        "--set",
        "soak_ms=pl41n-s3cr3t-literal",
    ];
    c.says = vec!["ARG_INVALID", "--set soak_ms=", "not a whole number"];
    cases.push(c);

    // The same in the REPL and its replay flags: a tape that does not exist is a usage error.
    let mut c = case("repl --replay of a missing tape");
    c.args = vec!["repl", "--replay", "{dir}/none.jsonl", "--env", "{env}"];
    c.says = vec!["cannot be read"];
    cases.push(c);

    // `m4host replay TAPE`: a tape that is missing, a folder, not a tape, or not UTF-8 is one
    // clear error before anything runs (a FIFO is refused by the same regular-file check).
    for (what, file, content, says) in [
        ("a replay of a missing tape", "none", None, "cannot be read"),
        (
            "a replay of a folder",
            "scripts",
            None,
            "not a regular file",
        ),
        (
            "a replay of a file that is not a tape",
            "t.jsonl",
            Some("{\"x\": 1}\n"),
            "not a tape header",
        ),
        (
            "a replay of bytes that are not text",
            "b.jsonl",
            Some("\u{0}\u{ff}"),
            "tape",
        ),
    ] {
        let mut c = case(what);
        if let Some(text) = content {
            c.files = vec![(file, text.to_owned())];
        }
        c.args = match file {
            "none" => vec!["replay", "{dir}/none.jsonl", "--env", "{env}"],
            "scripts" => vec!["replay", "{dir}/scripts", "--env", "{env}"],
            "t.jsonl" => vec!["replay", "{dir}/t.jsonl", "--env", "{env}"],
            _ => vec!["replay", "{dir}/b.jsonl", "--env", "{env}"],
        };
        c.says = vec![says];
        cases.push(c);
    }

    let mut c = case("a poll interval below the floor");
    c.env_tail = "\n[ecs]\nmax_poll_ms = 10\n";
    c.says = vec!["ecs.max_poll_ms", "out of range", "from 50"];
    cases.push(c);

    for (what, tail) in [
        (
            "an attempt timeout of 70000000 hours",
            "attempt_timeout_ms_x",
        ),
        (
            "an attempt timeout past the SDK's clock",
            "attempt_timeout_ms_max",
        ),
    ] {
        let mut c = case(what);
        c.env_tail = match tail {
            "attempt_timeout_ms_x" => "\n[ecs]\nsoak_ms = \"70000000h\"\n",
            _ => "\n[ecs]\nstabilize_timeout_ms = 9223372036854775807\n",
        };
        c.says = vec!["out of range"];
        cases.push(c);
    }

    for (what, tail, key) in [
        (
            "no expression depth",
            "max_expr_depth = 0",
            "limits.max_expr_depth",
        ),
        (
            "a call depth that overflows the stack",
            "max_call_levels = 5000",
            "limits.max_call_levels",
        ),
        (
            "no string size limit",
            "max_string_size = 0",
            "limits.max_string_size",
        ),
    ] {
        let mut c = case(what);
        c.limits = tail;
        c.says = vec![key, "out of range"];
        cases.push(c);
    }

    let mut c = case("a wave gate that is neither up nor stable");
    c.env_tail = "\n[ecs]\nwave_gate = \"fast\"\n";
    c.says = vec!["wave_gate", "up", "stable"];
    cases.push(c);

    let mut c = case("a log tail of no lines");
    c.env_tail = "\n[logs]\ntail_lines = 0\n";
    c.says = vec!["logs.tail_lines", "out of range"];
    cases.push(c);

    let mut c = case("a registry with a syntax error on a secret's line");
    c.files = vec![(
        "handles.registry.toml",
        format!("[API_SECRET]\norigin = \"literal\"\nref = \"{SECRET}\nsecret = true\n"),
    )];
    c.says = vec!["invalid handles registry", "line 3"];
    cases.push(c);

    let mut c = case("a registry with a secret's key given twice");
    c.files = vec![(
        "handles.registry.toml",
        format!("[API_SECRET]\norigin = \"literal\"\nref = \"{SECRET}\"\nref = \"{SECRET}\"\nsecret = true\n"),
    )];
    c.says = vec!["invalid handles registry", "line 4"];
    cases.push(c);

    let mut c = case("the registry pointed at a file of another kind");
    c.files = vec![(
        "handles.registry.toml",
        format!("#!/usr/bin/env python3\nTOKEN = '{SECRET}'\nprint(TOKEN)\n"),
    )];
    c.says = vec!["invalid handles registry"];
    cases.push(c);

    let mut c = case("terraform outputs with a key given twice");
    c.files = vec![(
        "terraform_outputs.json",
        r#"{"a": {"value": "x", "sensitive": false}, "a": {"value": "y", "sensitive": false}}"#
            .into(),
    )];
    c.says = vec!["output `a` is given twice"];
    cases.push(c);

    let mut c = case("terraform outputs behind a byte order mark");
    c.files = vec![(
        "terraform_outputs.json",
        "\u{feff}{\"a\": {\"value\": \"x\", \"sensitive\": false}}".into(),
    )];
    c.status = 0;
    c.says = vec![];
    cases.push(c);

    let mut c = case("a Kafka broker on a port past 65535");
    c.files = vec![(
        "scripts/main.rhai",
        "try { kafka_probe(#{ bootstrap: \"127.0.0.1:99999\", security_protocol: \"PLAINTEXT\", topics: [\"t\"] }) } catch (e) { print(e.code); print(e.message); }\n".into(),
    )];
    c.status = 0;
    c.says = vec!["BAD_OPTION", "127.0.0.1:99999", "no valid port"];
    cases.push(c);

    let mut c = case("a wait's soak counted from neither up nor stable");
    c.files = vec![(
        "scripts/main.rhai",
        "try { ecs_wait_stable(\"c\", [\"s\"], #{ soak_from: \"later\" }) } catch (e) { print(e.code); print(e.message); print(e.help); }\n".into(),
    )];
    c.status = 0;
    c.says = vec!["BAD_OPTION", "soak_from `later`", "\"up\"", "\"stable\""];
    cases.push(c);

    let mut c = case("a wait's next services that are not names");
    c.files = vec![(
        "scripts/main.rhai",
        "try { ecs_wait_stable(\"c\", [\"s\"], #{ next: [1, 2] }) } catch (e) { print(e.code); print(e.message); }\n".into(),
    )];
    c.status = 0;
    c.says = vec!["BAD_OPTION", "next"];
    cases.push(c);

    let mut c = case("endless recursion");
    c.files = vec![("scripts/main.rhai", "fn f(n) { f(n + 1) }\nf(0);\n".into())];
    c.status = 1;
    c.says = vec!["deeper than its limit", "max_call_levels"];
    cases.push(c);

    let mut c = case("a wildcard in a secret literal");
    c.files = vec![
        (
            "handles.registry.toml",
            format!("[API_SECRET]\norigin = \"literal\"\nref = \"{SECRET}*\"\nsecret = true\n"),
        ),
        (
            "scripts/main.rhai",
            "try { resolve_handle(\"API_SECRET\") } catch (e) { print(e.code); print(e.message); }\n"
                .into(),
        ),
    ];
    c.status = 0;
    c.says = vec!["HANDLE_WILDCARD", "secret, not shown"];
    cases.push(c);

    cases
}

#[test]
fn every_bad_input_is_one_clear_error_in_bounded_time_and_leaks_nothing() {
    let mut failures = Vec::new();
    for c in cases() {
        let out = run_case(&c);
        let shown = format!("{}{}", out.stdout, out.stderr);
        if out.status != c.status {
            failures.push(format!(
                "{}: exit {} (expected {})\n{shown}",
                c.what, out.status, c.status
            ));
            continue;
        }
        for word in &c.says {
            if !shown.contains(word) {
                failures.push(format!("{}: does not say {word:?}\n{shown}", c.what));
            }
        }
        for word in &c.never {
            if shown.contains(word) {
                failures.push(format!("{}: shows {word:?}\n{shown}", c.what));
            }
        }
        if c.status == 2 {
            let errors = out.stderr.matches("error[").count();
            if errors != 1 {
                failures.push(format!("{}: {errors} error lines\n{shown}", c.what));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// An entry artifact that is a FIFO is not read (it would block forever), and the run ends.
#[test]
fn an_entry_artifact_that_is_a_fifo_does_not_hang_the_run() {
    let env = Env::files_only();
    let fifo = env.path("m3/m3_f_verdict_snapshot.json");
    std::fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = Instant::now();
    let out = env
        .run(&format!(
            "{}let e = entry_preconditions();\nprint(`sound=${{e.sound}}`);\nprint(e.problems);\n",
            crate::harness::M4_ENTRY
        ))
        .run();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    out.status(0)
        .stdout_has("sound=false")
        .stdout_has("is not a regular file");
}

/// Configuration that would only fail at the first AWS call fails at load instead, and output
/// files that could not be written are refused before any work.
#[test]
fn configuration_and_output_paths_are_judged_where_they_enter() {
    let mut failures = Vec::new();
    let rows: Vec<(&str, String, Vec<&str>, &str)> = vec![
        (
            "an invalid region",
            "region = \"eu-west-2\"".into(),
            vec!["region = \"Europe\""],
            "is not an AWS Region name",
        ),
        (
            "an endpoint without a host",
            "endpoint_url = \"http://127.0.0.1:9\"".into(),
            vec!["endpoint_url = \"http://\""],
            "names no host",
        ),
        (
            "a profile in no shared file",
            "region = \"eu-west-2\"".into(),
            vec!["region = \"eu-west-2\"\nprofile = \"m4-nobody-has-this\""],
            "is not a profile of",
        ),
    ];
    for (what, from, to, says) in rows {
        let env = Env::files_only();
        let text = env.env_toml("http://127.0.0.1:9").replacen(&from, to[0], 1);
        env.write("m4host.toml", &text);
        let out = env
            .run("print(\"ran\");")
            .env("AWS_CONFIG_FILE", "/nonexistent/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
            .run();
        if out.status != 2 || !out.stderr.contains(says) || out.stdout.contains("ran") {
            failures.push(format!(
                "{what}: exit {}\n{}{}",
                out.status, out.stdout, out.stderr
            ));
        }
    }
    let env = Env::files_only();
    env.write("scripts/main.rhai", "print(\"ran\");");
    let script = env.path("scripts/main.rhai").display().to_string();
    let conf = env.path("m4host.toml").display().to_string();
    let dir = env.dir.path().display().to_string();
    for (what, args, says) in [
        (
            "a report into a folder",
            vec![
                "run".to_owned(),
                script.clone(),
                "--env".into(),
                conf.clone(),
                "--report".into(),
                format!("junit={dir}"),
            ],
            "is not a file in an existing folder",
        ),
        (
            "two reports into one file",
            vec![
                "run".to_owned(),
                script.clone(),
                "--env".into(),
                conf.clone(),
                "--report".into(),
                format!("junit={dir}/r.xml"),
                "--report".into(),
                format!("markdown={dir}/r.xml"),
            ],
            "names",
        ),
        (
            "an SVG into a missing folder",
            vec![
                "report".to_owned(),
                "m4_20260101T000000Z".into(),
                "--env".into(),
                conf.clone(),
                "--svg".into(),
                "/missing/x.svg".into(),
            ],
            "is not a file in an existing folder",
        ),
    ] {
        let started = Instant::now();
        let out = Run::new().args(&args).cwd(env.dir.path()).run();
        if out.status != 2
            || !out.stderr.contains(says)
            || out.stdout.contains("ran")
            || started.elapsed() > Duration::from_secs(5)
        {
            failures.push(format!(
                "{what}: exit {} in {:?}\n{}{}",
                out.status,
                started.elapsed(),
                out.stdout,
                out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
