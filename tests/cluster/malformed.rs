//! Garbage on the wire closes only the offending connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::*;

/// Sends `bytes` on a fresh connection and checks the broker closes it without answering.
async fn expect_closed(addr: std::net::SocketAddr, bytes: &[u8], half_close: bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    if half_close {
        s.shutdown().await.unwrap();
    }
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the broker closes the connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "no answer to garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_frames_close_only_their_connection() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let addr = cluster.broker_addr(1).unwrap();
        // A healthy client connected before the garbage.
        let topic = unique("survivor");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let producer = producer(&cluster, "all");
        send(&producer, &topic, "k", "before").await.unwrap();

        // Random bytes whose length prefix happens to be plausible.
        let mut junk = vec![0, 0, 0, 40];
        junk.extend((0..40u8).map(|i| i.wrapping_mul(97).wrapping_add(13)));
        expect_closed(addr, &junk, false).await;
        // A length prefix over the 100 MiB limit.
        expect_closed(addr, &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3], false).await;
        // A negative length.
        expect_closed(addr, &[0xff, 0xff, 0xff, 0xf0], false).await;
        // A truncated request: the prefix promises more than arrives.
        expect_closed(addr, &[0, 0, 0, 100, 0, 3, 0, 12, 0, 0, 0, 1], true).await;
        // An unknown API key.
        expect_closed(
            addr,
            &[0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0],
            false,
        )
        .await;
        // A Metadata request whose body is cut short.
        expect_closed(
            addr,
            &[0, 0, 0, 12, 0, 3, 0, 9, 0, 0, 0, 1, 0, 0, 0, 5],
            false,
        )
        .await;

        // A Metadata v12 request whose topic array claims four billion entries.
        expect_closed(
            addr,
            &[
                0, 0, 0, 16, 0, 3, 0, 12, 0, 0, 0, 1, 0, 1, b'x', 0, 0xff, 0xff, 0xff, 0xff, 0x0f,
            ],
            false,
        )
        .await;
        // Random bodies behind valid headers of every supported API.
        fuzz_supported_apis(addr, 400).await;

        // The broker still serves everyone, old and new connections alike.
        send(&producer, &topic, "k", "after")
            .await
            .expect("existing client still served");
        let got = consume_async(&cluster, &topic, 1, 2).await;
        assert_eq!(
            got.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(),
            vec!["before", "after"]
        );
    })
    .await;
}

/// Sends `count` frames with a supported API key and version and pseudo-random body bytes,
/// each on its own connection, without waiting for answers.
async fn fuzz_supported_apis(addr: std::net::SocketAddr, count: u32) {
    use kafka_sandbox::protocol::versions::BROKER_APIS;
    let mut seed: u64 = 0x5eed_1234_abcd_ef01;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..count {
        let api = BROKER_APIS[(next() % BROKER_APIS.len() as u64) as usize];
        let version = api.min + (next() % (api.max - api.min + 1) as u64) as i16;
        let mut frame = Vec::new();
        frame.extend_from_slice(&(api.key as i16).to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&(i as i32).to_be_bytes());
        let body_len = (next() % 64) as usize;
        frame.extend((0..body_len).map(|_| next() as u8));
        let mut wire = (frame.len() as i32).to_be_bytes().to_vec();
        wire.extend_from_slice(&frame);
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&wire).await.unwrap();
        drop(s);
    }
}

