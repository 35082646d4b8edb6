//! What the environment file's values may be, checked at load (issue #28): a Region's form, a
//! named profile's presence in the shared files, and every number within what the host and the
//! SDK can take.

use super::{RawEnv, MAX_CALL_LEVELS, MAX_EXPR_DEPTH};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// An AWS Region name (`eu-west-2`, `us-gov-west-1`, `cn-north-1`): a two-letter area, one or
/// more words, a number.
pub(super) fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// When a named profile is in neither shared file (`AWS_CONFIG_FILE` or ~/.aws/config as
/// `[profile NAME]`, `AWS_SHARED_CREDENTIALS_FILE` or ~/.aws/credentials as `[NAME]`), the files
/// looked in; else None. The SDK would otherwise fail at the first call ("the credential
/// provider was not enabled").
pub(super) fn profile_missing(profile: &str) -> Option<String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let config = file("AWS_CONFIG_FILE", "config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let has = |path: &Option<PathBuf>, header: &str| {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .is_some_and(|text| {
                text.lines().any(|l| {
                    l.trim()
                        .strip_prefix('[')
                        .and_then(|l| l.strip_suffix(']'))
                        .is_some_and(|name| {
                            name.split_whitespace().collect::<Vec<_>>().join(" ") == header
                        })
                })
            })
    };
    let in_config = has(&config, &format!("profile {profile}"))
        || (profile == "default" && has(&config, "default"));
    if in_config || has(&credentials, profile) {
        return None;
    }
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("(none)".to_owned(), |p| p.display().to_string())
    };
    Some(format!("{} or {}", shown(&config), shown(&credentials)))
}

const DAY_MS: u64 = 86_400_000;

/// Every number of the environment file within what the host and the SDK can take (issue #28):
/// a Rhai limit of 0 means unlimited and one too high lets a script overflow the host's stack
/// (the caps are the ones tested safe, `tests/integration/bad_input.rs`); a duration past a day
/// (a week for a whole wait) is a typo, and one past the year 9999 panics in the SDK's clock.
pub(super) fn check_bounds(env_file: &Path, raw: &RawEnv) -> Result<()> {
    let (l, b, e) = (&raw.limits, &raw.budgets, &raw.ecs);
    let rows: [(&str, u64, u64, u64, &str); 25] = [
        (
            "logs.tail_lines",
            u64::from(raw.logs.tail_lines),
            1,
            10_000,
            "log lines read from a failed task's stream",
        ),
        (
            "logs.tail_bytes",
            u64::from(raw.logs.tail_bytes),
            256,
            1024 * 1024,
            "bytes of a failed task's log kept",
        ),
        (
            "limits.max_operations",
            l.max_operations,
            1,
            10_000_000_000,
            "operations a script may run (0 would be unlimited)",
        ),
        (
            "limits.max_call_levels",
            l.max_call_levels as u64,
            1,
            MAX_CALL_LEVELS,
            "function call depth",
        ),
        (
            "limits.max_expr_depth",
            l.max_expr_depth as u64,
            1,
            MAX_EXPR_DEPTH,
            "expression nesting (0 would be unlimited)",
        ),
        (
            "limits.max_function_expr_depth",
            l.max_function_expr_depth as u64,
            1,
            MAX_EXPR_DEPTH,
            "expression nesting in functions (0 would be unlimited)",
        ),
        (
            "limits.max_string_size",
            l.max_string_size as u64,
            1,
            64 * 1024 * 1024,
            "bytes of one string (0 would be unlimited)",
        ),
        (
            "limits.max_array_size",
            l.max_array_size as u64,
            1,
            10_000_000,
            "items of one array (0 would be unlimited)",
        ),
        (
            "limits.max_map_size",
            l.max_map_size as u64,
            1,
            10_000_000,
            "entries of one map (0 would be unlimited)",
        ),
        (
            "limits.max_modules",
            l.max_modules as u64,
            1,
            10_000,
            "modules a script may load",
        ),
        (
            "budgets.connect_timeout_ms",
            b.connect_timeout_ms,
            1,
            600_000,
            "one connection attempt",
        ),
        (
            "budgets.attempt_timeout_ms",
            b.attempt_timeout_ms,
            1,
            3_600_000,
            "one attempt of an AWS call",
        ),
        (
            "budgets.call_timeout_ms",
            b.call_timeout_ms,
            1,
            DAY_MS,
            "one AWS call with its retries",
        ),
        (
            "budgets.max_attempts",
            u64::from(b.max_attempts),
            1,
            20,
            "attempts of one AWS call (3 is the standard retry budget)",
        ),
        (
            "ecs.stabilize_timeout_ms",
            e.stabilize_timeout_ms,
            1,
            7 * DAY_MS,
            "a stability wait",
        ),
        ("ecs.soak_ms", e.soak_ms, 0, DAY_MS, "a stability soak"),
        (
            "ecs.crash_threshold",
            e.crash_threshold as u64,
            1,
            1_000,
            "unplanned stops that hold",
        ),
        (
            "ecs.first_poll_ms",
            e.first_poll_ms,
            50,
            60_000,
            "the first poll interval",
        ),
        (
            "ecs.max_poll_ms",
            e.max_poll_ms,
            50,
            600_000,
            "the longest poll interval",
        ),
        (
            "ecs.placement_grace_ms",
            e.placement_grace_ms,
            0,
            DAY_MS,
            "how long placement may fail",
        ),
        (
            "ecs.poll_failure_budget_ms",
            e.poll_failure_budget_ms,
            1,
            DAY_MS,
            "how long polls may fail in a row",
        ),
        (
            "ecs.one_shot_stop_timeout_ms",
            e.one_shot_stop_timeout_ms,
            1,
            DAY_MS,
            "how long a stopped task may take to stop",
        ),
        (
            "ecs.one_shot_visibility_grace_ms",
            e.one_shot_visibility_grace_ms,
            0,
            DAY_MS,
            "how long a new task may be unknown to DescribeTasks",
        ),
        (
            "budgets.attempt_timeout_ms <= call_timeout_ms",
            u64::from(b.attempt_timeout_ms <= b.call_timeout_ms),
            1,
            1,
            "an attempt cannot outlast its call",
        ),
        (
            "ecs.first_poll_ms <= max_poll_ms",
            u64::from(e.first_poll_ms <= e.max_poll_ms),
            1,
            1,
            "the first poll interval cannot exceed the longest",
        ),
    ];
    for (key, value, min, max, what) in rows {
        if key.contains("<=") {
            if value != 1 {
                return Err(Error::config(
                    env_file,
                    format!("`{key}` does not hold"),
                    format!("{what}: lower the first or raise the second"),
                ));
            }
            continue;
        }
        if !(min..=max).contains(&value) {
            return Err(Error::config(
                env_file,
                format!("`{key}` = {value} is out of range ({what})"),
                format!("give a value from {min} to {max}"),
            ));
        }
    }
    Ok(())
}
