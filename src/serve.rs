//! `kafka-sandbox serve`: the embedded cluster in the foreground for outside clients (kcat,
//! librdkafka, kafka-python, the Kafka CLI), steered by one-line commands on stdin while
//! cluster events print as they happen.

use std::io::Write;
use std::time::Instant;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::backend::embedded::EmbeddedCluster;
use crate::backend::ClusterError;
use crate::config::ClusterConfig;

/// A control line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Controlled shutdown of a broker.
    Stop(i32),
    /// Crash a broker.
    Kill(i32),
    /// Start a stopped broker.
    Start(i32),
    /// Stop then start a broker.
    Restart(i32),
    /// Freeze a broker.
    Pause(i32),
    /// Thaw a broker.
    Resume(i32),
    /// Cut a broker off from its peers.
    Isolate(i32),
    /// Reconnect a broker (or all, with no id).
    Heal(Option<i32>),
    /// Move leadership back to preferred replicas.
    Elect,
    /// Print the cluster.
    Status,
    /// Print the commands.
    Help,
    /// Shut down.
    Quit,
}

/// The command summary printed by `help`.
pub const HELP: &str = "\
commands:
  status            brokers, and per partition leader / replicas / ISR / LEO/HW
  stop N            controlled shutdown of broker N (leaders move first)
  kill N            crash broker N (the controller notices missed heartbeats)
  start N           start broker N again (it keeps its data)
  restart N         stop then start broker N
  pause N           freeze broker N (like docker pause)
  resume N          thaw broker N
  isolate N         cut broker N off from its peers and the controller
  heal [N]          reconnect broker N (or every isolated broker)
  elect             move leadership back to the preferred replicas now
  help              this list
  quit              stop the cluster and exit (also Ctrl-C or end of input)";

/// Parses one control line. Errors are one sentence saying what to type instead.
pub fn parse_command(line: &str) -> Result<Option<Command>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, args)) = words.split_first() else {
        return Ok(None);
    };
    let id = |args: &[&str]| -> Result<i32, String> {
        match args {
            [n] => n
                .parse::<i32>()
                .map_err(|_| format!("'{n}' is not a broker id; try '{verb} 2'")),
            [] => Err(format!(
                "'{verb}' needs a broker id, for example '{verb} 2'"
            )),
            _ => Err(format!(
                "'{verb}' takes one broker id, for example '{verb} 2'"
            )),
        }
    };
    let none = |cmd: Command| -> Result<Command, String> {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(format!("'{verb}' takes no arguments"))
        }
    };
    let command = match verb.to_ascii_lowercase().as_str() {
        "stop" => Command::Stop(id(args)?),
        "kill" => Command::Kill(id(args)?),
        "start" => Command::Start(id(args)?),
        "restart" => Command::Restart(id(args)?),
        "pause" => Command::Pause(id(args)?),
        "resume" | "unpause" => Command::Resume(id(args)?),
        "isolate" => Command::Isolate(id(args)?),
        "heal" => Command::Heal(if args.is_empty() {
            None
        } else {
            Some(id(args)?)
        }),
        "elect" => none(Command::Elect)?,
        "status" => none(Command::Status)?,
        "help" | "?" => none(Command::Help)?,
        "quit" | "exit" => none(Command::Quit)?,
        other => {
            return Err(format!(
                "unknown command '{other}'; type 'help' for the list"
            ))
        }
    };
    Ok(Some(command))
}

/// Runs one command against the cluster, returning what to print.
pub async fn execute(cluster: &EmbeddedCluster, command: &Command) -> Result<String, ClusterError> {
    Ok(match command {
        Command::Stop(id) => {
            cluster.stop_broker(*id).await?;
            format!("broker {id} stopped (controlled shutdown)")
        }
        Command::Kill(id) => {
            cluster.kill_broker(*id).await?;
            format!("broker {id} killed")
        }
        Command::Start(id) => {
            cluster.start_broker(*id).await?;
            format!("broker {id} starting")
        }
        Command::Restart(id) => {
            cluster.restart_broker(*id).await?;
            format!("broker {id} restarted")
        }
        Command::Pause(id) => {
            cluster.pause_broker(*id)?;
            format!("broker {id} paused")
        }
        Command::Resume(id) => {
            cluster.resume_broker(*id)?;
            format!("broker {id} resumed")
        }
        Command::Isolate(id) => {
            cluster.isolate_broker(*id)?;
            format!("broker {id} isolated from its peers")
        }
        Command::Heal(Some(id)) => {
            cluster.heal_broker(*id)?;
            format!("broker {id} reconnected")
        }
        Command::Heal(None) => {
            cluster.heal_all();
            "all brokers reconnected".into()
        }
        Command::Elect => {
            let moved = cluster.elect_preferred_leaders();
            if moved.is_empty() {
                "every partition is already led by its preferred replica (or it is not in sync)"
                    .into()
            } else {
                let list: Vec<String> = moved.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                format!("preferred leaders restored for {}", list.join(", "))
            }
        }
        Command::Status => cluster.snapshot().to_string(),
        Command::Help => HELP.to_string(),
        Command::Quit => String::new(),
    })
}

/// Starts the cluster, prints the bootstrap servers, and serves control lines from `input`
/// until `quit`, end of input or Ctrl-C. The cluster is always shut down before returning.
pub async fn run<R: AsyncBufRead + Unpin>(
    config: ClusterConfig,
    input: R,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    let cluster = EmbeddedCluster::start(config).await?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "kafka-sandbox: {} brokers ready in {} ms\nbootstrap servers: {}\ntype 'help' for commands, 'quit' to stop",
        cluster.broker_ids().len(),
        started.elapsed().as_millis(),
        cluster.bootstrap()
    );
    let _ = out.flush();
    let mut events = cluster.watch_events();
    let mut lines = input.lines();
    loop {
        tokio::select! {
            event = events.recv() => {
                if let Some(event) = event {
                    println!("[cluster] {event}");
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            line = lines.next_line() => {
                let line = match line {
                    Ok(Some(line)) => line,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("error: cannot read commands: {e}");
                        break;
                    }
                };
                match parse_command(&line) {
                    Ok(None) => {}
                    Ok(Some(Command::Quit)) => break,
                    Ok(Some(command)) => match execute(&cluster, &command).await {
                        Ok(text) => println!("{text}"),
                        Err(e) => println!("error: {e}"),
                    },
                    Err(e) => println!("error: {e}"),
                }
                let _ = std::io::stdout().flush();
            }
        }
    }
    cluster.shutdown().await;
    println!("cluster stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_control_lines_and_explains_mistakes() {
        assert_eq!(parse_command("kill 2"), Ok(Some(Command::Kill(2))));
        assert_eq!(parse_command("  STATUS "), Ok(Some(Command::Status)));
        assert_eq!(parse_command("heal"), Ok(Some(Command::Heal(None))));
        assert_eq!(parse_command(""), Ok(None));
        assert!(parse_command("kill")
            .unwrap_err()
            .contains("needs a broker id"));
        assert!(parse_command("kill two")
            .unwrap_err()
            .contains("not a broker id"));
        assert!(parse_command("reboot 1")
            .unwrap_err()
            .contains("type 'help'"));
        assert!(parse_command("status now")
            .unwrap_err()
            .contains("no arguments"));
    }
}
