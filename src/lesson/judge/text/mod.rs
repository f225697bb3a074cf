//! From a learner's sentence to what the judge compares: clauses of word stems, each word
//! marked with whether a negation governs it.
//!
//! - Contractions are opened (`didn't` → `did not`), Ctrl-C in any spelling becomes one word,
//!   and tool spellings fall apart into their words (`kafka-topics.sh --describe` → `kafka
//!   topics sh describe`), so `kafka-topics` and "kafka topics" read the same.
//! - Words are reduced to stems (`stopped`, `stopping`, `stops` → `stop`; `took` → `take`).
//! - Clauses end at punctuation and at conjunctions (`and`, `but`, `because`, `when`, …): a
//!   negation reaches to the end of its clause and no further, so in "it is not true that the
//!   producer failed when kafka-2 was stopped" the broker really was stopped.
//! - Within a clause every negator (`not`, `no`, `never`, `without`, …) flips the polarity of
//!   the words after it, so "never not in the same group" is in the same group.

/// One word of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// Its stem.
    pub stem: String,
    /// True when an odd number of negators precede it in its clause.
    pub negated: bool,
    /// Which sentence of the answer it is in (clauses of one sentence share it).
    pub sentence: usize,
}

/// The words between two clause boundaries.
pub(crate) type Clause = Vec<Word>;

/// Words that end a clause (besides punctuation).
const CONJUNCTIONS: &[&str] = &[
    "and",
    "but",
    "so",
    "because",
    "since",
    "when",
    "while",
    "after",
    "then",
    "although",
    "though",
    "whereas",
    "yet",
    "as",
    "once",
    "until",
    "however",
    "therefore",
    "thus",
    "hence",
    "meaning",
    "cause",
    "cuz",
    "coz",
    "whereupon",
    "plus",
];

/// Words that negate what follows them in the clause.
const NEGATORS: &[&str] = &[
    "not", "no", "never", "without", "nobody", "none", "nothing", "neither", "nor", "nowhere",
    "hardly", "nope", "nor",
];

/// Irregular forms a learner is likely to write, mapped to the form the stemmer knows.
const IRREGULAR: &[(&str, &str)] = &[
    ("took", "take"),
    ("taken", "take"),
    ("went", "go"),
    ("gone", "go"),
    ("goes", "go"),
    ("got", "get"),
    ("gotten", "get"),
    ("kept", "keep"),
    ("left", "leave"),
    ("died", "die"),
    ("dies", "die"),
    ("ran", "run"),
    ("sent", "send"),
    ("chose", "choose"),
    ("chosen", "choose"),
    ("led", "lead"),
    ("fell", "fall"),
    ("fallen", "fall"),
    ("broke", "break"),
    ("broken", "break"),
    ("brought", "bring"),
    ("caught", "catch"),
    ("held", "hold"),
    ("lost", "lose"),
    ("did", "do"),
    ("does", "do"),
    ("done", "do"),
    ("was", "be"),
    ("were", "be"),
    ("is", "be"),
    ("are", "be"),
    ("been", "be"),
    ("being", "be"),
    ("am", "be"),
    ("had", "have"),
    ("has", "have"),
    ("shown", "show"),
    ("seen", "see"),
    ("saw", "see"),
    ("read", "read"),
    ("made", "make"),
    ("gave", "give"),
    ("given", "give"),
    ("began", "begin"),
    ("begun", "begin"),
    ("knew", "know"),
    ("known", "know"),
    ("thought", "think"),
    ("bought", "buy"),
    ("shut", "shut"),
    ("put", "put"),
    ("split", "split"),
    ("set", "set"),
    ("hit", "hit"),
    ("children", "child"),
    ("data", "data"),
    ("bus", "bus"),
    ("its", "it"),
    ("this", "this"),
    ("his", "his"),
    ("alive", "alive"),
    ("was", "be"),
];

/// Contractions written without their apostrophe ("didnt"), with what they stand for.
const BARE_CONTRACTIONS: &[(&str, &str)] = &[
    ("didnt", "did not"),
    ("dont", "do not"),
    ("doesnt", "does not"),
    ("wasnt", "was not"),
    ("werent", "were not"),
    ("isnt", "is not"),
    ("arent", "are not"),
    ("cant", "can not"),
    ("wont", "will not"),
    ("couldnt", "could not"),
    ("wouldnt", "would not"),
    ("shouldnt", "should not"),
    ("hasnt", "has not"),
    ("havent", "have not"),
    ("hadnt", "had not"),
    ("aint", "is not"),
    ("its", "it is"),
];

