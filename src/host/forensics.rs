//! Why a daemon failed (issue #26): the last log lines of every task a stability wait counted
//! against a daemon, read once the wait has ended (one bounded round, never per poll, and none
//! at all when nothing failed), from the streams the task's own task definition names
//! (`rules::task_definition::task_log_streams`), bounded and redacted. The service's reason
//! quotes the last line; a task without awslogs or without a stream says so and fails nothing.

use crate::host::Host;
use crate::infra::ecs::{ServiceWait, WaitReport};
use crate::rules::stability::LogTail;
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
    /// Fills `log_tail` of every stop in `report` and appends the last line to its service's
    /// reason. Reads nothing when no stop was counted.
    pub fn read_stop_logs(&self, report: &mut WaitReport) {
        let waits: Vec<&mut ServiceWait> = report
            .services
            .values_mut()
            .chain(report.late_failures.iter_mut())
            .filter(|w| !w.stops.is_empty())
            .collect();
        if waits.is_empty() {
            return;
        }
        let Ok(config) = self.config() else { return };
        let (lines, bytes) = (config.logs.tail_lines, config.logs.tail_bytes as usize);
        let Ok(aws) = self.aws() else { return };
        // Every (stop, stream) to read, in one round.
        let mut asks = Vec::new();
        let mut plans = Vec::new();
        for (w, wait) in waits.iter().enumerate() {
            for (s, stop) in wait.stops.iter().enumerate() {
                match self.task_definition(&stop.task_definition) {
                    Ok(td) => {
                        let (streams, without) = task_log_streams(&td, &stop.task_arn);
                        plans.push((w, s, streams.clone(), without, None));
                        for st in streams {
                            asks.push((w, s, st));
                        }
                    }
                    Err(why) => plans.push((
                        w,
                        s,
                        Vec::new(),
                        Vec::new(),
                        Some(format!("its task definition could not be read: {why}")),
                    )),
                }
            }
        }
        let logs = &aws.logs;
        let read = self.block_on(crate::host::bounded(asks.iter().map(
            |(w, s, st)| async move {
                (
                    (*w, *s, st.stream.clone()),
                    crate::infra::logs::tail(logs, &st.group, &st.stream, lines as i32).await,
                )
            },
        )));
        let mut waits = waits;
        for (w, s, streams, without, failed) in plans {
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
                    .find(|((rw, rs, name), _)| *rw == w && *rs == s && *name == st.stream)
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
            let tail = LogTail {
                streams: streams
                    .iter()
                    .map(|s| format!("{}:{}", s.group, s.stream))
                    .collect(),
                lines: bounded(all, bytes),
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            };
            waits[w].stops[s].log_tail = Some(tail);
        }
        for wait in waits {
            let last = wait.stops.iter().rev().find_map(|s| {
                s.log_tail
                    .as_ref()
                    .and_then(|t| t.last_line().map(str::to_owned))
            });
            if let Some(line) = last {
                wait.reason = format!("{}; its last log line: \"{line}\"", wait.reason);
            }
        }
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
