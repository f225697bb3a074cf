//! The script API's reference: one entry per function or method, used by `help()` and checked
//! against both the engine's registrations and docs/scripting.md by tests.

/// Documentation of one script function or method.
#[derive(Debug, Clone, Copy)]
pub struct FnDoc {
    /// Name as called (methods are written `cluster.stop`).
    pub name: &'static str,
    /// Call forms.
    pub signature: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// A one-line example.
    pub example: &'static str,
}

const fn doc(
    name: &'static str,
    signature: &'static str,
    summary: &'static str,
    example: &'static str,
) -> FnDoc {
    FnDoc {
        name,
        signature,
        summary,
        example,
    }
}

/// Every function and method scripts can call.
pub const FUNCTIONS: &[FnDoc] = &[
    doc("cluster.brokers", "cluster.brokers() -> array", "Broker ids of the cluster.", "cluster.brokers()"),
    doc("cluster.backend", "cluster.backend() -> string", "Which backend runs the cluster: \"embedded\", \"processes\", \"docker\" or \"attach\" (a lesson can say what it cannot show on one).", "cluster.backend()"),
    doc("cluster.bootstrap", "cluster.bootstrap() -> string", "Bootstrap servers, for kcat -b or any client.", "cluster.bootstrap()"),
    doc("cluster.status", "cluster.status()", "Prints brokers (up, down, paused, isolated; fenced or not) and every partition's leader, replicas, ISR and log end / high watermark per replica.", "cluster.status()"),
    doc("cluster.stop", "cluster.stop(id)", "Controlled shutdown: the controller moves the broker's leaderships first, then it stops.", "cluster.stop(2)"),
    doc("cluster.kill", "cluster.kill(id)", "Crash: the broker vanishes; the controller notices when its heartbeats stop.", "cluster.kill(2)"),
    doc("cluster.start", "cluster.start(id)", "Starts a stopped or killed broker with the data it had.", "cluster.start(2)"),
    doc("cluster.restart", "cluster.restart(id)", "Controlled stop, then start.", "cluster.restart(2)"),
    doc("cluster.pause", "cluster.pause(id)", "Freezes a broker (like docker pause): it answers nothing and sends nothing.", "cluster.pause(3)"),
    doc("cluster.resume", "cluster.resume(id)", "Thaws a paused broker.", "cluster.resume(3)"),
    doc("cluster.isolate", "cluster.isolate(id)", "Cuts a broker off from its peers and the controller. Embedded and processes: clients can still reach it; docker: its container leaves the network.", "cluster.isolate(1)"),
    doc("cluster.heal", "cluster.heal() / cluster.heal(id)", "Reconnects every isolated broker, or one.", "cluster.heal()"),
    doc("cluster.elect", "cluster.elect()", "Preferred-leader election for every partition now (kafka-leader-election --election-type preferred), instead of waiting for the automatic rebalance.", "cluster.elect()"),
    doc("cluster.pause_controller", "cluster.pause_controller()", "Freezes the controller: brokers keep serving with the metadata they have, but no leader election, ISR change or new topic can happen until it resumes (embedded and processes backends).", "cluster.pause_controller()"),
    doc("cluster.resume_controller", "cluster.resume_controller()", "Thaws the controller; like a newly active controller, it gives every broker a fresh session before judging heartbeats again.", "cluster.resume_controller()"),
    doc("cluster.racks", "cluster.racks() -> map", "Each live broker's broker.rack (set with --racks, or a lesson's fn needs()), keyed by broker id; () for a broker without one.", "cluster.racks()[\"1\"]"),
    doc("cluster.logs", "cluster.logs(id)", "Prints a broker's recent log lines (its process's or container's output; not for the embedded cluster, which logs to the terminal with KAFKA_SANDBOX_LOG=info).", "cluster.logs(2)"),
    doc("create_topic", "create_topic(name, partitions, replication[, configs])", "Creates a topic; configs is a map of Kafka topic configs.", "create_topic(\"failsafe-test-topic\", 8, 3, #{\"min.insync.replicas\": \"2\"})"),
    doc("delete_topic", "delete_topic(name)", "Deletes a topic.", "delete_topic(\"old-topic\")"),
    doc("add_partitions", "add_partitions(topic, total)", "Grows a topic to total partitions (CreatePartitions, like kafka-topics --alter --partitions); new partitions are placed and led like the others, and keys may now hash elsewhere.", "add_partitions(\"orders\", 6)"),
    doc("replica_offsets", "replica_offsets(topic) -> array", "Each replica's log end offset and high watermark, one map per replica: partition, broker, leader (bool), log_end_offset, high_watermark (not on attach).", "replica_offsets(\"t\").filter(|r| r.partition == 0)"),
    doc("topics", "topics() -> array", "Topic names (internal topics left out).", "topics()"),
    doc("describe", "describe(topic) -> array", "Prints the partition table like kafka-topics --describe and returns one map per partition: partition, leader, replicas, isr, offline.", "let parts = describe(\"failsafe-test-topic\"); parts[0].leader"),
    doc("partitions", "partitions(topic) -> array", "The same maps as describe(topic), without printing the table.", "partitions(\"t\")[0].leader"),
    doc("producer", "producer() / producer(opts) -> Producer", "A producer. opts: acks (\"all\", \"1\", \"0\"), idempotence (bool), timeout_ms, transactional_id (runs transactions: begin, commit, abort, send_offsets), config (map of librdkafka settings).", "let p = producer(#{acks: \"all\"})"),
    doc("begin", "p.begin()", "Starts a transaction on a producer made with transactional_id; its sends are invisible to read_committed consumers until commit().", "let tx = producer(#{transactional_id: \"tx-1\"}); tx.begin()"),
    doc("commit", "p.commit()", "Commits the open transaction: its sends (and offsets from send_offsets) become visible together, on every partition.", "tx.commit()"),
    doc("abort", "p.abort()", "Aborts the open transaction: its sends stay in the log but read_committed consumers never see them, and its offsets are not committed.", "tx.abort()"),
    doc("describe_transaction", "describe_transaction(id) -> map", "Prints and returns a transactional id as its coordinator describes it (like kafka-transactions --describe): state (Empty, Ongoing, PrepareCommit, CompleteCommit, …), coordinator (broker id), producer_id, epoch, timeout_ms, partitions.", "describe_transaction(\"tx-1\").coordinator"),
    doc("send_offsets", "p.send_offsets(group, offsets)", "Adds a consumer group's offsets to the open transaction (consume-transform-produce): offsets is an array of #{topic, partition, offset}, the next offset to read; they are committed only if the transaction commits.", "tx.send_offsets(\"g\", [#{topic: \"in\", partition: 0, offset: 10}])"),
    doc("send", "p.send(topic, value) / p.send(topic, key, value) -> map", "Sends and waits for the acknowledgement; returns #{partition, offset} or raises the Kafka error.", "p.send(\"failsafe-test-topic\", \"Hello Kafka!\")"),
    doc("try_send", "p.try_send(topic, value) / p.try_send(topic, key, value) -> map", "Like send, but a refusal is returned as #{error} (and counted in the ledger) instead of stopping the script.", "p.try_send(\"t\", \"v1\")"),
    doc("ledger", "ledger(topic) -> map", "Delivery ledger: what this session sent to the topic, what was acknowledged, and what the topic really holds now (read back from the beginning): lost, duplicated, out of order.", "ledger(\"t\").lost"),
    doc("metrics", "metrics() -> map", "Kafka's operator metrics now, as the page and /metrics show them: UnderReplicatedPartitions, OfflinePartitionsCount, ActiveControllerCount, IsrShrinks, IsrExpands, LeaderElections, UncleanLeaderElections, MessagesIn, FailedProduceRequests, PartitionCount, LeaderCount (cluster totals), brokers (the same per running broker, by id) and lag (group → \"topic-partition\" → lag).", "let before = metrics(); cluster.kill(2); sleep(2000); metrics().UnderReplicatedPartitions - before.UnderReplicatedPartitions"),
    doc("report", "report(file)", "Writes the session's timeline report so far to file (.html): one self-contained page with swim lanes per broker, partition and consumer, the faults, delivery ledgers and lesson answers.", "report(\"failover.html\")"),
    doc("now_ms", "now_ms() -> int", "Wall-clock milliseconds, for timing experiments.", "let t0 = now_ms()"),
    doc("consumer", "consumer(topic) / consumer(topic, opts) -> Consumer", "A consumer in its own process. opts: group (omit to read every partition alone, like kcat without -G), from (\"end\" or \"beginning\"), name, processing_ms (time to process each message; it counts as received once processed), commit (\"auto\", \"before\" or \"after\" processing), isolation (\"read_committed\", the default, or \"read_uncommitted\"), config (map).", "let c = consumer(\"failsafe-test-topic\", #{group: \"test-group\", from: \"end\"})"),
    doc("group", "group(name, topic, n) -> array", "Starts n consumers in one group (reading from the end), named name/c1 … name/cn.", "let g = group(\"test-group\", \"failsafe-test-topic\", 3)"),
    doc("received", "c.received() -> array", "Messages received so far: maps with partition, offset, key, value.", "c.received().len()"),
    doc("values", "c.values() -> array", "Values received so far, in arrival order.", "c.values()"),
    doc("assignment", "c.assignment() -> array", "Partitions the consumer owns now.", "c.assignment()"),
    doc("name", "c.name() -> string", "The consumer's label in live output.", "c.name()"),
    doc("close", "c.close()", "Clean close: commits and leaves the group, so the others take over at once.", "c.close()"),
    doc("kill", "c.kill()", "Crash (SIGKILL): no goodbye, so the group waits for the session timeout.", "c.kill()"),
    doc("ended", "c.ended() -> bool", "True once the consumer is no longer running: closed, killed, or its process exited (reported as it happens).", "c.ended()"),
    doc("state", "c.state() -> string", "\"running\", \"closed\", \"killed\", or why its process exited.", "c.state()"),
    doc("consumers", "consumers() -> array", "Prints every running consumer of the session with its group, topic and partitions, and returns them.", "let all = consumers()"),
    doc("mute", "c.mute()", "Stops printing this consumer's live output (it keeps consuming).", "c.mute()"),
    doc("unmute", "c.unmute()", "Prints this consumer's live output again.", "c.unmute()"),
    doc("describe_group", "describe_group(name) -> map", "Prints and returns a group's state, members with their partitions, and committed offsets with lag.", "describe_group(\"test-group\")"),
    doc("sleep", "sleep(ms)", "Waits (Ctrl-C interrupts).", "sleep(500)"),
    doc("wait_until", "wait_until(fn, timeout_ms) -> bool", "Calls fn until it returns true or the time is up; returns whether it became true.", "wait_until(|| c.assignment().len() == 8, 10000)"),
    doc("assert", "assert(condition, message)", "Raises an error with message unless condition is true.", "assert(c.received().len() == 3, \"three messages\")"),
    doc("quiet", "quiet(on)", "Turns live consumer and cluster output off (true) or on (false).", "quiet(true)"),
    doc("help", "help() / help(name)", "Lists the API, or explains one function.", "help(\"describe\")"),
    doc("lessons", "lessons() -> array", "Lists the bundled lessons.", "lessons()"),
    doc("lesson", "lesson(name) / lesson(name, opts)", "Runs a bundled lesson; opts: auto (no pauses, model answers) and the lesson's own knobs.", "lesson(\"broker-failover\")"),
    doc("step", "step(title, text)", "Lesson step: explains what comes next; interactive lessons pause here (Enter, or try a command).", "step(\"Stop broker 2\", \"Watch the leaders move.\")"),
    doc("observe", "observe(text)", "Lesson output: prints an observation computed from this run.", "observe(`c1 owns ${c.assignment()}`)"),
    doc("check", "check(condition, claim)", "Lesson claim: prints it when it holds, stops the lesson saying the cluster did not behave as expected when it does not.", "check(c.values().len() == 3, \"c1 got all three\")"),
    doc("question", "question(spec, model) -> bool / question(text, concepts, hint, model) -> bool", "Review question: judges the learner's answer by the ideas it must state and the misconceptions that make it wrong (spec: #{text, ideas, wrong, hint}; see docs/lessons.md), gives feedback and the hint for a second try, then shows the model answer.", "question(questions().groups, `Each consumer had its own group`)"),
    doc("predict", "predict(text, kind, action) -> value", "Prediction: asks what the cluster will do (kind: \"number\", \"yes/no\", \"brokers\", \"set\" or an array of choices), runs action (the fault) and judges the answer against the value action returns from this run.", "predict(\"Which brokers will lead partitions 0 and 3?\", \"brokers\", || { cluster.stop(2); [partitions(t)[0].leader, partitions(t)[3].leader] })"),
    doc("words", "words(array) -> string", "An array for a sentence: [1, 4, 7] → \"1, 4 and 7\"; arrays of arrays are joined with \"; \".", "observe(`c1 owns partitions ${words(c.assignment())}`)"),
    doc("fresh_topic", "fresh_topic(name, partitions, replication[, configs])", "Deletes the topic if it exists, then creates it anew with the given topic configs (for repeatable lessons).", "fresh_topic(\"failsafe-test-topic\", 8, 3)"),
];

