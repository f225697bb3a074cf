//! A minimal Kafka-protocol client for node-to-node calls: a broker registering and heartbeating
//! with the controller, a follower fetching from its leader. One request in flight per
//! connection, like Kafka's own inter-broker channels; each caller owns its connection.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::frame::{read_frame, write_frame, DEFAULT_MAX_FRAME_BYTES};
use super::ProtocolError;

/// A connection to another node.
pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    client_id: StrBytes,
    next_correlation_id: i32,
}

impl Connection {
    /// Connects to `addr` (`host:port`; the host may be a name), giving up after `timeout`.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ProtocolError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ProtocolError::Timeout(timeout.as_millis() as u64))??;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(read),
            writer: BufWriter::new(write),
            client_id: StrBytes::from_string(client_id.to_string()),
            next_correlation_id: 1,
        })
    }

    /// Sends `request` at `version` and waits up to `timeout` for its response.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ProtocolError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut buf = BytesMut::with_capacity(128);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let encode_err = |e: anyhow::Error| ProtocolError::Encode {
            what: "request",
            reason: e.to_string(),
        };
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(encode_err)?;
        request.encode(&mut buf, version).map_err(encode_err)?;

        let exchange = async {
            write_frame(&mut self.writer, &buf).await?;
            let mut frame = read_frame(&mut self.reader, DEFAULT_MAX_FRAME_BYTES)
                .await?
                .ok_or(ProtocolError::Closed)?;
            let malformed = |e: anyhow::Error| ProtocolError::Malformed {
                what: "response",
                reason: e.to_string(),
            };
            let header = ResponseHeader::decode(
                &mut frame,
                <R::Response as HeaderVersion>::header_version(version),
            )
            .map_err(malformed)?;
            if header.correlation_id != correlation_id {
                return Err(ProtocolError::UnexpectedResponse(format!(
                    "correlation id {} for request {correlation_id}",
                    header.correlation_id
                )));
            }
            R::Response::decode(&mut frame, version).map_err(malformed)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ProtocolError::Timeout(timeout.as_millis() as u64))?
            .map_err(hung_up)
    }
}

/// A reset or broken connection is the peer hanging up, whichever of its signs (EOF, reset,
/// broken pipe) arrived first.
fn hung_up(e: ProtocolError) -> ProtocolError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    match e {
        ProtocolError::Io(io)
            if matches!(io.kind(), BrokenPipe | ConnectionAborted | ConnectionReset) =>
        {
            ProtocolError::Closed
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ApiVersionsRequest;

    use super::*;

    /// A peer that hangs up instead of answering is reported as a closed connection, not as a
    /// torn frame: the describe fallback prints this reason for a killed broker.
    #[tokio::test]
    async fn a_peer_that_hangs_up_is_a_closed_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
        });
        let mut conn = Connection::connect(&addr, "test", Duration::from_secs(5))
            .await
            .unwrap();
        server.await.unwrap();
        let err = conn
            .call(&ApiVersionsRequest::default(), 0, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, ProtocolError::Closed), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the connection was closed before an answer came"
        );
    }
}
