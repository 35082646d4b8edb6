//! Builds the Rhai engine every command uses: explicit limits, strict variables, no `eval`, no
//! optimisation (even Simple drops an unused `import` and its module's gates), the Secret type,
//! redacting print/debug, the confined module resolver, the primitive table, and the stop hook
//! that makes a block uncatchable.

use crate::config::Limits;
use crate::host::Host;
use crate::rules::secret::Secret;
use crate::script::resolver::ConfinedResolver;
use rhai::packages::Package;
use rhai::{Dynamic, Engine, OptimizationLevel};
use std::path::Path;
use std::sync::Arc;

pub fn build(host: &Arc<Host>, script_root: &Path) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(rhai::packages::StandardPackage::new().as_shared_module());
    apply_limits(
        &mut engine,
        &host
            .environment()
            .map(|c| c.limits.clone())
            .unwrap_or_default(),
    );
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    // No optimisation: Full would call primitives at compile time, and even Simple drops an
    // `import` whose alias is unused at the end of a block, skipping the module's top-level
    // gates (found by gates::block_at_module_top_level_cannot_be_caught_around_import).
    engine.set_optimization_level(OptimizationLevel::None);
    engine.disable_symbol("eval");
    engine.set_module_resolver(ConfinedResolver::recording(
        script_root,
        Arc::clone(host.sources()),
    ));

    register_secret(&mut engine);

    let print_host = Arc::clone(host);
    engine.on_print(move |text| {
        let text = print_host.vault().redact(text);
        crate::host::run_report::script_print(&print_host, &text);
    });
    let debug_host = Arc::clone(host);
    engine.on_debug(move |text, source, pos| {
        let text = debug_host.vault().redact(text);
        let place = match (source, pos.is_none()) {
            (Some(s), false) => format!("{s}:{pos}"),
            (None, false) => format!("{pos}"),
            _ => String::new(),
        };
        crate::out::err_line(&format!("[debug {place}] {text}"));
    });
    let progress_host = Arc::clone(host);
    engine.on_progress(move |_ops| {
        if progress_host.ledger().halt_pending() {
            return Some(Dynamic::from("stopped after a block"));
        }
        if progress_host.take_interrupt() {
            return Some(Dynamic::from("interrupted"));
        }
        None
    });

    crate::script::primitives::register(&mut engine, host);
    engine
}

pub fn apply_limits(engine: &mut Engine, limits: &Limits) {
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_max_modules(limits.max_modules);
}

fn register_secret(engine: &mut Engine) {
    engine
        .register_type_with_name::<Secret>("Secret")
        .register_fn("to_string", |s: &mut Secret| s.redacted())
        .register_fn("to_debug", |s: &mut Secret| s.redacted())
        .register_get("handle", |s: &mut Secret| s.handle().to_owned());
}
