use super::*;

const PORTS: [u16; 3] = [29092, 39092, 49092];

fn settings(brokers: i32, host_ports: &[u16]) -> ApacheKafkaSettings {
    ApacheKafkaSettings {
        image: DEFAULT_IMAGE.to_string(),
        brokers,
        host: "127.0.0.1".to_string(),
        host_ports: host_ports.to_vec(),
        cluster_id: kraft_cluster_id("test-run"),
        timings: Timings::sandbox_defaults(),
        topic_defaults: TopicDefaults::default(),
        labels: BTreeMap::from([("io.kafka-sandbox.run".to_string(), "r1".to_string())]),
    }
}

fn env_map(spec: &ContainerSpec) -> BTreeMap<&str, &str> {
    spec.env
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

/// The image's documented rule for a `KAFKA_*` name: drop the prefix, then a run of one
/// underscore is `.`, two `_`, three `-`; lower-case.
fn property_name(env_name: &str) -> String {
    let rest = env_name.strip_prefix("KAFKA_").expect("KAFKA_ prefix");
    let mut out = String::new();
    let mut underscores = 0;
    for c in rest.chars().chain(std::iter::once('\0')) {
        if c == '_' {
            underscores += 1;
            continue;
        }
        match underscores {
            0 => {}
            1 => out.push('.'),
            2 => out.push('_'),
            3 => out.push('-'),
            n => panic!("{n} underscores in {env_name} have no documented meaning"),
        }
        underscores = 0;
        if c != '\0' {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Variables the image reserves for the JVM and logging, never server properties.
const RESERVED: [&str; 12] = [
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
    "KAFKA_JMX_PORT",
];

/// `server.properties` as the image would write it from the spec's environment.
fn properties(spec: &ContainerSpec) -> BTreeMap<String, String> {
    spec.env
        .iter()
        .filter(|(key, _)| key.starts_with("KAFKA_") && !RESERVED.contains(&key.as_str()))
        .map(|(key, value)| (property_name(key), value.clone()))
        .collect()
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("canonical base64")
}

#[test]
fn three_brokers_get_the_complete_documented_config() {
    let settings = settings(3, &PORTS);
    let specs = broker_specs(&settings).unwrap();
    assert_eq!(specs.len(), 3);
    for (spec, (id, port)) in specs.iter().zip([(1, 29092), (2, 39092), (3, 49092)]) {
        let expected: BTreeMap<String, String> = [
            ("node.id", id.to_string()),
            ("process.roles", "broker,controller".into()),
            (
                "listeners",
                "PLAINTEXT://:19092,CONTROLLER://:9093,PLAINTEXT_HOST://:9092".into(),
            ),
            (
                "advertised.listeners",
                format!("PLAINTEXT://kafka-{id}:19092,PLAINTEXT_HOST://127.0.0.1:{port}"),
            ),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT".into(),
            ),
            ("controller.listener.names", "CONTROLLER".into()),
            ("inter.broker.listener.name", "PLAINTEXT".into()),
            (
                "controller.quorum.voters",
                "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093".into(),
            ),
            ("log.dirs", "/tmp/kraft-combined-logs".into()),
            ("broker.heartbeat.interval.ms", "250".into()),
            ("broker.session.timeout.ms", "1500".into()),
            ("replica.lag.time.max.ms", "1500".into()),
            ("replica.fetch.wait.max.ms", "500".into()),
            ("replica.fetch.backoff.ms", "100".into()),
            ("leader.imbalance.check.interval.seconds", "5".into()),
            ("group.min.session.timeout.ms", "500".into()),
            ("group.max.session.timeout.ms", "1800000".into()),
            ("group.initial.rebalance.delay.ms", "0".into()),
            ("auto.create.topics.enable", "true".into()),
            ("num.partitions", "1".into()),
            ("default.replication.factor", "1".into()),
            ("min.insync.replicas", "1".into()),
            ("unclean.leader.election.enable", "false".into()),
            ("auto.leader.rebalance.enable", "true".into()),
            ("leader.imbalance.per.broker.percentage", "10".into()),
            ("offsets.topic.num.partitions", "50".into()),
            ("offsets.topic.replication.factor", "3".into()),
            ("transaction.state.log.replication.factor", "3".into()),
            ("transaction.state.log.min.isr", "2".into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        assert_eq!(properties(spec), expected, "{}", spec.name);
        assert_eq!(env_map(spec)["CLUSTER_ID"], settings.cluster_id);
        // A heap a laptop can give three JVMs.
        assert_eq!(env_map(spec)["KAFKA_HEAP_OPTS"], "-Xmx512m -Xms512m");
        // Nothing else: every variable is CLUSTER_ID, the heap or a server property.
        assert_eq!(spec.env.len(), expected.len() + 2);
    }
}

#[test]
fn env_names_use_the_documented_spelling() {
    let spec = &broker_specs(&settings(3, &PORTS)).unwrap()[0];
    for (key, _) in &spec.env {
        if key == "CLUSTER_ID" || key == "KAFKA_HEAP_OPTS" {
            continue;
        }
        assert!(key.starts_with("KAFKA_"), "{key}");
        assert!(!RESERVED.contains(&key.as_str()), "{key}");
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "{key}"
        );
        // The converted name spelled back the documented way gives the variable again.
        let property = property_name(key);
        let respelled = format!(
            "KAFKA_{}",
            property
                .replace('_', "__")
                .replace('-', "___")
                .replace('.', "_")
                .to_uppercase()
        );
        assert_eq!(&respelled, key);
    }
    assert_eq!(property_name("KAFKA_ABC_DEF"), "abc.def");
    assert_eq!(property_name("KAFKA_ABC__DEF"), "abc_def");
    assert_eq!(property_name("KAFKA_ABC___DEF"), "abc-def");
}

#[test]
fn containers_are_named_published_and_labelled() {
    let specs = broker_specs(&settings(3, &PORTS)).unwrap();
    for (spec, (id, port)) in specs.iter().zip([(1, 29092), (2, 39092), (3, 49092)]) {
        let name = format!("kafka-{id}");
        assert_eq!(spec.name, name);
        assert_eq!(spec.hostname, name);
        assert_eq!(spec.network_aliases, vec![name.clone()]);
        assert_eq!(container_name(id), name);
        assert_eq!(spec.node_id, id);
        assert_eq!(spec.image, "apache/kafka:4.1.1");
        assert!(spec.cmd.is_empty());
        assert_eq!(
            spec.ports,
            vec![PublishedPort {
                container_port: 9092,
                host_ip: "127.0.0.1".into(),
                host_port: port,
            }]
        );
        assert_eq!(
            spec.labels,
            BTreeMap::from([
                (LABEL.to_string(), "broker".to_string()),
                ("io.kafka-sandbox.run".to_string(), "r1".to_string()),
            ])
        );
        let env = env_map(spec);
        assert!(env["KAFKA_ADVERTISED_LISTENERS"].ends_with(&format!("127.0.0.1:{port}")));
        assert!(env["KAFKA_ADVERTISED_LISTENERS"]
            .starts_with(&format!("PLAINTEXT://kafka-{id}:{INTERNAL_PORT},")));
    }
}

#[test]
fn label_cannot_be_overridden_by_extras() {
    let mut settings = settings(1, &[9092]);
    settings
        .labels
        .insert(LABEL.to_string(), "other".to_string());
    let spec = &broker_specs(&settings).unwrap()[0];
    assert_eq!(spec.labels[LABEL], "broker");
}

#[test]
fn other_images_are_used_as_given() {
    let mut settings = settings(1, &[9092]);
    settings.image = "apache/kafka-native:4.1.1".to_string();
    let spec = &broker_specs(&settings).unwrap()[0];
    assert_eq!(spec.image, "apache/kafka-native:4.1.1");
}

#[test]
fn one_broker_caps_internal_topic_replication() {
    let specs = broker_specs(&settings(1, &[9092])).unwrap();
    assert_eq!(specs.len(), 1);
    let props = properties(&specs[0]);
    assert_eq!(props["controller.quorum.voters"], "1@kafka-1:9093");
    assert_eq!(props["offsets.topic.replication.factor"], "1");
    assert_eq!(props["transaction.state.log.replication.factor"], "1");
    assert_eq!(props["transaction.state.log.min.isr"], "1");
    assert_eq!(
        props["advertised.listeners"],
        "PLAINTEXT://kafka-1:19092,PLAINTEXT_HOST://127.0.0.1:9092"
    );
}

#[test]
fn two_brokers_cap_at_two() {
    let props = properties(&broker_specs(&settings(2, &[1, 2])).unwrap()[1]);
    assert_eq!(props["offsets.topic.replication.factor"], "2");
    assert_eq!(props["transaction.state.log.replication.factor"], "2");
    assert_eq!(props["transaction.state.log.min.isr"], "2");
    assert_eq!(
        props["controller.quorum.voters"],
        "1@kafka-1:9093,2@kafka-2:9093"
    );
}

#[test]
fn kafka_default_timings_map_to_kafka_defaults() {
    let mut settings = settings(3, &PORTS);
    settings.timings = Timings::kafka_defaults();
    let props = properties(&broker_specs(&settings).unwrap()[0]);
    assert_eq!(props["broker.heartbeat.interval.ms"], "2000");
    assert_eq!(props["broker.session.timeout.ms"], "9000");
    assert_eq!(props["replica.lag.time.max.ms"], "30000");
    assert_eq!(props["replica.fetch.wait.max.ms"], "500");
    assert_eq!(props["replica.fetch.backoff.ms"], "1000");
    assert_eq!(props["leader.imbalance.check.interval.seconds"], "300");
    assert_eq!(props["group.min.session.timeout.ms"], "6000");
    assert_eq!(props["group.max.session.timeout.ms"], "1800000");
    assert_eq!(props["group.initial.rebalance.delay.ms"], "3000");
}

#[test]
fn imbalance_check_interval_rounds_up_to_whole_seconds() {
    let mut settings = settings(1, &[9092]);
    for (interval, expected) in [(0, "1"), (200, "1"), (1000, "1"), (1500, "2")] {
        settings.timings.leader_imbalance_check_interval = Duration::from_millis(interval);
        let props = properties(&broker_specs(&settings).unwrap()[0]);
        assert_eq!(props["leader.imbalance.check.interval.seconds"], expected);
    }
}

#[test]
fn cluster_id_is_a_valid_kraft_uuid() {
    let id = kraft_cluster_id("run-42");
    assert_eq!(id.len(), 22);
    assert!(!id.starts_with('-'));
    let bytes = base64_url_decode(&id);
    assert_eq!(bytes.len(), 16);
    assert_eq!(base64_url(&bytes), id);
    let uuid = uuid::Uuid::from_slice(&bytes).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert!(is_kraft_cluster_id(&id));
    assert_eq!(kraft_cluster_id("run-42"), id, "deterministic");
    assert_ne!(kraft_cluster_id("run-43"), id);
    assert!(is_kraft_cluster_id(&kraft_cluster_id("")));
}

#[test]
fn base64_url_matches_rfc_4648() {
    assert_eq!(base64_url(b""), "");
    assert_eq!(base64_url(b"f"), "Zg");
    assert_eq!(base64_url(b"fo"), "Zm8");
    assert_eq!(base64_url(b"foo"), "Zm9v");
    assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
}

#[test]
fn cluster_id_check_follows_kafka() {
    // The id the image's own examples use.
    assert!(is_kraft_cluster_id("4L6g3nShT-eMCtK--X86sw"));
    assert!(!is_kraft_cluster_id("kafka-sandbox"));
    assert!(
        !is_kraft_cluster_id("4L6g3nShT-eMCtK--X86sx"),
        "trailing bits"
    );
    assert!(
        !is_kraft_cluster_id("4L6g3nShT+eMCtK--X86sw"),
        "standard alphabet"
    );
    assert!(!is_kraft_cluster_id("4L6g3nShT-eMCtK--X86sw=="), "padding");
}

#[test]
fn bad_settings_are_refused_with_a_fix() {
    let err = broker_specs(&settings(0, &[])).unwrap_err().to_string();
    assert!(err.contains("at least 1 broker"), "{err}");
    let err = broker_specs(&settings(-1, &[])).unwrap_err().to_string();
    assert!(err.contains("at least 1 broker"), "{err}");

    let err = broker_specs(&settings(3, &[1, 2])).unwrap_err().to_string();
    assert!(err.contains("2 host ports") && err.contains("one host port per broker"));
    let err = broker_specs(&settings(1, &[1, 2])).unwrap_err().to_string();
    assert!(err.contains("one host port per broker"), "{err}");

    let err = broker_specs(&settings(2, &[1, 0])).unwrap_err().to_string();
    assert!(
        err.contains("kafka-2") && err.contains("pick a free port"),
        "{err}"
    );

    let mut bad_id = settings(1, &[1]);
    bad_id.cluster_id = "kafka-sandbox".to_string();
    let err = broker_specs(&bad_id).unwrap_err().to_string();
    assert!(err.contains("kraft_cluster_id"), "{err}");

    let mut slow_fetch = settings(1, &[1]);
    slow_fetch.timings.replica_fetch_wait_max = Duration::from_secs(2);
    let err = broker_specs(&slow_fetch).unwrap_err().to_string();
    assert!(err.contains("replica.fetch.wait.max.ms"), "{err}");

    let mut huge = settings(1, &[1]);
    huge.timings.group_max_session_timeout = Duration::from_secs(30 * 24 * 3600);
    let err = broker_specs(&huge).unwrap_err().to_string();
    assert!(err.contains("group.max.session.timeout.ms"), "{err}");

    let mut no_partitions = settings(1, &[1]);
    no_partitions.topic_defaults.num_partitions = 0;
    let err = broker_specs(&no_partitions).unwrap_err().to_string();
    assert!(
        err.contains("num.partitions") && err.contains("at least 1"),
        "{err}"
    );
}

#[test]
fn brokers_bind_and_advertise_the_host_asked_for() {
    let mut settings = settings(1, &PORTS[..1]);
    settings.host = "192.168.7.2".into();
    let spec = &broker_specs(&settings).unwrap()[0];
    assert_eq!(spec.ports[0].host_ip, "192.168.7.2");
    assert!(env_map(spec)["KAFKA_ADVERTISED_LISTENERS"]
        .ends_with(&format!("PLAINTEXT_HOST://192.168.7.2:{}", PORTS[0])));
}
