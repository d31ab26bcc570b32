//! The `splitrail` binary: CLI → config → server.
//!
//! `splitrail --config proxy.yaml` runs the proxy until SIGINT/SIGTERM (SIGHUP reloads the file);
//! `splitrail check --config proxy.yaml` validates a configuration and prints every problem;
//! `splitrail status|sessions|digests|drain|enable|reload` ask a running proxy's admin API
//! ([`admin_cli`]).
mod admin_cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use splitrail_server::config::Config;

/// A MySQL wire-protocol proxy that splits reads from writes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file [default: proxy.yaml]. The admin commands take the admin
    /// address from it when given.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Log line format; the level comes from RUST_LOG (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Validate the configuration file and print each problem with its line and column.
    Check,
    /// Show where the router sends a statement (for a fresh session) and why.
    Explain {
        /// The statement.
        sql: String,
    },
    #[command(flatten)]
    Admin(admin_cli::AdminCmd),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Admin(cmd)) = &cli.command {
        return admin_cli::main(cmd, cli.config.as_deref());
    }
    init_logging(cli.log_format);
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("proxy.yaml"));
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Cmd::Check) => match splitrail_server::tls::Tls::load(&config.tls) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(mut errors) => {
                errors.origin = path.display().to_string();
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Some(Cmd::Explain { sql }) => {
            let c = splitrail_router::classify(&sql);
            let policy = splitrail_server::worker::policy_for(&config);
            let session = splitrail_router::SessionState::new(
                config.users.first().map(|u| u.user.as_str()).unwrap_or(""),
            );
            let d = splitrail_router::route(&c, &session, &policy);
            println!("target: {}", d.target.as_str());
            println!("reason: {}", d.reason.as_str());
            println!("kind:   {:?}", c.kind());
            println!("digest: {:016x} {}", c.digest().hash, c.digest().text);
            ExitCode::SUCCESS
        }
        // Answered above, before the configuration is loaded.
        Some(Cmd::Admin(_)) => ExitCode::FAILURE,
        None => match run(config, &path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("splitrail: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(config: Config, path: &Path) -> anyhow::Result<()> {
    let servers: Vec<String> = config
        .servers
        .iter()
        .map(|s| format!("{} ({:?})", s.address, s.role).to_lowercase())
        .collect();
    // The handlers are installed before the proxy listens: a signal sent as soon as it accepts
    // clients (or says it started) is handled, where the default action of SIGHUP would end it.
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut term, mut int, mut hup) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _runtime = signals.enter();
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
            signal(SignalKind::hangup())?,
        )
    };
    let proxy = splitrail_server::start_from_file(config, path)?;
    tracing::info!(
        listen = %proxy.local_addr(),
        admin = %proxy.admin_addr(),
        servers = %servers.join(", "),
        "splitrail {} started",
        env!("CARGO_PKG_VERSION")
    );
    let stop = proxy.shutdown_signal();
    signals.block_on(async {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                // The outcome is logged (and counted) by the reload itself.
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading {}", path.display());
                    let _ = proxy.reload();
                }
            }
        }
        tracing::info!("shutting down");
    });
    let _ = stop.send(true);
    proxy.wait();
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
