//! A probe's three-valued outcome, one type: `pass` (the fact holds), `fail` (it was asked and
//! does not: a finding), `error` (it could not be asked: throttled, timed out, unreachable, an
//! answer the API does not give). Scripts see the lower-case word; no rule restates the words.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeOutcome {
    Pass,
    Fail,
    Error,
}

impl ProbeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeOutcome::Pass => "pass",
            ProbeOutcome::Fail => "fail",
            ProbeOutcome::Error => "error",
        }
    }

    /// Pass when `holds`, else a finding.
    pub fn of(holds: bool) -> ProbeOutcome {
        if holds {
            ProbeOutcome::Pass
        } else {
            ProbeOutcome::Fail
        }
    }
}

impl std::fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_see_the_lower_case_words() {
        assert_eq!(serde_json::to_value(ProbeOutcome::Fail).unwrap(), "fail");
        assert_eq!(ProbeOutcome::of(true).as_str(), "pass");
        assert_eq!(ProbeOutcome::of(false), ProbeOutcome::Fail);
    }
}
