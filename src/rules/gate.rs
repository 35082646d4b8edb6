//! Gates: the blocker ledger, phase records and the verdict rule. Pure logic, no I/O.
//!
//! A blocker is a finding that holds the runbook. Scripts add them through `block` (and primitives
//! add them on evidence failures); nothing removes them. The verdict rule is the plan's M4.I rule,
//! written once: every predicate true and no blocker => advance, anything else => hold.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub code: String,
    pub phase: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PhaseStatus {
    Pass,
    Hold,
    /// Not run: an earlier phase held (the plan's fail-closed law: later phases take no action).
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseRecord {
    pub phase: String,
    pub status: PhaseStatus,
    pub blocker_codes: Vec<String>,
    pub elapsed_ms: u128,
}

/// A predicate as the script gave it: only `true` counts as true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PredicateValue {
    Bool(bool),
    /// Not a boolean (the script's type name); makes the verdict hold.
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub verdict: String,
    pub advance: bool,
    pub predicates: BTreeMap<String, PredicateValue>,
    pub failed_predicates: Vec<String>,
    pub invalid_predicates: Vec<String>,
    pub blocker_codes: Vec<String>,
    /// The name a later blocker turns this verdict into.
    #[serde(skip)]
    pub hold_name: String,
}

/// The verdict rule: advance only when there is at least one predicate, every predicate is the
/// boolean `true`, and the blocker rollup is empty. "No answer" is never an advance.
pub fn decide(
    predicates: BTreeMap<String, PredicateValue>,
    blockers: &[Blocker],
    advance_name: &str,
    hold_name: &str,
) -> Verdict {
    let failed_predicates: Vec<String> = predicates
        .iter()
        .filter(|(_, v)| **v == PredicateValue::Bool(false))
        .map(|(k, _)| k.clone())
        .collect();
    let invalid_predicates: Vec<String> = predicates
        .iter()
        .filter(|(_, v)| matches!(v, PredicateValue::Invalid(_)))
        .map(|(k, _)| k.clone())
        .collect();
    let advance = !predicates.is_empty()
        && failed_predicates.is_empty()
        && invalid_predicates.is_empty()
        && blockers.is_empty();
    Verdict {
        verdict: if advance { advance_name } else { hold_name }.to_owned(),
        advance,
        predicates,
        failed_predicates,
        invalid_predicates,
        blocker_codes: blockers.iter().map(|b| b.code.clone()).collect(),
        hold_name: hold_name.to_owned(),
    }
}

/// `M4A-B1` -> `M4.A`: the phase a runbook blocker code belongs to, when the code says it.
pub fn phase_of_code(code: &str) -> Option<String> {
    let (head, _) = code.split_once('-')?;
    let letter = head.chars().last()?;
    let number = &head[..head.len() - letter.len_utf8()];
    let digits = number.strip_prefix('M')?;
    if letter.is_ascii_uppercase()
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        Some(format!("M{digits}.{letter}"))
    } else {
        None
    }
}

/// `M4.E` -> `M4E`: the prefix of a phase's blocker codes.
pub fn code_prefix_of_phase(phase: &str) -> String {
    phase.replace('.', "")
}

/// A blocker code is upper-case letters and digits around one dash, e.g. `M4A-B1`.
pub fn is_valid_code(code: &str) -> bool {
    match code.split_once('-') {
        Some((a, b)) => [a, b].iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }),
        None => false,
    }
}

/// The blocker an error nobody caught inside a phase records: a fault is a hold, never a pass.
pub const SCRIPT_FAULT: &str = "SCRIPT-FAULT";

/// Why a phase may not begin (or be skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseRefusal {
    /// The id is empty.
    Empty,
    /// Another phase is running.
    Nested { current: String },
    /// The phase already ran (or was skipped) in this execution.
    Repeated,
}

/// Everything the run has decided so far. Its fields are private: the host's phase owner
/// (`host::phase`) is the only code that begins, ends, faults, skips and halts a phase and adds
/// a blocker; everything else reads.
#[derive(Debug, Default)]
pub struct Ledger {
    blockers: Vec<Blocker>,
    phases: Vec<PhaseRecord>,
    verdict: Option<Verdict>,
    /// A gate primitive was called: the run now owes an explicit verdict.
    gate_used: bool,
    /// The phase now running, if any.
    current_phase: Option<String>,
    /// A block was raised and evaluation must stop up to the enclosing phase boundary, even if
    /// the script tried to catch it (e.g. around an `import`).
    halt_pending: bool,
}

