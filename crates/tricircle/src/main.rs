//! `tricircle`: the gateway, its database tool, the demo, the pod simulator
//! and an admin CLI.
#![forbid(unsafe_code)]

mod admin_cli;
mod config;
mod demo;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// jemalloc, with its background threads purging freed memory a few seconds
/// after a burst: glibc's malloc kept the peak of an overload (hundreds of
/// MB in per-thread arenas) for the life of the process. See bench/REPORT.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "tricircle",
    version,
    about = "One big OpenStack region in front of many pods"
)]
struct Cli {
    /// Configuration file (INI). serve and db: /etc/tricircle/tricircle.conf
    /// when none is given and it exists; demo: read only when given.
    #[arg(long, global = true, env = "TRICIRCLE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the APIs and the job engine.
    Serve {
        /// What this process runs: api, worker (the job engine only) or all.
        #[arg(long, value_enum, default_value = "all")]
        role: serve::Role,
    },
    /// Database tools.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Run Tricircle with a simulated identity service and two simulated
    /// pods on loopback (SQLite in a temporary directory unless --data-dir).
    Demo(demo::DemoArgs),
    /// Run the pod simulator alone: a Keystone and N pods.
    Podsim(demo::PodsimArgs),
    /// Manage pods through the admin API.
    Pod(admin_cli::PodArgs),
    /// Manage tenant→pod bindings through the admin API.
    Binding(admin_cli::BindingArgs),
    /// Inspect routings through the admin API.
    Routing(admin_cli::RoutingArgs),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Bring the schema to the newest version.
    Migrate,
}

/// Logs to stderr, or to `file` when given (without colours).
pub(crate) fn init_logging(format: LogFormat, debug: bool, file: Option<std::fs::File>) {
    use tracing_subscriber::EnvFilter;
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},sqlx=warn,hyper=info,h2=info")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match file {
        Some(file) => {
            let builder = builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file));
            match format {
                LogFormat::Json => builder.json().try_init(),
                LogFormat::Text => builder.try_init(),
            }
        }
        None => {
            let builder = builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr);
            match format {
                LogFormat::Json => builder.json().try_init(),
                LogFormat::Text => builder.try_init(),
            }
        }
    };
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(Config::load(cli.config.as_deref())?)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tricircle: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve { role } => {
            let cfg = load_config(&cli)?;
            init_logging(cfg.log_format, cfg.debug, None);
            serve::serve(cfg, *role).await
        }
        Command::Db {
            command: DbCommand::Migrate,
        } => {
            let cfg = load_config(&cli)?;
            init_logging(cfg.log_format, cfg.debug, None);
            serve::migrate(&cfg).await
        }
        // The demo sets up its logging itself (a file by default).
        Command::Demo(args) => demo::demo(args, cli.config.as_deref()).await,
        Command::Podsim(args) => {
            init_logging(LogFormat::Text, false, None);
            demo::podsim(args).await
        }
        Command::Pod(args) => admin_cli::pod(args).await,
        Command::Binding(args) => admin_cli::binding(args).await,
        Command::Routing(args) => admin_cli::routing(args).await,
    }
}
