//! Stepping a runbook from the REPL: the runbook runs on its own thread and stops before each
//! phase until the operator lets it go (`:step`, `:run PHASE`, `:continue`) or ends the session.
//! Phases therefore still run in order, in one execution, exactly as in a batch run.

use crate::sync::Locked;
use std::sync::{Condvar, Mutex};

thread_local! {
    /// Set on the thread that runs the loaded runbook; phase gates and the verdict apply there.
    static RUNBOOK_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn mark_runbook_thread() {
    RUNBOOK_THREAD.with(|f| f.set(true));
}

pub fn on_runbook_thread() -> bool {
    RUNBOOK_THREAD.with(|f| f.get())
}

#[derive(Debug, Default)]
struct GateState {
    permits: u64,
    run_all: bool,
    stop: bool,
    /// The phase the runbook waits before, when it waits.
    waiting: Option<String>,
    done: bool,
    /// Where the runbook stopped inside a phase (breakpoint or :next), with its locals.
    at: Option<(String, String)>,
    /// How to go on from `at`, once the REPL said.
    resume: Option<Resume>,
}

/// How a runbook stopped inside a phase goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Run on to the next breakpoint (`:continue`).
    Run,
    /// Stop at the next statement, inside a function the statement calls too (`:step-in`).
    Into,
    /// Stop at the next statement of this function or a caller, running calls whole (`:next`).
    Over,
    /// Run the current function to its end, stop at the caller's next statement (`:finish`).
    Out,
}

/// Where the debugger hook stops next, besides breakpoints: from the Resume the operator chose
/// and the call depth of the statement it was given at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stepping {
    #[default]
    Off,
    Into,
    /// At a statement no deeper than this call level.
    Over(usize),
    /// At a statement shallower than this call level.
    Out(usize),
}

impl Stepping {
    pub fn after(resume: Resume, level: usize) -> Stepping {
        match resume {
            Resume::Run => Stepping::Off,
            Resume::Into => Stepping::Into,
            Resume::Over => Stepping::Over(level),
            Resume::Out => Stepping::Out(level),
        }
    }

    fn stops_at(self, level: usize) -> bool {
        match self {
            Stepping::Off => false,
            Stepping::Into => true,
            Stepping::Over(at) => level <= at,
            Stepping::Out(at) => level < at,
        }
    }
}

/// What the REPL sees after letting the runbook go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pause {
    Before(String),
    /// Stopped inside a phase at `file:line` (a breakpoint or :next).
    At(String),
    Finished,
}

#[derive(Debug, Default)]
pub struct PhaseGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl PhaseGate {
    /// Called by the runbook before a phase (or a skip); false when the session ends instead.
    pub fn before_phase(&self, id: &str) -> bool {
        let mut s = self.state.locked();
        s.waiting = Some(id.to_owned());
        self.changed.notify_all();
        while s.permits == 0 && !s.run_all && !s.stop {
            s = crate::sync::wait(&self.changed, s);
        }
        s.waiting = None;
        if s.stop {
            return false;
        }
        if !s.run_all {
            s.permits -= 1;
        }
        self.changed.notify_all();
        true
    }

    /// Called when the runbook's evaluation ended, however it ended.
    pub fn finish(&self) {
        let mut s = self.state.locked();
        s.done = true;
        s.waiting = None;
        self.changed.notify_all();
    }

    /// Lets one phase go.
    pub fn step(&self) {
        let mut s = self.state.locked();
        s.permits += 1;
        self.changed.notify_all();
    }

    /// Lets every remaining phase go.
    pub fn run_all(&self) {
        let mut s = self.state.locked();
        s.run_all = true;
        self.changed.notify_all();
    }

    /// Ends the session: a waiting runbook stops before its next phase.
    pub fn stop(&self) {
        let mut s = self.state.locked();
        s.stop = true;
        self.changed.notify_all();
    }

    /// Called by the runbook's debugger hook: stops at `location` until the REPL resumes, and
    /// says how to go on (a session that ends runs on to its end).
    pub fn stop_at(&self, location: String, locals: String) -> Resume {
        let mut s = self.state.locked();
        s.at = Some((location, locals));
        s.resume = None;
        self.changed.notify_all();
        while s.resume.is_none() && !s.stop {
            s = crate::sync::wait(&self.changed, s);
        }
        s.at = None;
        s.resume.take().unwrap_or(Resume::Run)
    }

    /// Resumes a runbook stopped inside a phase.
    pub fn resume(&self, how: Resume) -> bool {
        let mut s = self.state.locked();
        if s.at.is_none() {
            return false;
        }
        s.resume = Some(how);
        s.at = None;
        self.changed.notify_all();
        true
    }

    /// The locals captured where the runbook stopped, if it stopped inside a phase.
    pub fn locals(&self) -> Option<String> {
        self.state.locked().at.as_ref().map(|(_, l)| l.clone())
    }

    /// Blocks until the runbook waits before a phase (with no permit left), stops inside one, or
    /// has finished.
    pub fn wait_pause(&self) -> Pause {
        let mut s = self.state.locked();
        loop {
            if s.done {
                return Pause::Finished;
            }
            if let Some((location, _)) = &s.at {
                return Pause::At(location.clone());
            }
            if let Some(id) = &s.waiting {
                if s.permits == 0 && !s.run_all {
                    return Pause::Before(id.clone());
                }
            }
            s = crate::sync::wait(&self.changed, s);
        }
    }

