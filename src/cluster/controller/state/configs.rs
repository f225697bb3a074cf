//! Dynamic topic configs: AlterConfigs and IncrementalAlterConfigs change a topic's configs in
//! the image, validated like CreateTopics', and take effect on every broker with the next
//! image: a new `min.insync.replicas` governs the next acks=all write, and turning
//! `unclean.leader.election.enable` on elects a leader at once for a partition that has none.

use kafka_protocol::ResponseError;

use super::{ControllerState, ElectionType};
use crate::cluster::image::NO_LEADER;
use crate::cluster::topic_config::{self, Change};
use crate::cluster::KafkaError;

impl ControllerState {
    /// Applies `changes` to `name`'s configs (on top of them, or replacing them all).
    pub(crate) fn alter_topic_configs(
        &mut self,
        name: &str,
        changes: &[Change],
        replace: bool,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let Some(topic) = self.image.topics.get(name) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            ));
        };
        let configs = topic_config::apply(&topic.configs, changes, replace)
            .map_err(|e| KafkaError::new(ResponseError::InvalidConfig, e))?;
        let (min_isr, unclean) = self.resolve_configs(&configs)?;
        if validate_only {
            return Ok(());
        }
        let topic = self.image.topics.get_mut(name).expect("checked above");
        let newly_unclean = unclean && !topic.unclean_leader_election;
        topic.configs = configs;
        topic.min_insync_replicas = min_isr;
        topic.unclean_leader_election = unclean;
        let leaderless: Vec<i32> = (0..topic.partitions.len() as i32)
            .filter(|i| topic.partitions[*i as usize].leader == NO_LEADER)
            .collect();
        self.changed = true;
        if newly_unclean {
            for partition in leaderless {
                // A partition with no live replica stays offline; that is not an error here.
                let _ = self.elect(name, partition, ElectionType::Unclean);
            }
        }
        Ok(())
    }
}
