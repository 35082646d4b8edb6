//! Pure rules, no I/O and no Rhai: gates and the verdict ledger, ECS stability, the guarded update, one-shot tasks, the execution-id grammar,
//! the task definition's run-scope law, the entry precondition, secrets and their redaction, the value rule for secrets (`credential`),
//! the AWS permissions each primitive needs and the policy they make (`permissions`).
//! Unit-tested over documented response shapes.

pub mod consumers;
pub mod credential;
pub mod ecs_model;
pub mod entry;
pub mod error_code;
pub mod execution_id;
pub mod gate;
pub mod one_shot;
pub mod outcome;
pub mod permissions;
pub mod secret;
pub mod service_wait;
pub mod stability;
pub mod task_definition;
pub mod trust;
pub mod update_guard;
