//! The primitive table: every function the host gives scripts, described once — name, parameters,
//! return shape, doc, a runnable example and its failure class. The same rows drive Rhai
//! registration, `m4host doc`, the `.d.rhai` editor definitions and the examples test.
//!
//! Each row's `call` is a thin adapter from Rhai arguments to a `Host` operation.

/// The entry M4 declares (scripts/m4/contract.rhai), for the examples of primitives that need a
/// run scope; a literal so that `concat!` can put it in front of an example.
macro_rules! m4_entry_example {
    () => {
        "declare_entry(#{ from: \"M3\", handoff_name: \"M4 handoff pack\", required_verdict: \"ADVANCE_TO_M4\", execution_field: \"m3_execution_id\", agree: [\"platform_run_id\", \"m3_execution_id\"], env_key_field: \"required_platform_run_id_env_key\", blocker: \"M4A-B1\" });\n"
    };
}

/// M4's entry declaration as one line of Rhai, for examples and tests that need a run scope; a
/// test holds it to `scripts/m4/contract.rhai`'s `entry()` and to `rules::entry::m4_example`.
pub const M4_ENTRY_EXAMPLE: &str = m4_entry_example!();

mod context;
mod data;
mod ecs;
mod evidence;
mod handles;
mod iam;
mod net;
mod options;
mod phases;
mod storage;
mod task_definitions;
mod tasks;

use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use rhai::{Dynamic, FnPtr, ImmutableString, NativeCallContext};
use std::any::TypeId;
use std::sync::Arc;

/// Every primitive, in reference order: one table, assembled from one slice per family.
pub fn all() -> impl Iterator<Item = &'static Primitive> {
    handles::PRIMITIVES
        .iter()
        .chain(evidence::PRIMITIVES)
        .chain(phases::PRIMITIVES)
        .chain(context::PRIMITIVES)
        .chain(data::PRIMITIVES)
        .chain(ecs::PRIMITIVES)
        .chain(task_definitions::PRIMITIVES)
        .chain(tasks::PRIMITIVES)
        .chain(iam::PRIMITIVES)
        .chain(storage::PRIMITIVES)
        .chain(net::PRIMITIVES)
}

/// Parameter types a primitive can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    Map,
    Array,
    Fn,
    Any,
}

impl Ty {
    pub fn type_id(self) -> TypeId {
        match self {
            Ty::Str => TypeId::of::<ImmutableString>(),
            Ty::Int => TypeId::of::<rhai::INT>(),
            Ty::Bool => TypeId::of::<bool>(),
            Ty::Map => TypeId::of::<rhai::Map>(),
            Ty::Array => TypeId::of::<rhai::Array>(),
            Ty::Fn => TypeId::of::<FnPtr>(),
            Ty::Any => TypeId::of::<Dynamic>(),
        }
    }

    /// The type as written in docs and `.d.rhai` definitions.
    pub fn rhai_name(self) -> &'static str {
        match self {
            Ty::Str => "String",
            Ty::Int => "int",
            Ty::Bool => "bool",
            Ty::Map => "Map",
            Ty::Array => "Array",
            Ty::Fn => "Fn",
            Ty::Any => "?",
        }
    }
}

/// What a failing call does to the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Cannot fail.
    Never,
    /// Raises an error map `#{code, message, help}` that `try`/`catch` can handle.
    Catchable,
    /// Records a blocker and stops the phase; no script can catch it.
    Gate,
}

impl Failure {
    pub fn describe(self) -> &'static str {
        match self {
            Failure::Never => "never fails",
            Failure::Catchable => "raises a catchable error #{code, message, help}",
            Failure::Gate => "records a blocker and stops the phase (cannot be caught)",
        }
    }
}

/// The keys of what a primitive returns, stated once: the same in a pass, a fail and an error
/// outcome (absent facts are `()`), so a script that reads a field never trips over an error
/// outcome. Docs render it; the shapes test checks each against live and dead endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A value, a document or a report whose keys the doc describes; not a probe outcome.
    Value,
    /// An outcome map with exactly these keys.
    Outcome(&'static [&'static str]),
    /// One outcome map per item (name -> result, or results in the order asked), each with
    /// exactly these keys.
    PerItem(&'static [&'static str]),
}

