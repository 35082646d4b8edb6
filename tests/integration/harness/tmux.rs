//! A real terminal for the interactive REPL tests: a tmux session of its own, keys sent, the screen
//! read, waits for what it shows (bounded), killed when dropped.

use std::time::{Duration, Instant};

pub(crate) struct Tmux {
    pub(crate) session: String,
}

impl Tmux {
    pub(crate) fn start(dir: &std::path::Path, command: &str) -> Tmux {
        let session = super::unique("m4repl");
        let status = std::process::Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "160",
                "-y",
                "50",
                "-c",
            ])
            .arg(dir)
            .arg(command)
            .status()
            .expect("tmux runs (tests/run.sh installs it)");
        assert!(status.success());
        Tmux { session }
    }

    /// The REPL of `t` on a terminal of its own, started in `dir` (where its history is kept),
    /// with `args` after `--env`.
    pub(crate) fn repl(t: &super::Tenant, dir: &std::path::Path, args: &str) -> Tmux {
        let command = format!(
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true {} repl --env {} {args}",
            env!("CARGO_BIN_EXE_m4host"),
            t.path("local.toml").display()
        );
        Tmux::start(dir, &command)
    }

    pub(crate) fn keys(&self, keys: &str) {
        std::process::Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", keys])
            .status()
            .unwrap();
        std::process::Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "Enter"])
            .status()
            .unwrap();
    }

    /// Types `lines` in one write, each ended by Enter, as an operator typing ahead does: the
    /// REPL reads the next lines into its buffer with the first one's Enter.
    pub(crate) fn type_ahead(&self, lines: &[&str]) {
        let keys: String = lines.iter().map(|line| format!("{line}\r")).collect();
        std::process::Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", &keys])
            .status()
            .unwrap();
    }

    /// Everything the pane printed, its scrollback included, lines the terminal wrapped joined.
    pub(crate) fn history(&self) -> String {
        let out = std::process::Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn screen(&self) -> String {
        let out = std::process::Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Reads `read` (the screen or the history) every 100 ms until `seen` accepts it, bounded by
    /// `limit`; past it the test fails with what was last read and `what` was awaited.
    fn until(
        &self,
        limit: Duration,
        read: fn(&Tmux) -> String,
        seen: impl Fn(&str) -> bool,
        what: &str,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = read(self);
            if seen(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `marker` is on the screen and, below it, a fresh empty prompt. After Ctrl-C
    /// rustyline drops the keys it had already read into its buffer with the interrupted line, so
    /// a key sent before the next prompt is drawn can be lost; the prompt is drawn once the
    /// terminal is back in raw mode for the next line.
    pub(crate) fn wait_prompt_after(&self, marker: &str) -> String {
        let prompt_below = |screen: &str| {
            screen.rfind(marker).is_some_and(|at| {
                let below = &screen[at + marker.len()..];
                below.contains('\n') && below.trim_end().ends_with("m4>")
            })
        };
        self.until(
            Duration::from_secs(20),
            Tmux::screen,
            prompt_below,
            &format!("showed {marker:?} followed by a fresh prompt"),
        )
    }

    /// Waits until some line of the history (scrollback included) satisfies `line_is`: for
    /// output that may scroll past the screen, or whose marker text the screen already shows
    /// from an earlier line (a phase line names the codes its blockers then spell out).
    pub(crate) fn wait_for_line(&self, line_is: impl Fn(&str) -> bool) -> String {
        self.until(
            Duration::from_secs(20),
            Tmux::history,
            |history| history.lines().any(&line_is),
            "had a line of the history that was the one awaited",
        )
    }

    pub(crate) fn wait_for(&self, text: &str) -> String {
        self.wait_for_within(text, Duration::from_secs(20))
    }

    /// `wait_for`, bounded by `limit` (a whole run on a loaded machine).
    pub(crate) fn wait_for_within(&self, text: &str, limit: Duration) -> String {
        self.until(
            limit,
            Tmux::screen,
            |screen| screen.contains(text),
            &format!("showed {text:?}"),
        )
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}
