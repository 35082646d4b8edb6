//! Kafka and PostgreSQL reachability primitives. Credentials are Secrets (from `ssm_secret` or a
//! secret handle); a plain string where a password belongs is refused so it cannot leak by habit.

use super::options::Options;
use super::{opt, Args, Failure, OptionDoc, Primitive, Shape, Ty};
use crate::config::{DbSslMode, KafkaSecurityProtocol};
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use rhai::{Dynamic, NativeCallContext};
use std::collections::BTreeMap;
use std::time::Duration;

const KAFKA_OPTIONS: &[OptionDoc] = &[
    opt(
        "bootstrap",
        "String (host:port,…)",
        "required",
        "the brokers to ask",
    ),
    opt(
        "security_protocol",
        "String",
        "[kafka] security_protocol",
        "SASL_SSL or PLAINTEXT",
    ),
    opt(
        "sasl_username",
        "Secret",
        "none",
        "SASL PLAIN user (a Secret, never plaintext)",
    ),
    opt(
        "sasl_password",
        "Secret",
        "none",
        "SASL PLAIN password (a Secret, never plaintext)",
    ),
    opt(
        "topics",
        "Array of String",
        "required by kafka_probe; every topic for kafka_groups",
        "kafka_probe: the topics that must exist; kafka_groups: the topics whose committed \
         offsets are read (a group consuming only others is listed without them)",
    ),
    opt(
        "timeout_ms",
        "Int (ms)",
        "[budgets] call_timeout_ms",
        "how long the broker may take",
    ),
];

const DB_OPTIONS: &[OptionDoc] = &[
    opt(
        "endpoint",
        "String (host:port)",
        "none",
        "where the database listens (or host and port)",
    ),
    opt(
        "host",
        "String",
        "none",
        "the host, when endpoint is not given",
    ),
    opt(
        "port",
        "Int",
        "5432",
        "the port, when endpoint is not given",
    ),
    opt("dbname", "String", "required", "the database"),
    opt("user", "String", "required", "the login role"),
    opt(
        "password",
        "Secret",
        "required",
        "its password (a Secret, never plaintext)",
    ),
    opt(
        "sslmode",
        "String",
        "[db] sslmode",
        "disable, require, or verify-full (with [db] ca_file)",
    ),
    opt(
        "timeout_ms",
        "Int (ms)",
        "[budgets] call_timeout_ms",
        "how long login and select 1 may take",
    ),
];

fn kafka_connection(host: &Host, o: &Options) -> Outcome<crate::infra::kafka::Connection> {
    let default_protocol = match host.environment().map(|c| c.kafka_security_protocol) {
        Some(KafkaSecurityProtocol::Plaintext) => "PLAINTEXT",
        _ => "SASL_SSL",
    };
    let protocol = o
        .text("security_protocol")?
        .unwrap_or_else(|| default_protocol.to_owned());
    if protocol != "PLAINTEXT" && protocol != "SASL_SSL" {
        return Err(Fail::error(
            ErrorCode::BadOption,
            format!("security_protocol `{protocol}`"),
            "use SASL_SSL or PLAINTEXT",
        ));
    }
    let timeout = host
        .environment()
        .map_or(Duration::from_secs(10), |c| c.budgets.attempt_timeout());
    let bootstrap: String = o.required("bootstrap")?;
    for broker in bootstrap.split(',') {
        host_port(broker, None, "bootstrap broker")?;
    }
    Ok(crate::infra::kafka::Connection {
        bootstrap,
        security_protocol: protocol,
        username: o.secret("sasl_username", true)?,
        password: o.secret("sasl_password", false)?,
        ca_file: host.environment().and_then(|c| c.kafka_ca_file.clone()),
        timeout: o.millis("timeout_ms", timeout)?,
    })
}

