//! One-shot ECS tasks (RunTask), pure: whether the host may start one, the environment it injects,
//! and what a stopped task says about its run. No I/O, no Rhai.
//!
//! The laws are the guarded update's, for a task that runs once: a run holding a blocker takes no
//! action; run scope comes only from a sound entry (the host's own block) and every essential
//! container of the task definition must already carry it; one task of a family at a time per
//! execution (the no-parallel law); the host, not the script, sets the run-scope variable, and no
//! override may carry a secret or another run scope.

use crate::rules::ecs_model::{TaskStatus, TaskView};
use crate::rules::error_code::ErrorCode;
use crate::rules::secret::secret_named;
use crate::rules::task_definition::TaskDefinitionView;
use crate::rules::update_guard::Refusal;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

fn refusal(code: ErrorCode, message: String, help: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message,
        help: help.into(),
    }
}

/// A run that holds a blocker starts nothing; asked first, before the entry is judged or ECS is
/// asked about the task definition.
pub fn refuse_held(task_definition: &str, held: bool) -> Option<Refusal> {
    held.then(|| {
        refusal(
            ErrorCode::Held,
            format!(
                "refused to start a task of `{task_definition}`: the run already holds a blocker, later sub-phases take no action"
            ),
            "fix the cause and start a new execution",
        )
    })
}

/// What the host knows when a script asks to start a one-shot task (past `refuse_held`).
pub struct LaunchContext<'a> {
    /// The run-scope key the entry's handoff names.
    pub key: Option<&'a str>,
    pub run_id: &'a str,
    /// Families this execution started a task of that has not been seen STOPPED.
    pub live_families: &'a [String],
}

/// Refuses a RunTask the run-scope and no-parallel laws forbid; `environment` is what the script
/// asks to add.
pub fn refuse_run(
    ctx: &LaunchContext,
    td: &TaskDefinitionView,
    environment: &BTreeMap<String, String>,
) -> Option<Refusal> {
    let Some(key) = ctx.key else {
        return Some(refusal(
            ErrorCode::RunScopeMissing,
            "the entry's handoff pack names no run-scope env key".to_owned(),
            "",
        ));
    };
    if let Some(r) = crate::rules::update_guard::run_scope_refusal(
        &format!("a task of {}", td.family),
        td,
        key,
        ctx.run_id,
    ) {
        return Some(r);
    }
    if ctx.live_families.contains(&td.family) {
        return Some(refusal(
            ErrorCode::AlreadyRunning,
            format!(
                "refused to start a second task of `{}`: this execution's earlier one has not been seen STOPPED",
                td.family
            ),
            "wait for it with ecs_wait_task_stopped (or stop it) first",
        ));
    }
    for name in environment.keys() {
        if name == key {
            return Some(refusal(
                ErrorCode::BadOption,
                format!("environment may not set {key}: the host injects the run scope"),
                "leave it out",
            ));
        }
        if secret_named(name) {
            return Some(refusal(
                ErrorCode::BadOption,
                format!("environment variable `{name}` is secret-named: secrets reach a task only by reference (valueFrom)"),
                "put it in the task definition's secrets",
            ));
        }
    }
    None
}

/// The containerOverrides environment the host sends: the run scope and the script's variables,
/// for every essential container (the ones the run-scope law covers).
pub fn overrides(
    td: &TaskDefinitionView,
    key: &str,
    run_id: &str,
    environment: &BTreeMap<String, String>,
) -> Vec<(String, Vec<(String, String)>)> {
    td.containers
        .iter()
        .filter(|c| c.essential)
        .map(|c| {
            let mut env = vec![(key.to_owned(), run_id.to_owned())];
            env.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
            (c.name.clone(), env)
        })
        .collect()
}

/// How a stopped one-shot task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ending {
    /// Every essential container exited 0 after the task ran (stop code EssentialContainerExited).
    pub succeeded: bool,
    pub reason: String,
    /// Essential container name -> exit code (None: ECS reported none; it never ran).
    pub exit_codes: BTreeMap<String, Option<i32>>,
}

