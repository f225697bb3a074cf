//! The per-connection loop every node runs: read a frame, decode it against the node's API
//! table, hand it to the node's dispatcher, write the answer. Requests on one connection are
//! answered one at a time and in order, as Kafka does. Anything malformed closes only this
//! connection, with the reason logged.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

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
}

/// Accepts connections until the node is killed, serving each on its own task.
pub(crate) async fn accept_loop<D: Dispatcher>(
    listener: TcpListener,
    dispatcher: Arc<D>,
    node: NodeControl,
) {
    loop {
        node.gate().await;
        match listener.accept().await {
            Ok((stream, peer)) => {
                let dispatcher = dispatcher.clone();
                let conn_node = node.clone();
                node.spawn(
                    async move { serve_connection(stream, peer, dispatcher, conn_node).await },
                );
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection<D: Dispatcher>(
    stream: TcpStream,
    peer: SocketAddr,
    dispatcher: Arc<D>,
    node: NodeControl,
) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut writer = BufWriter::new(write);
    loop {
        let frame = match read_frame(&mut reader, DEFAULT_MAX_FRAME_BYTES).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                log_close(peer, &e);
                return;
            }
        };
        node.gate().await;
        let (api_key, version, correlation_id, reply) =
            match codec::decode_request(frame, dispatcher.apis()) {
                Ok(Decoded::Request(request)) => {
                    let (key, version, id) = (
                        request.api_key,
                        request.version,
                        request.header.correlation_id,
                    );
                    (key, version, id, dispatcher.dispatch(*request, peer).await)
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
