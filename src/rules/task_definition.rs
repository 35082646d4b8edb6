//! A task definition as m4host reads it (containers, their environment, secrets by reference,
//! log configuration, declared health checks) and the run-scope law over it: pure, no I/O. The
//! ECS adapter fills these views from DescribeTaskDefinition.

use crate::rules::credential::{scan, Finding, Names, Place};
use crate::rules::ecs_model::{HealthCheckView, HealthDeclaration};
use crate::rules::secret::Secret;
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
    /// Where else a container definition carries text a secret could hide in (ContainerDefinition
    /// in the ECS API reference): `command`, `entryPoint`, `dockerLabels`,
    /// `firelensConfiguration.options`, `healthCheck.command`; and the S3 ARNs of its
    /// `environmentFiles`, which are references m4host does not read.
    pub command: Vec<String>,
    pub entry_point: Vec<String>,
    pub docker_labels: BTreeMap<String, String>,
    pub firelens_options: BTreeMap<String, String>,
    pub health_check_command: Vec<String>,
    pub environment_files: Vec<String>,
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

/// Every value a container carries outside `secrets[].valueFrom`, as places the value rule
/// reads: the fields ECS passes to the container or its log router in plain text.
fn container_places(c: &ContainerView) -> Vec<Place> {
    let mut places = Vec::new();
    let mut named = |field: &str, map: &BTreeMap<String, String>| {
        for (name, text) in map {
            places.push(Place {
                scope: Some(c.name.clone()),
                field: field.to_owned(),
                name: Some(name.clone()),
                text: text.clone(),
            });
        }
    };
    named("environment", &c.environment);
    named("dockerLabels", &c.docker_labels);
    named("logConfiguration.options", &c.log_options);
    named("firelensConfiguration.options", &c.firelens_options);
    for (field, items) in [
        ("command", &c.command),
        ("entryPoint", &c.entry_point),
        ("healthCheck.command", &c.health_check_command),
    ] {
        for (i, text) in items.iter().enumerate() {
            places.push(Place {
                scope: Some(c.name.clone()),
                field: format!("{field}[{i}]"),
                name: None,
                text: text.clone(),
            });
        }
    }
    places
}

/// Where a task definition carries a secret outside `secrets[].valueFrom` (the plan's "secrets
/// only by reference"), judged by value over every container together (an AWS key id in one
/// variable and its secret key in another is one pair), names being one signal among them.
pub fn inline_secrets(td: &TaskDefinitionView, known: &[Secret]) -> Vec<Finding> {
    let places: Vec<Place> = td.containers.iter().flat_map(container_places).collect();
    scan(&places, known, Names::Judged)
}

/// What the value rule cannot read in a task definition: the S3 objects its containers'
/// `environmentFiles` name (their variables reach the container unseen by m4host), as
/// (container, reference).
pub fn unread_environment_files(td: &TaskDefinitionView) -> Vec<(String, String)> {
    td.containers
        .iter()
        .flat_map(|c| {
            c.environment_files
                .iter()
                .map(move |f| (c.name.clone(), f.clone()))
        })
        .collect()
}

/// Where an essential container's logs go, as its `logConfiguration` names it (the awslogs
/// driver's `awslogs-group`, `awslogs-stream-prefix`, `awslogs-region` options, per "Using the
/// awslogs log driver" in the ECS developer guide), and why it cannot be read as the
/// environment's, if it cannot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRoute {
    pub container: String,
    pub driver: Option<String>,
    pub group: Option<String>,
    pub stream_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The log route of every essential container, each judged against the environment's log-group
/// `prefix`: only the awslogs driver into a group under the prefix lets the runbook read what the
/// daemon logs (its run-scope mismatch lines), so any other route leaves its log status unproven.
pub fn log_routes(td: &TaskDefinitionView, prefix: &str) -> Vec<LogRoute> {
    let prefix = prefix.trim_end_matches('/');
    td.containers
        .iter()
        .filter(|c| c.essential)
        .map(|c| {
            let group = c.log_options.get("awslogs-group").cloned();
            let problem = match (c.log_driver.as_deref(), group.as_deref()) {
                (None, _) => Some("has no logConfiguration".to_owned()),
                (Some("awslogs"), None) => Some("names no awslogs-group".to_owned()),
                (Some("awslogs"), Some(g))
                    if g == prefix || g.starts_with(&format!("{prefix}/")) =>
                {
                    None
                }
                (Some("awslogs"), Some(g)) => Some(format!(
                    "logs to `{g}`, outside the environment's log groups `{prefix}/...`"
                )),
                (Some(other), _) => Some(format!(
                    "logs through the `{other}` driver, which m4host cannot read"
                )),
            };
            LogRoute {
                container: c.name.clone(),
                driver: c.log_driver.clone(),
                group,
                stream_prefix: c.log_options.get("awslogs-stream-prefix").cloned(),
                problem: problem.map(|p| format!("container `{}` of {} {p}", c.name, td.arn)),
            }
        })
        .collect()
}

