//! The clock a wait judges by (issue #25), shared by every wait of the ECS adapters.

use crate::rules::service_wait::Reading;
use chrono::Utc;
use std::time::{Duration, Instant};

/// The clock a wait judges by (issue #25): the real one, each reading recorded on the tape;
/// or, replaying, the recorded readings in order and virtual time that moves only by the waits'
/// own sleeps once they run out — so a replay takes no wall time and judges the soak, the grace
/// and the timeout as the recorded run did.
pub struct WaitClock {
    started: Instant,
    key: String,
    tape: Option<std::sync::Arc<crate::infra::tape::Tape>>,
    /// Replay: virtual time since the wait began, and the last reading given.
    virtual_ms: std::sync::atomic::AtomicI64,
    last: std::sync::Mutex<Option<Reading>>,
}

impl WaitClock {
    pub fn new(key: String, tape: Option<std::sync::Arc<crate::infra::tape::Tape>>) -> WaitClock {
        WaitClock {
            started: Instant::now(),
            key,
            tape,
            virtual_ms: std::sync::atomic::AtomicI64::new(0),
            last: std::sync::Mutex::new(None),
        }
    }

    pub fn replaying(&self) -> Option<&crate::infra::tape::Tape> {
        self.tape.as_deref().filter(|t| t.replaying())
    }

    pub fn now(&self) -> Reading {
        use crate::infra::tape::Entry;
        use crate::sync::Locked;
        use std::sync::atomic::Ordering;
        if let Some(tape) = self.replaying() {
            let reading = match tape.fresh_answer(&self.key) {
                Some(Entry::Clock { at, elapsed_ms, .. }) => {
                    self.virtual_ms.fetch_max(elapsed_ms, Ordering::SeqCst);
                    Reading {
                        elapsed: chrono::TimeDelta::milliseconds(elapsed_ms),
                        at,
                    }
                }
                _ => {
                    // Past the recording: the world is assumed unchanged, time moves on.
                    tape.count_extrapolated();
                    let virtual_ms = self.virtual_ms.load(Ordering::SeqCst);
                    let last = *self.last.locked();
                    let at = last.map_or_else(Utc::now, |l| {
                        l.at + (chrono::TimeDelta::milliseconds(virtual_ms) - l.elapsed)
                    });
                    Reading {
                        elapsed: chrono::TimeDelta::milliseconds(virtual_ms),
                        at,
                    }
                }
            };
            *self.last.locked() = Some(reading);
            return reading;
        }
        let reading = Reading {
            elapsed: chrono::TimeDelta::from_std(self.started.elapsed()).unwrap_or_default(),
            at: Utc::now(),
        };
        if let Some(tape) = &self.tape {
            tape.append(Entry::Clock {
                seq: tape.next_seq(),
                key: self.key.clone(),
                at: reading.at,
                elapsed_ms: reading.elapsed.num_milliseconds(),
            });
        }
        reading
    }

    /// How long the wait has run, on this clock.
    pub fn elapsed(&self) -> Duration {
        match self.replaying() {
            Some(_) => Duration::from_millis(
                self.virtual_ms
                    .load(std::sync::atomic::Ordering::SeqCst)
                    .max(0) as u64,
            ),
            None => self.started.elapsed(),
        }
    }

    pub async fn sleep(&self, pause: Duration) {
        match self.replaying() {
            Some(_) => {
                // Whole milliseconds, rounded up: a pause shorter than one (a soak's end a few
                // microseconds away) still moves virtual time, or a wait would poll forever.
                let ms = pause.as_nanos().div_ceil(1_000_000);
                self.virtual_ms.fetch_add(
                    i64::try_from(ms).unwrap_or(i64::MAX),
                    std::sync::atomic::Ordering::SeqCst,
                );
            }
            None => tokio::time::sleep(pause).await,
        }
    }
}
