//! `m4host replay TAPE [SCRIPT]` (issue #25): a past run, again, offline. The runbook runs for
//! real — rules, host, stdlib and script — as the same execution (its instant from the tape),
//! while every answer of the world comes from the tape at the boundary where it entered (the
//! AWS HTTP connector, the probes, the waits' clock). Nothing is sent anywhere; evidence goes to
//! a scratch mirror, marked `"replay": true`, never to S3. `m4host repl --replay TAPE` opens the
//! same world in the REPL.

use crate::command::cli::{EnvArgs, ReplayArgs, RunArgs};
use crate::command::run::{load_env, parse_sets, run_with};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::infra::tape::Tape;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a replay runs: the tape, the script, the environment and arguments over the recorded
/// ones, and the scratch folder its evidence goes to.
pub struct Replay {
    pub tape: Arc<Tape>,
    pub script: PathBuf,
    pub config: Option<Config>,
    pub sets: BTreeMap<String, String>,
    pub evidence_dir: PathBuf,
}

impl Replay {
    /// Opens `tape` and settles what runs on it: `script` or the one recorded, `env` or the one
    /// recorded, the recorded `--set` arguments with `set` over them. The process runs as the
    /// recorded execution from here on (its instant is the tape's).
    pub fn prepare(
        tape: &Path,
        script: Option<PathBuf>,
        env: EnvArgs,
        set: &[String],
        evidence_dir: Option<PathBuf>,
    ) -> Result<Replay> {
        let opened = Tape::open(tape).map_err(|why| {
            Error::usage(
                why,
                "give the world.tape.jsonl a run left beside its local evidence",
            )
        })?;
        let Some(header) = opened.header().cloned() else {
            return Err(Error::usage(
                format!("{}: not a tape", tape.display()),
                "give the world.tape.jsonl a run left beside its local evidence",
            ));
        };
        let script = match (script, header.script_path.is_empty()) {
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
            env_file: env
                .env_file
                .or_else(|| header.env_file.as_ref().map(PathBuf::from)),
        };
        let config = load_env(&env)?;
        // The replay runs as the recorded execution: the environment's execution prefix must
        // make the same id (another would ask the tape for other names, tokens and keys).
        let prefix = config
            .as_ref()
            .map_or("m4", |c| c.execution_prefix.as_str());
        let recorded = crate::rules::execution_id::ExecutionId::parse(&header.execution_id)
            .map(|id| id.prefix)
            .unwrap_or_default();
        if prefix != recorded {
            return Err(Error::usage(
                format!(
                    "the tape recorded {}, but this environment's execution prefix is `{prefix}`",
                    header.execution_id
                ),
                format!(
                    "give the environment file the run used (its [run] execution_prefix is `{recorded}`)"
                ),
            ));
        }
        let mut sets = header.args.clone();
        sets.extend(parse_sets(set)?);
        // The same execution as the one recorded: names, probe objects and idempotency tokens are
        // derived from its instant, and the tape's requests carry them.
        std::env::set_var("M4HOST_RUN_STAMP", &header.run_stamp);
        let evidence_dir = evidence_dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "m4host-replay-{}-{}",
                header.execution_id,
                std::process::id()
            ))
        });
        Ok(Replay {
            tape: Arc::new(opened),
            script,
            config,
            sets,
            evidence_dir,
        })
    }
}

pub fn run(args: ReplayArgs) -> Result<i32> {
    let replay = Replay::prepare(
        &args.tape,
        args.script,
        args.env.clone(),
        &args.set,
        args.evidence_dir,
    )?;
    let run_args = RunArgs {
        script: replay.script,
        env: args.env,
        set: Vec::new(),
        plan: false,
        output: args.output,
        evidence_dir: Some(replay.evidence_dir),
        report: Vec::new(),
    };
    run_with(run_args, replay.config, replay.sets, Some(replay.tape))
}
