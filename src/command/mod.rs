//! The commands a user runs: the raw command line, `run`, `check`, `doc`, the REPL, `report`, `policy`, and the
//! shell's `completions` and `man`. Each builds what it needs from the layers below and turns
//! the outcome into an exit status.

pub mod check;
pub mod cli;
pub mod doc;
pub mod policy;
pub mod repl;
pub mod replay;
pub mod report;
pub mod run;
pub mod shell;
