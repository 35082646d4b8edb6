//! ECS: a thin typed layer over the SDK (services in batches of 10 described concurrently, task
//! definitions, tasks, updates) and the stability waiter that polls it with backoff. The decisions
//! (stable, crash loop, rolled back; run-scope guard) are pure functions in `stability` and here.

use crate::stability::{
    self, Classification, DeploymentView, EventView, Outcome, ServiceView, StabilityPolicy,
    TaskView,
};
use aws_sdk_ecs::Client;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn err<E, R>(what: &str, e: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_ecs::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    format!("{what}: {}", crate::aws::describe_sdk_error(e))
}

fn service_view(s: &aws_sdk_ecs::types::Service) -> ServiceView {
    let network = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    ServiceView {
        name: s.service_name().unwrap_or_default().to_owned(),
        arn: s.service_arn().unwrap_or_default().to_owned(),
        status: s.status().unwrap_or_default().to_owned(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        launch_type: s.launch_type().map(|l| l.as_str().to_owned()),
        deployments: s
            .deployments()
            .iter()
            .map(|d| DeploymentView {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_owned()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .take(20)
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

fn task_view(t: &aws_sdk_ecs::types::Task) -> TaskView {
    TaskView {
        arn: t.task_arn().unwrap_or_default().to_owned(),
        group: t.group().map(str::to_owned),
        started_by: t.started_by().map(str::to_owned),
        task_definition: t.task_definition_arn().unwrap_or_default().to_owned(),
        last_status: t.last_status().unwrap_or_default().to_owned(),
        desired_status: t.desired_status().unwrap_or_default().to_owned(),
        stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: t
            .stopped_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        exit_codes: t.containers().iter().map(|c| c.exit_code()).collect(),
        started_at: time(t.started_at()),
        stopped_at: time(t.stopped_at()),
    }
}

/// Describes services, 10 names per call (the API's limit), all calls concurrent.
/// Returns the services found and the names ECS reported missing.
pub async fn describe_services(
    ecs: &Client,
    cluster: &str,
    names: &[String],
) -> Result<(Vec<ServiceView>, Vec<String>), String> {
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

#[derive(Debug, Clone, Serialize)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub essential: bool,
    pub environment: BTreeMap<String, String>,
    pub secrets: Vec<BTreeMap<String, String>>,
    pub log_driver: Option<String>,
    pub log_options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskDefinitionView {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    pub network_mode: Option<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub containers: Vec<ContainerView>,
}

pub async fn describe_task_definition(
    ecs: &Client,
    task_definition: &str,
) -> Result<TaskDefinitionView, String> {
    let out = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| err(&format!("DescribeTaskDefinition {task_definition}"), &e))?;
    let td = out
        .task_definition()
        .ok_or("DescribeTaskDefinition returned no task definition")?;
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
            })
            .collect(),
    })
}

/// Why a task definition may not be launched under the run-scope law, if it may not: every
/// essential container must carry `key=value` exactly.
pub fn run_scope_problem(td: &TaskDefinitionView, key: &str, value: &str) -> Option<String> {
    let essential: Vec<&ContainerView> = td.containers.iter().filter(|c| c.essential).collect();
    if essential.is_empty() {
        return Some(format!("{} has no essential container", td.arn));
    }
    for c in essential {
        match c.environment.get(key) {
            None => {
                return Some(format!(
                    "container `{}` of {} does not carry {key}",
                    c.name, td.arn
                ))
            }
            Some(v) if v != value => {
                return Some(format!(
                    "container `{}` of {} carries {key}={v}, not {value}",
                    c.name, td.arn
                ))
            }
            Some(_) => {}
        }
    }
    None
}

/// Every task of the cluster with the given desired status, described (100 per call, concurrent).
pub async fn tasks(
    ecs: &Client,
    cluster: &str,
    desired: aws_sdk_ecs::types::DesiredStatus,
) -> Result<Vec<TaskView>, String> {
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
    let calls = arns.chunks(100).map(|batch| {
        ecs.describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
    });
    let mut out = Vec::new();
    for result in join_all(calls).await {
        out.extend(
            result
                .map_err(|e| err("DescribeTasks", &e))?
                .tasks()
                .iter()
                .map(task_view),
        );
    }
    Ok(out)
}

pub async fn update_desired_count(
    ecs: &Client,
    cluster: &str,
    service: &str,
    desired: i32,
) -> Result<ServiceView, String> {
    let out = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired)
        .send()
        .await
        .map_err(|e| err(&format!("UpdateService {service}"), &e))?;
    out.service()
        .map(service_view)
        .ok_or_else(|| "UpdateService returned no service".to_owned())
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceWait {
    pub service: String,
    pub outcome: Outcome,
    pub stable: bool,
    pub reason: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub primary_task_definition: Option<String>,
    pub rollout_state: Option<String>,
    pub task_arns: Vec<String>,
    pub crashed_tasks: Vec<TaskView>,
    pub stable_for_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitReport {
    pub all_stable: bool,
    pub outcome: String,
    pub services: BTreeMap<String, ServiceWait>,
    pub polls: u32,
    pub elapsed_ms: u64,
    pub error: Option<String>,
}

pub struct WaitOptions {
    pub timeout: Duration,
    pub soak: Duration,
    pub first_poll_ms: u64,
    pub max_poll_ms: u64,
}

/// Polls until every service is stable for the soak window, or reaches a final bad outcome, or
/// the timeout passes (then the unsettled ones are `settling` with the last reason: never a pass).
pub async fn wait_stable(
    ecs: &Client,
    cluster: &str,
    policies: &BTreeMap<String, StabilityPolicy>,
    options: &WaitOptions,
    mut progress: impl FnMut(&BTreeMap<String, ServiceWait>, Duration),
) -> WaitReport {
    let started = Instant::now();
    let names: Vec<String> = policies.keys().cloned().collect();
    let mut stable_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut results: BTreeMap<String, ServiceWait> = BTreeMap::new();
    let mut interval = options.first_poll_ms;
    let mut polls = 0;
    let mut error: Option<String>;
    loop {
        polls += 1;
        let pending_names: Vec<String> = names
            .iter()
            .filter(|n| !results.get(*n).is_some_and(final_outcome))
            .cloned()
            .collect();
        let (described, stopped, running) = futures::join!(
            describe_services(ecs, cluster, &pending_names),
            tasks(ecs, cluster, aws_sdk_ecs::types::DesiredStatus::Stopped),
            tasks(ecs, cluster, aws_sdk_ecs::types::DesiredStatus::Running),
        );
        match (described, stopped, running) {
            (Ok((services, missing)), Ok(stopped), Ok(running)) => {
                error = None;
                for service in &services {
                    let policy = &policies[&service.name];
                    let Classification { outcome, reason } =
                        stability::classify(service, &stopped, policy);
                    let now = Instant::now();
                    let since = if outcome == Outcome::Stable {
                        *stable_since.entry(service.name.clone()).or_insert(now)
                    } else {
                        stable_since.remove(&service.name);
                        now
                    };
                    let stable_for = now.duration_since(since);
                    let soaked = outcome == Outcome::Stable && stable_for >= options.soak;
                    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
                    results.insert(
                        service.name.clone(),
                        ServiceWait {
                            service: service.name.clone(),
                            stable: soaked,
                            outcome: if outcome == Outcome::Stable && !soaked {
                                Outcome::Settling
                            } else {
                                outcome
                            },
                            reason: if outcome == Outcome::Stable && !soaked {
                                format!(
                                    "{reason}; soaking {} of {} ms",
                                    stable_for.as_millis(),
                                    options.soak.as_millis()
                                )
                            } else {
                                reason
                            },
                            desired_count: service.desired_count,
                            running_count: service.running_count,
                            pending_count: service.pending_count,
                            primary_task_definition: primary.map(|d| d.task_definition.clone()),
                            rollout_state: primary.and_then(|d| d.rollout_state.clone()),
                            task_arns: running
                                .iter()
                                .filter(|t| t.service() == Some(service.name.as_str()))
                                .map(|t| t.arn.clone())
                                .collect(),
                            crashed_tasks: stopped
                                .iter()
                                .filter(|t| {
                                    t.service() == Some(service.name.as_str()) && t.crashed()
                                })
                                .filter(|t| t.stopped_at.is_some_and(|at| at >= policy.since))
                                .cloned()
                                .collect(),
                            stable_for_ms: stable_for.as_millis() as u64,
                        },
                    );
                }
                for name in missing {
                    let short = name.split(' ').next().unwrap_or(&name).to_owned();
                    results.insert(short.clone(), missing_service(&short, &name));
                }
            }
            (a, b, c) => {
                // Transient failures spend the budget; the waiter never turns them into a pass.
                error = [a.err(), b.err(), c.err()].into_iter().flatten().next();
            }
        }
        progress(&results, started.elapsed());
        let done = names
            .iter()
            .all(|n| results.get(n).is_some_and(final_outcome));
        if done
            || started.elapsed() >= options.timeout
            || crate::engine::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
        {
            break;
        }
        tokio::time::sleep(
            Duration::from_millis(interval).min(options.timeout.saturating_sub(started.elapsed())),
        )
        .await;
        interval = stability::next_interval(interval, options.max_poll_ms);
    }
    for name in &names {
        results.entry(name.clone()).or_insert_with(|| {
            ServiceWait::without_service(
                name,
                Outcome::Settling,
                error.clone().unwrap_or_else(|| "never described".into()),
            )
        });
    }
    let all_stable = results.values().all(|r| r.stable) && error.is_none();
    let outcome = if all_stable {
        "pass"
    } else if error.is_some() && results.values().all(|r| !final_outcome(r)) {
        "error"
    } else {
        "fail"
    };
    WaitReport {
        all_stable,
        outcome: outcome.to_owned(),
        services: results,
        polls,
        elapsed_ms: started.elapsed().as_millis() as u64,
        error,
    }
}

fn final_outcome(r: &ServiceWait) -> bool {
    r.stable
        || matches!(
            r.outcome,
            Outcome::CrashLoop | Outcome::RolledBack | Outcome::Failed
        )
}

fn missing_service(name: &str, why: &str) -> ServiceWait {
    ServiceWait::without_service(name, Outcome::Failed, format!("service not found: {why}"))
}

impl ServiceWait {
    /// The result for a service ECS never described.
    fn without_service(name: &str, outcome: Outcome, reason: String) -> ServiceWait {
        ServiceWait {
            service: name.to_owned(),
            outcome,
            stable: false,
            reason,
            desired_count: 0,
            running_count: 0,
            pending_count: 0,
            primary_task_definition: None,
            rollout_state: None,
            task_arns: vec![],
            crashed_tasks: vec![],
            stable_for_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td(env: &[(&str, &str)]) -> TaskDefinitionView {
        TaskDefinitionView {
            arn: "arn:td:1".into(),
            family: "f".into(),
            revision: 1,
            network_mode: None,
            task_role_arn: None,
            execution_role_arn: None,
            containers: vec![ContainerView {
                name: "daemon".into(),
                image: "i".into(),
                essential: true,
                environment: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                secrets: vec![],
                log_driver: None,
                log_options: BTreeMap::new(),
            }],
        }
    }

    #[test]
    fn run_scope_guard() {
        let key = "REQUIRED_PLATFORM_RUN_ID";
        assert_eq!(run_scope_problem(&td(&[(key, "p1")]), key, "p1"), None);
        assert!(run_scope_problem(&td(&[]), key, "p1")
            .unwrap()
            .contains("does not carry"));
        assert!(run_scope_problem(&td(&[(key, "p0")]), key, "p1")
            .unwrap()
            .contains("carries REQUIRED_PLATFORM_RUN_ID=p0"));
    }
}
