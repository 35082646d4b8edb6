//! PostgreSQL over TLS as RDS is reached (issue 15), against private clusters that present the
//! substrate's test CA's server certificate (SAN localhost and 127.0.0.1): `verify-full` with that
//! CA and `require` pass M4.D; `verify-full` against an unrelated CA, or by an address the
//! certificate does not name, and `require` against a server without TLS each hold M4D-B1 with a
//! reason that names the cause. Runs are `--plan` rehearsals: M4.D probes for real and nothing is
//! started, so each case stops at what it is about.

use crate::harness::{tls_file, Outcome, PgSetup, PrivatePostgres, Tenant};
use serde_json::Value;

/// A tenant whose database is `db`, reached at `host`, with `[db]` set to `db_section`.
fn tenant(db: &PrivatePostgres, host: &str, db_section: &str) -> Tenant {
    let port = format!("port = {}", db.port);
    let host_line = format!("host = \"{host}\"");
    let t =
        Tenant::with_replacements(&[("port = 5432", &port), ("host = \"127.0.0.1\"", &host_line)]);
    t.edit("local.toml", "[db]\nsslmode = \"disable\"", db_section);
    t
}

fn section(mode: &str, ca: Option<&str>) -> String {
    match ca {
        Some(name) => format!(
            "[db]\nsslmode = \"{mode}\"\nca_file = \"{}\"",
            tls_file(name).display()
        ),
        None => format!("[db]\nsslmode = \"{mode}\""),
    }
}

fn phase_status(out: &Outcome, phase: &str) -> String {
    out.json()["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == phase)
        .map(|p| p["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The database probe M4.D recorded, from the local mirror of its snapshot.
fn database_row(out: &Outcome) -> Value {
    let local = out.json()["artifacts"]["m4_d_dependency_snapshot"]["local"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc: Value = serde_json::from_slice(&std::fs::read(local).unwrap()).unwrap();
    doc["database"].clone()
}

fn database_reason(out: &Outcome) -> String {
    out.json()["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == "M4D-B1" && b["reason"].as_str().unwrap().starts_with("database:"))
        .unwrap_or_else(|| panic!("no M4D-B1 for the database: {}", out.stdout))["reason"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn verify_full_with_the_ca_and_require_reach_a_tls_database() {
    let db = PrivatePostgres::start_with(&PgSetup {
        tls: true,
        second_address: false,
    });
    let t = tenant(&db, "127.0.0.1", &section("verify-full", Some("ca.pem")));
    let out = t.run(&["--plan"]);
    assert_eq!(phase_status(&out, "M4.D"), "PASS", "{}", out.stdout);
    let row = database_row(&out);
    assert_eq!(row["outcome"], "pass", "{row}");
    assert_eq!(row["tls"], true);
    assert_eq!(row["sslmode"], "verify-full");

    t.edit(
        "local.toml",
        &section("verify-full", Some("ca.pem")),
        &section("require", None),
    );
    crate::harness::next_execution_second(); // this tenant's second run: its own execution id
    let out = t.run(&["--plan"]);
    assert_eq!(phase_status(&out, "M4.D"), "PASS", "{}", out.stdout);
    assert_eq!(database_row(&out)["sslmode"], "require");
}

#[test]
fn verify_full_refuses_an_untrusted_ca_and_an_address_the_certificate_does_not_name() {
    let db = PrivatePostgres::start_with(&PgSetup {
        tls: true,
        second_address: true,
    });
    // Trusting only an unrelated CA: the server's chain does not verify.
    let t = tenant(
        &db,
        "127.0.0.1",
        &section("verify-full", Some("other-ca.pem")),
    );
    let out = t.run(&["--plan"]);
    assert_eq!(phase_status(&out, "M4.D"), "HOLD");
    let reason = database_reason(&out);
    assert!(
        reason.contains("certificate verify failed")
            && reason.contains(&db.port.to_string())
            && reason.contains("does not chain to a CA in [db] ca_file")
            && reason.contains("other-ca.pem"),
        "{reason}"
    );
    assert!(!reason.contains("mismatch"), "{reason}");

    // The right CA, but the server reached as 127.0.0.2, which its certificate does not name.
    let t = tenant(&db, "127.0.0.2", &section("verify-full", Some("ca.pem")));
    let out = t.run(&["--plan"]);
    assert_eq!(phase_status(&out, "M4.D"), "HOLD");
    let reason = database_reason(&out);
    assert!(
        reason.contains("certificate verify failed")
            && reason.contains("IP address mismatch")
            && reason.contains("does not name `127.0.0.2`"),
        "{reason}"
    );
}

#[test]
fn require_refuses_a_server_without_tls() {
    let db = PrivatePostgres::start_with(&PgSetup::default());
    let t = tenant(&db, "127.0.0.1", &section("require", None));
    let out = t.run(&["--plan"]);
    assert_eq!(phase_status(&out, "M4.D"), "HOLD");
    let reason = database_reason(&out);
    assert!(reason.contains("server does not support TLS"), "{reason}");
    // The same server without TLS asked of it: the probe passes, so the refusal was TLS's.
    t.edit(
        "local.toml",
        &section("require", None),
        &section("disable", None),
    );
    crate::harness::next_execution_second(); // this tenant's second run: its own execution id
    let out = t.run(&["--plan"]);
    assert_eq!(phase_status(&out, "M4.D"), "PASS", "{}", out.stdout);
}