impl Shape {
    /// The keys, when this is an outcome shape.
    pub fn keys(self) -> Option<&'static [&'static str]> {
        match self {
            Shape::Value => None,
            Shape::Outcome(keys) | Shape::PerItem(keys) => Some(keys),
        }
    }

    /// Where `result` breaks this shape: the keys missing and the keys extra, per outcome map.
    /// Empty when it keeps it (always for a plain value).
    pub fn violations(self, result: &Dynamic) -> Vec<String> {
        let check = |map: &rhai::Map, keys: &[&str], at: &str| -> Option<String> {
            let missing: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| !map.contains_key(*k))
                .collect();
            let extra: Vec<&str> = map
                .keys()
                .map(|k| k.as_str())
                .filter(|k| !keys.contains(k))
                .collect();
            (!missing.is_empty() || !extra.is_empty())
                .then(|| format!("{at}missing {missing:?}, extra {extra:?}"))
        };
        match self {
            Shape::Value => Vec::new(),
            Shape::Outcome(keys) => match result.read_lock::<rhai::Map>() {
                Some(map) => check(&map, keys, "").into_iter().collect(),
                None => vec![format!("not a map but {}", result.type_name())],
            },
            Shape::PerItem(keys) => {
                let items: Vec<(String, Dynamic)> =
                    if let Some(map) = result.read_lock::<rhai::Map>() {
                        map.iter()
                            .map(|(k, v)| (k.to_string(), v.clone()))
                            .collect()
                    } else if let Some(array) = result.read_lock::<rhai::Array>() {
                        array
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (i.to_string(), v.clone()))
                            .collect()
                    } else {
                        return vec![format!("not a map or an array but {}", result.type_name())];
                    };
                items
                    .iter()
                    .filter_map(|(at, item)| match item.read_lock::<rhai::Map>() {
                        Some(map) => check(&map, keys, &format!("item {at}: ")),
                        None => Some(format!("item {at}: not a map")),
                    })
                    .collect()
            }
        }
    }

    /// One sentence for the docs, or nothing for a plain value.
    pub fn describe(self) -> Option<String> {
        let keys = |k: &[&str]| k.join(", ");
        match self {
            Shape::Value => None,
            Shape::Outcome(k) => Some(format!(
                "Result keys, the same in pass, fail and error (absent facts are ()): #{{{}}}.",
                keys(k)
            )),
            Shape::PerItem(k) => Some(format!(
                "Each item's result has the same keys in pass, fail and error (absent facts are ()): #{{{}}}.",
                keys(k)
            )),
        }
    }
}

pub type Call = fn(&Host, &NativeCallContext, &mut Args) -> Outcome<Dynamic>;

pub struct Primitive {
    pub name: &'static str,
    pub params: &'static [(&'static str, Ty)],
    pub returns: &'static str,
    pub shape: Shape,
    pub doc: &'static str,
    /// A complete script, run by the examples test against the test environment.
    pub example: &'static str,
    /// The exit status that example ends with.
    pub example_exit: i32,
    /// Lines the example prints, each whole: its stated result, which the examples test checks
    /// (an example that printed an error outcome would fail it).
    pub example_prints: &'static [&'static str],
    /// The catchable error codes it raises (besides RESULT_SHAPE, which registration raises for
    /// any row with a result shape); `m4host doc` lists them.
    pub raises: &'static [crate::rules::error_code::ErrorCode],
    /// The keys its options map takes, each stated once: the options reader refuses any other,
    /// `m4host doc` lists them with type, default and meaning.
    pub options: &'static [OptionDoc],
    pub failure: Failure,
    /// May run beside others in `all_at_once`: it changes nothing a later call reads (a read, or
    /// a probe that removes what it wrote), takes no closure, and never blocks (no gate).
    pub together: bool,
    /// Changes the world (starts or stops a service or a task): registration refuses it outside
    /// a running phase and from a typed REPL line (OUTSIDE_PHASE) before it is called, and the
    /// host records what it changed in the phase's snapshot.
    pub changes_world: bool,
    /// The AWS actions it may send, each with what it is authorized on (`rules::permissions`):
    /// `m4host doc` lists them, `m4host policy` grants them, and a test holds them against what
    /// the adapters send.
    pub aws: &'static [crate::rules::permissions::Access],
    pub call: Call,
}

