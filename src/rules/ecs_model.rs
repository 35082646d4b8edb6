//! What ECS reports, as the views m4host judges: a service with its deployments, task sets and
//! events (DescribeServices), a task with its containers (DescribeTasks), the health checks a
//! task definition declares; and the facts read off them alone (which running tasks no service
//! started, a task's service, whether it is live). Field names follow the ECS API reference; the
//! adapters (`infra::ecs`, `infra::ecs_tasks`) fill them, the rules (`stability`, `service_wait`,
//! `one_shot`, `consumers`) read them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Words ECS answers with from a documented set (botocore's service model lists each), parsed
/// once where the answer enters: the rules compare variants, never strings. A word outside the
/// set is kept as ECS said it (`Other`), shown as it came, and is none of the known ones.
macro_rules! ecs_words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
            Other(String),
        }

        impl $name {
            pub fn parse(word: &str) -> $name {
                match word {
                    $($word => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $word,)*
                    $name::Other(word) => word,
                }
            }
        }

        impl From<&str> for $name {
            fn from(word: &str) -> $name {
                $name::parse(word)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

ecs_words!(
    /// Task `lastStatus` / `desiredStatus` and a container's `lastStatus` (Developer Guide,
    /// "Amazon ECS task lifecycle"; DELETED as DescribeTasks reports a task long gone).
    TaskStatus {
        Provisioning = "PROVISIONING",
        Pending = "PENDING",
        Activating = "ACTIVATING",
        Running = "RUNNING",
        Deactivating = "DEACTIVATING",
        Stopping = "STOPPING",
        Deprovisioning = "DEPROVISIONING",
        Stopped = "STOPPED",
        Deleted = "DELETED",
    }
);

ecs_words!(
    /// A task's or container's `healthStatus` (HealthStatus in the API reference).
    HealthStatus {
        Healthy = "HEALTHY",
        Unhealthy = "UNHEALTHY",
        Unknown = "UNKNOWN",
    }
);

ecs_words!(
    /// A service's `status`.
    ServiceStatus {
        Active = "ACTIVE",
        Draining = "DRAINING",
        Inactive = "INACTIVE",
    }
);

ecs_words!(
    /// A deployment's `status`: the newest is PRIMARY, older ones ACTIVE until drained.
    DeploymentStatus {
        Primary = "PRIMARY",
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
);

ecs_words!(
    /// A deployment's `rolloutState` (DeploymentRolloutState).
    RolloutState {
        Completed = "COMPLETED",
        Failed = "FAILED",
        InProgress = "IN_PROGRESS",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentView {
    pub id: String,
    pub status: DeploymentStatus,
    pub rollout_state: Option<RolloutState>,
    pub rollout_state_reason: Option<String>,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    pub created_at: Option<DateTime<Utc>>,
    pub message: String,
}

/// A task set of a CODE_DEPLOY or EXTERNAL service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSetView {
    pub id: String,
    pub status: String,
    pub stability_status: Option<String>,
    pub task_definition: String,
    pub running_count: i32,
    pub pending_count: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub arn: String,
    /// The cluster's ARN (DescribeServices `clusterArn`).
    pub cluster_arn: Option<String>,
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition: String,
    pub launch_type: Option<String>,
    /// ECS (rolling), CODE_DEPLOY or EXTERNAL; absent means ECS.
    pub deployment_controller: Option<String>,
    pub deployments: Vec<DeploymentView>,
    pub task_sets: Vec<TaskSetView>,
    pub events: Vec<EventView>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerStateView {
    pub name: String,
    pub last_status: Option<TaskStatus>,
    pub exit_code: Option<i32>,
    /// Why the container stopped (OutOfMemoryError, CannotPullContainerError, …).
    pub reason: Option<String>,
    pub health_status: Option<HealthStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    pub arn: String,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub task_definition: String,
    pub last_status: TaskStatus,
    pub desired_status: TaskStatus,
    pub health_status: Option<HealthStatus>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub exit_codes: Vec<Option<i32>>,
    pub containers: Vec<ContainerStateView>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    /// When its container images were pulled ("pullStoppedAt", Task in the ECS API reference).
    pub pull_stopped_at: Option<DateTime<Utc>>,
    pub stopping_at: Option<DateTime<Utc>>,
    pub execution_stopped_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The running tasks no service started, by ECS's own word (issue #32): a task is a service's
/// only when its `group` names the service (`service:NAME`) and its `startedBy` is the id of one
/// of that service's deployments, as ECS sets it for the tasks a deployment starts ("startedBy:
/// ... the deployment ID of the service that starts it", Task in the ECS API reference). RunTask
/// lets anyone set `group` (and `startedBy`), so the group string alone proves nothing; an
/// impostor that copies both is a second task of the service, which the singleton judgement
/// holds. `deployments` maps each service described to its deployments' ids; a service not
/// described (outside the map) starts no task that counts as a service's.
pub fn not_started_by_a_service<'a>(
    tasks: &'a [TaskView],
    deployments: &BTreeMap<String, Vec<String>>,
) -> Vec<&'a TaskView> {
    tasks
        .iter()
        .filter(|t| {
            let owned = t.service().is_some_and(|name| {
                deployments.get(name).is_some_and(|ids| {
                    t.started_by
                        .as_deref()
                        .is_some_and(|by| ids.iter().any(|id| id == by))
                })
            });
            !owned
        })
        .collect()
}

/// The deployment ids of each service, for `not_started_by_a_service`.
pub fn deployment_ids(services: &[ServiceView]) -> BTreeMap<String, Vec<String>> {
    services
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.deployments.iter().map(|d| d.id.clone()).collect(),
            )
        })
        .collect()
}

impl TaskView {
    /// The service a task claims to belong to, from its group (`service:NAME`): what the
    /// stability judgement counts against that service (fail closed); not proof that the
    /// service started it (`not_started_by_a_service`).
    pub fn service(&self) -> Option<&str> {
        self.group
            .as_deref()
            .and_then(|g| g.strip_prefix("service:"))
    }

    /// Its images are pulled and it is not RUNNING yet: the agent starts its containers next
    /// ("pullStoppedAt: the time when the container image pull completed", Task, ECS API
    /// reference; the pull is the PENDING state's work in the task lifecycle), so it is about to
    /// run or to fail — the moment a wait looks closely rather than at its backoff ceiling.
    pub fn starting_soon(&self) -> bool {
        self.desired_status == TaskStatus::Running
            && self.pull_stopped_at.is_some()
            && matches!(
                self.last_status,
                TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating
            )
    }

    /// Every state but STOPPED (and DELETED) still runs or holds the task (task lifecycle).
    pub fn live(&self) -> bool {
        !matches!(self.last_status, TaskStatus::Stopped | TaskStatus::Deleted)
    }

    /// When the task began to stop, if it did: the earliest of stoppingAt, executionStoppedAt and
    /// stoppedAt, so that a task seen while still STOPPING already counts. A task on its way to
    /// STOPPED that carries none of them (an answer ECS should not give) stopped no earlier than
    /// it was created: that stands for the time, so such a stop is counted rather than missed.
    pub fn stop_began(&self) -> Option<DateTime<Utc>> {
        [self.stopping_at, self.execution_stopped_at, self.stopped_at]
            .into_iter()
            .flatten()
            .min()
            .or_else(|| {
                (self.desired_status == TaskStatus::Stopped
                    || self.last_status == TaskStatus::Stopped)
                    .then_some(self.created_at)
                    .flatten()
            })
    }

    /// A stop the service scheduler made on purpose: a scale-in or a deployment's replacement.
    /// Health-check replacements are also ServiceSchedulerInitiated, but their reason says so.
    pub fn planned_stop(&self) -> bool {
        self.stop_code.as_deref() == Some("ServiceSchedulerInitiated")
            && self
                .stopped_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("Scaling activity initiated by"))
    }

    /// A stop that ECS made because a health check failed (container or load balancer).
    pub fn health_stop(&self) -> bool {
        self.stopped_reason.as_deref().is_some_and(|r| {
            let r = r.to_ascii_lowercase();
            r.contains("failed container health checks") || r.contains("failed elb health checks")
        })
    }

    pub(crate) fn describe_stop(&self) -> String {
        let containers: Vec<String> = self
            .containers
            .iter()
            .map(|c| {
                let code = c.exit_code.map_or("none".to_owned(), |c| c.to_string());
                match &c.reason {
                    Some(r) => format!("container `{}` exit code {code} ({r})", c.name),
                    None => format!("container `{}` exit code {code}", c.name),
                }
            })
            .collect();
        format!(
            "task {} {}: {}{}",
            short_id(&self.arn),
            self.stop_code.as_deref().unwrap_or("stopping"),
            self.stopped_reason
                .as_deref()
                .unwrap_or("no stopped reason"),
            if containers.is_empty() {
                // TaskFailedToStart before any container was created (ResourceInitializationError):
                // ECS lists `containers: []`, so there is no exit code and no log stream.
                "; no container was created".to_owned()
            } else {
                format!("; {}", containers.join(", "))
            }
        )
    }
}

