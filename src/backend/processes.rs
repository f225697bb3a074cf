//! The processes backend: the controller and each broker run as a child OS process
//! (`kafka-sandbox node ...`). Failures are the kernel's own: kill is SIGKILL, pause is
//! SIGSTOP/SIGCONT, stop is SIGTERM (the node then does a controlled shutdown). Isolation is
//! SIGUSR1/SIGUSR2, which flips the node's own isolation switch.
//!
//! Children never outlive the sandbox: each runs in its own process group (so a Ctrl-C at
//! the terminal reaches only the sandbox, which then cleans up), is killed when its handle is
//! dropped, and is asked by the kernel to die with its parent (`PR_SET_PDEATHSIG`).
//!
//! A node keeps its logs in memory, so a restarted broker comes back empty and catches up
//! from the leaders like a broker with a replaced disk.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::book::{BrokerBook, Slot};
use super::remote::{BrokerDriver, RemoteCluster};
use super::snapshot::BrokerState;
use super::{BoxFuture, ClusterError};
use crate::config::ClusterConfig;

/// How long a node gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the cluster gets to have every broker registered.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Log lines kept per node for `logs(id)`.
const LOG_LINES: usize = 200;

type LogRing = Arc<Mutex<VecDeque<String>>>;

struct NodeProcess {
    child: Child,
    pid: i32,
}

/// Child-process nodes and their switches.
pub struct Processes {
    exe: PathBuf,
    config: ClusterConfig,
    controller_addr: String,
    controller: Mutex<Option<NodeProcess>>,
    book: BrokerBook<NodeProcess>,
    /// Each broker's recent log lines; they outlive its process.
    logs: Mutex<BTreeMap<i32, LogRing>>,
    /// The brokers' partition logs, one directory each; they outlive its process too.
    data: DataDir,
}

/// A directory for this run's node data, removed with the run.
struct DataDir(PathBuf);

impl DataDir {
    fn create() -> Result<Self, ClusterError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "kafka-sandbox-nodes-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|cause| ClusterError::DataDir {
            dir: dir.clone(),
            cause,
        })?;
        Ok(Self(dir))
    }

    /// Broker `id`'s directory.
    fn broker(&self, id: i32) -> PathBuf {
        self.0.join(format!("broker-{id}"))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn signal(pid: i32, sig: i32) -> Result<(), ClusterError> {
    // SAFETY: kill(2) with a pid of our own child; no memory is involved.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(ClusterError::NodeSignal {
            pid,
            cause: std::io::Error::last_os_error(),
        })
    }
}