/// Looks up a function by name (with or without `cluster.`).
pub fn find(name: &str) -> Option<&'static FnDoc> {
    FUNCTIONS
        .iter()
        .find(|f| f.name == name || f.name.strip_prefix("cluster.") == Some(name))
}

/// The documented function a mistyped `name` most likely meant: the one whose name (without
/// `cluster.`) is within two edits of it, or one for names of four letters or fewer, so that
/// `cluster.kil(2)` suggests `cluster.kill(id)` and an unrelated name suggests nothing.
pub fn closest(name: &str) -> Option<&'static FnDoc> {
    let allowed = if name.chars().count() <= 4 { 1 } else { 2 };
    FUNCTIONS
        .iter()
        .map(|f| {
            let short = f.name.rsplit('.').next().unwrap_or(f.name);
            (crate::lesson::judge::text::distance(name, short), f)
        })
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f)
}

/// The text `help()` prints.
pub(crate) fn overview() -> String {
    let width = FUNCTIONS
        .iter()
        .map(|f| f.signature.len())
        .max()
        .unwrap_or(0)
        .min(58);
    let mut out = String::from("kafka-sandbox script API (help(\"name\") for details):\n");
    for f in FUNCTIONS {
        let first = f
            .summary
            .split(". ")
            .next()
            .unwrap_or(f.summary)
            .trim_end_matches('.');
        out.push_str(&format!("  {:<width$}  {first}\n", f.signature));
    }
    out
}

/// The text `help(name)` prints.
pub(crate) fn detail(f: &FnDoc) -> String {
    format!("{}\n  {}\n  example: {}", f.signature, f.summary, f.example)
}

/// Names a script can complete: functions, `cluster.` methods and other methods.
pub(crate) fn completions() -> Vec<String> {
    let mut names: Vec<String> = FUNCTIONS.iter().map(|f| f.name.to_string()).collect();
    names.extend(["cluster".to_string(), "exit".to_string()]);
    names.sort();
    names.dedup();
    names
}
