//! `m4host repl`: where an operator investigates a HOLD against live infrastructure.
//!
//! Lines are Rhai evaluated with one persistent scope (function definitions kept), results echoed
//! as redacted JSON, errors shown with their position while the session goes on. A loaded runbook
//! runs on its own thread and waits before each phase (`stepper`), so `:step`, `:run PHASE` and
//! `:continue` drive it in order within one execution: the same laws as a batch run. Typed lines
//! can probe anything but cannot run a phase or decide a verdict. Without a TTY it reads stdin
//! line by line. History never holds a secret's plaintext.

mod commands;
mod completion;
mod debugger;

use crate::command::cli::ReplArgs;
use crate::error::Result;
use crate::host::stepper::{Breakpoints, Pause, PhaseGate, Resume, Stepping};
use crate::host::{Host, Mode};
use crate::rules::secret::Secret;
use crate::sync::Locked;
use rhai::{Dynamic, Engine, Scope, AST};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use commands::{Arg, COMMANDS, QUIT};
use completion::Completion;
use debugger::{attach_debugger, watch_engine};

/// The runbook thread's stack (the main thread's is 8 MiB on Linux).
const RUNBOOK_STACK_BYTES: usize = 64 * 1024 * 1024;

const HISTORY_FILE: &str = ".m4host_history";

/// How a value is echoed: a Secret by its marker, data as pretty JSON, anything else as text.
pub fn echo(host: &Host, value: &Dynamic) -> String {
    let value = value.flatten_clone();
    let text = if let Some(secret) = value.read_lock::<Secret>() {
        secret.redacted()
    } else {
        match crate::host::json::to_json(&value, "value") {
            Ok(json) => {
                serde_json::to_string_pretty(&crate::host::json::sorted(&json)).unwrap_or_default()
            }
            Err(refusal) => format!("<{refusal}>"),
        }
    };
    host.vault().redact(&text)
}

struct Runbook {
    script: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
    fault: Arc<Mutex<Option<String>>>,
}

struct Session {
    host: Arc<Host>,
    gate: Arc<PhaseGate>,
    breakpoints: Arc<Breakpoints>,
    engine: Engine,
    scope: Scope<'static>,
    ast: AST,
    runbook: Option<Runbook>,
}

impl Session {
    fn help() -> String {
        let mut out = String::from(
            "Rhai statements are evaluated; a line ending in `\\` continues on the next.\n",
        );
        for c in COMMANDS {
            let cmd = format!("{} {}", c.name, c.usage);
            out.push_str(&format!("  {:<16} {}\n", cmd.trim_end(), c.help));
        }
        out.trim_end().to_owned()
    }

    /// Starts a runbook on its own thread; it waits before its first phase.
    fn load(&mut self, path: &Path) -> String {
        if self.runbook.is_some() {
            return "a runbook is already loaded in this session (one execution per session)"
                .into();
        }
        let script = path.to_path_buf();
        let root = crate::script::resolver::script_root(&script);
        let mut engine = crate::script::engine::build(&self.host, &root);
        attach_debugger(&mut engine, &self.gate, &self.breakpoints, &self.host);
        let ast = match crate::command::run::compile(&engine, &script) {
            Ok(ast) => ast,
            Err(e) => return e.render(),
        };
        let fault = Arc::new(Mutex::new(None));
        let (gate, host, slot) = (
            Arc::clone(&self.gate),
            Arc::clone(&self.host),
            Arc::clone(&fault),
        );
        let thread = std::thread::Builder::new()
            .name("m4host-runbook".into())
            // As deep as the main thread a batch run evaluates on: the engine's call and
            // expression limits (config::MAX_CALL_LEVELS) are tested safe at this size.
            .stack_size(RUNBOOK_STACK_BYTES)
            .spawn(move || {
                crate::host::stepper::mark_runbook_thread();
                if let Err(err) = engine.run_ast(&ast) {
                    if !crate::host::run_report::is_block(&err)
                        && !matches!(*err, rhai::EvalAltResult::ErrorTerminated(..))
                    {
                        *slot.locked() = Some(
                            host.vault()
                                .redact(&crate::host::run_report::describe_rhai_error(&err)),
                        );
                    }
                }
                gate.finish();
            });
        let thread = match thread {
            Ok(thread) => thread,
            // The OS refused a thread (out of memory or its thread limit): say so, load nothing.
            Err(e) => return format!("could not start the runbook's thread: {e}; nothing loaded"),
        };
        self.runbook = Some(Runbook {
            script,
            thread: Some(thread),
            fault,
        });
        format!(
            "loaded {}; {}",
            path.display(),
            self.where_now(self.gate.wait_pause())
        )
    }

