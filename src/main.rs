//! The `kafka-sandbox` command line: parses arguments and hands off to the library.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kafka_sandbox::config::ClusterConfig;

mod settings;
use settings::ServeArgs;

/// Learn how Kafka behaves under failure, on a cluster you can break on purpose.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-sandbox",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "With no command, kafka-sandbox starts the cluster (with the options above) and opens the REPL; type help() there."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand: the REPL on an embedded cluster.
    #[command(flatten)]
    cluster: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a cluster in the foreground for outside clients (kcat, librdkafka, kafka-python),
    /// controlled by the commands below, one per line on stdin.
    Serve(ServeCmd),
    /// Run a Rhai script against a fresh embedded cluster, then clean up. Exits non-zero on
    /// any error, naming FILE:LINE:COLUMN.
    Run(RunArgs),
    /// List the bundled lessons, or run one on a fresh embedded cluster.
    Lesson(LessonArgs),
    /// Run one node of the sandbox cluster in the foreground, as the processes and docker
    /// backends do: SIGTERM is a controlled shutdown, SIGUSR1/SIGUSR2 isolate and heal.
    Node(NodeArgs),
    /// The sandbox's own node image: `image build` builds it locally (no registry needed).
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Docker housekeeping: `docker clean` removes containers and networks a sandbox left.
    Docker {
        #[command(subcommand)]
        action: DockerAction,
    },
    /// (internal) One consumer process, started by the REPL and scripts.
    #[command(hide = true)]
    Consume {
        /// The consumer's settings as JSON.
        #[arg(long)]
        spec: String,
    },
}

#[derive(Subcommand, Debug)]
enum ImageAction {
    /// Build the `FROM scratch` node image from this binary and the libraries it links.
    Build,
}

