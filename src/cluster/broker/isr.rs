//! Keeping the ISR honest, as leader: a periodic check asks every partition to drop followers
//! that lagged past `replica.lag.time.max` ([`super::partition::Partition::maybe_shrink_isr`]),
//! the fetch path proposes the return of followers that caught up, and every proposal goes to
//! the controller as AlterPartition (Kafka's AlterPartitionManager). The partition adopts an
//! ISR only once the controller has committed it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::AlterPartitionRequest;
use tokio::sync::mpsc;

use super::link::{Peer, PeerLink};
use super::partition::IsrProposal;
use super::Broker;

/// A few times per lag period (`replica.lag.time.max`): how often the leader checks for
/// lagging followers, and how often a follower's incremental fetch session reads, and records
/// its progress on, every partition (see [`super::fetch_session`]) — so the caught-up time of
/// a follower's idle partitions is never more than this old, far inside the lag period.
pub(crate) fn progress_period(lag: Duration) -> Duration {
    (lag / 4).clamp(Duration::from_millis(50), Duration::from_millis(250))
}

/// Checks every led partition for lagging followers a few times per lag period.
pub(crate) async fn run_shrink_checks(broker: Arc<Broker>) {
    let lag = broker.config.timings.replica_lag_time_max;
    let period = progress_period(lag);
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        broker.node.gate().await;
        let now = Instant::now();
        for partition in broker.partitions() {
            if let Some(proposal) = partition.maybe_shrink_isr(broker.id(), now, lag) {
                broker.propose_isr(proposal);
            }
        }
    }
}

/// Sends queued ISR proposals to the controller and applies its answers.
pub(crate) async fn run_proposals(
    broker: Arc<Broker>,
    mut proposals: mpsc::UnboundedReceiver<IsrProposal>,
) {
    let mut link = PeerLink::new(
        Peer::Controller,
        broker.config.timings.replica_fetch_backoff,
    );
    while let Some(first) = proposals.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = proposals.try_recv() {
            batch.push(more);
        }
        let request = AlterPartitionRequest::default()
            .with_broker_id(broker.id().into())
            .with_broker_epoch(broker.broker_epoch())
            .with_topics(
                batch
                    .iter()
                    .map(|p| {
                        TopicData::default()
                            .with_topic_id(p.partition.topic_id)
                            .with_partitions(vec![PartitionData::default()
                                .with_partition_index(p.partition.index)
                                .with_leader_epoch(p.leader_epoch)
                                .with_partition_epoch(p.partition_epoch)
                                .with_new_isr(p.new_isr.iter().map(|b| (*b).into()).collect())])
                    })
                    .collect(),
            );
        let response = link
            .try_call(&broker, &request, 2, Duration::from_secs(2))
            .await;
        let Ok(response) = response else {
            // The controller is unreachable (isolated?): forget the proposals so the next
            // check proposes again; until then acknowledgements keep waiting, as in Kafka.
            for p in &batch {
                p.partition.abandon_isr_change(broker.id(), p.leader_epoch);
            }
            // Forgetting a refused expansion may move the high watermark.
            broker
                .data_changes()
                .record(batch.iter().map(|p| &p.partition));
            tokio::time::sleep(broker.config.timings.replica_fetch_backoff).await;
            continue;
        };
        for (proposal, topic) in batch.iter().zip(response.topics.iter()) {
            let committed = match topic.partitions.first() {
                Some(r) if r.error_code == 0 => {
                    Ok((r.isr.iter().map(|b| b.0).collect(), r.partition_epoch))
                }
                Some(r) => Err(r.error_code),
                None => Err(-1),
            };
            proposal
                .partition
                .complete_isr_change(broker.id(), proposal, committed);
        }
        broker
            .data_changes()
            .record(batch.iter().map(|p| &p.partition));
    }
}
