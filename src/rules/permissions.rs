//! The AWS permissions a runbook needs, stated once: each primitive row lists the IAM actions it
//! may send (`Access`), each with the resources it is scoped to (`On`); `policy` turns the
//! accesses of the primitives a runbook calls, and the resources its handles resolve to, into an
//! IAM policy document (the grammar of the IAM User Guide's "IAM JSON policy element reference").
//!
//! Which resource an action may be scoped to is AWS's, not ours: the Service Authorization
//! Reference ("Actions, resources, and condition keys for ...") lists for each action the resource
//! types it authorizes on; where it lists none, the policy must say `*` and the statement's `Sid`
//! says why. Pure: no I/O, the resources are given.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One IAM action a primitive may send, and what it is authorized on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// `service:Action`, as IAM names it (also how the fault proxy's trace names what was sent).
    pub action: &'static str,
    pub on: On,
    /// Also sent under `--plan` (a read); false for what a rehearsal only records as "would do".
    pub in_plan: bool,
    /// Authorized by AWS beside another call rather than sent itself (`iam:PassRole` for the
    /// roles of a task definition `ecs:RunTask` starts: Service Authorization Reference, Amazon
    /// ECS, RunTask's "Dependent actions").
    pub dependent: bool,
}

/// The resources an action is scoped to, in the terms the runbook's handles give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum On {
    /// Needs no permission at all: `sts:GetCallerIdentity` ("No permissions are required to
    /// perform this operation", STS API Reference). Listed so `doc` says what is sent; never in
    /// a policy.
    NoPermission,
    /// The action authorizes on no resource type; IAM requires `*`. The text is the Sid.
    Everything(&'static str),
    /// `ecs:ListTasks`: `*`, limited to the cluster by the `ecs:cluster` condition key (its only
    /// resource type is container-instance, which Fargate tasks have none of).
    ClusterCondition,
    /// Every service of the cluster (reads: `service/CLUSTER/*`).
    ClusterServices,
    /// Exactly the services the handles name (changes: `service/CLUSTER/NAME`).
    NamedServices,
    /// The cluster's tasks (`task/CLUSTER/*`).
    ClusterTasks,
    /// Every revision of the one-shot task definition families the handles name, started in the
    /// cluster only (`ecs:cluster` condition).
    TaskDefinitionFamilies,
    /// The roles the handles name, passed to ECS tasks only (`iam:PassedToService`).
    PassedRoles,
    /// The roles the handles name.
    Roles,
    /// The SSM parameters the handles name.
    Parameters,
    /// The log groups under the environment's log group prefix, and their streams.
    PrefixLogGroups,
    /// `logs:DescribeLogGroups` authorizes on the account's log groups (`log-group:*`), whatever
    /// prefix the request filters by.
    AccountLogGroups,
    /// The buckets the handles name (`s3:ListBucket` is a bucket permission; HeadBucket needs it
    /// too: S3 API Reference, HeadBucket "Permissions").
    Buckets,
    /// The entry artifacts the environment's `[entry]` names in S3 (none when they are local
    /// files: nothing to grant, and nothing missing).
    EntryObjects,
    /// The objects a write probe puts and removes (`BUCKET/*_m4host_probe/*`).
    ProbeObjects,
    /// The evidence control plane (`EVIDENCE_BUCKET/evidence/ENVIRONMENT/run_control/*`).
    EvidenceObjects,
    /// The run-scoped evidence of platform runs (`EVIDENCE_BUCKET/evidence/runs/*`): the
    /// platform run id is the entry's, known only once the run has read it.
    RunEvidenceObjects,
}

const fn read(action: &'static str, on: On) -> Access {
    Access {
        action,
        on,
        in_plan: true,
        dependent: false,
    }
}

const fn change(action: &'static str, on: On) -> Access {
    Access {
        action,
        on,
        in_plan: false,
        dependent: false,
    }
}

