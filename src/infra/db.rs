//! PostgreSQL reachability: TLS per sslmode (disable, require = encrypted without verification as
//! libpq does, verify-full = CA bundle and host name), SCRAM login, `select 1`, server version and
//! latency. Every step is bounded by the connect timeout; a wrong password or an unreachable host
//! is a fail with the server's reason, never a hang.

use crate::config::DbSslMode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::secret::Secret;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Secret,
    pub sslmode: DbSslMode,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct DbProbe {
    pub outcome: ProbeOutcome,
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub sslmode: String,
    pub tls: bool,
    pub server_version: Option<String>,
    pub latency_ms: u64,
    pub reason: String,
}

fn tls(target: &Target) -> Result<postgres_openssl::MakeTlsConnector, String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    match target.sslmode {
        DbSslMode::VerifyFull => {
            let ca = target
                .ca_file
                .as_ref()
                .ok_or("sslmode verify-full needs [db] ca_file (the RDS CA bundle)")?;
            builder
                .set_ca_file(ca)
                .map_err(|e| format!("cannot load CA bundle {}: {e}", ca.display()))?;
            builder.set_verify(SslVerifyMode::PEER);
        }
        _ => builder.set_verify(SslVerifyMode::NONE),
    }
    Ok(postgres_openssl::MakeTlsConnector::new(builder.build()))
}

/// What an operator does about a refused certificate (OpenSSL's words are exact but terse).
fn tls_hint(target: &Target, cause: &str) -> String {
    if !cause.contains("certificate verify failed") {
        return String::new();
    }
    if cause.contains("mismatch") {
        format!(
            " (the server's certificate does not name `{}`: connect by a name it carries, for RDS the instance endpoint)",
            target.host
        )
    } else {
        format!(
            " (the server's certificate does not chain to a CA in [db] ca_file {}: use the RDS CA bundle of its region)",
            target
                .ca_file
                .as_ref()
                .map_or("(none)".to_owned(), |p| p.display().to_string())
        )
    }
}

pub async fn probe(target: &Target) -> DbProbe {
    let started = Instant::now();
    let mut report = DbProbe {
        outcome: ProbeOutcome::Error,
        host: target.host.clone(),
        port: target.port,
        dbname: target.dbname.clone(),
        user: target.user.clone(),
        sslmode: target.sslmode.as_str().to_owned(),
        tls: target.sslmode != DbSslMode::Disable,
        server_version: None,
        latency_ms: 0,
        reason: String::new(),
    };
    let mut config = tokio_postgres::Config::new();
    config
        .host(&target.host)
        .port(target.port)
        .dbname(&target.dbname)
        .user(&target.user)
        .password(target.password.expose())
        .application_name("m4host-probe")
        .connect_timeout(target.timeout)
        .ssl_mode(match target.sslmode {
            DbSslMode::Disable => tokio_postgres::config::SslMode::Disable,
            _ => tokio_postgres::config::SslMode::Require,
        });
    let attempt = async {
        let (client, connection) = if target.sslmode == DbSslMode::Disable {
            let (c, conn) = config.connect(tokio_postgres::NoTls).await?;
            (
                c,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        } else {
            let connector = match tls(target) {
                Ok(c) => c,
                Err(why) => return Ok(Err(why)),
            };
            let (c, conn) = config.connect(connector).await?;
            (
                c,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        };
        let one: i32 = client.query_one("select 1", &[]).await?.get(0);
        let version: String = client.query_one("show server_version", &[]).await?.get(0);
        drop(client);
        connection.abort();
        Ok::<_, tokio_postgres::Error>(Ok((one, version)))
    };
    match tokio::time::timeout(target.timeout * 2, attempt).await {
        Err(_) => {
            report.outcome = ProbeOutcome::Fail;
            report.reason = format!(
                "no answer from {}:{} within {} ms",
                target.host,
                target.port,
                (target.timeout * 2).as_millis()
            );
        }
        Ok(Ok(Ok((1, version)))) => {
            report.outcome = ProbeOutcome::Pass;
            report.reason = format!(
                "logged in as {} and ran select 1 (PostgreSQL {version})",
                target.user
            );
            report.server_version = Some(version);
        }
        Ok(Ok(Ok((other, _)))) => report.reason = format!("select 1 returned {other}"),
        Ok(Ok(Err(config_problem))) => report.reason = config_problem,
        Ok(Err(e)) => {
            report.outcome = ProbeOutcome::Fail;
            // The server is named: an operator reading "connection refused" must see which.
            let cause = match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => format!(
                    "{e}{}",
                    std::error::Error::source(&e)
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
            };
            report.reason = format!(
                "{}:{}/{} as {}: {cause}{}",
                target.host,
                target.port,
                target.dbname,
                target.user,
                tls_hint(target, &cause)
            );
        }
    }
    report.latency_ms = started.elapsed().as_millis() as u64;
    report
}
