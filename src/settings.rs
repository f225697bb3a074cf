//! The cluster settings every subcommand that starts a cluster shares (`serve`, the REPL,
//! `run`, `lesson`): backend, brokers and ports, timings, topic defaults, connection limits and
//! the live view, each named as Kafka names it.

use std::time::Duration;

use clap::Args;
use kafka_sandbox::backend::{Backend, BackendError};
use kafka_sandbox::config::{ClusterConfig, Timings, TopicDefaults};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Number of brokers (ids 1..N).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=32))]
    pub(crate) brokers: i32,
    /// Port of broker 1; broker N listens on PORT+N-1. 0 picks free ports.
    /// [default: 9092; 0 for `run`]
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Address to bind and advertise.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// broker.rack of each broker in turn, e.g. a,b,c (broker 4 is in rack a again); replicas
    /// are then spread across racks [default: no racks].
    #[arg(long, value_name = "RACK,…", value_delimiter = ',')]
    pub(crate) racks: Vec<String>,
    /// Which cluster: embedded (in this process), processes (one child process per node),
    /// docker (containers; see --image) or attach=HOST:PORT[,HOST:PORT…] (an existing cluster).
    #[arg(long, default_value = "embedded", value_name = "BACKEND")]
    pub(crate) cluster: String,
    /// Image for --cluster docker: Apache Kafka (default apache/kafka, pinned) or the sandbox's
    /// own node image from `kafka-sandbox image build`.
    #[arg(long)]
    pub(crate) image: Option<String>,
    /// With --cluster docker: when the brokers do not come up, keep their containers for a look
    /// (`docker logs`), instead of removing them; `kafka-sandbox docker clean --run RUN` removes
    /// them afterwards.
    #[arg(long)]
    pub(crate) keep_on_failure: bool,
    /// With attach: broker id → container, e.g. 1=kafka-1,2=kafka-2 (default: ask Docker
    /// which container publishes each broker's port).
    #[arg(long)]
    pub(crate) containers: Option<String>,
    /// With attach: leave the containers as a script left them (paused, stopped, cut off)
    /// instead of putting them back at exit.
    #[arg(long)]
    pub(crate) leave_as_is: bool,
    #[command(flatten)]
    pub(crate) timings: TimingArgs,
    #[command(flatten)]
    pub(crate) topics: TopicArgs,
    #[command(flatten)]
    pub(crate) connections: ConnectionArgs,
    #[command(flatten)]
    pub(crate) web: WebArgs,
}

/// Connection limits of each broker (Kafka's names).
#[derive(Args, Debug)]
pub(crate) struct ConnectionArgs {
    /// max.connections: connections one broker keeps open; beyond it clients are turned away
    /// and only other brokers are served [default: an equal share of the open-file limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// connections.max.idle.ms: close a connection with no request for this long.
    #[arg(long, value_name = "MS", default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(1..))]
    connections_max_idle_ms: u64,
}

impl ConnectionArgs {
    pub(crate) fn settings(&self) -> kafka_sandbox::config::ConnectionSettings {
        kafka_sandbox::config::ConnectionSettings {
            max_idle: Duration::from_millis(self.connections_max_idle_ms),
            max_per_broker: self.max_connections.map(|n| n as usize),
        }
    }
}

/// The live view in the browser.
#[derive(Args, Debug)]
pub(crate) struct WebArgs {
    /// Serve the live view (page, /api/state, /api/events, /metrics) on 127.0.0.1:PORT
    /// [default: a free port, printed at start as `view: http://127.0.0.1:PORT`].
    #[arg(long, value_name = "PORT", conflicts_with = "no_web")]
    web: Option<u16>,
    /// Do not serve the live view.
    #[arg(long)]
    no_web: bool,
}

impl WebArgs {
    pub(crate) fn options(&self) -> kafka_sandbox::runner::ViewOptions {
        kafka_sandbox::runner::ViewOptions {
            web: if self.no_web {
                None
            } else {
                Some(self.web.unwrap_or(0))
            },
        }
    }
}

