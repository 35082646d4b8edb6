//! Writing to the terminal without panicking: `println!` panics when stdout is a closed pipe
//! (`m4host doc | head`). These writers drop output once its reader has gone, and the command
//! goes on to its documented exit status (a runbook's verdict does not depend on who reads it).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

fn write_to(gone: &AtomicBool, mut stream: impl Write, text: &str) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    if stream
        .write_all(text.as_bytes())
        .and_then(|_| stream.flush())
        .is_err()
    {
        gone.store(true, Ordering::Relaxed);
    }
}

/// Text to stdout as it is.
pub fn text(text: &str) {
    write_to(&STDOUT_GONE, std::io::stdout().lock(), text);
}

/// One line to stdout.
pub fn line(text: &str) {
    write_to(&STDOUT_GONE, std::io::stdout().lock(), &format!("{text}\n"));
}

/// Text to stderr as it is.
pub fn err_text(text: &str) {
    write_to(&STDERR_GONE, std::io::stderr().lock(), text);
}

/// One line to stderr.
pub fn err_line(text: &str) {
    write_to(&STDERR_GONE, std::io::stderr().lock(), &format!("{text}\n"));
}