#[derive(Subcommand, Debug)]
enum DockerAction {
    /// Remove the containers and networks of sandbox runs whose kafka-sandbox has exited
    /// (leftovers of a crash). Runs still in use, and anything the sandbox did not create,
    /// are left alone.
    Clean {
        /// Remove every sandbox run, including ones still in use.
        #[arg(long, conflicts_with = "run")]
        all: bool,
        /// Remove this run (its id is printed at start, `docker: run ID`), in use or not.
        #[arg(long, value_name = "ID")]
        run: Vec<String>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum NodeRole {
    Controller,
    Broker,
}

#[derive(Args, Debug)]
struct NodeArgs {
    /// Which node to run.
    role: NodeRole,
    /// Broker id (brokers only).
    #[arg(long, required_if_eq("role", "broker"))]
    id: Option<i32>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:9092")]
    listen: std::net::SocketAddr,
    /// Host a broker advertises to clients and peers [default: the listen address].
    #[arg(long)]
    advertise: Option<String>,
    /// The controller's HOST:PORT (brokers only).
    #[arg(long, required_if_eq("role", "broker"))]
    controller: Option<String>,
    /// Cluster settings (timings, topic defaults) as JSON, as the backends pass them
    /// [default: the sandbox defaults].
    #[arg(long)]
    config: Option<String>,
    /// Directory a broker keeps its partition logs in, so a restarted broker comes back with
    /// them [default: in memory, lost when the process ends].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
}

impl NodeArgs {
    fn settings(self) -> anyhow::Result<kafka_sandbox::node_process::NodeSettings> {
        use kafka_sandbox::node_process::{NodeSettings, Role};
        let cluster = match &self.config {
            Some(json) => {
                serde_json::from_str(json).map_err(|e| anyhow::anyhow!("bad --config JSON: {e}"))?
            }
            None => ClusterConfig::default(),
        };
        let role = match (self.role, self.id, self.controller) {
            (NodeRole::Controller, _, _) => Role::Controller,
            (NodeRole::Broker, Some(id), Some(controller)) => Role::Broker { id, controller },
            _ => anyhow::bail!("a broker needs --id and --controller"),
        };
        Ok(NodeSettings {
            role,
            listen: self.listen,
            advertise: self.advertise,
            cluster,
            data_dir: self.data_dir,
        })
    }
}

#[derive(Args, Debug)]
struct ServeCmd {
    /// Keep serving when stdin ends (for a cluster started in the background with no input);
    /// then only Ctrl-C, SIGTERM or SIGHUP stop it.
    #[arg(long)]
    stdin_ignore: bool,
    #[command(flatten)]
    cluster: ServeArgs,
}

#[derive(Args, Debug)]
struct LessonArgs {
    /// The lesson, or a .rhai file of your own (omit to list the bundled ones).
    name: Option<String>,
    /// No pauses; show the model answers (for reading, and for CI).
    #[arg(long, conflicts_with = "answers")]
    auto: bool,
    /// Take the answers from FILE (`-`: standard input), line i for question or prediction
    /// i, one try each; prints `Q<i>: correct|incorrect — <question>` and the summary.
    #[arg(long, value_name = "FILE")]
    answers: Option<String>,
    /// Write the summary (questions, answers, verdicts, model answers) to FILE.md, or the
    /// timeline report (swim lanes, faults, questions and answers) to FILE.html.
    #[arg(long, value_name = "FILE.md|FILE.html")]
    report: Option<std::path::PathBuf>,
    #[command(flatten)]
    cluster: ServeArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The script.
    file: std::path::PathBuf,
    /// Write the timeline report (swim lanes per broker, partition and consumer; the faults;
    /// the delivery ledgers) to FILE.html at the end, even if the script fails.
    #[arg(long, value_name = "FILE.html")]
    report: Option<std::path::PathBuf>,
    #[command(flatten)]
    cluster: ServeArgs,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kafka-sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with `serve --help` listing the control lines from the table the
/// control-line parser uses.
fn parse_cli() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command().mut_subcommand("serve", |serve| {
        serve.after_help(format!(
            "Control lines on stdin:\n{}",
            kafka_sandbox::control::help()
                .lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n")
        ))
    });
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Raises the soft open-file limit to the hard one. Every broker of the embedded cluster
/// shares this process's file table, and a common soft default of 1024 would let one client
/// flood stop every broker from accepting; Kafka's own start scripts are run with a high limit.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::debug!("could not raise the open-file limit");
            }
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = parse_cli();
    raise_open_file_limit();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAFKA_SANDBOX_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,rdkafka=off,librdkafka=off")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Some(Command::Serve(args)) => {
            let config = args.cluster.cluster_config()?;
            let backend = args.cluster.backend()?;
            let options = kafka_sandbox::serve::ServeOptions {
                stdin_ignore: args.stdin_ignore,
            };
            let code = kafka_sandbox::runner::serve(
                &runtime,
                &backend,
                config,
                options,
                args.cluster.web.options(),
            );
            runtime.shutdown_background();
            return Ok(code);
        }
        Some(Command::Run(args)) => {
            let config = args.cluster.cluster_config_with_port(0)?;
            return Ok(kafka_sandbox::runner::run_file(
                &runtime,
                &args.cluster.backend()?,
                config,
                &args.file,
                args.report.as_deref(),
                args.cluster.web.options(),
            ));
        }
        Some(Command::Lesson(args)) => {
            let Some(name) = args.name else {
                print!("{}", kafka_sandbox::lesson::listing());
                return Ok(ExitCode::SUCCESS);
            };
            let config = args.cluster.cluster_config_with_port(0)?;
            let answers = match &args.answers {
                Some(path) => Some(kafka_sandbox::runner::read_answers(path)?),
                None => None,
            };
            let options = kafka_sandbox::runner::LessonOptions {
                auto: args.auto,
                answers,
                report: args.report,
                view: args.cluster.web.options(),
            };
            return Ok(kafka_sandbox::runner::run_lesson(
                &runtime,
                &args.cluster.backend()?,
                config,
                &name,
                options,
            ));
        }
        Some(Command::Consume { spec }) => {
            let spec = serde_json::from_str(&spec)
                .map_err(|e| anyhow::anyhow!("bad consumer spec: {e}"))?;
            kafka_sandbox::client::consumer::run_child(spec)?;
        }
        Some(Command::Node(args)) => {
            runtime.block_on(kafka_sandbox::node_process::run(args.settings()?))?;
        }
        Some(Command::Image {
            action: ImageAction::Build,
        }) => {
            use kafka_sandbox::backend::docker::image::{build, Tagging};
            let exe = std::env::current_exe()?;
            let built = runtime.block_on(async {
                let engine = kafka_sandbox::backend::docker::containers::Engine::connect().await?;
                build(engine.docker(), &exe, Tagging::All, &mut |line| {
                    eprintln!("{line}")
                })
                .await
                .map_err(anyhow::Error::from)
            })?;
            println!(
                "built {} ({}), also tagged {}; use it with --cluster docker --image {}",
                built.tags[0],
                built.id,
                built.tags[1..].join(" and "),
                built.tags[1]
            );
        }
        Some(Command::Docker {
            action: DockerAction::Clean { all, run },
        }) => {
            use kafka_sandbox::backend::docker::clean::Scope;
            let scope = match (all, run.is_empty()) {
                (true, _) => Scope::All,
                (false, false) => Scope::Runs(run),
                (false, true) => Scope::Orphaned,
            };
            let cleaned = runtime.block_on(async {
                let engine = kafka_sandbox::backend::docker::containers::Engine::connect().await?;
                engine.clean(&scope).await
            })?;
            for what in &cleaned.removed {
                println!("removed {what}");
            }
            for (run, why) in &cleaned.kept {
                println!("kept run {run}: {why} (`--run {run}` or `--all` removes it anyway)");
            }
            if cleaned.removed.is_empty() {
                println!("nothing to remove");
            }
        }
        None => {
            let config = cli.cluster.cluster_config()?;
            kafka_sandbox::runner::repl(
                &runtime,
                &cli.cluster.backend()?,
                config,
                cli.cluster.web.options(),
            )?;
        }
    }
    // Everything was shut down explicitly; do not wait for a blocked stdin read.
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafka_sandbox::config::Timings;

    use super::*;

    fn config(args: &[&str]) -> anyhow::Result<ClusterConfig> {
        let mut argv = vec!["kafka-sandbox"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)?.cluster.cluster_config()
    }

    #[test]
    fn kafka_timings_switch_sets_every_timer_to_kafkas_default() {
        assert_eq!(
            config(&["--kafka-timings"]).unwrap().timings,
            Timings::kafka_defaults()
        );
        assert_eq!(config(&[]).unwrap().timings, Timings::sandbox_defaults());
        let custom = config(&["--kafka-timings", "--broker-session-timeout-ms", "4000"]).unwrap();
        assert_eq!(
            custom.timings.broker_session_timeout,
            Duration::from_secs(4)
        );
        assert_eq!(custom.timings.replica_lag_time_max, Duration::from_secs(30));
    }

    #[test]
    fn rejects_settings_that_cannot_work() {
        let err = config(&["--broker-heartbeat-interval-ms", "5000"]).unwrap_err();
        assert!(err
            .to_string()
            .contains("shorter than the broker session timeout"));
        assert!(config(&["--min-insync-replicas", "0"]).is_err());
        assert!(config(&["--brokers", "0"]).is_err());
    }
}