/// Judges a STOPPED task. ECS stops a task whose essential container exits with stop code
/// EssentialContainerExited (Task.stopCode; "Amazon ECS stopped task error codes"); a task that
/// never ran stops with TaskFailedToStart and no exit code; UserInitiated is a StopTask,
/// ServiceSchedulerInitiated, SpotInterruption and TerminationNotice are the platform's. Only the
/// first, with every essential container at exit code 0, is a job that finished its work.
pub fn judge_stopped(task: &TaskView, essential: &[String]) -> Ending {
    let exit_codes: BTreeMap<String, Option<i32>> = task
        .containers
        .iter()
        .filter(|c| essential.is_empty() || essential.contains(&c.name))
        .map(|c| (c.name.clone(), c.exit_code))
        .collect();
    let stop = task.stop_code.as_deref().unwrap_or("no stop code");
    let said = task.stopped_reason.as_deref().unwrap_or("no reason given");
    let ending = |succeeded, reason: String| Ending {
        succeeded,
        reason,
        exit_codes: exit_codes.clone(),
    };
    if task.last_status != TaskStatus::Stopped {
        return ending(
            false,
            format!("the task is {}, not STOPPED", task.last_status),
        );
    }
    if exit_codes.is_empty() {
        return ending(
            false,
            format!("no essential container reported ({stop}: {said})"),
        );
    }
    if stop != "EssentialContainerExited" {
        return ending(false, format!("stopped by {stop}: {said}"));
    }
    let failed: Vec<String> = exit_codes
        .iter()
        .filter(|(_, code)| **code != Some(0))
        .map(|(name, code)| match code {
            Some(c) => format!("`{name}` exited {c}"),
            None => format!("`{name}` reported no exit code"),
        })
        .collect();
    if failed.is_empty() {
        ending(true, "every essential container exited 0".to_owned())
    } else {
        let why: Vec<String> = task
            .containers
            .iter()
            .filter_map(|c| c.reason.clone())
            .collect();
        let mut reason = failed.join(", ");
        if !why.is_empty() {
            reason.push_str(&format!(" ({})", why.join("; ")));
        }
        ending(false, reason)
    }
}

/// StopTask's reason: "Up to 255 characters are allowed in this message" (API reference).
pub fn stop_reason(text: &str) -> String {
    text.chars().take(255).collect()
}

/// RunTask's clientToken: "up to 64 ASCII characters in the range of 33-126" ("Ensuring
/// idempotency"), one per execution and family, so an SDK retry after a timeout cannot start a
/// second task, and a new execution starts its own.
pub fn client_token(execution_id: &str, family: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(family.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let token = format!("{execution_id}-{digest}");
    token
        .chars()
        .filter(|c| (33..=126).contains(&(*c as u32)))
        .take(64)
        .collect()
}

/// How far S3's clock may seem behind ECS's for an output to still count as written after its
/// task started: ListObjectsV2 gives LastModified in whole seconds (up to 1 s truncated) and the
/// two services' clocks may differ by a little more.
pub const OUTPUT_CLOCK_ALLOWANCE_MS: i64 = 2000;

/// An object as listed: key, size and LastModified.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: i64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// One expected output of a one-shot job, as judged (issue #32).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputCheck {
    pub key: String,
    pub size: Option<i64>,
    pub last_modified: Option<String>,
    /// Why it is not proven to be this task's output; none when it is.
    pub problem: Option<String>,
}