/// Where a task's container writes its log under the awslogs driver: the group its options
/// name and the stream `<awslogs-stream-prefix>/<container>/<task id>` ("Using the awslogs log
/// driver", ECS developer guide: without a prefix, Fargate names no stream the runbook can find).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogStream {
    pub container: String,
    pub group: String,
    pub stream: String,
}

/// The log streams of a task of `td` (`task_arn`'s last segment is its id), one per essential
/// container logging through awslogs with a stream prefix; the containers that do not, by name.
pub fn task_log_streams(td: &TaskDefinitionView, task_arn: &str) -> (Vec<LogStream>, Vec<String>) {
    let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    let mut streams = Vec::new();
    let mut without = Vec::new();
    for c in td.containers.iter().filter(|c| c.essential) {
        match (
            c.log_driver.as_deref(),
            c.log_options.get("awslogs-group"),
            c.log_options.get("awslogs-stream-prefix"),
        ) {
            (Some("awslogs"), Some(group), Some(prefix)) => streams.push(LogStream {
                container: c.name.clone(),
                group: group.clone(),
                stream: format!("{prefix}/{}/{task_id}", c.name),
            }),
            _ => without.push(c.name.clone()),
        }
    }
    (streams, without)
}

/// The SSM parameters a handle's value names by path or ARN (its SecureString, if it is one, is
/// then a secret the environment knows of, and the run reads it); a plain word names none.
pub fn parameters_named_by(value: &str) -> Vec<String> {
    if value.starts_with('/') || value.starts_with("arn:aws:ssm:") {
        ssm_parameter_names(value).unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// The SSM parameter name a `secrets[].valueFrom` (or any reference) names: a parameter ARN
/// (`arn:aws:ssm:REGION:ACCOUNT:parameter/a/b` names `/a/b`; `parameter/x` names `x`, or `/x`,
/// both of which are asked) or a name as given in the same Region. Secrets Manager references
/// and anything else are not SSM parameters (None).
pub fn ssm_parameter_names(reference: &str) -> Option<Vec<String>> {
    if let Some(rest) = reference.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() != 5 || parts[1] != "ssm" {
            return None;
        }
        let name = parts[4].strip_prefix("parameter/")?;
        if name.is_empty() {
            return None;
        }
        return Some(if name.contains('/') {
            vec![format!("/{name}")]
        } else {
            vec![name.to_owned(), format!("/{name}")]
        });
    }
    let plausible = !reference.is_empty()
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    plausible.then(|| vec![reference.to_owned()])
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
            command: vec![],
            entry_point: vec![],
            docker_labels: BTreeMap::new(),
            firelens_options: BTreeMap::new(),
            health_check_command: vec![],
            environment_files: vec![],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::credential::Rule;

    fn with(f: impl FnOnce(&mut ContainerView)) -> TaskDefinitionView {
        let mut td = example(
            "fraud-platform-dev-min-ig",
            "REQUIRED_PLATFORM_RUN_ID",
            Some("p1"),
        );
        f(&mut td.containers[0]);
        td
    }

    fn found(td: &TaskDefinitionView, known: &[Secret]) -> Vec<(String, Option<String>, Rule)> {
        inline_secrets(td, known)
            .into_iter()
            .map(|f| (f.field, f.variable, f.rule))
            .collect()
    }

    #[test]
    fn every_place_a_value_can_hide_is_read() {
        let known = [Secret::new(
            "SSM_CONFLUENT_API_SECRET_PATH",
            "k9-Secret-Value",
        )];
        let td = with(|c| {
            c.command = vec!["serve".into(), "--api-secret=k9-Secret-Value".into()];
            c.entry_point = vec!["sh".into(), "-c".into()];
            c.docker_labels = BTreeMap::from([(
                "deploy.note".into(),
                "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----".into(),
            )]);
            c.log_options = BTreeMap::from([("awslogs-group".into(), "/fraud/ig".into())]);
            c.firelens_options = BTreeMap::from([(
                "Header".into(),
                "Authorization Bearer a1b2c3d4e5f6g7h8i9".into(),
            )]);
            c.health_check_command = vec![
                "CMD-SHELL".into(),
                "curl http://u:pw@localhost/health".into(),
            ];
        });
        assert_eq!(
            found(&td, &known),
            vec![
                (
                    "dockerLabels".into(),
                    Some("deploy.note".into()),
                    Rule::PemPrivateKey
                ),
                (
                    "firelensConfiguration.options".into(),
                    Some("Header".into()),
                    Rule::BearerToken
                ),
                ("command[1]".into(), None, Rule::KnownSecret),
                ("healthCheck.command[1]".into(), None, Rule::UrlPassword),
            ]
        );
    }

    #[test]
    fn a_dsn_under_an_innocent_name_and_its_near_miss() {
        let known = [Secret::new("SSM_DB_PASSWORD_PATH", "Pw-4f9a2c")];
        let leaked = with(|c| {
            c.environment.insert(
                "DB_DSN".into(),
                "postgresql://fraud_app:Pw-4f9a2c@db.internal/fraud".into(),
            );
        });
        let rules: Vec<Rule> = found(&leaked, &known).into_iter().map(|f| f.2).collect();
        assert_eq!(rules, vec![Rule::KnownSecret, Rule::UrlPassword]);
        let clean = with(|c| {
            c.environment.insert(
                "DB_DSN".into(),
                "postgresql://fraud_app@db.internal/fraud".into(),
            );
            c.environment.insert("SERVICE_NAME".into(), "ig".into());
        });
        assert!(found(&clean, &known).is_empty());
    }

    #[test]
    fn only_awslogs_into_the_environments_groups_is_a_readable_route() {
        let routed = |driver: Option<&str>, group: Option<&str>| {
            let td = with(|c| {
                c.log_driver = driver.map(str::to_owned);
                if let Some(g) = group {
                    c.log_options.insert("awslogs-group".into(), g.into());
                    c.log_options
                        .insert("awslogs-stream-prefix".into(), "ecs".into());
                }
            });
            log_routes(&td, "/fraud-platform/dev_min/").remove(0)
        };
        let ok = routed(
            Some("awslogs"),
            Some("/fraud-platform/dev_min/fraud-platform-dev-min-ig-v2"),
        );
        assert_eq!(ok.problem, None);
        assert_eq!(ok.stream_prefix.as_deref(), Some("ecs"));
        for (driver, group, says) in [
            (None, None, "has no logConfiguration"),
            (Some("awslogs"), None, "names no awslogs-group"),
            (
                Some("awslogs"),
                Some("/elsewhere/ig"),
                "outside the environment's log groups",
            ),
            (
                Some("awslogs"),
                Some("/fraud-platform/dev_minimal/ig"),
                "outside",
            ),
            (
                Some("splunk"),
                Some("/fraud-platform/dev_min/ig"),
                "`splunk` driver",
            ),
        ] {
            let p = routed(driver, group).problem.unwrap();
            assert!(
                p.contains(says) && p.contains("fraud-platform-dev-min-ig"),
                "{p}"
            );
        }
    }

    #[test]
    fn a_tasks_streams_follow_its_awslogs_options() {
        let td = with(|c| {
            c.log_driver = Some("awslogs".into());
            c.log_options = BTreeMap::from([
                ("awslogs-group".into(), "/fraud/ig".into()),
                ("awslogs-stream-prefix".into(), "ecs".into()),
            ]);
        });
        let (streams, without) =
            task_log_streams(&td, "arn:aws:ecs:eu-west-2:1:task/c/0b9e1f2c3d4e4f5a");
        assert_eq!(
            streams[0].stream,
            "ecs/fraud-platform-dev-min-ig/0b9e1f2c3d4e4f5a"
        );
        assert_eq!(streams[0].group, "/fraud/ig");
        assert!(without.is_empty());
        let (streams, without) = task_log_streams(&with(|_| {}), "t/1");
        assert!(streams.is_empty());
        assert_eq!(without, vec!["fraud-platform-dev-min-ig".to_owned()]);
    }

    #[test]
    fn environment_files_are_named_as_unread() {
        let td = with(|c| c.environment_files = vec!["arn:aws:s3:::bucket/ig.env".into()]);
        assert_eq!(
            unread_environment_files(&td),
            vec![(
                "fraud-platform-dev-min-ig".to_owned(),
                "arn:aws:s3:::bucket/ig.env".to_owned()
            )]
        );
    }

    #[test]
    fn ssm_references_name_their_parameter() {
        assert_eq!(
            ssm_parameter_names("arn:aws:ssm:eu-west-2:123456789012:parameter/fraud/db/password"),
            Some(vec!["/fraud/db/password".to_owned()])
        );
        assert_eq!(
            ssm_parameter_names("arn:aws:ssm:eu-west-2:123456789012:parameter/flat"),
            Some(vec!["flat".to_owned(), "/flat".to_owned()])
        );
        assert_eq!(
            ssm_parameter_names("/fraud/db/password"),
            Some(vec!["/fraud/db/password".to_owned()])
        );
        assert_eq!(
            ssm_parameter_names("arn:aws:secretsmanager:eu-west-2:123456789012:secret:db-AbCdEf"),
            None
        );
        assert_eq!(
            ssm_parameter_names("arn:aws:ssm:eu-west-2:1:document/x"),
            None
        );
    }
}
