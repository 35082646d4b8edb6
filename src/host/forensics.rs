//! Why a daemon failed (issue #26): the last log lines of every task a stability wait counted
//! against a daemon, read once the wait has ended (one bounded round, never per poll, and none
//! at all when nothing failed), from the streams the task's own task definition names
//! (`rules::task_definition::task_log_streams`), bounded and redacted. The service's reason
//! quotes the last line; a task without awslogs or without a stream says so and fails nothing.

use crate::host::{Fail, Host, Outcome};
use crate::infra::ecs_wait::{ServiceWait, WaitReport};
use crate::rules::ecs_model::{TaskStatus, TaskView};
use crate::rules::stability::LogTail;
use crate::rules::stability::ServiceOutcome;
use crate::rules::task_definition::task_log_streams;

/// The newest lines that fit in `bytes`, oldest first.
fn bounded(lines: Vec<String>, bytes: usize) -> Vec<String> {
    let mut kept = Vec::new();
    let mut used = 0;
    for line in lines.into_iter().rev() {
        used += line.len() + 1;
        if used > bytes && !kept.is_empty() {
            break;
        }
        kept.push(line);
    }
    kept.reverse();
    kept
}

impl Host {
    /// Fills `log_tail` of every stop in `report`, and of the live task of a service judged
    /// UNHEALTHY, and appends the last line to its service's reason. Reads nothing when no task
    /// was counted against a daemon.
    pub fn read_stop_logs(&self, report: &mut WaitReport) {
        // A live task the judgement counted: UNHEALTHY, still running (ECS replaces it later).
        let unhealthy = |w: &ServiceWait| {
            (w.outcome == ServiceOutcome::Unhealthy)
                .then(|| {
                    w.primary_task_definition
                        .clone()
                        .zip(w.task_arns.first().cloned())
                })
                .flatten()
        };
        let mut waits: Vec<&mut ServiceWait> = report
            .services
            .values_mut()
            .chain(report.late_failures.iter_mut())
            .filter(|w| !w.stops.is_empty() || unhealthy(w).is_some())
            .collect();
        if waits.is_empty() {
            return;
        }
        let tasks: Vec<(String, String)> = waits
            .iter()
            .flat_map(|w| {
                w.stops
                    .iter()
                    .map(|s| (s.task_definition.clone(), s.task_arn.clone()))
                    .chain(unhealthy(w))
            })
            .collect();
        let Ok(mut tails) = self.log_tails(&tasks) else {
            return;
        };
        tails.reverse();
        for wait in waits.iter_mut() {
            for stop in wait.stops.iter_mut() {
                stop.log_tail = tails.pop();
            }
            if unhealthy(wait).is_some() {
                wait.log_tail = tails.pop();
            }
        }
        for wait in waits {
            let last = wait
                .stops
                .iter()
                .filter_map(|s| s.log_tail.as_ref())
                .chain(wait.log_tail.as_ref())
                .filter_map(|t| t.last_line().map(str::to_owned))
                .next_back();
            if let Some(line) = last {
                wait.reason = format!("{}; its last log line: \"{line}\"", wait.reason);
            }
        }
    }

