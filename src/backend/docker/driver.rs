//! Broker control through the Docker API ([`BrokerDriver`]): stop is `docker stop`, kill is
//! `docker kill` (SIGKILL), pause is `docker pause`. Isolate, for the sandbox's own nodes, is
//! SIGUSR1 to the node (SIGUSR2 heals), which cuts it off from its peers and the controller
//! while clients still reach it — the meaning `isolate` has on every backend. For other
//! containers it is a network disconnect (clients lose the broker too), and heal a reconnect
//! under the same aliases and address; a broker stopped or killed while disconnected is
//! reconnected, so it starts on its network again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use bollard::query_parameters::{KillContainerOptionsBuilder, StopContainerOptionsBuilder};

use super::containers::{endpoint, Engine, STOP_GRACE_SECS};
use super::error::{ContainerAction, DockerError};
use super::spec::ContainerSpec;
use crate::backend::book::{BrokerBook, Slot};
use crate::backend::remote::BrokerDriver;
use crate::backend::snapshot::BrokerState;
use crate::backend::{BoxFuture, ClusterError};

/// Where a broker's container is and how it sits on its network (to reconnect it as it was).
#[derive(Debug, Clone)]
struct Attachment {
    container: String,
    network: String,
    aliases: Vec<String>,
    ipv4: Option<String>,
}

/// How a broker is cut off from its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// SIGUSR1/SIGUSR2 to a sandbox node, which flips its own isolation switch.
    NodeSignal,
    /// Disconnect from the network and reconnect.
    Network,
}

/// An existing container for [`ContainerDriver::adopt`], as inspected.
#[derive(Debug, Clone)]
pub(crate) struct Adoptee {
    /// The broker it runs.
    pub id: i32,
    /// Its name.
    pub container: String,
    /// Whether it runs.
    pub running: bool,
    /// Whether it is frozen.
    pub paused: bool,
    /// One network it is on, with its aliases and address there.
    pub network: String,
    /// Its aliases on `network`.
    pub aliases: Vec<String>,
    /// Its address on `network`.
    pub ipv4: Option<String>,
}

/// Broker control through Docker, for containers the sandbox created (removed at shutdown) or
/// adopted (the attach backend, which wraps this driver, puts back what it changed).
pub(crate) struct ContainerDriver {
    /// How `isolate` works on these containers.
    isolation: Isolation,
    engine: Engine,
    attachments: BTreeMap<i32, Attachment>,
    /// Which containers run, and which are paused or cut off.
    book: BrokerBook<()>,
    /// Run label of what the sandbox created; `None` for adopted containers.
    owned_run: Option<String>,
    /// Whether shutdown removes the run (set once the cluster is up; before that, the start
    /// decides whether to remove or keep what it made).
    remove_at_shutdown: Arc<AtomicBool>,
    /// The sandbox controller's address, when the run has one (the sandbox node image).
    controller: Option<String>,
}

impl ContainerDriver {
    /// Drives containers this sandbox created for run `run` from `specs` on `network`.
    pub fn owned(
        engine: Engine,
        run: String,
        network: &str,
        specs: &[ContainerSpec],
        remove_at_shutdown: Arc<AtomicBool>,
        isolation: Isolation,
    ) -> Self {
        let book = BrokerBook::default();
        let attachments = specs
            .iter()
            .map(|s| {
                book.insert(s.node_id, Slot::running(s.name.clone(), ()));
                (
                    s.node_id,
                    Attachment {
                        container: s.name.clone(),
                        network: network.to_string(),
                        aliases: s.network_aliases.clone(),
                        ipv4: s.ipv4_address.clone(),
                    },
                )
            })
            .collect();
        Self {
            isolation,
            engine,
            attachments,
            book,
            owned_run: Some(run),
            remove_at_shutdown,
            controller: None,
        }
    }

    /// The same driver, naming the sandbox controller at `controller` for the observer.
    pub(crate) fn following(mut self, controller: Option<String>) -> Self {
        self.controller = controller;
        self
    }

    /// Drives existing containers, e.g. a docker-compose cluster, as the caller inspected
    /// them. Only their first network is known here: the attach backend cuts and restores
    /// every network itself, and puts back at exit what it changed (`backend::attach::restore`).
    pub(crate) fn adopt(engine: Engine, containers: Vec<Adoptee>) -> Self {
        let book = BrokerBook::default();
        let mut attachments = BTreeMap::new();
        for c in containers {
            book.insert(
                c.id,
                Slot {
                    addr: c.container.clone(),
                    node: c.running.then_some(()),
                    paused: c.paused,
                    isolated: false,
                },
            );
            attachments.insert(
                c.id,
                Attachment {
                    container: c.container,
                    network: c.network,
                    aliases: c.aliases,
                    ipv4: c.ipv4,
                },
            );
        }
        Self {
            isolation: Isolation::Network,
            engine,
            attachments,
            book,
            owned_run: None,
            remove_at_shutdown: Arc::new(AtomicBool::new(false)),
            controller: None,
        }
    }

