//! Keeping the ISR honest, as leader: a periodic check drops followers that have lagged past
//! `replica.lag.time.max`, the fetch path proposes rejoining for followers that caught up, and
//! every change goes to the controller as AlterPartition (Kafka's AlterPartitionManager). The
//! leader adopts an ISR only once the controller has committed it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::AlterPartitionRequest;
use tokio::sync::mpsc;

use super::replica::{Replica, Role};
use super::{Broker, IsrProposal};
use crate::protocol::client::Connection;

/// Checks every leader replica for lagging followers a few times per lag period.
pub async fn run_shrink_checks(broker: Arc<Broker>) {
    let lag = broker.config.timings.replica_lag_time_max;
    let period = (lag / 4).clamp(Duration::from_millis(50), Duration::from_millis(250));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        broker.node.gate().await;
        let replicas: Vec<Arc<Replica>> = broker
            .replicas
            .lock()
            .expect("replicas lock")
            .values()
            .cloned()
            .collect();
        let now = Instant::now();
        for replica in replicas {
            let mut st = replica.state();
            if st.role != Role::Leader || st.pending_isr.is_some() {
                continue;
            }
            let lagging = st.lagging_followers(broker.id(), now, lag);
            if lagging.is_empty() {
                continue;
            }
            let new_isr: Vec<i32> = st
                .isr
                .iter()
                .copied()
                .filter(|r| !lagging.contains(r))
                .collect();
            tracing::info!(
                "broker {}: {}-{} followers {lagging:?} lagged over {} ms; shrinking ISR to {new_isr:?}",
                broker.id(),
                replica.topic,
                replica.partition,
                lag.as_millis()
            );
            st.pending_isr = Some(new_isr.clone());
            broker.propose_isr(IsrProposal {
                replica: replica.clone(),
                leader_epoch: st.leader_epoch,
                partition_epoch: st.partition_epoch,
                new_isr,
            });
        }
    }
}

/// Sends queued ISR proposals to the controller and applies its answers.
pub async fn run_proposals(
    broker: Arc<Broker>,
    mut proposals: mpsc::UnboundedReceiver<IsrProposal>,
) {
    let mut conn: Option<Connection> = None;
    while let Some(first) = proposals.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = proposals.try_recv() {
            batch.push(more);
        }
        broker.node.gate().await;
        if conn.is_none() {
            conn = broker.connect_controller().await.ok();
        }
        let request = AlterPartitionRequest::default()
            .with_broker_id(broker.id().into())
            .with_broker_epoch(broker.broker_epoch())
            .with_topics(
                batch
                    .iter()
                    .map(|p| {
                        TopicData::default()
                            .with_topic_id(p.replica.topic_id)
                            .with_partitions(vec![PartitionData::default()
                                .with_partition_index(p.replica.partition)
                                .with_leader_epoch(p.leader_epoch)
                                .with_partition_epoch(p.partition_epoch)
                                .with_new_isr(p.new_isr.iter().map(|b| (*b).into()).collect())])
                    })
                    .collect(),
            );
        let response = match conn.as_mut() {
            Some(c) => c.call(&request, 2, Duration::from_secs(2)).await.ok(),
            None => None,
        };
        let Some(response) = response else {
            // The controller is unreachable (isolated?): forget the proposals so the next
            // check proposes again; until then acknowledgements keep waiting, as in Kafka.
            conn = None;
            for p in &batch {
                clear_pending(p);
            }
            tokio::time::sleep(broker.config.timings.replica_fetch_backoff).await;
            continue;
        };
        for (proposal, topic) in batch.iter().zip(response.topics.iter()) {
            let Some(result) = topic.partitions.first() else {
                clear_pending(proposal);
                continue;
            };
            let mut st = proposal.replica.state();
            if st.role != Role::Leader || st.leader_epoch != proposal.leader_epoch {
                continue;
            }
            st.pending_isr = None;
            if result.error_code == 0 && result.partition_epoch > st.partition_epoch {
                st.isr = result.isr.iter().map(|b| b.0).collect();
                st.partition_epoch = result.partition_epoch;
                let me = broker.id();
                let mut log = proposal.replica.log();
                let hw = st.high_watermark(me, log.log_end_offset());
                if hw > log.high_watermark() {
                    log.set_high_watermark(hw);
                }
            } else if result.error_code != 0 {
                tracing::debug!(
                    "broker {}: ISR change for {}-{} refused with code {}",
                    broker.id(),
                    proposal.replica.topic,
                    proposal.replica.partition,
                    result.error_code
                );
            }
        }
        broker.notify_data_changed();
    }
}

fn clear_pending(p: &IsrProposal) {
    let mut st = p.replica.state();
    if st.leader_epoch == p.leader_epoch {
        st.pending_isr = None;
    }
}
