//! What the operator watches while `ecs_wait_stable` waits (issue #23): on a terminal, one line
//! per service redrawn in place (indicatif), its state — sent, PENDING, RUNNING, HEALTHY, soaking
//! with a bar to the soak's end, stable or up, failed with the cause — its wave and the wait's
//! elapsed time. Under NO_COLOR or TERM=dumb, a plain line per change of state instead; nothing on
//! a non-terminal or with `--output json`. The lines are cleared when the wait ends, before the
//! phase's own lines are printed, so they never garble them or the REPL's prompt.

use crate::rules::service_wait::ServiceWait;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

/// How the wait is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    Off,
    Plain,
    Live,
}

impl ViewMode {
    /// Live on a colour terminal, plain lines on a dumb one, nothing for machines (`--output
    /// json`, stderr not a terminal).
    pub fn detect(json: bool) -> ViewMode {
        if json || !std::io::stderr().is_terminal() {
            return ViewMode::Off;
        }
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if dumb || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            ViewMode::Plain
        } else {
            ViewMode::Live
        }
    }
}

/// One service's state as the operator reads it, from its last judgement.
pub fn state_of(r: &ServiceWait, until_up: bool) -> String {
    use crate::rules::stability::ServiceOutcome;
    if r.outcome.is_final_failure() {
        let cause: String = r.reason.chars().take(60).collect();
        return format!("failed ({}): {cause}", r.outcome.as_str());
    }
    if r.stable {
        return if until_up { "up" } else { "stable" }.to_owned();
    }
    let count = |s: &str| r.task_states.get(s).copied().unwrap_or(0);
    let running = count("RUNNING");
    let starting = count("PROVISIONING") + count("PENDING") + count("ACTIVATING");
    if running > 0 && r.stable_for_ms > 0 && r.soak_ms > 0 {
        let width = 20;
        let done = ((r.stable_for_ms.min(r.soak_ms) * width) / r.soak_ms) as usize;
        return format!(
            "soaking [{}{}] {:.1}/{:.1} s",
            "#".repeat(done),
            "-".repeat(width as usize - done),
            r.stable_for_ms as f64 / 1000.0,
            r.soak_ms as f64 / 1000.0
        );
    }
    if running > 0 {
        return match r.health {
            crate::rules::stability::Health::Healthy => "HEALTHY",
            _ => "RUNNING",
        }
        .to_owned();
    }
    if starting > 0 {
        return "PENDING".to_owned();
    }
    match r.outcome {
        ServiceOutcome::Settling => "sent".to_owned(),
        other => other.as_str().to_owned(),
    }
}

/// The view of one wait.
pub struct WaitView {
    mode: ViewMode,
    label: String,
    until_up: bool,
    multi: indicatif::MultiProgress,
    lines: BTreeMap<String, indicatif::ProgressBar>,
    said: BTreeMap<String, String>,
    /// The last poll's states of the asked services, and when it was.
    last: BTreeMap<String, String>,
    elapsed: Duration,
}

