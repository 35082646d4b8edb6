//! The REPL's debugger: Rhai's debugger hook stops the runbook at a breakpoint or step, shows
//! where with its watches, and hands its redacted locals to the phase gate; watches are
//! evaluated by an engine with no primitives.

use super::echo;
use crate::host::stepper::{Breakpoints, PhaseGate, Stepping};
use crate::host::Host;
use rhai::{Dynamic, Engine, Scope};
use std::sync::Arc;

/// Hooks Rhai's debugger into the runbook's engine: at a breakpoint (or after :next) the runbook
/// stops at the statement, shows where, and captures its locals (redacted) until resumed.
#[allow(deprecated)] // register_debugger is marked volatile, not deprecated
pub(super) fn attach_debugger(
    engine: &mut Engine,
    gate: &Arc<PhaseGate>,
    points: &Arc<Breakpoints>,
    host: &Arc<Host>,
) {
    let (gate, points, host) = (Arc::clone(gate), Arc::clone(points), Arc::clone(host));
    let watcher = watch_engine();
    engine.register_debugger(
        |_, debugger| debugger,
        move |context, event, _node, source, pos| {
            use rhai::debugger::{DebuggerCommand, DebuggerEvent};
            // Any node that begins a line counts as that line's statement: Rhai hands a call
            // statement (`rb::expect(...)`) to the debugger as an expression node, so stopping
            // only at statement nodes would skip every line that is a bare call.
            let step = matches!(event, DebuggerEvent::Start | DebuggerEvent::Step);
            let level = context.call_level();
            if let (true, Some(source), Some(line)) = (step, source, pos.line()) {
                if points.should_stop(source, line, level) {
                    let text = std::fs::read_to_string(source)
                        .ok()
                        .and_then(|t| t.lines().nth(line - 1).map(|l| l.trim().to_owned()))
                        .unwrap_or_default();
                    let short = source
                        .rsplit('/')
                        .take(2)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("/");
                    let locals = context
                        .scope()
                        .iter_raw()
                        .map(|(name, _, value)| {
                            format!("{name} = {}", echo(&host, value).replace('\n', " "))
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    let mut shown = format!("{short}:{line}: {text}");
                    for expr in points.watches() {
                        let value = watch_value(&watcher, context.scope(), &expr, &host);
                        shown.push_str(&format!("\n  watch {expr} = {value}"));
                    }
                    let how = gate.stop_at(host.vault().redact(&shown), locals);
                    points.set_stepping(Stepping::after(how, level));
                }
            }
            Ok(DebuggerCommand::StepInto)
        },
    );
}

/// The engine a watch is evaluated by: Rhai's standard library and none of the host's
/// primitives, so a watch can read the runbook's variables but never call AWS, publish evidence
/// or record a blocker; bounded, so a watch cannot hang a stop.
pub(super) fn watch_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(10_000);
    engine.set_max_call_levels(16);
    engine.set_max_expr_depths(64, 32);
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine
}

/// A watch's value where the runbook stopped (its scope cloned: a watch changes nothing),
/// redacted like every REPL echo.
fn watch_value(engine: &Engine, scope: &Scope, expr: &str, host: &Host) -> String {
    let mut scope = scope.clone();
    match engine.eval_expression_with_scope::<Dynamic>(&mut scope, expr) {
        Ok(value) => echo(host, &value).replace('\n', " "),
        Err(e) => host.vault().redact(&format!("<{e}>")),
    }
}
