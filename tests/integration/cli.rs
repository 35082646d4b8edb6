//! The command line: implicit `run`, exit statuses, `--set`, `--output json`, `check`, `doc`, repl.

use crate::harness::{Env, Run};

#[test]
fn plain_script_without_env_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "print(40 + 2);").unwrap();
    Run::new()
        .arg(dir.path().join("s.rhai"))
        .cwd(dir.path())
        .run()
        .status(0)
        .stdout_has("42");
}

#[test]
fn env_flag_before_script_is_accepted() {
    let env = Env::files_only();
    env.write("s.rhai", "print(execution_id());");
    Run::new()
        .arg("--env")
        .arg(env.path("m4host.toml"))
        .arg(env.path("s.rhai"))
        .run()
        .status(0)
        .stdout_has("m4_");
}

#[test]
fn set_values_reach_the_script() {
    let env = Env::files_only();
    env.run("print(`hello ${arg(\"who\")}`); print(args().len());")
        .args(["--set", "who=operator", "--set", "n=1"])
        .run()
        .status(0)
        .stdout_has("hello operator")
        .stdout_has("2");
}

#[test]
fn bad_set_is_usage_error() {
    let env = Env::files_only();
    env.run("1")
        .args(["--set", "novalue"])
        .run()
        .one_usage_error("--set `novalue` has no `=`");
}

#[test]
fn missing_arg_is_catchable() {
    let env = Env::files_only();
    env.run("try { arg(\"nope\") } catch (e) { print(e.code) }")
        .run()
        .status(0)
        .stdout_has("ARG_MISSING");
}

#[test]
fn syntax_error_is_usage_error_with_position() {
    let env = Env::files_only();
    env.run("let x = ;")
        .run()
        .one_usage_error("syntax error")
        .stderr_has("line 1");
}

#[test]
fn script_fault_exits_one() {
    let env = Env::files_only();
    env.run("let m = #{}; print(m.missing_field);")
        .run()
        .status(1)
        .stderr_has("error[E-SCRIPT]");
}

#[test]
fn runaway_loop_ends_with_clear_error() {
    let env = Env::files_only();
    let started = std::time::Instant::now();
    env.run("let n = 0; loop { n += 1; }")
        .run()
        .status(1)
        .stderr_has("operation limit");
    assert!(
        started.elapsed().as_secs() < 30,
        "limit must stop the loop promptly"
    );
}

#[test]
fn deep_recursion_is_stopped() {
    let env = Env::files_only();
    env.run("fn f(n) { f(n + 1) } f(0);")
        .run()
        .status(1)
        .stderr_has("E-SCRIPT");
}

#[test]
fn eval_is_disabled() {
    let env = Env::files_only();
    env.run("eval(\"40 + 2\")")
        .run()
        .status(2)
        .stderr_has("syntax error");
}

#[test]
fn json_output_last_line() {
    let env = Env::files_only();
    let out = env
        .run("print(\"first\");")
        .args(["--output", "json"])
        .run();
    out.status(0);
    let json = out.json();
    for key in [
        "verdict",
        "platform_run_id",
        "m4_execution_id",
        "blockers",
        "artifacts",
        "api_calls",
        "elapsed_ms",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
}

#[test]
fn check_compiles_tree_and_imports() {
    let env = Env::files_only();
    env.write("tree/lib/util.rhai", "fn twice(x) { x * 2 }");
    env.write(
        "tree/main.rhai",
        "import \"lib/util\" as u;\nprint(u::twice(2));",
    );
    Run::new()
        .arg("check")
        .arg(env.path("tree"))
        .run()
        .status(0)
        .stdout_has("checked 2 script(s)");
}

#[test]
fn check_reports_syntax_unknown_function_and_escaping_import() {
    let env = Env::files_only();
    env.write("bad/a.rhai", "let x = ;");
    env.write("bad/b.rhai", "resolve_handel(\"X\");");
    env.write("bad/c.rhai", "import \"../outside\" as o;");
    let out = Run::new().arg("check").arg(env.path("bad")).run();
    // Findings exit 1 (2 is for usage errors), one `file:line:col: message` line each.
    out.status(1)
        .stderr_has("syntax error")
        .stderr_has(
            "b.rhai:1:1: call to unknown function `resolve_handel`/1 (did you mean `resolve_handle`/1?)",
        )
        .stderr_has("no absolute paths, no `..`");
    let a = env.path("bad/a.rhai").display().to_string();
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&format!("{a}:1:"))),
        "{}",
        out.stderr
    );
}