pub const STS_GET_CALLER_IDENTITY: Access = read("sts:GetCallerIdentity", On::NoPermission);
pub const SSM_GET_PARAMETERS: Access = read("ssm:GetParameters", On::Parameters);
pub const ECS_DESCRIBE_SERVICES: Access = read("ecs:DescribeServices", On::ClusterServices);
pub const ECS_DESCRIBE_TASK_DEFINITION: Access = read(
    "ecs:DescribeTaskDefinition",
    On::Everything("EcsDescribeTaskDefinitionHasNoResourceLevelPermissions"),
);
pub const ECS_LIST_TASKS: Access = read("ecs:ListTasks", On::ClusterCondition);
pub const ECS_DESCRIBE_TASKS: Access = read("ecs:DescribeTasks", On::ClusterTasks);
pub const ECS_UPDATE_SERVICE: Access = change("ecs:UpdateService", On::NamedServices);
pub const ECS_RUN_TASK: Access = change("ecs:RunTask", On::TaskDefinitionFamilies);
pub const IAM_PASS_ROLE: Access = Access {
    action: "iam:PassRole",
    on: On::PassedRoles,
    in_plan: false,
    dependent: true,
};
pub const ECS_STOP_TASK: Access = change("ecs:StopTask", On::ClusterTasks);
pub const IAM_GET_ROLE: Access = read("iam:GetRole", On::Roles);
pub const IAM_SIMULATE_PRINCIPAL_POLICY: Access = read("iam:SimulatePrincipalPolicy", On::Roles);
pub const LOGS_DESCRIBE_LOG_GROUPS: Access = read("logs:DescribeLogGroups", On::AccountLogGroups);
pub const LOGS_FILTER_LOG_EVENTS: Access = read("logs:FilterLogEvents", On::PrefixLogGroups);
pub const LOGS_GET_LOG_EVENTS: Access = read("logs:GetLogEvents", On::PrefixLogGroups);
pub const LOGS_CREATE_LOG_STREAM: Access = change("logs:CreateLogStream", On::PrefixLogGroups);
pub const LOGS_PUT_LOG_EVENTS: Access = change("logs:PutLogEvents", On::PrefixLogGroups);
pub const S3_LIST_BUCKET: Access = read("s3:ListBucket", On::Buckets);
pub const S3_GET_ENTRY: Access = read("s3:GetObject", On::EntryObjects);
pub const S3_PUT_PROBE: Access = change("s3:PutObject", On::ProbeObjects);
pub const S3_GET_PROBE: Access = change("s3:GetObject", On::ProbeObjects);
pub const S3_DELETE_PROBE: Access = change("s3:DeleteObject", On::ProbeObjects);
pub const S3_PUT_EVIDENCE: Access = change("s3:PutObject", On::EvidenceObjects);
/// The read-back of what was just put: sent only after a PUT, so not under `--plan`.
pub const S3_READ_BACK_EVIDENCE: Access = change("s3:GetObject", On::EvidenceObjects);
pub const S3_GET_EVIDENCE: Access = read("s3:GetObject", On::EvidenceObjects);
pub const S3_PUT_RUN_EVIDENCE: Access = change("s3:PutObject", On::RunEvidenceObjects);
pub const S3_READ_BACK_RUN_EVIDENCE: Access = change("s3:GetObject", On::RunEvidenceObjects);

/// What the handles and the environment resolve to: the names the policy's ARNs are built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub region: String,
    /// The account id, when a handle's ARN or the operator gave it (`*` in ARNs otherwise).
    pub account: Option<String>,
    pub cluster: Option<String>,
    pub services: BTreeSet<String>,
    pub task_definition_families: BTreeSet<String>,
    pub roles: BTreeSet<String>,
    /// Parameter names as SSM writes them (`/fraud-platform/dev_min/db/password`).
    pub parameters: BTreeSet<String>,
    pub log_group_prefixes: BTreeSet<String>,
    pub buckets: BTreeSet<String>,
    pub evidence_bucket: Option<String>,
    /// The control-plane prefix under the evidence bucket (`evidence/dev_min/run_control/`).
    pub evidence_prefix: String,
    /// Entry artifacts read from S3 (`bucket/key`).
    pub entry_objects: BTreeSet<String>,
}

/// The partition a region is in (ARNs name it: `arn:aws-cn:...`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Why a statement could not be scoped: the handles name no resource of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unscoped {
    pub actions: Vec<&'static str>,
    pub needs: &'static str,
}

