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
