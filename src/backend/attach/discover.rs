//! Which container runs each broker of an attached cluster, from the address each broker
//! advertises and what Docker says about the running containers.
//!
//! A broker advertising a container's address (an IP on any of its networks, its name,
//! hostname or a network alias) is that container, whatever port it listens on inside: the
//! sandbox's node image advertises its container IP, and the tutorial's brokers their names
//! with one internal port for all. Otherwise the broker is the container that publishes its
//! advertised port on the host (`localhost:9092`). A broker that matches several containers,
//! or two brokers that match one, are refused: guessing would stop the wrong broker.

use std::collections::BTreeMap;

use super::seen::Seen;
use super::NoControl;

/// Broker id → container name, for brokers advertising `advertised` (id → host and port).
pub(crate) fn match_brokers(
    advertised: &BTreeMap<i32, (String, u16)>,
    containers: &[Seen],
) -> Result<BTreeMap<i32, String>, NoControl> {
    let mut found = BTreeMap::new();
    for (id, (host, port)) in advertised {
        let mut candidates: Vec<&str> = containers
            .iter()
            .filter(|c| c.answers_to(host))
            .map(|c| c.name.as_str())
            .collect();
        if candidates.is_empty() {
            candidates = containers
                .iter()
                .filter(|c| publishes(c, host, *port))
                .map(|c| c.name.as_str())
                .collect();
        }
        candidates.sort_unstable();
        candidates.dedup();
        match candidates.as_slice() {
            [] => {
                return Err(NoControl::NoContainer {
                    id: *id,
                    addr: format!("{host}:{port}"),
                })
            }
            [one] => {
                found.insert(*id, one.to_string());
            }
            many => {
                return Err(NoControl::Ambiguous {
                    id: *id,
                    addr: format!("{host}:{port}"),
                    containers: many.iter().map(|c| c.to_string()).collect(),
                })
            }
        }
    }
    let mut by_container: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (id, name) in &found {
        by_container.entry(name).or_default().push(*id);
    }
    if let Some((container, brokers)) = by_container.into_iter().find(|(_, ids)| ids.len() > 1) {
        return Err(NoControl::Shared {
            container: container.to_string(),
            brokers,
        });
    }
    Ok(found)
}

/// Whether `c` publishes host port `port` on an address that `host` reaches.
fn publishes(c: &Seen, host: &str, port: u16) -> bool {
    let loopback = |h: &str| {
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    c.published.iter().any(|p| {
        p.host_port == port
            && (matches!(p.host_ip.as_str(), "" | "0.0.0.0" | "::")
                || p.host_ip == host
                || (loopback(&p.host_ip) && loopback(host)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::seen::{Endpoint, Published};
    use super::*;

    fn container(name: &str, ip: &str, aliases: &[&str], published: &[u16]) -> Seen {
        Seen {
            name: name.into(),
            hostname: name.into(),
            running: true,
            paused: false,
            endpoints: vec![Endpoint {
                network: "net".into(),
                ipv4: Some(ip.into()),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
            }],
            published: published
                .iter()
                .map(|p| Published {
                    host_ip: "0.0.0.0".into(),
                    host_port: *p,
                    container_port: 19092,
                })
                .collect(),
        }
    }

    fn brokers(addrs: &[(&str, u16)]) -> BTreeMap<i32, (String, u16)> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, (h, p))| (i as i32 + 1, (h.to_string(), *p)))
            .collect()
    }

    fn three() -> Vec<Seen> {
        vec![
            container("proj_kafka-1_1", "10.9.0.11", &["kafka-1"], &[9092]),
            container("proj_kafka-2_1", "10.9.0.12", &["kafka-2"], &[9093]),
            container("proj_kafka-3_1", "10.9.0.13", &["kafka-3"], &[9094]),
            container("unrelated", "10.9.0.50", &[], &[8080]),
        ]
    }

    #[test]
    fn one_internal_port_for_all_brokers_still_finds_each_container() {
        // The tutorial's brokers advertise their names, all with the internal port 19092.
        let advertised = brokers(&[("kafka-1", 19092), ("kafka-2", 19092), ("kafka-3", 19092)]);
        let found = match_brokers(&advertised, &three()).unwrap();
        assert_eq!(found[&1], "proj_kafka-1_1");
        assert_eq!(found[&2], "proj_kafka-2_1");
        assert_eq!(found[&3], "proj_kafka-3_1");
    }

    #[test]
    fn container_ips_and_published_ports_both_find_brokers() {
        let by_ip = brokers(&[
            ("10.9.0.11", 9092),
            ("10.9.0.12", 9092),
            ("10.9.0.13", 9092),
        ]);
        let found = match_brokers(&by_ip, &three()).unwrap();
        assert_eq!(found[&2], "proj_kafka-2_1");
        let by_port = brokers(&[
            ("localhost", 9092),
            ("127.0.0.1", 9093),
            ("localhost", 9094),
        ]);
        let found = match_brokers(&by_port, &three()).unwrap();
        assert_eq!(found[&3], "proj_kafka-3_1");
        // A port published on every host address is reachable at any of them; another port
        // is no container's.
        let host_address = brokers(&[("192.168.1.7", 9093)]);
        assert_eq!(
            match_brokers(&host_address, &three()).unwrap()[&1],
            "proj_kafka-2_1"
        );
        let elsewhere = brokers(&[("192.168.1.7", 9999)]);
        let e = match_brokers(&elsewhere, &three()).unwrap_err().to_string();
        assert!(
            e.contains("broker 1's address 192.168.1.7:9999") && e.contains("--containers 1="),
            "{e}"
        );
    }

    #[test]
    fn two_brokers_on_one_container_or_two_containers_for_one_broker_are_refused() {
        // Both brokers published through one container (a proxy, say).
        let proxy = vec![Seen {
            published: vec![
                Published {
                    host_ip: "0.0.0.0".into(),
                    host_port: 9092,
                    container_port: 9092,
                },
                Published {
                    host_ip: "0.0.0.0".into(),
                    host_port: 9093,
                    container_port: 9093,
                },
            ],
            ..container("proxy", "10.9.0.2", &[], &[])
        }];
        let e = match_brokers(
            &brokers(&[("localhost", 9092), ("localhost", 9093)]),
            &proxy,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("brokers 1, 2 all match container proxy") && e.contains("--containers"),
            "{e}"
        );
        // Two compose projects each with a service kafka-1.
        let mut twice = three();
        twice.push(container("other_kafka-1_1", "10.8.0.11", &["kafka-1"], &[]));
        let e = match_brokers(&brokers(&[("kafka-1", 19092)]), &twice)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("other_kafka-1_1") && e.contains("proj_kafka-1_1"),
            "{e}"
        );
        assert!(e.contains("--containers 1="), "{e}");
    }

    #[test]
    fn a_port_bound_to_another_address_is_not_the_broker_s() {
        let mut c = container("lan-only", "10.9.0.5", &[], &[]);
        c.published.push(Published {
            host_ip: "192.168.1.7".into(),
            host_port: 9092,
            container_port: 9092,
        });
        let cs = vec![c];
        assert!(match_brokers(&brokers(&[("localhost", 9092)]), &cs).is_err());
        assert_eq!(
            match_brokers(&brokers(&[("192.168.1.7", 9092)]), &cs).unwrap()[&1],
            "lan-only"
        );
    }
}