fn keep_lines(stream: impl AsyncRead + Unpin + Send + 'static, log: LogRing) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = log.lock().expect("log lock");
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

fn tail(log: &LogRing, n: usize) -> String {
    let log = log.lock().expect("log lock");
    let skip = log.len().saturating_sub(n);
    log.iter()
        .skip(skip)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts `exe node ARGS`, waits for its `listening on` line, and returns it with its address.
async fn spawn_node(
    exe: &PathBuf,
    args: &[String],
    log: &LogRing,
) -> Result<(NodeProcess, SocketAddr), ClusterError> {
    let mut command = Command::new(exe);
    command
        .arg("node")
        .args(args)
        .env("KAFKA_SANDBOX_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    crate::child::own_tokio(&mut command);
    let mut child = command.spawn().map_err(|cause| ClusterError::NodeStart {
        program: exe.display().to_string(),
        cause,
    })?;
    let pid = child.id().map_or(-1, |p| p as i32);
    keep_lines(child.stderr.take().expect("piped stderr"), log.clone());
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first = tokio::time::timeout(START_TIMEOUT, stdout.next_line()).await;
    let line = match first {
        Ok(Ok(Some(line))) => line,
        outcome => {
            let _ = child.kill().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let why = match outcome {
                Err(_) => format!(
                    "did not start listening within {} s",
                    START_TIMEOUT.as_secs()
                ),
                _ => "exited at start".to_string(),
            };
            return Err(ClusterError::NodeNotListening {
                node: args.join(" "),
                why,
                log: tail(log, 10),
            });
        }
    };
    keep_lines(stdout.into_inner(), log.clone());
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or(ClusterError::NodeAddress(line))?;
    Ok((NodeProcess { child, pid }, addr))
}

impl Processes {
    fn config_json(&self) -> String {
        serde_json::to_string(&self.config).expect("cluster settings serialise")
    }

    fn broker_args(&self, id: i32, listen: SocketAddr) -> Vec<String> {
        vec![
            "broker".into(),
            "--id".into(),
            id.to_string(),
            "--listen".into(),
            listen.to_string(),
            "--controller".into(),
            self.controller_addr.clone(),
            "--config".into(),
            self.config_json(),
            "--data-dir".into(),
            self.data.broker(id).to_string_lossy().into_owned(),
        ]
    }

    fn running_pid(&self, id: i32) -> Result<i32, ClusterError> {
        self.book.running(id, |p| p.pid)
    }

    fn log(&self, id: i32) -> LogRing {
        self.logs
            .lock()
            .expect("logs lock")
            .entry(id)
            .or_default()
            .clone()
    }

    async fn wait_exit(&self, id: i32, within: Duration) -> bool {
        let Some(mut process) = self.book.stopped(id) else {
            return true;
        };
        let exited = tokio::time::timeout(within, process.child.wait())
            .await
            .is_ok();
        if !exited {
            let _ = process.child.kill().await;
        }
        exited
    }
}

/// Starts a controller process and `config.brokers` broker processes from `exe`, and waits
/// until every broker is in the cluster.
pub async fn start(exe: PathBuf, config: ClusterConfig) -> Result<RemoteCluster, ClusterError> {
    config.validate()?;
    let host = config.bind_ip()?;
    let json = serde_json::to_string(&config).expect("cluster settings serialise");
    let controller_log = LogRing::default();
    let (controller, controller_addr) = spawn_node(
        &exe,
        &[
            "controller".into(),
            "--listen".into(),
            SocketAddr::new(host, 0).to_string(),
            "--config".into(),
            json,
        ],
        &controller_log,
    )
    .await?;
    let processes = Processes {
        exe,
        config,
        controller_addr: controller_addr.to_string(),
        controller: Mutex::new(Some(controller)),
        book: BrokerBook::default(),
        logs: Mutex::default(),
        data: DataDir::create()?,
    };
    for id in 1..=processes.config.brokers {
        let listen = SocketAddr::new(host, processes.config.broker_port(id)?);
        let log = processes.log(id);
        let spawned = spawn_node(&processes.exe, &processes.broker_args(id, listen), &log).await;
        let (process, addr) = match spawned {
            Ok(p) => p,
            Err(e) => {
                processes.shutdown().await;
                return Err(e);
            }
        };
        processes
            .book
            .insert(id, Slot::running(addr.to_string(), process));
    }
    let bootstrap = processes.book.bootstrap();
    RemoteCluster::start(bootstrap, Box::new(processes), READY_TIMEOUT).await
}

impl BrokerDriver for Processes {
    fn kind(&self) -> &'static str {
        "processes"
    }

    fn brokers(&self) -> Vec<i32> {
        self.book.ids()
    }

    fn state(&self, id: i32) -> Option<BrokerState> {
        self.book.state(id)
    }

    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            self.book.stoppable(id)?;
            signal(self.running_pid(id)?, libc::SIGTERM)?;
            let grace = self.config.timings.broker_session_timeout * 2 + Duration::from_secs(2);
            if !self.wait_exit(id, grace).await {
                tracing::warn!("broker {id} did not finish its controlled shutdown; killed it");
            }
            Ok(())
        })
    }

    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            signal(self.running_pid(id)?, libc::SIGKILL)?;
            self.wait_exit(id, Duration::from_secs(5)).await;
            Ok(())
        })
    }

    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let addr: SocketAddr = self
                .book
                .startable(id)?
                .parse()
                .map_err(|_| ClusterError::NotRunning(id))?;
            let (process, _) =
                spawn_node(&self.exe, &self.broker_args(id, addr), &self.log(id)).await?;
            self.book.started(id, process)
        })
    }

    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            signal(self.running_pid(id)?, libc::SIGSTOP)?;
            self.book.flag(id, Some(true), None);
            Ok(())
        })
    }

    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            signal(self.running_pid(id)?, libc::SIGCONT)?;
            self.book.flag(id, Some(false), None);
            Ok(())
        })
    }

    fn set_controller_paused(&self, paused: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        let pid = self
            .controller
            .lock()
            .expect("controller lock")
            .as_ref()
            .map(|p| p.pid);
        Box::pin(async move {
            let pid = pid.ok_or(ClusterError::ControllerNotRunning)?;
            signal(pid, if paused { libc::SIGSTOP } else { libc::SIGCONT })
        })
    }

    fn set_isolated(&self, id: i32, isolated: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let sig = if isolated {
                libc::SIGUSR1
            } else {
                libc::SIGUSR2
            };
            signal(self.running_pid(id)?, sig)?;
            self.book.flag(id, None, Some(isolated));
            Ok(())
        })
    }

    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        Box::pin(std::future::ready(self.book.with(id, |_| {
            let lines = tail(&self.log(id), 50);
            Ok(if lines.is_empty() {
                format!("(broker {id} has logged nothing yet)")
            } else {
                lines
            })
        })))
    }

    fn controller(&self) -> Option<String> {
        Some(self.controller_addr.clone())
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut all = self.book.take_all();
            all.extend(self.controller.lock().expect("controller lock").take());
            for p in &mut all {
                let _ = p.child.kill().await;
            }
            let _ = std::fs::remove_dir_all(&self.data.0);
        })
    }
}
