//! The guarded service update, the tool's most important rule, as pure decisions (no I/O, no
//! Rhai): which desired counts may be asked for, that a run holding a blocker takes no action,
//! and that only a task definition carrying the run scope may be started. The host asks these
//! before it sends anything; the M3 entry precondition (M4A-B1) is the host's own block.

use crate::rules::error_code::ErrorCode;
use crate::rules::task_definition::{run_scope_problem, TaskDefinitionView};

/// Why an update is refused: a catchable error code, what happened and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub help: String,
}

fn refusal(code: ErrorCode, message: String, help: &str) -> Refusal {
    Refusal {
        code,
        message,
        help: help.to_owned(),
    }
}

/// What is asked of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub desired_count: i64,
    /// A rollback returning a service to the count an execution recorded before it changed it.
    pub restore: bool,
}

/// Refusals that hold whatever the service: the singleton law and a run already holding.
pub fn refuse_request(service: &str, request: Request, held: bool) -> Option<Refusal> {
    let Request {
        desired_count: desired,
        restore,
    } = request;
    // A rollback restores the counts an execution recorded before it changed them (0 or 1);
    // bring-up itself only ever asks for the singleton.
    if restore && !(0..=1).contains(&desired) {
        return Some(refusal(
            ErrorCode::NotSingleton,
            format!("refused: restoring `{service}` to {desired} breaks the singleton law"),
            "a v0 daemon is restored to 0 or 1",
        ));
    }
    if !restore && desired != 1 {
        return Some(refusal(
            ErrorCode::NotSingleton,
            format!("refused: desired count {desired} for `{service}` breaks the singleton law (v0 runs exactly 1)"),
            "use #{desired_count: 1}",
        ));
    }
    if held {
        return Some(refusal(
            ErrorCode::Held,
            format!("refused to update `{service}`: the run already holds a blocker, later sub-phases take no action"),
            "fix the cause and start a new execution",
        ));
    }
    None
}

/// Where a change to the world is asked from (issue #29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeOrigin<'a> {
    /// The phase running when it is asked, if any.
    pub phase: Option<&'a str>,
    /// Asked by a line an operator typed into the REPL (not by the runbook it steps).
    pub typed_line: bool,
}

/// Every change to the world belongs to a phase: a primitive that starts or stops a service or a
/// task (its table row says so) is refused outside a running phase, and always from a typed REPL
/// line — also while the runbook is stopped at a breakpoint inside a phase: the debugger
/// observes, the runbook acts. The host's own stops of its one-shot tasks are not asked here.
pub fn refuse_outside_phase(primitive: &str, origin: ChangeOrigin) -> Option<Refusal> {
    if origin.typed_line {
        return Some(refusal(
            ErrorCode::OutsidePhase,
            format!(
                "refused: `{primitive}` changes the world, and a typed REPL line never does{}",
                origin
                    .phase
                    .map(|p| format!(" (the runbook is stopped inside {p})"))
                    .unwrap_or_default()
            ),
            "let the runbook's phase do it: :step (or :run PHASE, :continue) to that phase; \
             reads and probes stay allowed here",
        ));
    }
    if origin.phase.is_none() {
        return Some(refusal(
            ErrorCode::OutsidePhase,
            format!("refused: `{primitive}` changes the world outside a running phase"),
            "call it inside run_phase(\"PHASE\", || { ... }) (a runbook step), so that its \
             phase records and publishes the change",
        ));
    }
    None
}

/// Refusal of the run scope: the key the M3 handoff names must be known, and a start (desired
/// count above 0) needs every essential container to carry `key=run_id`. Scaling to zero starts
/// nothing, so only a start is held to the run-scope law.
pub fn refuse_launch(
    service: &str,
    request: Request,
    key: Option<&str>,
    run_id: &str,
    task_definition: &TaskDefinitionView,
) -> Option<Refusal> {
    let Some(key) = key else {
        return Some(refusal(
            ErrorCode::RunScopeMissing,
            "the M3 handoff names no run-scope env key".to_owned(),
            "",
        ));
    };
    if request.desired_count == 0 {
        return None;
    }
    run_scope_refusal(service, task_definition, key, run_id)
}

/// RUN_SCOPE_MISMATCH when `task_definition` may not start `what` under the run-scope law (a
/// service's task, or a one-shot task of a family).
pub fn run_scope_refusal(
    what: &str,
    task_definition: &TaskDefinitionView,
    key: &str,
    run_id: &str,
) -> Option<Refusal> {
    run_scope_problem(task_definition, key, run_id).map(|problem| Refusal {
        code: ErrorCode::RunScopeMismatch,
        message: format!("refused to start `{what}`: {problem}"),
        help: format!("register a task definition whose containers carry {key}={run_id}"),
    })
}