/// Whether each expected output is the job's own: present, not empty, written after the task
/// started (LastModified against ECS's startedAt, within `OUTPUT_CLOCK_ALLOWANCE_MS`) and not
/// older than any input it consumes. A key that merely exists — a leftover of an earlier run, an
/// empty placeholder — is not proof that this task did its work.
pub fn judge_outputs(
    expected: &[String],
    found: &[Listed],
    started_at: Option<DateTime<Utc>>,
    consumed: &[Listed],
) -> Vec<OutputCheck> {
    let allowance = chrono::Duration::milliseconds(OUTPUT_CLOCK_ALLOWANCE_MS);
    expected
        .iter()
        .map(|key| {
            let Some(o) = found.iter().find(|o| &o.key == key) else {
                return OutputCheck {
                    key: key.clone(),
                    size: None,
                    last_modified: None,
                    problem: Some("was not written".into()),
                };
            };
            let at = o.last_modified;
            let problem = if o.size == 0 {
                Some("is empty (0 bytes)".to_owned())
            } else {
                match (at, started_at) {
                    (None, _) => Some("has no LastModified: not proven to be this task's".into()),
                    (_, None) => {
                        Some("cannot be told from older objects: the task has no startedAt".into())
                    }
                    (Some(at), Some(started)) if at + allowance < started => Some(format!(
                        "was written at {} before the task started at {}: not this task's output",
                        stamp(at),
                        stamp(started)
                    )),
                    (Some(at), Some(_)) => consumed
                        .iter()
                        .find(|input| input.last_modified.is_some_and(|i| at + allowance < i))
                        .map(|input| {
                            format!(
                                "was written at {}, before the input it consumes ({}) was",
                                stamp(at),
                                input.key
                            )
                        }),
                }
            };
            OutputCheck {
                key: key.clone(),
                size: Some(o.size),
                last_modified: at.map(stamp),
                problem,
            }
        })
        .collect()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ecs_model::ContainerStateView;

    const KEY: &str = "REQUIRED_PLATFORM_RUN_ID";

    fn td(scope: Option<&str>) -> TaskDefinitionView {
        crate::rules::task_definition::example("oracle-seed", KEY, scope)
    }

    fn ctx<'a>(live: &'a [String]) -> LaunchContext<'a> {
        LaunchContext {
            key: Some(KEY),
            run_id: "p1",
            live_families: live,
        }
    }

    #[test]
    fn a_sound_launch_is_allowed_and_injects_the_run_scope() {
        let none = BTreeMap::new();
        assert_eq!(refuse_run(&ctx(&[]), &td(Some("p1")), &none), None);
        let env = BTreeMap::from([("ORACLE_MODE".to_owned(), "full".to_owned())]);
        let o = overrides(&td(Some("p1")), KEY, "p1", &env);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].1[0], (KEY.to_owned(), "p1".to_owned()));
        assert_eq!(o[0].1[1], ("ORACLE_MODE".to_owned(), "full".to_owned()));
    }

    #[test]
    fn a_held_run_starts_nothing() {
        let r = refuse_held("oracle-seed", true).unwrap();
        assert_eq!(r.code, "HELD");
        assert_eq!(refuse_held("oracle-seed", false), None);
    }

    #[test]
    fn without_the_run_scope_key_nothing_starts() {
        let c = LaunchContext {
            key: None,
            ..ctx(&[])
        };
        let r = refuse_run(&c, &td(Some("p1")), &BTreeMap::new()).unwrap();
        assert_eq!(r.code, "RUN_SCOPE_MISSING");
    }

    #[test]
    fn a_task_definition_without_or_with_another_run_scope_is_refused() {
        for scope in [None, Some("p0")] {
            let r = refuse_run(&ctx(&[]), &td(scope), &BTreeMap::new()).unwrap();
            assert_eq!(r.code, "RUN_SCOPE_MISMATCH", "{scope:?}");
        }
    }

    #[test]
    fn a_second_task_of_a_family_still_live_is_refused() {
        let live = vec!["oracle-seed".to_owned()];
        let r = refuse_run(&ctx(&live), &td(Some("p1")), &BTreeMap::new()).unwrap();
        assert_eq!(r.code, "ALREADY_RUNNING");
    }

    #[test]
    fn overrides_may_not_carry_the_run_scope_or_a_secret() {
        for name in [KEY, "DB_PASSWORD", "API_SECRET"] {
            let env = BTreeMap::from([(name.to_owned(), "x".to_owned())]);
            let r = refuse_run(&ctx(&[]), &td(Some("p1")), &env).unwrap();
            assert_eq!(r.code, "BAD_OPTION", "{name}");
        }
    }

    fn stopped(stop_code: Option<&str>, exit: Option<i32>, reason: Option<&str>) -> TaskView {
        TaskView {
            arn: "arn:task/1".into(),
            group: Some("family:oracle-seed".into()),
            started_by: Some("m5_20261202T050000Z".into()),
            task_definition: "td".into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            health_status: Some("UNKNOWN".into()),
            stop_code: stop_code.map(str::to_owned),
            stopped_reason: Some("Essential container in task exited".into()),
            exit_codes: vec![exit],
            containers: vec![ContainerStateView {
                name: "oracle-seed".into(),
                last_status: Some("STOPPED".into()),
                exit_code: exit,
                reason: reason.map(str::to_owned),
                health_status: None,
            }],
            created_at: None,
            started_at: None,
            pull_stopped_at: None,
            stopping_at: None,
            execution_stopped_at: None,
            stopped_at: None,
        }
    }

    #[test]
    fn exit_zero_of_every_essential_container_is_success() {
        let e = judge_stopped(
            &stopped(Some("EssentialContainerExited"), Some(0), None),
            &["oracle-seed".into()],
        );
        assert!(e.succeeded, "{}", e.reason);
    }

    #[test]
    fn a_non_zero_exit_a_missing_exit_code_and_other_stop_codes_are_failures() {
        let e = judge_stopped(
            &stopped(
                Some("EssentialContainerExited"),
                Some(137),
                Some("OutOfMemoryError: Container killed due to memory usage"),
            ),
            &[],
        );
        assert!(!e.succeeded);
        assert!(
            e.reason.contains("exited 137 (OutOfMemoryError"),
            "{}",
            e.reason
        );
        let e = judge_stopped(&stopped(Some("EssentialContainerExited"), None, None), &[]);
        assert!(e.reason.contains("no exit code"), "{}", e.reason);
        for code in [
            "TaskFailedToStart",
            "UserInitiated",
            "ServiceSchedulerInitiated",
            "SpotInterruption",
        ] {
            let e = judge_stopped(&stopped(Some(code), Some(0), None), &[]);
            assert!(!e.succeeded, "{code}");
            assert!(e.reason.contains(code));
        }
        let mut running = stopped(None, None, None);
        running.last_status = "RUNNING".into();
        assert!(!judge_stopped(&running, &[]).succeeded);
    }

    #[test]
    fn tokens_and_reasons_stay_within_the_api_limits() {
        let t = client_token(
            "m5_dev_20261202T050000Z",
            "fraud-platform-dev-min-oracle-seed",
        );
        assert!(t.len() <= 64 && t.starts_with("m5_dev_20261202T050000Z-"));
        assert_ne!(t, client_token("m5_dev_20261202T050000Z", "other"));
        assert_eq!(stop_reason(&"x".repeat(300)).len(), 255);
    }

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(s.parse().unwrap())
    }

    fn listed(key: &str, size: i64, when: &str) -> Listed {
        Listed {
            key: key.into(),
            size,
            last_modified: at(when),
        }
    }

    /// Issue #32: someone else's output does not count as the job's.
    #[test]
    fn an_output_is_the_jobs_own_only_when_written_after_it_started_with_content() {
        let key = "oracle/p1/checker/report.json".to_owned();
        let started = at("2026-12-07T10:00:05Z");
        let judge = |o: Listed, inputs: &[Listed]| {
            judge_outputs(std::slice::from_ref(&key), &[o], started, inputs)
                .remove(0)
                .problem
        };
        // The near miss: written during the run, within the same truncated second of the start.
        assert_eq!(judge(listed(&key, 120, "2026-12-07T10:00:05Z"), &[]), None);
        assert_eq!(judge(listed(&key, 120, "2026-12-07T10:00:04Z"), &[]), None);
        // A leftover from before, an empty placeholder, one older than its input.
        assert!(judge(listed(&key, 120, "2026-12-06T09:00:00Z"), &[])
            .unwrap()
            .contains("before the task started"));
        assert!(judge(listed(&key, 0, "2026-12-07T10:00:09Z"), &[])
            .unwrap()
            .contains("empty"));
        let input = listed("oracle/p1/sort/manifest.json", 10, "2026-12-07T10:00:20Z");
        assert!(judge(listed(&key, 120, "2026-12-07T10:00:10Z"), &[input])
            .unwrap()
            .contains("before the input it consumes"));
        // Missing, and a task ECS never gave a start time.
        let missing = judge_outputs(std::slice::from_ref(&key), &[], started, &[]);
        assert_eq!(missing[0].problem.as_deref(), Some("was not written"));
        let unstarted = judge_outputs(
            std::slice::from_ref(&key),
            &[listed(&key, 1, "2026-12-07T10:00:09Z")],
            None,
            &[],
        );
        assert!(unstarted[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("startedAt"));
    }
}
