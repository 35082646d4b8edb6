//! The commands a user runs: the raw command line, `run`, `check`, `doc` and the REPL. Each builds
//! what it needs from the layers below and turns the outcome into an exit status.

pub mod check;
pub mod cli;
pub mod doc;
pub mod repl;
pub mod run;
