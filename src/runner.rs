//! Entry points for the two ways to drive a cluster with scripts: the REPL and
//! `kafka-sandbox run FILE`. Both start the embedded cluster and always clean up after.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::backend::{Backend, ClusterControl};
use crate::config::ClusterConfig;
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

/// Starts a cluster and runs the REPL on it.
pub fn repl(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
) -> Result<(), String> {
    let started = Instant::now();
    let cluster = rt.block_on(start(backend, config))?;
    let banner = format!(
        "kafka-sandbox: {} brokers ready in {} ms\nbootstrap servers: {}  (kcat -b {} -L)\ntype help() for the script API, Tab to complete, exit or Ctrl-D to quit",
        cluster.brokers().len(),
        started.elapsed().as_millis(),
        cluster.bootstrap(),
        cluster.bootstrap().split(',').next().unwrap_or_default()
    );
    crate::repl::run(rt, cluster, &banner)
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
    run_source(rt, backend, config, Path::new("lesson"), &source)
}

/// Runs a script file on a fresh cluster. Errors print as `FILE:LINE:COLUMN: message`.
pub fn run_file(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    file: &Path,
) -> ExitCode {
    match std::fs::read_to_string(file) {
        Ok(source) => run_source(rt, backend, config, file, &source),
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
) -> ExitCode {
    let cluster = match rt.block_on(start(backend, config)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = Output::stdout();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let code = match Session::new(rt.handle().clone(), cluster.clone(), out.clone(), cancel) {
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
