//! m4host: a Rhai host for phase-gated, fail-closed infrastructure runbooks.
//!
//! The folders are the layers, and dependencies point down only (ARCHITECTURE.md):
//! `command` (run, check, doc, repl, policy, report; the CLI) -> `script` (the Rhai engine,
//! module resolver, the primitive table) -> `host` (run state, the phase and its snapshot,
//! publication, guards, Rhai<->JSON, the run's report) -> `rules` (pure judgements: gates and
//! verdict, ECS stability and the soak, the update guard, entry preconditions, secrets and
//! credentials) and `infra` (AWS, Kafka, PostgreSQL, evidence files), with `config` (the
//! validated environment) beside them. `run` is the whole program.

// No panic path outside tests: a fallible step returns an error an operator can act on, and the
// few that cannot fail say why beside an `allow` (#28).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod command;
pub mod config;
pub mod error;
pub mod host;
pub mod infra;
pub mod out;
pub mod rules;
pub mod script;
pub mod sync;

use command::cli::{Cli, Command};
use std::ffi::OsString;

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // aws-config logs each provider it tries at WARN with a full debug dump; the error a
        // primitive reports already says what failed and how to fix it.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error"));
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs m4host with the given arguments (the first is the program name); returns the exit status.
pub fn run(args: Vec<OsString>) -> i32 {
    let cli = match Cli::parse_from_os(args) {
        Ok(cli) => cli,
        Err(err) => {
            let status = if err.use_stderr() {
                error::EXIT_USAGE
            } else {
                0
            };
            let _ = err.print();
            return status;
        }
    };
    init_tracing();
    // A panic is a defect of m4host, never an answer: one line that says so, and exit 70
    // (EX_SOFTWARE), from whichever thread it happened on — not a backtrace, not an abort.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        crate::out::err_line(&format!(
            "error[E-DEFECT]: m4host defect{at}: {}; report it with the command that ran",
            crate::config::one_line(&what)
        ));
        std::process::exit(error::EXIT_DEFECT);
    }));
    let result = match cli.command {
        Command::Run(args) => command::run::run(args),
        Command::Repl(args) => command::repl::run(args),
        Command::Check(args) => command::check::run(args),
        Command::Doc(args) => command::doc::run(args),
        Command::Report(args) => command::report::run(args),
        Command::Policy(args) => command::policy::run(args),
        Command::Replay(args) => command::replay::run(args),
        Command::Completions(args) => command::shell::completions(args),
        Command::Man(args) => command::shell::man(args),
    };
    match result {
        Ok(status) => status,
        Err(err) => {
            crate::out::err_line(&err.render());
            err.exit_status()
        }
    }
}
