//! How script errors and values read to a person: messages without Rhai's internal closure
//! names, the caret under the failing spot, positions, and the REPL's echo of a value.

use rhai::{Dynamic, EvalAltResult};

use super::registry;

/// Rhai names closures `anon$<hash>`; users never wrote that name, so it never reaches them.
pub(crate) fn scrub_internal_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("anon$") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 5..];
        let hash = after
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(after.len());
        rest = &after[hash..];
        // A closure printed as a value reads `Fn(anon$…)`.
        if out.ends_with("Fn(") && rest.starts_with(')') {
            out.truncate(out.len() - 3);
            out.push_str("<closure>");
            rest = &rest[1..];
        } else {
            out.push_str("a closure");
        }
    }
    out.push_str(rest);
    out
}

/// The message of an error, without Rhai's "Runtime error:" wrapping and position.
pub(crate) fn error_message(err: &EvalAltResult) -> String {
    scrub_internal_names(&raw_message(err))
}

fn raw_message(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorTerminated(value, _) => value.to_string(),
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) => {
            let inner = raw_message(inner);
            if name.is_empty() || name.starts_with('|') || name.starts_with("anon$") {
                inner
            } else {
                format!("in {name}: {inner}")
            }
        }
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let name = sig
                .split(' ')
                .next()
                .unwrap_or(sig)
                .split('(')
                .next()
                .unwrap_or(sig);
            match registry::find(name) {
                Some(f) => format!(
                    "{name} was called with the wrong arguments; use {}",
                    f.signature
                ),
                None => {
                    let sig = sig.replace("&str | ImmutableString | String", "string");
                    match registry::closest(name) {
                        Some(f) => format!(
                            "there is no function {sig}; did you mean {}? type help() for the list",
                            call_form(f.signature)
                        ),
                        None => format!("there is no function {sig}; type help() for the list"),
                    }
                }
            }
        }
        EvalAltResult::ErrorVariableNotFound(name, _) => not_defined(name),
        other => {
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// A name used as a value that nothing defines: a function typed without its parentheses
/// (`help`, `describe`) is shown how to call it; a near miss of a function gets its name.
fn not_defined(name: &str) -> String {
    if let Some(f) = registry::find(name) {
        return format!(
            "{name} is a function: call it as {}",
            call_form(f.signature)
        );
    }
    match registry::closest(name) {
        Some(f) => format!(
            "'{name}' is not defined; did you mean {}?",
            call_form(f.signature)
        ),
        None => format!(
            "'{name}' is not defined: give it a value first (let {name} = …), or quote text (\"{name}\")"
        ),
    }
}

/// The first way of calling a documented function, without what it returns:
/// `"describe(topic) -> array"` → `"describe(topic)"`.
fn call_form(signature: &str) -> &str {
    let first = signature.split(" / ").next().unwrap_or(signature);
    first.split(" -> ").next().unwrap_or(first)
}

/// The source line an error points at, with a caret under the column, indented by two
/// spaces; empty when the position is unknown or outside `source`.
pub fn caret(source: &str, position: Option<(usize, usize)>) -> String {
    let Some((line, column)) = position else {
        return String::new();
    };
    let Some(text) = source.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let column = column.max(1);
    // Tabs keep their width under the caret.
    let pad: String = text
        .chars()
        .take(column - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("  {text}\n  {pad}^")
}

/// How a value reads when the REPL echoes it: closures without their internal name.
pub(crate) fn echo(value: &Dynamic) -> String {
    scrub_internal_names(&value.to_string())
}

/// (line, column) of an error, if Rhai knows it.
pub(crate) fn error_position(err: &EvalAltResult) -> Option<(usize, usize)> {
    let mut err = err;
    // The innermost position is the line in the user's script that failed.
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, pos) = err {
        if inner.position().is_none() {
            return pos.line().map(|l| (l, pos.position().unwrap_or(1)));
        }
        err = inner;
    }
    let pos = err.position();
    pos.line().map(|l| (l, pos.position().unwrap_or(1)))
}

/// The message of a parse error, without its position.
pub(crate) fn parse_message(e: &rhai::ParseError) -> String {
    let text = e.to_string();
    text.split(" (line").next().unwrap_or_default().to_string()
}

/// (line, column) of a parse error.
pub(crate) fn parse_position(e: &rhai::ParseError) -> Option<(usize, usize)> {
    e.position()
        .line()
        .map(|l| (l, e.position().position().unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_closure_names_never_reach_the_user() {
        assert_eq!(
            scrub_internal_names("Fn(anon$96ca88522b0e6827)"),
            "<closure>"
        );
        assert_eq!(
            scrub_internal_names("[Fn(anon$1f), 2] in anon$ab: oops"),
            "[<closure>, 2] in a closure: oops"
        );
        assert_eq!(scrub_internal_names("plain"), "plain");
    }

    #[test]
    fn a_function_named_without_parentheses_is_shown_called() {
        let message = |script: &str| {
            let engine = rhai::Engine::new();
            error_message(&engine.run(script).unwrap_err())
        };
        assert_eq!(message("help"), "help is a function: call it as help()");
        assert_eq!(
            message("describe"),
            "describe is a function: call it as describe(topic)"
        );
        assert_eq!(
            message("prodcer"),
            "'prodcer' is not defined; did you mean producer()?"
        );
        assert_eq!(
            message("x + 1"),
            "'x' is not defined: give it a value first (let x = …), or quote text (\"x\")"
        );
    }

    #[test]
    fn a_mistyped_function_gets_the_one_it_probably_meant() {
        let message = |script: &str| {
            let engine = rhai::Engine::new();
            error_message(&engine.run(script).unwrap_err())
        };
        assert_eq!(
            message("let x = 1; x.kil(2)"),
            "there is no function kil (i64, i64); did you mean cluster.kill(id)? type help() for the list"
        );
        assert_eq!(
            message("partitons(\"t\")"),
            "there is no function partitons (string); did you mean partitions(topic)? type help() for the list"
        );
        assert_eq!(
            message("frobnicate(1)"),
            "there is no function frobnicate (i64); type help() for the list"
        );
    }

    #[test]
    fn the_caret_sits_under_the_error() {
        assert_eq!(
            caret("let a = 1;\nlet c = a + nope;", Some((2, 13))),
            "  let c = a + nope;\n              ^"
        );
        assert_eq!(caret("x", None), "");
        assert_eq!(caret("x", Some((5, 1))), "");
    }
}
