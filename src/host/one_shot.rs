//! One-shot ECS tasks this execution starts: the guarded RunTask, the bounded wait for a task to
//! stop, and StopTask, with every start and stop recorded on the host, so that each snapshot of
//! the phase lists them (`one_shot_tasks`) whatever the script does, and no task outlives its
//! budget or an interrupted run. The laws are `rules::one_shot`'s.

use crate::host::{Fail, Host, Outcome};
use crate::infra::ecs_tasks::{self, RunRequest, StopWait, StopWaitEnd, StopWaitOptions};
use crate::rules::ecs_model::{TaskStatus, TaskView};
use crate::rules::error_code::ErrorCode;
use crate::rules::one_shot::{self, Ending, LaunchContext};
use crate::sync::Locked;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The key under which a snapshot lists the one-shot tasks its phase started or stopped.
pub const ONE_SHOT_KEY: &str = "one_shot_tasks";

/// A stop this host asked for.
#[derive(Debug, Clone, Serialize)]
pub struct StopRecord {
    /// Why: "budget" (the wait's timeout passed), "interrupted" (Ctrl-C or a signal), "asked"
    /// (ecs_stop_task).
    pub cause: String,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    /// The task was seen STOPPED after the request, within the stop budget.
    pub confirmed: bool,
    pub error: Option<String>,
}

/// One task this execution started.
#[derive(Debug, Clone, Serialize)]
pub struct OneShotRecord {
    pub phase: Option<String>,
    pub cluster: String,
    pub family: String,
    pub task_definition: String,
    pub task_arn: String,
    pub started_at: DateTime<Utc>,
    /// Last status seen, and how it ended once STOPPED.
    pub last_status: TaskStatus,
    pub ending: Option<Ending>,
    pub stop: Option<StopRecord>,
}

/// What a script asks of `ecs_run_task`.
#[derive(Debug, Clone, Default)]
pub struct RunAsk {
    pub launch_type: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub environment: BTreeMap<String, String>,
}

/// What `ecs_run_task` did.
pub enum Started {
    Performed(Box<OneShotRecord>),
    /// --plan: what it would have done.
    Planned(String),
}

/// The end of `ecs_wait_task_stopped`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskWaitResult {
    pub wait: StopWait,
    /// The task's status when the wait ended, before any stop the host then made.
    pub status_at_end: Option<TaskStatus>,
    pub ending: Option<Ending>,
    pub stop: Option<StopRecord>,
}

impl Host {
    fn refused(r: crate::rules::update_guard::Refusal) -> Fail {
        Fail::error(r.code, r.message, r.help)
    }

    /// Families of tasks this execution started and has not seen STOPPED.
    fn live_families(&self) -> Vec<String> {
        self.one_shot
            .locked()
            .iter()
            .filter(|r| r.last_status != TaskStatus::Stopped)
            .map(|r| r.family.clone())
            .collect()
    }

    /// The record of a task this execution started.
    pub fn one_shot_record(&self, arn: &str) -> Option<OneShotRecord> {
        self.one_shot
            .locked()
            .iter()
            .find(|r| r.task_arn == arn)
            .cloned()
    }

    fn update_record(&self, arn: &str, f: impl FnOnce(&mut OneShotRecord)) {
        if let Some(r) = self
            .one_shot
            .locked()
            .iter_mut()
            .find(|r| r.task_arn == arn)
        {
            f(r);
        }
    }

    /// The records of one phase, as its snapshots carry them.
    pub fn one_shot_tasks_of(&self, phase: &str) -> Vec<OneShotRecord> {
        self.one_shot
            .locked()
            .iter()
            .filter(|r| r.phase.as_deref() == Some(phase))
            .cloned()
            .collect()
    }

