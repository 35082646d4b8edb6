//! Integration tests: the real `m4host` binary against the local substrate (moto on loopback).
//! Start it with tests/substrate/up.sh (tests/run.sh does).

mod aws_profiles;
mod bad_input;
mod changes_in_phases;
mod cli;
mod config_errors;
mod db_tls;
mod dying_servers;
mod ecs_truth;
mod evidence;
mod examples;
mod faults;
mod forensics;
mod gates;
mod guide;
mod handles;
mod harness;
mod infra;
mod judge_the_thing;
mod kafka_sasl;
mod least_privilege;
mod m3;
mod m5;
mod m6_example;
mod permissions;
mod probes;
mod repl;
mod reports;
mod runbook;
mod secrets;
mod secrets_by_value;
mod shapes;
mod substrate;
mod tape;
mod timeline;
mod waves;
