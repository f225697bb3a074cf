//! Entry points for the two ways to drive a cluster with scripts: the REPL and
//! `kafka-sandbox run FILE`. Both start the embedded cluster and always clean up after.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::backend::{Backend, ClusterControl};
use crate::config::ClusterConfig;
use crate::script::input::{LineInput, StdinLines};
use crate::script::output::Output;
use crate::script::{self, Session};

/// Starts the cluster. A Ctrl-C meanwhile lets the start finish, then removes what it made
/// (containers, child processes) before giving up, so nothing is left behind.
async fn start(
    backend: &Backend,
    config: ClusterConfig,
) -> Result<Arc<dyn ClusterControl>, String> {
    let starting = backend.start(config);
    tokio::pin!(starting);
    tokio::select! {
        result = &mut starting => result.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("kafka-sandbox: interrupted; cleaning up what was started…");
            if let Ok(cluster) = starting.await {
                cluster.shutdown().await;
            }
            Err("interrupted while the cluster was starting".into())
        }
    }
}

/// The lines printed once the cluster is up: how many brokers, how fast, and where.
fn ready_banner(cluster: &dyn ClusterControl, started: Instant) -> String {
    format!(
        "kafka-sandbox: {} brokers ready in {} ms\nbootstrap servers: {}  (kcat -b {} -L)",
        cluster.brokers().len(),
        started.elapsed().as_millis(),
        cluster.bootstrap(),
        cluster.bootstrap().split(',').next().unwrap_or_default()
    )
}

/// A flag set by Ctrl-C, SIGTERM or SIGHUP: each interrupts the running script, which then
/// closes its consumers and stops the cluster before the process exits.
fn interrupt_on_signals(rt: &tokio::runtime::Runtime) -> Arc<AtomicBool> {
    use tokio::signal::unix::{signal, SignalKind};
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    rt.spawn(async move {
        let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hangup.recv() => {}
            }
            flag.store(true, Ordering::SeqCst);
        }
    });
    cancel
}

/// Starts a cluster and runs the REPL on it.
pub fn repl(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
) -> Result<(), String> {
    let started = Instant::now();
    let cluster = rt.block_on(start(backend, config))?;
    let banner = format!(
        "{}\ntype help() for the script API, Tab to complete, exit or Ctrl-D to quit",
        ready_banner(cluster.as_ref(), started)
    );
    crate::repl::run(rt, cluster, &banner)
}

/// Starts a cluster and serves control lines from stdin (`kafka-sandbox serve`).
pub fn serve(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    options: crate::serve::ServeOptions,
) -> ExitCode {
    let started = Instant::now();
    let cluster = match rt.block_on(start(backend, config)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", ready_banner(cluster.as_ref(), started));
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    rt.block_on(async {
        crate::serve::run(cluster.clone(), stdin, options).await;
        cluster.shutdown().await;
    });
    println!("cluster stopped");
    ExitCode::SUCCESS
}

/// Runs a bundled lesson on a fresh cluster.
pub fn run_lesson(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    name: &str,
    auto: bool,
) -> ExitCode {
    if crate::lesson::find(name).is_none() {
        eprintln!(
            "kafka-sandbox: there is no lesson '{name}'\n{}",
            crate::lesson::listing()
        );
        return ExitCode::FAILURE;
    }
    let source = format!("lesson({name:?}, #{{auto: {auto}}});");
    // Interactive lessons read through the same line editor as the REPL.
    let console = if auto {
        None
    } else {
        let known = Arc::new(std::sync::Mutex::new(crate::repl::helper::Known::default()));
        match crate::repl::console::Console::open(known) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("kafka-sandbox: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let (input, out): (Box<dyn LineInput>, Output) = match console {
        Some((console, out)) => (Box::new(console), out),
        None => (Box::new(StdinLines), Output::stdout()),
    };
    run_source(
        rt,
        backend,
        config,
        Path::new("lesson"),
        &source,
        input,
        out,
    )
}

/// Runs a script file on a fresh cluster. Errors print as `FILE:LINE:COLUMN: message`.
pub fn run_file(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    file: &Path,
) -> ExitCode {
    match std::fs::read_to_string(file) {
        Ok(source) => run_source(
            rt,
            backend,
            config,
            file,
            &source,
            Box::new(StdinLines),
            Output::stdout(),
        ),
        Err(e) => {
            eprintln!("kafka-sandbox: cannot read {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn run_source(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    file: &Path,
    source: &str,
    input: Box<dyn LineInput>,
    out: Output,
) -> ExitCode {
    let started = Instant::now();
    let cluster = match rt.block_on(start(backend, config)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    out.print(&ready_banner(cluster.as_ref(), started));
    let cancel = interrupt_on_signals(rt);
    let session = Session::new(
        rt.handle().clone(),
        cluster.clone(),
        out.clone(),
        cancel,
        input,
    );
    let code = match session {
        Ok(session) => {
            let engine = script::engine(&session);
            let mut scope = script::scope();
            let result = script::run_script(&engine, &mut scope, source);
            out.flush();
            session.close_consumers();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err((message, position)) => {
                    let (line, column) = position.unwrap_or((1, 1));
                    eprintln!("{}:{line}:{column}: {message}", file.display());
                    let pointer = script::caret(source, position);
                    if !pointer.is_empty() {
                        eprintln!("{pointer}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            ExitCode::FAILURE
        }
    };
    out.flush();
    rt.block_on(cluster.shutdown());
    code
}