impl WaitView {
    /// A view of `services` (the ones asked for; services only watched are not drawn).
    pub fn new(mode: ViewMode, label: &str, services: &[String], until_up: bool) -> WaitView {
        let multi = indicatif::MultiProgress::with_draw_target(match mode {
            ViewMode::Live => indicatif::ProgressDrawTarget::stderr_with_hz(8),
            _ => indicatif::ProgressDrawTarget::hidden(),
        });
        let mut lines = BTreeMap::new();
        if mode == ViewMode::Live {
            let style = indicatif::ProgressStyle::with_template("  {prefix} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            for name in services {
                let line = multi.add(indicatif::ProgressBar::new_spinner());
                line.set_style(style.clone());
                line.set_prefix(format!("{name:<44} {label:<8}"));
                // The same shape as every later state: the operator reads one column of times.
                line.set_message("sent  (0.0 s)");
                lines.insert(name.clone(), line);
            }
        }
        WaitView {
            mode,
            label: label.to_owned(),
            until_up,
            multi,
            lines,
            said: BTreeMap::new(),
            last: BTreeMap::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// The wait's last poll: each asked service's state.
    pub fn update(&mut self, results: &BTreeMap<String, ServiceWait>, elapsed: Duration) {
        self.elapsed = elapsed;
        for (name, r) in results.iter().filter(|(_, r)| !r.watched) {
            let state = state_of(r, self.until_up);
            self.last.insert(name.clone(), state.clone());
            match self.mode {
                ViewMode::Off => {}
                ViewMode::Live => {
                    if let Some(line) = self.lines.get(name) {
                        line.set_message(format!("{state}  ({:.1} s)", elapsed.as_secs_f64()));
                    }
                }
                ViewMode::Plain => {
                    // One line per change, without the soak's moving bar.
                    let kind = state.split(' ').next().unwrap_or_default().to_owned();
                    if self.said.get(name) != Some(&kind) {
                        let label = if self.label.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", self.label)
                        };
                        crate::out::err_line(&format!(
                            "  {name}{label}: {state} ({:.1} s)",
                            elapsed.as_secs_f64()
                        ));
                        self.said.insert(name.clone(), kind);
                    }
                }
            }
        }
    }

    /// Clears the live lines and leaves one line for the wait ("wave 2: 8/8 up in 3.4 s"), so a
    /// bring-up's waves stay on screen as the next one starts (the phase's own lines follow).
    pub fn finish(self) {
        for line in self.lines.values() {
            line.finish_and_clear();
        }
        let _ = self.multi.clear();
        if self.mode != ViewMode::Off && !self.label.is_empty() && !self.last.is_empty() {
            crate::out::err_line(&format!(
                "  {}",
                summary(&self.label, &self.last, self.elapsed)
            ));
        }
    }
}

/// One wait in a line: how many of its services reached the goal, which failed, how long it took.
pub fn summary(label: &str, states: &BTreeMap<String, String>, elapsed: Duration) -> String {
    let done = states
        .values()
        .filter(|s| *s == "up" || *s == "stable")
        .count();
    let goal = if states.values().any(|s| s == "up") {
        "up"
    } else {
        "stable"
    };
    let failed: Vec<&str> = states
        .iter()
        .filter(|(_, s)| s.starts_with("failed"))
        .map(|(n, _)| n.as_str())
        .collect();
    let mut line = format!(
        "{label}: {done}/{} {goal} in {:.1} s",
        states.len(),
        elapsed.as_secs_f64()
    );
    if !failed.is_empty() {
        line.push_str(&format!("; failed: {}", failed.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::stability::{Health, ServiceOutcome};

    fn wait(outcome: ServiceOutcome, states: &[(&str, usize)]) -> ServiceWait {
        let mut r = ServiceWait::without_service("ig", outcome, "running 0/1".into());
        r.task_states = states.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        r.soak_ms = 30_000;
        r
    }

    #[test]
    fn a_wait_ends_in_one_line_naming_what_failed() {
        let states: BTreeMap<String, String> =
            [("a", "up"), ("b", "up"), ("c", "failed (crash_loop): x")]
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect();
        assert_eq!(
            summary("wave 2", &states, Duration::from_millis(3400)),
            "wave 2: 2/3 up in 3.4 s; failed: c"
        );
        let stable: BTreeMap<String, String> = [("a".to_string(), "stable".to_string())].into();
        assert_eq!(
            summary("all", &stable, Duration::from_secs(2)),
            "all: 1/1 stable in 2.0 s"
        );
    }

    #[test]
    fn each_step_of_a_bring_up_reads_as_its_state() {
        assert_eq!(
            state_of(&wait(ServiceOutcome::Settling, &[]), false),
            "sent"
        );
        assert_eq!(
            state_of(
                &wait(ServiceOutcome::Settling, &[("PROVISIONING", 1)]),
                false
            ),
            "PENDING"
        );
        let mut running = wait(ServiceOutcome::Settling, &[("RUNNING", 1)]);
        assert_eq!(state_of(&running, false), "RUNNING");
        running.health = Health::Healthy;
        assert_eq!(state_of(&running, false), "HEALTHY");
        running.stable_for_ms = 15_000;
        assert_eq!(
            state_of(&running, false),
            "soaking [##########----------] 15.0/30.0 s"
        );
        running.stable = true;
        assert_eq!(state_of(&running, false), "stable");
        assert_eq!(state_of(&running, true), "up");
        let mut crashed = wait(ServiceOutcome::CrashLoop, &[("RUNNING", 1)]);
        crashed.reason = "1 unplanned stop(s) since the update".into();
        assert_eq!(
            state_of(&crashed, false),
            "failed (crash_loop): 1 unplanned stop(s) since the update"
        );
    }
}
