//! Broker control over someone else's containers, and putting them back as they were.
//!
//! The attached cluster is the user's: a script that fails with a broker paused, or an
//! `isolate` never healed, must not leave it broken. So the driver remembers how each
//! container was when attach found it (running, paused, every network with its address and
//! aliases) and which containers it touched; at shutdown it unpauses what is now paused,
//! reconnects each network left with the same address and aliases, and starts what it stopped
//! or killed. It compares with how the container is then rather than replaying its own calls,
//! so that a call that failed half-way (a stop that timed out) is put back too. Containers it
//! never touched are left alone, and `--leave-as-is` leaves everything.
//!
//! Isolation takes a container off every network it is on (on one, its peers might still reach
//! it through another); heal reconnects it to each with the address it had, which is the one it
//! advertises.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};

use super::seen::{self, Endpoint, Seen};
use crate::backend::docker::containers::Engine;
use crate::backend::docker::driver::{Adoptee, ContainerDriver};
use crate::backend::docker::{ContainerAction, DockerError};
use crate::backend::remote::BrokerDriver;
use crate::backend::snapshot::BrokerState;
use crate::backend::{BoxFuture, ClusterError};

/// What the driver did, kept so it can be undone.
#[derive(Debug, Default)]
struct Ledger {
    /// Brokers any control call was made on.
    touched: BTreeSet<i32>,
    /// Brokers cut off (and not yet healed).
    isolated: BTreeSet<i32>,
}

/// Drives adopted containers through [`ContainerDriver`] and puts back what it changed.
pub(crate) struct AdoptedDriver {
    engine: Engine,
    inner: ContainerDriver,
    /// Each broker's container as attach found it.
    found: BTreeMap<i32, Seen>,
    ledger: Mutex<Ledger>,
    /// Leave the containers as the script left them.
    leave_as_is: bool,
}