impl Ledger {
    pub fn blockers(&self) -> &[Blocker] {
        &self.blockers
    }

    pub fn phases(&self) -> &[PhaseRecord] {
        &self.phases
    }

    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    pub fn gate_used(&self) -> bool {
        self.gate_used
    }

    /// A gate primitive was called: from now on the run owes a verdict.
    pub fn use_gate(&mut self) {
        self.gate_used = true;
    }

    pub fn current_phase(&self) -> Option<&str> {
        self.current_phase.as_deref()
    }

    pub fn halt_pending(&self) -> bool {
        self.halt_pending
    }

    /// Asks evaluation to stop up to the enclosing phase boundary.
    pub fn request_halt(&mut self) {
        self.halt_pending = true;
    }

    /// Clears a pending halt; whether one was pending.
    pub fn clear_halt(&mut self) -> bool {
        std::mem::take(&mut self.halt_pending)
    }

    /// Begins phase `id`: one at a time, each once per execution.
    pub fn begin(&mut self, id: &str) -> Result<(), PhaseRefusal> {
        if id.trim().is_empty() {
            return Err(PhaseRefusal::Empty);
        }
        if let Some(current) = &self.current_phase {
            return Err(PhaseRefusal::Nested {
                current: current.clone(),
            });
        }
        if self.phases.iter().any(|p| p.phase == id) {
            return Err(PhaseRefusal::Repeated);
        }
        self.current_phase = Some(id.to_owned());
        self.gate_used = true;
        Ok(())
    }

    /// Ends the running phase `id`: a `fault` (an error nobody caught, described) is its
    /// SCRIPT-FAULT blocker; the phase holds when it recorded any blocker.
    pub fn end(&mut self, id: &str, fault: Option<&str>, elapsed_ms: u128) -> PhaseRecord {
        if let Some(what) = fault {
            self.record(
                SCRIPT_FAULT,
                &format!("uncaught error in phase {id}: {what}"),
            );
        }
        self.current_phase = None;
        let codes = self.blockers_of_phase(id);
        let record = PhaseRecord {
            phase: id.to_owned(),
            status: if codes.is_empty() {
                PhaseStatus::Pass
            } else {
                PhaseStatus::Hold
            },
            blocker_codes: codes,
            elapsed_ms,
        };
        self.phases.push(record.clone());
        record
    }

    /// Leaves the running phase without a record (evaluation was stopped for good: Ctrl-C, a
    /// limit, a session that ended).
    pub fn abandon(&mut self) {
        self.current_phase = None;
    }

    /// Records phase `id` as not run (the run already holds).
    pub fn skip(&mut self, id: &str) -> Result<PhaseRecord, PhaseRefusal> {
        if self.phases.iter().any(|p| p.phase == id) {
            return Err(PhaseRefusal::Repeated);
        }
        let record = PhaseRecord {
            phase: id.to_owned(),
            status: PhaseStatus::Skip,
            blocker_codes: vec![],
            elapsed_ms: 0,
        };
        self.phases.push(record.clone());
        self.gate_used = true;
        Ok(record)
    }

    /// Decides the verdict once (`decide`, over every blocker so far); None when it already was.
    pub fn decide_verdict(
        &mut self,
        predicates: BTreeMap<String, PredicateValue>,
        advance_name: &str,
        hold_name: &str,
    ) -> Option<Verdict> {
        self.gate_used = true;
        if self.verdict.is_some() {
            return None;
        }
        let decided = decide(predicates, &self.blockers, advance_name, hold_name);
        self.verdict = Some(decided.clone());
        Some(decided)
    }

    /// Records a blocker attributed to the current phase (or the phase its code names).
    pub fn record(&mut self, code: &str, reason: &str) -> Blocker {
        self.record_in(self.current_phase.clone(), code, reason)
    }

