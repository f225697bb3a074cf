//! The docker backend: broker containers on a labelled user-defined network, controlled through
//! the Docker Engine API (bollard). The image is real Apache Kafka ([`apache_kafka`]) or the
//! sandbox's own node image ([`image`], [`sandbox_node`]).

pub mod apache_kafka;
pub mod clean;
pub mod containers;
pub mod driver;
pub mod error;
pub mod identity;
pub mod image;
pub mod ownership;
mod pull;
pub mod sandbox_node;
pub mod spec;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::remote::RemoteCluster;
use super::{ClusterError, NotReady};
use crate::config::ClusterConfig;
use clean::Scope;
use containers::Engine;
use driver::ContainerDriver;
pub use error::{ContainerAction, DockerError};
use ownership::Run;
use pull::ImageKind;
use spec::{ContainerSpec, SpecError};

/// How long the containers get to form a cluster (Apache Kafka's JVM takes a while).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How many of its last log lines each container that did not come up shows.
const LOG_LINES: usize = 15;

/// How a docker run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerOptions {
    /// The image: Apache Kafka, or the sandbox's node image.
    pub image: String,
    /// Keep the containers when the cluster does not come up, for a look.
    pub keep_on_failure: bool,
}

/// Starts the cluster in containers and waits until every broker is in the metadata. Whatever
/// was created is removed again if that fails (unless `keep_on_failure`), also when a signal
/// ([`crate::signals`]) ends the start.
pub async fn start(
    options: &DockerOptions,
    config: ClusterConfig,
) -> Result<RemoteCluster, ClusterError> {
    config.validate()?;
    let engine = Engine::connect().await?;
    let image = options.image.as_str();
    let mut say = |line: &str| eprintln!("docker: {line}");
    let kind = tokio::select! {
        kind = pull::ensure(&engine, image, &mut say) => kind?,
        ending = crate::signals::next() => return Err(DockerError::Interrupted(ending.name()).into()),
    };
    let run = Run::for_this_process();
    eprintln!("docker: run {} ({})", run.id, run.network_name());
    let started = tokio::select! {
        started = create_and_wait(&engine, &run, image, kind, &config) => started,
        ending = crate::signals::next() => Err(DockerError::Interrupted(ending.name()).into()),
    };
    match started {
        Ok(cluster) => Ok(cluster),
        Err(ClusterError::Docker(DockerError::NotReady {
            run,
            waited,
            cause,
            logs,
            ..
        })) if options.keep_on_failure => Err(DockerError::NotReady {
            run,
            waited,
            cause,
            logs,
            kept: true,
        }
        .into()),
        Err(e @ ClusterError::Docker(DockerError::ExitedWhileStarting { .. }))
            if options.keep_on_failure =>
        {
            eprintln!(
                "docker: keeping run {}'s containers for a look; remove them with `kafka-sandbox docker clean --run {}`",
                run.id, run.id
            );
            Err(e)
        }
        Err(e) => {
            remove(&engine, &run).await;
            Err(e)
        }
    }
}

