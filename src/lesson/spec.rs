//! Review questions as lessons declare them: Rhai maps, read into [`Question`]s.
//!
//! A lesson declares its questions in a function, so that tools (the judge's corpus test)
//! can read them without running a cluster:
//!
//! ```rhai
//! fn questions() {
//!     #{
//!         groups: #{
//!             text: "Why did the three consumers not load share the messages at first?",
//!             ideas: [#{ says: "each consumer had a group of its own",
//!                        any: ["@different @group", "not: @same @group"] }],
//!             wrong: [#{ says: "they were in the same group",
//!                        any: ["@same @group", "not: @different @group"],
//!                        feedback: "consumers of one group split the messages" }],
//!             hint: "Look at the group part of each consumer's label.",
//!         },
//!     }
//! }
//! ```

use std::collections::BTreeMap;

use rhai::{Array, Dynamic, Engine, Map};

use super::judge::{Claim, Rubric};
use super::AuthoringError;

/// A review question: its text, how to judge answers, and a hint for a second try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The question.
    pub text: String,
    /// Ideas and misconceptions.
    pub rubric: Rubric,
    /// Said after a first wrong answer.
    pub hint: String,
}

fn string(map: &Map, key: &'static str, what: &str) -> Result<String, AuthoringError> {
    map.get(key)
        .and_then(|v| v.clone().into_string().ok())
        .ok_or_else(|| AuthoringError::MissingString {
            what: what.to_string(),
            key,
        })
}

fn list(value: &Dynamic, what: &str, of: &'static str) -> Result<Array, AuthoringError> {
    value
        .clone()
        .try_cast::<Array>()
        .ok_or_else(|| AuthoringError::NotAList {
            what: what.to_string(),
            of,
        })
}

fn strings(value: &Dynamic, what: &str) -> Result<Vec<String>, AuthoringError> {
    list(value, what, "strings")?
        .into_iter()
        .map(|v| {
            v.into_string().map_err(|_| AuthoringError::NotAList {
                what: what.to_string(),
                of: "strings",
            })
        })
        .collect()
}

fn claims(map: &Map, key: &str, question: &str) -> Result<Vec<Claim>, AuthoringError> {
    let Some(value) = map.get(key) else {
        return Ok(Vec::new());
    };
    let what = format!("question \"{question}\": {key}");
    list(value, &what, "maps")?
        .into_iter()
        .map(|c| {
            let c = c
                .try_cast::<Map>()
                .ok_or_else(|| AuthoringError::NotAList {
                    what: what.clone(),
                    of: "maps",
                })?;
            let says = string(&c, "says", &what)?;
            let claim = format!("{what} \"{says}\"");
            let any = c.get("any").ok_or_else(|| AuthoringError::NotAList {
                what: format!("{claim}: any"),
                of: "patterns",
            })?;
            let patterns = strings(any, &format!("{claim}: any"))?;
            let feedback = c
                .get("feedback")
                .and_then(|v| v.clone().into_string().ok())
                .unwrap_or_default();
            let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
            Claim::new(&says, &patterns, &feedback)
        })
        .collect()
}

/// Reads a question from its map: `text`, `ideas`, `wrong`, `hint`.
pub fn question(map: &Map) -> Result<Question, AuthoringError> {
    let text = string(map, "text", "a question")?;
    let ideas = claims(map, "ideas", &text)?;
    if ideas.is_empty() {
        return Err(AuthoringError::NoIdeas(text));
    }
    Ok(Question {
        rubric: Rubric {
            ideas,
            misconceptions: claims(map, "wrong", &text)?,
        },
        hint: map
            .get("hint")
            .and_then(|v| v.clone().into_string().ok())
            .unwrap_or_default(),
        text,
    })
}

/// A Rhai engine whose nesting limits leave room for question declarations (a map of maps of
/// lists of patterns, inside a function) while still stopping runaway input.
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(256, 256);
    engine
}

/// The questions a lesson script declares in `fn questions()`, by key, read without running
/// the lesson.
pub fn declared(source: &str) -> Result<BTreeMap<String, Question>, AuthoringError> {
    let engine = engine();
    let ast = engine
        .compile(source)
        .map_err(|e| AuthoringError::Script(e.to_string()))?;
    if !ast.iter_functions().any(|f| f.name == "questions") {
        return Ok(BTreeMap::new());
    }
    let map: Map = engine
        .call_fn_with_options(
            rhai::CallFnOptions::new().eval_ast(false),
            &mut rhai::Scope::new(),
            &ast,
            "questions",
            (),
        )
        .map_err(|e| AuthoringError::Script(e.to_string()))?;
    map.into_iter()
        .map(|(key, value)| {
            let m = value
                .try_cast::<Map>()
                .ok_or_else(|| AuthoringError::NotAList {
                    what: format!("questions().{key}"),
                    of: "maps (one question each)",
                })?;
            Ok((key.to_string(), question(&m)?))
        })
        .collect()
}
