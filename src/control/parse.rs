//! Reading one control line, as `serve` gets it on stdin: clap parses it (no program name, no
//! `--help` flag), and every mistake becomes a [`ControlParseError`] that says in one sentence
//! what to type instead. The help text is generated from the same definition.

use clap::{CommandFactory, Parser};

use super::Control;

/// A control line: one command, no program name.
#[derive(Parser, Debug)]
#[command(
    name = "",
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
struct ControlLine {
    #[command(subcommand)]
    control: Control,
}

/// Why a control line did not parse: one sentence saying what to type instead, which `serve`
/// prints after "error: ". Where clap's own words are the clearest, its error is kept as the
/// source.
#[derive(Debug, thiserror::Error)]
pub enum ControlParseError {
    /// The first word is no command.
    #[error("unknown command '{verb}'; type 'help' for the list")]
    UnknownCommand {
        /// The word as typed (lower-cased).
        verb: String,
    },
    /// An argument is missing.
    #[error("'{verb}' needs more: {usage}")]
    MissingArgument {
        /// The command.
        verb: String,
        /// Its usage line ("kill N").
        usage: String,
    },
    /// A word where a number belongs.
    #[error("'{word}' is not a number; {usage}")]
    NotANumber {
        /// The word.
        word: String,
        /// The command's usage line.
        usage: String,
    },
    /// Arguments to a command that takes none.
    #[error("'{verb}' takes no arguments")]
    TakesNoArguments {
        /// The command.
        verb: String,
    },
    /// More arguments than the command takes.
    #[error("too many arguments for '{verb}'; {usage}")]
    TooManyArguments {
        /// The command.
        verb: String,
        /// Its usage line.
        usage: String,
    },
    /// A value clap refused for another reason than not being a number.
    #[error("{}; {usage}", first_line(.source))]
    InvalidValue {
        /// Clap's error, whose first line says what is wrong.
        source: clap::Error,
        /// The command's usage line.
        usage: String,
    },
    /// Anything else clap refused.
    #[error("{}; type 'help' for the list", first_line(.source))]
    Unparsed {
        /// Clap's error, whose first line says what is wrong.
        source: clap::Error,
    },
}

/// Every command with its arguments and one line on what it does, for `help` and `--help`.
pub fn help() -> String {
    let command = ControlLine::command();
    let rows: Vec<(String, String)> = command
        .get_subcommands()
        .map(|c| {
            let args: Vec<String> = c
                .get_arguments()
                .map(|a| {
                    let name = a
                        .get_value_names()
                        .and_then(|n| n.first().map(|s| s.to_string()))
                        .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
                    if a.is_required_set() {
                        name
                    } else {
                        format!("[{name}]")
                    }
                })
                .collect();
            let usage = std::iter::once(c.get_name().to_string())
                .chain(args)
                .collect::<Vec<_>>()
                .join(" ");
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (usage, about)
        })
        .collect();
    let width = rows.iter().map(|(u, _)| u.len()).max().unwrap_or(0);
    let mut out = String::from("commands:\n");
    for (usage, about) in rows {
        out.push_str(&format!("  {usage:<width$}  {about}\n"));
    }
    out.trim_end().to_string()
}

/// The usage line of one command ("stop N").
fn usage(verb: &str) -> String {
    let line = help();
    line.lines()
        .skip(1)
        .map(str::trim)
        .find(|l| l.split_whitespace().next() == Some(verb))
        .map(|l| l.split("  ").next().unwrap_or(verb).trim().to_string())
        .unwrap_or_else(|| verb.to_string())
}

/// Parses one control line; `Ok(None)` for a blank line. Errors are one sentence saying what
/// to type instead.
pub fn parse(line: &str) -> Result<Option<Control>, ControlParseError> {
    let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    let Some(first) = words.first_mut() else {
        return Ok(None);
    };
    *first = first.to_ascii_lowercase();
    let verb = first.clone();
    match ControlLine::try_parse_from(&words) {
        Ok(parsed) => Ok(Some(parsed.control)),
        Err(e) => {
            use clap::error::ErrorKind;
            let usage = usage(&verb);
            Err(match e.kind() {
                ErrorKind::InvalidSubcommand => ControlParseError::UnknownCommand { verb },
                ErrorKind::MissingRequiredArgument => {
                    ControlParseError::MissingArgument { verb, usage }
                }
                ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
                    let bad = words.iter().skip(1).find(|w| w.parse::<i64>().is_err());
                    match bad {
                        Some(bad) => ControlParseError::NotANumber {
                            word: bad.clone(),
                            usage,
                        },
                        None => ControlParseError::InvalidValue { source: e, usage },
                    }
                }
                ErrorKind::UnknownArgument | ErrorKind::TooManyValues => {
                    if usage == verb {
                        ControlParseError::TakesNoArguments { verb }
                    } else {
                        ControlParseError::TooManyArguments { verb, usage }
                    }
                }
                _ => ControlParseError::Unparsed { source: e },
            })
        }
    }
}

/// The first line of clap's rendered error, without its "error: " prefix.
fn first_line(e: &clap::Error) -> String {
    e.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_control_lines_and_explains_mistakes() {
        assert_eq!(parse("kill 2").unwrap(), Some(Control::Kill { id: 2 }));
        assert_eq!(parse("  STATUS ").unwrap(), Some(Control::Status));
        assert_eq!(parse("heal").unwrap(), Some(Control::Heal { id: None }));
        assert_eq!(parse("unpause 3").unwrap(), Some(Control::Resume { id: 3 }));
        assert_eq!(
            parse("create failsafe-test-topic 8 3").unwrap(),
            Some(Control::Create {
                topic: "failsafe-test-topic".into(),
                partitions: 8,
                replication: 3
            })
        );
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(
            parse("kill").unwrap_err().to_string(),
            "'kill' needs more: kill N"
        );
        assert_eq!(
            parse("kill two").unwrap_err().to_string(),
            "'two' is not a number; kill N"
        );
        assert_eq!(
            parse("reboot 1").unwrap_err().to_string(),
            "unknown command 'reboot'; type 'help' for the list"
        );
        assert_eq!(
            parse("status now").unwrap_err().to_string(),
            "'status' takes no arguments"
        );
        assert_eq!(
            parse("create t 8").unwrap_err().to_string(),
            "'create' needs more: create TOPIC PARTITIONS RF"
        );
    }

    #[test]
    fn help_lists_every_command_the_parser_knows() {
        let text = help();
        for verb in [
            "status", "stop", "kill", "start", "restart", "pause", "resume", "isolate", "heal",
            "elect", "create", "logs", "help", "quit",
        ] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(verb)),
                "{verb} missing from:\n{text}"
            );
            assert!(
                parse(
                    &usage(verb)
                        .replace(" N", " 1")
                        .replace("[N]", "")
                        .replace("TOPIC PARTITIONS RF", "t 1 1")
                )
                .is_ok(),
                "{verb}'s own usage does not parse"
            );
        }
    }
}