/// A question that opens with a negated auxiliary ("Didn't we stop kafka-2?") asserts what it
/// asks: drop that negation, so the judge reads "did we stop kafka-2".
fn drop_rhetorical_negation(text: &str) -> String {
    const OPENERS: &[(&str, &str)] = &[
        ("didn't", "did"),
        ("didnt", "did"),
        ("don't", "do"),
        ("dont", "do"),
        ("doesn't", "does"),
        ("doesnt", "does"),
        ("wasn't", "was"),
        ("wasnt", "was"),
        ("weren't", "were"),
        ("werent", "were"),
        ("isn't", "is"),
        ("isnt", "is"),
        ("aren't", "are"),
        ("arent", "are"),
        ("haven't", "have"),
        ("havent", "have"),
        ("hasn't", "has"),
        ("hasnt", "has"),
    ];
    let mut out = String::with_capacity(text.len());
    for sentence in text.split_inclusive(['.', '!', '?']) {
        let trimmed = sentence.trim_start();
        let lead = &sentence[..sentence.len() - trimmed.len()];
        let first = trimmed
            .split(|c: char| c.is_whitespace() || c == ',')
            .next()
            .unwrap_or("");
        let opener = OPENERS.iter().find(|(neg, _)| *neg == first);
        match opener {
            Some((neg, pos)) if sentence.trim_end().ends_with('?') => {
                out.push_str(lead);
                out.push_str(pos);
                out.push_str(&trimmed[neg.len()..]);
            }
            _ => out.push_str(sentence),
        }
    }
    out
}

/// Opens contractions and joins spellings of Ctrl-C, before splitting into words.
fn prepare(text: &str) -> String {
    let lower = text.to_lowercase().replace(['’', '‘'], "'");
    let mut t = drop_rhetorical_negation(&lower);
    for (from, to) in [
        ("ctrl-c", " ctrlc "),
        ("ctrl+c", " ctrlc "),
        ("ctrl c", " ctrlc "),
        ("control-c", " ctrlc "),
        ("control+c", " ctrlc "),
        ("control c", " ctrlc "),
        ("^c", " ctrlc "),
        ("won't", "will not"),
        ("can't", "can not"),
        ("cannot", "can not"),
        ("shan't", "shall not"),
        ("ain't", "is not"),
        ("n't", " not"),
        ("'re", " are"),
        ("'ve", " have"),
        ("'ll", " will"),
        ("'d", " would"),
        ("'m", " am"),
        ("it's", "it is"),
        ("that's", "that is"),
        ("there's", "there is"),
        ("he's", "he is"),
        ("she's", "she is"),
        ("what's", "what is"),
        ("who's", "who is"),
        ("'s", ""),
    ] {
        t = t.replace(from, to);
    }
    // Apostrophe-less contractions, whole words only ("its" stays a possessive: it is
    // listed above only so that "didnt" and friends share one table).
    t.split_inclusive(|c: char| !c.is_alphanumeric())
        .map(|piece| {
            let word = piece.trim_end_matches(|c: char| !c.is_alphanumeric());
            match BARE_CONTRACTIONS
                .iter()
                .find(|(w, _)| *w == word && *w != "its")
            {
                Some((_, open)) => format!("{open}{}", &piece[word.len()..]),
                None => piece.to_string(),
            }
        })
        .collect()
}

/// The stem of one lowercase word: irregular forms first, then plural and tense endings,
/// doubled final consonants and a final `e`.
pub(crate) fn stem(word: &str) -> String {
    if let Some((_, base)) = IRREGULAR.iter().find(|(w, _)| *w == word) {
        return stem_regular(base);
    }
    stem_regular(word)
}

fn stem_regular(word: &str) -> String {
    let mut w = word.to_string();
    let len = |w: &str| w.chars().count();
    if !w.chars().all(|c| c.is_ascii_alphabetic()) || len(&w) <= 3 {
        return w;
    }
    if w.ends_with("ies") && len(&w) > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
        && len(&w) > 3
    {
        w.truncate(w.len() - 1);
    }
    // In "succeed", "proceed" and "need" the "ed" is the word's own.
    let own_ed = w.ends_with("eed") && len(&w) <= 7;
    if w.ends_with("ing") && len(&w) > 5 {
        w.truncate(w.len() - 3);
    } else if (w.ends_with("ed") && len(&w) > 4 && !own_ed) || (w.ends_with("ly") && len(&w) > 5) {
        w.truncate(w.len() - 2);
    }
    let bytes = w.as_bytes();
    let n = bytes.len();
    if n >= 3 && bytes[n - 1] == bytes[n - 2] && !b"lsz".contains(&bytes[n - 1]) {
        w.truncate(n - 1);
    }
    if w.ends_with('e') && len(&w) > 3 {
        w.truncate(w.len() - 1);
    }
    if w.ends_with('i') && len(&w) > 3 {
        // "copied" → "copi" and "copy" → "copi" meet here.
        w.truncate(w.len() - 1);
        w.push('y');
    }
    w
}

