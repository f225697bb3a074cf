//! A broker's connection to the controller or to a peer, kept the way every background task
//! needs it: it waits while the node is paused, refuses while the node is isolated (and drops
//! the connection it had, so no call slips through a partition), reconnects after a failure
//! with a back-off, and follows a peer that moved.

use std::time::Duration;

use kafka_protocol::protocol::Request;

use super::Broker;
use crate::protocol::client::Connection;
use crate::protocol::ProtocolError;

/// Who a link talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The controller.
    Controller,
    /// Another broker at `host:port`.
    Broker(String),
}

/// One connection, re-opened as needed.
pub(crate) struct PeerLink {
    peer: Peer,
    conn: Option<Connection>,
    backoff: Duration,
}

impl PeerLink {
    /// A link to `peer` that waits `backoff` after a failure.
    pub fn new(peer: Peer, backoff: Duration) -> Self {
        Self {
            peer,
            conn: None,
            backoff,
        }
    }

    /// Points the link at another peer (a new leader to fetch from); the old connection goes.
    pub(crate) fn retarget(&mut self, peer: Peer) {
        if self.peer != peer {
            self.peer = peer;
            self.conn = None;
        }
    }

    /// Forgets the connection (after an abandoned call, whose answer would confuse the next).
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// One attempt at a usable connection: `Err` while the node is isolated or the peer
    /// refuses. Waits while the node is paused.
    pub async fn connect(&mut self, broker: &Broker) -> Result<&mut Connection, ProtocolError> {
        broker.node.gate().await;
        if broker.node.is_isolated() {
            self.conn = None;
            return Err(isolated());
        }
        if self.conn.is_none() {
            let attempt = match &self.peer {
                Peer::Controller => broker.connect_controller().await,
                Peer::Broker(addr) => broker.connect_peer(addr).await,
            };
            self.conn = Some(attempt?);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// A usable connection, once the node is running, not isolated, and the peer accepts one;
    /// each failed attempt waits the back-off.
    pub async fn ready(&mut self, broker: &Broker) -> &mut Connection {
        while let Err(e) = self.connect(broker).await {
            tracing::debug!("broker {}: {:?} unreachable: {e}", broker.id(), self.peer);
            tokio::time::sleep(self.backoff).await;
        }
        self.conn.as_mut().expect("connected above")
    }

    /// Sends one request, waiting for a connection first. A failure drops the connection, and
    /// a node isolated meanwhile gets no answer: its partition cuts the call too.
    pub async fn call<R: Request>(
        &mut self,
        broker: &Broker,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ProtocolError> {
        let conn = self.ready(broker).await;
        let result = conn.call(request, version, timeout).await;
        self.settle(broker, result)
    }

    /// Like [`PeerLink::call`], but one connection attempt only: for callers that must not
    /// wait out a partition (their work is retried from scratch later).
    pub(crate) async fn try_call<R: Request>(
        &mut self,
        broker: &Broker,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ProtocolError> {
        let conn = self.connect(broker).await?;
        let result = conn.call(request, version, timeout).await;
        self.settle(broker, result)
    }

    /// After a call: an isolated node gets no answer, and a failure drops the connection.
    fn settle<T>(
        &mut self,
        broker: &Broker,
        result: Result<T, ProtocolError>,
    ) -> Result<T, ProtocolError> {
        if broker.node.is_isolated() {
            self.conn = None;
            return Err(isolated());
        }
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

fn isolated() -> ProtocolError {
    ProtocolError::Io(std::io::Error::new(
        std::io::ErrorKind::HostUnreachable,
        "this broker is isolated from its peers",
    ))
}
