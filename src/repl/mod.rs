//! The interactive REPL: a line editor in front of one persistent Rhai scope. Functions the
//! user defines survive between inputs; an error prints one line plus the offending source
//! with a caret, and the session goes on; output from consumers and the cluster appears above
//! the prompt as it happens.
//!
//! Keys: Ctrl-C at the prompt clears the line; Ctrl-C while a statement runs interrupts that
//! statement only (consumers run in their own process groups and never see it); Ctrl-D quits.
//! Lines typed while a statement runs are kept and run in order afterwards. An unfinished
//! statement (an open bracket or a backtick string) continues on a `...>` line.

pub mod console;
pub mod helper;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, AST};

use crate::script::input::Line;
use crate::script::{self, caret, error_message, error_position, Session};
use console::{Console, SharedConsole};
use helper::Known;

/// Why the REPL could not run. Each variant's message is its inner error's, which already
/// says why; it is not chained as a source, so that `main`'s `{:#}` prints the cause once.
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    /// No line editor.
    #[error("{0}")]
    Terminal(console::TerminalError),
    /// The script session (its admin client) could not start.
    #[error("{0}")]
    Session(crate::client::ClientError),
}

const PROMPT: &str = "kafka> ";
const CONTINUE: &str = "  ...> ";

/// Runs the REPL until `exit` or Ctrl-D, then closes consumers and stops the cluster.
pub fn run(
    rt: &tokio::runtime::Runtime,
    view: Arc<crate::view::View>,
    banner: &str,
) -> Result<(), ReplError> {
    let cluster = view.cluster().clone();
    let known = Arc::new(Mutex::new(Known::default()));
    let (console, out) = Console::open(known.clone()).map_err(ReplError::Terminal)?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    rt.spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let session = Session::new(
        rt.handle().clone(),
        view,
        out.clone(),
        cancel.clone(),
        Box::new(console.clone()),
    )
    .map_err(ReplError::Session)?;
    let engine = script::engine(&session);
    let mut scope = script::scope();
    let mut functions = AST::empty();
    out.print(banner);
    out.flush();
    while let Some(input) = read_statement(&console, &session, &known) {
        let input = input.trim();
        if input.is_empty() {
            continue;
        }
        if matches!(input, "exit" | "quit" | "exit()" | "quit()") {
            break;
        }
        // What a learner types first, as in Python's REPL and most shells.
        let input = if matches!(input, "help" | "?") {
            "help()"
        } else {
            input
        };
        cancel.store(false, Ordering::SeqCst);
        session.printed.set(false);
        evaluate(&engine, &mut scope, &mut functions, input, &session);
        out.flush();
    }
    console.0.borrow_mut().save_history();
    out.print("closing consumers and stopping the cluster…");
    out.flush();
    session.close_consumers();
    rt.block_on(cluster.shutdown());
    out.print("bye");
    out.flush();
    Ok(())
}

/// Reads one statement, over several lines while it is unfinished. `None` at end of input.
fn read_statement(
    console: &SharedConsole,
    session: &Session,
    known: &Mutex<Known>,
) -> Option<String> {
    let mut text = String::new();
    loop {
        refresh_known(session, known);
        let prompt = if text.is_empty() { PROMPT } else { CONTINUE };
        let line = console.0.borrow_mut().read(prompt);
        match line {
            Line::Text(line) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&line);
                if helper::is_incomplete(&text) {
                    continue;
                }
                if !text.trim().is_empty() {
                    console.0.borrow_mut().remember(&text);
                }
                return Some(text);
            }
            // Ctrl-C at a prompt abandons what was typed so far.
            Line::Interrupted => text.clear(),
            Line::Eof => return None,
        }
    }
}

fn evaluate(
    engine: &rhai::Engine,
    scope: &mut rhai::Scope,
    functions: &mut AST,
    input: &str,
    session: &Rc<Session>,
) {
    let ast = match engine.compile_with_scope(scope, input) {
        Ok(ast) => ast,
        Err(e) => {
            let position = script::parse_position(&e);
            report(session, &script::parse_message(&e), input, position);
            return;
        }
    };
    let mark = session.consumer_mark();
    *functions += ast;
    let result = engine.eval_ast_with_scope::<Dynamic>(scope, functions);
    functions.clear_statements();
    match result {
        Ok(value) if value.is_unit() || session.printed.get() => {}
        Ok(value) => session.out.print(&script::echo(&value)),
        Err(e) => {
            // An interrupted statement has no faulty spot to point at.
            let position = if session.cancelled() {
                None
            } else {
                error_position(&e)
            };
            report(session, &error_message(&e), input, position);
            // Consumers the failed statement started but never handed over would run on
            // with nobody holding them.
            session.close_unreferenced_since(mark);
        }
    }
}

/// Prints an error, then the line it points at with a caret under the spot.
fn report(session: &Session, message: &str, input: &str, position: Option<(usize, usize)>) {
    session.out.error(message);
    let pointer = caret(input, position);
    if !pointer.is_empty() {
        session.out.print(&pointer);
    }
}

/// Topic and group names for completion, from the session's own snapshot: no network call
/// before a prompt, so a paused broker never delays it.
fn refresh_known(session: &Session, known: &Mutex<Known>) {
    let topics: Vec<String> = session
        .cluster
        .snapshot()
        .topics
        .into_iter()
        .map(|t| t.name)
        .filter(|n| !n.starts_with("__"))
        .collect();
    let mut k = known.lock().unwrap_or_else(|e| e.into_inner());
    k.topics = topics;
    k.groups = session.groups().into_iter().collect();
}