/// The stems of a phrase, as the lexicon and patterns write them.
pub(crate) fn stems(phrase: &str) -> Vec<String> {
    words(&prepare(phrase))
        .into_iter()
        .filter_map(|w| match w {
            Token::Word(w) => Some(stem(&w)),
            Token::Break(_) => None,
        })
        .collect()
}

enum Token {
    Word(String),
    /// The end of a clause; `true` when it also ends a sentence.
    Break(bool),
}

/// Splits prepared text into words and clause breaks.
fn words(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<Token>| {
        if !current.is_empty() {
            out.push(Token::Word(std::mem::take(current)));
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            current.push(c);
        } else if matches!(c, '.' | ';' | '!' | '?' | '\n') {
            flush(&mut current, &mut out);
            out.push(Token::Break(true));
        } else if matches!(c, ',' | ':' | '(' | ')' | '[' | ']') {
            flush(&mut current, &mut out);
            out.push(Token::Break(false));
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    // Dots and brackets inside names were marked as breaks; a break between two words with
    // no space around it in the original is undone by the caller's second pass.
    out
}

/// The clauses of an answer.
pub(crate) fn clauses(answer: &str) -> Vec<Clause> {
    let prepared = prepare(answer);
    // Dots, colons and parentheses glued to words (`group.id`, `localhost:9092`,
    // `describe("t")`) join words rather than end clauses: replace them by spaces first.
    let mut glued = String::with_capacity(prepared.len());
    let chars: Vec<char> = prepared.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        let inside = before.is_some_and(|b| b.is_alphanumeric())
            && after.is_some_and(|a| a.is_alphanumeric() || a == '"' || a == '\'' || a == ')');
        if matches!(c, '.' | '(' | ')' | ':') && inside {
            glued.push(' ');
        } else {
            glued.push(*c);
        }
    }
    let mut out: Vec<Clause> = Vec::new();
    let mut clause: Clause = Vec::new();
    let mut negations = 0usize;
    let mut sentence = 0usize;
    let end = |clause: &mut Clause, negations: &mut usize, out: &mut Vec<Clause>| {
        if !clause.is_empty() {
            out.push(std::mem::take(clause));
        }
        *negations = 0;
    };
    let tokens = words(&glued);
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Break(ends_sentence) => {
                end(&mut clause, &mut negations, &mut out);
                if *ends_sentence {
                    sentence += 1;
                }
            }
            Token::Word(w) => {
                let number = |t: Option<&Token>| matches!(t, Some(Token::Word(n)) if n.chars().all(|c| c.is_ascii_digit()));
                // "consumers 1 and 2" is one subject, not two clauses.
                let joins_numbers = w == "and"
                    && number(i.checked_sub(1).map(|j| &tokens[j]))
                    && number(tokens.get(i + 1));
                if joins_numbers {
                    clause.push(Word {
                        stem: w.clone(),
                        negated: negations % 2 == 1,
                        sentence,
                    });
                } else if CONJUNCTIONS.contains(&w.as_str()) {
                    end(&mut clause, &mut negations, &mut out);
                } else if NEGATORS.contains(&w.as_str()) {
                    // "not only" and "no matter" do not negate.
                    let next = match tokens.get(i + 1) {
                        Some(Token::Word(n)) => n.as_str(),
                        _ => "",
                    };
                    if !(w == "not" && next == "only" || w == "no" && next == "matter") {
                        negations += 1;
                    }
                } else {
                    clause.push(Word {
                        stem: stem(w),
                        negated: negations % 2 == 1,
                        sentence,
                    });
                }
            }
        }
        i += 1;
    }
    end(&mut clause, &mut negations, &mut out);
    out
}

/// Damerau–Levenshtein distance (adjacent transpositions count as one edit).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// True if an answer's stem says the expected stem: equal, or a small typo of a long enough
/// word (one edit from five letters, two from nine). Short words must be spelled right:
/// "stop" and "step" are different words.
pub(crate) fn same_word(said: &str, expected: &str) -> bool {
    if said == expected {
        return true;
    }
    let shorter = said.chars().count().min(expected.chars().count());
    let allowed = match shorter {
        0..=3 => 0,
        4 => usize::from(expected.chars().count() >= 5),
        5..=10 => 1,
        _ => 2,
    };
    allowed > 0
        && said.chars().next() == expected.chars().next()
        && distance(said, expected) <= allowed
}

#[cfg(test)]
mod tests;
