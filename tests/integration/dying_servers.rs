//! Servers beyond AWS that die in the middle of a run (issue 12): a private tansu stopped while
//! M4.G reads consumer groups, and a private PostgreSQL stopped just before M4.D probes it. The
//! run is held at a known point by the fault proxy's `pause` rule (the S3 PUT of the snapshot of
//! the phase before), the server is stopped by its PID, and the run is let go: it must HOLD with
//! that phase's code and a reason that names the server, inside the probe's budget, and act no
//! further. No sleep decides the order; the pause does.

use crate::faults::{spawn_run_with, through, FaultProxy};
use crate::runbook::{assert_hold, Tenant};
use crate::support::Outcome;
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on now. A server started on it may still lose a race for it,
/// which `start` notices (the child exits) and answers with another port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// Starts `spawn(port)` on a free port until `ready(port)` holds (bounded), retrying on another
/// port when the child exits first (a port lost to a race).
fn start(
    what: &str,
    mut spawn: impl FnMut(u16) -> Child,
    ready: impl Fn(u16) -> bool,
) -> (Child, u16) {
    for _ in 0..3 {
        let port = free_port();
        let mut child = spawn(port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ready(port) {
                return (child, port);
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{what} did not start on a loopback port in three tries");
}

/// A tansu broker of this test's own (memory storage), from the binary up.sh installed.
struct PrivateKafka {
    child: Option<Child>,
    address: String,
}

impl PrivateKafka {
    fn start() -> PrivateKafka {
        let cache = std::env::var("M4HOST_CACHE")
            .unwrap_or_else(|_| format!("{}/.cache/m4host", std::env::var("HOME").unwrap()));
        let tansu = format!("{cache}/tansu/bin/tansu");
        let (child, port) = start(
            "tansu",
            |port| {
                let url = format!("tcp://127.0.0.1:{port}");
                Command::new(&tansu)
                    .args([
                        "broker",
                        "--listener-url",
                        &url,
                        "--advertised-listener-url",
                        &url,
                    ])
                    .args(["--storage-engine", "memory://tansu/"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("{tansu} (installed by up.sh): {e}"))
            },
            answers,
        );
        PrivateKafka {
            child: Some(child),
            address: format!("127.0.0.1:{port}"),
        }
    }

    /// Kills the broker (SIGKILL: a crash, not a drain) and waits for it to be gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL 15 cluster of this test's own: initdb into a temporary folder, run as the
/// postgres user on a free loopback port, password (SCRAM) logins over TCP like RDS.
struct PrivatePostgres {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = "/usr/lib/postgresql/15/bin";
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, "postgres"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        let init = Command::new(format!("{bin}/initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .current_dir(dir.path())
            .uid(uid)
            .gid(gid)
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let log = dir.path().join("postgres.log");
        let (child, port) = start(
            "postgresql",
            |port| {
                Command::new(format!("{bin}/postgres"))
                    .arg("-D")
                    .arg(&data)
                    .args(["-p", &port.to_string(), "-k", "/var/run/postgresql"])
                    .args(["-c", "listen_addresses=127.0.0.1"])
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .uid(uid)
                    .gid(gid)
                    .spawn()
                    .unwrap()
            },
            |port| {
                Command::new(format!("{bin}/pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            },
        );
        PrivatePostgres {
            child: Some(child),
            port,
            _dir: dir,
        }
    }

    /// Stops the server by its PID with a fast shutdown (SIGINT: sessions are cut, the
    /// postmaster exits) and waits for it to be gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs M4 through a proxy that holds the PUT of `snapshot`; when the run stands there, `stop`
/// runs, and the run is let go. Returns what the run showed and how long it took after the stop.
fn stop_at(t: &Tenant, snapshot: &str, stop: impl FnOnce()) -> (Outcome, Duration) {
    let proxy = FaultProxy::start();
    through(t, &proxy);
    proxy.rules(json!([{"service": "s3", "kind": "pause", "path_contains": snapshot}]));
    let child = spawn_run_with(t, &["soak_ms=300", "stabilization_interval_ms=200"]);
    proxy.wait_paused(Duration::from_secs(120));
    stop();
    let stopped = Instant::now();
    proxy.release();
    let out = Outcome::of(child.wait_with_output().unwrap());
    (out, stopped.elapsed())
}

fn blocker_reasons(out: &Outcome, code: &str) -> Vec<String> {
    out.json()["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["code"] == code)
        .map(|b| b["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn kafka_that_dies_before_m4g_reads_consumer_groups_holds_m4g_within_the_budget() {
    let mut kafka = PrivateKafka::start();
    let address = kafka.address.clone();
    let t = Tenant::with_replacements(&[("127.0.0.1:9092", &address)]);
    let (out, after) = stop_at(&t, "m4_f_daemon_start_snapshot", || kafka.stop());
    assert_hold(&out, "M4G-B1", "M4.G");
    let reasons = blocker_reasons(&out, "M4G-B1");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("consumer groups could not be read") && r.contains(&address)),
        "{reasons:?}"
    );
    // The Kafka calls are bounded by the attempt timeout (5 s in dev_min); the rest of the run
    // after the stop is M4.G's posture wait, M4.H/M4.I's publication.
    assert!(
        after < Duration::from_secs(45),
        "{after:?} after the broker died"
    );
}

#[test]
fn postgres_that_dies_before_m4d_probes_it_holds_m4d_within_the_budget() {
    let mut db = PrivatePostgres::start();
    let port = db.port.to_string();
    let t = Tenant::with_replacements(&[("port = 5432", &format!("port = {port}"))]);
    let (out, after) = stop_at(&t, "m4_c_iam_binding_snapshot", || db.stop());
    assert_hold(&out, "M4D-B1", "M4.D");
    let reasons = blocker_reasons(&out, "M4D-B1");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("database:") && r.contains(&port)),
        "{reasons:?}"
    );
    assert!(
        after < Duration::from_secs(45),
        "{after:?} after the database stopped"
    );
}
