//! kcat as a group member (`kcat -G`): members share the partitions and print their
//! rebalances.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{batch, produce_keyed};
use crate::util::*;

/// A kcat group member (`kcat -G`) whose output is collected line by line as it prints:
/// messages on stdout, rebalances on stderr.
struct KcatMember {
    child: tokio::process::Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl KcatMember {
    fn start(bootstrap: &str, group: &str, topic: &str) -> Self {
        let mut child = tokio::process::Command::new("kcat")
            .args(["-u", "-b", bootstrap, "-G", group])
            .args(["-X", "heartbeat.interval.ms=300"])
            .args(["-X", "auto.offset.reset=earliest", topic])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kcat is installed");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            collect_lines(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect_lines(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Self {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The messages printed so far.
    fn messages(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The latest rebalance it reported ("... rebalanced ...: assigned: t [0], t [3]" or
    /// "...: revoked: ...").
    fn last_rebalance(&self) -> Option<String> {
        let stderr = self.stderr.lock().unwrap();
        stderr.iter().rfind(|l| l.contains("rebalanced")).cloned()
    }

    /// How many partitions of `topic` its latest rebalance report gave it.
    fn owned(&self, topic: &str) -> usize {
        self.last_rebalance()
            .filter(|l| l.contains("assigned:"))
            .map_or(0, |l| l.matches(&format!("{topic} [")).count())
    }

    /// Kills kcat and returns all it printed: (stdout lines, stderr lines).
    async fn kill(mut self) -> (Vec<String>, Vec<String>) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        for reader in self.readers.drain(..) {
            reader.await.expect("reader");
        }
        let out = std::mem::take(&mut *self.stdout.lock().unwrap());
        let err = std::mem::take(&mut *self.stderr.lock().unwrap());
        (out, err)
    }
}

/// Appends each line read from `pipe` to `lines` until the pipe closes.
fn collect_lines(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().unwrap().push(line);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kcat_members_share_partitions_and_print_their_rebalances() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("kcatg");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let mut kcats = Vec::new();
        for i in 0..3 {
            let kcat = KcatMember::start(&cluster.bootstrap(), &group, &topic);
            // One at a time: each join is a rebalance of its own, printed by every member.
            wait_for(
                &format!("kcat {i} to join and print its assignment"),
                Duration::from_secs(20),
                || kcat.last_rebalance(),
                |last| last.as_deref().is_some_and(|l| l.contains("assigned:")),
            )
            .await;
            kcats.push(kcat);
        }
        let owned = |kcats: &[KcatMember]| -> Vec<usize> {
            kcats.iter().map(|k| k.owned(&topic)).collect()
        };
        wait_for(
            "the group to settle with the 8 partitions split 3/3/2",
            Duration::from_secs(20),
            || owned(&kcats),
            |n| n.iter().sum::<usize>() == 8 && n.iter().all(|n| *n >= 2),
        )
        .await;
        let values = batch("k", 24);
        produce_keyed(&cluster, &topic, &values).await;
        let mut want = values.clone();
        want.sort();
        let printed = |kcats: &[KcatMember]| -> Vec<String> {
            let mut all: Vec<String> = kcats.iter().flat_map(KcatMember::messages).collect();
            all.sort();
            all
        };
        wait_for(
            "the kcats to print 24 messages",
            Duration::from_secs(20),
            || printed(&kcats),
            |got| got.len() >= 24,
        )
        .await;
        // A window, not a wait: a duplicate print, or a rebalance that could cause one, would
        // show within it (members heartbeat every 300 ms).
        holds_for(
            "each message to be printed once and the assignment to stay put",
            Duration::from_secs(1),
            || (printed(&kcats), owned(&kcats)),
            |(got, n)| *got == want && n.iter().sum::<usize>() == 8,
        )
        .await;
        let mut outputs = Vec::new();
        for kcat in kcats {
            outputs.push(kcat.kill().await);
        }
        let mut final_assignment: BTreeMap<usize, String> = BTreeMap::new();
        for (i, (_, err)) in outputs.iter().enumerate() {
            let err = err.join("\n");
            assert!(
                err.contains("rebalanced") && err.contains("assigned:"),
                "member {i} printed no rebalance: {err}"
            );
            if let Some(line) = err.lines().rfind(|l| l.contains("assigned:")) {
                final_assignment.insert(i, line.to_string());
            }
        }
        let owned: usize = final_assignment
            .values()
            .map(|l| l.matches(&format!("{topic} [")).count())
            .sum();
        assert_eq!(
            owned, 8,
            "the last assignments cover all 8 partitions: {final_assignment:?}"
        );
        let mut got: Vec<String> = outputs.into_iter().flat_map(|(out, _)| out).collect();
        got.sort();
        assert_eq!(got, want, "each message printed by exactly one kcat");
    })
    .await;
}
