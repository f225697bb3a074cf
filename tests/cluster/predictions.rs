//! Predictions are judged against what this run's cluster really did: the same answer is
//! correct when the chosen broker stops in one run, and incorrect when another does.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_sandbox::backend::ClusterControl;
use kafka_sandbox::script::input::Scripted;
use kafka_sandbox::script::{self, output::Output, Session};

use crate::util::*;

/// A lesson that stops `victim` and asks who leads its partitions afterwards.
fn lesson_file(topic: &str, victim: i32) -> std::path::PathBuf {
    script_file(
        &format!("predict-{topic}-{victim}.rhai"),
        &format!(
            r#"
let led = partitions("{topic}").filter(|p| p.leader == {victim}).map(|p| p.partition);
predict(`Which brokers will lead partitions ${{words(led)}} after broker {victim} stops?`, "brokers", || {{
    cluster.stop({victim});
    wait_until(|| partitions("{topic}").all(|p| p.leader != {victim} && p.leader != ()), 10000);
    let now = partitions("{topic}");
    led.map(|i| now[i].leader)
}});
"#
        ),
    )
}

/// Runs the lesson in answers mode with `answer`, in this process, and returns its lines.
async fn run_lesson(
    cluster: Arc<dyn ClusterControl>,
    file: std::path::PathBuf,
    answer: String,
) -> Vec<String> {
    let handle = tokio::runtime::Handle::current();
    let view = kafka_sandbox::view::View::start(cluster, std::time::Instant::now());
    tokio::task::spawn_blocking(move || {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let out = Output::start(Box::new(move |line| sink.lock().unwrap().push(line)));
        let session = Session::new(
            handle,
            view,
            out.clone(),
            Arc::new(AtomicBool::new(false)),
            Box::new(Scripted::new(vec![answer])),
        )
        .unwrap();
        let engine = script::engine(&session);
        let source = format!("lesson({:?}, #{{answers: true}});", file.to_str().unwrap());
        let result = script::run_script(&engine, &mut script::scope(), &source);
        out.flush();
        assert!(result.is_ok(), "{result:?}\n{:?}", lines.lock().unwrap());
        let lines = lines.lock().unwrap().clone();
        lines
    })
    .await
    .unwrap()
}

/// The leaders a learner who reads the replica lists right would predict: for each partition
/// `victim` leads, the first other replica (all replicas are in sync).
fn expected(
    cluster: &kafka_sandbox::backend::embedded::EmbeddedCluster,
    topic: &str,
    victim: i32,
) -> String {
    let layout = client_metadata(cluster, topic);
    let leaders: Vec<String> = layout
        .values()
        .filter(|(leader, _, _)| *leader == victim)
        .map(|(_, replicas, _)| replicas.iter().find(|r| **r != victim).unwrap().to_string())
        .collect();
    leaders.join(" and ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prediction_is_judged_against_this_runs_outcome() {
    bounded(async {
        let embedded = TestCluster::start(3).await;
        let topic = unique("predict");
        create_topic(&embedded, &topic, 6, 3, &[]).await;
        embedded
            .wait_until("the replicas to be in sync", Duration::from_secs(20), |s| {
                fully_in_sync(s, &topic)
            })
            .await;
        let first = 1;
        let answer = expected(&embedded, &topic, first);
        // Another broker whose partitions would move elsewhere: the same answer is wrong for it.
        let second = [2, 3]
            .into_iter()
            .find(|b| expected(&embedded, &topic, *b) != answer)
            .expect("brokers 2 and 3 cannot both move their partitions exactly like broker 1");
        let cluster = embedded.control();

        let lines = run_lesson(cluster.clone(), lesson_file(&topic, first), answer.clone()).await;
        assert!(
            lines.iter().any(|l| l.starts_with("Q1: correct")),
            "the right prediction for broker {first}, {answer}, is judged correct:\n{}",
            lines.join("\n")
        );

        // Bring broker 1 back and its leaderships with it, then stop broker 2 instead: the same
        // answer no longer describes what the cluster does.
        cluster.start(first).await.unwrap();
        let admin = kafka_sandbox::client::admin::Admin::new(&cluster.bootstrap());
        wait_for_async(
            "the preferred leaders to be back, every replica in sync",
            Duration::from_secs(20),
            || async {
                // Ask again on every look: an election only moves leaders to in-sync replicas.
                let _ = admin.elect_preferred_leaders().await;
                embedded
                    .snapshot()
                    .topic(&topic)
                    .unwrap()
                    .partitions
                    .clone()
            },
            |partitions| {
                partitions
                    .iter()
                    .all(|p| p.leader_id() == p.replica_ids()[0] && p.isr_ids().len() == 3)
            },
        )
        .await;
        let lines = run_lesson(cluster.clone(), lesson_file(&topic, second), answer.clone()).await;
        let said = lines.join("\n");
        assert!(
            lines.iter().any(|l| l.starts_with("Q1: incorrect")),
            "'{answer}' was right for broker {first}, not for broker {second}:\n{said}"
        );
        assert!(said.contains("you predicted"), "{said}");
    })
    .await;
}