    fn where_now(&self, pause: Pause) -> String {
        match pause {
            Pause::Before(id) => format!("waiting before {id} (:step to run it)"),
            Pause::At(location) => {
                // The first line is where; the lines after it are the watches.
                let (at, watches) = location.split_once('\n').unwrap_or((&location, ""));
                let hint = "(:next, :step-in, :finish, :continue, :locals)";
                if watches.is_empty() {
                    format!("stopped at {at} {hint}")
                } else {
                    format!("stopped at {at} {hint}\n{watches}")
                }
            }
            Pause::Finished => {
                self.host.clear_interrupt();
                let ledger = self.host.ledger();
                let fault = self
                    .runbook
                    .as_ref()
                    .and_then(|r| r.fault.locked().clone())
                    .map(|f| format!("; script fault: {f}"))
                    .unwrap_or_default();
                let verdict = ledger
                    .verdict()
                    .as_ref()
                    .map_or("no verdict".to_owned(), |v| v.verdict.clone());
                format!(
                    "runbook finished: {verdict}, {} blocker(s){fault}",
                    ledger.blockers().len()
                )
            }
        }
    }

    fn require_runbook(&self) -> std::result::Result<(), String> {
        if self.runbook.is_none() {
            Err("no runbook loaded: :load FILE (or pass SCRIPT to m4host repl)".into())
        } else {
            Ok(())
        }
    }

    fn step(&mut self, only: Option<&str>) -> String {
        if let Err(e) = self.require_runbook() {
            return e;
        }
        match self.gate.pause() {
            Some(Pause::Finished) => return self.where_now(Pause::Finished),
            Some(Pause::At(_)) => {
                self.breakpoints.set_stepping(Stepping::Off);
                self.gate.resume(Resume::Run);
                return self.where_now(self.gate.wait_pause());
            }
            Some(Pause::Before(next)) => {
                if let Some(wanted) = only {
                    if wanted != next {
                        return format!("the next phase is {next}; phases run in order, so {wanted} cannot run now");
                    }
                }
            }
            None => {}
        }
        self.gate.step();
        self.where_now(self.gate.wait_pause())
    }

    fn continue_all(&mut self) -> String {
        if let Err(e) = self.require_runbook() {
            return e;
        }
        self.breakpoints.set_stepping(Stepping::Off);
        self.gate.run_all();
        self.gate.resume(Resume::Run);
        self.where_now(self.gate.wait_pause())
    }

    /// `:next`, `:step-in`, `:finish`: from a stop inside a phase, on to the next stop.
    fn resume_stepping(&mut self, how: Resume) -> String {
        if !matches!(self.gate.pause(), Some(Pause::At(_))) {
            return "the runbook is not stopped inside a phase (:break FILE:LINE, then :step)"
                .into();
        }
        self.gate.resume(how);
        self.where_now(self.gate.wait_pause())
    }

    fn watch(&self, expr: &str) -> String {
        if expr.is_empty() {
            let list = self.breakpoints.watches();
            return if list.is_empty() {
                "no watches".into()
            } else {
                list.join("\n")
            };
        }
        if let Err(e) = watch_engine().compile_expression(expr) {
            return format!("not an expression: {e}");
        }
        self.breakpoints.watch(expr);
        format!("watching {expr} (shown at every stop)")
    }

    fn add_breakpoint(&self, spec: &str) -> String {
        if spec.is_empty() {
            let list = self.breakpoints.list();
            return if list.is_empty() {
                "no breakpoints".into()
            } else {
                list.join("\n")
            };
        }
        match spec
            .rsplit_once(':')
            .and_then(|(f, l)| l.parse::<usize>().ok().map(|l| (f, l)))
        {
            Some((file, line)) if !file.is_empty() && line > 0 => {
                self.breakpoints.add(file, line);
                format!("breakpoint at {file}:{line}")
            }
            _ => "write :break FILE:LINE, e.g. :break scripts/m4/d_dependencies.rhai:40".into(),
        }
    }

