//! Judging a learner's free-text answer against the concepts a question is about: tolerant of
//! word order, inflections ("groups", "grouped") and small typos, never of missing ideas.

/// One idea the answer must contain: any of its phrasings will do. A phrasing of several words
/// matches when each of its words appears somewhere in the answer.
pub type Concept = Vec<String>;

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// True if an answer word says `keyword`: equal, an inflection of it, or a near miss.
fn word_matches(word: &str, keyword: &str) -> bool {
    if word == keyword {
        return true;
    }
    let stem_len = keyword.chars().count();
    if stem_len >= 4
        && (word.starts_with(keyword)
            || (keyword.starts_with(word) && word.chars().count() >= stem_len - 1))
    {
        return true;
    }
    let allowed = match stem_len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    };
    allowed > 0 && edit_distance(word, keyword) <= allowed
}

/// True if `answer` expresses `concept`.
pub fn mentions(answer: &str, concept: &Concept) -> bool {
    let answer = words(answer);
    concept.iter().any(|phrase| {
        words(phrase)
            .iter()
            .all(|k| answer.iter().any(|w| word_matches(w, k)))
    })
}

/// The concepts an answer misses.
pub fn missing<'a>(answer: &str, concepts: &'a [Concept]) -> Vec<&'a Concept> {
    concepts.iter().filter(|c| !mentions(answer, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concept(alternatives: &[&str]) -> Concept {
        alternatives.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accepts_synonyms_order_inflections_and_typos() {
        let concepts = vec![
            concept(&["different group", "separate group", "own group"]),
            concept(&["every message", "all messages", "each message"]),
        ];
        assert!(missing(
            "They were each in their own consumer group, so all messages went to each",
            &concepts
        )
        .is_empty());
        assert!(missing(
            "groups were diferent; every single message was delivered",
            &concepts
        )
        .is_empty());
        assert!(missing("Separate groups => they all got every mesage", &concepts).is_empty());
    }

    #[test]
    fn refuses_answers_missing_an_idea() {
        let concepts = vec![
            concept(&["different group", "separate group"]),
            concept(&["every message", "all messages"]),
        ];
        assert_eq!(missing("because of the network", &concepts).len(), 2);
        assert_eq!(missing("they were in different groups", &concepts).len(), 1);
        assert!(!mentions("kill", &concept(&["kafka-topics --describe"])));
    }
}
