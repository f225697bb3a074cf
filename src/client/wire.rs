//! Kafka-protocol calls for the session's admin work that never hang on one broker.
//!
//! librdkafka's admin client sticks to one bootstrap broker: with that broker paused, every
//! metadata call waits for its full timeout. Here each request goes to the broker that
//! answered last, and a broker that does not answer within [`ATTEMPT`] is skipped for the next
//! one, so while any single broker is paused or cut off an answer still comes back in well
//! under two seconds, and the caller learns which broker stayed silent. Brokers learnt from
//! Metadata answers are tried besides the bootstrap list.
//!
//! One request is in flight per connection; idle connections are kept per address, and a
//! connection that timed out is dropped (its late answer would confuse the next call).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use kafka_protocol::protocol::Request;

use crate::protocol::client::Connection;
use crate::protocol::ProtocolError;

/// How long one broker gets to answer before the next is asked.
pub(crate) const ATTEMPT: Duration = Duration::from_millis(700);

/// A broker that was asked and did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Silent {
    /// `host:port` asked.
    pub addr: String,
    /// Its broker id, when known from metadata.
    pub broker: Option<i32>,
    /// What went wrong (timeout, refused connection, …).
    pub why: String,
}

impl Silent {
    /// "broker 2 (127.0.0.1:9093) did not answer: timed out after 700 ms …".
    pub fn describe(&self) -> String {
        match self.broker {
            Some(id) => format!("broker {id} ({}) did not answer: {}", self.addr, self.why),
            None => format!("{} did not answer: {}", self.addr, self.why),
        }
    }
}

/// The brokers that stayed silent during one call, in one line ("" when none).
pub(crate) fn silent_note(silent: &[Silent]) -> String {
    silent
        .iter()
        .map(Silent::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A response and the brokers skipped on the way to it.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    /// The response.
    pub response: T,
    /// The address that answered.
    pub from: String,
    /// Brokers asked first that did not answer.
    pub silent: Vec<Silent>,
}

#[derive(Default)]
struct Pool {
    /// Addresses in the order to try them; the last one that answered first.
    order: Vec<String>,
    /// Broker id by address, from Metadata answers.
    ids: HashMap<String, i32>,
    idle: HashMap<String, Connection>,
}

/// Connections to every broker of one cluster.
pub struct Brokers {
    pool: Mutex<Pool>,
    client_id: String,
}

impl Brokers {
    /// A pool starting from `bootstrap` (`host:port,host:port`).
    pub fn new(bootstrap: &str, client_id: &str) -> Self {
        let order = bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        Self {
            pool: Mutex::new(Pool {
                order,
                ..Pool::default()
            }),
            client_id: client_id.to_string(),
        }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the brokers a Metadata answer named, so they can be asked too.
    pub fn learn(&self, brokers: &BTreeMap<i32, String>) {
        let mut pool = self.pool();
        for (id, addr) in brokers {
            pool.ids.insert(addr.clone(), *id);
            if !pool.order.contains(addr) {
                pool.order.push(addr.clone());
            }
        }
    }

    /// The broker id behind an address, if known.
    pub(crate) fn id_of(&self, addr: &str) -> Option<i32> {
        self.pool().ids.get(addr).copied()
    }

    /// The address of broker `id`, if known.
    pub(crate) fn addr_of(&self, id: i32) -> Option<String> {
        self.pool()
            .ids
            .iter()
            .find(|(_, b)| **b == id)
            .map(|(a, _)| a.clone())
    }

    /// Sends `request` to the broker at `addr` and waits up to `timeout` for the answer.
    pub(crate) async fn call_at<R: Request>(
        &self,
        addr: &str,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ProtocolError> {
        let idle = self.pool().idle.remove(addr);
        let mut conn = match idle {
            Some(conn) => conn,
            None => Connection::connect(addr, &self.client_id, timeout).await?,
        };
        let response = conn.call(request, version, timeout).await?;
        self.pool().idle.insert(addr.to_string(), conn);
        Ok(response)
    }

    /// Sends `request` to the brokers in turn, starting with the one that answered last, until
    /// one answers; each gets `attempt` ([`ATTEMPT`] for quick reads).
    pub(crate) async fn call_any<R: Request>(
        &self,
        request: &R,
        version: i16,
        attempt: Duration,
    ) -> Result<Answer<R::Response>, Vec<Silent>> {
        let order = self.pool().order.clone();
        let mut silent: Vec<Silent> = Vec::new();
        for addr in order {
            match self.call_at(&addr, request, version, attempt).await {
                Ok(response) => {
                    let mut pool = self.pool();
                    pool.order.retain(|a| a != &addr);
                    pool.order.insert(0, addr.clone());
                    // Brokers that stayed silent go last next time.
                    for s in &silent {
                        pool.order.retain(|a| a != &s.addr);
                        pool.order.push(s.addr.clone());
                    }
                    return Ok(Answer {
                        response,
                        from: addr,
                        silent,
                    });
                }
                Err(e) => silent.push(Silent {
                    broker: self.id_of(&addr),
                    addr,
                    why: e.to_string(),
                }),
            }
        }
        Err(silent)
    }
}
