//! Tab completion of REPL commands, primitive names and handle keys.

use super::commands::COMMANDS;
use crate::host::Host;

/// Tab completion of REPL commands, primitive names and handle keys.
pub(super) struct Completion {
    pub(super) words: Vec<String>,
}

impl Completion {
    pub(super) fn new(host: &Host) -> Completion {
        let mut words: Vec<String> = COMMANDS.iter().map(|c| c.name.to_owned()).collect();
        words.extend(crate::script::primitives::all().map(|p| p.name.to_owned()));
        if let Some(config) = host.environment() {
            words.extend(config.registry.entries.keys().cloned());
        }
        words.sort();
        words.dedup();
        Completion { words }
    }

    /// The start of the word under the cursor and the words it can become.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let word = &line[start..pos];
        if word.is_empty() {
            return (pos, Vec::new());
        }
        (
            start,
            self.words
                .iter()
                .filter(|w| w.starts_with(word))
                .cloned()
                .collect(),
        )
    }
}

impl rustyline::completion::Completer for Completion {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}
impl rustyline::hint::Hinter for Completion {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Completion {}
impl rustyline::validate::Validator for Completion {}
impl rustyline::Helper for Completion {}
