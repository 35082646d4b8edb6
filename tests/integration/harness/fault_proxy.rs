//! The fault-injecting proxy (tests/substrate/fault_proxy.py) between the binary and moto, one
//! process per test, stopped by its PID; and pointing a tenant's environment through it.

use super::support::endpoint;
use super::tenant::Tenant;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// One proxy process for one test, stopped by its PID when dropped.
pub(crate) struct FaultProxy {
    child: std::process::Child,
    pub(crate) address: String,
}

impl FaultProxy {
    pub(crate) fn start() -> FaultProxy {
        let mut child = std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/substrate/fault_proxy.py"
            ))
            .args(["--upstream", &endpoint()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("fault proxy said {line:?}"))
            .to_owned();
        FaultProxy { child, address }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn request(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{response}");
        serde_json::from_str(body).unwrap()
    }

    pub(crate) fn rules(&self, rules: serde_json::Value) {
        self.request("POST", "/fault-proxy/rules", &rules.to_string());
    }

    pub(crate) fn stats(&self) -> serde_json::Value {
        self.request("GET", "/fault-proxy/stats", "")
    }

    /// Lets every request a `pause` rule holds go on.
    pub(crate) fn release(&self) {
        self.request("POST", "/fault-proxy/release", "");
    }

    /// Waits (bounded) until a `pause` rule holds a request: the run stands at that point.
    pub(crate) fn wait_paused(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.stats()["paused"].as_u64().unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "the run never reached the pause");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points a tenant's environment file at the proxy, with a 3 s poll-failure budget; the call
/// budgets stay as dev_min sets them (attempt 5 s, call 15 s), which the Kafka and PostgreSQL
/// probes of a loaded machine need too.
pub(crate) fn through(t: &Tenant, proxy: &FaultProxy) {
    t.edit(
        "local.toml",
        "endpoint_url = \"http://127.0.0.1:4566\"",
        &format!("endpoint_url = \"{}\"", proxy.url()),
    );
    let path = t.path("local.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[ecs]\npoll_failure_budget_ms = 3000\n");
    std::fs::write(path, text).unwrap();
}
