//! The test harness, apart from the topic files (as `just` keeps `tests/test.rs`): the builder
//! that runs the real binary and checks what the operator sees (`support`), tenants of dev_min
//! (`tenant`), the shared substrate's clients and controls (`substrate`), the fault proxy, private
//! servers (a Kafka or PostgreSQL a test may stop), a moto that enforces IAM, and a real terminal.
//! A topic file imports from here and defines no builder or server of its own.

mod fault_proxy;
mod servers;
mod substrate;
mod support;
mod tenant;
mod tmux;

pub(crate) use fault_proxy::*;
pub(crate) use servers::*;
pub(crate) use substrate::*;
pub(crate) use support::*;
pub(crate) use tenant::*;
pub(crate) use tmux::*;
