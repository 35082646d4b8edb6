//! The bring-up timeline drawn from read-back evidence: every snapshot row that carries a
//! `timeline` (the waiter's `BringUpTimeline`: update sent, first task PENDING and RUNNING on
//! ECS's clock, first HEALTHY and stable on this host's), as text for a terminal and as a
//! self-contained SVG an operator attaches to a ticket. Pure: documents in, text out.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One service's bring-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub service: String,
    pub wave: Option<i64>,
    pub outcome: String,
    pub reason: String,
    pub sent: Option<DateTime<Utc>>,
    pub pending: Option<DateTime<Utc>>,
    pub running: Option<DateTime<Utc>>,
    pub healthy: Option<DateTime<Utc>>,
    pub stable_since: Option<DateTime<Utc>>,
    pub stable: Option<DateTime<Utc>>,
    pub failed: Option<DateTime<Utc>>,
    /// The last log lines of the newest task counted against the service (issue #26), with the
    /// stream they came from, or why there are none; empty when nothing stopped.
    pub last_words: Option<LastWords>,
}

/// A stopped task's last log lines as the F snapshot recorded them (already redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct LastWords {
    pub streams: Vec<String>,
    pub lines: Vec<String>,
    pub note: Option<String>,
}

/// The newest stop of `service` with a log tail, in its row or among the late failures.
fn last_words(doc: &Value, row: &Value, service: &str) -> Option<LastWords> {
    let late = doc
        .get("late_failures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("service").and_then(Value::as_str) == Some(service));
    let tail = std::iter::once(row)
        .chain(late)
        .flat_map(|r| {
            r.get("stops")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|stop| stop.get("log_tail").filter(|t| t.is_object()))
        .next_back()?;
    let strings = |k: &str| -> Vec<String> {
        tail.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    Some(LastWords {
        streams: strings("streams"),
        lines: strings("lines"),
        note: tail.get("note").and_then(Value::as_str).map(str::to_owned),
    })
}

/// How many of a task's last lines the terminal report shows (the snapshot keeps them all).
const SHOWN_LINES: usize = 10;

impl Lane {
    fn times(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        [
            self.sent,
            self.pending,
            self.running,
            self.healthy,
            self.stable_since,
            self.stable,
            self.failed,
        ]
        .into_iter()
        .flatten()
    }
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// When a late failure failed: M4.F's row says `failed_at`; the waiter's own row keeps it in its
/// `timeline`.
fn late_failed_at(row: &Value) -> Option<DateTime<Utc>> {
    time(row, "failed_at").or_else(|| row.get("timeline").and_then(|t| time(t, "failed_at")))
}

/// The lanes of every document's `services` rows that carry a timeline, in document order.
pub fn lanes<'a>(documents: impl IntoIterator<Item = &'a Value>) -> Vec<Lane> {
    let mut out = Vec::new();
    for doc in documents {
        let Some(rows) = doc.get("services").and_then(Value::as_array) else {
            continue;
        };
        for row in rows {
            let Some(t) = row.get("timeline").filter(|t| t.is_object()) else {
                continue;
            };
            let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            // A daemon that was up, then died while a later wave came up, failed as a late
            // failure: its lane ends there, with that outcome and reason.
            let late = doc
                .get("late_failures")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| {
                    r.get("service").and_then(Value::as_str) == Some(text("service").as_str())
                        && late_failed_at(r).is_some()
                });
            let late_text = |k: &str| {
                late.and_then(|r| r.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            out.push(Lane {
                service: text("service"),
                wave: row.get("wave").and_then(Value::as_i64),
                outcome: late_text("outcome").unwrap_or_else(|| text("outcome")),
                reason: late_text("reason").unwrap_or_else(|| text("reason")),
                sent: time(t, "update_sent_at"),
                pending: time(t, "first_pending_at"),
                running: time(t, "first_running_at"),
                healthy: time(t, "first_healthy_seen_at"),
                stable_since: time(t, "stable_since"),
                stable: time(t, "stable_at"),
                failed: time(t, "failed_at").or_else(|| late.and_then(late_failed_at)),
                last_words: last_words(doc, row, &text("service")),
            });
        }
    }
    out
}

/// The span drawn: from the first update sent (or first event) to the last event.
fn span(lanes: &[Lane]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = lanes
        .iter()
        .filter_map(|l| l.sent)
        .min()
        .or_else(|| lanes.iter().flat_map(Lane::times).min())?;
    let end = lanes.iter().flat_map(Lane::times).max()?.max(start);
    Some((start, end))
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// The phases of one lane as (from, to, kind), in order; a phase with no end stops at the next
/// known time.
fn segments(lane: &Lane) -> Vec<(DateTime<Utc>, DateTime<Utc>, Kind)> {
    let steps = [
        (lane.sent, lane.pending, Kind::Scheduling),
        (lane.pending, lane.running, Kind::Pending),
        (
            lane.running,
            lane.healthy.or(lane.stable_since),
            Kind::Running,
        ),
        (lane.healthy, lane.stable_since, Kind::Healthy),
        (lane.stable_since, lane.stable, Kind::Soak),
    ];
    steps
        .into_iter()
        .filter_map(|(a, b, kind)| match (a, b) {
            (Some(a), Some(b)) if b > a => Some((a, b, kind)),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scheduling,
    Pending,
    Running,
    Healthy,
    Soak,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Scheduling,
        Kind::Pending,
        Kind::Running,
        Kind::Healthy,
        Kind::Soak,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Scheduling => "update sent, no task yet",
            Kind::Pending => "task PENDING (ECS createdAt to startedAt)",
            Kind::Running => "RUNNING, not yet HEALTHY or stable",
            Kind::Healthy => "HEALTHY, not yet stable",
            Kind::Soak => "stable, soaking",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Kind::Scheduling => "#b0b7c3",
            Kind::Pending => "#f2a900",
            Kind::Running => "#3b82f6",
            Kind::Healthy => "#14b8a6",
            Kind::Soak => "#16a34a",
        }
    }

    fn glyph(self) -> char {
        match self {
            Kind::Scheduling => '.',
            Kind::Pending => '-',
            Kind::Running => '=',
            Kind::Healthy => '~',
            Kind::Soak => '#',
        }
    }
}

fn offset(t0: DateTime<Utc>, t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| format!("+{:.1}s", seconds(t0, t)))
}

/// The timeline for a terminal: one line per service with its offsets from the first update and
/// a bar (`.` sent, `-` pending, `=` running, `~` healthy, `#` soaking, `X` failed).
pub fn text(lanes: &[Lane]) -> String {
    let Some((t0, end)) = span(lanes) else {
        return "bring-up timeline: no snapshot of this execution carries one\n".to_owned();
    };
    const BAR: usize = 40;
    let total = seconds(t0, end).max(0.001);
    let col = |t: DateTime<Utc>| ((seconds(t0, t) / total) * (BAR - 1) as f64).round() as usize;
    let width = lanes
        .iter()
        .map(|l| l.service.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!(
        "bring-up timeline: {} service(s), t0 {} (first update sent), {:.1} s in all\n",
        lanes.len(),
        t0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        total
    );
    out.push_str(&format!(
        "  {:width$}  wave  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:<16} |{}|\n",
        "service",
        "sent",
        "pending",
        "running",
        "healthy",
        "stable",
        "outcome",
        " ".repeat(BAR)
    ));
    for lane in lanes {
        let mut bar = vec![' '; BAR];
        for (a, b, kind) in segments(lane) {
            for cell in bar.iter_mut().take(col(b) + 1).skip(col(a)) {
                *cell = kind.glyph();
            }
        }
        if let Some(f) = lane.failed {
            bar[col(f).min(BAR - 1)] = 'X';
        }
        out.push_str(&format!(
            "  {:width$}  {:>4}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:<16} |{}|\n",
            lane.service,
            lane.wave.map_or("-".into(), |w| w.to_string()),
            offset(t0, lane.sent),
            offset(t0, lane.pending),
            offset(t0, lane.running),
            offset(t0, lane.healthy),
            offset(t0, lane.stable),
            if lane.failed.is_some() {
                format!("{} at {}", lane.outcome, offset(t0, lane.failed))
            } else {
                lane.outcome.clone()
            },
            bar.into_iter().collect::<String>()
        ));
    }
    out.push_str(
        "  (sent, pending, running: ECS's clock; healthy and stable: the first poll that saw them)\n",
    );
    for lane in lanes.iter().filter(|l| l.failed.is_some()) {
        let Some(words) = &lane.last_words else {
            continue;
        };
        out.push_str(&format!(
            "  why {} failed: its task's last log lines ({})\n",
            lane.service,
            if words.streams.is_empty() {
                "no stream".to_owned()
            } else {
                words.streams.join(", ")
            }
        ));
        let skipped = words.lines.len().saturating_sub(SHOWN_LINES);
        if skipped > 0 {
            out.push_str(&format!(
                "    ({skipped} earlier line(s) in the snapshot)\n"
            ));
        }
        for line in words.lines.iter().skip(skipped) {
            out.push_str(&format!("    | {line}\n"));
        }
        if let Some(note) = &words.note {
            out.push_str(&format!("    ({note})\n"));
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A tick step giving at most ten ticks over `total` seconds.
fn tick_step(total: f64) -> f64 {
    [
        0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ]
    .into_iter()
    .find(|step| total / step <= 10.0)
    .unwrap_or(7200.0)
}

/// A self-contained SVG (no script, no external reference) of the lanes under `title`.
pub fn svg(lanes: &[Lane], title: &str) -> String {
    const LEFT: f64 = 340.0;
    const PLOT: f64 = 620.0;
    const ROW: f64 = 26.0;
    const TOP: f64 = 64.0;
    let (t0, end) = span(lanes).unwrap_or((Utc::now(), Utc::now()));
    let total = seconds(t0, end).max(1.0);
    let x = |t: DateTime<Utc>| LEFT + seconds(t0, t) / total * PLOT;
    let plot_bottom = TOP + ROW * lanes.len().max(1) as f64;
    let height = plot_bottom + 40.0 + 22.0 * Kind::ALL.len().div_ceil(2) as f64 + 30.0;
    let width = LEFT + PLOT + 40.0;
    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!("<title>{}</title>\n", escape(title)));
    s.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        escape(title)
    ));
    s.push_str(&format!(
        "<text x=\"16\" y=\"44\" fill=\"#555\">t0 {} (first update sent); {:.1} s shown</text>\n",
        t0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        seconds(t0, end)
    ));
    let step = tick_step(total);
    let mut tick = 0.0;
    while tick <= total + 1e-9 {
        let tx = LEFT + tick / total * PLOT;
        s.push_str(&format!(
            "<line x1=\"{tx:.1}\" y1=\"{TOP}\" x2=\"{tx:.1}\" y2=\"{plot_bottom}\" stroke=\"#e5e7eb\"/>\n\
             <text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}s</text>\n",
            plot_bottom + 16.0,
            tick
        ));
        tick += step;
    }
    for (i, lane) in lanes.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        if i % 2 == 1 {
            s.push_str(&format!(
                "<rect x=\"8\" y=\"{y}\" width=\"{:.1}\" height=\"{ROW}\" fill=\"#f6f7f9\"/>\n",
                width - 16.0
            ));
        }
        let wave = lane.wave.map_or(String::new(), |w| format!(" (wave {w})"));
        s.push_str(&format!(
            "<text x=\"16\" y=\"{:.1}\">{}{}</text>\n",
            y + 17.0,
            escape(&lane.service),
            escape(&wave)
        ));
        for (a, b, kind) in segments(lane) {
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{}: {}: +{:.1}s to +{:.1}s</title></rect>\n",
                x(a),
                y + 5.0,
                (x(b) - x(a)).max(1.5),
                ROW - 10.0,
                kind.colour(),
                escape(&lane.service),
                kind.label(),
                seconds(t0, a),
                seconds(t0, b)
            ));
        }
        if let Some(f) = lane.failed {
            let said = lane
                .last_words
                .as_ref()
                .and_then(|w| w.lines.iter().rev().find(|l| !l.trim().is_empty()))
                .map_or(String::new(), |l| format!("; last log line: {l}"));
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"5\" height=\"{:.1}\" fill=\"#dc2626\">\
                 <title>{}: {} at +{:.1}s: {}{}</title></rect>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#dc2626\" font-weight=\"bold\">{}</text>\n",
                x(f) - 2.5,
                y + 2.0,
                ROW - 4.0,
                escape(&lane.service),
                escape(&lane.outcome),
                seconds(t0, f),
                escape(&lane.reason),
                escape(&said),
                (x(f) + 6.0).min(width - 60.0),
                y + 17.0,
                escape(&lane.outcome)
            ));
        }
    }
    let legend_top = plot_bottom + 36.0;
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let lx = 16.0 + (i % 2) as f64 * 420.0;
        let ly = legend_top + 22.0 * (i / 2) as f64;
        s.push_str(&format!(
            "<rect x=\"{lx}\" y=\"{ly}\" width=\"14\" height=\"14\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            kind.colour(),
            lx + 20.0,
            ly + 12.0,
            escape(kind.label())
        ));
    }
    s.push_str(&format!(
        "<text x=\"16\" y=\"{:.1}\" fill=\"#555\">sent, pending, running: ECS's clock; healthy and stable: the first poll that saw them; red: final failure</text>\n",
        height - 12.0
    ));
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"phase": "M4.F", "services": [
            {"service": "ig", "wave": 1, "outcome": "stable", "reason": "1 running", "timeline": {
                "update_sent_at": "2026-12-01T10:00:00Z", "first_pending_at": "2026-12-01T10:00:01Z",
                "first_running_at": "2026-12-01T10:00:03Z", "first_healthy_seen_at": "2026-12-01T10:00:05Z",
                "stable_since": "2026-12-01T10:00:05Z", "stable_at": "2026-12-01T10:00:10Z", "failed_at": null}},
            {"service": "ofp <&>", "wave": 2, "outcome": "crash_loop", "reason": "exit 1", "timeline": {
                "update_sent_at": "2026-12-01T10:00:10Z", "first_pending_at": "2026-12-01T10:00:11Z",
                "first_running_at": "2026-12-01T10:00:12Z", "first_healthy_seen_at": null,
                "stable_since": null, "stable_at": null, "failed_at": "2026-12-01T10:00:20Z"}},
            {"service": "no-timeline", "outcome": "stable"}
        ]})
    }

    #[test]
    fn lanes_come_from_rows_with_a_timeline() {
        let d = doc();
        let lanes = lanes([&d, &json!({"phase": "M4.A"})]);
        assert_eq!(lanes.len(), 2);
        assert_eq!(lanes[0].wave, Some(1));
        assert_eq!(
            segments(&lanes[0]).iter().map(|s| s.2).collect::<Vec<_>>(),
            [Kind::Scheduling, Kind::Pending, Kind::Running, Kind::Soak]
        );
        assert!(lanes[1].failed.is_some() && lanes[1].stable.is_none());
    }

    #[test]
    fn text_gives_offsets_from_the_first_update_and_marks_the_failure() {
        let d = doc();
        let out = text(&lanes([&d]));
        let ig = out
            .lines()
            .find(|l| l.trim_start().starts_with("ig "))
            .unwrap();
        for want in ["+0.0s", "+1.0s", "+3.0s", "+5.0s", "+10.0s", "stable"] {
            assert!(ig.contains(want), "{want} in {ig}");
        }
        let ofp = out.lines().find(|l| l.contains("ofp")).unwrap();
        assert!(
            ofp.contains("crash_loop at +20.0s") && ofp.ends_with("X|"),
            "{ofp}"
        );
        assert!(text(&[]).contains("no snapshot"));
    }

    #[test]
    fn svg_is_self_contained_and_escaped() {
        let d = doc();
        let out = svg(&lanes([&d]), "m4 <test>");
        assert!(out.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(out.contains("m4 &lt;test&gt;") && out.contains("ofp &lt;&amp;&gt;"));
        assert!(!out.contains("<script") && !out.contains("href"));
        assert_eq!(
            out.matches("fill=\"#dc2626\"").count(),
            2,
            "one failure marker and label"
        );
        assert!(out.contains("20s"), "the axis reaches the failure");
    }

    /// Issue #26: the last words of a failed daemon are shown under its lane, from its row's
    /// stops or from the late failures; a lane that did not fail shows none.
    #[test]
    fn a_failed_lane_shows_its_tasks_last_log_lines() {
        let mut d = doc();
        let lines: Vec<String> = (1..=12).map(|i| format!("line {i}")).collect();
        d["late_failures"] = json!([{"service": "ofp <&>", "stops": [
            {"task_arn": "t1", "log_tail": {"streams": ["/g:ecs/ofp/t1"], "lines": lines}}]}]);
        d["services"][0]["stops"] =
            json!([{"task_arn": "t0", "log_tail": {"streams": [], "lines": ["not shown"]}}]);
        let out = text(&lanes([&d]));
        assert!(
            out.contains("why ofp <&> failed: its task's last log lines (/g:ecs/ofp/t1)"),
            "{out}"
        );
        assert!(
            out.contains("(2 earlier line(s) in the snapshot)") && out.contains("| line 12"),
            "{out}"
        );
        assert!(
            !out.contains("| line 2\n") && !out.contains("not shown"),
            "{out}"
        );
        let svg = svg(&lanes([&d]), "t");
        assert!(svg.contains("; last log line: line 12"), "{svg}");
        // A task that never wrote a stream says so.
        d["late_failures"][0]["stops"][0]["log_tail"] = json!({"streams": [], "lines": [], "note": "no log stream ecs/ofp/t1 (the task never wrote one)"});
        let out = text(&lanes([&d]));
        assert!(
            out.contains("(no stream)") && out.contains("(no log stream ecs/ofp/t1"),
            "{out}"
        );
        // A daemon up in its wave that died later ends its lane as the late failure says.
        d["late_failures"] = json!([{"service": "ig", "outcome": "crash_loop", "reason": "died",
            "failed_at": "2026-12-01T10:00:15Z", "wave_settling": 2,
            "stops": [{"task_arn": "t2", "log_tail": {"streams": ["/g:ecs/ig/t2"], "lines": ["panic: lease"]}}]}]);
        let ig = &lanes([&d])[0];
        assert_eq!(
            (ig.outcome.as_str(), ig.reason.as_str()),
            ("crash_loop", "died")
        );
        assert!(ig.failed.is_some());
        assert!(text(&lanes([&d])).contains("why ig failed"));
    }
}
