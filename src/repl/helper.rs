//! Line-editor support: completion of functions, methods, topic and group names; hints from
//! history; and multi-line input while braces, brackets or parentheses are open.

use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::script::registry;

/// Names the completer offers besides the API: topics and groups, refreshed after each command.
#[derive(Debug, Default)]
pub struct Known {
    /// Topic names.
    pub topics: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
}

/// The REPL's rustyline helper.
pub struct ReplHelper {
    /// Topic and group names to complete inside quotes.
    pub known: Arc<Mutex<Known>>,
    hinter: HistoryHinter,
}

impl ReplHelper {
    /// A helper completing from `known`.
    pub fn new(known: Arc<Mutex<Known>>) -> Self {
        Self {
            known,
            hinter: HistoryHinter::new(),
        }
    }
}

/// Completion candidates for the word ending at `pos`: (start of the word, candidates).
pub fn complete(line: &str, pos: usize, known: &Known) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let in_string = before.matches('"').count() % 2 == 1;
    if in_string {
        let start = before.rfind('"').map_or(0, |i| i + 1);
        let prefix = &before[start..];
        let mut names: Vec<String> = known
            .topics
            .iter()
            .chain(&known.groups)
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        return (start, names);
    }
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let word = &before[start..];
    let (method_start, prefix, methods_only) = match word.rfind('.') {
        Some(dot) => (start + dot + 1, &word[dot + 1..], true),
        None => (start, word, false),
    };
    let is_cluster = word.starts_with("cluster.");
    let mut out: Vec<String> = registry::completions()
        .into_iter()
        .filter_map(|name| {
            let candidate = if methods_only {
                match name.strip_prefix("cluster.") {
                    Some(m) if is_cluster => m.to_string(),
                    Some(_) => return None,
                    None if !is_cluster => name,
                    None => return None,
                }
            } else {
                name
            };
            candidate.starts_with(prefix).then_some(candidate)
        })
        .collect();
    out.sort();
    out.dedup();
    (method_start, out)
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let known = self.known.lock().expect("known names");
        let (start, names) = complete(line, pos, &known);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for ReplHelper {}

/// True while the input has unclosed `{`, `(` or `[` outside string literals.
pub fn is_incomplete(input: &str) -> bool {
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    for c in input.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if is_incomplete(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_functions_methods_and_names() {
        let known = Known {
            topics: vec!["failsafe-test-topic".into()],
            groups: vec!["test-group".into()],
        };
        let (start, c) = complete("desc", 4, &known);
        assert_eq!(
            (start, c),
            (
                0,
                vec!["describe".to_string(), "describe_group".to_string()]
            )
        );
        let (start, c) = complete("cluster.st", 10, &known);
        assert_eq!(
            (start, c),
            (
                8,
                vec![
                    "start".to_string(),
                    "status".to_string(),
                    "stop".to_string()
                ]
            )
        );
        let (_, c) = complete("describe(\"fail", 14, &known);
        assert_eq!(c, vec!["failsafe-test-topic".to_string()]);
        let (_, c) = complete("c.clo", 5, &known);
        assert_eq!(c, vec!["close".to_string()]);
    }

    #[test]
    fn open_braces_continue_the_input() {
        assert!(is_incomplete("fn f() {"));
        assert!(is_incomplete("let a = [1,"));
        assert!(!is_incomplete("print(\"{\")"));
        assert!(!is_incomplete("let x = 1;"));
    }
}
