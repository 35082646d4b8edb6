//! The primitive table: every function the host gives scripts, described once — name, parameters,
//! return shape, doc, a runnable example and its failure class. The same rows drive Rhai
//! registration, `m4host doc`, the `.d.rhai` editor definitions and the examples test.
//!
//! Each row's `call` is a thin adapter from Rhai arguments to a `Host` operation.

mod core;
mod ecs;
mod iam;
mod net;
mod storage;

use crate::host::{Host, Outcome};
use rhai::{Dynamic, FnPtr, ImmutableString, NativeCallContext};
use std::any::TypeId;
use std::sync::Arc;

/// Every primitive, in reference order: one table, assembled from one slice per family.
pub fn all() -> impl Iterator<Item = &'static Primitive> {
    core::PRIMITIVES
        .iter()
        .chain(ecs::PRIMITIVES)
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

pub type Call = fn(&Host, &NativeCallContext, &mut Args) -> Outcome<Dynamic>;

pub struct Primitive {
    pub name: &'static str,
    pub params: &'static [(&'static str, Ty)],
    pub returns: &'static str,
    pub doc: &'static str,
    /// A complete script, run by the examples test against the test environment.
    pub example: &'static str,
    /// The exit status that example ends with.
    pub example_exit: i32,
    pub failure: Failure,
    pub call: Call,
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
            primitive.doc,
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
        let func = move |ctx: Option<NativeCallContext>,
                         args: &mut [&mut Dynamic]|
              -> Result<Dynamic, Box<rhai::EvalAltResult>> {
            let ctx = ctx.expect("primitives are registered with a call context");
            call(&host, &ctx, &mut Args::new(args))
                .map_err(|fail| host.to_rhai_error(fail, name, ctx.call_position()))
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
