//! Every primitive's documented example runs, through the real binary, with the exit status the
//! table says and printing the result it states (each line whole), as nushell's examples do — so
//! `m4host doc` cannot drift from what the primitives do, and an example that printed an error
//! outcome would fail.

use crate::harness::Env;

#[test]
fn every_primitive_example_runs() {
    let mut failures = Vec::new();
    for primitive in m4host::script::primitives::all() {
        let env = Env::new();
        let out = env.run(primitive.example).run();
        let printed: Vec<&str> = out.stdout.lines().map(str::trim_end).collect();
        let missing: Vec<&&str> = primitive
            .example_prints
            .iter()
            .filter(|line| !printed.contains(line))
            .collect();
        if primitive.example_prints.is_empty() || !missing.is_empty() {
            failures.push(format!(
                "{}: the example states {:?}, did not print {missing:?}\nstdout:\n{}\nstderr:\n{}",
                primitive.signature(),
                primitive.example_prints,
                out.stdout,
                out.stderr
            ));
        }
        // An example that prints a catchable code prints one its row says it raises.
        for line in &printed {
            let undeclared = m4host::rules::error_code::ErrorCode::ALL
                .iter()
                .find(|c| c.as_str() == *line)
                .filter(|c| !primitive.raised_codes().contains(c));
            if let Some(code) = undeclared {
                failures.push(format!(
                    "{}: the example raised {code}, which its row does not list",
                    primitive.signature()
                ));
            }
        }
        if out.status != primitive.example_exit {
            failures.push(format!(
                "{}: exit {} (expected {})\nstdout:\n{}\nstderr:\n{}",
                primitive.signature(),
                out.status,
                primitive.example_exit,
                out.stdout,
                out.stderr
            ));
        }
        assert!(
            !out.stdout.contains("sekret-value-123") && !out.stderr.contains("sekret-value-123")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn hello_example_resolves_three_origins_and_publishes() {
    // The README's first script, against a copy of its environment pointed at this test's bucket.
    let env = Env::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let script = std::fs::read_to_string(format!("{root}/examples/hello/hello.rhai")).unwrap();
    let out = env.run(&script).args(["--output", "json"]).run();
    out.status(0)
        .stderr_has("cluster fraud-platform-dev-min, database fraud")
        .stderr_has("api secret: <redacted:");
    assert_eq!(
        out.json()["artifacts"]["hello_snapshot"]["uri"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(2)
            .unwrap(),
        env.bucket
    );
    let out = env
        .run(&script)
        .args(["--set", "hold=yes", "--output", "json"])
        .run();
    out.status(3);
    assert_eq!(out.json()["blockers"][0]["code"], "M4A-B2");
}