/// Failover timers. Sandbox defaults are short; `--kafka-timings` uses Kafka's.
#[derive(Args, Debug)]
pub(crate) struct TimingArgs {
    /// Use Apache Kafka's default timings (broker session 9 s, heartbeat 2 s, replica lag 30 s).
    #[arg(long)]
    kafka_timings: bool,
    /// broker.heartbeat.interval.ms (sandbox 250, Kafka 2000).
    #[arg(long, value_name = "MS")]
    broker_heartbeat_interval_ms: Option<u64>,
    /// broker.session.timeout.ms (sandbox 1500, Kafka 9000).
    #[arg(long, value_name = "MS")]
    broker_session_timeout_ms: Option<u64>,
    /// replica.lag.time.max.ms (sandbox 1500, Kafka 30000).
    #[arg(long, value_name = "MS")]
    replica_lag_time_max_ms: Option<u64>,
    /// leader.imbalance.check.interval (sandbox 5000 ms, Kafka 300000 ms).
    #[arg(long, value_name = "MS")]
    leader_imbalance_check_interval_ms: Option<u64>,
    /// group.min.session.timeout.ms: shortest consumer session accepted (sandbox 500, Kafka 6000).
    #[arg(long, value_name = "MS")]
    group_min_session_timeout_ms: Option<u64>,
    /// group.initial.rebalance.delay.ms: wait for more members before a new group's first
    /// rebalance (sandbox 0, Kafka 3000).
    #[arg(long, value_name = "MS")]
    group_initial_rebalance_delay_ms: Option<u64>,
}

/// Topic defaults (Kafka's names).
#[derive(Args, Debug)]
pub(crate) struct TopicArgs {
    /// num.partitions for auto-created topics.
    #[arg(long, default_value_t = 1)]
    num_partitions: i32,
    /// default.replication.factor for auto-created topics.
    #[arg(long, default_value_t = 1)]
    default_replication_factor: i16,
    /// min.insync.replicas for topics that do not set it.
    #[arg(long, default_value_t = 1)]
    min_insync_replicas: i32,
    /// Turn off auto.create.topics.enable.
    #[arg(long)]
    no_auto_create_topics: bool,
    /// unclean.leader.election.enable for topics that do not set it (loses data on purpose).
    #[arg(long)]
    unclean_leader_election: bool,
    /// Turn off auto.leader.rebalance.enable.
    #[arg(long)]
    no_auto_leader_rebalance: bool,
    /// offsets.topic.num.partitions: partitions of __consumer_offsets.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1000))]
    offsets_topic_partitions: i32,
}

impl TimingArgs {
    pub(crate) fn timings(&self) -> Timings {
        let mut t = if self.kafka_timings {
            Timings::kafka_defaults()
        } else {
            Timings::sandbox_defaults()
        };
        let ms = Duration::from_millis;
        if let Some(v) = self.broker_heartbeat_interval_ms {
            t.broker_heartbeat_interval = ms(v);
        }
        if let Some(v) = self.broker_session_timeout_ms {
            t.broker_session_timeout = ms(v);
        }
        if let Some(v) = self.replica_lag_time_max_ms {
            t.replica_lag_time_max = ms(v);
        }
        if let Some(v) = self.leader_imbalance_check_interval_ms {
            t.leader_imbalance_check_interval = ms(v);
        }
        if let Some(v) = self.group_min_session_timeout_ms {
            t.group_min_session_timeout = ms(v);
        }
        if let Some(v) = self.group_initial_rebalance_delay_ms {
            t.group_initial_rebalance_delay = ms(v);
        }
        t
    }
}

impl ServeArgs {
    pub(crate) fn backend(&self) -> anyhow::Result<Backend> {
        let mut backend = Backend::parse(
            &self.cluster,
            self.image.as_deref(),
            self.containers.as_deref(),
        )?;
        match &mut backend {
            Backend::Docker(options) => options.keep_on_failure = self.keep_on_failure,
            _ if self.keep_on_failure => {
                anyhow::bail!("--keep-on-failure is for --cluster docker; leave it out here")
            }
            _ => {}
        }
        if self.leave_as_is {
            match &mut backend {
                Backend::Attach(spec) => spec.leave_as_is = true,
                _ => return Err(BackendError::LeaveAsIsWithoutAttach.into()),
            }
        }
        Ok(backend)
    }

    pub(crate) fn cluster_config(&self) -> anyhow::Result<ClusterConfig> {
        self.cluster_config_with_port(9092)
    }

    pub(crate) fn cluster_config_with_port(
        &self,
        default_port: u16,
    ) -> anyhow::Result<ClusterConfig> {
        let t = &self.topics;
        let config = ClusterConfig {
            brokers: self.brokers,
            base_port: self.port.unwrap_or(default_port),
            host: self.host.clone(),
            timings: self.timings.timings(),
            topic_defaults: TopicDefaults {
                auto_create_topics: !t.no_auto_create_topics,
                num_partitions: t.num_partitions,
                replication_factor: t.default_replication_factor,
                min_insync_replicas: t.min_insync_replicas,
                unclean_leader_election: t.unclean_leader_election,
                auto_leader_rebalance: !t.no_auto_leader_rebalance,
                offsets_topic_partitions: t.offsets_topic_partitions,
                ..TopicDefaults::default()
            },
            connections: self.connections.settings(),
            racks: self.racks.clone(),
            ..ClusterConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}