    /// The guarded RunTask: a held run, an unsound entry (the entry's block), a task definition
    /// without the run scope, a family still live in this execution and a secret or run scope in
    /// the overrides are refused before anything is sent; the host sets the run scope itself.
    pub fn run_one_shot(
        &self,
        cluster: &str,
        task_definition: &str,
        ask: &RunAsk,
    ) -> Outcome<Started> {
        // Earlier writes are proven before anything starts (as for service updates).
        self.settle_checks(crate::host::settle::Settle::All);
        let held = self.ledger().held();
        if let Some(r) = one_shot::refuse_held(task_definition, held) {
            return Err(Self::refused(r));
        }
        let run_id = self.platform_run_id()?;
        let key = self.entry_status()?.required_env_key.clone();
        self.aws()?;
        let td = self.task_definition(task_definition).map_err(|why| {
            Fail::error(
                ErrorCode::RunTaskFailed,
                why.to_string(),
                "check the task definition handle",
            )
        })?;
        let live = self.live_families();
        let ctx = LaunchContext {
            key: key.as_deref(),
            run_id: &run_id,
            live_families: &live,
        };
        if let Some(r) = one_shot::refuse_run(&ctx, &td, &ask.environment) {
            return Err(Self::refused(r));
        }
        let Some(key) = key else {
            // refuse_run refuses a missing key; this keeps the host fail-closed on its own.
            return Err(Fail::error(
                ErrorCode::RunScopeMissing,
                "the entry's handoff pack names no run-scope env key",
                "",
            ));
        };
        if self.plan() {
            let line = format!(
                "would run a task of {} in {cluster} with {key}={run_id}",
                td.arn
            );
            self.would_do.locked().push(line.clone());
            return Ok(Started::Planned(line));
        }
        let request = RunRequest {
            cluster: cluster.to_owned(),
            task_definition: td.arn.clone(),
            started_by: self.clock.execution_id.chars().take(36).collect(),
            client_token: one_shot::client_token(&self.clock.execution_id, &td.family),
            launch_type: ask.launch_type.clone().unwrap_or_else(|| "FARGATE".into()),
            subnets: ask.subnets.clone(),
            security_groups: ask.security_groups.clone(),
            assign_public_ip: ask.assign_public_ip,
            overrides: one_shot::overrides(&td, &key, &run_id, &ask.environment),
        };
        let aws = self.aws()?;
        let started_at = self.stamped_now(&format!("task started {cluster} {}", td.family));
        // Sent once begun, like an update: Ctrl-C does not abandon a RunTask in flight.
        let task = self
            .block_on(ecs_tasks::run_task(&aws.ecs, &request))
            .map_err(|why| {
                Fail::error(
                    ErrorCode::RunTaskFailed,
                    why.to_string(),
                    "see the cluster's capacity and the task definition",
                )
            })?;
        let record = OneShotRecord {
            phase: self.ledger().current_phase().map(str::to_owned),
            cluster: cluster.to_owned(),
            family: td.family.clone(),
            task_definition: td.arn.clone(),
            task_arn: task.arn.clone(),
            started_at,
            last_status: task.last_status.clone(),
            ending: None,
            stop: None,
        };
        self.one_shot.locked().push(record.clone());
        // Interrupted while RunTask was in flight: the script ends at its next operation and
        // would never wait for this task, so it is stopped now.
        if self.interrupted.load(Ordering::SeqCst) {
            let (stop, _) = self.stop_and_confirm(
                cluster,
                &task.arn,
                "interrupted",
                "interrupted (Ctrl-C or a signal) as the task was started",
                Duration::from_millis(self.config()?.ecs.one_shot_stop_timeout_ms),
            );
            self.update_record(&task.arn, |r| r.stop = Some(stop));
        }
        Ok(Started::Performed(Box::new(
            self.one_shot_record(&task.arn).unwrap_or(record),
        )))
    }

    fn wait_options(&self, timeout: Duration) -> Outcome<StopWaitOptions> {
        let ecs = &self.config()?.ecs;
        Ok(StopWaitOptions {
            timeout,
            first_poll_ms: ecs.first_poll_ms,
            max_poll_ms: ecs.max_poll_ms,
            visibility_grace: Duration::from_millis(ecs.one_shot_visibility_grace_ms),
            poll_failure_budget: Duration::from_millis(ecs.poll_failure_budget_ms),
            tape: self.tape().cloned(),
        })
    }

    /// StopTask, then a wait (bounded by `budget`; a further Ctrl-C abandons it) to see STOPPED.
    fn stop_and_confirm(
        &self,
        cluster: &str,
        arn: &str,
        cause: &str,
        reason: &str,
        budget: Duration,
    ) -> (StopRecord, Option<TaskView>) {
        let reason =
            one_shot::stop_reason(&format!("m4host {}: {reason}", self.clock.execution_id));
        let requested_at = self.stamped_now(&format!("task stop requested {arn}"));
        let mut record = StopRecord {
            cause: cause.to_owned(),
            reason: reason.clone(),
            requested_at,
            confirmed: false,
            error: None,
        };
        let Ok(aws) = self.aws() else {
            record.error = Some("no AWS configuration".into());
            return (record, None);
        };
        // The interrupt that asked for this stop is consumed here; a new one ends the wait for it.
        if cause == "interrupted" {
            self.interrupted.store(false, Ordering::SeqCst);
        }
        if let Err(why) = self.block_on(ecs_tasks::stop_task(&aws.ecs, cluster, arn, &reason)) {
            record.error = Some(why.to_string());
            return (record, None);
        }
        let Ok(options) = self.wait_options(budget) else {
            return (record, None);
        };
        let flag = &self.interrupted;
        let seen = self.block_on(ecs_tasks::wait_stopped(
            &aws.ecs,
            cluster,
            arn,
            &options,
            &|| flag.load(Ordering::SeqCst),
        ));
        record.confirmed = seen.end == StopWaitEnd::Stopped;
        if !record.confirmed {
            record.error = Some(seen.error.unwrap_or_else(|| {
                format!(
                    "not seen STOPPED within {} ms of the request",
                    budget.as_millis()
                )
            }));
        }
        if let Some(task) = &seen.task {
            self.note_seen(arn, task);
        }
        (record, seen.task)
    }