/// One key of a primitive's options map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDoc {
    pub name: &'static str,
    /// As a script writes it: "Int (ms)", "String", "Array of String", "Secret", …
    pub ty: &'static str,
    /// What holds when it is not given ("required" when it must be).
    pub default: &'static str,
    pub meaning: &'static str,
}

/// An option row, as the tables write them.
pub(crate) const fn opt(
    name: &'static str,
    ty: &'static str,
    default: &'static str,
    meaning: &'static str,
) -> OptionDoc {
    OptionDoc {
        name,
        ty,
        default,
        meaning,
    }
}

impl Primitive {
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {}", t.rhai_name()))
            .collect();
        format!("{}({}) -> {}", self.name, params.join(", "), self.returns)
    }

    /// What it does: the doc, and where it may run (all_at_once, only in a phase).
    pub fn what_it_does(&self) -> String {
        let mut doc = self.doc.to_owned();
        if self.together {
            doc.push_str(" Runs in all_at_once.");
        }
        if self.changes_world {
            doc.push_str(
                " Changes the world: only inside a running phase (a runbook step), never from a \
                 typed REPL line.",
            );
        }
        doc
    }

    /// Everything in one paragraph (an editor's hover): what it does, its options, the result
    /// shape where the row states one, and the codes it raises.
    pub fn full_doc(&self) -> String {
        let mut doc = self.what_it_does();
        if !self.options.is_empty() {
            let options: Vec<String> = self
                .options
                .iter()
                .map(|o| {
                    format!(
                        "{} ({}, default {}): {}",
                        o.name, o.ty, o.default, o.meaning
                    )
                })
                .collect();
            doc.push_str(&format!(" Options: {}.", options.join("; ")));
        }
        if let Some(shape) = self.shape.describe() {
            doc.push(' ');
            doc.push_str(&shape);
        }
        match self.raises_text() {
            Some(raises) => format!("{doc} Raises: {raises}."),
            None => doc,
        }
    }

    /// Every code it raises: its row's, RESULT_SHAPE where it states a result shape (which
    /// registration checks), OUTSIDE_PHASE where it changes the world (which registration
    /// guards) and NOT_ON_TAPE (a replay's question the tape does not hold, which registration
    /// raises for every primitive).
    pub fn raised_codes(&self) -> Vec<ErrorCode> {
        let mut codes = self.raises.to_vec();
        if self.shape.keys().is_some() {
            codes.push(ErrorCode::ResultShape);
        }
        if self.changes_world {
            codes.push(ErrorCode::OutsidePhase);
        }
        codes.push(ErrorCode::NotOnTape);
        codes
    }

    /// The codes it raises, as the doc lists them ("NO_ENV, INTERRUPTED").
    pub fn raises_text(&self) -> Option<String> {
        let codes: Vec<&str> = self.raised_codes().iter().map(|c| c.as_str()).collect();
        (!codes.is_empty()).then(|| codes.join(", "))
    }
}

/// Typed access to the arguments; registration guarantees the declared types.
pub struct Args<'a, 'b> {
    items: &'a mut [&'b mut Dynamic],
}

impl<'a, 'b> Args<'a, 'b> {
    pub fn new(items: &'a mut [&'b mut Dynamic]) -> Self {
        Args { items }
    }
    pub fn str(&self, i: usize) -> String {
        self.items[i].clone().into_string().unwrap_or_default()
    }
    pub fn map(&mut self, i: usize) -> rhai::Map {
        std::mem::take(&mut *self.items[i]).cast::<rhai::Map>()
    }
    pub fn array(&mut self, i: usize) -> rhai::Array {
        std::mem::take(&mut *self.items[i]).cast::<rhai::Array>()
    }
    pub fn fn_ptr(&mut self, i: usize) -> FnPtr {
        std::mem::take(&mut *self.items[i]).cast::<FnPtr>()
    }
    pub fn any(&self, i: usize) -> Dynamic {
        self.items[i].clone()
    }
}

pub(crate) fn map_of<I, K, V>(items: I) -> Dynamic
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<rhai::Identifier>,
    V: Into<Dynamic>,
{
    items
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect::<rhai::Map>()
        .into()
}

pub(crate) fn strings(items: impl IntoIterator<Item = String>) -> Dynamic {
    items
        .into_iter()
        .map(Dynamic::from)
        .collect::<rhai::Array>()
        .into()
}

