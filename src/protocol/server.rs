//! The per-connection loop every node runs: read a frame, decode it against the node's API
//! table, hand it to the node's dispatcher, write the answer. Requests on one connection are
//! answered one at a time and in order, as Kafka does. Anything malformed closes only this
//! connection, with the reason logged. A connection with no request for the idle limit is
//! closed, and beyond a node's connection cap only its peers' connections are served.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ResponseKind};
use kafka_protocol::ResponseError;
use tokio::io::{BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

use super::codec::{self, Decoded, Request};
use super::frame::{read_frame, write_frame, DEFAULT_MAX_FRAME_BYTES};
use super::versions::ApiSupport;
use super::ProtocolError;
use crate::cluster::node::NodeControl;

/// What a dispatcher decided for one request.
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Respond(Box<ResponseKind>),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection (for example a peer request to an isolated node).
    Close(String),
}

/// A node's request dispatcher.
pub trait Dispatcher: Send + Sync + 'static {
    /// The APIs and versions this node answers.
    fn apis(&self) -> &'static [ApiSupport];
    /// Handles one decoded request.
    fn dispatch(&self, request: Request, peer: SocketAddr) -> impl Future<Output = Reply> + Send;
    /// Whether `request` comes from another node of the cluster: such connections are served
    /// even beyond the connection cap, so a flood of clients cannot cut replication.
    fn is_from_peer(&self, request: &Request) -> bool;
}

/// The connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once before new clients are turned away.
    pub max_connections: usize,
    /// How long a connection may wait between requests before it is closed.
    pub max_idle: Duration,
}

/// The connections open on one listener; each connection holds one [`OpenSlot`].
#[derive(Default)]
struct OpenConnections {
    open: AtomicUsize,
    refused: AtomicU64,
}

/// One open connection, counted until it is dropped.
struct OpenSlot(Arc<OpenConnections>);

impl OpenSlot {
    /// Counts a new connection; returns it and whether it is beyond `max`.
    fn take(counter: &Arc<OpenConnections>, max: usize) -> (Self, bool) {
        let before = counter.open.fetch_add(1, Ordering::SeqCst);
        (Self(counter.clone()), before >= max)
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections until the node is killed, serving each on its own task.
pub(crate) async fn accept_loop<D: Dispatcher>(
    listener: TcpListener,
    dispatcher: Arc<D>,
    node: NodeControl,
    limits: ConnectionLimits,
) {
    let counter = Arc::new(OpenConnections::default());
    loop {
        node.gate().await;
        match listener.accept().await {
            Ok((stream, peer)) => {
                let dispatcher = dispatcher.clone();
                let conn_node = node.clone();
                let (slot, over) = OpenSlot::take(&counter, limits.max_connections);
                let connection = Connection {
                    peer,
                    limits,
                    over_cap: over,
                    _slot: slot,
                };
                node.spawn(async move {
                    serve_connection(stream, connection, dispatcher, conn_node).await
                });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// What the loop of one connection knows about it.
struct Connection {
    peer: SocketAddr,
    limits: ConnectionLimits,
    /// Accepted beyond the cap: served only if its first request comes from a peer node.
    over_cap: bool,
    _slot: OpenSlot,
}

impl Connection {
    /// Logs a refusal: the first, then one in a thousand, so a flood cannot flood the log.
    fn log_refusal(&self) {
        let n = self._slot.0.refused.fetch_add(1, Ordering::Relaxed);
        if n % 1000 == 0 {
            tracing::warn!(
                "refused a connection from {}: {} connections are open, the most this node keeps ({} refused so far; raise --max-connections or the open-file limit)",
                self.peer,
                self.limits.max_connections,
                n + 1
            );
        }
    }
}

async fn serve_connection<D: Dispatcher>(
    stream: TcpStream,
    mut connection: Connection,
    dispatcher: Arc<D>,
    node: NodeControl,
) {
    let peer = connection.peer;
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut writer = BufWriter::new(write);
    loop {
        let next = tokio::time::timeout(
            connection.limits.max_idle,
            read_frame(&mut reader, DEFAULT_MAX_FRAME_BYTES),
        );
        let frame = match next.await {
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                log_close(peer, &e);
                return;
            }
            Err(_) => {
                tracing::debug!(
                    "closing connection from {peer}: idle for {:?} (connections.max.idle.ms)",
                    connection.limits.max_idle
                );
                return;
            }
        };
        node.gate().await;
        let (api_key, version, correlation_id, reply) =
            match codec::decode_request(frame, dispatcher.apis()) {
                Ok(Decoded::Request(request)) => {
                    if connection.over_cap {
                        if !dispatcher.is_from_peer(&request) {
                            connection.log_refusal();
                            return;
                        }
                        connection.over_cap = false;
                    }
                    let (key, version, id) = (
                        request.api_key,
                        request.version,
                        request.header.correlation_id,
                    );
                    (key, version, id, dispatcher.dispatch(*request, peer).await)
                }
                Ok(Decoded::UnsupportedApiVersions { .. }) if connection.over_cap => {
                    connection.log_refusal();
                    return;
                }
                Ok(Decoded::UnsupportedApiVersions { correlation_id }) => {
                    let body = codec::api_versions_response(
                        dispatcher.apis(),
                        ResponseError::UnsupportedVersion.code(),
                    );
                    (
                        ApiKey::ApiVersions,
                        0,
                        correlation_id,
                        Reply::Respond(Box::new(ResponseKind::ApiVersions(body))),
                    )
                }
                Err(e) => {
                    log_close(peer, &e);
                    return;
                }
            };
        node.gate().await;
        match reply {
            Reply::Silent => {}
            Reply::Close(reason) => {
                tracing::debug!("closing connection from {peer}: {reason}");
                return;
            }
            Reply::Respond(body) => {
                let encoded = match codec::encode_response(api_key, version, correlation_id, &body)
                {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::error!("closing connection from {peer}: {e}");
                        return;
                    }
                };
                if let Err(e) = write_frame(&mut writer, &encoded).await {
                    log_close(peer, &e);
                    return;
                }
            }
        }
    }
}

fn log_close(peer: SocketAddr, e: &ProtocolError) {
    match e {
        ProtocolError::Io(_) => tracing::debug!("connection from {peer} ended: {e}"),
        _ => tracing::warn!("closing connection from {peer}: {e}"),
    }
}
