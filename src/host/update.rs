//! The guarded service update, the tool's most important rule, as the host carries it out: the
//! request-wide refusals (singleton law, held run; `rules::update_guard`), the run scope from the
//! declared entry only (its block when unsound), one batched DescribeServices, the task
//! definitions concurrently (cached), the run-scope law per service, fail closed across the batch,
//! then the UpdateService calls concurrently (bounded), each recorded so later waits count stops
//! from it. Under --plan nothing is sent and each row says what would be.

use crate::host::{Fail, Host, Outcome};
use crate::infra::aws::bounded;
use crate::infra::ecs;
use crate::infra::ecs_wait::{AskedTasks, GuardRead};
use crate::rules::ecs_model::ServiceView;
use crate::rules::error_code::ErrorCode;
use crate::rules::update_guard::{self, Refusal, Request};
use crate::sync::Locked;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// One service's row of a guarded update.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateRow {
    pub service: String,
    pub previous_desired_count: i64,
    pub desired_count: i64,
    /// The task definition in force when the update was asked.
    pub task_definition: String,
    pub performed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_do: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_after: Option<ServiceView>,
}

/// Each asked service, in the order asked: its row, or why it was refused.
pub type UpdateRows = Vec<(String, Result<UpdateRow, Refusal>)>;

/// A service as ECS reported it on one side of a change.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSide {
    pub desired_count: i64,
    pub running_count: i64,
    pub task_definition: String,
}

impl From<&ServiceView> for ServiceSide {
    fn from(s: &ServiceView) -> ServiceSide {
        ServiceSide {
            desired_count: s.desired_count.into(),
            running_count: s.running_count.into(),
            task_definition: s.task_definition.clone(),
        }
    }
}

/// One change this execution made to a service, recorded by the host whatever the script does
/// with the result (issue #29): every snapshot of its phase lists it (`service_changes`), and a
/// rollback restores what ECS reported before the execution's first change of the service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceChange {
    pub phase: String,
    pub cluster: String,
    pub service: String,
    /// The desired count asked (a restore returns a recorded count).
    pub asked_desired_count: i64,
    pub restore: bool,
    /// As the guard's DescribeServices read it, just before the change.
    pub before: ServiceSide,
    /// As ECS answered the UpdateService.
    pub after: ServiceSide,
    pub at: String,
}

/// Key of the changes a phase made, in every snapshot it publishes.
pub const SERVICE_CHANGES_KEY: &str = "service_changes";

/// One row per service this execution changed, in the order first changed: the desired count
/// ECS reported before the first change (what a rollback restores) and the last one asked.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedService {
    pub service: String,
    pub cluster: String,
    pub previous_desired_count: i64,
    pub desired_count: i64,
    pub task_definition: String,
    pub first_changed_in: String,
    pub first_changed_at: String,
    pub changes: usize,
}

/// The per-service view of `changes` (in the order they were made).
pub fn changed_services(changes: &[ServiceChange]) -> Vec<ChangedService> {
    let mut rows: Vec<ChangedService> = Vec::new();
    for c in changes {
        match rows
            .iter_mut()
            .find(|r| r.service == c.service && r.cluster == c.cluster)
        {
            Some(row) => {
                row.desired_count = c.asked_desired_count;
                row.changes += 1;
            }
            None => rows.push(ChangedService {
                service: c.service.clone(),
                cluster: c.cluster.clone(),
                previous_desired_count: c.before.desired_count,
                desired_count: c.asked_desired_count,
                task_definition: c.before.task_definition.clone(),
                first_changed_in: c.phase.clone(),
                first_changed_at: c.at.clone(),
                changes: 1,
            }),
        }
    }
    rows
}

impl Host {
    /// Whether the call now being made comes from a line an operator typed into the REPL, not
    /// from the runbook the REPL steps (which runs on a thread of its own).
    pub fn typed_repl_line(&self) -> bool {
        self.gate.get().is_some() && !crate::host::stepper::on_runbook_thread()
    }

    /// The guard every primitive that changes the world passes first (its table row says
    /// `changes_world`; registration asks): inside a running phase, never from a typed line.
    pub fn refuse_outside_phase(&self, primitive: &str) -> Outcome<()> {
        let phase = self.ledger().current_phase().map(str::to_owned);
        let origin = update_guard::ChangeOrigin {
            phase: phase.as_deref(),
            typed_line: self.typed_repl_line(),
        };
        match update_guard::refuse_outside_phase(primitive, origin) {
            Some(r) => Err(Fail::error(r.code, r.message, r.help)),
            None => Ok(()),
        }
    }

