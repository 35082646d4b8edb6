//! m4host: a Rhai host for phase-gated, fail-closed infrastructure runbooks.
//!
//! `cli` (raw arguments) -> `config` (validated environment) -> `host` + `engine` (primitives from
//! the `primitives` table) -> `report` (verdict, exit status). `run` is the whole program.

pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod db;
pub mod doc;
pub mod ecs;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod gate;
pub mod handles;
pub mod host;
pub mod iam;
pub mod json;
pub mod kafka;
pub mod logs;
pub mod m3;
pub mod out;
pub mod primitives;
pub mod publish;
pub mod registry;
pub mod repl;
pub mod report;
pub mod resolver;
pub mod runner;
pub mod s3;
pub mod secret;
pub mod stability;
pub mod stepper;
pub mod terraform;
pub mod update_guard;

use cli::{Cli, Command};
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
    let result = match cli.command {
        Command::Run(args) => runner::run(args),
        Command::Repl(args) => repl::run(args),
        Command::Check(args) => check::run(args),
        Command::Doc(args) => doc::run(args),
    };
    match result {
        Ok(status) => status,
        Err(err) => {
            crate::out::err_line(&err.render());
            err.exit_status()
        }
    }
}
