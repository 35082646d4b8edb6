//! Property tests of the input parsers (issue #28), a seeded fuzzer without a fuzzing toolchain:
//! the environment file, the handles registry and the terraform outputs, mutated from real
//! examples byte by byte and line by line, never panic, and an error about a registry never
//! quotes the secret literal it holds. `M4HOST_FUZZ_ITERATIONS` and `M4HOST_FUZZ_SEED` run it
//! longer (tests/bench/fuzz_inputs.sh); the suite runs a bounded, fixed-seed share.

use super::registry::HandlesRegistry;
use super::terraform::TerraformOutputs;
use std::path::Path;

const SECRET: &str = "fuzz-s3cr3t-literal";

const ENV: &str = include_str!("../../examples/dev_min/local.toml");
const OUTPUTS: &str = r#"{"ecs_cluster_name": {"value": "c", "type": "string", "sensitive": false},
 "subnets": {"value": ["a", "b"], "sensitive": false}, "pw": {"value": "x", "sensitive": true}}"#;

fn registry_seed() -> String {
    format!(
        "[ECS_CLUSTER_NAME]\norigin = \"terraform_output\"\nref = \"ecs_cluster_name\"\nsecret = false\n\n\
         [API_SECRET]\norigin = \"literal\"\nref = \"{SECRET}\"\nsecret = true\n\n\
         [SSM_DB_PASSWORD_PATH]\norigin = \"literal\"\nref = \"/a/b\"\nsecret = false\n"
    )
}

/// Pieces that make parsers take unusual paths.
const PIECES: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "=",
    "\n",
    "{",
    "}",
    ",",
    ":",
    "\\",
    "\\u",
    "\u{feff}",
    "-5",
    "99999999999999999999",
    "9223372036854775807",
    "1e309",
    "\"70000000h\"",
    "\"1m\"",
    "true",
    "0",
    "*",
    "#",
    "\"\"\"",
    "\t",
    "\u{0}",
    "é",
    "[limits]\nmax_call_levels = 5000\n",
    "[ecs]\nmax_poll_ms = 10\n",
    "origin = \"ssm_parameter\"\n",
    "\"a\": {\"value\": 1},",
];

fn mutate(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut out: Vec<char> = text.chars().collect();
    for _ in 0..rng.usize(1..6) {
        let at = rng.usize(0..=out.len());
        match rng.u8(0..5) {
            0 if !out.is_empty() => {
                let end = (at + rng.usize(1..20)).min(out.len());
                out.drain(at.min(end)..end);
            }
            1 => {
                let piece = PIECES[rng.usize(0..PIECES.len())];
                for (i, c) in piece.chars().enumerate() {
                    out.insert(at + i, c);
                }
            }
            2 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = char::from(rng.u8(0x20..0x7f));
            }
            3 => {
                // Repeat a line (duplicate keys, tables twice).
                let s: String = out.iter().collect();
                let lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let line = lines[rng.usize(0..lines.len())].to_owned();
                    for (i, c) in format!("\n{line}\n").chars().enumerate() {
                        out.insert(at + i, c);
                    }
                }
            }
            _ => out.truncate(at),
        }
    }
    out.into_iter().collect()
}

fn iterations() -> usize {
    std::env::var("M4HOST_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

fn seed() -> u64 {
    std::env::var("M4HOST_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(28)
}

#[test]
fn mutated_inputs_never_panic_and_never_quote_a_registry_secret() {
    let mut rng = fastrand::Rng::with_seed(seed());
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_seed();
    let (mut errors, mut accepted) = (0usize, 0usize);
    for i in 0..iterations() {
        let env_text = mutate(&mut rng, ENV);
        let reg_text = mutate(&mut rng, &registry);
        let out_text = mutate(&mut rng, OUTPUTS);
        let outcome = std::panic::catch_unwind(|| {
            // The environment file as a whole, with its registry and outputs beside it.
            let env = dir.path().join(format!("env{}.toml", i % 4));
            std::fs::write(dir.path().join("handles.registry.toml"), &reg_text).unwrap();
            std::fs::create_dir_all(dir.path().join("generated")).unwrap();
            std::fs::write(
                dir.path().join("generated/terraform_outputs.json"),
                &out_text,
            )
            .unwrap();
            std::fs::write(&env, &env_text).unwrap();
            let config = super::Config::load(&env).map(|_| ());
            let reg = HandlesRegistry::parse(Path::new("r.toml"), &reg_text).map(|_| ());
            let out = TerraformOutputs::parse(Path::new("o.json"), &out_text).map(|_| ());
            (config, reg, out)
        });
        let Ok((config, reg, out)) = outcome else {
            panic!(
                "a parser panicked on iteration {i} (seed {}): env {env_text:?} registry {reg_text:?} outputs {out_text:?}",
                seed()
            );
        };
        for result in [&config, &out] {
            match result {
                Ok(()) => accepted += 1,
                Err(_) => errors += 1,
            }
        }
        if let Err(e) = &reg {
            errors += 1;
            let shown = e.render();
            // The literal (or any 8-character run of it) never appears in the message.
            assert!(
                !SECRET
                    .as_bytes()
                    .windows(8)
                    .any(|w| shown.contains(std::str::from_utf8(w).unwrap())),
                "iteration {i}: the registry error quotes the secret: {shown}\n{reg_text:?}"
            );
        } else {
            accepted += 1;
        }
    }
    assert!(
        errors > 0 && accepted > 0,
        "the mutations explore both sides"
    );
}
