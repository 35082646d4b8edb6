//! The error codes scripts can catch (`try { … } catch (e) { e.code }`), one enum, each with what it
//! means. A primitive's table row lists the codes it raises; `m4host doc` shows them. Blocker codes
//! (M4A-B1 …) are not here: they are the runbook's, and no `try` catches a block.

macro_rules! error_codes {
    ($($variant:ident => $text:literal: $meaning:literal,)*) => {
        /// A catchable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as scripts see it.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text),* }
            }

            /// What it means, in one line.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $meaning),* }
            }
        }
    };
}

error_codes! {
    AlreadyRunning => "ALREADY_RUNNING": "this execution's earlier one-shot task of the family has not been seen STOPPED",
    ArgInvalid => "ARG_INVALID": "a --set KEY=VALUE is not of the kind the runbook reads (an integer, say)",
    ArgMissing => "ARG_MISSING": "no --set KEY=VALUE for the argument asked",
    BadArgument => "BAD_ARGUMENT": "an argument is of the wrong kind or out of range",
    BadArtifactName => "BAD_ARTIFACT_NAME": "an artifact name or execution id does not follow the grammar",
    BadArtifactPath => "BAD_ARTIFACT_PATH": "a run-scoped evidence path is not segments of lower-case letters, digits and _",
    BadCode => "BAD_CODE": "a blocker code is not like M4A-B2",
    BadEntry => "BAD_ENTRY": "an entry declaration is incomplete or malformed",
    BadJson => "BAD_JSON": "text is not valid JSON",
    BadOption => "BAD_OPTION": "an option is unknown, of the wrong kind, or not allowed",
    BadPayload => "BAD_PAYLOAD": "an evidence payload is not a map",
    BadPhase => "BAD_PHASE": "a phase id is empty",
    BadVerdictNames => "BAD_VERDICT_NAMES": "the advance and hold verdict names are empty or equal",
    EntryDeclared => "ENTRY_DECLARED": "the run already declared a different entry",
    HandleAmbiguous => "HANDLE_AMBIGUOUS": "a handle resolves to more than one value",
    HandleUnresolved => "HANDLE_UNRESOLVED": "a handle does not resolve",
    HandleWildcard => "HANDLE_WILDCARD": "a handle or its reference is a wildcard",
    Held => "HELD": "the run holds a blocker: later sub-phases take no action",
    Interrupted => "INTERRUPTED": "Ctrl-C or a signal abandoned a read-only call",
    NestedPhase => "NESTED_PHASE": "a phase was started inside another",
    NoEntry => "NO_ENTRY": "the runbook declared no entry, so it has no run scope",
    NoEnv => "NO_ENV": "the primitive needs an environment file and none was given",
    NotASecret => "NOT_A_SECRET": "an option that must be a Secret was given plaintext",
    NotOnTape => "NOT_ON_TAPE": "a replay asked the world something its tape does not hold (another call, other parameters)",
    NotSerialisable => "NOT_SERIALISABLE": "a value holds a Secret or a type JSON cannot carry",
    NotSingleton => "NOT_SINGLETON": "a desired count breaks the singleton law",
    NotStartedHere => "NOT_STARTED_HERE": "a task this execution did not start",
    OutsidePhase => "OUTSIDE_PHASE": "a primitive that changes the world was called outside a running phase, or from a typed REPL line",
    PhaseRepeated => "PHASE_REPEATED": "a phase already ran in this execution",
    ReplPhase => "REPL_PHASE": "a phase cannot be run from a typed REPL line",
    ReplVerdict => "REPL_VERDICT": "a verdict cannot be decided from a typed REPL line",
    ResultShape => "RESULT_SHAPE": "a primitive's result broke the shape its table row states",
    RunScopeMismatch => "RUN_SCOPE_MISMATCH": "a task definition does not carry the run scope",
    RunScopeMissing => "RUN_SCOPE_MISSING": "the entry's handoff pack names no run-scope key",
    RunTaskFailed => "RUN_TASK_FAILED": "ECS started no task",
    SnapshotChanged => "SNAPSHOT_CHANGED": "a snapshot read back differs from what was written",
    SnapshotMissing => "SNAPSHOT_MISSING": "the snapshot was not published by this execution",
    SnapshotUnreadable => "SNAPSHOT_UNREADABLE": "a snapshot could not be read from durable storage",
    SsmEmpty => "SSM_EMPTY": "an SSM parameter holds an empty value",
    SsmError => "SSM_ERROR": "SSM could not be asked",
    SsmMissing => "SSM_MISSING": "an SSM parameter does not exist",
    SsmSecure => "SSM_SECURE": "a SecureString was asked for as plaintext",
    UnknownSetting => "UNKNOWN_SETTING": "no such setting",
    UpdateFailed => "UPDATE_FAILED": "a service could not be described or updated",
    VerdictDecided => "VERDICT_DECIDED": "the verdict of this execution is already decided",
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_upper_snake_case_and_mean_something() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{text}"
            );
            assert!(!code.meaning().is_empty());
        }
    }
}
