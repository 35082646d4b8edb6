//! Kafka: metadata reachability (brokers, cluster id, required topics, latency) and consumer groups
//! through the classic ListGroups/DescribeGroups path, with each member's subscribed topics decoded
//! from its consumer-protocol metadata. SASL_SSL with PLAIN for Confluent Cloud; PLAINTEXT locally.
//! Calls block (librdkafka), each bounded by a timeout; the host calls them off the async runtime.

use crate::rules::outcome::ProbeOutcome;
use crate::rules::secret::Secret;
use crate::sync::Locked;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Connection {
    pub bootstrap: String,
    /// `PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: String,
    pub username: Option<Secret>,
    pub password: Option<Secret>,
    /// CA bundle the brokers' certificates must chain to (`[kafka] ca_file`); else the system's.
    pub ca_file: Option<std::path::PathBuf>,
    pub timeout: Duration,
}

/// The client options every connection shares, stated once: bootstrap, protocol, timeouts and,
/// for SASL_SSL, PLAIN with the credentials and the CA bundle (host names verified, librdkafka's
/// default `ssl.endpoint.identification.algorithm=https`).
fn base_config(conn: &Connection) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &conn.bootstrap)
        .set("security.protocol", &conn.security_protocol)
        .set("socket.timeout.ms", conn.timeout.as_millis().to_string())
        .set(
            "socket.connection.setup.timeout.ms",
            conn.timeout.as_millis().max(1000).to_string(),
        )
        .set("log_level", "3");
    if conn.security_protocol == "SASL_SSL" {
        let (Some(user), Some(password)) = (&conn.username, &conn.password) else {
            return Err("SASL_SSL needs sasl_username and sasl_password (Secrets from SSM)".into());
        };
        config
            .set("sasl.mechanisms", "PLAIN")
            .set("sasl.username", user.expose())
            .set("sasl.password", password.expose())
            .set("ssl.endpoint.identification.algorithm", "https");
        if let Some(ca) = &conn.ca_file {
            if !ca.is_file() {
                return Err(format!(
                    "[kafka] ca_file {} is not a readable file",
                    ca.display()
                ));
            }
            config.set("ssl.ca.location", ca.display().to_string());
        }
    }
    Ok(config)
}

/// Keeps what librdkafka says went wrong on the wire (a TLS certificate refused, a SASL login
/// failed), which its API errors reduce to "broker transport failure": the operator needs the cause.
/// librdkafka never writes the SASL password into these.
#[derive(Default)]
pub struct Diagnosis {
    seen: Mutex<Vec<String>>,
}

impl Diagnosis {
    fn note(&self, what: String) {
        let mut seen = self.seen.locked();
        if !seen.contains(&what) && seen.len() < 8 {
            seen.push(what);
        }
    }

    /// The most telling cause seen: a TLS or SASL failure before any other.
    fn cause(&self) -> Option<String> {
        let seen = self.seen.locked();
        seen.iter()
            .find(|s| s.contains("SSL") || s.contains("SASL") || s.contains("uthentication"))
            .or_else(|| seen.first())
            .cloned()
    }
}

