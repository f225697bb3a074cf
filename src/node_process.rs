//! `kafka-sandbox node`: one node of the sandbox cluster (the controller, or one broker) in
//! this process, as the processes and docker backends run them. The node code is the embedded
//! cluster's own; only the failure switches come from outside: SIGTERM is a controlled
//! shutdown, SIGKILL and SIGSTOP/SIGCONT are the kernel's, and SIGUSR1 / SIGUSR2 cut the node
//! off from its peers and reconnect it (the processes backend's stand-in for a network cut).
//!
//! Once listening, the node prints one line, `listening on HOST:PORT`, on stdout, so that a
//! parent that asked for port 0 learns the port.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{signal, SignalKind};

use crate::cluster::broker::{BrokerConfig, BrokerHandle, BrokerStorage};
use crate::cluster::controller::ControllerHandle;
use crate::config::ClusterConfig;

/// Which node to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The controller: registrations, heartbeats, elections, the metadata log.
    Controller,
    /// Broker `id`, which registers with the controller at `controller` (`host:port`).
    Broker {
        /// Broker id.
        id: i32,
        /// The controller's address.
        controller: String,
    },
}

/// Everything one node needs.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Controller or broker.
    pub role: Role,
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Host a broker advertises to clients and peers (default: the listen address).
    pub advertise: Option<String>,
    /// Timings and topic defaults, shared by every node of the cluster.
    pub cluster: ClusterConfig,
    /// Where a broker keeps its partition logs, so that it comes back with them after a
    /// kill; `None` keeps them in memory (lost with the process).
    pub data_dir: Option<std::path::PathBuf>,
}

/// How long a restarted node keeps trying to bind its old port while the previous process's
/// socket lingers.
const BIND_RETRY: Duration = Duration::from_secs(5);

async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let deadline = Instant::now() + BIND_RETRY;
    loop {
        let attempt = (|| {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        })();
        match attempt {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}; pick another port"),
                ))
            }
        }
    }
}

fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Runs the node until SIGTERM or SIGINT (controlled shutdown for a broker), or until killed.
pub async fn run(settings: NodeSettings) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let listener = bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    match settings.role {
        Role::Controller => {
            let controller = ControllerHandle::start(listener, &settings.cluster)?;
            announce(addr)?;
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            controller.shutdown().await;
        }
        Role::Broker { id, controller } => {
            let mut cluster = settings.cluster;
            cluster.host = settings.advertise.unwrap_or_else(|| addr.ip().to_string());
            let session = cluster.timings.broker_session_timeout;
            let broker = BrokerHandle::start(
                listener,
                BrokerConfig::new(id, &cluster, &controller),
                settings
                    .data_dir
                    .map_or_else(BrokerStorage::default, BrokerStorage::on_disk),
            )?;
            announce(addr)?;
            let mut isolate = signal(SignalKind::user_defined1())?;
            let mut heal = signal(SignalKind::user_defined2())?;
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = isolate.recv() => broker.set_isolated(true),
                    _ = heal.recv() => broker.set_isolated(false),
                }
            }
            if !broker.shutdown(session * 2).await {
                tracing::warn!(
                    "broker {id}: the controller did not confirm the controlled shutdown; stopped anyway"
                );
            }
        }
    }
    Ok(())
}
