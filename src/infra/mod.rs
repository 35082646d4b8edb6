//! Adapters to the outside: AWS services through the SDK, Kafka through librdkafka, PostgreSQL, and
//! evidence on local disk and in S3. They take what they need as arguments (clients, cancellation)
//! and never reach up into the host or the engine.

pub mod aws;
pub mod db;
pub mod ecs;
pub mod ecs_tasks;
pub mod ecs_wait;
pub mod evidence;
pub mod iam;
pub mod kafka;
pub mod logs;
pub mod s3;
pub mod tape;
pub mod tape_http;
pub mod wait_clock;
