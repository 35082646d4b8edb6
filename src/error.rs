//! The one error type of the host: everything that stops m4host before or outside a verdict.
//!
//! Each variant has a stable code (shown to the operator and usable in scripts of CI) and owns the
//! exit status: usage and configuration problems are 2, host or script faults are 1. Blockers are
//! not errors: they are findings of the runbook and live in `gate`.

use std::path::{Path, PathBuf};

/// Exit status of a usage or configuration error (SPEC §2).
pub const EXIT_USAGE: i32 = 2;
/// A defect of m4host (a panic): EX_SOFTWARE of sysexits.h.
pub const EXIT_DEFECT: i32 = 70;
/// Exit status of a host or script fault that prevented a verdict (SPEC §2).
pub const EXIT_FAULT: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {what}")]
    Config {
        path: PathBuf,
        what: String,
        help: String,
    },
    #[error("{what}")]
    Usage { what: String, help: String },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Script {
        path: PathBuf,
        what: String,
        help: String,
    },
    #[error("{what}")]
    Fault { what: String },
}

impl Error {
    pub fn config(path: &Path, what: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Config {
            path: path.to_path_buf(),
            what: what.into(),
            help: help.into(),
        }
    }

    pub fn usage(what: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            what: what.into(),
            help: help.into(),
        }
    }

    pub fn fault(what: impl Into<String>) -> Self {
        Error::Fault { what: what.into() }
    }

    /// Stable code printed with the message.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "E-CONFIG",
            Error::Usage { .. } => "E-USAGE",
            Error::Read { .. } => "E-READ",
            Error::Script { .. } => "E-SCRIPT",
            Error::Fault { .. } => "E-FAULT",
        }
    }

    /// The process exit status this error ends with.
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::Config { .. }
            | Error::Usage { .. }
            | Error::Read { .. }
            | Error::Script { .. } => EXIT_USAGE,
            Error::Fault { .. } => EXIT_FAULT,
        }
    }

    fn help(&self) -> Option<&str> {
        match self {
            Error::Config { help, .. } | Error::Usage { help, .. } | Error::Script { help, .. } => {
                Some(help)
            }
            Error::Read { .. } => Some("check that the path exists and is readable"),
            Error::Fault { .. } => None,
        }
    }

    /// The one message printed for this error: a lower-case sentence naming the thing, then the fix.
    pub fn render(&self) -> String {
        let mut text = format!("error[{}]: {}", self.code(), self);
        if let Some(help) = self.help().filter(|h| !h.is_empty()) {
            text.push_str("\n  help: ");
            text.push_str(help);
        }
        text
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