/// What would be "Function not found" at run time is a finding of `check` (issue #31): a
/// primitive or a script function given the wrong number of arguments, a misspelled module
/// function, a module function given the wrong number — in the script, in its closures and in
/// the modules it imports; each unknown name with the nearest known one; the right calls beside
/// them are clean.
#[test]
fn check_catches_wrong_arity_and_misspelled_module_functions() {
    let env = Env::files_only();
    env.write(
        "m/lib.rhai",
        "fn publish(a, b) { a + b }\nfn helper() { 1 }\nfn inner() { resolve_handel(\"x\") }",
    );
    env.write(
        "m/main.rhai",
        "import \"lib\" as rb;\nfn own(x) { x }\nhold(\"M9A-B1\");\necs_tasks(\"c\");\nrb::publsh(1, 2);\nrb::publish(1);\nown(1, 2);\n\
         rb::publish(1, 2);\nrb::helper();\nown(1);\nhold(\"M9A-B1\", \"why\");\nlet t = ecs_tasks(\"c\", \"RUNNING\");\nprint(parse_int(\"1\"));\n\
         let f = |x| rb::publsh(x, 2);\nlet g = || hold(\"M9A-B1\");\n",
    );
    let out = Run::new().arg("check").arg(env.path("m/main.rhai")).run();
    out.status(1)
        .stderr_has(":3:1: `hold` takes 2 argument(s), given 1")
        .stderr_has(":4:1: `ecs_tasks` takes 2 argument(s), given 1")
        .stderr_has(":5:5: call to unknown function `rb::publsh`/2 (the module imported as `rb` defines no `publsh`) (did you mean `rb::publish`/2?)")
        .stderr_has(":6:5: `rb::publish` takes 2 argument(s), given 1")
        .stderr_has(":7:1: `own` takes 1 argument(s), given 2")
        // Inside closures, and inside the imported module, alike.
        .stderr_has(":14:17: call to unknown function `rb::publsh`/2")
        .stderr_has(":15:12: `hold` takes 2 argument(s), given 1")
        .stderr_has(
            "lib.rhai:3:14: call to unknown function `resolve_handel`/1 (did you mean `resolve_handle`/1?)",
        )
        .stderr_has("8 problem(s)");
}

#[test]
fn repo_scripts_pass_check() {
    let root = env!("CARGO_MANIFEST_DIR");
    Run::new()
        .arg("check")
        .arg(format!("{root}/examples"))
        .arg(format!("{root}/stdlib"))
        .arg(format!("{root}/scripts"))
        .run()
        .status(0);
}

#[test]
fn doc_lists_every_primitive_and_one_by_name() {
    let out = Run::new().arg("doc").run();
    out.status(0);
    for p in m4host::script::primitives::all() {
        out.stdout_has(&p.signature());
    }
    Run::new()
        .args(["doc", "emit_snapshot"])
        .run()
        .status(0)
        .stdout_has("If-None-Match");
    Run::new()
        .args(["doc", "resolve"])
        .run()
        .one_usage_error("no primitive named `resolve`");
}