    /// Records a blocker attributed to `phase` (or the phase its code names). A phase that has
    /// already ended holds from now on: its record says so (a check of its evidence that failed
    /// after it ended).
    pub fn record_in(&mut self, phase: Option<String>, code: &str, reason: &str) -> Blocker {
        let phase = phase
            .or_else(|| phase_of_code(code))
            .unwrap_or_else(|| "-".to_owned());
        if let Some(ended) = self.phases.iter_mut().find(|p| p.phase == phase) {
            ended.status = PhaseStatus::Hold;
            if !ended.blocker_codes.iter().any(|c| c == code) {
                ended.blocker_codes.push(code.to_owned());
            }
        }
        let blocker = Blocker {
            code: code.to_owned(),
            phase,
            reason: reason.to_owned(),
        };
        if !self.blockers.contains(&blocker) {
            // In the order of the phases that hold them, not of when each was found: a durable
            // write settled later (issue #23) still comes before the findings of the read-only
            // phases that ran meanwhile, so the first blocker is the runbook's first cause.
            let mine = self.phase_rank(&blocker.phase);
            let at = self
                .blockers
                .iter()
                .rposition(|b| self.phase_rank(&b.phase) <= mine)
                .map_or(0, |i| i + 1);
            self.blockers.insert(at, blocker.clone());
        }
        self.gate_used = true;
        // A blocker after an advance verdict (e.g. the verdict snapshot's own write failed) turns
        // the verdict into a hold: what is reported never says advance while a blocker stands.
        if let Some(v) = self.verdict.as_mut().filter(|v| v.advance) {
            v.advance = false;
            v.verdict = v.hold_name.clone();
            v.blocker_codes.push(blocker.code.clone());
        }
        blocker
    }

    /// Where `phase` stands in the run: ended phases in the order they ran, then the running
    /// one, then anything else (a blocker outside every phase).
    fn phase_rank(&self, phase: &str) -> usize {
        match self.phases.iter().position(|p| p.phase == phase) {
            Some(i) => i,
            None if self.current_phase.as_deref() == Some(phase) => self.phases.len(),
            None => usize::MAX,
        }
    }

    pub fn blockers_of_phase(&self, phase: &str) -> Vec<String> {
        self.blockers
            .iter()
            .filter(|b| b.phase == phase)
            .map(|b| b.code.clone())
            .collect()
    }