/// Whether the services as the last leg of a wait's last poll read them (`sent_at` ..
/// `answered_at`) may stand for the guard's own DescribeServices, decided at `decided_at`
/// (issue #23). They may when the update is decided no later after that answer came than the
/// answer took to come: the same leg judged the wave before up and read the services next, so
/// the update acts on one picture of the cluster taken after the wave was up, and a read of its
/// own would be as old when its UpdateService lands (there is no conditional UpdateService: any
/// read is a round trip old by then). Anything longer in between (a breakpoint, stopped tasks'
/// logs read, a slow script) and the guard reads again. Clock readings out of order never pass.
pub fn ridden_read_is_fresh(
    sent_at: chrono::DateTime<chrono::Utc>,
    answered_at: chrono::DateTime<chrono::Utc>,
    decided_at: chrono::DateTime<chrono::Utc>,
) -> bool {
    let took = answered_at - sent_at;
    let age = decided_at - answered_at;
    took >= chrono::TimeDelta::zero() && age >= chrono::TimeDelta::zero() && age <= took
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ridden read stands only within its own round trip of the decision. Twins: decided two
    /// round trips after (a breakpoint, a slow script), decided before the answer came or an
    /// answer before its question (readings out of order); near misses: decided at once, and
    /// exactly one round trip after.
    #[test]
    fn a_ridden_read_stands_only_as_fresh_as_a_read_of_its_own() {
        let t = |ms: i64| {
            chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc)
                + chrono::TimeDelta::milliseconds(ms)
        };
        assert!(ridden_read_is_fresh(t(0), t(60), t(62)));
        assert!(ridden_read_is_fresh(t(0), t(60), t(120)));
        assert!(!ridden_read_is_fresh(t(0), t(60), t(121)));
        assert!(!ridden_read_is_fresh(t(0), t(60), t(30_060)));
        assert!(!ridden_read_is_fresh(t(0), t(60), t(59)));
        assert!(!ridden_read_is_fresh(t(60), t(0), t(61)));
    }

    const KEY: &str = "REQUIRED_PLATFORM_RUN_ID";

    fn td(scope: Option<&str>) -> TaskDefinitionView {
        crate::rules::task_definition::example("f", KEY, scope)
    }

    fn start() -> Request {
        Request {
            desired_count: 1,
            restore: false,
        }
    }

    #[test]
    fn a_change_needs_a_running_phase_and_never_comes_from_a_typed_line() {
        let inside = ChangeOrigin {
            phase: Some("M4.F"),
            typed_line: false,
        };
        assert_eq!(refuse_outside_phase("ecs_update_services", inside), None);
        for origin in [
            ChangeOrigin {
                phase: None,
                typed_line: false,
            },
            ChangeOrigin {
                phase: None,
                typed_line: true,
            },
            ChangeOrigin {
                phase: Some("M4.F"),
                typed_line: true,
            },
        ] {
            let r = refuse_outside_phase("ecs_update_services", origin).unwrap();
            assert_eq!(r.code, ErrorCode::OutsidePhase, "{origin:?}");
            assert!(r.help.contains(if origin.typed_line {
                ":step"
            } else {
                "run_phase"
            }));
        }
    }

    #[test]
    fn the_singleton_is_allowed() {
        assert_eq!(refuse_request("s", start(), false), None);
        assert_eq!(
            refuse_launch("s", start(), Some(KEY), "p1", &td(Some("p1"))),
            None
        );
    }

    #[test]
    fn any_count_but_one_is_refused_and_restores_only_to_zero_or_one() {
        for desired in [0, 2, -1] {
            let r = Request {
                desired_count: desired,
                restore: false,
            };
            assert_eq!(refuse_request("s", r, false).unwrap().code, "NOT_SINGLETON");
        }
        let restore = |desired_count| Request {
            desired_count,
            restore: true,
        };
        assert_eq!(refuse_request("s", restore(0), false), None);
        assert_eq!(refuse_request("s", restore(1), false), None);
        assert_eq!(
            refuse_request("s", restore(2), false).unwrap().code,
            "NOT_SINGLETON"
        );
    }

    #[test]
    fn a_held_run_takes_no_action() {
        let r = refuse_request("s", start(), true).unwrap();
        assert_eq!(r.code, "HELD");
        assert!(r.message.contains("already holds a blocker"));
    }

    #[test]
    fn run_scope_key_missing_from_the_handoff_is_refused() {
        assert_eq!(
            refuse_launch("s", start(), None, "p1", &td(Some("p1")))
                .unwrap()
                .code,
            "RUN_SCOPE_MISSING"
        );
    }

    #[test]
    fn a_start_without_or_with_another_run_scope_is_refused() {
        let none = refuse_launch("s", start(), Some(KEY), "p1", &td(None)).unwrap();
        assert_eq!(none.code, "RUN_SCOPE_MISMATCH");
        assert!(none.message.contains("does not carry"));
        let other = refuse_launch("s", start(), Some(KEY), "p1", &td(Some("p0"))).unwrap();
        assert!(other
            .message
            .contains("carries REQUIRED_PLATFORM_RUN_ID=p0, not p1"));
    }

    #[test]
    fn scaling_to_zero_starts_nothing_and_needs_no_run_scope() {
        let stop = Request {
            desired_count: 0,
            restore: true,
        };
        assert_eq!(refuse_launch("s", stop, Some(KEY), "p1", &td(None)), None);
    }
}
