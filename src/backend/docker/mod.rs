//! The docker backend: broker containers on a labelled user-defined network, controlled through
//! the Docker Engine API (bollard). The image is real Apache Kafka ([`apache_kafka`]) or the
//! sandbox's own node image ([`image`], [`sandbox_node`]).

pub mod apache_kafka;
pub mod containers;
pub mod driver;
pub mod error;
pub mod image;
pub mod sandbox_node;
pub mod spec;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::remote::RemoteCluster;
use super::ClusterError;
use crate::config::ClusterConfig;
use containers::Engine;
use driver::ContainerDriver;
pub use error::{ContainerAction, DockerError};
use spec::{ContainerSpec, SpecError, LABEL};

/// How long the containers get to form a cluster (Apache Kafka's JVM takes a while).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Starts the cluster in containers of `image` and waits until every broker is in the
/// metadata. Whatever was created is removed again if that fails.
pub async fn start(image: &str, config: ClusterConfig) -> Result<RemoteCluster, ClusterError> {
    config.validate()?;
    let engine = Engine::connect().await?;
    let inspect = engine
        .docker()
        .inspect_image(image)
        .await
        .map_err(|cause| DockerError::ImageMissing {
            image: image.to_string(),
            cause,
        })?;
    let sandbox_node = inspect
        .config
        .and_then(|c| c.labels)
        .is_some_and(|l| l.contains_key(image::NODE_LABEL));
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let labels = BTreeMap::from([
        (LABEL.to_string(), "network".to_string()),
        (format!("{LABEL}.run"), run.clone()),
    ]);
    let network = format!("kafka-sandbox-{run}");
    let prefix = engine.create_network(&network, &labels).await?;
    let run_labels = BTreeMap::from([(format!("{LABEL}.run"), run.clone())]);
    let specs = if sandbox_node {
        sandbox_node::node_specs(image, &prefix, &config, &run_labels).map_err(ClusterError::from)
    } else {
        host_ports(&config).and_then(|host_ports| {
            Ok(apache_kafka::broker_specs(
                &apache_kafka::ApacheKafkaSettings {
                    image: image.to_string(),
                    brokers: config.brokers,
                    host_ports,
                    cluster_id: apache_kafka::kraft_cluster_id(&run),
                    timings: config.timings.clone(),
                    topic_defaults: config.topic_defaults.clone(),
                    labels: run_labels.clone(),
                },
            )?)
        })
    };
    let specs = match specs {
        Ok(s) => s,
        Err(e) => {
            let _ = engine.clean(Some(&run)).await;
            return Err(e);
        }
    };
    match launch(&engine, &run, &network, &specs, sandbox_node).await {
        Ok(cluster) => Ok(cluster),
        Err(e) => {
            let _ = engine.clean(Some(&run)).await;
            Err(e)
        }
    }
}

/// One host port per broker: from `--port` on, or (with port 0) a free one each.
fn host_ports(config: &ClusterConfig) -> Result<Vec<u16>, ClusterError> {
    (1..=config.brokers)
        .map(|id| {
            if config.base_port != 0 {
                return Ok(config.broker_port(id)?);
            }
            std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|probe| probe.local_addr())
                .map(|a| a.port())
                .map_err(|e| SpecError::NoFreePort(e).into())
        })
        .collect()
}

async fn launch(
    engine: &Engine,
    run: &str,
    network: &str,
    specs: &[ContainerSpec],
    sandbox_node: bool,
) -> Result<RemoteCluster, ClusterError> {
    let started = Instant::now();
    for spec in specs {
        eprintln!("docker: starting {} ({})", spec.name, spec.image);
        engine.run(spec, network).await?;
    }
    let brokers: Vec<&ContainerSpec> = specs.iter().filter(|s| s.node_id > 0).collect();
    let bootstrap = brokers
        .iter()
        .map(|s| match (sandbox_node, s.ports.first()) {
            (false, Some(p)) => format!("{}:{}", p.host_ip, p.host_port),
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
    let driver = ContainerDriver::owned(engine.clone(), run.to_string(), network, &owned);
    let ready = RemoteCluster::start(bootstrap, Box::new(driver), READY_TIMEOUT);
    tokio::pin!(ready);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            cluster = &mut ready => {
                let cluster = cluster?;
                eprintln!("docker: cluster ready in {:.1} s", started.elapsed().as_secs_f64());
                return Ok(cluster);
            }
            _ = check.tick() => {
                for spec in specs {
                    if !engine.is_running(&spec.name).await? {
                        let logs = engine.logs(&spec.name, 15).await.unwrap_or_default();
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
