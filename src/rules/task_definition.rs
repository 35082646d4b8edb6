//! A task definition as m4host reads it (containers, their environment, secrets by reference,
//! log configuration, declared health checks) and the run-scope law over it: pure, no I/O. The
//! ECS adapter fills these views from DescribeTaskDefinition.

use crate::rules::stability::{HealthCheckView, HealthDeclaration};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub essential: bool,
    pub environment: BTreeMap<String, String>,
    pub secrets: Vec<BTreeMap<String, String>>,
    pub log_driver: Option<String>,
    pub log_options: BTreeMap<String, String>,
    /// The declared container health check, with ECS's defaults filled in (HealthCheck).
    pub health_check: Option<HealthCheckView>,
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

impl TaskDefinitionView {
    /// The health checks its essential containers declare.
    pub fn health(&self) -> HealthDeclaration {
        HealthDeclaration {
            checks: self
                .containers
                .iter()
                .filter(|c| c.essential)
                .filter_map(|c| c.health_check.map(|h| (c.name.clone(), h)))
                .collect(),
        }
    }
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

/// A one-container task definition of `family` whose container carries `key=scope` (or not), for
/// the unit tests of the rules that read it.
#[cfg(test)]
pub fn example(family: &str, key: &str, scope: Option<&str>) -> TaskDefinitionView {
    TaskDefinitionView {
        arn: format!("arn:aws:ecs:eu-west-2:123456789012:task-definition/{family}:1"),
        family: family.to_owned(),
        revision: 1,
        network_mode: Some("awsvpc".into()),
        task_role_arn: None,
        execution_role_arn: None,
        containers: vec![ContainerView {
            name: family.to_owned(),
            image: "i".into(),
            essential: true,
            environment: scope
                .map(|v| BTreeMap::from([(key.to_owned(), v.to_owned())]))
                .unwrap_or_default(),
            secrets: vec![],
            log_driver: None,
            log_options: BTreeMap::new(),
            health_check: None,
        }],
    }
}