    /// The guarded update of several services of one cluster (see the module doc). A refusal of
    /// the whole request is an error; a refusal of one service is its row's.
    pub fn guarded_updates(
        &self,
        cluster: &str,
        names: &[String],
        request: Request,
    ) -> Outcome<UpdateRows> {
        let refusal = |held: bool| {
            names
                .iter()
                .find_map(|n| update_guard::refuse_request(n, request, held))
                .map(|r| Fail::error(r.code, r.message, r.help))
        };
        if let Some(refused) = refusal(self.ledger().held()) {
            return Err(refused);
        }
        // Run scope comes from the declared entry only (blocks with its code when unsound).
        let run_id = self.platform_run_id()?;
        let key = self.entry_status()?.required_env_key.clone();
        let aws = self.aws()?;
        // The services as the wait before read them in its last leg (a bring-up's next wave,
        // issue #23), when that read is as fresh as one now; else read now. Earlier writes are
        // proven meanwhile, before anything changes: a failed read-back check holds the run, and
        // a held run starts nothing.
        let ridden = self.ridden_guard_read(cluster, names);
        let read = async {
            match ridden {
                Some(read) => Ok(read.only(names)),
                None => ecs::describe_services(&aws.ecs, cluster, names).await,
            }
        };
        let described =
            self.settle_checks_with(crate::host::settle::Settle::All, self.interruptible(read));
        if let Some(refused) = refusal(self.ledger().held()) {
            return Err(refused);
        }
        let (found, missing) = described?.map_err(|why| {
            Fail::error(
                ErrorCode::UpdateFailed,
                why,
                "check the cluster and credentials",
            )
        })?;
        let by_name: BTreeMap<&str, &ServiceView> =
            found.iter().map(|s| (s.name.as_str(), s)).collect();
        let arns: Vec<String> = found.iter().map(|s| s.task_definition.clone()).collect();
        let tds = self.task_definitions(&arns);
        let mut rows: UpdateRows = Vec::new();
        for name in names {
            let decided = match by_name.get(name.as_str()) {
                None => Err(Refusal {
                    code: ErrorCode::UpdateFailed,
                    message: format!(
                        "service `{name}` not found in `{cluster}`: {}",
                        missing.join(", ")
                    ),
                    help: String::new(),
                }),
                Some(current) => match &tds[&current.task_definition] {
                    Err(why) => Err(Refusal {
                        code: ErrorCode::UpdateFailed,
                        message: why.to_string(),
                        help: String::new(),
                    }),
                    Ok(td) => match update_guard::refuse_launch(
                        name,
                        request,
                        key.as_deref(),
                        &run_id,
                        td,
                    ) {
                        Some(r) => Err(r),
                        None => Ok(UpdateRow {
                            service: name.clone(),
                            previous_desired_count: current.desired_count as i64,
                            desired_count: request.desired_count,
                            task_definition: current.task_definition.clone(),
                            performed: false,
                            updated_at: None,
                            would_do: None,
                            service_after: None,
                        }),
                    },
                },
            };
            rows.push((name.clone(), decided));
        }
        if self.plan() {
            for (name, row) in rows.iter_mut() {
                if let Ok(r) = row {
                    let line = format!(
                        "would update {cluster}/{name}: desired count {} -> {}",
                        r.previous_desired_count, request.desired_count
                    );
                    self.would_do.locked().push(line.clone());
                    r.would_do = Some(line);
                }
            }
            return Ok(rows);
        }
        // Fail closed across the batch: once one service is refused, the call holds, so none of
        // the others is started either (as a run that holds takes no further action).
        if let Some((first, Err(r))) = rows.iter().find(|(_, r)| r.is_err()) {
            let why = format!("`{first}` was refused ({})", r.code);
            for (name, row) in rows.iter_mut() {
                if row.is_ok() {
                    *row = Err(Refusal {
                        code: ErrorCode::Held,
                        message: format!(
                            "refused to update `{name}`: not sent, because {why} in the same call"
                        ),
                        help: "fix the refused service and start a new execution".into(),
                    });
                }
            }
            return Ok(rows);
        }
        let sends = rows.iter().filter(|(_, r)| r.is_ok()).map(|(name, _)| {
            let ecs = &aws.ecs;
            async move {
                // When the update was sent: the window its wait counts stops from; on the tape,
                // and from it in a replay (issue #25).
                let at = self.stamped_now(&format!("update sent {cluster}/{name}"));
                let result =
                    ecs::update_desired_count(ecs, cluster, name, request.desired_count as i32)
                        .await;
                (name.clone(), at, result)
            }
        });
        // Sent once begun: Ctrl-C does not abandon an update in flight.
        let sent = self.block_on(crate::host::bounded(sends));
        for (name, at, result) in sent {
            let Some(row) = rows.iter_mut().find(|(n, _)| *n == name) else {
                continue;
            };
            let Ok(r) = &mut row.1 else { continue };
            match result {
                Err(why) => {
                    row.1 = Err(Refusal {
                        code: ErrorCode::UpdateFailed,
                        message: why.to_string(),
                        help: "see the service events in the ECS console".into(),
                    });
                }
                Ok(after) => {
                    if let Some(before) = by_name.get(name.as_str()) {
                        self.record_change(ServiceChange {
                            phase: self
                                .ledger()
                                .current_phase()
                                .map(str::to_owned)
                                .unwrap_or_default(),
                            cluster: cluster.to_owned(),
                            service: name.clone(),
                            asked_desired_count: request.desired_count,
                            restore: request.restore,
                            before: ServiceSide::from(*before),
                            after: ServiceSide::from(&after),
                            at: at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                        });
                    }
                    self.record_update(
                        &name,
                        UpdateRecord {
                            cluster: cluster.to_owned(),
                            at,
                            task_definition: r.task_definition.clone(),
                            desired_count: request.desired_count,
                            up_at: None,
                            stable_at: None,
                        },
                    );
                    r.performed = true;
                    r.updated_at = Some(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
                    r.service_after = Some(after);
                }
            }
        }
        Ok(rows)
    }
}

/// What this execution did to services, and the ECS facts it keeps: each service's update (later
/// waits count from it), every change in order (snapshots and the rollback read them), and the
/// task definitions described so far by revisioned ARN (a revision never changes).
#[derive(Default)]
pub(super) struct ServiceRecords {
    updates: std::sync::Mutex<BTreeMap<String, UpdateRecord>>,
    changes: std::sync::Mutex<Vec<ServiceChange>>,
    task_definitions: std::sync::Mutex<BTreeMap<String, ecs::TaskDefinitionView>>,
    /// Per cluster, the tasks the last wait asked about: the next wait describes them while its
    /// first poll lists (a hint of what to ask, never an answer).
    asked_tasks: std::sync::Mutex<BTreeMap<String, AskedTasks>>,
    /// Per cluster, the services the last wait read for the update after it (its `next`), as
    /// its last poll's last leg read them: taken by the next guarded update of the cluster.
    guard_reads: std::sync::Mutex<BTreeMap<String, GuardRead>>,
}

/// One service update this execution made.
#[derive(Debug, Clone)]
pub struct UpdateRecord {
    pub cluster: String,
    pub at: DateTime<Utc>,
    /// The task definition in force when the update was sent.
    pub task_definition: String,
    pub desired_count: i64,
    /// When a wait first saw it up (`gate: "up"`): a later wait may count its soak from then.
    pub up_at: Option<DateTime<Utc>>,
    /// When a full wait last judged it stable: a later wait may count its soak (a stabilization
    /// interval) from then.
    pub stable_at: Option<DateTime<Utc>>,
}

impl Host {
    /// The tasks the last wait of `cluster` asked about (none before the first).
    pub fn asked_tasks(&self, cluster: &str) -> AskedTasks {
        self.services
            .asked_tasks
            .locked()
            .get(cluster)
            .cloned()
            .unwrap_or_default()
    }

