//! The interactive REPL: rustyline in front of one persistent Rhai scope. Functions the user
//! defines survive between inputs; every error is one line and the session goes on; output
//! from consumers and the cluster appears above the prompt as it happens.

pub mod helper;

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, AST};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor, ExternalPrinter};

use crate::backend::ClusterControl;
use crate::script::output::Output;
use crate::script::{self, error_message, Session};
use helper::{Known, ReplHelper};

const PROMPT: &str = "kafka> ";

fn history_file() -> Option<PathBuf> {
    std::env::var_os("KAFKA_SANDBOX_HISTORY")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kafka_sandbox_history"))
        })
}

/// Runs the REPL until `exit` or Ctrl-D, then closes consumers and stops the cluster.
pub fn run(
    rt: &tokio::runtime::Runtime,
    cluster: Arc<dyn ClusterControl>,
    banner: &str,
) -> Result<(), String> {
    let known = Arc::new(Mutex::new(Known::default()));
    let config = Config::builder()
        .auto_add_history(true)
        .max_history_size(1000)
        .map_err(|e| e.to_string())?
        .build();
    let mut editor: Editor<ReplHelper, DefaultHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot open the terminal: {e}"))?;
    editor.set_helper(Some(ReplHelper::new(known.clone())));
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
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    rt.spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let session = Session::new(
        rt.handle().clone(),
        cluster.clone(),
        out.clone(),
        cancel.clone(),
    )
    .map_err(|e| e.to_string())?;
    let engine = script::engine(&session);
    let mut scope = script::scope();
    let mut functions = AST::empty();
    out.print(banner);
    out.flush();
    loop {
        refresh_known(&session, &known);
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                out.error(&format!("cannot read input: {e}"));
                break;
            }
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        if matches!(input, "exit" | "quit" | "exit()" | "quit()") {
            break;
        }
        cancel.store(false, Ordering::SeqCst);
        session.printed.set(false);
        evaluate(&engine, &mut scope, &mut functions, input, &session);
        out.flush();
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    out.print("closing consumers and stopping the cluster…");
    out.flush();
    session.close_consumers();
    rt.block_on(cluster.shutdown());
    out.print("bye");
    out.flush();
    Ok(())
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
            let column = e
                .position()
                .position()
                .map(|c| format!(" at column {c}"))
                .unwrap_or_default();
            let text = e.to_string();
            let text = text.split(" (line").next().unwrap_or(&text);
            session.out.error(&format!("{text}{column}"));
            return;
        }
    };
    *functions += ast;
    let result = engine.eval_ast_with_scope::<Dynamic>(scope, functions);
    functions.clear_statements();
    match result {
        Ok(value) if value.is_unit() || session.printed.get() => {}
        Ok(value) => session.out.print(&value.to_string()),
        Err(e) => session.out.error(&error_message(&e)),
    }
}

fn refresh_known(session: &Session, known: &Mutex<Known>) {
    let topics = session.admin.topics().unwrap_or_default();
    let mut k = known.lock().expect("known names");
    k.topics = topics;
    k.groups = session.groups().into_iter().collect();
}
