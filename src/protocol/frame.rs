//! Kafka's framing: every request and response is a big-endian `i32` length followed by that
//! many bytes. A bad length is the first line of defence against garbage on the wire, so it is
//! checked before a single body byte is buffered.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ProtocolError;

/// Kafka's `socket.request.max.bytes` default (100 MiB): larger frames close the connection.
pub(crate) const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Reads one frame. Returns `Ok(None)` on a clean end of stream between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<Option<Bytes>, ProtocolError> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(ProtocolError::Io(e)),
    }
    let length = i32::from_be_bytes(prefix);
    if length < 0 || length as usize > max_bytes {
        return Err(ProtocolError::FrameSize {
            length: i64::from(length),
            max: max_bytes,
        });
    }
    let mut body = BytesMut::zeroed(length as usize);
    reader.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ProtocolError::Truncated
        } else {
            ProtocolError::Io(e)
        }
    })?;
    Ok(Some(body.freeze()))
}

/// Writes one frame (length prefix and body) and flushes it.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> Result<(), ProtocolError> {
    let length = i32::try_from(body.len()).map_err(|_| ProtocolError::FrameSize {
        length: body.len() as i64,
        max: i32::MAX as usize,
    })?;
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_a_frame() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").await.unwrap();
        let frame = read_frame(&mut wire.as_slice(), 1024).await.unwrap();
        assert_eq!(frame.as_deref(), Some(&b"hello"[..]));
    }

    #[tokio::test]
    async fn rejects_oversized_and_negative_lengths() {
        let big = 2048i32.to_be_bytes();
        let err = read_frame(&mut &big[..], 1024).await.unwrap_err();
        assert!(matches!(err, ProtocolError::FrameSize { length: 2048, .. }));
        let negative = (-5i32).to_be_bytes();
        assert!(read_frame(&mut &negative[..], 1024).await.is_err());
    }

    #[tokio::test]
    async fn reports_truncation_and_clean_eof() {
        let mut wire = 10i32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let err = read_frame(&mut wire.as_slice(), 1024).await.unwrap_err();
        assert!(matches!(err, ProtocolError::Truncated));
        assert!(read_frame(&mut &[][..], 1024).await.unwrap().is_none());
    }
}
