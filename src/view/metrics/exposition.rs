//! `/metrics`: the [`Figures`] in the Prometheus text format (OpenMetrics flavour, written by
//! the `prometheus-client` crate), under the names the JMX exporter's common Kafka rules give
//! Kafka's MBeans, and consumer lag as kafka-exporter names it — so a dashboard built for a
//! real cluster reads the sandbox unchanged.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{BrokerFigures, Figures};

impl Figures {
    /// The figures in the Prometheus text format (OpenMetrics flavour), named as the JMX
    /// exporter's Kafka rules name them, with a `broker` label where Kafka has them per broker.
    pub fn prometheus(&self) -> String {
        type Labels = Vec<(&'static str, String)>;
        let mut registry = Registry::default();
        let per_broker_gauge =
            |registry: &mut Registry,
             name: &str,
             help: &str,
             value: fn(&BrokerFigures) -> Option<u64>| {
                let family = Family::<Labels, Gauge>::default();
                registry.register(name, help, family.clone());
                for (id, b) in &self.brokers {
                    if let Some(v) = value(b) {
                        family
                            .get_or_create(&vec![("broker", id.to_string())])
                            .set(v as i64);
                    }
                }
            };
        let per_broker_counter =
            |registry: &mut Registry,
             name: &str,
             help: &str,
             value: fn(&BrokerFigures) -> Option<u64>| {
                let family = Family::<Labels, Counter>::default();
                registry.register(name, help, family.clone());
                for (id, b) in &self.brokers {
                    if let Some(v) = value(b) {
                        family
                            .get_or_create(&vec![("broker", id.to_string())])
                            .inc_by(v);
                    }
                }
            };
        per_broker_gauge(
            &mut registry,
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions led by the broker with fewer in-sync replicas than replicas",
            |b| Some(b.under_replicated_partitions),
        );
        per_broker_gauge(
            &mut registry,
            "kafka_server_replicamanager_partitioncount",
            "Partition replicas held by the broker",
            |b| Some(b.partition_count),
        );
        per_broker_gauge(
            &mut registry,
            "kafka_server_replicamanager_leadercount",
            "Partitions led by the broker",
            |b| Some(b.leader_count),
        );
        per_broker_counter(
            &mut registry,
            "kafka_server_replicamanager_isrshrinks",
            "ISR shrinks of partitions the broker leads, counted from metadata",
            |b| Some(b.isr_shrinks),
        );
        per_broker_counter(
            &mut registry,
            "kafka_server_replicamanager_isrexpands",
            "ISR expands of partitions the broker leads, counted from metadata",
            |b| Some(b.isr_expands),
        );
        per_broker_counter(
            &mut registry,
            "kafka_server_brokertopicmetrics_messagesin",
            "Records appended by the broker as leader",
            |b| b.messages_in,
        );
        per_broker_counter(
            &mut registry,
            "kafka_server_brokertopicmetrics_failedproducerequests",
            "Produce requests the broker answered with an error",
            |b| b.failed_produce_requests,
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str, value: u64| {
            let g = Gauge::<i64>::default();
            g.set(value as i64);
            registry.register(name, help, g);
        };
        let counter = |registry: &mut Registry, name: &str, help: &str, value: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(value);
            registry.register(name, help, c);
        };
        gauge(
            &mut registry,
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a leader",
            self.offline_partitions_count,
        );
        gauge(
            &mut registry,
            "kafka_controller_kafkacontroller_activecontrollercount",
            "Active controllers (1 when healthy)",
            self.active_controller_count,
        );
        counter(
            &mut registry,
            "kafka_controller_controllerstats_leaderelections",
            "Partition leaders chosen, counted from metadata",
            self.leader_elections,
        );
        counter(
            &mut registry,
            "kafka_controller_controllerstats_uncleanleaderelections",
            "Partition leaders chosen from outside the ISR",
            self.unclean_leader_elections,
        );
        // kafka-exporter's names: `consumergroup` is its label; `group` is the same value for
        // queries written against other exporters.
        let lag = Family::<Labels, Gauge>::default();
        registry.register(
            "kafka_consumergroup_lag",
            "Messages between the group's committed offset and the high watermark",
            lag.clone(),
        );
        let lag_sum = Family::<Labels, Gauge>::default();
        registry.register(
            "kafka_consumergroup_lag_sum",
            "Lag of the group summed over the topic's partitions",
            lag_sum.clone(),
        );
        for l in &self.lag {
            lag.get_or_create(&vec![
                ("consumergroup", l.group.clone()),
                ("group", l.group.clone()),
                ("topic", l.topic.clone()),
                ("partition", l.partition.to_string()),
            ])
            .set(l.lag);
            lag_sum
                .get_or_create(&vec![
                    ("consumergroup", l.group.clone()),
                    ("group", l.group.clone()),
                    ("topic", l.topic.clone()),
                ])
                .inc_by(l.lag);
        }
        let mut out = String::new();
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::failover;
    use super::Figures;

    #[test]
    fn prometheus_text_parses_and_names_the_jmx_exporter_series() {
        let (snapshot, counters, groups) = failover();
        let text = Figures::compute(&snapshot, &counters, &groups, true).prometheus();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        let value = |name: &str, label: Option<(&str, &str)>| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|s| match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                })
        };
        assert_eq!(
            value(
                "kafka_server_replicamanager_underreplicatedpartitions",
                Some(("broker", "1"))
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                "kafka_server_replicamanager_isrshrinks_total",
                Some(("broker", "1"))
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                "kafka_controller_kafkacontroller_offlinepartitionscount",
                None
            ),
            Some(1.0)
        );
        assert_eq!(
            value("kafka_consumergroup_lag", Some(("consumergroup", "g"))),
            Some(5.0)
        );
        assert_eq!(
            value(
                "kafka_server_replicamanager_partitioncount",
                Some(("broker", "2"))
            ),
            None
        );
    }
}