/// One `host:port` (`[v6]:port` too), the port 1-65535 or, when absent, `default_port`: the one
/// checker for every address a probe is given (issue #28: a port past 65535 once wrapped).
fn host_port(text: &str, default_port: Option<u16>, what: &str) -> Outcome<(String, u16)> {
    let bad = |why: &str| {
        Fail::error(
            ErrorCode::BadOption,
            format!("{what} `{text}` {why}"),
            "write HOST:PORT with a port from 1 to 65535",
        )
    };
    let text = text.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("has no closing `]`"))?;
        (h, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == ',')
    {
        return Err(bad("has no host"));
    }
    let port = match (port, default_port) {
        (Some(p), _) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("has no valid port"))?,
        (None, Some(d)) => d,
        (None, None) => return Err(bad("has no port")),
    };
    Ok((host.to_owned(), port))
}

fn kafka_probe(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let o = Options::new(args.map(0), "kafka_probe", KAFKA_OPTIONS)?;
    let conn = kafka_connection(host, &o)?;
    let topics = o.strings("topics")?;
    host.calls().add("kafka");
    let key = format!(
        "kafka probe {} {} {topics:?}",
        conn.bootstrap, conn.security_protocol
    );
    if let Some(answer) = replayed_probe(host, &key) {
        return Ok(from_json(&answer));
    }
    let report = crate::host::json::record(&crate::infra::kafka::probe(&conn, &topics));
    record_probe(host, key, &report);
    Ok(from_json(&report))
}

/// A probe's report on the run's tape (issue #25), by what it asked (never a credential).
fn record_probe(host: &Host, key: String, answer: &serde_json::Value) {
    host.record(|seq| crate::infra::tape::Entry::Probe {
        seq,
        key,
        answer: answer.clone(),
    });
}

/// In a replay, the probe's recorded report (in recorded order, then the last again); one the
/// tape does not hold is an error outcome naming the nearest recorded, never a pass.
fn replayed_probe(host: &Host, key: &str) -> Option<serde_json::Value> {
    let tape = host.tape().filter(|t| t.replaying())?;
    Some(match tape.answer(key) {
        Ok(crate::infra::tape::Entry::Probe { answer, .. }) => answer,
        Ok(_) => serde_json::json!({"outcome": ProbeOutcome::Error,
            "reason": format!("the tape holds no probe report for {key}")}),
        Err(missing) => serde_json::json!({"outcome": ProbeOutcome::Error,
            "reason": missing.to_string()}),
    })
}

fn kafka_groups(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let o = Options::new(args.map(0), "kafka_groups", KAFKA_OPTIONS)?;
    let conn = kafka_connection(host, &o)?;
    host.calls().add("kafka");
    let only = o.get("topics").map(|_| o.strings("topics")).transpose()?;
    let mut key = format!("kafka groups {} {}", conn.bootstrap, conn.security_protocol);
    if let Some(topics) = &only {
        key.push_str(&format!(" {topics:?}"));
    }
    if let Some(answer) = replayed_probe(host, &key) {
        return Ok(from_json(&answer));
    }
    let value = match crate::infra::kafka::groups(&conn, only.as_deref()) {
        Ok(groups) => {
            let mut by_topic: BTreeMap<String, Vec<String>> = BTreeMap::new();
            // Live consumers only: a group without members keeps its offsets but consumes nothing.
            for g in groups.iter().filter(|g| !g.members.is_empty()) {
                for t in g
                    .members
                    .iter()
                    .flat_map(|m| &m.topics)
                    .chain(&g.committed_topics)
                {
                    let list = by_topic.entry(t.clone()).or_default();
                    if !list.contains(&g.name) {
                        list.push(g.name.clone());
                    }
                }
            }
            serde_json::json!({
                "outcome": ProbeOutcome::Pass,
                "reason": format!("{} group(s)", groups.len()),
                "groups": groups.iter().map(|g| (g.name.clone(), g)).collect::<BTreeMap<_, _>>(),
                "consumers_by_topic": by_topic,
            })
        }
        Err(why) => {
            serde_json::json!({"outcome": ProbeOutcome::Error, "reason": why, "groups": {}, "consumers_by_topic": {}})
        }
    };
    record_probe(host, key, &value);
    Ok(from_json(&value))
}