impl AdoptedDriver {
    /// Drives `found` (broker id → its container as inspected). A container on no network
    /// cannot be isolated and healed, so it is refused.
    pub(crate) fn new(
        engine: Engine,
        found: BTreeMap<i32, Seen>,
        leave_as_is: bool,
    ) -> Result<Self, DockerError> {
        let mut adoptees = Vec::new();
        for (id, c) in &found {
            let first = c.endpoints.first().ok_or_else(|| DockerError::NoNetwork {
                container: c.name.clone(),
            })?;
            adoptees.push(Adoptee {
                id: *id,
                container: c.name.clone(),
                running: c.running,
                paused: c.paused,
                network: first.network.clone(),
                aliases: first.aliases.clone(),
                ipv4: first.ipv4.clone(),
            });
        }
        Ok(Self {
            inner: ContainerDriver::adopt(engine.clone(), adoptees),
            engine,
            found,
            ledger: Mutex::new(Ledger::default()),
            leave_as_is,
        })
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn touch(&self, id: i32) {
        if self.found.contains_key(&id) {
            self.ledger().touched.insert(id);
        }
    }

    fn container(&self, id: i32) -> Result<&Seen, ClusterError> {
        self.found
            .get(&id)
            .ok_or_else(|| ClusterError::UnknownBroker {
                id: id.into(),
                known: self.found.keys().copied().collect(),
            })
    }

    /// Takes broker `id`'s container off every network it was found on.
    async fn cut(&self, id: i32) -> Result<(), ClusterError> {
        let c = self.container(id)?;
        if self.inner.state(id) == Some(BrokerState::Down) {
            return Err(ClusterError::NotRunning(id));
        }
        if self.ledger().isolated.contains(&id) {
            return Ok(());
        }
        // Recorded first: if a disconnect fails half-way, heal and shutdown still reconnect.
        self.ledger().isolated.insert(id);
        let now = seen::inspect_driven(&self.engine, &c.name).await?;
        for e in &c.endpoints {
            if !now.endpoints.iter().any(|n| n.network == e.network) {
                continue;
            }
            let request = NetworkDisconnectRequest {
                container: Some(c.name.clone()),
                force: Some(true),
            };
            self.engine
                .docker()
                .disconnect_network(&e.network, request)
                .await
                .map_err(DockerError::on(ContainerAction::Disconnect, &c.name))?;
        }
        Ok(())
    }

    /// Reconnects broker `id`'s container to every network it was found on and is not on
    /// now; returns what it did, for people.
    async fn reconnect(&self, id: i32) -> Result<Vec<String>, ClusterError> {
        let c = self.container(id)?;
        let now = seen::inspect_driven(&self.engine, &c.name).await?;
        let mut done = Vec::new();
        for e in &c.endpoints {
            if now.endpoints.iter().any(|n| n.network == e.network) {
                continue;
            }
            done.push(connect(&self.engine, &c.name, e).await?);
        }
        self.ledger().isolated.remove(&id);
        Ok(done)
    }

    /// Puts broker `id`'s container back as it was found: unpaused, on its networks, running.
    /// Returns what it did, for people.
    async fn put_back(&self, id: i32) -> Result<Vec<String>, ClusterError> {
        let c = self.container(id)?;
        let now = seen::inspect_driven(&self.engine, &c.name).await?;
        let mut done = Vec::new();
        let docker = self.engine.docker();
        if now.paused && !c.paused {
            docker
                .unpause_container(&c.name)
                .await
                .map_err(DockerError::on(ContainerAction::Unpause, &c.name))?;
            done.push("unpaused".to_string());
        }
        done.extend(self.reconnect(id).await?);
        if !now.running && c.running {
            docker
                .start_container(
                    &c.name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(DockerError::on(ContainerAction::Start, &c.name))?;
            done.push("started".to_string());
        }
        Ok(done)
    }
}

/// Connects `container` to `e.network` with the address and aliases it had. A network whose
/// subnet Docker chose itself refuses a requested address; then it gets any address, and the
/// line returned says so.
async fn connect(engine: &Engine, container: &str, e: &Endpoint) -> Result<String, ClusterError> {
    let request = |ipv4: Option<String>| NetworkConnectRequest {
        container: Some(container.to_string()),
        endpoint_config: Some(EndpointSettings {
            aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
            ipam_config: ipv4.map(|ip| EndpointIpamConfig {
                ipv4_address: Some(ip),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let docker = engine.docker();
    let failed = DockerError::on(ContainerAction::Reconnect, container);
    match docker
        .connect_network(&e.network, request(e.ipv4.clone()))
        .await
    {
        Ok(()) => Ok(match &e.ipv4 {
            Some(ip) => format!("reconnected to {} as {ip}", e.network),
            None => format!("reconnected to {}", e.network),
        }),
        Err(cause) if e.ipv4.is_some() && cause.to_string().contains("user configured subnets") => {
            docker
                .connect_network(&e.network, request(None))
                .await
                .map_err(failed)?;
            Ok(format!(
                "reconnected to {} with a new address (the network has no fixed subnet, so {} could not be asked for)",
                e.network,
                e.ipv4.as_deref().unwrap_or_default()
            ))
        }
        Err(cause) => Err(failed(cause).into()),
    }
}

impl BrokerDriver for AdoptedDriver {
    /// "docker": broker control is Docker's, so lessons that check for it (isolate takes the
    /// container off the network) hold here too.
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn brokers(&self) -> Vec<i32> {
        self.inner.brokers()
    }

    fn state(&self, id: i32) -> Option<BrokerState> {
        let state = self.inner.state(id)?;
        let isolated = self.ledger().isolated.contains(&id);
        Some(match state {
            BrokerState::Up if isolated => BrokerState::Isolated,
            other => other,
        })
    }

    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.touch(id);
        self.inner.stop(id)
    }

    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.touch(id);
        self.inner.kill(id)
    }

    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.touch(id);
        self.inner.start(id)
    }

    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.touch(id);
        self.inner.pause(id)
    }

    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.touch(id);
        self.inner.resume(id)
    }

    fn set_isolated(&self, id: i32, isolated: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.touch(id);
        Box::pin(async move {
            if isolated {
                self.cut(id).await
            } else {
                self.reconnect(id).await.map(|_| ())
            }
        })
    }

    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        self.inner.logs(id)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let touched: Vec<i32> = self.ledger().touched.iter().copied().collect();
            for id in touched {
                let Ok(c) = self.container(id) else { continue };
                if self.leave_as_is {
                    eprintln!(
                        "attach: left {} as the script left it (--leave-as-is)",
                        c.name
                    );
                    continue;
                }
                match self.put_back(id).await {
                    Ok(done) if done.is_empty() => {}
                    Ok(done) => eprintln!("attach: put {} back: {}", c.name, done.join(", ")),
                    Err(e) => eprintln!(
                        "attach: could not put {} back as it was: {e}; `docker ps -a` and `docker network connect` can finish the job",
                        c.name
                    ),
                }
            }
            self.inner.shutdown().await;
        })
    }
}