    /// The last lines of each task's log streams, as its task definition names them (task
    /// definition ARN, task ARN), in one bounded round; one `LogTail` per task, in order.
    pub fn log_tails(&self, tasks: &[(String, String)]) -> Outcome<Vec<LogTail>> {
        let config = self.config()?;
        let (lines, bytes) = (config.logs.tail_lines, config.logs.tail_bytes as usize);
        let aws = self.aws()?;
        // Lines are shown only once every secret they could hold is known to the vault: the
        // environment's, and each task definition's own `secrets[].valueFrom` (learnt here when
        // the run has not learnt them yet). A task whose secrets could not be learnt has its
        // lines withheld, never shown unredacted.
        let said = |fail: Fail| match fail {
            Fail::Error { message, .. } => message,
            Fail::Block(blocker) => blocker.reason,
            Fail::Rhai(err) => err.to_string(),
        };
        let unlearnt = self.environment_secrets().err().map(said);
        // Every (task, stream) to read, in one round.
        let mut asks = Vec::new();
        let mut plans = Vec::new();
        for (t, (task_definition, task_arn)) in tasks.iter().enumerate() {
            let td = self.task_definition(task_definition);
            let withheld = match (&unlearnt, &td) {
                (Some(why), _) => Some(why.clone()),
                (None, Ok(td)) => self.task_definition_secrets(td).err().map(said),
                (None, Err(_)) => None,
            };
            if let Some(why) = withheld {
                plans.push((
                    Vec::new(),
                    Vec::new(),
                    Some(format!(
                        "lines withheld: the secrets they could hold could not be learnt to redact them ({why})"
                    )),
                ));
                continue;
            }
            match td {
                Ok(td) => {
                    let (streams, without) = task_log_streams(&td, task_arn);
                    for st in &streams {
                        asks.push((t, st.clone()));
                    }
                    plans.push((streams, without, None));
                }
                Err(why) => plans.push((
                    Vec::new(),
                    Vec::new(),
                    Some(format!("its task definition could not be read: {why}")),
                )),
            }
        }
        let logs = &aws.logs;
        let read = self.block_on(crate::host::bounded(asks.iter().map(
            |(t, st)| async move {
                (
                    (*t, st.stream.clone()),
                    crate::infra::logs::tail(logs, &st.group, &st.stream, lines as i32).await,
                )
            },
        )));
        let mut out = Vec::new();
        for (t, (streams, without, failed)) in plans.into_iter().enumerate() {
            let mut all = Vec::new();
            let mut notes: Vec<String> = failed.into_iter().collect();
            if streams.is_empty() && notes.is_empty() {
                notes.push(format!(
                    "no awslogs stream to read (containers without awslogs and a stream prefix: {})",
                    without.join(", ")
                ));
            }
            for st in &streams {
                match read
                    .iter()
                    .find(|((rt, name), _)| *rt == t && *name == st.stream)
                {
                    Some((_, Ok(found))) => all.extend(found.iter().map(|l| self.vault.redact(l))),
                    Some((_, Err(why)))
                        if why.kind == crate::infra::aws::AwsErrorKind::NotFound =>
                    {
                        notes.push(format!(
                            "no log stream {} (the task never wrote one)",
                            st.stream
                        ))
                    }
                    Some((_, Err(why))) => {
                        notes.push(format!("{} could not be read: {why}", st.stream))
                    }
                    None => {}
                }
            }
            if all.is_empty() && notes.is_empty() {
                notes.push("its log stream is empty".into());
            }
            out.push(LogTail {
                streams: streams
                    .iter()
                    .map(|s| format!("{}:{}", s.group, s.stream))
                    .collect(),
                lines: bounded(all, bytes),
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            });
        }
        Ok(out)
    }

    /// The REPL's `:logs SERVICE`: the last log lines of the service's running task (or, when
    /// none runs, of its newest stopped one), read-only and redacted; what went wrong, said.
    pub fn service_log_tail(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<(String, LogTail), String> {
        let said = |fail: Fail| match fail {
            Fail::Error { message, help, .. } => format!("{message} ({help})"),
            other => format!("{other:?}"),
        };
        let aws = self.aws().map_err(said)?;
        // A task still starting has written nothing yet: the running one, else the newest that
        // stopped (a crash loop's last words are there).
        let newest = |desired, running_only: bool| -> Result<Option<TaskView>, String> {
            let listing = self
                .call(crate::infra::ecs::tasks(&aws.ecs, cluster, desired))
                .map_err(said)?
                .map_err(|e| format!("the tasks of cluster {cluster} could not be listed: {e}"))?;
            Ok(listing
                .tasks
                .into_iter()
                .filter(|t| t.service() == Some(service))
                .filter(|t| !running_only || t.last_status == TaskStatus::Running)
                .max_by_key(|t| t.stopping_at.or(t.started_at).or(t.created_at)))
        };
        let task = match newest(aws_sdk_ecs::types::DesiredStatus::Running, true)? {
            Some(t) => t,
            None => {
                newest(aws_sdk_ecs::types::DesiredStatus::Stopped, false)?.ok_or_else(|| {
                    format!(
                        "service {service} has no task in cluster {cluster}, running or stopped; \
                     check the names (`:logs SERVICE [CLUSTER]`)"
                    )
                })?
            }
        };
        let tail = self
            .log_tails(&[(task.task_definition.clone(), task.arn.clone())])
            .map_err(said)?
            .pop()
            .unwrap_or(LogTail {
                streams: Vec::new(),
                lines: Vec::new(),
                note: Some("no log stream to read".into()),
            });
        Ok((task.arn, tail))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_newest_lines_that_fit_are_kept() {
        let lines: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
        assert_eq!(super::bounded(lines.clone(), 1000), lines);
        assert_eq!(super::bounded(lines.clone(), 14), vec!["line 8", "line 9"]);
        // One line longer than the bound is still kept (cut nothing mid-line).
        assert_eq!(super::bounded(vec!["x".repeat(100)], 10).len(), 1);
    }
}
