//! Where lessons read the learner's lines from: the REPL's own line editor (history, arrow
//! keys, Ctrl-C), plain standard input, or nowhere.

use std::io::BufRead;

/// One line of input, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline).
    Text(String),
    /// Ctrl-C.
    Interrupted,
    /// End of input (Ctrl-D, or the end of a pipe or file).
    Eof,
}

/// A source of lines with a prompt.
pub trait LineInput {
    /// Shows `prompt` and reads one line.
    fn read_line(&mut self, prompt: &str) -> Line;
}

/// Standard input read line by line, for scripts run with `kafka-sandbox run`.
pub(crate) struct StdinLines;

impl LineInput for StdinLines {
    fn read_line(&mut self, prompt: &str) -> Line {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => Line::Eof,
            Ok(_) => Line::Text(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

/// Lines from a list, then end of input: answers read from a file.
pub struct Scripted {
    lines: std::collections::VecDeque<String>,
}

impl Scripted {
    /// Serves `lines` in order.
    pub fn new(lines: impl IntoIterator<Item = String>) -> Self {
        Self {
            lines: lines.into_iter().collect(),
        }
    }
}

impl LineInput for Scripted {
    fn read_line(&mut self, _prompt: &str) -> Line {
        self.lines.pop_front().map_or(Line::Eof, Line::Text)
    }
}
