//! What the operator watches during a bring-up (issue #23), in a real terminal (tmux): each
//! service of the wave on a line of its own with its state and wave, redrawn in place and cleared
//! before the phase lines; plain lines under NO_COLOR; nothing on a pipe (every other test).

use crate::harness::{control, Tenant, Tmux, M4_SCRIPT};

/// M4 in a tmux pane that stays after it ends (its exit status printed), wave 1's daemon slow
/// to start so the bring-up is on screen long enough to be read.
fn m4_in_tmux(t: &Tenant, env: &str) -> Tmux {
    control(
        "fault",
        &serde_json::json!({"cluster": t.prefix(), "service": t.service("ig"), "mode": null,
                            "timing": {"start_delay": 3.0}}),
    );
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "sh -c '{env} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
         {} run {M4_SCRIPT} --env {} --set soak_ms=1500 --set stabilization_interval_ms=200; echo EXIT=$?; sleep 120'",
        env!("CARGO_BIN_EXE_m4host"),
        t.path("local.toml").display()
    );
    Tmux::start(dir.path(), &command)
}

#[test]
fn a_terminal_shows_each_service_live_and_the_phase_lines_stay_clean() {
    let t = Tenant::new();
    let tmux = m4_in_tmux(&t, "");
    // Mid-bring-up: wave 1's service on its own line, its wave, a state, the elapsed time.
    let ig = t.service("ig");
    let screen = tmux.wait_for_within("wave 1", std::time::Duration::from_secs(60));
    let line = screen
        .lines()
        .find(|l| l.contains(&ig) && l.contains("wave 1"))
        .unwrap_or_else(|| panic!("no line for {ig}:\n{screen}"));
    assert!(
        ["sent", "PENDING", "RUNNING", "up"]
            .iter()
            .any(|s| line.contains(&format!(" {s}  ("))),
        "{line}"
    );
    // After the last wave every service soaks together: bars to the soak's end.
    tmux.wait_for_within("soaking [", std::time::Duration::from_secs(120));
    let end = tmux.wait_for_within("EXIT=", std::time::Duration::from_secs(180));
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(
        end.contains("M4.F   PASS") && end.contains("ADVANCE_TO_M5"),
        "{end}"
    );
    for gone in ["soaking [", " wave 1 ", " PENDING  ("] {
        assert!(
            !end.contains(gone),
            "the live lines are cleared: {gone:?} left in\n{end}"
        );
    }
    // Each wave leaves its line as the next one starts.
    let all = tmux.history();
    for wave in [
        "wave 1: 1/1 up in ",
        "wave 2: 8/8 up in ",
        "wave 4: 1/1 up in ",
        "all: 13/13 stable in ",
    ] {
        assert!(all.contains(wave), "{wave:?} not in\n{all}");
    }
}

#[test]
fn no_color_shows_plain_lines_of_each_change() {
    let t = Tenant::new();
    let tmux = m4_in_tmux(&t, "NO_COLOR=1");
    tmux.wait_for_within("EXIT=", std::time::Duration::from_secs(180));
    let end = tmux.history();
    assert!(end.contains("EXIT=0"), "{end}");
    let ig = t.service("ig");
    assert!(end.contains(&format!("  {ig} wave 1: ")), "{end}");
    assert!(end.contains(&format!("  {ig} all: stable")), "{end}");
    // A change of state is a line, never a redraw: no carriage returns or cursor moves on screen.
    assert!(!end.contains('\r'));
}