    /// Where the runbook is now, without waiting.
    pub fn pause(&self) -> Option<Pause> {
        let s = self.state.locked();
        if s.done {
            Some(Pause::Finished)
        } else if let Some((location, _)) = &s.at {
            Some(Pause::At(location.clone()))
        } else {
            s.waiting.clone().map(Pause::Before)
        }
    }
}

/// Statement breakpoints of a REPL session: `file:line`, the file matched as a path suffix.
#[derive(Debug, Default)]
pub struct Breakpoints {
    points: Mutex<Vec<(String, usize)>>,
    stepping: Mutex<Stepping>,
    last: Mutex<Option<(String, usize)>>,
    /// Expressions shown at every stop (`:watch`).
    watches: Mutex<Vec<String>>,
}

impl Breakpoints {
    pub fn add(&self, file: &str, line: usize) {
        self.points.locked().push((file.to_owned(), line));
    }

    pub fn list(&self) -> Vec<String> {
        self.points
            .locked()
            .iter()
            .map(|(f, l)| format!("{f}:{l}"))
            .collect()
    }

    /// Whether the runbook should stop at this statement (at call depth `level`); a line stops
    /// once per arrival.
    pub fn should_stop(&self, source: &str, line: usize, level: usize) -> bool {
        let here = (source.to_owned(), line);
        let mut last = self.last.locked();
        if last.as_ref() == Some(&here) {
            return false;
        }
        let hit =
            self.stepping.locked().stops_at(level)
                || self.points.locked().iter().any(|(f, l)| {
                    *l == line && (source == f || source.ends_with(&format!("/{f}")))
                });
        *last = Some(here);
        hit
    }

    pub fn watch(&self, expr: &str) {
        self.watches.locked().push(expr.to_owned());
    }

    pub fn watches(&self) -> Vec<String> {
        self.watches.locked().clone()
    }

    pub fn unwatch(&self) {
        self.watches.locked().clear();
    }

    pub fn set_stepping(&self, how: Stepping) {
        *self.stepping.locked() = how;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn steps_one_phase_at_a_time_then_finishes() {
        let gate = Arc::new(PhaseGate::default());
        let runner = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                let mut ran = Vec::new();
                for id in ["A", "B", "C"] {
                    if !gate.before_phase(id) {
                        break;
                    }
                    ran.push(id);
                }
                gate.finish();
                ran
            })
        };
        assert_eq!(gate.wait_pause(), Pause::Before("A".into()));
        gate.step();
        assert_eq!(gate.wait_pause(), Pause::Before("B".into()));
        gate.run_all();
        assert_eq!(gate.wait_pause(), Pause::Finished);
        assert_eq!(runner.join().unwrap(), vec!["A", "B", "C"]);
    }

    #[test]
    fn stop_ends_a_waiting_runbook() {
        let gate = Arc::new(PhaseGate::default());
        let g = Arc::clone(&gate);
        let runner = std::thread::spawn(move || {
            let went = g.before_phase("A");
            g.finish();
            went
        });
        assert_eq!(gate.wait_pause(), Pause::Before("A".into()));
        gate.stop();
        assert!(!runner.join().unwrap());
    }
}

#[cfg(test)]
mod breakpoint_tests {
    use super::*;

    #[test]
    fn breakpoints_match_by_path_suffix_once_per_arrival() {
        let b = Breakpoints::default();
        b.add("scripts/m4/d_dependencies.rhai", 12);
        assert!(b.should_stop("/repo/scripts/m4/d_dependencies.rhai", 12, 1));
        assert!(
            !b.should_stop("/repo/scripts/m4/d_dependencies.rhai", 12, 1),
            "same line, same arrival"
        );
        assert!(!b.should_stop("/repo/scripts/m4/d_dependencies.rhai", 13, 1));
        assert!(!b.should_stop("/repo/scripts/m4/xd_dependencies.rhai", 12, 1));
        b.set_stepping(Stepping::Into);
        assert!(b.should_stop("/repo/stdlib/runbook.rhai", 3, 4));
    }

    #[test]
    fn next_steps_over_calls_and_finish_runs_out_of_the_function() {
        let b = Breakpoints::default();
        // Stopped at call level 2: :next stops at level 2 or shallower, never inside a call.
        b.set_stepping(Stepping::after(Resume::Over, 2));
        assert!(
            !b.should_stop("/r/stdlib/runbook.rhai", 10, 3),
            "inside a call"
        );
        assert!(b.should_stop("/r/scripts/m4/d.rhai", 20, 2));
        assert!(
            b.should_stop("/r/scripts/m4/main.rhai", 30, 1),
            "the caller, after a return"
        );
        b.set_stepping(Stepping::after(Resume::Out, 2));
        assert!(
            !b.should_stop("/r/scripts/m4/d.rhai", 21, 2),
            "still in the function"
        );
        assert!(b.should_stop("/r/scripts/m4/main.rhai", 31, 1));
        b.set_stepping(Stepping::after(Resume::Run, 2));
        assert!(!b.should_stop("/r/scripts/m4/main.rhai", 32, 1));
    }
}
