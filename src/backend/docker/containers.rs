//! The Docker Engine, through bollard: containers and networks the sandbox creates (always
//! labelled with their run, see [`super::ownership`]), their state and logs. Broker control on top of it is in
//! [`super::driver`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use super::error::{ContainerAction, DockerError};
use super::spec::ContainerSpec;
use crate::backend::ClusterError;

/// How long `docker stop` waits before it kills (a controlled shutdown needs a few seconds).
pub(super) const STOP_GRACE_SECS: i32 = 30;

/// A connection to the Docker Engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects to the local engine and checks that it answers.
    pub async fn connect() -> Result<Self, ClusterError> {
        const WAIT: Duration = Duration::from_secs(5);
        let unreachable = |cause| DockerError::Unreachable { cause };
        let silent = |_| DockerError::Silent { waited: WAIT };
        let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
        let docker = tokio::time::timeout(WAIT, docker.negotiate_version())
            .await
            .map_err(silent)?
            .map_err(unreachable)?;
        tokio::time::timeout(WAIT, docker.ping())
            .await
            .map_err(silent)?
            .map_err(unreachable)?;
        Ok(Self { docker })
    }

    /// The bollard client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Creates a labelled bridge network with a /24 subnet nobody else uses, and returns its
    /// subnet prefix (e.g. `10.213.7`).
    pub(crate) async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, ClusterError> {
        const ATTEMPTS: u16 = 40;
        let start = (std::process::id() % 200) as u16;
        let mut n = 0;
        loop {
            let prefix = format!("10.213.{}", (start + n) % 250 + 1);
            let request = NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(format!("{prefix}.0/24")),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            };
            match self.docker.create_network(request).await {
                Ok(_) => return Ok(prefix),
                // Another network has that subnet: try the next one.
                Err(e)
                    if super::error::engine_refusal(&e)
                        .is_some_and(|(_, message)| message.contains("overlap"))
                        && n + 1 < ATTEMPTS =>
                {
                    n += 1
                }
                Err(cause) => {
                    return Err(DockerError::CreateNetwork {
                        network: name.to_string(),
                        cause,
                    }
                    .into())
                }
            }
        }
    }

    /// Creates and starts one container on `network`.
    pub async fn run(&self, spec: &ContainerSpec, network: &str) -> Result<(), ClusterError> {
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .ports
            .iter()
            .map(|p| {
                (
                    format!("{}/tcp", p.container_port),
                    Some(vec![PortBinding {
                        host_ip: Some(p.host_ip.clone()),
                        host_port: Some(p.host_port.to_string()),
                    }]),
                )
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: Some(spec.hostname.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            exposed_ports: Some(
                spec.ports
                    .iter()
                    .map(|p| (format!("{}/tcp", p.container_port), HashMap::new()))
                    .collect(),
            ),
            host_config: Some(HostConfig {
                port_bindings: Some(port_bindings),
                network_mode: Some(network.to_string()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    endpoint(spec.network_aliases.clone(), spec.ipv4_address.clone()),
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(|cause| DockerError::CreateContainer {
                container: spec.name.clone(),
                cause,
            })?;
        self.docker
            .start_container(
                &spec.name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|cause| {
                DockerError::StartContainer {
                    container: spec.name.clone(),
                    cause,
                }
                .into()
            })
    }

    /// The last `lines` lines a container printed.
    pub async fn logs(&self, container: &str, lines: usize) -> Result<String, ClusterError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut out = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(DockerError::on(ContainerAction::ReadLogs, container))?;
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(out.trim_end().to_string())
    }

    /// Whether the container is running; `Err` if it does not exist.
    pub(crate) async fn is_running(&self, container: &str) -> Result<bool, ClusterError> {
        let inspect = self
            .docker
            .inspect_container(
                container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(DockerError::on(ContainerAction::Inspect, container))?;
        Ok(inspect.state.and_then(|s| s.running).unwrap_or(false))
    }
}

/// How a container sits on its network: its aliases and, if fixed, its address.
pub(super) fn endpoint(aliases: Vec<String>, ipv4: Option<String>) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(aliases),
        ipam_config: ipv4.map(|ip| EndpointIpamConfig {
            ipv4_address: Some(ip),
            ..Default::default()
        }),
        ..Default::default()
    }
}
