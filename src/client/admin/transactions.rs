//! Transactions, as `kafka-transactions --describe` shows them: find the transactional id's
//! coordinator (FindCoordinator with the TRANSACTION key type), then ask it with
//! DescribeTransactions.

use kafka_protocol::messages::{DescribeTransactionsRequest, FindCoordinatorRequest};

use super::{refused, s, unreachable, Admin};
use crate::client::wire;
use crate::client::ClientError;

/// One transactional id as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The coordinator's broker id.
    pub coordinator: i32,
    /// Kafka's state name: Empty, Ongoing, PrepareCommit, CompleteCommit, …
    pub state: String,
    /// The producer id the transactional id maps to.
    pub producer_id: i64,
    /// Its current epoch (bumped by every InitProducerId and by a timeout abort).
    pub producer_epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Partitions in the open transaction, as `topic-partition`.
    pub partitions: Vec<String>,
}

impl Admin {
    /// Describes transactional id `id` at its coordinator.
    pub async fn describe_transaction(
        &self,
        id: &str,
    ) -> Result<TransactionDescription, ClientError> {
        let what = || format!("the coordinator of transactional id '{id}'");
        let find = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s(id)]);
        let found = self
            .brokers
            .call_any(&find, 4, wire::ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        let c = found
            .response
            .coordinators
            .first()
            .ok_or_else(|| ClientError::EmptyAnswer(what()))?;
        if c.error_code != 0 {
            return Err(refused(what(), c.error_code, c.error_message.as_ref()));
        }
        let coordinator = c.node_id.0;
        let request =
            DescribeTransactionsRequest::default().with_transactional_ids(vec![s(id).into()]);
        let addr = format!("{}:{}", c.host, c.port);
        let answer = self
            .brokers
            .call_at(&addr, &request, 0, wire::ATTEMPT)
            .await
            .map_err(|e| {
                unreachable(&[wire::Silent {
                    addr: addr.clone(),
                    broker: Some(coordinator),
                    why: e.to_string(),
                }])
            })?;
        let t = answer
            .transaction_states
            .first()
            .ok_or_else(|| ClientError::EmptyAnswer(format!("transactional id '{id}'")))?;
        if t.error_code != 0 {
            return Err(refused(
                format!("transactional id '{id}'"),
                t.error_code,
                None,
            ));
        }
        Ok(TransactionDescription {
            coordinator,
            state: t.transaction_state.to_string(),
            producer_id: t.producer_id.0,
            producer_epoch: t.producer_epoch,
            timeout_ms: t.transaction_timeout_ms,
            partitions: t
                .topics
                .iter()
                .flat_map(|topic| {
                    topic
                        .partitions
                        .iter()
                        .map(move |p| format!("{}-{p}", topic.topic.as_str()))
                })
                .collect(),
        })
    }
}
