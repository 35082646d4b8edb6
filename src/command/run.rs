//! `m4host run SCRIPT`: load the environment, build the host and engine, run the script once,
//! report. The exit status comes from the ledger (`run_report::exit_status`), never from "the script
//! returned".

use crate::command::cli::{EnvArgs, OutputFormat, RunArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::host::report_files::ReportKind;
use crate::host::run_report;
use crate::host::{Host, Mode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The environment file in force: --env, else $M4HOST_ENV, else ./m4host.toml when present.
/// A file named explicitly must exist; the implicit default may be absent.
pub fn load_env(args: &EnvArgs) -> Result<Option<Config>> {
    let explicit = args.env_file.clone().or_else(|| {
        std::env::var_os("M4HOST_ENV")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match explicit {
        Some(path) => Config::load(&path).map(Some),
        None => {
            let default = PathBuf::from("m4host.toml");
            if default.is_file() {
                Config::load(&default).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

/// `--set KEY=VALUE` pairs; keys are identifiers, a key given twice is a usage error.
pub fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in sets {
        let Some((key, value)) = item.split_once('=') else {
            return Err(Error::usage(
                format!("--set `{item}` has no `=`"),
                "write --set KEY=VALUE",
            ));
        };
        let key_ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !key_ok {
            return Err(Error::usage(
                format!("--set key `{key}` is not a plain name"),
                "use letters, digits, `_`, `-` and `.` in KEY",
            ));
        }
        if out.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(Error::usage(
                format!("--set `{key}` given twice"),
                "give each key once",
            ));
        }
    }
    Ok(out)
}

/// Reads and compiles a script, naming it and the position in a syntax error.
pub fn compile(engine: &rhai::Engine, script: &Path) -> Result<rhai::AST> {
    if !script.is_file() {
        return Err(Error::usage(
            format!("script {} not found", script.display()),
            "give the path of a .rhai file",
        ));
    }
    let text = crate::config::read_text(script)?;
    if let Some(cycle) = crate::script::resolver::import_cycle(engine, script) {
        return Err(Error::Script {
            path: script.to_path_buf(),
            what: format!(
                "import cycle: {}",
                crate::script::resolver::describe_cycle(&cycle)
            ),
            help: "a module cannot import itself, directly or through others; move what both \
                   need into a third module"
                .to_owned(),
        });
    }
    let canonical = std::fs::canonicalize(script).unwrap_or_else(|_| script.to_path_buf());
    let mut ast = engine.compile(&text).map_err(|e| Error::Script {
        path: script.to_path_buf(),
        what: format!("syntax error: {e}"),
        help: "fix the script at that position; `m4host check` checks without running".to_owned(),
    })?;
    ast.set_source(canonical.display().to_string());
    Ok(ast)
}

/// A file m4host will write when it ends (`--report`, `report --svg`), checked before any work:
/// a name, not a folder, in a folder that exists — so a typo costs nothing.
pub fn output_file(flag: &str, file: &str) -> Result<PathBuf> {
    let path = PathBuf::from(file);
    let folder = path.parent().filter(|d| !d.as_os_str().is_empty());
    if file.is_empty() || path.is_dir() || folder.is_some_and(|d| !d.is_dir()) {
        return Err(Error::usage(
            format!("{flag} {file:?} is not a file in an existing folder"),
            "create the folder first, or name a file in the current one",
        ));
    }
    Ok(path)
}

/// `--report KIND=FILE` values, checked before the run starts so that a typo costs nothing.
pub fn parse_reports(values: &[String]) -> Result<Vec<(ReportKind, PathBuf)>> {
    let kinds = ReportKind::NAMES.join(", ");
    values
        .iter()
        .map(|value| {
            let (kind, file) = value.split_once('=').ok_or_else(|| {
                Error::usage(
                    format!("--report {value}: expected KIND=FILE"),
                    format!("e.g. --report junit=m4.xml (kinds: {kinds})"),
                )
            })?;
            let kind = ReportKind::parse(kind).ok_or_else(|| {
                Error::usage(
                    format!("--report {value}: no report kind `{kind}`"),
                    format!("kinds: {kinds}"),
                )
            })?;
            let path = output_file(&format!("--report {value}:"), file)?;
            Ok((kind, path))
        })
        .collect::<Result<Vec<_>>>()
        .and_then(|reports| {
            // Two reports into one file: the second would silently replace the first.
            for (i, (_, path)) in reports.iter().enumerate() {
                if reports[..i].iter().any(|(_, p)| p == path) {
                    return Err(Error::usage(
                        format!("--report names {} twice", path.display()),
                        "give each report a file of its own",
                    ));
                }
            }
            Ok(reports)
        })
}

pub fn run(args: RunArgs) -> Result<i32> {
    let config = load_env(&args.env)?;
    let sets = parse_sets(&args.set)?;
    run_with(args, config, sets, None)
}

/// A run of `args.script`; with `replay`, every answer of the world comes from that tape.
pub fn run_with(
    args: RunArgs,
    config: Option<crate::config::Config>,
    sets: BTreeMap<String, String>,
    replay: Option<Arc<crate::infra::tape::Tape>>,
) -> Result<i32> {
    let reports = parse_reports(&args.report)?;
    let mode = Mode {
        plan: args.plan,
        repl: false,
        json: args.output == OutputFormat::Json,
    };
    let host = Arc::new(Host::new(config, mode, sets, args.evidence_dir.clone())?);
    if let Some(tape) = replay {
        host.replay_from(tape);
    }
    host.spawn_run_signal_listener();
    let engine =
        crate::script::engine::build(&host, &crate::script::resolver::script_root(&args.script));
    let ast = compile(&engine, &args.script)?;
    host.record_source(&args.script);
    let started = Instant::now();
    let result = engine.run_ast(&ast);
    // A runbook that stops before its first phase because the operator's --set is missing or
    // names no execution is bad input: one clear error and exit 2, not a script fault.
    if let Err(err) = &result {
        let code = run_report::uncaught_code(err);
        let before_any_phase = {
            let ledger = host.ledger();
            ledger.phases().is_empty() && !ledger.gate_used() && ledger.blockers().is_empty()
        };
        if before_any_phase
            && matches!(
                code.as_deref(),
                Some("ARG_MISSING") | Some("ARG_INVALID") | Some("BAD_ARTIFACT_NAME")
            )
        {
            return Err(Error::usage(
                run_report::describe_rhai_error(err),
                "pass the runbook's arguments with --set KEY=VALUE (see the comment at the top of the runbook)",
            ));
        }
    }
    let fault = match result {
        Ok(()) => None,
        Err(err) if run_report::is_block(&err) => None,
        Err(err)
            if matches!(*err, rhai::EvalAltResult::ErrorTerminated(..))
                && !host.ledger().blockers().is_empty() =>
        {
            None
        }
        Err(err) => Some(run_report::describe_rhai_error(&err)),
    };
    Ok(run_report::finish(
        &host,
        fault,
        started.elapsed().as_millis(),
        &reports,
    ))
}
