//! ECS: a thin typed layer over the SDK (services in batches of 10 described concurrently, task
//! definitions, tasks, updates) and the stability waiter that polls it with backoff. The decisions
//! are pure functions in `rules`: what one answer says (`stability`: stable, crash loop, rolled
//! back), what one poll means over time (`service_wait`: soak, placement grace, timeline) and the
//! run-scope law (`task_definition`).

use crate::infra::aws::{AwsError, AwsErrorKind};
use crate::infra::wait_clock::WaitClock;
use crate::rules::ecs_model::{
    deployment_ids, not_started_by_a_service, ContainerStateView, DeploymentStatus, DeploymentView,
    EventView, HealthCheckView, HealthStatus, RolloutState, ServiceStatus, ServiceView,
    TaskSetView, TaskStatus, TaskView,
};
use crate::rules::outcome::ProbeOutcome;
use crate::rules::service_wait::{judge_poll, Timing, Tracker};
pub use crate::rules::service_wait::{BringUpTimeline, ServiceWait, WaitTarget};
use crate::rules::stability::{self, Health, ServiceOutcome};
pub use crate::rules::task_definition::{run_scope_problem, ContainerView, TaskDefinitionView};
use aws_sdk_ecs::Client;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

pub(crate) fn err<E>(
    what: &str,
    e: &aws_sdk_ecs::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> AwsError
where
    E: std::error::Error + aws_sdk_ecs::error::ProvideErrorMetadata + 'static,
{
    AwsError::from_sdk(what, e)
}

fn service_view(s: &aws_sdk_ecs::types::Service) -> ServiceView {
    let network = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    ServiceView {
        name: s.service_name().unwrap_or_default().to_owned(),
        arn: s.service_arn().unwrap_or_default().to_owned(),
        cluster_arn: s.cluster_arn().map(str::to_owned),
        status: ServiceStatus::parse(s.status().unwrap_or_default()),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        launch_type: s.launch_type().map(|l| l.as_str().to_owned()),
        deployment_controller: s
            .deployment_controller()
            .map(|c| c.r#type().as_str().to_owned()),
        deployments: s
            .deployments()
            .iter()
            .map(|d| DeploymentView {
                id: d.id().unwrap_or_default().to_owned(),
                status: DeploymentStatus::parse(d.status().unwrap_or_default()),
                rollout_state: d.rollout_state().map(|r| RolloutState::parse(r.as_str())),
                rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                created_at: time(d.created_at()),
                updated_at: time(d.updated_at()),
            })
            .collect(),
        task_sets: s
            .task_sets()
            .iter()
            .map(|t| TaskSetView {
                id: t.id().unwrap_or_default().to_owned(),
                status: t.status().unwrap_or_default().to_owned(),
                stability_status: t.stability_status().map(|s| s.as_str().to_owned()),
                task_definition: t.task_definition().unwrap_or_default().to_owned(),
                running_count: t.running_count(),
                pending_count: t.pending_count(),
            })
            .collect(),
        // ECS keeps the newest 100 events; the judgement reads those since the update.
        events: s
            .events()
            .iter()
            .take(100)
            .map(|e| EventView {
                created_at: time(e.created_at()),
                message: e.message().unwrap_or_default().to_owned(),
            })
            .collect(),
        subnets: network.map(|n| n.subnets().to_vec()).unwrap_or_default(),
        security_groups: network
            .map(|n| n.security_groups().to_vec())
            .unwrap_or_default(),
        assign_public_ip: network
            .and_then(|n| n.assign_public_ip())
            .map(|a| a.as_str().to_owned()),
    }
}

pub(crate) fn task_view(t: &aws_sdk_ecs::types::Task) -> TaskView {
    let containers: Vec<ContainerStateView> = t
        .containers()
        .iter()
        .map(|c| ContainerStateView {
            name: c.name().unwrap_or_default().to_owned(),
            last_status: c.last_status().map(TaskStatus::parse),
            exit_code: c.exit_code(),
            reason: c.reason().filter(|r| !r.is_empty()).map(str::to_owned),
            health_status: c.health_status().map(|h| HealthStatus::parse(h.as_str())),
        })
        .collect();
    TaskView {
        arn: t.task_arn().unwrap_or_default().to_owned(),
        group: t.group().map(str::to_owned),
        started_by: t.started_by().map(str::to_owned),
        task_definition: t.task_definition_arn().unwrap_or_default().to_owned(),
        last_status: TaskStatus::parse(t.last_status().unwrap_or_default()),
        desired_status: TaskStatus::parse(t.desired_status().unwrap_or_default()),
        health_status: t.health_status().map(|h| HealthStatus::parse(h.as_str())),
        stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: t
            .stopped_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        exit_codes: containers.iter().map(|c| c.exit_code).collect(),
        containers,
        created_at: time(t.created_at()),
        started_at: time(t.started_at()),
        pull_stopped_at: time(t.pull_stopped_at()),
        stopping_at: time(t.stopping_at()),
        execution_stopped_at: time(t.execution_stopped_at()),
        stopped_at: time(t.stopped_at()),
    }
}

/// Describes services, 10 names per call (the API's limit), all calls concurrent.
/// Returns the services found and the names ECS reported missing.
pub async fn describe_services(
    ecs: &Client,
    cluster: &str,
    names: &[String],
) -> Result<(Vec<ServiceView>, Vec<String>), AwsError> {
    let calls = names.chunks(10).map(|batch| {
        ecs.describe_services()
            .cluster(cluster)
            .set_services(Some(batch.to_vec()))
            .send()
    });
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for result in join_all(calls).await {
        let out = result.map_err(|e| err("DescribeServices", &e))?;
        found.extend(out.services().iter().map(service_view));
        missing.extend(out.failures().iter().filter_map(|f| {
            f.arn().map(|a| {
                format!(
                    "{} ({})",
                    a.rsplit('/').next().unwrap_or(a),
                    f.reason().unwrap_or("MISSING")
                )
            })
        }));
    }
    Ok((found, missing))
}

pub async fn describe_task_definition(
    ecs: &Client,
    task_definition: &str,
) -> Result<TaskDefinitionView, AwsError> {
    let out = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| err(&format!("DescribeTaskDefinition {task_definition}"), &e))?;
    let td = out.task_definition().ok_or_else(|| {
        AwsError::new(
            format!("DescribeTaskDefinition {task_definition}"),
            AwsErrorKind::Malformed,
            "the answer holds no task definition",
        )
    })?;
    Ok(TaskDefinitionView {
        arn: td.task_definition_arn().unwrap_or_default().to_owned(),
        family: td.family().unwrap_or_default().to_owned(),
        revision: td.revision(),
        network_mode: td.network_mode().map(|m| m.as_str().to_owned()),
        task_role_arn: td.task_role_arn().map(str::to_owned),
        execution_role_arn: td.execution_role_arn().map(str::to_owned),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| ContainerView {
                name: c.name().unwrap_or_default().to_owned(),
                image: c.image().unwrap_or_default().to_owned(),
                essential: c.essential().unwrap_or(true),
                environment: c
                    .environment()
                    .iter()
                    .map(|kv| {
                        (
                            kv.name().unwrap_or_default().to_owned(),
                            kv.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
                secrets: c
                    .secrets()
                    .iter()
                    .map(|s| {
                        BTreeMap::from([
                            ("name".to_owned(), s.name().to_owned()),
                            ("value_from".to_owned(), s.value_from().to_owned()),
                        ])
                    })
                    .collect(),
                log_driver: c
                    .log_configuration()
                    .map(|l| l.log_driver().as_str().to_owned()),
                log_options: c
                    .log_configuration()
                    .and_then(|l| l.options())
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                command: c.command().to_vec(),
                entry_point: c.entry_point().to_vec(),
                docker_labels: c
                    .docker_labels()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                firelens_options: c
                    .firelens_configuration()
                    .and_then(|f| f.options())
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                health_check_command: c
                    .health_check()
                    .map(|h| h.command().to_vec())
                    .unwrap_or_default(),
                environment_files: c
                    .environment_files()
                    .iter()
                    .map(|f| f.value().to_owned())
                    .collect(),
                health_check: c.health_check().map(|h| HealthCheckView {
                    interval_s: h.interval().map_or(30, |v| v.max(0) as u32),
                    timeout_s: h.timeout().map_or(5, |v| v.max(0) as u32),
                    retries: h.retries().map_or(3, |v| v.max(0) as u32),
                    start_period_s: h.start_period().map_or(0, |v| v.max(0) as u32),
                }),
            })
            .collect(),
    })
}

/// Tasks of a cluster as DescribeTasks answered, with the ARNs it could not describe.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskListing {
    pub tasks: Vec<TaskView>,
    /// DescribeTasks `failures[]`: "ARN (reason)", e.g. a task that vanished between the calls.
    pub failures: Vec<String>,
}

/// Every task of the cluster with the given desired status: ListTasks page by page (ECS returns at
/// most 100 per page), then DescribeTasks, 100 ARNs per call, all concurrent.
pub async fn tasks(
    ecs: &Client,
    cluster: &str,
    desired: aws_sdk_ecs::types::DesiredStatus,
) -> Result<TaskListing, AwsError> {
    let arns = list_task_arns(ecs, cluster, desired).await?;
    let found = describe_task_arns(ecs, cluster, &arns).await?;
    Ok(listing_of(&arns, &found))
}

/// One poll's tasks of the cluster, stopped and running, with the ARNs the last poll asked about
/// described while ListTasks runs: a poll whose listings hold no new task costs one round trip,
/// not two. When they hold a new task, both listings are described together after them, so the
/// next poll asks exactly what this one listed. One DescribeTasks question per leg, sorted: a
/// question is never asked twice at once, so a replay hands its recorded answers back in the
/// order they came, and a replay past the recording asks a question the tape holds (issue #25).
/// Returns (stopped, running, what the next poll describes while it lists).
pub async fn poll_tasks(
    ecs: &Client,
    cluster: &str,
    known: &[String],
) -> Result<(TaskListing, TaskListing, Vec<String>), AwsError> {
    use aws_sdk_ecs::types::DesiredStatus;
    let mut asked = known.to_vec();
    asked.sort();
    asked.dedup();
    let (stopped, running, described) = futures::join!(
        list_task_arns(ecs, cluster, DesiredStatus::Stopped),
        list_task_arns(ecs, cluster, DesiredStatus::Running),
        describe_task_arns(ecs, cluster, &asked)
    );
    let (stopped, running) = (stopped?, running?);
    let mut found = described?;
    if !stopped
        .iter()
        .chain(&running)
        .all(|arn| asked.binary_search(arn).is_ok())
    {
        asked = stopped.iter().chain(&running).cloned().collect();
        asked.sort();
        asked.dedup();
        found = describe_task_arns(ecs, cluster, &asked).await?;
    }
    Ok((
        listing_of(&stopped, &found),
        listing_of(&running, &found),
        asked,
    ))
}

/// The tasks of `arns` as `found` describes them, in the listing's order.
fn listing_of(arns: &[String], found: &Described) -> TaskListing {
    let place = |arn: &str| arns.iter().position(|a| a == arn);
    let mut tasks: Vec<TaskView> = found
        .tasks
        .iter()
        .filter(|t| place(&t.arn).is_some())
        .cloned()
        .collect();
    tasks.sort_by_key(|t| place(&t.arn));
    let failures = found
        .failures
        .iter()
        .filter(|(arn, _)| place(arn).is_some())
        .map(|(arn, why)| format!("{arn} ({why})"))
        .collect();
    TaskListing { tasks, failures }
}

async fn list_task_arns(
    ecs: &Client,
    cluster: &str,
    desired: aws_sdk_ecs::types::DesiredStatus,
) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(desired.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| err("ListTasks", &e))?;
        arns.extend(out.task_arns().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(arns)
}

/// Tasks described, and DescribeTasks `failures[]` as (ARN, reason).
#[derive(Default)]
struct Described {
    tasks: Vec<TaskView>,
    failures: Vec<(String, String)>,
}

async fn describe_task_arns(
    ecs: &Client,
    cluster: &str,
    arns: &[String],
) -> Result<Described, AwsError> {
    let calls = arns.chunks(100).map(|batch| {
        ecs.describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
    });
    let mut found = Described::default();
    for result in join_all(calls).await {
        let out = result.map_err(|e| err("DescribeTasks", &e))?;
        found.tasks.extend(out.tasks().iter().map(task_view));
        found.failures.extend(out.failures().iter().map(|f| {
            (
                f.arn().unwrap_or("-").to_owned(),
                f.reason().unwrap_or("no reason").to_owned(),
            )
        }));
    }
    Ok(found)
}

pub async fn update_desired_count(
    ecs: &Client,
    cluster: &str,
    service: &str,
    desired: i32,
) -> Result<ServiceView, AwsError> {
    let out = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired)
        .send()
        .await
        .map_err(|e| err(&format!("UpdateService {service}"), &e))?;
    out.service().map(service_view).ok_or_else(|| {
        AwsError::new(
            format!("UpdateService {service}"),
            AwsErrorKind::Malformed,
            "the answer holds no service",
        )
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitReport {
    pub all_stable: bool,
    pub outcome: ProbeOutcome,
    pub services: BTreeMap<String, ServiceWait>,
    /// Earlier-started services of this execution that failed during this wait.
    pub late_failures: Vec<ServiceWait>,
    pub polls: u32,
    pub failed_polls: u32,
    pub elapsed_ms: u64,
    pub error: Option<String>,
    /// Tasks of the cluster with desired status RUNNING that no service started (possible
    /// once-off consumers), as the wait's last successful poll listed them; () when none did.
    pub standalone_tasks: Option<Vec<TaskView>>,
    /// The tasks the last successful poll asked about (for the next wait of the cluster).
    #[serde(skip)]
    pub asked: AskedTasks,
}

/// The task ARNs a poll asked about: what the next poll describes while it lists.
#[derive(Debug, Clone, Default)]
pub struct AskedTasks(pub Vec<String>);

pub struct WaitOptions {
    /// The tasks an earlier wait of the cluster asked about last: its first poll describes them
    /// while it lists, as every later poll does with what the one before asked.
    pub asked: AskedTasks,
    pub timeout: Duration,
    pub soak: Duration,
    pub first_poll_ms: u64,
    pub max_poll_ms: u64,
    /// How long a placement failure may persist before the service is judged unplaceable.
    pub placement_grace: Duration,
    /// How long polls may fail one after another before the wait ends with an error.
    pub poll_failure_budget: Duration,
    /// Where ECS is asked, for the operator's reason when it stops answering.
    pub endpoint: String,
    /// End once each service is up (stable but for any soak, declared health checks HEALTHY):
    /// the bring-up's wave gate (issue #23). The full judgement comes in a later wait.
    pub until_up: bool,
    /// Where the clock readings the judgement used are recorded (issue #25).
    pub tape: Option<std::sync::Arc<crate::infra::tape::Tape>>,
}

/// Polls until every asked-for service has been stable for its soak at the same poll, or reaches
/// a final failure, or a watched service fails, or the timeout passes (the unsettled ones are then
/// `settling` with their last reason: never a pass), or polls keep failing past the budget
/// (outcome `error`), or `cancelled()` says so.
pub async fn wait_stable(
    ecs: &Client,
    cluster: &str,
    targets: &BTreeMap<String, WaitTarget>,
    options: &WaitOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
    mut progress: impl FnMut(&BTreeMap<String, ServiceWait>, Duration),
) -> WaitReport {
    let clock = WaitClock::new(
        format!(
            "ecs wait {cluster} {}",
            targets.keys().cloned().collect::<Vec<_>>().join(",")
        ),
        options.tape.clone(),
    );
    let timing = Timing {
        soak: options.soak,
        placement_grace: options.placement_grace,
        until_up: options.until_up,
    };
    let names: Vec<String> = targets.keys().cloned().collect();
    let mut trackers: BTreeMap<String, Tracker> = names
        .iter()
        .map(|n| (n.clone(), Tracker::default()))
        .collect();
    let mut interval = options.first_poll_ms;
    let (mut polls, mut failed_polls) = (0, 0);
    let mut failing_since: Option<Duration> = None;
    let mut error: Option<String>;
    let mut lasting_failure = false;
    let mut standalone: Option<Vec<TaskView>> = None;
    // The deployments of every service described so far (a service no longer asked about keeps
    // its last ones): what proves a running task was started by a service.
    let mut deployments: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // What the last poll asked about: described while this poll lists.
    let mut known = options.asked.clone();
    loop {
        polls += 1;
        let poll_started = clock.elapsed();
        // Final failures are not asked about again; stable ones are, until the wait ends.
        let asking: Vec<String> = names
            .iter()
            .filter(|n| {
                !trackers[*n]
                    .result
                    .as_ref()
                    .is_some_and(|r| r.outcome.is_final_failure())
            })
            .cloned()
            .collect();
        let (described, listed) = futures::join!(
            describe_services(ecs, cluster, &asking),
            poll_tasks(ecs, cluster, &known.0),
        );
        let mut starting_soon = false;
        let poll = match (described, listed) {
            (Ok(d), Ok((s, r, asked))) if s.failures.is_empty() && r.failures.is_empty() => {
                // What the next poll describes while it lists: on the tape as asked.
                known = AskedTasks(asked);
                Ok((d, s, r))
            }
            (Ok(_), Ok((s, r, _))) => Err(AwsError::new(
                "DescribeTasks",
                AwsErrorKind::Other,
                format!(
                    "could not describe {}",
                    [s.failures, r.failures].concat().join(", ")
                ),
            )),
            (a, b) => Err([a.err(), b.err()]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or_else(|| AwsError::new("poll", AwsErrorKind::Other, "failed"))),
        };
        match poll {
            Ok(((services, missing), stopped, running)) => {
                failing_since = None;
                error = None;
                deployments.extend(deployment_ids(&services));
                standalone = Some(
                    not_started_by_a_service(&running.tasks, &deployments)
                        .into_iter()
                        .cloned()
                        .collect(),
                );
                let mut all = running.tasks;
                let known: std::collections::BTreeSet<String> =
                    all.iter().map(|t| t.arn.clone()).collect();
                all.extend(
                    stopped
                        .tasks
                        .into_iter()
                        .filter(|t| !known.contains(&t.arn)),
                );
                starting_soon = all.iter().any(|t| {
                    t.starting_soon()
                        && t.service()
                            .and_then(|s| targets.get(s))
                            .is_some_and(|target| !target.watched)
                });
                let now = clock.now();
                for service in &services {
                    let Some(target) = targets.get(&service.name) else {
                        continue;
                    };
                    let Some(tracker) = trackers.get_mut(&service.name) else {
                        continue; // a tracker per target, made with it
                    };
                    let judged = stability::classify(service, &all, &target.policy);
                    let result = judge_poll(service, &all, target, judged, tracker, &timing, now);
                    tracker.result = Some(result);
                }
                for name in missing {
                    let short = name.split(' ').next().unwrap_or(&name).to_owned();
                    if let Some(tracker) = trackers.get_mut(&short) {
                        let mut r = ServiceWait::without_service(
                            &short,
                            ServiceOutcome::Failed,
                            format!("service not found: {name}"),
                        );
                        r.watched = targets[&short].watched;
                        r.timeline.update_sent_at = targets[&short].update_sent_at;
                        r.timeline.failed_at = Some(now.at);
                        tracker.result = Some(r);
                    }
                }
            }
            Err(why) => {
                // A failed poll is never a pass; polls failing for longer than the budget end the
                // wait instead of spending the whole timeout (a dead or throttling endpoint).
                failed_polls += 1;
                // The failure clock starts when the first failing poll was sent.
                let since = *failing_since.get_or_insert(poll_started);
                let failing_for = clock.elapsed().saturating_sub(since);
                error = Some(why.to_string());
                if failing_for >= options.poll_failure_budget {
                    error = Some(format!(
                        "ECS at {} kept {} for {:.1} s ({} poll(s) in a row); last error: {why}",
                        options.endpoint,
                        why.kind.said(),
                        failing_for.as_secs_f64(),
                        failed_polls
                    ));
                    lasting_failure = true;
                }
            }
        }
        let results: BTreeMap<String, ServiceWait> = trackers
            .iter()
            .filter_map(|(n, t)| t.result.clone().map(|r| (n.clone(), r)))
            .collect();
        progress(&results, clock.elapsed());
        let watched_failed = results
            .values()
            .any(|r| r.watched && r.outcome.is_final_failure());
        let asked_done = names.iter().filter(|n| !targets[*n].watched).all(|n| {
            results
                .get(n)
                .is_some_and(|r| r.stable || r.outcome.is_final_failure())
        });
        if asked_done
            || watched_failed
            || lasting_failure
            || clock.elapsed() >= options.timeout
            || cancelled()
        {
            break;
        }
        // Backoff, but no later than the first soak's end (a soaked service is judged stable by
        // the next poll, not up to a whole interval after), and closer while a task is about to
        // run (issue #23).
        let now = chrono::TimeDelta::from_std(clock.elapsed()).unwrap_or_default();
        let soak_ends = trackers.values().filter_map(|t| t.soak_ends_in(now)).min();
        let ceiling = if starting_soon {
            stability::starting_soon_interval(options.max_poll_ms)
        } else {
            interval
        };
        clock
            .sleep(
                Duration::from_millis(interval.min(ceiling))
                    .min(soak_ends.map_or(Duration::MAX, |d| d.max(Duration::from_millis(1))))
                    .min(options.timeout.saturating_sub(clock.elapsed())),
            )
            .await;
        interval = stability::next_interval(interval, options.max_poll_ms);
    }
    let mut services: BTreeMap<String, ServiceWait> = BTreeMap::new();
    let mut late_failures = Vec::new();
    for name in &names {
        let mut r = trackers
            .get_mut(name)
            .and_then(|t| t.result.take())
            .unwrap_or_else(|| {
                ServiceWait::without_service(
                    name,
                    ServiceOutcome::Settling,
                    error.clone().unwrap_or_else(|| "never described".into()),
                )
            });
        r.watched = targets[name].watched;
        if r.watched {
            if r.outcome.is_final_failure() {
                late_failures.push(r);
            }
            continue;
        }
        services.insert(name.clone(), r);
    }
    let all_stable =
        services.values().all(|r| r.stable) && late_failures.is_empty() && error.is_none();
    let outcome = if all_stable {
        ProbeOutcome::Pass
    } else if lasting_failure
        || (error.is_some() && services.values().all(|r| !r.outcome.is_final_failure()))
    {
        ProbeOutcome::Error
    } else {
        ProbeOutcome::Fail
    };
    WaitReport {
        all_stable,
        outcome,
        services,
        late_failures,
        polls,
        failed_polls,
        elapsed_ms: clock.elapsed().as_millis() as u64,
        error,
        standalone_tasks: standalone,
        asked: known,
    }
}

impl ServiceWait {
    /// The result for a service ECS never described.
    pub(crate) fn without_service(
        name: &str,
        outcome: ServiceOutcome,
        reason: String,
    ) -> ServiceWait {
        ServiceWait {
            service: name.to_owned(),
            outcome,
            stable: false,
            reason,
            watched: false,
            desired_count: 0,
            running_count: 0,
            pending_count: 0,
            primary_task_definition: None,
            rollout_state: None,
            failed_tasks: 0,
            deployment_controller: None,
            task_arns: vec![],
            task_states: BTreeMap::new(),
            health: Health::NotDeclared,
            health_checks: BTreeMap::new(),
            soak_ms: 0,
            soak_bound: String::new(),
            stable_for_ms: 0,
            stops: vec![],
            log_tail: None,
            events_since_update: vec![],
            placement_problem: None,
            timeline: BringUpTimeline::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(arns: &[&str], failed: &[&str]) -> Described {
        Described {
            tasks: arns
                .iter()
                .map(|a| task_view(&aws_sdk_ecs::types::Task::builder().task_arn(*a).build()))
                .collect(),
            failures: failed
                .iter()
                .map(|a| ((*a).to_owned(), "MISSING".to_owned()))
                .collect(),
        }
    }

    /// A poll's answer keeps only what its listing holds, in the listing's order: a task the
    /// last poll asked about that has left the listing (stopped, moved to the other listing) is
    /// dropped from the answer; the near miss, every described task still listed, keeps all.
    #[test]
    fn a_listing_keeps_what_it_lists_in_its_order() {
        let found = described(&["t1", "t2", "t3"], &["t9"]);
        let running = ["t3".to_owned(), "t1".to_owned()];
        let l = listing_of(&running, &found);
        let arns: Vec<&str> = l.tasks.iter().map(|t| t.arn.as_str()).collect();
        assert_eq!(arns, ["t3", "t1"]);
        assert!(l.failures.is_empty());
        let stopped = ["t2".to_owned(), "t9".to_owned()];
        let l = listing_of(&stopped, &found);
        assert_eq!(l.tasks.len(), 1);
        assert_eq!(l.failures, ["t9 (MISSING)"]);
        let all = ["t1".to_owned(), "t2".to_owned(), "t3".to_owned()];
        assert_eq!(listing_of(&all, &found).tasks.len(), 3);
    }
}