/// In a replay, a call that asked the world something its tape does not hold raises NOT_ON_TAPE
/// (whatever the primitive made of the missing answer), naming what it asked and the nearest
/// recorded question: a changed runbook's divergence is an answer it can catch, never a verdict
/// drawn from a world nobody saw.
fn off_the_tape(
    host: &Host,
    misses_before: Option<usize>,
    result: Outcome<Dynamic>,
) -> Outcome<Dynamic> {
    let Some(before) = misses_before else {
        return result;
    };
    let Some(first) = host
        .tape()
        .and_then(|t| t.misses_from(before).into_iter().next())
    else {
        return result;
    };
    Err(Fail::error(
        ErrorCode::NotOnTape,
        first.to_string(),
        "the recorded run never asked this: replay the script and arguments it recorded, or change \
         only what its answers cover",
    ))
}

/// The result, unless it breaks the row's shape: that is a host defect, and the script gets a
/// catchable RESULT_SHAPE naming it rather than a field missing in one outcome only.
pub(crate) fn kept_shape(name: &str, shape: Shape, result: Dynamic) -> Outcome<Dynamic> {
    let broken = shape.violations(&result);
    if broken.is_empty() {
        return Ok(result);
    }
    Err(Fail::error(
        ErrorCode::ResultShape,
        format!(
            "{name} returned a result that breaks its stated shape: {}",
            broken.join("; ")
        ),
        "this is a defect of m4host; report it with the command that ran",
    ))
}