fn db_probe(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let o = Options::new(args.map(0), "db_probe", DB_OPTIONS)?;
    let (mut host_name, mut port) = (o.text("host")?, 5432u16);
    if let Some(endpoint) = o.text("endpoint")? {
        let (h, p) = host_port(&endpoint, Some(5432), "endpoint")?;
        host_name = Some(h);
        port = p;
    }
    if let Some(p) = o.get("port") {
        port = p
            .as_int()
            .ok()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| Fail::error(ErrorCode::BadOption, "port must be 1-65535", ""))?;
    }
    let config = host.environment();
    let sslmode = match o.text("sslmode")?.as_deref() {
        None => config.map_or(DbSslMode::Require, |c| c.db_sslmode),
        Some("disable") => DbSslMode::Disable,
        Some("require") => DbSslMode::Require,
        Some("verify-full") => DbSslMode::VerifyFull,
        Some(other) => {
            return Err(Fail::error(
                ErrorCode::BadOption,
                format!("sslmode `{other}`"),
                "use disable, require or verify-full",
            ))
        }
    };
    let password = o.secret("password", false)?.ok_or_else(|| {
        Fail::error(
            ErrorCode::BadOption,
            "db_probe needs `password` (a Secret)",
            "",
        )
    })?;
    let target = crate::infra::db::Target {
        host: host_name.ok_or_else(|| {
            Fail::error(
                ErrorCode::BadOption,
                "db_probe needs `endpoint` or `host`",
                "",
            )
        })?,
        port,
        dbname: o.required("dbname")?,
        user: o.required("user")?,
        password,
        sslmode,
        ca_file: config.and_then(|c| c.db_ca_file.clone()),
        timeout: o.millis(
            "timeout_ms",
            config.map_or(Duration::from_secs(5), |c| c.budgets.connect_timeout()),
        )?,
    };
    host.calls().add("postgres");
    let key = format!(
        "postgres probe {}:{}/{} as {} ({:?})",
        target.host, target.port, target.dbname, target.user, target.sslmode
    );
    if let Some(answer) = replayed_probe(host, &key) {
        return Ok(from_json(&answer));
    }
    let report = crate::host::json::record(&host.call(crate::infra::db::probe(&target))?);
    record_probe(host, key, &report);
    Ok(from_json(&report))
}

/// `value` (a Rhai map) read as `T`, or BAD_ARGUMENT naming `what`.
fn read_as<T: serde::de::DeserializeOwned>(value: &Dynamic, what: &str) -> Outcome<T> {
    let json = crate::host::json::to_json(value, what)
        .map_err(|e| Fail::error(ErrorCode::BadArgument, format!("{what}: {e}"), ""))?;
    serde_json::from_value(json).map_err(|e| {
        Fail::error(
            ErrorCode::BadArgument,
            format!("{what} is not what kafka_groups / ecs_wait_stable report: {e}"),
            "",
        )
    })
}