/// A record batch that lies about its records (here: a valid CRC over a one-record batch
/// whose last offset delta says 2^31 - 1) is refused with INVALID_RECORD and appended nowhere:
/// the high watermark does not jump. Real clients' compressed batches (every codec librdkafka
/// offers) pass the same checks and come back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lying_batches_are_refused_and_every_compression_codec_passes() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
    use kafka_protocol::ResponseError;
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("lies");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let record = kafka_protocol::records::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let encode = |record: &kafka_protocol::records::Record, compression| {
            let mut buf = bytes::BytesMut::new();
            let options = RecordEncodeOptions {
                version: 2,
                compression,
            };
            RecordBatchEncoder::encode(&mut buf, std::slice::from_ref(record), &options).unwrap();
            buf
        };
        let mut raw = encode(&record, Compression::None).to_vec();
        raw[23..27].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&raw[21..]);
        raw[17..21].copy_from_slice(&crc.to_be_bytes());
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(bytes::Bytes::from(raw)))])]);
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0]
            .leader
            .unwrap()
            .0;
        let mut conn = broker_connection(&cluster, leader, "liar").await;
        let response: ProduceResponse = conn
            .call(&request, 9, Duration::from_secs(10))
            .await
            .unwrap();
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
        let after = cluster.snapshot();
        let offsets = &after.topic(&topic).unwrap().partitions[0].offsets;
        assert!(
            offsets.iter().all(|o| o.log_end_offset == 0),
            "nothing appended: {offsets:?}"
        );
        // A decompression bomb: a small zstd batch whose record claims 65 MiB is refused,
        // and the broker is still there to say so.
        let bomb = kafka_protocol::records::Record {
            value: Some(bytes::Bytes::from(vec![0u8; 65 << 20])),
            ..record.clone()
        };
        let buf = encode(&bomb, Compression::Zstd);
        assert!(
            buf.len() < 1 << 20,
            "the bomb is small on the wire: {}",
            buf.len()
        );
        let mut request = request.clone();
        request.topic_data[0].partition_data[0].records = Some(buf.freeze());
        let response: ProduceResponse = conn
            .call(&request, 9, Duration::from_secs(10))
            .await
            .unwrap();
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
        let message = p.error_message.as_deref().unwrap_or_default();
        assert!(message.contains("more than 64 MiB"), "{message}");
        // Every codec librdkafka offers: gzip, snappy and lz4 from rdkafka, zstd from kcat
        // (the rdkafka build here has no libzstd).
        let (bootstrap, t) = (cluster.bootstrap(), topic.clone());
        let kcat = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = std::process::Command::new("kcat")
                .args([
                    "-b",
                    &bootstrap,
                    "-t",
                    &t,
                    "-P",
                    "-z",
                    "zstd",
                    "-X",
                    "linger.ms=20",
                ])
                // cargo points LD_LIBRARY_PATH at the test build's own librdkafka, which
                // has no zstd; kcat must use the system's.
                .env_remove("LD_LIBRARY_PATH")
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("kcat is installed (apt-get install kcat)");
            let mut stdin = child.stdin.take().unwrap();
            for i in 0..20 {
                writeln!(stdin, "zstd-{i}").unwrap();
            }
            drop(stdin);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        assert!(
            kcat.status.success(),
            "kcat -z zstd: {}",
            String::from_utf8_lossy(&kcat.stderr)
        );
        for codec in ["gzip", "snappy", "lz4"] {
            let p: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", cluster.bootstrap())
                .set("compression.codec", codec)
                .set("linger.ms", "20")
                .create()
                .unwrap();
            let sends: Vec<_> = (0..20)
                .map(|i| {
                    let p = p.clone();
                    let t = topic.clone();
                    async move { send(&p, &t, &format!("k{i}"), &format!("{codec}-{i}")).await }
                })
                .collect();
            for r in futures_util::future::join_all(sends).await {
                r.unwrap_or_else(|e| panic!("{codec}: {e}"));
            }
        }
        // Read back with kcat too (the test build's librdkafka cannot decompress zstd).
        let (bootstrap, t) = (cluster.bootstrap(), topic.clone());
        let read = tokio::task::spawn_blocking(move || {
            std::process::Command::new("kcat")
                .args([
                    "-b", &bootstrap, "-t", &t, "-C", "-e", "-q", "-f", "%o %s\\n",
                ])
                .env_remove("LD_LIBRARY_PATH")
                .output()
                .expect("kcat runs")
        })
        .await
        .unwrap();
        let lines: Vec<String> = String::from_utf8_lossy(&read.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(lines.len(), 80, "{lines:?}");
        assert!(
            lines[0].starts_with("0 "),
            "the refused batch took no offsets: {lines:?}"
        );
        for codec in ["zstd", "gzip", "snappy", "lz4"] {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.contains(&format!(" {codec}-")))
                    .count(),
                20,
                "{codec}"
            );
        }
    })
    .await;
}
