//! The shared substrate as tests reach it: SDK clients, the moto extension's control endpoints,
//! a service of a test's own on a cluster of its own, and the Kafka probe helper.

use super::support::{block_on, endpoint, unique};
use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair};
use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) const DEV_MIN_CLUSTER: &str = "fraud-platform-dev-min";
pub(crate) const DEV_MIN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dev_min");

pub(crate) struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

pub(crate) fn clients() -> &'static Clients {
    static C: OnceLock<Clients> = OnceLock::new();
    C.get_or_init(|| {
        super::aws(); // asserts the substrate answers
        let conf = block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-2"))
                .endpoint_url(endpoint())
                .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load(),
        );
        Clients {
            ecs: aws_sdk_ecs::Client::new(&conf),
            iam: aws_sdk_iam::Client::new(&conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
        }
    })
}

/// POSTs JSON to the moto extension's control endpoints.
pub(crate) fn control(path: &str, body: &serde_json::Value) -> serde_json::Value {
    let (status, answer) = control_answer(path, body);
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

/// A control request's HTTP status and JSON answer, whatever the status.
pub(crate) fn control_answer(path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let host = endpoint().trim_start_matches("http://").to_owned();
    let payload = body.to_string();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "POST /m4host-substrate/{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap())
}

pub(crate) fn state() -> serde_json::Value {
    let host = endpoint().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "GET /m4host-substrate/state HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap()
}

/// A cluster with one service (desired 0) of its own, with fast per-service timings.
pub(crate) struct OwnService {
    pub cluster: String,
    pub service: String,
    pub family: String,
    run_id: String,
}

impl OwnService {
    pub fn new(fault: Option<&str>) -> OwnService {
        OwnService::with_run_id(fault, "platform_x")
    }

    /// A service whose task definition carries REQUIRED_PLATFORM_RUN_ID=`run_id`.
    pub fn with_run_id(fault: Option<&str>, run_id: &str) -> OwnService {
        let c = clients();
        let own = OwnService {
            cluster: unique("sched"),
            service: unique("svc"),
            family: unique("td"),
            run_id: run_id.to_owned(),
        };
        block_on(async {
            c.ecs
                .create_cluster()
                .cluster_name(&own.cluster)
                .send()
                .await
                .unwrap();
            let td = own.register("v1").await;
            c.ecs
                .create_service()
                .cluster(&own.cluster)
                .service_name(&own.service)
                .task_definition(td)
                .desired_count(0)
                .send()
                .await
                .unwrap();
        });
        own.fault(fault);
        own
    }

    pub fn fault(&self, mode: Option<&str>) {
        self.fault_timed(
            mode,
            serde_json::json!({"start_delay": 0.2, "crash_after": 0.2, "restart_delay": 0.1}),
        );
    }

    /// A fault with timings of its own (seconds), for a state a test must see while it lasts.
    pub fn fault_timed(&self, mode: Option<&str>, timing: serde_json::Value) {
        control(
            "fault",
            &serde_json::json!({"cluster": self.cluster, "service": self.service, "mode": mode,
                "timing": timing}),
        );
    }

    pub async fn register(&self, version: &str) -> String {
        clients()
            .ecs
            .register_task_definition()
            .family(&self.family)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("daemon")
                    .image(format!("daemon:{version}"))
                    .memory(512)
                    .essential(true)
                    .environment(
                        KeyValuePair::builder()
                            .name("REQUIRED_PLATFORM_RUN_ID")
                            .value(&self.run_id)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_owned()
    }

    /// Points the service at another task definition (a deployment made outside m4host).
    pub fn deploy(&self, task_definition: &str) {
        block_on(
            clients()
                .ecs
                .update_service()
                .cluster(&self.cluster)
                .service(&self.service)
                .task_definition(task_definition)
                .send(),
        )
        .unwrap();
    }

    /// Registers a stand-in lane for the service on the test-only topic; returns its group.
    pub fn with_lane(&self, prefix: &str) -> String {
        let group = unique(prefix);
        kafka_probe_creating(&[TEST_TOPIC]);
        control(
            "lanes",
            &serde_json::json!({"cluster": self.cluster, "service": self.service, "group": group,
                "topics": [TEST_TOPIC], "bootstrap": "127.0.0.1:9092"}),
        );
        group
    }

    pub fn scale(&self, desired: i32) {
        block_on(
            clients()
                .ecs
                .update_service()
                .cluster(&self.cluster)
                .service(&self.service)
                .desired_count(desired)
                .send(),
        )
        .unwrap();
    }

    pub fn describe(&self) -> aws_sdk_ecs::types::Service {
        block_on(
            clients()
                .ecs
                .describe_services()
                .cluster(&self.cluster)
                .services(&self.service)
                .send(),
        )
        .unwrap()
        .services()[0]
            .clone()
    }

    pub fn tasks(
        &self,
        desired: aws_sdk_ecs::types::DesiredStatus,
    ) -> Vec<aws_sdk_ecs::types::Task> {
        let c = clients();
        let arns = block_on(
            c.ecs
                .list_tasks()
                .cluster(&self.cluster)
                .service_name(&self.service)
                .desired_status(desired)
                .send(),
        )
        .unwrap()
        .task_arns()
        .to_vec();
        if arns.is_empty() {
            return Vec::new();
        }
        block_on(
            c.ecs
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(arns))
                .send(),
        )
        .unwrap()
        .tasks()
        .to_vec()
    }

    /// Polls (no fixed sleep) until `done` holds or the deadline passes.
    pub fn wait_until(
        &self,
        what: &str,
        done: impl Fn(&aws_sdk_ecs::types::Service) -> bool,
    ) -> aws_sdk_ecs::types::Service {
        self.wait_until_within(what, Duration::from_secs(10), done)
    }

    pub fn wait_until_within(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&aws_sdk_ecs::types::Service) -> bool,
    ) -> aws_sdk_ecs::types::Service {
        let deadline = Instant::now() + within;
        loop {
            let s = self.describe();
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what} not reached: {s:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn kafka_probe() -> serde_json::Value {
    kafka_probe_creating(&[])
}

/// A topic only tests consume, so their stand-ins never look like duplicate consumers of a
/// dev_min lane to a runbook run on the same substrate.
pub(crate) const TEST_TOPIC: &str = "m4host.test.lane.v1";

pub(crate) fn kafka_probe_creating(topics: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/substrate/kafka_probe.py"
        ))
        .args(topics.iter().map(|t| format!("--create={t}")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
