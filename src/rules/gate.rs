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

/// Everything the run has decided so far.
#[derive(Debug, Default)]
pub struct Ledger {
    pub blockers: Vec<Blocker>,
    pub phases: Vec<PhaseRecord>,
    pub verdict: Option<Verdict>,
    /// A gate primitive was called: the run now owes an explicit verdict.
    pub gate_used: bool,
    /// The phase now running, if any.
    pub current_phase: Option<String>,
    /// A block was raised and evaluation must stop up to the enclosing phase boundary, even if
    /// the script tried to catch it (e.g. around an `import`).
    pub halt_pending: bool,
}

impl Ledger {
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
            self.blockers.push(blocker.clone());
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