    pub fn remember_asked_tasks(&self, cluster: &str, asked: AskedTasks) {
        self.services
            .asked_tasks
            .locked()
            .insert(cluster.to_owned(), asked);
    }

    /// Keeps what the wait that just ended read for the next update of `cluster` (or forgets an
    /// older one when it read nothing).
    pub fn remember_guard_read(&self, cluster: &str, read: Option<GuardRead>) {
        let mut reads = self.services.guard_reads.locked();
        match read {
            Some(read) => reads.insert(cluster.to_owned(), read),
            None => reads.remove(cluster),
        };
    }

    /// The guard's read of `names`, when the wait that just ended made it and it is as fresh as
    /// a read now would be (`update_guard::ridden_read_is_fresh`, decided on the run's clock, so
    /// a replay decides the same); taken either way, so it serves one update at most.
    fn ridden_guard_read(&self, cluster: &str, names: &[String]) -> Option<GuardRead> {
        let read = self.services.guard_reads.locked().remove(cluster)?;
        if !read.covers(names) {
            return None;
        }
        let decided_at = self.stamped_now(&format!("guard read decided {cluster}"));
        update_guard::ridden_read_is_fresh(read.sent_at, read.answered_at, decided_at)
            .then_some(read)
    }

    /// Every task definition this run has described so far.
    pub fn described_task_definitions(&self) -> Vec<ecs::TaskDefinitionView> {
        self.services
            .task_definitions
            .locked()
            .values()
            .cloned()
            .collect()
    }
}

impl Host {
    /// Remembers when a service this execution updated was first seen up.
    pub fn mark_up(&self, service: &str, at: DateTime<Utc>) {
        if let Some(r) = self.services.updates.locked().get_mut(service) {
            r.up_at.get_or_insert(at);
        }
    }