/// `m4host doc NAME` reads like a reference page (issue #31): sections, each option with its
/// type, default and meaning, each code it raises with what it means, wrapped to the terminal;
/// the same parts as fields in --json and as sections in --markdown.
#[test]
fn doc_of_one_primitive_is_a_reference_page_wrapped_to_the_terminal() {
    let out = Run::new()
        .env("COLUMNS", "80")
        .args(["doc", "ecs_wait_stable"])
        .run();
    out.status(0);
    let mut at = 0;
    for section in [
        "  what it does\n",
        "  parameters\n",
        "  options\n",
        "  result\n",
        "  raises\n",
        "  failure\n",
        "  aws\n",
        "  example\n",
        "  prints\n",
    ] {
        let found = out.stdout[at..]
            .find(section)
            .unwrap_or_else(|| panic!("no {section:?} after byte {at}:\n{}", out.stdout));
        at += found + section.len();
    }
    out.stdout_has("    soak_ms (Int (ms); default [ecs] soak_ms)\n")
        .stdout_has("    BAD_OPTION           an option is unknown");
    let example = out.stdout.split("  example\n").nth(1).unwrap_or_default();
    let prose = &out.stdout[..out.stdout.len() - example.len()];
    for line in prose.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than the terminal: {line:?}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        Run::new()
            .args(["doc", "ecs_wait_stable", "--json"])
            .run()
            .status(0)
            .stdout
            .trim(),
    )
    .unwrap();
    let row = &json[0];
    let options: Vec<&str> = row["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        options.contains(&"soak_ms") && options.contains(&"gate"),
        "{row}"
    );
    assert!(row["raises"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "BAD_OPTION" && r["meaning"].as_str().is_some()));
    Run::new()
        .args(["doc", "ecs_wait_stable", "--markdown"])
        .run()
        .status(0)
        .stdout_has("**Options**\n\n| option | type | default | meaning |")
        .stdout_has("| `soak_ms` | Int (ms) | default [ecs] soak_ms |");
}

#[test]
fn doc_writes_editor_definitions() {
    let dir = tempfile::tempdir().unwrap();
    Run::new()
        .args(["doc", "--definitions"])
        .arg(dir.path())
        .run()
        .status(0);
    let mut all = String::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for p in m4host::script::primitives::all() {
        assert!(
            all.contains(&format!("fn {}(", p.name)),
            "definitions lack {}",
            p.name
        );
    }
    assert!(
        all.contains("If-None-Match"),
        "doc comments flow into definitions"
    );
}

#[test]
fn repl_keeps_scope_and_functions_without_tty() {
    let env = Env::new();
    let out = Run::new()
        .arg("repl")
        .arg("--env")
        .arg(env.path("m4host.toml"))
        .stdin("let x = 20;\nfn add(a) { a + x_ }\nx + 22\nlet s = resolve_handle(\"API_SECRET\");\ns\nundefined_var\n:blockers\n:quit\n")
        .run();
    out.status(0)
        .stdout_has("42")
        .stdout_has("<redacted:API_SECRET>")
        .stdout_has("error: ")
        .stdout_has("no blockers")
        .nowhere("sekret-value-123");
}

