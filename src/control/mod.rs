//! The cluster commands, defined once: `serve` parses them from its stdin lines, the script
//! bindings (`cluster.stop(2)`, `create_topic(…)`) build them from their arguments, and both
//! run them the same way against any backend, with the same words for the outcome. The help
//! `serve` prints, in `--help` and for `help`, is generated from this one definition.

use clap::{CommandFactory, Parser, Subcommand};

use crate::backend::{ClusterControl, ClusterError};
use crate::client::admin::Admin;
use crate::client::ClientError;

mod topics;
pub use topics::{create_topic, Shortfall};

/// One control command.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
#[command(rename_all = "lower")]
pub enum Control {
    /// Brokers, and per partition the leader, replicas, ISR and each replica's log end / high watermark
    Status,
    /// Controlled shutdown of broker N: its leaderships move away first
    Stop {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Crash broker N: the controller notices when its heartbeats stop
    Kill {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Start broker N again, with the data it had
    Start {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Controlled stop, then start, of broker N
    Restart {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Freeze broker N, like docker pause: it answers nothing and sends nothing
    Pause {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Thaw paused broker N
    #[command(alias = "unpause")]
    Resume {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Cut broker N off from its peers and the controller (a network partition)
    Isolate {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Reconnect broker N, or every isolated broker
    Heal {
        /// Broker id (omit for all).
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: Option<i64>,
    },
    /// Move leadership back to the preferred replicas now
    Elect,
    /// Freeze the controller: brokers serve on, but no election or ISR change happens
    #[command(name = "pause-controller")]
    PauseController,
    /// Thaw the controller; it gives every broker a fresh session
    #[command(name = "resume-controller")]
    ResumeController,
    /// Create a topic, like kafka-topics --create --partitions P --replication-factor RF
    Create {
        /// Topic name.
        topic: String,
        /// Number of partitions.
        #[arg(value_name = "PARTITIONS", allow_negative_numbers = true)]
        partitions: i64,
        /// Replication factor.
        #[arg(value_name = "RF", allow_negative_numbers = true)]
        replication: i64,
    },
    /// Broker N's recent log lines (processes and docker backends)
    Logs {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// This list
    #[command(alias = "?")]
    Help,
    /// Stop the cluster and exit (also Ctrl-C, or the end of input)
    #[command(alias = "exit")]
    Quit,
}

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

/// Why a command failed, in the words of the layer that refused it.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The cluster refused (no such broker, not running, …).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A Kafka request failed or was refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A partition count or replication factor below 1.
    #[error("cannot create topic '{topic}' with {partitions} partitions and replication factor {replication}: both must be at least 1")]
    TopicCounts {
        /// The topic.
        topic: String,
        /// Partitions asked for.
        partitions: i64,
        /// Replication factor asked for.
        replication: i64,
    },
    /// More partitions than the sandbox creates.
    #[error("cannot create topic '{topic}': {partitions} partitions is more than the sandbox allows (at most {})", topics::MAX_PARTITIONS)]
    TooManyPartitions {
        /// The topic.
        topic: String,
        /// Partitions asked for.
        partitions: i64,
    },
    /// Too few brokers, or too few live ones, for the replicas.
    #[error("cannot create topic '{topic}': {shortfall}")]
    Shortfall {
        /// The topic.
        topic: String,
        /// What is missing.
        shortfall: Shortfall,
    },
    /// The brokers refused the replication factor, though the snapshot shows enough of them.
    #[error("cannot create topic '{topic}': not enough live brokers for replication factor {replication}")]
    NotEnoughLive {
        /// The topic.
        topic: String,
        /// Replication factor asked for.
        replication: i64,
    },
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

/// "1 partition", "8 partitions".
pub fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The broker id, if the cluster has such a broker; otherwise the error names the number as
/// typed (which may not even fit a broker id).
fn broker(cluster: &dyn ClusterControl, id: i64) -> Result<i32, ClusterError> {
    let known = cluster.brokers();
    match i32::try_from(id) {
        Ok(b) if known.contains(&b) => Ok(b),
        _ => Err(ClusterError::UnknownBroker { id, known }),
    }
}

impl Control {
    /// Runs the command and returns what to print.
    pub(crate) async fn execute(
        &self,
        cluster: &dyn ClusterControl,
        admin: &Admin,
    ) -> Result<String, ControlError> {
        Ok(match self {
            Control::Status => cluster.snapshot().to_string(),
            Control::Stop { id } => {
                let id = broker(cluster, *id)?;
                cluster.stop(id).await?;
                format!("broker {id} stopped (controlled shutdown)")
            }
            Control::Kill { id } => {
                let id = broker(cluster, *id)?;
                cluster.kill(id).await?;
                format!("broker {id} killed")
            }
            Control::Start { id } => {
                let id = broker(cluster, *id)?;
                cluster.start(id).await?;
                format!("broker {id} started")
            }
            Control::Restart { id } => {
                let id = broker(cluster, *id)?;
                cluster.restart(id).await?;
                format!("broker {id} restarted")
            }
            Control::Pause { id } => {
                let id = broker(cluster, *id)?;
                cluster.pause(id).await?;
                format!("broker {id} paused")
            }
            Control::Resume { id } => {
                let id = broker(cluster, *id)?;
                cluster.resume(id).await?;
                format!("broker {id} resumed")
            }
            Control::Isolate { id } => {
                let id = broker(cluster, *id)?;
                cluster.isolate(id).await?;
                format!("broker {id} isolated from its peers")
            }
            Control::Heal { id: Some(id) } => {
                let id = broker(cluster, *id)?;
                cluster.heal(Some(id)).await?;
                format!("broker {id} reconnected")
            }
            Control::Heal { id: None } => {
                cluster.heal(None).await?;
                "every isolated broker reconnected".into()
            }
            Control::Elect => {
                let moved = admin.elect_preferred_leaders().await?;
                if moved.is_empty() {
                    "every partition is already led by its preferred replica (or that replica is not in sync)".into()
                } else {
                    let list: Vec<String> = moved.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                    format!("preferred leaders restored for {}", list.join(", "))
                }
            }
            Control::PauseController => {
                cluster.set_controller_paused(true).await?;
                "controller paused: brokers keep serving, but nothing can change the metadata"
                    .into()
            }
            Control::ResumeController => {
                cluster.set_controller_paused(false).await?;
                "controller resumed".into()
            }
            Control::Create {
                topic,
                partitions,
                replication,
            } => create_topic(cluster, admin, topic, *partitions, *replication, &[]).await?,
            Control::Logs { id } => {
                let id = broker(cluster, *id)?;
                cluster.logs(id).await?
            }
            Control::Help => help(),
            Control::Quit => String::new(),
        })
    }
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
