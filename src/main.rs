//! The `wardgate` command: parse arguments, load configuration and rules, run.
#![forbid(unsafe_code)]

mod admin_client;
mod breakglass_cli;
mod commands;
mod defaults;
mod demo;
mod inventory_cmd;
mod replay_cmd;
mod site_reload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc rather than the system allocator: see the dependency's comment in Cargo.toml.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// wardgate: a medical-protocol-aware inspection proxy for HL7 v2 / IHE PCD-03 infusion orders.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: commands::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the proxy (with no --config: the embedded default, a PCD-03 route on loopback).
    Run {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate configuration and rule files; every problem is reported with file, line, column.
    Check {
        /// Configuration files (with [[route]]) and rule files (compiled together as one rule set).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the tests declared in rule files ([[test]]); each folder of .toml files is one rule set.
    Test {
        /// Folder to search for rule sets.
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Start the proxy on the embedded default with a simulated EHR and pump gateway on loopback,
    /// send safe, unsafe and malformed orders over TLS, and print every verdict.
    Demo,
    /// Replay message files or a pcap/pcapng capture through the same framers, parsers and
    /// rules as live traffic: one JSON verdict line per message on stdout, a summary on stderr.
    Replay(replay_cmd::ReplayArgs),
    /// Run a simulated infusion pump (wardgate pump protocol) that answers like a pump would.
    SimPump {
        /// Address to listen on.
        #[arg(long, default_value = defaults::DEFAULT_PUMP_UPSTREAM)]
        listen: std::net::SocketAddr,
        /// The pump's serial number.
        #[arg(long, default_value = "PUMP-0042")]
        serial: String,
    },
    /// Work with audit logs.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Break-glass: put a route, or one rule of it, into audit mode for a bounded time with a
    /// stated reason; list the grants in force; end one early. Talks to the running instance's
    /// admin endpoint with its token.
    BreakGlass(breakglass_cli::Args),
    /// Ask the running instance's admin endpoint for /healthz or /readyz (with its token, if it
    /// has one); exit 0 on 200. For container and Kubernetes exec probes.
    Probe {
        /// The running instance's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// `/healthz` or `/readyz`.
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
    /// Print the learned device inventory of a running instance (from its admin address), or
    /// with --offline the state file it saved.
    Inventory {
        /// The instance's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Read `[inventory] state_file` instead of asking the running instance.
        #[arg(long)]
        offline: bool,
    },
    /// Run a simulated pump gateway that acknowledges every message (for trying `wardgate run`).
    SimGateway {
        /// Address to listen on.
        #[arg(long, default_value = defaults::DEFAULT_UPSTREAM)]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand, Debug)]
enum AuditAction {
    /// Check the hash chain of audit files (oldest first); reports the first line where it breaks.
    Verify {
        /// Audit files in the order they were written (rotated files first, the live file last).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Check { files } => commands::check(&files),
        Command::Test { dir } => commands::test(&dir),
        Command::Replay(args) => replay_cmd::run(&args),
        Command::Audit {
            action: AuditAction::Verify { files },
        } => commands::audit_verify(&files),
        Command::Inventory { config, offline } => inventory_cmd::inventory(&config, offline),
        Command::Run { config } => {
            commands::runtime().and_then(|rt| rt.block_on(commands::run(config)))
        }
        Command::BreakGlass(args) => breakglass_cli::run(&args),
        Command::Probe { config, path } => admin_client::probe(&config, &path),
        Command::Demo => commands::runtime().and_then(|rt| rt.block_on(demo::run())),
        Command::SimPump { listen, serial } => {
            commands::runtime().and_then(|rt| rt.block_on(commands::sim_pump(listen, &serial)))
        }
        Command::SimGateway { listen } => {
            commands::runtime().and_then(|rt| rt.block_on(commands::sim_gateway(listen)))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
