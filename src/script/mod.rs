//! Rhai as m4host embeds it: the engine with explicit limits and the uncatchable block, the
//! confined module resolver, and the primitive table (one row per primitive, by family) that
//! drives registration, `m4host doc`, editor definitions and the examples test. A primitive turns
//! script arguments into calls on the host (guards, run state, publication) and the adapters in
//! `infra`, and their answers back into Rhai values.

pub mod calls;
pub mod engine;
pub mod primitives;
pub mod resolver;
pub mod rhai_error;
pub mod wait_view;
