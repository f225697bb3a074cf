//! Starting a session — the cluster, its view and page — and ending it on signals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{RunError, ViewOptions};
use crate::backend::{Backend, ClusterControl};
use crate::config::ClusterConfig;
use crate::signals::{self, Ending};
use crate::view::{web, View};

/// A started cluster with its view.
pub(super) struct Started {
    pub(super) cluster: Arc<dyn ClusterControl>,
    pub(super) view: Arc<View>,
    /// Kept for as long as the session runs; dropping it stops the page.
    pub(super) web: Option<web::WebServer>,
    pub(super) banner: String,
}

/// Starts the cluster, its view and (unless turned off) the page. A page that cannot listen
/// stops everything again, with the reason.
pub(super) fn start_session(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    options: ViewOptions,
) -> Result<Started, RunError> {
    let started = Instant::now();
    let settings = (!matches!(backend, Backend::Attach(_))).then(|| config.clone());
    let cluster = rt.block_on(async {
        if let Err(e) = signals::listen() {
            // The signals keep their default effect: the session still works, but a signal
            // would leave what it started behind.
            eprintln!("kafka-sandbox: cannot watch for signals ({e}); end the session with exit or Ctrl-D");
        }
        start(backend, config).await
    })?;
    let _in_runtime = rt.enter();
    let view = View::start(cluster.clone(), started);
    if let Some(settings) = settings {
        view.set_settings(settings);
    }
    let mut banner = ready_banner(cluster.as_ref(), started);
    let web = match options.web {
        None => None,
        Some(port) => match web::serve(view.clone(), port) {
            Ok(server) => {
                banner.push_str(&format!("\nview: {}", server.url()));
                Some(server)
            }
            Err(e) => {
                rt.block_on(cluster.shutdown());
                return Err(RunError::Web(e));
            }
        },
    };
    Ok(Started {
        cluster,
        view,
        web,
        banner,
    })
}

/// Starts the cluster. A signal meanwhile ends the start: backends that take a while (docker)
/// give up at once and remove what they made; the others finish, and what they started is
/// stopped again, so nothing is left behind.
async fn start(
    backend: &Backend,
    config: ClusterConfig,
) -> Result<Arc<dyn ClusterControl>, RunError> {
    let starting = backend.start(config);
    tokio::pin!(starting);
    tokio::select! {
        result = &mut starting => result.map_err(RunError::Cluster),
        ending = signals::next() => {
            eprintln!("kafka-sandbox: {} received; cleaning up what was started…", ending.name());
            if let Ok(cluster) = starting.await {
                cluster.shutdown().await;
            }
            Err(RunError::Interrupted(ending.name()))
        }
    }
}

/// The lines printed once the cluster is up: how many brokers, how fast, and where.
fn ready_banner(cluster: &dyn ClusterControl, started: Instant) -> String {
    format!(
        "kafka-sandbox: {} ready in {} ms\nbootstrap servers: {}  (kcat -b {} -L)",
        crate::control::count(cluster.brokers().len() as i64, "broker", "brokers"),
        started.elapsed().as_millis(),
        cluster.bootstrap(),
        cluster.bootstrap().split(',').next().unwrap_or_default()
    )
}

/// What a signal does once the session runs.
pub(super) enum OnSignal {
    /// The REPL: Ctrl-C belongs to the running statement (the REPL stops it); SIGTERM and
    /// SIGHUP end the session at once — the line editor would otherwise hold on to a terminal
    /// that is gone, or to one nobody types into.
    Repl,
    /// A script or lesson: each signal sets the flag, which stops the script, after which the
    /// session closes its consumers and stops the cluster as usual. Should it not have ended
    /// [`GRACE`] later (or at a second signal), the cluster is stopped here.
    Script(Arc<AtomicBool>),
}

/// How long a stopped script gets to clean up by itself.
const GRACE: Duration = Duration::from_secs(10);
/// How long stopping the cluster may take when a signal forces it.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);

/// Ends the session on signals, as `on` says: whatever else happens, the cluster is stopped
/// (containers and networks removed, child processes ended) and the terminal's modes put
/// back before the process exits with the signal's status.
pub(super) fn end_on_signals(
    rt: &tokio::runtime::Runtime,
    cluster: Arc<dyn ClusterControl>,
    on: OnSignal,
) {
    let terminal = signals::TerminalModes::save();
    rt.spawn(async move {
        let ending = loop {
            let ending = signals::next().await;
            match &on {
                OnSignal::Repl if ending == Ending::Interrupt => continue,
                OnSignal::Repl => {
                    eprintln!(
                        "\nkafka-sandbox: {} received; stopping the cluster",
                        ending.name()
                    );
                    break ending;
                }
                OnSignal::Script(cancel) => {
                    eprintln!(
                        "kafka-sandbox: {} received; stopping the script and cleaning up",
                        ending.name()
                    );
                    cancel.store(true, Ordering::SeqCst);
                    tokio::select! {
                        _ = tokio::time::sleep(GRACE) => {}
                        _ = signals::next() => {}
                    }
                    break ending;
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_LIMIT, cluster.shutdown())
            .await
            .is_err()
        {
            eprintln!(
                "kafka-sandbox: the cluster did not stop within {} s; `kafka-sandbox docker clean` removes containers left behind",
                SHUTDOWN_LIMIT.as_secs()
            );
        }
        terminal.restore();
        std::process::exit(ending.exit_status());
    });
}
