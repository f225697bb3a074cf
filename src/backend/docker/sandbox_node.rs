//! Container settings for the sandbox's own nodes (`kafka-sandbox node ...` from the
//! [`super::image`] image): a controller container and one container per broker, each at a
//! fixed address on the sandbox network. Brokers advertise that address, which peers use and
//! which the host reaches directly (Linux routes to its bridge networks), so no host ports
//! are published.

use std::collections::BTreeMap;

use super::apache_kafka::container_name;
use super::ownership::LABEL;
use super::spec::{ContainerSpec, SpecError};
use crate::config::ClusterConfig;

/// Port every sandbox node listens on inside its container.
pub(crate) const NODE_PORT: u16 = 9092;
/// Where a broker container keeps its partition logs: in the container's own filesystem, which
/// outlives a stop or kill of the container and goes with it when it is removed.
pub(crate) const DATA_DIR: &str = "/tmp/kafka-sandbox-data";
/// Container name of the controller.
pub(crate) const CONTROLLER_NAME: &str = "kafka-controller";

/// The address of broker `id` (or the controller, id 0) on a network with `prefix`.
pub fn address(prefix: &str, id: i32) -> String {
    format!("{prefix}.{}", 10 + id)
}

/// The controller container followed by one container per broker (`kafka-1`..`kafka-N`).
pub(crate) fn node_specs(
    image: &str,
    prefix: &str,
    config: &ClusterConfig,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<ContainerSpec>, SpecError> {
    if !(1..=200).contains(&config.brokers) {
        return Err(SpecError::NodeCount(config.brokers));
    }
    let json = serde_json::to_string(config).map_err(SpecError::Settings)?;
    let controller = format!("{}:{NODE_PORT}", address(prefix, 0));
    let spec = |name: String, node_id: i32, role: &str, args: Vec<String>| {
        let mut labels = labels.clone();
        labels.insert(LABEL.into(), role.into());
        let mut cmd = vec![
            "node".to_string(),
            role.to_string(),
            "--listen".into(),
            format!("0.0.0.0:{NODE_PORT}"),
        ];
        cmd.extend(args);
        cmd.extend(["--config".to_string(), json.clone()]);
        ContainerSpec {
            hostname: name.clone(),
            network_aliases: vec![name.clone()],
            name,
            node_id,
            image: image.to_string(),
            env: vec![("KAFKA_SANDBOX_LOG".into(), "info".into())],
            cmd,
            ipv4_address: Some(address(prefix, node_id)),
            ports: Vec::new(),
            labels,
        }
    };
    let mut specs = vec![spec(CONTROLLER_NAME.into(), 0, "controller", Vec::new())];
    for id in 1..=config.brokers {
        specs.push(spec(
            container_name(id),
            id,
            "broker",
            vec![
                "--id".into(),
                id.to_string(),
                "--advertise".into(),
                address(prefix, id),
                "--controller".into(),
                controller.clone(),
                "--data-dir".into(),
                DATA_DIR.into(),
            ],
        ));
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_advertise_their_fixed_address_and_find_the_controller_by_it() {
        let config = ClusterConfig::default();
        let specs = node_specs("img", "10.213.5", &config, &BTreeMap::new()).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["kafka-controller", "kafka-1", "kafka-2", "kafka-3"]);
        let b2 = &specs[2];
        assert_eq!(b2.ipv4_address.as_deref(), Some("10.213.5.12"));
        let arg = |flag: &str| {
            let i = b2.cmd.iter().position(|a| a == flag).unwrap();
            b2.cmd[i + 1].clone()
        };
        assert_eq!(arg("--advertise"), "10.213.5.12");
        assert_eq!(arg("--controller"), "10.213.5.10:9092");
        assert_eq!(arg("--id"), "2");
        assert_eq!(arg("--data-dir"), DATA_DIR);
        let sent: ClusterConfig = serde_json::from_str(&arg("--config")).unwrap();
        assert_eq!(sent.timings, config.timings);
        assert_eq!(b2.labels.get(LABEL).map(String::as_str), Some("broker"));
        assert!(node_specs(
            "img",
            "p",
            &ClusterConfig {
                brokers: 0,
                ..config
            },
            &BTreeMap::new()
        )
        .is_err());
    }
}
