//! The execution-id grammar, stated once: `<prefix>_<YYYYMMDDTHHmmssZ>`, e.g.
//! `m4_20260214T121004Z` or `m4_dev_20260214T121004Z`. The prefix is lower-case letters, digits
//! and `_`, starting with a letter; the stamp is the run's UTC instant to the second. The stamp
//! is what follows the last `_`, so a prefix may itself hold `_`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The stamp's `strftime` form.
pub const STAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// How the grammar is explained to an operator who wrote something else.
pub const GRAMMAR: &str = "<prefix>_<YYYYMMDDTHHmmssZ>, the prefix lower-case letters, digits and `_` starting with a letter (e.g. m4_20260214T121004Z)";

/// The durable control plane of an environment, under which every execution's evidence is
/// published (`evidence/<environment>/run_control/<execution_id>/<artifact>.json`).
pub fn control_root(environment: &str) -> String {
    format!("evidence/{environment}/run_control/")
}

/// The durable run-scoped evidence of every platform run, beside the control plane
/// (`evidence/runs/<platform_run_id>/<path>.json`, e.g. M4.H's `operate/daemons_ready`).
pub const RUN_SCOPED_ROOT: &str = "evidence/runs/";

/// An execution id taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionId {
    pub prefix: String,
    /// `YYYYMMDDTHHmmssZ`: also the local mirror's folder name.
    pub stamp: String,
    pub instant: DateTime<Utc>,
}

impl ExecutionId {
    /// The id of a run with `prefix` started at `instant` (to the second).
    pub fn new(prefix: &str, instant: DateTime<Utc>) -> ExecutionId {
        ExecutionId {
            prefix: prefix.to_owned(),
            stamp: instant.format(STAMP_FORMAT).to_string(),
            instant,
        }
    }

    /// The id if `id` follows the grammar.
    pub fn parse(id: &str) -> Option<ExecutionId> {
        let (prefix, stamp) = id.rsplit_once('_')?;
        let instant = parse_stamp(stamp)?;
        valid_prefix(prefix).then(|| ExecutionId {
            prefix: prefix.to_owned(),
            stamp: stamp.to_owned(),
            instant,
        })
    }

    pub fn id(&self) -> String {
        format!("{}_{}", self.prefix, self.stamp)
    }
}

/// The field that names an execution in its snapshots and summary: `<prefix>_execution_id`
/// (`m4_execution_id` for M4's consumers, `m5_execution_id` for M5's).
pub fn field_name(execution_id: &str) -> String {
    ExecutionId::parse(execution_id).map_or_else(
        || "m4_execution_id".to_owned(),
        |id| format!("{}_execution_id", id.prefix),
    )
}

pub fn valid_prefix(prefix: &str) -> bool {
    prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !prefix.ends_with('_')
}

/// A stamp `YYYYMMDDTHHmmssZ` as its UTC instant.
pub fn parse_stamp(stamp: &str) -> Option<DateTime<Utc>> {
    // chrono accepts shorter fields ("2026121T…"); the grammar is exactly 16 characters.
    (stamp.len() == 16)
        .then(|| NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT).ok())
        .flatten()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_with_and_without_underscore_round_trip() {
        let at = parse_stamp("20260214T121004Z").unwrap();
        for prefix in ["m4", "m5", "m4_dev", "m5_oracle_2"] {
            let id = ExecutionId::new(prefix, at);
            let parsed = ExecutionId::parse(&id.id()).unwrap();
            assert_eq!(parsed, id, "{prefix}");
            assert_eq!(parsed.stamp, "20260214T121004Z");
        }
    }

    #[test]
    fn what_is_not_an_execution_id() {
        for bad in [
            "",
            "m4",
            "m4_",
            "_20260214T121004Z",
            "M4_20260214T121004Z",
            "4m_20260214T121004Z",
            "m4__20260214T121004Z",
            "m4-dev_20260214T121004Z",
            "m4_20260214T121004",
            "m4_2026214T121004Z",
            "m4_20261314T121004Z",
            "m4_20260214T121004Z_x",
            "../m4_20260214T121004Z",
        ] {
            assert!(ExecutionId::parse(bad).is_none(), "{bad}");
        }
        assert!(valid_prefix("m4_dev") && !valid_prefix("m4_") && !valid_prefix("dev-m4"));
    }
}
