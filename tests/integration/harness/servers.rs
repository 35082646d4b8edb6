//! Servers of a test's own, beside the shared substrate: a tansu broker and a PostgreSQL 15
//! cluster on free loopback ports, started from the binaries up.sh installed and stopped by their
//! PIDs (when dropped at the latest).

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
pub(crate) struct PrivateKafka {
    child: Option<Child>,
    pub(crate) address: String,
}

impl PrivateKafka {
    pub(crate) fn start() -> PrivateKafka {
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
    pub(crate) fn stop(&mut self) {
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

/// How a private PostgreSQL is set up.
#[derive(Default)]
pub(crate) struct PgSetup {
    /// TLS with the substrate's test CA's server certificate (SAN localhost and 127.0.0.1);
    /// without it the server answers no to TLS, as a server with `ssl = off` does.
    pub(crate) tls: bool,
    /// Also listen on 127.0.0.2: the same server under an address its certificate does not name.
    pub(crate) second_address: bool,
}

/// The substrate's test CA folder (tests/substrate/up.sh makes it).
pub(crate) fn tls_file(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/substrate/.state/tls"
    ))
    .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run tests/substrate/up.sh",
        path.display()
    );
    path
}

/// A PostgreSQL 15 cluster of this test's own: initdb into a temporary folder, run as the
/// postgres user on a free loopback port, password (SCRAM) logins over TCP like RDS.
pub(crate) struct PrivatePostgres {
    child: Option<Child>,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub(crate) fn start() -> PrivatePostgres {
        PrivatePostgres::start_with(&PgSetup::default())
    }

    pub(crate) fn start_with(setup: &PgSetup) -> PrivatePostgres {
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
        let mut settings = vec![format!(
            "listen_addresses={}",
            if setup.second_address {
                "127.0.0.1,127.0.0.2"
            } else {
                "127.0.0.1"
            }
        )];
        if setup.tls {
            // The server's key must belong to its user and be private to it.
            for (name, mode) in [("server.pem", 0o644), ("server.key", 0o600)] {
                let to = dir.path().join(name);
                std::fs::copy(tls_file(name), &to).unwrap();
                std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .unwrap();
            }
            settings.push("ssl=on".into());
            settings.push(format!(
                "ssl_cert_file={}",
                dir.path().join("server.pem").display()
            ));
            settings.push(format!(
                "ssl_key_file={}",
                dir.path().join("server.key").display()
            ));
        } else {
            settings.push("ssl=off".into());
        }
        let log = dir.path().join("postgres.log");
        let (child, port) = start(
            "postgresql",
            |port| {
                Command::new(format!("{bin}/postgres"))
                    .arg("-D")
                    .arg(&data)
                    .args(["-p", &port.to_string(), "-k", "/var/run/postgresql"])
                    .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
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
    pub(crate) fn stop(&mut self) {
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