impl Resources {
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            partition(&self.region),
            self.region,
            self.account.as_deref().unwrap_or("*")
        )
    }

    fn cluster_arn(&self) -> Option<String> {
        self.cluster
            .as_ref()
            .map(|c| self.arn("ecs", &format!("cluster/{c}")))
    }

    fn s3(&self, path: &str) -> String {
        format!("arn:{}:s3:::{path}", partition(&self.region))
    }

    /// The Resource list and Condition of a scope; Err names what the handles must give.
    fn scope(&self, on: On) -> Result<(Vec<String>, Option<Value>), &'static str> {
        let non_empty = |v: Vec<String>, needs: &'static str| {
            if v.is_empty() {
                Err(needs)
            } else {
                Ok(v)
            }
        };
        let cluster = |needs| self.cluster.as_ref().ok_or(needs);
        Ok(match on {
            On::NoPermission => (Vec::new(), None),
            On::Everything(_) => (vec!["*".into()], None),
            On::ClusterCondition => (
                vec!["*".into()],
                Some(
                    json!({"ArnEquals": {"ecs:cluster": self.cluster_arn().ok_or("the ECS cluster")?}}),
                ),
            ),
            On::ClusterServices => (
                vec![self.arn("ecs", &format!("service/{}/*", cluster("the ECS cluster")?))],
                None,
            ),
            On::NamedServices => {
                let c = cluster("the ECS cluster")?;
                let arns = self
                    .services
                    .iter()
                    .map(|s| self.arn("ecs", &format!("service/{c}/{s}")))
                    .collect();
                (non_empty(arns, "the ECS services")?, None)
            }
            On::ClusterTasks => (
                vec![self.arn("ecs", &format!("task/{}/*", cluster("the ECS cluster")?))],
                None,
            ),
            On::TaskDefinitionFamilies => {
                let arns = self
                    .task_definition_families
                    .iter()
                    .map(|f| self.arn("ecs", &format!("task-definition/{f}:*")))
                    .collect();
                (
                    non_empty(arns, "the one-shot task definitions")?,
                    Some(
                        json!({"ArnEquals": {"ecs:cluster": self.cluster_arn().ok_or("the ECS cluster")?}}),
                    ),
                )
            }
            On::PassedRoles | On::Roles => {
                let arns = self.roles.iter().cloned().collect();
                let condition = (on == On::PassedRoles).then(
                    || json!({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
                );
                (non_empty(arns, "the IAM roles")?, condition)
            }
            On::Parameters => {
                let arns = self
                    .parameters
                    .iter()
                    .map(|p| {
                        self.arn(
                            "ssm",
                            &format!("parameter/{}", p.strip_prefix('/').unwrap_or(p)),
                        )
                    })
                    .collect();
                (non_empty(arns, "the SSM parameters")?, None)
            }
            On::PrefixLogGroups => {
                let mut arns = Vec::new();
                for p in &self.log_group_prefixes {
                    arns.push(self.arn("logs", &format!("log-group:{p}*")));
                    arns.push(self.arn("logs", &format!("log-group:{p}*:log-stream:*")));
                }
                (non_empty(arns, "the log group prefix")?, None)
            }
            On::AccountLogGroups => (vec![self.arn("logs", "log-group:*")], None),
            On::Buckets => {
                let arns = self.buckets.iter().map(|b| self.s3(b)).collect();
                (non_empty(arns, "the S3 buckets")?, None)
            }
            On::EntryObjects => (
                self.entry_objects.iter().map(|o| self.s3(o)).collect(),
                None,
            ),
            On::ProbeObjects => {
                let arns = self
                    .buckets
                    .iter()
                    .map(|b| self.s3(&format!("{b}/*_m4host_probe/*")))
                    .collect();
                (non_empty(arns, "the S3 buckets")?, None)
            }
            On::EvidenceObjects | On::RunEvidenceObjects => {
                let bucket = self.evidence_bucket.as_ref().ok_or("the evidence bucket")?;
                let root = if on == On::EvidenceObjects {
                    self.evidence_prefix.as_str()
                } else {
                    crate::rules::execution_id::RUN_SCOPED_ROOT
                };
                (vec![self.s3(&format!("{bucket}/{root}*"))], None)
            }
        })
    }
}

