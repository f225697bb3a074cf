//! kafka-python's transactional producer (2.2, the first release with one) against the
//! coordinator: commit, abort, a zombie fenced by a new producer with its id, and what
//! read_committed and read_uncommitted consumers then see.

use crate::util::*;

const SCRIPT: &str = r#"
import sys
from kafka import KafkaProducer, KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap, topic = sys.argv[1], sys.argv[2]
tid = topic + "-tx"
KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([NewTopic(topic, 1, 3)])
p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
p.init_transactions()
p.begin_transaction()
p.send(topic, b"committed-1")
p.send(topic, b"committed-2")
p.commit_transaction()
p.begin_transaction()
p.send(topic, b"aborted-1")
p.flush()  # written, then aborted: only read_uncommitted readers see it
p.abort_transaction()
p.begin_transaction()
p.send(topic, b"committed-3")
p.commit_transaction()
# A new producer with the same id fences this one, whose transaction is open.
p.begin_transaction()
p.send(topic, b"zombie")
p.flush()
successor = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
successor.init_transactions()
try:
    p.commit_transaction()
    print("zombie: committed")
except Exception as e:
    print("zombie: " + type(e).__name__)
successor.close()
for isolation in ["read_committed", "read_uncommitted"]:
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      isolation_level=isolation, consumer_timeout_ms=3000)
    print(isolation + ": " + ",".join(sorted(m.value.decode() for m in c)))
    c.close()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_pythons_transactional_producer_commits_aborts_and_is_fenced() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("kp-txn");
        let out = kafka_python_2_2(SCRIPT, vec![cluster.bootstrap(), topic]).await;
        let line = |prefix: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} line in: {out}"))
                .to_string()
        };
        assert!(
            ["ProducerFencedError", "InvalidProducerEpochError"]
                .contains(&line("zombie: ").as_str()),
            "{out}"
        );
        assert_eq!(
            line("read_committed: "),
            "committed-1,committed-2,committed-3",
            "{out}"
        );
        assert_eq!(
            line("read_uncommitted: "),
            "aborted-1,committed-1,committed-2,committed-3,zombie",
            "{out}"
        );
    })
    .await;
}