    pub fn held(&self) -> bool {
        !self.blockers.is_empty() || self.verdict.as_ref().is_some_and(|v| !v.advance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(items: &[(&str, PredicateValue)]) -> BTreeMap<String, PredicateValue> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn blocker(code: &str) -> Blocker {
        Blocker {
            code: code.into(),
            phase: "M4.D".into(),
            reason: "r".into(),
        }
    }

    #[test]
    fn all_true_and_no_blockers_advances() {
        let v = decide(
            preds(&[
                ("a", PredicateValue::Bool(true)),
                ("b", PredicateValue::Bool(true)),
            ]),
            &[],
            "ADVANCE_TO_M5",
            "HOLD_M4",
        );
        assert!(v.advance);
        assert_eq!(v.verdict, "ADVANCE_TO_M5");
    }

    #[test]
    fn one_false_predicate_holds() {
        let v = decide(
            preds(&[
                ("a", PredicateValue::Bool(true)),
                ("b", PredicateValue::Bool(false)),
            ]),
            &[],
            "ADVANCE_TO_M5",
            "HOLD_M4",
        );
        assert_eq!(v.verdict, "HOLD_M4");
        assert_eq!(v.failed_predicates, vec!["b"]);
    }

    #[test]
    fn any_blocker_holds_even_with_true_predicates() {
        let v = decide(
            preds(&[("a", PredicateValue::Bool(true))]),
            &[blocker("M4D-B1")],
            "A",
            "H",
        );
        assert!(!v.advance);
        assert_eq!(v.blocker_codes, vec!["M4D-B1"]);
    }

    /// A write settled late records its phase's blocker before the findings of the phases that
    /// ran meanwhile; the near miss: blockers of phases in order stay in the order found.
    #[test]
    fn blockers_stand_in_the_order_of_their_phases_not_of_their_finding() {
        let mut ledger = Ledger::default();
        for id in ["M4.A", "M4.B"] {
            ledger.begin(id).unwrap();
            ledger.end(id, None, 0);
        }
        ledger.begin("M4.C").unwrap();
        ledger.record_in(Some("M4.C".into()), "M4C-B1", "c found");
        ledger.record_in(Some("M4.A".into()), "M4A-B3", "a's write failed");
        ledger.record_in(Some("M4.C".into()), "M4C-B2", "c again");
        ledger.record_in(Some("M4.B".into()), "M4B-B3", "b's write failed");
        let order: Vec<&str> = ledger.blockers().iter().map(|b| b.code.as_str()).collect();
        assert_eq!(order, ["M4A-B3", "M4B-B3", "M4C-B1", "M4C-B2"]);
        assert_eq!(ledger.phases()[0].status, PhaseStatus::Hold);
    }

    #[test]
    fn no_predicates_is_no_answer_and_holds() {
        assert!(!decide(BTreeMap::new(), &[], "A", "H").advance);
    }

    #[test]
    fn non_boolean_predicate_holds() {
        let v = decide(
            preds(&[("a", PredicateValue::Invalid("string".into()))]),
            &[],
            "A",
            "H",
        );
        assert!(!v.advance);
        assert_eq!(v.invalid_predicates, vec!["a"]);
    }

    #[test]
    fn codes_map_to_phases() {
        assert_eq!(phase_of_code("M4A-B1").as_deref(), Some("M4.A"));
        assert_eq!(phase_of_code("M12J-B4").as_deref(), Some("M12.J"));
        assert_eq!(phase_of_code("HOST-B3"), None);
        assert_eq!(code_prefix_of_phase("M4.E"), "M4E");
        assert!(is_valid_code("M4A-B1"));
        assert!(!is_valid_code("m4a-b1"));
        assert!(!is_valid_code("M4AB1"));
    }

    #[test]
    fn blocker_after_advance_turns_verdict_to_hold() {
        let mut l = Ledger {
            verdict: Some(decide(
                preds(&[("a", PredicateValue::Bool(true))]),
                &[],
                "ADVANCE_TO_M5",
                "HOLD_M4",
            )),
            ..Ledger::default()
        };
        l.record("M4I-B4", "verdict snapshot write failed");
        let v = l.verdict.as_ref().unwrap();
        assert_eq!((v.verdict.as_str(), v.advance), ("HOLD_M4", false));
        assert_eq!(v.blocker_codes, vec!["M4I-B4"]);
    }

    /// The phase's lifecycle, owned by the ledger's one set of rules: one at a time, once each;
    /// an uncaught fault is the phase's SCRIPT-FAULT; a skipped phase cannot run after.
    #[test]
    fn a_phase_begins_once_ends_with_its_fault_and_is_skipped_once() {
        let mut l = Ledger::default();
        assert_eq!(l.begin(" "), Err(PhaseRefusal::Empty));
        l.begin("M4.A").unwrap();
        assert_eq!(
            l.begin("M4.B"),
            Err(PhaseRefusal::Nested {
                current: "M4.A".into()
            })
        );
        let a = l.end("M4.A", Some("Function not found: x"), 5);
        assert_eq!(a.status, PhaseStatus::Hold);
        assert_eq!(a.blocker_codes, vec![SCRIPT_FAULT.to_owned()]);
        assert!(l.blockers()[0]
            .reason
            .starts_with("uncaught error in phase M4.A: "));
        assert_eq!(l.current_phase(), None);
        assert_eq!(l.begin("M4.A"), Err(PhaseRefusal::Repeated));
        assert_eq!(l.skip("M4.B").unwrap().status, PhaseStatus::Skip);
        assert_eq!(l.begin("M4.B"), Err(PhaseRefusal::Repeated));
        assert!(l.gate_used());
        assert!(l.decide_verdict(BTreeMap::new(), "A", "H").is_some());
        assert!(
            l.decide_verdict(BTreeMap::new(), "A", "H").is_none(),
            "decided once"
        );
    }

    #[test]
    fn ledger_attributes_to_current_phase_and_dedups() {
        let mut l = Ledger {
            current_phase: Some("M4.C".into()),
            ..Ledger::default()
        };
        l.record("M4C-B1", "role missing");
        l.record("M4C-B1", "role missing");
        assert_eq!(l.blockers.len(), 1);
        assert_eq!(l.blockers[0].phase, "M4.C");
        assert!(l.held());
    }
}