/// Removes everything of `run`. A create the engine was still processing when the start was
/// given up may land just after the first pass, so a second pass follows.
async fn remove(engine: &Engine, run: &Run) {
    let scope = Scope::Runs(vec![run.id.clone()]);
    for _ in 0..2 {
        if let Err(e) = engine.clean(&scope).await {
            eprintln!(
                "kafka-sandbox: {e}; run `kafka-sandbox docker clean --run {}` to remove the rest",
                run.id
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn create_and_wait(
    engine: &Engine,
    run: &Run,
    image: &str,
    kind: ImageKind,
    config: &ClusterConfig,
) -> Result<RemoteCluster, ClusterError> {
    let network = run.network_name();
    let prefix = engine
        .create_network(&network, &run.labels("network"))
        .await?;
    let run_labels = run.owner_labels();
    let mut specs = match kind {
        ImageKind::SandboxNode => sandbox_node::node_specs(image, &prefix, config, &run_labels)?,
        ImageKind::ApacheKafka => apache_kafka::broker_specs(&apache_kafka::ApacheKafkaSettings {
            image: image.to_string(),
            brokers: config.brokers,
            host: config.host.clone(),
            host_ports: host_ports(config)?,
            cluster_id: apache_kafka::kraft_cluster_id(&run.id),
            timings: config.timings.clone(),
            topic_defaults: config.topic_defaults.clone(),
            labels: run_labels,
        })?,
    };
    // Per-run container names, so sandboxes can share an engine; inside the network each
    // container keeps its plain name (`kafka-1`) as hostname and alias.
    for spec in &mut specs {
        spec.name = run.container_name(&spec.name);
    }
    launch(engine, run, &network, &specs, kind).await
}
/// One host port per broker: from `--port` on, or (with port 0) a free one each.
fn host_ports(config: &ClusterConfig) -> Result<Vec<u16>, ClusterError> {
    (1..=config.brokers)
        .map(|id| {
            if config.base_port != 0 {
                return Ok(config.broker_port(id)?);
            }
            std::net::TcpListener::bind((config.host.as_str(), 0))
                .and_then(|probe| probe.local_addr())
                .map(|a| a.port())
                .map_err(|e| SpecError::NoFreePort(e).into())
        })
        .collect()
}

async fn launch(
    engine: &Engine,
    run: &Run,
    network: &str,
    specs: &[ContainerSpec],
    kind: ImageKind,
) -> Result<RemoteCluster, ClusterError> {
    let started = Instant::now();
    for spec in specs {
        eprintln!("docker: starting {} ({})", spec.name, spec.image);
        engine.run(spec, network).await?;
    }
    let brokers: Vec<&ContainerSpec> = specs.iter().filter(|s| s.node_id > 0).collect();
    let bootstrap = brokers
        .iter()
        .map(|s| match (kind, s.ports.first()) {
            (ImageKind::ApacheKafka, Some(p)) => format!("{}:{}", p.host_ip, p.host_port),
            _ => format!(
                "{}:{}",
                s.ipv4_address.clone().unwrap_or_default(),
                sandbox_node::NODE_PORT
            ),
        })
        .collect::<Vec<_>>()
        .join(",");
    let owned: Vec<ContainerSpec> = brokers.into_iter().cloned().collect();
    eprintln!(
        "docker: waiting for {} brokers to join the cluster (up to {} s)…",
        owned.len(),
        READY_TIMEOUT.as_secs()
    );
    // Until the cluster is up, removing (or keeping) the containers is `start`'s decision.
    let remove_at_shutdown = Arc::new(AtomicBool::new(false));
    let isolation = match kind {
        ImageKind::SandboxNode => driver::Isolation::NodeSignal,
        ImageKind::ApacheKafka => driver::Isolation::Network,
    };
    // The sandbox node's controller is node 0, on its fixed address: the observer follows it.
    let controller = (kind == ImageKind::SandboxNode)
        .then(|| specs.iter().find(|s| s.node_id == 0))
        .flatten()
        .and_then(|s| s.ipv4_address.as_ref())
        .map(|ip| format!("{ip}:{}", sandbox_node::NODE_PORT));
    let driver = ContainerDriver::owned(
        engine.clone(),
        run.id.clone(),
        network,
        &owned,
        remove_at_shutdown.clone(),
        isolation,
    )
    .following(controller);
    let ready = RemoteCluster::start(bootstrap, Box::new(driver), READY_TIMEOUT);
    tokio::pin!(ready);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            cluster = &mut ready => {
                return match cluster {
                    Ok(cluster) => {
                        remove_at_shutdown.store(true, Ordering::SeqCst);
                        eprintln!("docker: cluster ready in {:.1} s", started.elapsed().as_secs_f64());
                        Ok(cluster)
                    }
                    Err(ClusterError::NotReady(why)) => Err(not_ready(engine, run, specs, why).await),
                    Err(e) => Err(e),
                };
            }
            _ = check.tick() => {
                for spec in specs {
                    if !engine.is_running(&spec.name).await? {
                        let logs = engine.logs(&spec.name, LOG_LINES).await.unwrap_or_default();
                        return Err(DockerError::ExitedWhileStarting {
                            container: spec.name.clone(),
                            logs,
                        }
                        .into());
                    }
                }
            }
        }
    }
}

/// The containers that did not come up: the brokers missing from the metadata, and the
/// controller too when no broker made it; all of them when the failure names none.
fn not_up<'a>(specs: &'a [ContainerSpec], why: &NotReady) -> Vec<&'a ContainerSpec> {
    match why {
        NotReady::MissingBrokers { seen, .. } => specs
            .iter()
            .filter(|s| !seen.contains(&s.node_id) && (s.node_id > 0 || seen.is_empty()))
            .collect(),
        _ => specs.iter().collect(),
    }
}

/// The readiness failure with the last log lines of the containers that did not come up
/// (with no broker up, the controller's too: it is usually why).
async fn not_ready(
    engine: &Engine,
    run: &Run,
    specs: &[ContainerSpec],
    why: NotReady,
) -> ClusterError {
    let mut logs = String::new();
    for spec in not_up(specs, &why) {
        let lines = engine
            .logs(&spec.name, LOG_LINES)
            .await
            .unwrap_or_else(|e| format!("(no logs: {e})"));
        logs.push_str(&format!("\n--- last lines of {} ---\n{lines}", spec.name));
    }
    DockerError::NotReady {
        run: run.id.clone(),
        waited: READY_TIMEOUT,
        cause: Box::new(ClusterError::NotReady(why)),
        logs,
        kept: false,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readiness_timeout_shows_the_containers_that_did_not_come_up() {
        let config = ClusterConfig::default();
        let specs =
            sandbox_node::node_specs("img", "10.1.2", &config, &Default::default()).unwrap();
        let names = |why: NotReady| -> Vec<String> {
            not_up(&specs, &why)
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        let missing = |seen: Vec<i32>| NotReady::MissingBrokers {
            waited: READY_TIMEOUT,
            seen,
            expected: vec![1, 2, 3],
        };
        assert_eq!(names(missing(vec![1, 3])), ["kafka-2"]);
        assert_eq!(
            names(missing(vec![])),
            ["kafka-controller", "kafka-1", "kafka-2", "kafka-3"],
            "with no broker up, the controller is likely why"
        );
        assert_eq!(names(NotReady::CreateTopicsRefused(READY_TIMEOUT)).len(), 4);
    }
}
