//! Decompressing a produced batch's records for validation, with a ceiling: a few kilobytes of
//! gzip or zstd can claim gigabytes, and a broker must refuse such a batch instead of trying
//! to hold it. The codecs are Kafka's (attribute bits 0–2): gzip, snappy (Kafka's framed
//! "xerial" form or raw), lz4 (frame format) and zstd.

use std::io::Read;

use bytes::Bytes;

/// The most one batch may decompress to: far beyond what clients put in a batch (librdkafka's
/// `batch.size` is 1 MB, Kafka's `message.max.bytes` about as much), small enough that a
/// crafted batch cannot exhaust the broker's memory.
pub(crate) const MAX_DECOMPRESSED: usize = 64 << 20;

/// Why the records could not be had.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DecompressError {
    /// The data does not decode with the codec the batch names.
    #[error("the batch's records do not decompress ({codec}): {why}")]
    Corrupt {
        /// The codec.
        codec: &'static str,
        /// What the decoder said.
        why: String,
    },
    /// The data decodes to more than [`MAX_DECOMPRESSED`].
    #[error("the batch's records decompress ({codec}) to more than {} MiB", MAX_DECOMPRESSED >> 20)]
    TooLarge {
        /// The codec.
        codec: &'static str,
    },
    /// Attribute bits that name no codec.
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
}

/// The records in `body`, compressed with `codec` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub(crate) fn records(codec: i16, body: Bytes) -> Result<Bytes, DecompressError> {
    let corrupt = |codec: &'static str| {
        move |e: std::io::Error| DecompressError::Corrupt {
            codec,
            why: e.to_string(),
        }
    };
    match codec {
        0 => Ok(body),
        1 => capped("gzip", flate2::read::GzDecoder::new(&body[..])),
        2 => snappy(&body),
        3 => capped("lz4", lz4::Decoder::new(&body[..]).map_err(corrupt("lz4"))?),
        4 => capped(
            "zstd",
            zstd::stream::read::Decoder::new(&body[..]).map_err(corrupt("zstd"))?,
        ),
        other => Err(DecompressError::UnknownCodec(other)),
    }
}

/// Reads `decoder` to its end, or to one byte past the ceiling.
fn capped(codec: &'static str, decoder: impl Read) -> Result<Bytes, DecompressError> {
    let mut out = Vec::new();
    decoder
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            codec,
            why: e.to_string(),
        })?;
    if out.len() > MAX_DECOMPRESSED {
        return Err(DecompressError::TooLarge { codec });
    }
    Ok(out.into())
}

/// Kafka's snappy: the Java client's framed form (a magic header, then blocks each preceded by
/// its length) or, without the header, one raw block. Each block states its decompressed
/// length, which is checked against the ceiling before anything is decompressed.
fn snappy(body: &[u8]) -> Result<Bytes, DecompressError> {
    const MAGIC: &[u8] = b"\x82SNAPPY\x00";
    const HEADER: usize = 16;
    let corrupt = |why: String| DecompressError::Corrupt {
        codec: "snappy",
        why,
    };
    let mut blocks = Vec::new();
    if body.starts_with(MAGIC) && body.len() >= HEADER {
        let mut rest = &body[HEADER..];
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(corrupt("a block length is cut short".into()));
            };
            let len = u32::from_be_bytes(*len) as usize;
            if len > tail.len() {
                return Err(corrupt(format!(
                    "a block of {len} bytes runs past the batch"
                )));
            }
            blocks.push(&tail[..len]);
            rest = &tail[len..];
        }
    } else {
        blocks.push(body);
    }
    let mut total = 0usize;
    for block in &blocks {
        total += snap::raw::decompress_len(block).map_err(|e| corrupt(e.to_string()))?;
        if total > MAX_DECOMPRESSED {
            return Err(DecompressError::TooLarge { codec: "snappy" });
        }
    }
    let mut out = Vec::with_capacity(total);
    let mut decoder = snap::raw::Decoder::new();
    for block in blocks {
        out.extend(
            decoder
                .decompress_vec(block)
                .map_err(|e| corrupt(e.to_string()))?,
        );
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap().into()
    }

    #[test]
    fn every_codec_round_trips_and_garbage_is_corrupt() {
        let data = b"kafka-sandbox ".repeat(100);
        assert_eq!(records(1, gzip(&data)).unwrap(), &data[..]);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(records(2, raw.into()).unwrap(), &data[..]);
        let zstd = zstd::stream::encode_all(&data[..], 1).unwrap();
        assert_eq!(records(4, zstd.into()).unwrap(), &data[..]);
        let mut lz4 = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz4.write_all(&data).unwrap();
        let (lz4, done) = lz4.finish();
        done.unwrap();
        assert_eq!(records(3, lz4.into()).unwrap(), &data[..]);
        for codec in 1..=4 {
            let e = records(codec, Bytes::from_static(b"not compressed at all")).unwrap_err();
            assert!(
                matches!(e, DecompressError::Corrupt { .. }),
                "codec {codec}: {e}"
            );
        }
        assert_eq!(
            records(7, Bytes::new()),
            Err(DecompressError::UnknownCodec(7))
        );
    }

    #[test]
    fn a_batch_that_decompresses_past_the_ceiling_is_refused() {
        let bomb = vec![0u8; MAX_DECOMPRESSED + 1];
        let e = records(1, gzip(&bomb)).unwrap_err();
        assert_eq!(e, DecompressError::TooLarge { codec: "gzip" });
        let zstd = zstd::stream::encode_all(&bomb[..], 1).unwrap();
        assert!(zstd.len() < 100_000, "a small batch");
        assert_eq!(
            records(4, zstd.into()).unwrap_err(),
            DecompressError::TooLarge { codec: "zstd" }
        );
        let exactly = vec![0u8; MAX_DECOMPRESSED];
        assert_eq!(records(1, gzip(&exactly)).unwrap().len(), MAX_DECOMPRESSED);
    }
}