    fn attachment(&self, id: i32) -> Result<Attachment, ClusterError> {
        self.book.with(id, |_| Ok(()))?;
        Ok(self.attachments[&id].clone())
    }

    fn running(&self, id: i32) -> Result<Attachment, ClusterError> {
        self.book.running(id, |()| ())?;
        self.attachment(id)
    }

    /// Whether broker `id` is off its network (isolated by disconnecting it).
    fn disconnected(&self, id: i32) -> bool {
        self.isolation == Isolation::Network
            && self.book.with(id, |s| Ok(s.isolated)).unwrap_or(false)
    }

    /// Connects the container to its network again, under its aliases and address.
    async fn reconnect(&self, a: &Attachment) -> Result<(), ClusterError> {
        let request = NetworkConnectRequest {
            container: Some(a.container.clone()),
            endpoint_config: Some(endpoint(a.aliases.clone(), a.ipv4.clone())),
        };
        self.engine
            .docker()
            .connect_network(&a.network, request)
            .await
            .map_err(DockerError::on(ContainerAction::Reconnect, &a.container))?;
        Ok(())
    }
}

impl BrokerDriver for ContainerDriver {
    fn kind(&self) -> &'static str {
        "docker"
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
            let a = self.attachment(id)?;
            let disconnected = self.disconnected(id);
            let options = StopContainerOptionsBuilder::default()
                .t(STOP_GRACE_SECS)
                .build();
            self.engine
                .docker()
                .stop_container(&a.container, Some(options))
                .await
                .map_err(DockerError::on(ContainerAction::Stop, &a.container))?;
            self.book.stopped(id);
            if disconnected {
                self.reconnect(&a).await?;
            }
            Ok(())
        })
    }

    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let a = self.running(id)?;
            let disconnected = self.disconnected(id);
            let options = KillContainerOptionsBuilder::default()
                .signal("SIGKILL")
                .build();
            self.engine
                .docker()
                .kill_container(&a.container, Some(options))
                .await
                .map_err(DockerError::on(ContainerAction::Kill, &a.container))?;
            self.book.stopped(id);
            if disconnected {
                self.reconnect(&a).await?;
            }
            Ok(())
        })
    }

    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            self.book.startable(id)?;
            let a = self.attachment(id)?;
            self.engine
                .docker()
                .start_container(
                    &a.container,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(DockerError::on(ContainerAction::Start, &a.container))?;
            self.book.started(id, ())
        })
    }

    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let a = self.running(id)?;
            self.engine
                .docker()
                .pause_container(&a.container)
                .await
                .map_err(DockerError::on(ContainerAction::Pause, &a.container))?;
            self.book.flag(id, Some(true), None);
            Ok(())
        })
    }

    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let a = self.running(id)?;
            self.engine
                .docker()
                .unpause_container(&a.container)
                .await
                .map_err(DockerError::on(ContainerAction::Unpause, &a.container))?;
            self.book.flag(id, Some(false), None);
            Ok(())
        })
    }

    fn set_isolated(&self, id: i32, isolated: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let a = self.running(id)?;
            let now = self.book.with(id, |s| Ok(s.isolated))?;
            if isolated == now {
                return Ok(());
            }
            if self.isolation == Isolation::NodeSignal {
                let signal = if isolated { "SIGUSR1" } else { "SIGUSR2" };
                let options = KillContainerOptionsBuilder::default()
                    .signal(signal)
                    .build();
                let action = if isolated {
                    ContainerAction::Disconnect
                } else {
                    ContainerAction::Reconnect
                };
                self.engine
                    .docker()
                    .kill_container(&a.container, Some(options))
                    .await
                    .map_err(DockerError::on(action, &a.container))?;
            } else if isolated {
                let request = NetworkDisconnectRequest {
                    container: Some(a.container.clone()),
                    force: Some(true),
                };
                self.engine
                    .docker()
                    .disconnect_network(&a.network, request)
                    .await
                    .map_err(DockerError::on(ContainerAction::Disconnect, &a.container))?;
            } else {
                self.reconnect(&a).await?;
            }
            self.book.flag(id, None, Some(isolated));
            Ok(())
        })
    }

    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        Box::pin(async move {
            let a = self.attachment(id)?;
            self.engine.logs(&a.container, 50).await
        })
    }

    fn controller(&self) -> Option<String> {
        self.controller.clone()
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(run) = self
                .owned_run
                .as_ref()
                .filter(|_| self.remove_at_shutdown.load(Ordering::SeqCst))
            {
                let scope = super::clean::Scope::Runs(vec![run.clone()]);
                if let Err(e) = self.engine.clean(&scope).await {
                    eprintln!(
                        "kafka-sandbox: {e}; run `kafka-sandbox docker clean --run {run}` to remove the rest"
                    );
                }
            }
        })
    }
}
