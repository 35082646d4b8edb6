//! Raw command-line arguments, exactly as the operator typed them (SPEC §2).
//!
//! Nothing here is validated beyond what clap checks; `config` turns these into a validated
//! configuration. The rest of the host never sees clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "m4host",
    version,
    about = "Runs phase-gated, fail-closed bring-up runbooks written in Rhai",
    after_help = "m4host SCRIPT [...] is short for m4host run SCRIPT [...].\n\
                  Exit status: 0 advance/clean, 3 hold (blockers), 1 host or script fault, 2 usage."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a script (the default command).
    Run(RunArgs),
    /// Evaluate lines interactively with a persistent scope.
    Repl(ReplArgs),
    /// Compile scripts and the modules they import; no network.
    Check(CheckArgs),
    /// Print the reference of every primitive, or write editor definitions.
    Doc(DocArgs),
    /// Read an execution's evidence back from durable storage, check every artifact's hash, and
    /// draw its bring-up timeline (text, and SVG with --svg). Exit 0 verified, 1 not, 2 usage.
    Report(ReportArgs),
    /// Run a runbook again, offline, against the tape a past run left (world.tape.jsonl): every
    /// answer of the world comes from the tape, nothing is sent, evidence goes to a scratch mirror
    /// marked "replay": true. The script, the environment file and the --set arguments default
    /// to the recorded ones; a question the tape does not hold raises NOT_ON_TAPE; polls past the
    /// recording get its last answer (counted as extrapolated). Exit statuses as `run`.
    Replay(ReplayArgs),
    /// Print the least-privilege IAM policy (JSON) for running a runbook: the AWS actions of every
    /// primitive it and its imports can call, scoped to what the environment's handles resolve to.
    Policy(PolicyArgs),
    /// Print a shell completion script (e.g. `m4host completions bash > /etc/bash_completion.d/m4host`).
    Completions(CompletionsArgs),
    /// Print a man page (roff), e.g. `m4host man > m4host.1`, or write them all with --dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The tape (world.tape.jsonl beside a run's local evidence).
    pub tape: PathBuf,
    /// The runbook to replay (default: the one the tape recorded; give a changed one to see what
    /// it would have decided).
    pub script: Option<PathBuf>,
    /// The environment file (default: the one the tape recorded, else $M4HOST_ENV, ./m4host.toml).
    #[command(flatten)]
    pub env: EnvArgs,
    /// A value visible to the script through `arg(KEY)`, over the recorded ones; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output format; with json the last line on stdout is one JSON object.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Where the replay's scratch evidence goes (default: a new folder under the system's temp).
    #[arg(long, value_name = "DIR")]
    pub evidence_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The execution id, e.g. m4_20260214T121004Z (`--output json` of a run prints it).
    pub execution: String,
    #[command(flatten)]
    pub env: EnvArgs,
    /// Also draw the bring-up timeline into this SVG file (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Where this machine's local evidence mirror is; overrides `[evidence] local_root`.
    #[arg(long, value_name = "DIR")]
    pub evidence_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The runbook (its imports are followed).
    pub script: PathBuf,
    #[command(flatten)]
    pub env: EnvArgs,
    /// Only what a rehearsal (`run --plan`) sends: no service update, task start or stop, no
    /// evidence or probe write.
    #[arg(long)]
    pub plan_only: bool,
    /// The account id for ARNs when no handle is an ARN that names it.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (m4host-run(1) for `run`); the top page when absent.
    pub subcommand: Option<String>,
    /// Write every page (m4host.1, m4host-run.1, ...) into this folder instead.
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The Rhai script to run.
    pub script: PathBuf,
    #[command(flatten)]
    pub env: EnvArgs,
    /// A value visible to the script through `arg(KEY)`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Read-only rehearsal: probes run, mutations are recorded as "would do".
    #[arg(long)]
    pub plan: bool,
    /// Output format; with json the last line on stdout is one JSON object.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Overrides `[evidence] local_root` of the environment file.
    #[arg(long, value_name = "DIR")]
    pub evidence_dir: Option<PathBuf>,
    /// Also write a report file when the run ends: junit=FILE (one test case per phase, each
    /// blocker a failure) or markdown=FILE (phases, blockers, evidence); repeatable.
    #[arg(long = "report", value_name = "KIND=FILE")]
    pub report: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// The environment file (TOML). Default: $M4HOST_ENV, else ./m4host.toml if present.
    #[arg(long = "env", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// A script to load before the first prompt.
    pub script: Option<PathBuf>,
    /// A value visible to the session through `arg(KEY)`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Start the session in plan mode.
    #[arg(long, conflicts_with = "replay")]
    pub plan: bool,
    /// Open the session on a recorded run's world: every answer comes from this tape (nothing
    /// is sent anywhere; a question it does not hold raises NOT_ON_TAPE), the script defaults
    /// to the one recorded, evidence goes to a scratch folder.
    #[arg(long, value_name = "TAPE")]
    pub replay: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scripts or folders of scripts (every *.rhai below a folder is checked).
    #[arg(required = true)]
    pub scripts: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DocArgs {
    /// One primitive to describe; all of them when absent.
    pub name: Option<String>,
    /// Write editor definitions (`.d.rhai`) into this folder instead of printing.
    #[arg(long, value_name = "DIR")]
    pub definitions: Option<PathBuf>,
    /// Print the reference as Markdown.
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Print the table as JSON (one object per primitive: name, signature, doc, failure,
    /// result_keys, per_item, example, raises, aws_actions), for editors and tools.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

const SUBCOMMANDS: &[&str] = &[
    "run",
    "repl",
    "check",
    "doc",
    "report",
    "policy",
    "replay",
    "completions",
    "man",
    "help",
];

impl Cli {
    /// Parses the arguments, treating `m4host SCRIPT ...` as `m4host run SCRIPT ...`.
    pub fn parse_from_os(args: Vec<OsString>) -> Result<Cli, clap::Error> {
        let mut args = args;
        let first = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
        let implicit_run = match first.as_deref() {
            None => false,
            Some("-h" | "--help" | "-V" | "--version") => false,
            Some(a) => !SUBCOMMANDS.contains(&a),
        };
        if implicit_run {
            args.insert(1, OsString::from("run"));
        }
        Cli::try_parse_from(args)
    }
}