pub(crate) fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A container health check as the task definition declares it (HealthCheck; seconds, with the
/// documented defaults for what is omitted: interval 30, timeout 5, retries 3, startPeriod 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthCheckView {
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

impl HealthCheckView {
    /// The longest a container with this check can take to turn UNHEALTHY after it starts: no
    /// failure counts during the start period, then `retries` consecutive failures one interval
    /// apart (Docker HEALTHCHECK semantics, which ECS maps to).
    pub fn verdict_window(&self) -> Duration {
        Duration::from_secs(u64::from(
            self.start_period_s + self.interval_s * self.retries,
        ))
    }
}

/// The declared health checks of a task definition's essential containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthDeclaration {
    pub checks: Vec<(String, HealthCheckView)>,
}

impl HealthDeclaration {
    pub fn declared(&self) -> bool {
        !self.checks.is_empty()
    }

    /// The soak a stability wait needs so that a check could have failed inside it.
    pub fn soak_floor(&self) -> Duration {
        self.checks
            .iter()
            .map(|(_, c)| c.verdict_window())
            .max()
            .unwrap_or_default()
    }
}

/// What the rules' tests share: the ingress daemon's declared health check as a task
/// definition states it (interval 30 s, timeout 5 s, 3 retries, start period 60 s), or none.
#[cfg(test)]
pub(crate) fn ig_health(declared: bool) -> HealthDeclaration {
    if !declared {
        return HealthDeclaration::default();
    }
    HealthDeclaration {
        checks: vec![(
            "ig".into(),
            HealthCheckView {
                interval_s: 30,
                timeout_s: 5,
                retries: 3,
                start_period_s: 60,
            },
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_parsed_once_and_said_back_as_ecs_said_it() {
        assert_eq!(TaskStatus::parse("RUNNING"), TaskStatus::Running);
        assert_eq!(
            serde_json::to_value(TaskStatus::Running).unwrap(),
            "RUNNING"
        );
        // A word ECS may add later is kept, shown as it came, and is none of the known ones:
        // a rule asking "RUNNING?" of it answers no, so it can never pass as running.
        let new = TaskStatus::parse("HIBERNATING");
        assert_eq!(new, TaskStatus::Other("HIBERNATING".into()));
        assert_ne!(new, TaskStatus::Running);
        assert_eq!(new.to_string(), "HIBERNATING");
        assert_eq!(serde_json::to_value(&new).unwrap(), "HIBERNATING");
        // Case matters, as in the API: "running" is not RUNNING.
        assert_ne!(TaskStatus::parse("running"), TaskStatus::Running);
        assert_eq!(
            RolloutState::parse("IN_PROGRESS").as_str(),
            RolloutState::InProgress.as_str()
        );
    }
}