/// Issue 16: `m4host doc | head` panicked (exit 101) on the closed pipe. Every subcommand whose
/// reader goes away after one line ends quietly with a documented status.
#[test]
fn a_closed_stdout_pipe_never_panics() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello");
    let cases: Vec<Vec<String>> = vec![
        vec!["doc".into()],
        vec!["doc".into(), "--markdown".into()],
        vec!["doc".into(), "--json".into()],
        vec!["completions".into(), "bash".into()],
        vec!["man".into()],
        vec!["check".into(), format!("{hello}/hello.rhai")],
        vec!["--help".into()],
        // A report of an execution that left no evidence: the findings go to a closed pipe.
        vec![
            "report".into(),
            "m4_20260214T121004Z".into(),
            "--env".into(),
            format!("{hello}/m4host.toml"),
        ],
        vec![
            "run".into(),
            format!("{hello}/hello.rhai"),
            "--env".into(),
            format!("{hello}/m4host.toml"),
        ],
    ];
    for args in cases {
        let mut child = crate::harness::spawn_m4host(&args);
        // The reader goes before the first write (as `| head -1` does once it has its line), so
        // every write the command makes hits a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let status = out.status.code();
        assert!(
            matches!(status, Some(0..=3)),
            "{args:?}: status {status:?}\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Issue 16: completions from the clap model, tried by bash itself: the script loads, and asking
/// for the words after `m4host ` offers the subcommands, after `m4host run --output ` the formats.
#[test]
fn bash_completion_offers_subcommands_and_flag_values() {
    let out = Run::new().args(["completions", "bash"]).run();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("m4host.bash");
    std::fs::write(&script, &out.status(0).stdout).unwrap();
    // Bash calls a completion function with the command, the word being completed and the one
    // before it ($1 $2 $3), beside COMP_WORDS/COMP_CWORD.
    let complete = |words: &str, cword: usize, prev: &str| -> String {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
             COMP_POINT=${{#COMP_LINE}}; _m4host m4host '' {prev}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let shown = std::process::Command::new("bash")
            .args(["-c", &probe])
            .output()
            .unwrap();
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        String::from_utf8_lossy(&shown.stdout).into_owned()
    };
    let offered = complete("m4host ''", 1, "m4host");
    for sub in [
        "run",
        "repl",
        "check",
        "doc",
        "report",
        "completions",
        "man",
    ] {
        assert!(
            offered.lines().any(|l| l == sub),
            "{sub} not offered: {offered}"
        );
    }
    let formats = complete("m4host run x.rhai --output ''", 4, "--output");
    assert!(formats.lines().any(|l| l == "json"), "{formats}");
    for shell in ["zsh", "fish"] {
        Run::new()
            .args(["completions", shell])
            .run()
            .status(0)
            .stdout_has("completions")
            .stdout_has("report");
    }
}

/// Issue 16: every man page (the top one and one per subcommand, as its SUBCOMMANDS section names
/// them) renders with groff's warnings on, and each subcommand's page lists its own flags.
#[test]
fn every_man_page_renders_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let out = Run::new().args(["man", "--dir"]).arg(dir.path()).run();
    out.status(0);
    let render = |name: &str| -> String {
        let shown = std::process::Command::new("groff")
            .args(["-man", "-Tascii", "-P-cbou", "-ww"])
            .arg(dir.path().join(format!("{name}.1")))
            .output()
            .unwrap();
        let warnings = String::from_utf8_lossy(&shown.stderr);
        assert!(
            shown.status.success() && warnings.is_empty(),
            "{name}: {warnings}"
        );
        String::from_utf8_lossy(&shown.stdout).into_owned()
    };
    let top = render("m4host");
    assert!(top.contains("Exit status"), "{top}");
    for (sub, flag) in [
        ("run", "--report"),
        ("repl", "--plan"),
        ("check", "SCRIPTS"),
        ("doc", "--definitions"),
        ("report", "--svg"),
        ("completions", "SHELL"),
        ("man", "--dir"),
    ] {
        assert!(top.contains(&format!("m4host-{sub}(1)")), "{sub}: {top}");
        // groff justifies lines; compare words, not spacing.
        let page = render(&format!("m4host-{sub}"));
        let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            page.contains(&format!("m4host-{sub} - ")) && page.contains(flag),
            "{sub}: {page}"
        );
    }
    // One page to stdout, and a usage error for a page that does not exist.
    Run::new()
        .args(["man", "run"])
        .run()
        .status(0)
        .stdout_has(".TH m4host-run 1")
        .stdout_has(r"\fB\-\-evidence\-dir\fR");
    Run::new()
        .args(["man", "nope"])
        .run()
        .status(2)
        .stderr_has("no man page for `m4host-nope`");
}
