//! A primitive's failure as the error a script sees: a catchable `#{code, message, help,
//! primitive}` (redacted), or a block that `try` cannot catch.

use crate::host::{Fail, Host, BLOCK_MARKER};
use rhai::{EvalAltResult, Position};

/// The catchable error a script sees, `#{code, message, help, primitive}`, redacted.
pub fn error_map(host: &Host, code: &str, message: &str, help: &str, primitive: &str) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("code".into(), code.into());
    map.insert("message".into(), host.vault().redact(message).into());
    map.insert("help".into(), host.vault().redact(help).into());
    map.insert("primitive".into(), primitive.into());
    map
}

/// Turns a primitive's failure into the Rhai error scripts see: an error `try` can catch, or a
/// block it cannot (`ErrorTerminated` passes through to the phase boundary).
pub fn to_rhai_error(
    host: &Host,
    fail: Fail,
    primitive: &str,
    pos: Position,
) -> Box<EvalAltResult> {
    match fail {
        Fail::Error {
            code,
            message,
            help,
        } => Box::new(EvalAltResult::ErrorRuntime(
            error_map(host, code, &message, &help, primitive).into(),
            pos,
        )),
        Fail::Block(blocker) => {
            let mut map = rhai::Map::new();
            map.insert(BLOCK_MARKER.into(), true.into());
            map.insert("code".into(), blocker.code.into());
            map.insert("phase".into(), blocker.phase.into());
            map.insert("reason".into(), blocker.reason.into());
            Box::new(EvalAltResult::ErrorTerminated(map.into(), pos))
        }
        Fail::Rhai(err) => err,
    }
}
