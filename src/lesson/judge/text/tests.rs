use super::*;

fn render(answer: &str) -> Vec<String> {
    clauses(answer)
        .iter()
        .map(|c| {
            c.iter()
                .map(|w| {
                    if w.negated {
                        format!("!{}", w.stem)
                    } else {
                        w.stem.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn words_reduce_to_stems() {
    for (a, b) in [
        ("stopped", "stop"),
        ("stopping", "stop"),
        ("stops", "stop"),
        ("closed", "clos"),
        ("close", "clos"),
        ("closing", "clos"),
        ("killed", "kill"),
        ("took", "tak"),
        ("take", "tak"),
        ("stopped", "stop"),
        ("rebalanced", "rebalanc"),
        ("rebalance", "rebalanc"),
        ("partitions", "partition"),
        ("groups", "group"),
        ("consumers", "consumer"),
        ("received", "receiv"),
        ("receive", "receiv"),
        ("copied", "copy"),
        ("copy", "copy"),
        ("succeeded", "succeed"),
        ("succeed", "succeed"),
    ] {
        assert_eq!(stem(a), b, "{a}");
    }
}

#[test]
fn negation_reaches_the_end_of_its_clause_only() {
    assert_eq!(
        render("they didn't share a group id"),
        vec!["they do !shar !a !group !id"]
    );
    assert_eq!(
        render("it's not the case that the producer failed when kafka-2 was stopped"),
        vec![
            "it be !the !cas !that !the !producer !fail",
            "kafka 2 be stop"
        ]
    );
    assert_eq!(
        render("they were never not in the same group"),
        vec!["they be in the sam group"]
    );
    assert_eq!(render("not only that"), vec!["only that"]);
    assert_eq!(render("we didnt stop"), vec!["we do !stop"]);
    assert_eq!(
        render("Didn't we stop kafka-2? It failed."),
        vec!["do we stop kafka 2", "it fail"]
    );
    assert_eq!(
        render("kcat -b localhost:9092 -L"),
        vec!["kcat b localhost 9092 l"]
    );
    assert_eq!(
        render("we stopped consumer 3, and consumers 1 and 2 got it"),
        vec!["we stop consumer 3", "consumer 1 and 2 get it"]
    );
}

#[test]
fn tool_spellings_fall_apart_into_words() {
    assert_eq!(
        render("kafka-topics.sh --describe --topic t"),
        vec!["kafka topic sh describ topic t"]
    );
    assert_eq!(render("describe(\"t\")"), vec!["describ t"]);
    assert_eq!(
        render("each had its own group.id"),
        vec!["each hav it own group id"]
    );
    assert_eq!(render("pressed Ctrl+C"), vec!["press ctrlc"]);
}

#[test]
fn small_typos_of_long_words_are_forgiven_short_words_must_be_right() {
    assert!(same_word("consumr", "consumer"));
    assert!(same_word("partiton", "partition"));
    assert!(same_word("grup", "group"));
    assert!(same_word("gruop", "group"));
    assert!(!same_word("step", "stop"));
    assert!(!same_word("kill", "fill"));
    assert!(!same_word("topics", "topic_x"));
    assert!(!same_word("partition", "partitioner"));
}
