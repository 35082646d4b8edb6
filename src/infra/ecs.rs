//! ECS: a thin typed layer over the SDK (services in batches of 10 described concurrently, task
//! definitions, tasks, updates); the stability wait that polls it is `ecs_wait`. The decisions
//! are pure functions in `rules`: what one answer says (`stability`: stable, crash loop, rolled
//! back), what one poll means over time (`service_wait`: soak, placement grace, timeline) and the
//! run-scope law (`task_definition`).

use crate::infra::aws::{AwsError, AwsErrorKind};
use crate::rules::ecs_model::{
    ContainerStateView, DeploymentStatus, DeploymentView, EventView, HealthCheckView, HealthStatus,
    RolloutState, ServiceStatus, ServiceView, TaskSetView, TaskStatus, TaskView,
};
pub use crate::rules::task_definition::{run_scope_problem, ContainerView, TaskDefinitionView};
use aws_sdk_ecs::Client;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// How many services one DescribeServices call may name (the API's limit).
pub const DESCRIBE_SERVICES_BATCH: usize = 10;

/// Describes services, 10 names per call (the API's limit), all calls concurrent.
/// Returns the services found and the names ECS reported missing.
pub async fn describe_services(
    ecs: &Client,
    cluster: &str,
    names: &[String],
) -> Result<(Vec<ServiceView>, Vec<String>), AwsError> {
    let calls = names.chunks(DESCRIBE_SERVICES_BATCH).map(|batch| {
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

/// The tasks of `arns` as `found` describes them, in the listing's order.
pub(crate) fn listing_of(arns: &[String], found: &Described) -> TaskListing {
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

pub(crate) async fn list_task_arns(
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
pub(crate) struct Described {
    pub(crate) tasks: Vec<TaskView>,
    pub(crate) failures: Vec<(String, String)>,
}

pub(crate) async fn describe_task_arns(
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
