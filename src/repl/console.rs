//! The terminal: one rustyline editor for everything the learner types — REPL statements,
//! and the answers and commands lessons ask for — so history, arrow keys, completion,
//! Ctrl-C and Ctrl-D behave the same everywhere. Output printed while a prompt waits goes
//! through the editor's external printer and appears above the prompt.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor, ExternalPrinter};

use super::helper::{Known, ReplHelper};
use crate::script::input::{Line, LineInput};
use crate::script::output::Output;

/// Where the REPL keeps its history: `$KAFKA_SANDBOX_HISTORY`, else `~/.kafka_sandbox_history`.
fn history_file() -> Option<PathBuf> {
    std::env::var_os("KAFKA_SANDBOX_HISTORY")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kafka_sandbox_history"))
        })
}

/// The terminal could not be opened for line editing. The cause is part of the message, not a
/// chained source, so that `main`'s `{:#}` prints it once.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the terminal: {0}; run kafka-sandbox from an interactive terminal")]
pub struct TerminalError(ReadlineError);

/// The line editor and its history file.
pub(crate) struct Console {
    editor: Editor<ReplHelper, DefaultHistory>,
    history: Option<PathBuf>,
}

/// A console shared by the REPL loop and the session (lessons read through it).
#[derive(Clone)]
pub(crate) struct SharedConsole(pub Rc<RefCell<Console>>);

impl Console {
    /// Opens the terminal: loads history, and returns the console with an [`Output`] that
    /// prints above the prompt (plain stdout when the terminal cannot do that).
    pub fn open(known: Arc<Mutex<Known>>) -> Result<(SharedConsole, Output), TerminalError> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(1000)
            .map_err(TerminalError)?
            .build();
        let mut editor: Editor<ReplHelper, DefaultHistory> =
            Editor::with_config(config).map_err(TerminalError)?;
        editor.set_helper(Some(ReplHelper::new(known)));
        let history = history_file();
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        let out = match editor.create_external_printer() {
            Ok(mut printer) => Output::start(Box::new(move |line| {
                let _ = printer.print(format!("{line}\n"));
            })),
            Err(_) => Output::stdout(),
        };
        Ok((
            SharedConsole(Rc::new(RefCell::new(Console { editor, history }))),
            out,
        ))
    }

    /// Shows `prompt` and reads one line.
    pub fn read(&mut self, prompt: &str) -> Line {
        match self.editor.readline(prompt) {
            Ok(line) => Line::Text(line),
            Err(ReadlineError::Interrupted) => Line::Interrupted,
            Err(_) => Line::Eof,
        }
    }

    /// Adds a finished entry (a whole statement, even one typed over several lines).
    pub(crate) fn remember(&mut self, entry: &str) {
        let _ = self.editor.add_history_entry(entry);
    }

    /// Writes the history file.
    pub(crate) fn save_history(&mut self) {
        if let Some(h) = &self.history {
            let _ = self.editor.save_history(h);
        }
    }
}

impl LineInput for SharedConsole {
    fn read_line(&mut self, prompt: &str) -> Line {
        let mut console = self.0.borrow_mut();
        let line = console.read(prompt);
        if let Line::Text(text) = &line {
            if !text.trim().is_empty() {
                console.remember(text);
            }
        }
        line
    }
}
