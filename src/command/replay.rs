//! `m4host replay TAPE [SCRIPT]` (issue #25): a past run, again, offline. The runbook runs for
//! real — rules, host, stdlib and script — as the same execution (its instant from the tape),
//! while every answer of the world comes from the tape at the boundary where it entered (the
//! AWS HTTP connector, the probes, the waits' clock). Nothing is sent anywhere; evidence goes to
//! a scratch mirror, marked `"replay": true`, never to S3.

use crate::command::cli::{EnvArgs, ReplayArgs, RunArgs};
use crate::command::run::{load_env, parse_sets, run_with};
use crate::error::{Error, Result};
use crate::infra::tape::Tape;
use std::path::PathBuf;
use std::sync::Arc;

pub fn run(args: ReplayArgs) -> Result<i32> {
    let tape = Tape::open(&args.tape).map_err(|why| {
        Error::usage(
            why,
            "give the world.tape.jsonl a run left beside its local evidence",
        )
    })?;
    let Some(header) = tape.header().cloned() else {
        return Err(Error::usage(
            format!("{}: not a tape", args.tape.display()),
            "give the world.tape.jsonl a run left beside its local evidence",
        ));
    };
    let script = match (args.script, header.script_path.is_empty()) {
        (Some(script), _) => script,
        (None, false) => PathBuf::from(&header.script_path),
        (None, true) => {
            return Err(Error::usage(
                "the tape does not name the script it recorded",
                "name it: m4host replay TAPE SCRIPT",
            ))
        }
    };
    let env = EnvArgs {
        env_file: args
            .env
            .env_file
            .or_else(|| header.env_file.as_ref().map(PathBuf::from)),
    };
    let config = load_env(&env)?;
    let mut sets = header.args.clone();
    sets.extend(parse_sets(&args.set)?);
    // The same execution as the one recorded: names, probe objects and idempotency tokens are
    // derived from its instant, and the tape's requests carry them.
    std::env::set_var("M4HOST_RUN_STAMP", &header.run_stamp);
    let evidence_dir = args.evidence_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "m4host-replay-{}-{}",
            header.execution_id,
            std::process::id()
        ))
    });
    let run_args = RunArgs {
        script,
        env,
        set: Vec::new(),
        plan: false,
        output: args.output,
        evidence_dir: Some(evidence_dir),
        report: Vec::new(),
    };
    run_with(run_args, config, sets, Some(Arc::new(tape)))
}
