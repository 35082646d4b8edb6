//! What every snapshot of a phase carries, stated once (issue #30): the phase, the execution
//! (`<prefix>_execution_id`), the capture time, the platform run id once the entry holds, the
//! phase's blockers and `overall_pass`. The host adds the rest as it writes (`publish`:
//! provenance, evidence chain, the phase's one-shot tasks and service changes, plan and REPL
//! marks). A runbook gives only its own fields.

use crate::host::Host;
use crate::sync::Locked;
use rhai::{Dynamic, Map};

impl Host {
    /// `fields` as phase `phase`'s snapshot. `overall_pass` is false when the phase recorded a
    /// blocker, when `fields` say `overall_pass: false`, or when a rehearsal could not prove the
    /// phase's point (`plan_incomplete: true`).
    pub fn phase_snapshot(&self, phase: &str, mut fields: Map) -> Map {
        let is_true = |key: &str| fields.get(key).map(|v| v.as_bool() == Ok(true));
        // Only the boolean `true` is a claim of passing; anything else given is not.
        let claimed = is_true("overall_pass").unwrap_or(true);
        let incomplete = is_true("plan_incomplete") == Some(true);
        let blockers: rhai::Array = self
            .ledger()
            .blockers()
            .iter()
            .filter(|b| b.phase == phase)
            .map(|b| {
                let mut m = Map::new();
                m.insert("code".into(), b.code.clone().into());
                m.insert("reason".into(), b.reason.clone().into());
                Dynamic::from(m)
            })
            .collect();
        let passed = claimed && blockers.is_empty() && !incomplete;
        if !passed && blockers.is_empty() {
            self.unproven.locked().insert(phase.to_owned());
        }
        fields.insert("phase".into(), phase.into());
        fields.insert(
            crate::rules::execution_id::field_name(&self.clock.execution_id).into(),
            self.clock.execution_id.clone().into(),
        );
        fields.insert(
            "captured_at_utc".into(),
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
                .into(),
        );
        if let Ok(status) = self.entry_status() {
            if let (true, Some(id)) = (status.sound(), &status.platform_run_id) {
                fields.insert("platform_run_id".into(), id.clone().into());
            }
        }
        fields.insert("blockers".into(), blockers.into());
        fields.insert("overall_pass".into(), passed.into());
        fields
    }
}