    /// Remembers when a full wait last judged a service this execution updated stable.
    pub fn mark_stable(&self, service: &str, at: DateTime<Utc>) {
        if let Some(r) = self.services.updates.locked().get_mut(service) {
            r.stable_at = Some(at);
        }
    }

    /// Remembers that this execution changed a service (stability counts stops from here, and
    /// every started service is watched until the bring-up window closes).
    pub fn record_update(&self, service: &str, record: UpdateRecord) {
        self.services
            .updates
            .locked()
            .insert(service.to_owned(), record);
    }

    /// Records a change to a service (`ServiceChange`).
    pub fn record_change(&self, change: ServiceChange) {
        self.services.changes.locked().push(change);
    }

    /// Every change this execution made to a service, in order; of one phase with `Some`.
    pub fn service_changes(&self, phase: Option<&str>) -> Vec<ServiceChange> {
        self.services
            .changes
            .locked()
            .iter()
            .filter(|c| phase.is_none_or(|p| c.phase == p))
            .cloned()
            .collect()
    }

    /// When this execution updated a service, and the task definition it expected.
    pub fn update_of(&self, service: &str) -> Option<UpdateRecord> {
        self.services.updates.locked().get(service).cloned()
    }

    /// What produced this run's evidence: the m4host and Rhai versions, the environment and the
    /// Every service this execution updated.
    pub fn updated_services(&self) -> BTreeMap<String, UpdateRecord> {
        self.services.updates.locked().clone()
    }

    /// A task definition, described once per revisioned ARN (revisions are immutable, so a
    /// cached answer is the same answer); family names without a revision are always asked.
    pub fn task_definition(
        &self,
        arn: &str,
    ) -> Result<crate::infra::ecs::TaskDefinitionView, crate::infra::aws::AwsError> {
        let arns = [arn.to_owned()];
        self.task_definitions(&arns).remove(arn).unwrap_or_else(|| {
            Err(crate::infra::aws::AwsError::new(
                format!("DescribeTaskDefinition {arn}"),
                crate::infra::aws::AwsErrorKind::Other,
                "was not described",
            ))
        })
    }