    fn note_seen(&self, arn: &str, task: &TaskView) {
        let essential = self.essential_containers(&task.task_definition);
        self.update_record(arn, |r| {
            r.last_status = task.last_status.clone();
            if task.last_status == TaskStatus::Stopped {
                r.ending = Some(one_shot::judge_stopped(task, &essential));
            }
        });
    }

    fn essential_containers(&self, task_definition: &str) -> Vec<String> {
        self.task_definition(task_definition)
            .map(|td| {
                td.containers
                    .iter()
                    .filter(|c| c.essential)
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits for a task this execution started to stop; a task that overruns `timeout` or whose
    /// wait is interrupted is stopped by the host (and the stop recorded) before this returns.
    pub fn wait_one_shot(
        &self,
        cluster: &str,
        arn: &str,
        timeout: Duration,
    ) -> Outcome<TaskWaitResult> {
        let Some(record) = self.one_shot_record(arn) else {
            return Err(Fail::error(
                ErrorCode::NotStartedHere,
                format!("`{arn}` is not a task this execution started"),
                "wait for the task_arn ecs_run_task returned",
            ));
        };
        if record.cluster != cluster {
            return Err(Fail::error(
                ErrorCode::BadArgument,
                format!(
                    "`{arn}` was started in `{}`, not `{cluster}`",
                    record.cluster
                ),
                "",
            ));
        }
        let aws = self.aws()?;
        let options = self.wait_options(timeout)?;
        let flag = &self.interrupted;
        let mut wait = self.block_on(ecs_tasks::wait_stopped(
            &aws.ecs,
            cluster,
            arn,
            &options,
            &|| flag.load(Ordering::SeqCst),
        ));
        if let Some(task) = &wait.task {
            self.note_seen(arn, task);
        }
        let status_at_end = wait.task.as_ref().map(|t| t.last_status.clone());
        let budget = Duration::from_millis(self.config()?.ecs.one_shot_stop_timeout_ms);
        let stop = match wait.end {
            StopWaitEnd::TimedOut => Some(self.stop_and_confirm(
                cluster,
                arn,
                "budget",
                &format!("the task overran its budget of {} ms", timeout.as_millis()),
                budget,
            )),
            StopWaitEnd::Interrupted => Some(self.stop_and_confirm(
                cluster,
                arn,
                "interrupted",
                "interrupted (Ctrl-C or a signal) while the host waited for the task",
                budget,
            )),
            // The host could not tell whether the task still runs: it asks ECS to stop it rather
            // than leave a task of this execution running unwatched.
            StopWaitEnd::Error => Some(self.stop_and_confirm(
                cluster,
                arn,
                "unwatched",
                "the host could not keep watching the task",
                budget,
            )),
            StopWaitEnd::Stopped => None,
        };
        let stop = stop.map(|(s, seen)| {
            // The outcome shows the task as it ended, after the host's stop.
            if seen.is_some() {
                wait.task = seen;
            }
            self.update_record(arn, |r| r.stop = Some(s.clone()));
            s
        });
        let ending = self.one_shot_record(arn).and_then(|r| r.ending);
        Ok(TaskWaitResult {
            wait,
            status_at_end,
            ending,
            stop,
        })
    }

    /// StopTask of a task this execution started (not refused when the run holds: stopping is
    /// how a hold is made safe).
    pub fn stop_one_shot(
        &self,
        cluster: &str,
        arn: &str,
        reason: &str,
    ) -> Outcome<Option<StopRecord>> {
        if self.one_shot_record(arn).is_none() {
            return Err(Fail::error(
                ErrorCode::NotStartedHere,
                format!("`{arn}` is not a task this execution started"),
                "stop only the tasks this execution started",
            ));
        }
        if self.plan() {
            self.would_do
                .locked()
                .push(format!("would stop {arn}: {reason}"));
            return Ok(None);
        }
        let budget = Duration::from_millis(self.config()?.ecs.one_shot_stop_timeout_ms);
        let (stop, _) = self.stop_and_confirm(cluster, arn, "asked", reason, budget);
        self.update_record(arn, |r| r.stop = Some(stop.clone()));
        Ok(Some(stop))
    }
}