/// The statement id of a scope: what it grants on, or why it cannot be narrower.
fn sid(on: On) -> &'static str {
    match on {
        On::NoPermission => "NoPermissionRequired",
        On::Everything(why) => why,
        On::ClusterCondition => "EcsListTasksHasNoTaskResourceSoTheClusterConditionScopesIt",
        On::ClusterServices => "EcsReadTheClustersServices",
        On::NamedServices => "EcsChangeOnlyTheRunbooksServices",
        On::ClusterTasks => "EcsTheClustersTasks",
        On::TaskDefinitionFamilies => "EcsRunTheOneShotFamiliesInTheCluster",
        On::PassedRoles => "IamPassTheTaskRolesToEcsTasksOnly",
        On::Roles => "IamReadTheRunbooksRoles",
        On::Parameters => "SsmReadTheHandlesParameters",
        On::PrefixLogGroups => "LogsTheEnvironmentsLogGroups",
        On::AccountLogGroups => "LogsDescribeLogGroupsAuthorizesOnTheAccountsLogGroups",
        On::Buckets => "S3ListTheHandlesBuckets",
        On::EntryObjects => "S3ReadTheEntryArtifacts",
        On::ProbeObjects => "S3WriteProbeObjectsOnly",
        On::EvidenceObjects => "S3TheEvidenceControlPlane",
        On::RunEvidenceObjects => "S3TheRunScopedEvidence",
    }
}

/// The accesses a policy grants: those given, without the ones needing no permission, and under
/// `plan_only` without what a rehearsal never sends.
pub fn granted(accesses: &[Access], plan_only: bool) -> Vec<Access> {
    accesses
        .iter()
        .filter(|a| a.on != On::NoPermission && (a.in_plan || !plan_only))
        .copied()
        .collect()
}

/// The policy document granting `accesses` on `resources`: one statement per scope, actions
/// sorted, so the same runbook and handles always give the same document. Beside it, each
/// statement left out because the handles gave nothing to scope it to: never widened to `*`, so
/// the run is denied there (and holds) unless the operator names the resource.
pub fn policy(
    accesses: &[Access],
    resources: &Resources,
    plan_only: bool,
) -> (Value, Vec<Unscoped>) {
    let mut by_scope: BTreeMap<On, BTreeSet<&'static str>> = BTreeMap::new();
    for a in granted(accesses, plan_only) {
        by_scope.entry(a.on).or_default().insert(a.action);
    }
    let mut statements = Vec::new();
    let mut unscoped = Vec::new();
    for (on, actions) in by_scope {
        match resources.scope(on) {
            // Only the entry may be nothing at all: local files need no permission.
            Ok((resource, _)) if resource.is_empty() => {}
            Ok((resource, condition)) => {
                let mut s = json!({
                    "Sid": sid(on),
                    "Effect": "Allow",
                    "Action": actions.iter().collect::<Vec<_>>(),
                    "Resource": resource,
                });
                if let Some(c) = condition {
                    s["Condition"] = c;
                }
                statements.push(s);
            }
            Err(needs) => unscoped.push(Unscoped {
                actions: actions.into_iter().collect(),
                needs,
            }),
        }
    }
    (
        json!({"Version": "2012-10-17", "Statement": statements}),
        unscoped,
    )
}

