//! Line-editor support: completion of functions, methods, topic and group names; hints from
//! history, dimmed so they cannot be mistaken for typed text; and the test for an unfinished
//! statement, which asks Rhai's own parser.

use std::sync::{Arc, Mutex};

use std::borrow::Cow;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::Validator;
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
pub(crate) struct ReplHelper {
    /// Topic and group names to complete inside quotes.
    pub known: Arc<Mutex<Known>>,
    hinter: HistoryHinter,
    colour: bool,
}

impl ReplHelper {
    /// A helper completing from `known`.
    pub fn new(known: Arc<Mutex<Known>>) -> Self {
        use std::io::IsTerminal;
        Self {
            known,
            hinter: HistoryHinter::new(),
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
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

impl Highlighter for ReplHelper {
    /// A hint is only a suggestion (Tab or → takes it): dim, so it never reads as typed text.
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.colour {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

/// True if `input` is an unfinished statement that more lines could complete: Rhai's parser
/// ran out of input inside an open bracket, an expression or a backtick string. Brackets in
/// strings, character literals (`'{'`) and comments do not count, since the parser, not a
/// bracket counter, decides.
pub(crate) fn is_incomplete(input: &str) -> bool {
    use rhai::{LexError, ParseErrorType};
    let Err(error) = rhai::Engine::new_raw().compile(input) else {
        return false;
    };
    let at_end = at_or_after_end(input, error.position());
    match error.err_type() {
        ParseErrorType::UnexpectedEOF => true,
        ParseErrorType::BadInput(LexError::UnterminatedString) => {
            // A backtick string may span lines; a "..." string only with a trailing `\`.
            let (line, column) = position(error.position());
            let start = nth_char(input, line, column);
            start == Some('`') || input.trim_end_matches(['\n', '\r']).ends_with('\\')
        }
        ParseErrorType::MissingToken(..)
        | ParseErrorType::MissingSymbol(..)
        | ParseErrorType::ExprExpected(..) => at_end,
        _ => false,
    }
}

fn position(p: rhai::Position) -> (usize, usize) {
    (p.line().unwrap_or(0), p.position().unwrap_or(0))
}

/// The character at a 1-based (line, column).
fn nth_char(input: &str, line: usize, column: usize) -> Option<char> {
    input
        .lines()
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

/// True if a parse error's position is past the last thing typed: the parser wanted more.
fn at_or_after_end(input: &str, p: rhai::Position) -> bool {
    if p.is_none() {
        return true;
    }
    let (line, column) = position(p);
    let trimmed = input.trim_end();
    let last_line = trimmed.lines().count().max(1);
    let last_column = trimmed.lines().last().map_or(0, |l| l.chars().count());
    line > last_line || (line == last_line && column > last_column)
}

/// Every line is submitted as typed; the REPL decides whether it needs a continuation line.
impl Validator for ReplHelper {}

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
                vec![
                    "describe".to_string(),
                    "describe_group".to_string(),
                    "describe_transaction".to_string()
                ]
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
    fn the_parser_decides_what_is_unfinished() {
        for unfinished in [
            "fn f() {",
            "let a = [1,",
            "f(1, 2",
            "if x > 1 {",
            "let m = #{a: 1,",
            "let s = `two\nlines",
            "let total = 1 +",
            "for c in g {\n  print(c)",
        ] {
            assert!(is_incomplete(unfinished), "{unfinished:?} should continue");
        }
        for finished in [
            "print(\"{\")",
            "let x = 1;",
            "let c = '{';",
            "let c = '(';",
            "// a comment with {",
            "let s = `a { b`;",
            "let x = ;",
            "foo(]",
            "let s = \"never closed",
            "fn f() {\n 1\n}",
        ] {
            assert!(
                !is_incomplete(finished),
                "{finished:?} should run (or fail) now"
            );
        }
    }
}