    /// Task definitions by ARN, the ones not cached yet described concurrently (bounded).
    pub fn task_definitions(
        &self,
        arns: &[String],
    ) -> BTreeMap<String, Result<crate::infra::ecs::TaskDefinitionView, crate::infra::aws::AwsError>>
    {
        let mut out = BTreeMap::new();
        let mut wanted = Vec::new();
        {
            let cache = self.services.task_definitions.locked();
            for arn in arns {
                match cache.get(arn) {
                    Some(td) => {
                        out.insert(arn.clone(), Ok(td.clone()));
                    }
                    None if !wanted.contains(arn) => wanted.push(arn.clone()),
                    None => {}
                }
            }
        }
        if wanted.is_empty() {
            return out;
        }
        let aws = match self.aws() {
            Ok(aws) => aws,
            Err(_) => {
                for arn in wanted {
                    out.insert(
                        arn,
                        Err(crate::infra::aws::AwsError::new(
                            "DescribeTaskDefinition",
                            crate::infra::aws::AwsErrorKind::Credentials,
                            "AWS is not configured",
                        )),
                    );
                }
                return out;
            }
        };
        let described = self.block_on(bounded(wanted.iter().map(|arn| async move {
            (
                arn.clone(),
                crate::infra::ecs::describe_task_definition(&aws.ecs, arn).await,
            )
        })));
        let mut cache = self.services.task_definitions.locked();
        for (arn, result) in described {
            let revisioned = arn
                .rsplit_once(':')
                .is_some_and(|(_, r)| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()));
            if let (true, Ok(td)) = (revisioned, &result) {
                cache.insert(arn.clone(), td.clone());
            }
            out.insert(arn, result);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::host::Mode;

    /// A host over a throwaway environment whose entry artifacts are `verdict` (M3's verdict)
    /// and a matching handoff pack; no AWS endpoint is ever reached by the refusals tested here.
    fn host(verdict: &str, plan: bool) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("handles.registry.toml", "");
        write("outputs.json", "{}");
        write(
            "verdict.json",
            &format!(
                r#"{{"verdict": "{verdict}", "platform_run_id": "p1", "m3_execution_id": "m3_20260213T221631Z"}}"#
            ),
        );
        write(
            "handoff.json",
            r#"{"platform_run_id": "p1", "m3_execution_id": "m3_20260213T221631Z", "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID"}"#,
        );
        write(
            "env.toml",
            "[aws]\nregion = \"eu-west-2\"\nendpoint_url = \"http://127.0.0.1:9\"\n\
             [inputs]\nhandles_registry = \"handles.registry.toml\"\nterraform_outputs = \"outputs.json\"\n\
             [entry]\nverdict = \"verdict.json\"\nhandoff = \"handoff.json\"\n\
             [evidence]\nlocal_root = \"runs\"\nbucket_handle = \"S3_EVIDENCE_BUCKET\"\nenvironment = \"t\"\n",
        );
        let config = Config::load(&dir.path().join("env.toml")).unwrap();
        let mode = Mode {
            plan,
            ..Mode::default()
        };
        let host = Host::new(Some(config), mode, BTreeMap::new(), None).unwrap();
        host.declare_entry(crate::rules::entry::m4_example(), None)
            .unwrap();
        (dir, host)
    }

    fn start() -> Request {
        Request {
            desired_count: 1,
            restore: false,
        }
    }

    fn code(f: Fail) -> String {
        match f {
            Fail::Error { code, .. } => code.to_owned(),
            Fail::Block(b) => format!("block {}", b.code),
            Fail::Rhai(e) => e.to_string(),
        }
    }

    #[test]
    fn a_count_but_one_is_refused_before_anything_is_asked() {
        let (_dir, host) = host("ADVANCE_TO_M4", false);
        let r = host.guarded_updates(
            "c",
            &["s".into()],
            Request {
                desired_count: 2,
                restore: false,
            },
        );
        assert_eq!(code(r.unwrap_err()), "NOT_SINGLETON");
    }

    #[test]
    fn a_held_run_sends_nothing() {
        let (_dir, host) = host("ADVANCE_TO_M4", false);
        host.ledger().record("M4A-B2", "an earlier phase held");
        assert_eq!(
            code(
                host.guarded_updates("c", &["s".into()], start())
                    .unwrap_err()
            ),
            "HELD"
        );
    }

    #[test]
    fn an_unsound_entry_blocks_with_its_code_in_plan_mode_too() {
        for plan in [false, true] {
            let (_dir, host) = host("HOLD_M3", plan);
            let r = host.guarded_updates("c", &["s".into()], start());
            assert_eq!(code(r.unwrap_err()), "block M4A-B1", "plan {plan}");
            assert!(host.ledger().held());
        }
    }

    /// The one-shot launch keeps the same two host guards, before anything is asked of ECS.
    #[test]
    fn a_one_shot_task_is_refused_after_a_hold_and_blocked_by_an_unsound_entry() {
        let ask = crate::host::one_shot::RunAsk::default();
        let (_dir, held) = host("ADVANCE_TO_M4", false);
        held.ledger().record("M5C-B1", "an earlier phase held");
        let r = held.run_one_shot("c", "td", &ask);
        assert_eq!(code(r.err().unwrap()), "HELD");
        let (_dir, unsound) = host("HOLD_M3", true);
        let r = unsound.run_one_shot("c", "td", &ask);
        assert_eq!(code(r.err().unwrap()), "block M4A-B1");
    }
}