impl ClientContext for Diagnosis {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        ) {
            self.note(format!("{fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Diagnosis {}

type Client = BaseConsumer<Diagnosis>;

fn client(conn: &Connection) -> Result<Client, String> {
    base_config(conn)?
        .set("client.id", "m4host-probe")
        .create_with_context(Diagnosis::default())
        .map_err(|e| format!("cannot configure the Kafka client: {e}"))
}

/// `what` failed with `error`: said with the cause librdkafka reported on the wire, if any.
fn explain(consumer: &Client, what: String, error: KafkaError) -> String {
    // Errors reach the context when the client's queue is served.
    let _ = consumer.poll(Duration::ZERO);
    match consumer.context().cause() {
        Some(cause) => format!("{what}: {error}; {cause}"),
        None => format!("{what}: {error}"),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KafkaProbe {
    pub outcome: ProbeOutcome,
    pub bootstrap: String,
    pub security_protocol: String,
    pub brokers: Vec<String>,
    pub cluster_id: Option<String>,
    pub topics_present: Vec<String>,
    pub topics_missing: Vec<String>,
    pub latency_ms: u64,
    pub reason: String,
}

/// Fetches metadata once and judges the required topics.
pub fn probe(conn: &Connection, topics: &[String]) -> KafkaProbe {
    let started = Instant::now();
    let mut report = KafkaProbe {
        outcome: ProbeOutcome::Error,
        bootstrap: conn.bootstrap.clone(),
        security_protocol: conn.security_protocol.clone(),
        brokers: vec![],
        cluster_id: None,
        topics_present: vec![],
        topics_missing: vec![],
        latency_ms: 0,
        reason: String::new(),
    };
    let consumer = match client(conn) {
        Ok(c) => c,
        Err(why) => {
            report.reason = why;
            return report;
        }
    };
    let metadata = consumer.fetch_metadata(None, conn.timeout);
    report.latency_ms = started.elapsed().as_millis() as u64;
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            // Nothing answered within the budget: the dependency is not reachable.
            report.outcome = ProbeOutcome::Fail;
            report.reason = explain(
                &consumer,
                format!(
                    "no metadata from {} within {} ms",
                    conn.bootstrap,
                    conn.timeout.as_millis()
                ),
                e,
            );
            return report;
        }
    };
    report.brokers = metadata
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    report.cluster_id = consumer.client().fetch_cluster_id(conn.timeout);
    let existing: BTreeSet<&str> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.name())
        .collect();
    for t in topics {
        if existing.contains(t.as_str()) {
            report.topics_present.push(t.clone());
        } else {
            report.topics_missing.push(t.clone());
        }
    }
    if report.topics_missing.is_empty() {
        report.outcome = ProbeOutcome::Pass;
        report.reason = format!(
            "{} broker(s), {} required topic(s) present, metadata in {} ms",
            report.brokers.len(),
            report.topics_present.len(),
            report.latency_ms
        );
    } else {
        report.outcome = ProbeOutcome::Fail;
        report.reason = format!(
            "required topic(s) missing: {}",
            report.topics_missing.join(", ")
        );
    }
    report
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupMember {
    pub id: String,
    pub client_id: String,
    pub client_host: String,
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<GroupMember>,
    /// Topics the group holds committed offsets on (OffsetFetch): what it consumes, even when
    /// the broker returns no member metadata (tansu does not).
    pub committed_topics: Vec<String>,
}

/// Topics on which `group` has a committed offset, asked with OffsetFetch (no group join).
fn committed_topics(
    conn: &Connection,
    group: &str,
    partitions: &TopicPartitionList,
) -> Result<Vec<String>, String> {
    let consumer: Client = base_config(conn)?
        .set("client.id", "m4host-probe")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create_with_context(Diagnosis::default())
        .map_err(|e| e.to_string())?;
    let committed = consumer
        .committed_offsets(partitions.clone(), conn.timeout)
        .map_err(|e| format!("OffsetFetch for {group}: {e}"))?;
    let mut topics: Vec<String> = committed
        .elements()
        .iter()
        .filter(|e| matches!(e.offset(), Offset::Offset(n) if n >= 0))
        .map(|e| e.topic().to_owned())
        .collect();
    topics.dedup();
    Ok(topics)
}

/// Lists every group with its members (classic ListGroups + DescribeGroups) and the topics it
/// has committed offsets on: among `only` when given (a full broker's other topics are not
/// asked about), else among every topic.
pub fn groups(conn: &Connection, only: Option<&[String]>) -> Result<Vec<Group>, String> {
    let consumer = client(conn)?;
    let list = consumer.fetch_group_list(None, conn.timeout).map_err(|e| {
        explain(
            &consumer,
            format!("ListGroups/DescribeGroups on {}", conn.bootstrap),
            e,
        )
    })?;
    let metadata = consumer
        .fetch_metadata(None, conn.timeout)
        .map_err(|e| explain(&consumer, format!("metadata from {}", conn.bootstrap), e))?;
    let mut partitions = TopicPartitionList::new();
    for t in metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
        .filter(|t| only.is_none_or(|only| only.iter().any(|o| o == t.name())))
    {
        for p in t.partitions() {
            partitions.add_partition(t.name(), p.id());
        }
    }
    // OffsetFetch costs a client per group: ask only groups with live members (a group without
    // members consumes nothing), several at a time.
    let live: Vec<&str> = list
        .groups()
        .iter()
        .filter(|g| !g.members().is_empty())
        .map(|g| g.name())
        .collect();
    let mut committed: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for chunk in live.chunks(8) {
        let answers: Vec<(String, Result<Vec<String>, String>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|name| {
                    let partitions = &partitions;
                    scope
                        .spawn(move || (name.to_string(), committed_topics(conn, name, partitions)))
                })
                .collect();
            handles
                .into_iter()
                // A panic there has already ended the process (the E-DEFECT hook).
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for (name, topics) in answers {
            committed.insert(name, topics?);
        }
    }
    list.groups()
        .iter()
        .map(|g| {
            Ok(Group {
                committed_topics: committed.remove(g.name()).unwrap_or_default(),
                name: g.name().to_owned(),
                state: g.state().to_owned(),
                protocol_type: g.protocol_type().to_owned(),
                members: g
                    .members()
                    .iter()
                    .map(|m| GroupMember {
                        id: m.id().to_owned(),
                        client_id: m.client_id().to_owned(),
                        client_host: m.client_host().to_owned(),
                        topics: m
                            .metadata()
                            .and_then(subscribed_topics)
                            .or_else(|| m.assignment().and_then(assigned_topics))
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
        })
        .collect()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(out)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Option<String> {
        let len = self.i16()?;
        if len < 0 {
            return Some(String::new());
        }
        self.take(len as usize)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Topics in a consumer-protocol subscription (version, [topic], user data ...).
pub fn subscribed_topics(bytes: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader { bytes, at: 0 };
    r.i16()?;
    let n = r.i32()?;
    (0..n.max(0)).map(|_| r.string()).collect()
}

/// Topics in a consumer-protocol assignment (version, [topic, [partition]], user data).
pub fn assigned_topics(bytes: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader { bytes, at: 0 };
    r.i16()?;
    let n = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..n.max(0) {
        topics.push(r.string()?);
        let partitions = r.i32()?;
        r.take(4 * partitions.max(0) as usize)?;
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as i16).to_be_bytes().to_vec();
        v.extend(s.as_bytes());
        v
    }

    #[test]
    fn decodes_subscription_and_assignment() {
        let mut sub = 1i16.to_be_bytes().to_vec();
        sub.extend(2i32.to_be_bytes());
        sub.extend(string("fp.bus.control.v1"));
        sub.extend(string("fp.bus.rtdl.v1"));
        sub.extend((-1i32).to_be_bytes()); // no user data
        assert_eq!(
            subscribed_topics(&sub).unwrap(),
            vec!["fp.bus.control.v1", "fp.bus.rtdl.v1"]
        );

        let mut asg = 0i16.to_be_bytes().to_vec();
        asg.extend(1i32.to_be_bytes());
        asg.extend(string("fp.bus.audit.v1"));
        asg.extend(2i32.to_be_bytes());
        asg.extend(0i32.to_be_bytes());
        asg.extend(1i32.to_be_bytes());
        assert_eq!(assigned_topics(&asg).unwrap(), vec!["fp.bus.audit.v1"]);
        assert!(
            subscribed_topics(&[0]).is_none(),
            "truncated bytes are not a subscription"
        );
    }
}
