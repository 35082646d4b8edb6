//! `m4host report` (issue 16): an execution's evidence read back from S3, every artifact checked
//! against the hash chain of the later ones and the local mirror, the bring-up timeline printed
//! and drawn as SVG; the SVG rendered by a real browser (Debian's headless Chromium) and the
//! screenshot checked for the bars; evidence changed or deleted after the run named, exit 1.

use crate::harness::{report, Tenant};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The seconds after t0 of one timeline column (`+1.5s`), none for `-`.
fn offset(cell: &str) -> Option<f64> {
    cell.strip_prefix('+')?.strip_suffix('s')?.parse().ok()
}

/// Renders `svg` in headless Chromium to a PNG and returns (distinct colours, share of pixels
/// that are not white, pixels of the soak colour). The browser is started by this test, waited
/// for within a bound and killed by its PID if it overruns.
fn screenshot(svg: &Path, dir: &Path) -> (usize, f64, usize) {
    let png = dir.join("timeline.png");
    let profile = tempfile::tempdir().unwrap();
    let mut browser = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1000,700",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium (tests/substrate/up.sh installs Debian's package)");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = browser.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!("chromium did not finish its screenshot in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    const COUNT: &str = r#"
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
pixels = list(img.getdata())
colours = len(set(pixels))
inked = sum(1 for p in pixels if p != (255, 255, 255)) / len(pixels)
soak = sum(1 for p in pixels if p == (0x16, 0xa3, 0x4a))
print(colours, inked, soak)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", COUNT])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<&str> = text.split_whitespace().collect();
    (
        v[0].parse().unwrap(),
        v[1].parse().unwrap(),
        v[2].parse().unwrap(),
    )
}

/// The timeline's rows in the report's text: service -> its cells.
fn timeline_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("bring-up timeline:"))
        .skip(2)
        .take_while(|l| l.starts_with("  ") && l.contains('|'))
        .map(|l| {
            l.split('|')
                .next()
                .unwrap()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn report_verifies_an_advance_draws_its_timeline_and_names_changed_evidence() {
    let t = Tenant::new();
    let run = t.run(&[]);
    run.status(0);
    let summary = run.json();
    let execution = summary["execution_id"].as_str().unwrap().to_owned();
    let written = summary["artifacts"]
        .as_array()
        .map_or_else(|| summary["artifacts"].as_object().unwrap().len(), Vec::len);
    let svg = t.path("timeline.svg");
    let out = report(&t, &execution, &["--svg", svg.to_str().unwrap()]);
    out.status(0)
        .stdout_has("verdict    ADVANCE_TO_M5")
        .stdout_has(&format!("result: all {written} artifact(s) verify"));
    assert!(
        !out.stdout.contains("PROBLEM"),
        "every artifact verifies:\n{}",
        out.stdout
    );
    // The run's tape is listed with the SHA-256 its summary stated (issue #25).
    let tape = &summary["tape"];
    out.stdout_has(&format!(
        "  {}  sha256 {}  ",
        tape["path"].as_str().unwrap(),
        tape["sha256"].as_str().unwrap()
    ));
    // Every service of the plan's map is on the timeline, in order of its steps.
    let rows = timeline_rows(&out.stdout);
    assert_eq!(rows.len(), 13, "13 daemons:\n{}", out.stdout);
    for row in &rows {
        // service wave sent pending running healthy stable outcome
        let [sent, pending, running, stable] = [2, 3, 4, 6].map(|i| offset(&row[i]));
        let (sent, pending, running, stable) = (
            sent.expect("sent"),
            pending.expect("pending"),
            running.expect("running"),
            stable.expect("stable"),
        );
        assert!(
            sent <= pending + 5.0 && pending <= running && running <= stable + 0.1,
            "{row:?}"
        );
        assert_eq!(row[7], "stable", "{row:?}");
    }
    let waves: Vec<i64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(
        waves.windows(2).all(|w| w[0] <= w[1]),
        "pack order {waves:?}"
    );

    // A real browser draws it: bars in several colours, the soak green among them.
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    let (colours, inked, soak) = screenshot(&svg, &t.path(""));
    assert!(colours >= 6, "only {colours} colour(s) in the screenshot");
    assert!(
        inked > 0.02,
        "the screenshot is nearly blank ({inked:.4} inked)"
    );
    assert!(soak > 100, "no soak bar drawn ({soak} pixels)");

    // Evidence changed after the run: the chain of every later artifact names it.
    let keys = t.bucket_keys();
    let c_key = keys
        .iter()
        .find(|k| k.ends_with("/m4_c_iam_binding_snapshot.json"))
        .unwrap()
        .clone();
    let mut doc: Value = serde_json::from_slice(&t.object(&c_key)).unwrap();
    doc["overall_pass"] = Value::Bool(true);
    doc["note"] = Value::String("edited".into());
    t.put_object(&c_key, &serde_json::to_vec(&doc).unwrap());
    let e_key = keys
        .iter()
        .find(|k| k.ends_with("/m4_e_launch_contract_snapshot.json"))
        .unwrap()
        .clone();
    t.delete_object(&e_key);
    let tampered = report(&t, &execution, &[]);
    tampered
        .status(1)
        .stdout_has("the evidence does not verify")
        .stdout_has("m4_c_iam_binding_snapshot: changed after it was written")
        .stdout_has("m4_c_iam_binding_snapshot: the local mirror's copy differs")
        .stdout_has("m4_e_launch_contract_snapshot: missing:");

    // Not an execution id: a usage error, before any network.
    report(&t, "m4-2026", &[])
        .status(2)
        .stderr_has("is not an execution id");
}
