//! One-shot ECS tasks through the SDK: RunTask, DescribeTasks of one task, StopTask, and the wait
//! for a task to stop (polls with backoff, bounded, cancellable). What a stopped task means is
//! `rules::one_shot`; the guards are the host's.

use crate::infra::aws::{AwsError, AwsErrorKind};
use crate::infra::ecs::{err, task_view};
use crate::infra::wait_clock::WaitClock;
use crate::rules::ecs_model::{TaskStatus, TaskView};
use crate::rules::stability::next_interval;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};
use aws_sdk_ecs::Client;
use serde::Serialize;
use std::time::Duration;

/// What RunTask is asked.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub cluster: String,
    pub task_definition: String,
    pub started_by: String,
    pub client_token: String,
    pub launch_type: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// Container name -> environment overrides.
    pub overrides: Vec<(String, Vec<(String, String)>)>,
}

/// Starts one task. RunTask answers a task it could not place in `failures[]` with a 200
/// ("Amazon ECS API failure reasons"): that is a refusal, not a task.
pub async fn run_task(ecs: &Client, request: &RunRequest) -> Result<TaskView, AwsError> {
    let overrides = TaskOverride::builder()
        .set_container_overrides(Some(
            request
                .overrides
                .iter()
                .map(|(name, env)| {
                    ContainerOverride::builder()
                        .name(name)
                        .set_environment(Some(
                            env.iter()
                                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                                .collect(),
                        ))
                        .build()
                })
                .collect(),
        ))
        .build();
    let mut call = ecs
        .run_task()
        .cluster(&request.cluster)
        .task_definition(&request.task_definition)
        .count(1)
        .started_by(&request.started_by)
        .client_token(&request.client_token)
        .launch_type(LaunchType::from(request.launch_type.as_str()))
        .overrides(overrides);
    if !request.subnets.is_empty() {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(request.subnets.clone()))
            .set_security_groups(Some(request.security_groups.clone()))
            .assign_public_ip(if request.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| AwsError::new("RunTask", AwsErrorKind::Rejected, e.to_string()))?;
        call = call.network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        );
    }
    let out = call.send().await.map_err(|e| err("RunTask", &e))?;
    if let Some(task) = out.tasks().first() {
        return Ok(task_view(task));
    }
    let failures: Vec<String> = out
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{} ({}{})",
                f.arn().unwrap_or(&request.task_definition),
                f.reason().unwrap_or("no reason"),
                f.detail().map(|d| format!(": {d}")).unwrap_or_default()
            )
        })
        .collect();
    Err(AwsError::new(
        "RunTask",
        AwsErrorKind::Rejected,
        if failures.is_empty() {
            "the answer holds no task and no failure".to_owned()
        } else {
            format!("no task started: {}", failures.join(", "))
        },
    ))
}

/// One task as DescribeTasks answers it; `None` when ECS reports it MISSING.
pub async fn describe_task(
    ecs: &Client,
    cluster: &str,
    arn: &str,
) -> Result<Option<TaskView>, AwsError> {
    let out = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .map_err(|e| err("DescribeTasks", &e))?;
    if let Some(task) = out.tasks().iter().find(|t| t.task_arn() == Some(arn)) {
        return Ok(Some(task_view(task)));
    }
    match out.failures().first() {
        Some(f) if f.reason() == Some("MISSING") => Ok(None),
        Some(f) => Err(AwsError::new(
            "DescribeTasks",
            AwsErrorKind::Other,
            format!("{arn}: {}", f.reason().unwrap_or("no reason")),
        )),
        None => Err(AwsError::new(
            "DescribeTasks",
            AwsErrorKind::Malformed,
            format!("the answer holds neither {arn} nor a failure"),
        )),
    }
}

pub async fn stop_task(
    ecs: &Client,
    cluster: &str,
    arn: &str,
    reason: &str,
) -> Result<TaskView, AwsError> {
    let out = ecs
        .stop_task()
        .cluster(cluster)
        .task(arn)
        .reason(reason)
        .send()
        .await
        .map_err(|e| err("StopTask", &e))?;
    out.task()
        .map(task_view)
        .ok_or_else(|| AwsError::new("StopTask", AwsErrorKind::Malformed, "no task in the answer"))
}