fn lane_consumers(_: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    use crate::rules::consumers::{judge, GroupView, OwnTask};
    let groups: BTreeMap<String, GroupView> = read_as(&args.any(0), "groups")?;
    let owners: BTreeMap<String, Vec<String>> = read_as(&args.any(1), "owners")?;
    let topics: Vec<String> = read_as(&args.any(2), "lane_topics")?;
    let owners: BTreeMap<String, Vec<OwnTask>> = owners
        .into_iter()
        .map(|(service, arns)| (service, arns.iter().map(|a| OwnTask::of_arn(a)).collect()))
        .collect();
    let (rows, conflicts) = judge(&groups, &owners, &topics);
    let value = serde_json::json!({ "groups": rows, "conflicts": conflicts });
    Ok(from_json(&value))
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "kafka_probe",
        params: &[("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "bootstrap", "security_protocol", "brokers", "cluster_id", "topics_present", "topics_missing", "latency_ms"]),
        doc: "Kafka metadata reachability: the brokers answer and every topic asked for exists. \
              An unreachable broker or a missing topic is fail.",
        example: "let p = kafka_probe(#{ bootstrap: \"127.0.0.1:9092\", security_protocol: \"PLAINTEXT\", topics: [\"fp.bus.control.v1\"] });\nprint(p.outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::BadOption, ErrorCode::NotASecret, ErrorCode::Interrupted],
        options: KAFKA_OPTIONS,
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[],
        call: kafka_probe,
    },
    Primitive {
        name: "kafka_groups",
        params: &[("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "groups", "consumers_by_topic"]),
        doc: "Consumer groups through the classic ListGroups/DescribeGroups path (same \
              connection options as kafka_probe); groups: name -> #{name, state, \
              protocol_type, members: [#{id, client_id, client_host, topics}], \
              committed_topics}, consumers_by_topic: topic -> [group with live members] (from \
              member metadata and committed offsets).",
        example: "let g = kafka_groups(#{ bootstrap: \"127.0.0.1:9092\", security_protocol: \"PLAINTEXT\" });\nprint(g.outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::BadOption, ErrorCode::NotASecret, ErrorCode::Interrupted],
        options: KAFKA_OPTIONS,
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[],
        call: kafka_groups,
    },
    Primitive {
        name: "db_probe",
        params: &[("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "host", "port", "dbname", "user", "sslmode", "tls", "server_version", "latency_ms"]),
        doc: "PostgreSQL login and `select 1`. A wrong password or an unreachable host is fail.",
        example: "let pw = ssm_secret(\"/fraud-platform/dev_min/db/password\");\nlet d = db_probe(#{ endpoint: \"127.0.0.1:5432\", dbname: \"fraud_platform\", user: \"fraud_app\", password: pw, sslmode: \"disable\" });\nprint(d.outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::BadOption, ErrorCode::NotASecret, ErrorCode::Interrupted],
        options: DB_OPTIONS,
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[],
        call: db_probe,
    },
    Primitive {
        name: "lane_consumers",
        params: &[("groups", Ty::Map), ("owners", Ty::Map), ("lane_topics", Ty::Array)],
        returns: "Map",
        shape: Shape::Value,
        doc: "Consumer uniqueness judged from each member's identity (pure, no I/O): groups as \
              kafka_groups reports them, owners (service name -> the ARNs of its RUNNING tasks), \
              lane_topics. A group named after an owner may hold at most one live member, and it \
              must be one of that service's tasks (its Kafka client id carries the task id; where \
              the broker gives no client id, the member id, built as client.id-UUID, stands in); \
              any other group on a lane topic consumes in parallel with the daemons. Returns \
              #{groups: [#{group, state, members, member_ids, topics, member_tasks}], \
              conflicts: [#{group, reason}]}.",
        example: "let groups = #{ \"svc-a\": #{ state: \"Stable\", members: [#{ id: \"manual-1b4e28ba-2fa1-11d2-883f-0016d3cca427\", client_id: \"\", client_host: \"\", topics: [\"lane.v1\"] }], committed_topics: [] } };\nlet r = lane_consumers(groups, #{ \"svc-a\": [\"arn:aws:ecs:eu-west-2:1:task/c/0b9e1f2c\"] }, [\"lane.v1\"]);\nprint(r.conflicts.len());",
        example_exit: 0,
        example_prints: &["1"],
        raises: &[ErrorCode::BadArgument],
        options: &[],
        failure: Failure::Catchable,
        together: false,
        changes_world: false,
        aws: &[],
        call: lane_consumers,
    },
];

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn one_checker_for_host_and_port() {
        assert_eq!(
            host_port("127.0.0.1:9092", None, "b").ok(),
            Some(("127.0.0.1".into(), 9092))
        );
        assert_eq!(
            host_port("[::1]:5432", None, "b").ok(),
            Some(("::1".into(), 5432))
        );
        assert_eq!(
            host_port("db.internal", Some(5432), "e").ok(),
            Some(("db.internal".into(), 5432))
        );
        for bad in [
            "127.0.0.1:99999",
            "127.0.0.1:0",
            "127.0.0.1:",
            ":9092",
            "h:p",
            "[::1",
            "a b:1",
        ] {
            assert!(host_port(bad, None, "b").is_err(), "{bad}");
        }
        assert!(
            host_port("kafka", None, "b").is_err(),
            "a broker needs a port"
        );
    }
}
