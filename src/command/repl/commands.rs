//! The REPL's commands, described once: name, what follows, help line and handler. `:help`,
//! tab completion and the dispatch in `Session::eval` all read `COMMANDS`.

use super::Session;
use crate::host::stepper::Resume;
use std::path::Path;

/// Whether a command takes a word after it.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Arg {
    None,
    Optional,
    Required,
}

/// One REPL command, described once: its name, what follows it, its help line, and what it
/// does. `:help`, tab completion and the dispatch all read this table.
pub(super) struct ReplCommand {
    pub(super) name: &'static str,
    pub(super) usage: &'static str,
    pub(super) arg: Arg,
    pub(super) help: &'static str,
    pub(super) run: fn(&mut Session, &str) -> String,
}

/// `:quit` ends the input loop (`QUIT`), before any dispatch; it is listed for help and completion.
pub(super) const QUIT: &str = ":quit";

pub(super) const COMMANDS: &[ReplCommand] = &[
    ReplCommand {
        name: ":help",
        usage: "",
        arg: Arg::None,
        help: "this list",
        run: |_, _| Session::help(),
    },
    ReplCommand {
        name: ":load",
        usage: "FILE",
        arg: Arg::Required,
        help: "load a runbook; it waits before its first phase",
        run: |s, rest| s.load(Path::new(rest)),
    },
    ReplCommand {
        name: ":phases",
        usage: "",
        arg: Arg::None,
        help: "each phase with its status, and the next one",
        run: |s, _| s.phases(),
    },
    ReplCommand {
        name: ":step",
        usage: "",
        arg: Arg::None,
        help: "run the next phase",
        run: |s, _| s.step(None),
    },
    ReplCommand {
        name: ":run",
        usage: "PHASE",
        arg: Arg::Required,
        help: "run PHASE, which must be the next one (phases run in order)",
        run: |s, rest| s.step(Some(rest)),
    },
    ReplCommand {
        name: ":continue",
        usage: "",
        arg: Arg::None,
        help: "run on: every remaining phase, stopping at breakpoints",
        run: |s, _| s.continue_all(),
    },
    ReplCommand {
        name: ":break",
        usage: "FILE:LINE",
        arg: Arg::Optional,
        help: "stop at a statement inside a phase (:break alone lists them)",
        run: |s, rest| s.add_breakpoint(rest),
    },
    ReplCommand {
        name: ":next",
        usage: "",
        arg: Arg::None,
        help: "from a stop, the next statement here, running calls whole",
        run: |s, _| s.resume_stepping(Resume::Over),
    },
    ReplCommand {
        name: ":step-in",
        usage: "",
        arg: Arg::None,
        help: "from a stop, the next statement, inside a call it makes",
        run: |s, _| s.resume_stepping(Resume::Into),
    },
    ReplCommand {
        name: ":finish",
        usage: "",
        arg: Arg::None,
        help: "from a stop, run the current function out, stop in its caller",
        run: |s, _| s.resume_stepping(Resume::Out),
    },
    ReplCommand {
        name: ":watch",
        usage: "EXPR",
        arg: Arg::Optional,
        help: "show EXPR at every stop (:watch alone lists them)",
        run: |s, rest| s.watch(rest),
    },
    ReplCommand {
        name: ":unwatch",
        usage: "",
        arg: Arg::None,
        help: "clear every watch",
        run: |s, _| {
            s.breakpoints.unwatch();
            "no watches".into()
        },
    },
    ReplCommand {
        name: ":locals",
        usage: "",
        arg: Arg::None,
        help: "the runbook's variables where it stopped (secrets redacted)",
        run: |s, _| {
            s.gate
                .locals()
                .unwrap_or_else(|| "the runbook is not stopped inside a phase".into())
        },
    },
    ReplCommand {
        name: ":blockers",
        usage: "",
        arg: Arg::None,
        help: "the blocker rollup",
        run: |s, _| s.blockers(),
    },
    ReplCommand {
        name: ":logs",
        usage: "SERVICE [CLUSTER]",
        arg: Arg::Required,
        help: "the last log lines of SERVICE's task (read-only, redacted)",
        run: |s, rest| s.logs(rest),
    },
    ReplCommand {
        name: ":snapshot",
        usage: "NAME",
        arg: Arg::Required,
        help: "an artifact this execution published, read back",
        run: |s, rest| s.snapshot(rest),
    },
    ReplCommand {
        name: ":scope",
        usage: "",
        arg: Arg::None,
        help: "the session's variables (secrets redacted)",
        run: |s, _| s.scope_lines(),
    },
    ReplCommand {
        name: ":plan",
        usage: "on|off",
        arg: Arg::Required,
        help: "plan mode, before the first phase only",
        run: |s, rest| s.plan(rest),
    },
    ReplCommand {
        name: ":doc",
        usage: "[NAME]",
        arg: Arg::Optional,
        help: "the reference of a primitive",
        run: |_, rest| doc(rest),
    },
    ReplCommand {
        name: QUIT,
        usage: "",
        arg: Arg::None,
        help: "end the session (a waiting runbook stops before its next phase)",
        run: |_, _| String::new(),
    },
];

/// `:doc [NAME]`: the reference of one primitive, or of all.
fn doc(name: &str) -> String {
    let found: Vec<String> = crate::script::primitives::all()
        .filter(|p| name.is_empty() || p.name == name)
        .map(|p| format!("{}\n  {}", p.signature(), p.full_doc()))
        .collect();
    if found.is_empty() {
        format!("no primitive `{name}`; :doc lists them all")
    } else {
        found.join("\n")
    }
}