/// How `m4host doc` names an access: `ecs:DescribeServices (the cluster's services)`.
pub fn describe(a: &Access) -> String {
    let on = match a.on {
        On::NoPermission => "needs no permission",
        On::Everything(_) => "on *: no resource-level permission",
        On::ClusterCondition => "on *, condition ecs:cluster",
        On::ClusterServices => "the cluster's services",
        On::NamedServices => "the services the handles name",
        On::ClusterTasks => "the cluster's tasks",
        On::TaskDefinitionFamilies => "the task definition families the handles name",
        On::PassedRoles => "the roles the handles name, to ecs-tasks only",
        On::Roles => "the roles the handles name",
        On::Parameters => "the parameters the handles name",
        On::PrefixLogGroups => "log groups under the prefix",
        On::AccountLogGroups => "the account's log groups",
        On::Buckets => "the buckets the handles name",
        On::EntryObjects => "the entry artifacts in S3",
        On::ProbeObjects => "probe objects",
        On::EvidenceObjects => "the evidence control plane",
        On::RunEvidenceObjects => "the run-scoped evidence",
    };
    let when = match (a.dependent, a.in_plan) {
        (true, _) => ", authorized with the call it belongs to",
        (false, false) => ", not under --plan",
        (false, true) => "",
    };
    format!("{} ({on}{when})", a.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_min() -> Resources {
        Resources {
            region: "eu-west-2".into(),
            account: Some("123456789012".into()),
            cluster: Some("fraud-platform-dev-min".into()),
            services: ["fraud-platform-dev-min-ig".to_owned()].into(),
            task_definition_families: ["fraud-platform-dev-min-oracle-seed".to_owned()].into(),
            roles: ["arn:aws:iam::123456789012:role/daemon".to_owned()].into(),
            parameters: ["/fraud-platform/dev_min/db/password".to_owned()].into(),
            log_group_prefixes: ["/fraud-platform/dev_min".to_owned()].into(),
            buckets: ["fraud-platform-dev-min-evidence".to_owned()].into(),
            evidence_bucket: Some("fraud-platform-dev-min-evidence".into()),
            evidence_prefix: "evidence/dev_min/run_control/".into(),
            entry_objects: BTreeSet::new(),
        }
    }

    fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid} in {doc:#}"))
    }

    #[test]
    fn writes_are_scoped_to_the_named_services_and_reads_to_the_cluster() {
        let doc = policy(
            &[ECS_DESCRIBE_SERVICES, ECS_UPDATE_SERVICE, ECS_LIST_TASKS],
            &dev_min(),
            false,
        )
        .0;
        assert_eq!(
            statement(&doc, "EcsChangeOnlyTheRunbooksServices")["Resource"],
            json!(["arn:aws:ecs:eu-west-2:123456789012:service/fraud-platform-dev-min/fraud-platform-dev-min-ig"])
        );
        assert_eq!(
            statement(&doc, "EcsReadTheClustersServices")["Resource"],
            json!(["arn:aws:ecs:eu-west-2:123456789012:service/fraud-platform-dev-min/*"])
        );
        let list = statement(
            &doc,
            "EcsListTasksHasNoTaskResourceSoTheClusterConditionScopesIt",
        );
        assert_eq!(list["Resource"], json!(["*"]));
        assert_eq!(
            list["Condition"]["ArnEquals"]["ecs:cluster"],
            "arn:aws:ecs:eu-west-2:123456789012:cluster/fraud-platform-dev-min"
        );
    }

    #[test]
    fn plan_only_leaves_out_every_change_and_the_read_back_of_a_put() {
        let all = [
            ECS_UPDATE_SERVICE,
            ECS_RUN_TASK,
            IAM_PASS_ROLE,
            ECS_STOP_TASK,
            S3_PUT_EVIDENCE,
            S3_READ_BACK_EVIDENCE,
            S3_PUT_PROBE,
            LOGS_CREATE_LOG_STREAM,
            ECS_DESCRIBE_SERVICES,
            S3_GET_EVIDENCE,
        ];
        let doc = policy(&all, &dev_min(), true).0;
        let actions: Vec<&str> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap())
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(actions, ["ecs:DescribeServices", "s3:GetObject"]);
        // The near miss: the same list without plan_only grants each of them.
        let doc = policy(&all, &dev_min(), false).0;
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn a_scope_the_handles_give_nothing_for_is_left_out_and_said_not_widened() {
        let mut r = dev_min();
        r.services.clear();
        let (doc, left_out) = policy(&[ECS_UPDATE_SERVICE, ECS_DESCRIBE_SERVICES], &r, false);
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 1);
        assert!(!doc.to_string().contains("UpdateService"));
        assert_eq!(
            left_out,
            vec![Unscoped {
                actions: vec!["ecs:UpdateService"],
                needs: "the ECS services"
            }]
        );
    }

    #[test]
    fn arns_follow_the_partition_and_an_unknown_account_is_a_wildcard() {
        let mut r = dev_min();
        r.region = "cn-north-1".into();
        r.account = None;
        let doc = policy(&[SSM_GET_PARAMETERS, S3_LIST_BUCKET], &r, false).0;
        assert_eq!(
            statement(&doc, "SsmReadTheHandlesParameters")["Resource"],
            json!(["arn:aws-cn:ssm:cn-north-1:*:parameter/fraud-platform/dev_min/db/password"])
        );
        assert_eq!(
            statement(&doc, "S3ListTheHandlesBuckets")["Resource"],
            json!(["arn:aws-cn:s3:::fraud-platform-dev-min-evidence"])
        );
    }

    #[test]
    fn caller_identity_needs_no_statement() {
        let doc = policy(&[STS_GET_CALLER_IDENTITY], &dev_min(), false).0;
        assert_eq!(doc["Statement"], json!([]));
    }
}