#[derive(Debug, Clone)]
pub struct StopWaitOptions {
    pub timeout: Duration,
    pub first_poll_ms: u64,
    pub max_poll_ms: u64,
    /// How long ECS may not yet know a task just started (eventual consistency).
    pub visibility_grace: Duration,
    /// How long polls may keep failing before the wait ends with an error.
    pub poll_failure_budget: Duration,
    /// Where the clock readings the wait judged by are recorded, or replayed from (issue #25).
    pub tape: Option<std::sync::Arc<crate::infra::tape::Tape>>,
}

/// How a wait for a task to stop ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopWaitEnd {
    Stopped,
    TimedOut,
    Interrupted,
    /// ECS could not be asked (polls failing past the budget) or does not know the task.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct StopWait {
    pub end: StopWaitEnd,
    /// The task as last seen.
    pub task: Option<TaskView>,
    pub polls: u32,
    pub failed_polls: u32,
    pub elapsed_ms: u128,
    pub error: Option<String>,
}

/// Polls DescribeTasks with backoff until the task is STOPPED, the timeout passes, `cancelled`
/// says so (checked every 25 ms, also while sleeping), or polls fail for longer than the budget.
/// Every decision reads the wait's clock (recorded on the tape; in a replay, the recorded
/// readings and virtual time), so a replayed job overruns its budget exactly where it did.
pub async fn wait_stopped(
    ecs: &Client,
    cluster: &str,
    arn: &str,
    options: &StopWaitOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> StopWait {
    let clock = WaitClock::new(
        format!("ecs task wait {cluster} {arn}"),
        options.tape.clone(),
    );
    let mut wait = StopWait {
        end: StopWaitEnd::TimedOut,
        task: None,
        polls: 0,
        failed_polls: 0,
        elapsed_ms: 0,
        error: None,
    };
    let mut interval = options.first_poll_ms;
    let mut failing_since: Option<Duration> = None;
    let secs = |d: Duration| d.as_secs_f64();
    loop {
        wait.polls += 1;
        let asked = clock.elapsed();
        let answer = describe_task(ecs, cluster, arn).await;
        let now = reading_span(&clock);
        // The wait's span is its last reading's, recorded on the tape: a replay reports the same
        // figure (the clock read again after the poll would differ by the last microseconds).
        wait.elapsed_ms = now.as_millis();
        match answer {
            Ok(Some(task)) => {
                failing_since = None;
                wait.error = None;
                let stopped = task.last_status == TaskStatus::Stopped;
                wait.task = Some(task);
                if stopped {
                    wait.end = StopWaitEnd::Stopped;
                    break;
                }
            }
            Ok(None) if now < options.visibility_grace => {}
            Ok(None) => {
                wait.end = StopWaitEnd::Error;
                wait.error = Some(format!(
                    "ECS still reports {arn} MISSING {:.1} s after it was started",
                    secs(now)
                ));
                break;
            }
            Err(why) => {
                wait.failed_polls += 1;
                let since = *failing_since.get_or_insert(asked);
                wait.error = Some(why.to_string());
                let failing = now.saturating_sub(since);
                if failing >= options.poll_failure_budget {
                    wait.end = StopWaitEnd::Error;
                    wait.error = Some(format!(
                        "ECS kept {} for {:.1} s ({} poll(s) in a row); last error: {why}",
                        why.kind.said(),
                        secs(failing),
                        wait.failed_polls
                    ));
                    break;
                }
            }
        }
        if cancelled() {
            wait.end = StopWaitEnd::Interrupted;
            break;
        }
        if now >= options.timeout {
            wait.end = StopWaitEnd::TimedOut;
            break;
        }
        let pause = Duration::from_millis(interval).min(options.timeout.saturating_sub(now));
        if clock.replaying().is_some() {
            clock.sleep(pause).await;
        } else {
            let slept = std::time::Instant::now();
            while slept.elapsed() < pause && !cancelled() {
                tokio::time::sleep(Duration::from_millis(25).min(pause)).await;
            }
        }
        if cancelled() {
            wait.end = StopWaitEnd::Interrupted;
            break;
        }
        interval = next_interval(interval, options.max_poll_ms);
    }
    wait
}

/// The wait's span at this poll, as its clock reads it (recorded, or replayed).
fn reading_span(clock: &WaitClock) -> Duration {
    clock.now().elapsed.to_std().unwrap_or_default()
}
