//! `m4host repl`: a first interactive loop — one persistent scope, function definitions kept
//! across inputs, results echoed as JSON and redacted, errors shown with their position while
//! the session goes on. Without a TTY it reads stdin line by line. The full operator REPL (phases,
//! stepping, breakpoints) builds on this.

use crate::cli::ReplArgs;
use crate::error::Result;
use crate::host::{Host, Mode};
use crate::secret::Secret;
use rhai::{Dynamic, Engine, Scope, AST};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

const HISTORY_FILE: &str = ".m4host_history";

const HELP: &str = "enter Rhai statements; a line ending in `\\` continues on the next.\n\
commands: :help  :blockers  :scope  :doc NAME  :quit";

/// How a value is echoed: a Secret by its marker, data as pretty JSON, anything else as text.
pub fn echo(host: &Host, value: &Dynamic) -> String {
    let value = value.flatten_clone();
    let text = if let Some(secret) = value.read_lock::<Secret>() {
        secret.redacted()
    } else {
        match crate::json::to_json(&value, "value") {
            Ok(json) => {
                serde_json::to_string_pretty(&crate::json::sorted(&json)).unwrap_or_default()
            }
            Err(refusal) => format!("<{}>", refusal),
        }
    };
    host.vault.redact(&text)
}

struct Session {
    host: Arc<Host>,
    engine: Engine,
    scope: Scope<'static>,
    ast: AST,
}

impl Session {
    /// Evaluates one input; returns the text to show.
    fn eval(&mut self, input: &str) -> String {
        let trimmed = input.trim();
        match trimmed {
            ":help" => return HELP.to_owned(),
            ":blockers" => {
                let ledger = self.host.ledger();
                return if ledger.blockers.is_empty() {
                    "no blockers".to_owned()
                } else {
                    ledger
                        .blockers
                        .iter()
                        .map(|b| format!("{} [{}] {}", b.code, b.phase, b.reason))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
            }
            ":scope" => {
                return self
                    .scope
                    .iter_raw()
                    .map(|(name, constant, value)| {
                        format!(
                            "{}{name} = {}",
                            if constant { "const " } else { "" },
                            echo(&self.host, value)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            _ => {}
        }
        if let Some(name) = trimmed.strip_prefix(":doc") {
            let name = name.trim();
            return crate::primitives::all()
                .filter(|p| name.is_empty() || p.name == name)
                .map(|p| format!("{}\n  {}", p.signature(), p.doc))
                .collect::<Vec<_>>()
                .join("\n");
        }
        if trimmed.starts_with(':') {
            return format!("unknown command `{trimmed}`; :help lists them");
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
        // A block ends the input that raised it, not the session; the blocker stays recorded.
        self.host.ledger().halt_pending = false;
        match result {
            Ok(v) if v.is_unit() => String::new(),
            Ok(v) => echo(&self.host, &v),
            Err(err) => format!(
                "error: {}",
                self.host
                    .vault
                    .redact(&crate::report::describe_rhai_error(&err))
            ),
        }
    }
}

fn show(text: &str) {
    if !text.is_empty() {
        println!("{text}");
        let _ = std::io::stdout().flush();
    }
}

pub fn run(args: ReplArgs) -> Result<i32> {
    let config = crate::runner::load_env(&args.env)?;
    let sets = crate::runner::parse_sets(&args.set)?;
    let mode = Mode {
        plan: args.plan,
        repl: true,
        json: false,
    };
    let host = Arc::new(Host::new(config, mode, sets, None)?);
    let root = args
        .script
        .as_deref()
        .map(crate::runner::script_root)
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let engine = crate::engine::build(&host, &root);
    let mut session = Session {
        host: Arc::clone(&host),
        engine,
        scope: Scope::new(),
        ast: AST::empty(),
    };
    if let Some(script) = &args.script {
        let text = crate::config::read_text(script)?;
        show(&session.eval(&text));
    }
    if std::io::stdin().is_terminal() {
        interactive(&mut session);
    } else {
        piped(&mut session);
    }
    let ledger = host.ledger();
    Ok(crate::report::exit_status(&ledger, false))
}

fn piped(session: &mut Session) {
    let stdin = std::io::stdin();
    let mut pending = String::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push('\n');
            continue;
        }
        pending.push_str(&line);
        let input = std::mem::take(&mut pending);
        if input.trim() == ":quit" {
            break;
        }
        if !input.trim().is_empty() {
            show(&session.eval(&input));
        }
    }
}

fn interactive(session: &mut Session) {
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        piped(session);
        return;
    };
    let _ = editor.load_history(HISTORY_FILE);
    println!("m4host repl — :help for commands, :quit to leave");
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "m4> " } else { "... " };
        match editor.readline(prompt) {
            Ok(line) => {
                if let Some(head) = line.strip_suffix('\\') {
                    pending.push_str(head);
                    pending.push('\n');
                    continue;
                }
                pending.push_str(&line);
                let input = std::mem::take(&mut pending);
                if input.trim().is_empty() {
                    continue;
                }
                // History never holds a secret's plaintext.
                let _ = editor.add_history_entry(session.host.vault.redact(&input));
                if input.trim() == ":quit" {
                    break;
                }
                show(&session.eval(&input));
                let _ = editor.save_history(HISTORY_FILE);
            }
            Err(rustyline::error::ReadlineError::Interrupted) => pending.clear(),
            Err(_) => break,
        }
    }
    let _ = editor.save_history(HISTORY_FILE);
}