/// Registers every row of the table into the engine, bound to the host.
pub fn register(engine: &mut rhai::Engine, host: &Arc<Host>) {
    let mut module = rhai::Module::new();
    for primitive in all() {
        let mut info: Vec<String> = primitive
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {}", t.rhai_name()))
            .collect();
        info.push(primitive.returns.to_owned());
        let comments = [format!(
            "/// {}\n///\n/// Failure: {}.\n///\n/// ```rhai\n{}\n/// ```",
            primitive.full_doc(),
            primitive.failure.describe(),
            primitive
                .example
                .lines()
                .map(|l| format!("/// {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )];
        let type_ids: Vec<TypeId> = primitive.params.iter().map(|(_, t)| t.type_id()).collect();
        let host = Arc::clone(host);
        let call = primitive.call;
        let name = primitive.name;
        let shape = primitive.shape;
        let changes_world = primitive.changes_world;
        let func = move |ctx: Option<NativeCallContext>,
                         args: &mut [&mut Dynamic]|
              -> Result<Dynamic, Box<rhai::EvalAltResult>> {
            // Rhai passes the context to every function registered as this one is (raw, with a
            // context); without one there is no position to report and no engine to ask.
            let Some(ctx) = ctx else {
                return Err(format!("{name}: called without a Rhai call context").into());
            };
            let guard = if changes_world {
                host.refuse_outside_phase(name)
            } else {
                Ok(())
            };
            // Asked only of a replay: `tape()` would start a recording, and a call that never
            // reaches the world (an argument, a setting) must not leave an execution folder.
            let misses_before = host
                .replaying()
                .then(|| host.tape().map(|t| t.miss_count()))
                .flatten();
            let result = guard
                .and_then(|()| call(&host, &ctx, &mut Args::new(args)))
                .and_then(|result| kept_shape(name, shape, result));
            off_the_tape(&host, misses_before, result).map_err(|fail| {
                crate::script::rhai_error::to_rhai_error(&host, fail, name, ctx.call_position())
            })
        };
        rhai::FuncRegistration::new(primitive.name)
            .in_global_namespace()
            .with_params_info(info)
            .with_comments(comments)
            .set_into_module_raw(
                &mut module,
                type_ids,
                rhai::RhaiFunc::Pure {
                    func: rhai::Shared::new(func),
                    has_context: true,
                    is_pure: false,
                    is_volatile: true,
                },
            );
    }
    engine.register_global_module(module.into());
}

#[cfg(test)]
mod tests {
    use super::Shape;
    use crate::rules::error_code::ErrorCode;
    use rhai::Dynamic;

    /// M4's entry is stated by its contract; the examples' line and the rules' fixture say the same.
    #[test]
    fn the_m4_entry_of_examples_and_tests_is_the_contracts() {
        use crate::host::{Host, Mode};
        let contract = "import \"contract\" as m4;\ndeclare_entry(m4::entry());";
        // The hello example declares it in full, as a newcomer reads it: the same entry.
        let hello = include_str!("../../../examples/hello/hello.rhai");
        let start = hello.find("declare_entry(").unwrap();
        let hello_entry = &hello[start..start + hello[start..].find(");").unwrap() + 2];
        for script in [super::M4_ENTRY_EXAMPLE, contract, hello_entry] {
            let mode = Mode {
                plan: false,
                repl: false,
                json: false,
            };
            let host =
                std::sync::Arc::new(Host::new(None, mode, Default::default(), None).unwrap());
            let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/m4"));
            crate::script::engine::build(&host, root)
                .run(script)
                .unwrap();
            assert_eq!(
                host.declared_entry(),
                Some(&crate::rules::entry::m4_example()),
                "{script}"
            );
        }
    }

    /// Every catchable code is raised by some primitive and so documented beside it.
    #[test]
    fn every_error_code_is_listed_by_a_primitive() {
        for code in ErrorCode::ALL {
            let listed = super::all().any(|p| p.raised_codes().contains(code));
            assert!(listed, "no primitive lists {code}");
        }
    }

    /// What all_at_once may run beside others cannot stop a phase or call back into the script.
    #[test]
    fn every_options_map_states_its_keys_once() {
        for p in super::all() {
            let takes_options = p.params.iter().any(|(n, _)| *n == "options");
            assert_eq!(
                takes_options,
                !p.options.is_empty(),
                "{}: an options parameter and its option rows go together",
                p.name
            );
            let mut seen = std::collections::BTreeSet::new();
            for o in p.options {
                assert!(seen.insert(o.name), "{}: option {} twice", p.name, o.name);
                assert!(
                    !o.ty.is_empty() && !o.default.is_empty() && !o.meaning.is_empty(),
                    "{}: option {} is not described",
                    p.name,
                    o.name
                );
            }
        }
    }

    #[test]
    fn together_rows_never_gate_and_take_no_closure() {
        for p in super::all().filter(|p| p.together) {
            assert_ne!(p.failure, super::Failure::Gate, "{}", p.name);
            assert!(
                p.params.iter().all(|(_, t)| *t != super::Ty::Fn),
                "{} takes a closure",
                p.name
            );
            assert!(p.full_doc().contains("Runs in all_at_once."), "{}", p.name);
            assert!(!p.changes_world, "{} changes the world", p.name);
        }
        assert!(super::all().filter(|p| p.together).count() >= 10);
    }

    fn map(keys: &[&str]) -> Dynamic {
        keys.iter()
            .map(|k| ((*k).into(), Dynamic::UNIT))
            .collect::<rhai::Map>()
            .into()
    }

    #[test]
    fn an_outcome_keeps_its_shape_only_with_exactly_its_keys() {
        let shape = Shape::Outcome(&["outcome", "reason", "stream"]);
        assert!(shape
            .violations(&map(&["outcome", "reason", "stream"]))
            .is_empty());
        let broken = shape.violations(&map(&["outcome", "reason", "extra"]));
        assert_eq!(broken, vec![r#"missing ["stream"], extra ["extra"]"#]);
        assert_eq!(shape.violations(&Dynamic::from("x")).len(), 1);
        assert!(Shape::Value.violations(&Dynamic::from("x")).is_empty());
    }

    #[test]
    fn every_item_of_a_batch_keeps_the_item_shape() {
        let shape = Shape::PerItem(&["outcome", "reason"]);
        let good: rhai::Array = vec![map(&["outcome", "reason"]), map(&["outcome", "reason"])];
        assert!(shape.violations(&good.into()).is_empty());
        let mut by_name = rhai::Map::new();
        by_name.insert("a".into(), map(&["outcome", "reason"]));
        by_name.insert("b".into(), map(&["outcome"]));
        assert_eq!(
            shape.violations(&by_name.into()),
            vec![r#"item b: missing ["reason"], extra []"#]
        );
    }

    #[test]
    fn every_outcome_shape_leads_with_its_outcome() {
        for p in super::all() {
            if let Some(keys) = p.shape.keys() {
                assert_eq!(keys[0], "outcome", "{}", p.name);
                let why = keys.contains(&"reason") || keys.contains(&"error");
                assert!(why, "{} states no reason", p.name);
            }
        }
    }
}
