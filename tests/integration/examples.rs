//! Every primitive's documented example runs, through the real binary, with the exit status the
//! table says — so `m4host doc` cannot drift from what the primitives do.

use crate::support::Env;

#[test]
fn every_primitive_example_runs() {
    let mut failures = Vec::new();
    for primitive in m4host::script::primitives::all() {
        let env = Env::new();
        let out = env.run(primitive.example).run();
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