    fn phases(&self) -> String {
        let ledger = self.host.ledger();
        let mut lines: Vec<String> = ledger
            .phases()
            .iter()
            .map(|p| {
                format!(
                    "{:<6} {}",
                    p.phase,
                    crate::host::run_report::status_words(&self.host, p)
                )
                .trim_end()
                .to_owned()
            })
            .collect();
        drop(ledger);
        match self.gate.pause() {
            Some(Pause::Before(id)) => lines.push(format!("{id:<6} next")),
            Some(Pause::At(location)) => lines.push(format!("(stopped at {location})")),
            Some(Pause::Finished) => lines.push("(runbook finished)".into()),
            None if self.runbook.is_none() => lines.push("(no runbook loaded)".into()),
            None => lines.push("(running)".into()),
        }
        lines.join("\n")
    }

    fn blockers(&self) -> String {
        let ledger = self.host.ledger();
        if ledger.blockers().is_empty() {
            return "no blockers".to_owned();
        }
        ledger
            .blockers()
            .iter()
            .map(|b| format!("{} [{}] {}", b.code, b.phase, b.reason))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `:logs SERVICE [CLUSTER]`; the cluster defaults to the registry's one ECS cluster handle.
    fn logs(&self, rest: &str) -> String {
        let mut words = rest.split_whitespace();
        let service = words.next().unwrap_or_default();
        let cluster = match words.next() {
            Some(c) => c.to_owned(),
            None => match self.registry_cluster() {
                Ok(c) => c,
                Err(why) => return why,
            },
        };
        match self.host.service_log_tail(&cluster, service) {
            Ok((task, tail)) => {
                let mut out = format!(
                    "task {} of {service} ({}):",
                    task.rsplit('/').next().unwrap_or(&task),
                    if tail.streams.is_empty() {
                        "no stream".to_owned()
                    } else {
                        tail.streams.join(", ")
                    }
                );
                for line in &tail.lines {
                    out.push_str(&format!("\n  {line}"));
                }
                if let Some(note) = &tail.note {
                    out.push_str(&format!("\n  ({note})"));
                }
                self.host.vault().redact(&out)
            }
            Err(why) => self.host.vault().redact(&format!(":logs: {why}")),
        }
    }

    /// The value of the registry's one handle of kind `ecs_cluster`.
    fn registry_cluster(&self) -> Result<String, String> {
        let keys: Vec<String> = self
            .host
            .environment()
            .map(|c| {
                c.registry
                    .entries
                    .iter()
                    .filter(|(_, e)| {
                        e.kind == Some(crate::config::registry::ResourceKind::EcsCluster)
                    })
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        let [key] = keys.as_slice() else {
            return Err(format!(
                ":logs: name the cluster (`:logs SERVICE CLUSTER`): the handles registry has {} \
                 handle(s) of kind ecs_cluster",
                keys.len()
            ));
        };
        match self.host.resolve(std::slice::from_ref(key)) {
            Ok(found) => match found.into_iter().next() {
                Some((_, crate::host::handles::Resolution::Resolved { value, .. })) => {
                    Ok(crate::host::handles::secret_text(&value))
                }
                _ => Err(format!(
                    ":logs: handle {key} does not resolve; name the cluster"
                )),
            },
            Err(_) => Err(format!(
                ":logs: handle {key} could not be resolved; name the cluster"
            )),
        }
    }

    fn snapshot(&self, name: &str) -> String {
        match self.host.read_snapshot(name) {
            Ok(v) => self.host.vault().redact(
                &serde_json::to_string_pretty(&crate::host::json::sorted(&v)).unwrap_or_default(),
            ),
            Err(crate::host::Fail::Error { code, message, .. }) => format!("{code}: {message}"),
            Err(other) => format!("{other:?}"),
        }
    }

    fn scope_lines(&self) -> String {
        self.scope
            .iter_raw()
            .map(|(name, constant, value)| {
                format!(
                    "{}{name} = {}",
                    if constant { "const " } else { "" },
                    echo(&self.host, value)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn plan(&self, on_off: &str) -> String {
        let on = match on_off {
            "on" => true,
            "off" => false,
            _ => return format!("`:plan {on_off}`: say `:plan on` or `:plan off`"),
        };
        match self.host.set_plan(on) {
            Ok(()) => format!("plan mode {on_off}"),
            Err(e) => e,
        }
    }

    /// Evaluates one input; returns the text to show.
    fn eval(&mut self, input: &str) -> String {
        // A Ctrl-C that landed after the last operation of the previous line (a probe it cut
        // short, say) was for that line; left set, it would stop this one at its first step.
        self.host.clear_interrupt();
        let trimmed = input.trim();
        let (command, rest) = trimmed
            .split_once(' ')
            .map_or((trimmed, ""), |(c, r)| (c, r.trim()));
        if command.starts_with(':') {
            let incomplete =
                || format!("unknown or incomplete command `{trimmed}`; :help lists them");
            return match COMMANDS.iter().find(|c| c.name == command) {
                Some(c) if c.arg == Arg::Required && rest.is_empty() => incomplete(),
                Some(c) if c.arg == Arg::None && !rest.is_empty() => {
                    format!(
                        "`{}` takes nothing after it; :help lists the commands",
                        c.name
                    )
                }
                Some(c) => (c.run)(self, rest),
                None => incomplete(),
            };
        }
        let new_ast = match self.engine.compile_with_scope(&self.scope, input) {
            Ok(ast) => ast,
            Err(e) => return format!("syntax error: {e}"),
        };
        self.ast += new_ast;
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &self.ast);
        self.ast.clear_statements();
        // What the line wrote is proven before its answer is shown: a failed read-back check
        // is a blocker the operator sees now, not a phase later.
        self.host.settle_checks(crate::host::settle::Settle::All);
        // A block ends the line that raised it, not the session; the blocker stays recorded.
        self.host.end_of_line();
        match result {
            Ok(v) if v.is_unit() => String::new(),
            Ok(v) => echo(&self.host, &v),
            Err(err) => format!(
                "error: {}",
                self.host
                    .vault()
                    .redact(&crate::host::run_report::describe_rhai_error(&err))
            ),
        }
    }

    /// Ends the session: a waiting runbook stops before its next phase.
    fn close(&mut self) {
        self.gate.stop();
        if let Some(mut r) = self.runbook.take() {
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
            tracing::debug!(script = %r.script.display(), "runbook thread ended");
        }
        self.host.finish_tape();
    }
}

fn show(text: &str) {
    if !text.is_empty() {
        crate::out::line(text);
        let _ = std::io::stdout().flush();
    }
}

pub fn run(mut args: ReplArgs) -> Result<i32> {
    let mode = Mode {
        plan: args.plan,
        repl: true,
        json: false,
    };
    let host = match args.replay.take() {
        Some(tape) => {
            let replay = crate::command::replay::Replay::prepare(
                &tape,
                args.script.take(),
                args.env.clone(),
                &args.set,
                None,
            )?;
            args.script = Some(replay.script);
            let host = Host::new(replay.config, mode, replay.sets, Some(replay.evidence_dir))?;
            host.replay_from(replay.tape);
            Arc::new(host)
        }
        None => {
            let config = crate::command::run::load_env(&args.env)?;
            let sets = crate::command::run::parse_sets(&args.set)?;
            Arc::new(Host::new(config, mode, sets, None)?)
        }
    };
    if let Some(replayed) = host.replayed() {
        crate::out::line(&format!(
            "replaying {} offline from its tape: every answer is the recorded world's, nothing is \
             sent anywhere, a question the tape does not hold raises NOT_ON_TAPE",
            replayed["execution_id"].as_str().unwrap_or("-")
        ));
    }
    let gate = Arc::new(PhaseGate::default());
    host.attach_gate(Arc::clone(&gate));
    let root = args
        .script
        .as_deref()
        .map(crate::script::resolver::script_root)
        .unwrap_or_else(|| PathBuf::from("."));
    let engine = crate::script::engine::build(&host, &root);
    let mut session = Session {
        host: Arc::clone(&host),
        gate,
        breakpoints: Arc::new(Breakpoints::default()),
        engine,
        scope: Scope::new(),
        ast: AST::empty(),
        runbook: None,
    };
    if let Some(script) = &args.script {
        show(&session.load(script));
    }
    if std::io::stdin().is_terminal() {
        // Ctrl-C while a phase runs stops its wait or probe (host.interrupted is polled by the
        // waiters and by the engine) and returns to the prompt; at the prompt rustyline reads it.
        host.spawn_interrupt_listener();
        interactive(&mut session);
    } else {
        piped(&mut session);
    }
    session.close();
    let ledger = host.ledger();
    Ok(crate::host::run_report::exit_status(&ledger, false))
}

/// Joins lines ending in `\` into one input.
#[derive(Default)]
struct Lines {
    pending: String,
}

impl Lines {
    /// The complete input, once a line does not continue.
    fn push(&mut self, line: &str) -> Option<String> {
        if let Some(head) = line.strip_suffix('\\') {
            self.pending.push_str(head);
            self.pending.push('\n');
            return None;
        }
        self.pending.push_str(line);
        Some(std::mem::take(&mut self.pending))
    }

    fn continuing(&self) -> bool {
        !self.pending.is_empty()
    }
}

fn piped(session: &mut Session) {
    let mut lines = Lines::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some(input) = lines.push(&line) else {
            continue;
        };
        if input.trim() == QUIT {
            break;
        }
        if !input.trim().is_empty() {
            show(&session.eval(&input));
        }
    }
}

fn interactive(session: &mut Session) {
    let Ok(mut editor) = rustyline::Editor::<Completion, rustyline::history::DefaultHistory>::new()
    else {
        piped(session);
        return;
    };
    editor.set_helper(Some(Completion::new(&session.host)));
    let _ = editor.load_history(HISTORY_FILE);
    crate::out::line("m4host repl — :help for commands, :quit to leave");
    let mut lines = Lines::default();
    loop {
        let prompt = if lines.continuing() { "... " } else { "m4> " };
        match editor.readline(prompt) {
            Ok(line) => {
                let Some(input) = lines.push(&line) else {
                    continue;
                };
                if input.trim().is_empty() {
                    continue;
                }
                // History never holds a secret's plaintext.
                let _ = editor.add_history_entry(session.host.vault().redact(&input));
                if input.trim() == QUIT {
                    break;
                }
                show(&session.eval(&input));
                let _ = editor.save_history(HISTORY_FILE);
            }
            Err(rustyline::error::ReadlineError::Interrupted) => lines = Lines::default(),
            Err(_) => break,
        }
    }
    let _ = editor.save_history(HISTORY_FILE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_commands_primitives_and_words_under_the_cursor() {
        let c = Completion {
            words: vec![
                ":phases".into(),
                ":plan".into(),
                "ecs_wait_stable".into(),
                "SVC_IG".into(),
            ],
        };
        assert_eq!(
            c.candidates(":p", 2),
            (0, vec![":phases".to_owned(), ":plan".to_owned()])
        );
        assert_eq!(
            c.candidates("let w = ecs_w", 13),
            (8, vec!["ecs_wait_stable".to_owned()])
        );
        assert_eq!(
            c.candidates("resolve_handle(\"SVC", 19),
            (16, vec!["SVC_IG".to_owned()])
        );
        assert_eq!(c.candidates("x ", 2), (2, vec![]));
    }

    fn session() -> Session {
        let mode = Mode {
            plan: false,
            repl: true,
            json: false,
        };
        let host = Arc::new(Host::new(None, mode, Default::default(), None).unwrap());
        let engine = crate::script::engine::build(&host, Path::new("."));
        Session {
            host,
            gate: Arc::new(PhaseGate::default()),
            breakpoints: Arc::new(Breakpoints::default()),
            engine,
            scope: Scope::new(),
            ast: AST::empty(),
            runbook: None,
        }
    }

    #[test]
    fn every_command_is_in_help_completion_and_dispatch_once() {
        let help = Session::help();
        let words = Completion::new(&session().host).words;
        let mut s = session();
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(
                COMMANDS[..i].iter().all(|o| o.name != c.name),
                "{} twice",
                c.name
            );
            assert_eq!(
                help.matches(&format!("  {} ", c.name)).count(),
                1,
                "{}",
                c.name
            );
            assert!(words.contains(&c.name.to_owned()), "{}", c.name);
            let alone = s.eval(c.name);
            let incomplete = alone.starts_with("unknown or incomplete command");
            assert_eq!(incomplete, c.arg == Arg::Required, "{}: {alone}", c.name);
        }
        // A word after a command that takes none is refused, not ignored.
        assert!(s.eval(":step now").contains("takes nothing after it"));
        assert!(s
            .eval(":plan maybe")
            .contains("say `:plan on` or `:plan off`"));
        assert!(s
            .eval(":nope")
            .starts_with("unknown or incomplete command `:nope`"));
    }

    #[test]
    fn continued_lines_join() {
        let mut l = Lines::default();
        assert_eq!(l.push("let a = 1 +\\"), None);
        assert!(l.continuing());
        assert_eq!(l.push("2;").as_deref(), Some("let a = 1 +\n2;"));
    }
}
