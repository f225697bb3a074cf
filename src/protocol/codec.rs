//! Server-side decoding and encoding, in the order Kafka does it: peek the API key and version,
//! check them against the node's table, decode the header at the API's header version, decode
//! the body at the request's version; answer with the response header version the API defines.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::versions::{self, ApiSupport};
use super::ProtocolError;

/// A decoded request, ready for dispatch.
#[derive(Debug)]
pub struct Request {
    /// The request header (client id, correlation id).
    pub header: RequestHeader,
    /// The API this request calls.
    pub api_key: ApiKey,
    /// The version of the API the client chose.
    pub version: i16,
    /// The decoded body.
    pub body: RequestKind,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A well-formed request of a supported API and version.
    Request(Box<Request>),
    /// An ApiVersions request at a version this node does not know: Kafka answers it with a v0
    /// response carrying UNSUPPORTED_VERSION and the supported list, so the client can retry.
    UnsupportedApiVersions {
        /// Correlation id to echo.
        correlation_id: i32,
    },
}

/// Decodes one frame against the node's table of supported APIs.
pub(crate) fn decode_request(
    mut frame: Bytes,
    table: &[ApiSupport],
) -> Result<Decoded, ProtocolError> {
    if frame.len() < 8 {
        return Err(ProtocolError::Malformed {
            what: "request header",
            reason: format!("{} bytes is shorter than the fixed header", frame.len()),
        });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| ProtocolError::UnknownApiKey(raw_key))?;
    let Some(supported) = versions::support(table, api_key) else {
        return Err(ProtocolError::UnsupportedVersion {
            api: api_key,
            version,
            supported: "none".into(),
        });
    };
    if version < supported.min || version > supported.max {
        if api_key == ApiKey::ApiVersions {
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            return Ok(Decoded::UnsupportedApiVersions { correlation_id });
        }
        return Err(ProtocolError::UnsupportedVersion {
            api: api_key,
            version,
            supported: format!("v{}..=v{}", supported.min, supported.max),
        });
    }
    // The codec is generated code fed with untrusted bytes: treat a panic like a decode error.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))?;
        let body = RequestKind::decode(api_key, &mut frame, version)?;
        Ok::<_, anyhow::Error>((header, body))
    }));
    let (header, body) = match decoded {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => {
            return Err(ProtocolError::Malformed {
                what: "request",
                reason: format!("{api_key:?} v{version}: {e}"),
            })
        }
        Err(_) => {
            return Err(ProtocolError::Malformed {
                what: "request",
                reason: format!("{api_key:?} v{version}: the decoder rejected the bytes"),
            })
        }
    };
    if frame.has_remaining() {
        tracing::debug!(
            "{api_key:?} v{version} had {} trailing bytes",
            frame.remaining()
        );
    }
    Ok(Decoded::Request(Box::new(Request {
        header,
        api_key,
        version,
        body,
    })))
}

/// Encodes a response frame body (without the length prefix).
pub(crate) fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, ProtocolError> {
    let mut buf = BytesMut::with_capacity(256);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, api_key.response_header_version(version))
        .map_err(|e| ProtocolError::Encode {
            what: "response header",
            reason: e.to_string(),
        })?;
    body.encode(&mut buf, version)
        .map_err(|e| ProtocolError::Encode {
            what: "response",
            reason: format!("{api_key:?} v{version}: {e}"),
        })?;
    Ok(buf.freeze())
}

/// The ApiVersions response listing `table`, with `error_code` (0 or UNSUPPORTED_VERSION).
pub(crate) fn api_versions_response(table: &[ApiSupport], error_code: i16) -> ApiVersionsResponse {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            table
                .iter()
                .map(|s| {
                    ApiVersion::default()
                        .with_api_key(s.key as i16)
                        .with_min_version(s.min)
                        .with_max_version(s.max)
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::StrBytes;

    fn frame<T: Encodable>(key: ApiKey, version: i16, body: &T) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")))
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_a_supported_request() {
        let f = frame(ApiKey::Metadata, 12, &MetadataRequest::default());
        let Decoded::Request(req) = decode_request(f, versions::BROKER_APIS).unwrap() else {
            panic!("expected a request")
        };
        assert_eq!(req.api_key, ApiKey::Metadata);
        assert_eq!(req.header.correlation_id, 7);
        assert!(matches!(req.body, RequestKind::Metadata(_)));
    }

    #[test]
    fn unknown_version_of_api_versions_gets_an_error_response_not_a_close() {
        let f = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        let mut raw = BytesMut::from(&f[..]);
        raw[3] = 99; // version 99
        let decoded = decode_request(raw.freeze(), versions::BROKER_APIS).unwrap();
        assert!(matches!(
            decoded,
            Decoded::UnsupportedApiVersions { correlation_id: 7 }
        ));
    }

    #[test]
    fn rejects_unknown_keys_unsupported_versions_and_garbage() {
        let junk = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 9, 9]);
        assert!(matches!(
            decode_request(junk, versions::BROKER_APIS),
            Err(ProtocolError::UnknownApiKey(_))
        ));
        let f = frame(ApiKey::Metadata, 12, &MetadataRequest::default());
        let mut raw = BytesMut::from(&f[..]);
        raw[3] = 13;
        assert!(matches!(
            decode_request(raw.freeze(), versions::BROKER_APIS),
            Err(ProtocolError::UnsupportedVersion { .. })
        ));
        let truncated = f.slice(..f.len() - 1);
        let short = frame(ApiKey::Metadata, 12, &MetadataRequest::default()).slice(..9);
        assert!(decode_request(short, versions::BROKER_APIS).is_err());
        let _ = decode_request(truncated, versions::BROKER_APIS);
    }
}
