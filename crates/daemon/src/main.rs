//! `ironpost-daemon`: parses arguments and runs the daemon (see `app.rs` for the lifecycle).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ironpost_config::ConfigSource;
use ironpost_core::config::{LogFormat, LogLevel};
use ironpost_daemon::{RunOptions, run};
use ironpost_proto::exit::{self, Exit, WithExit};

/// Ironpost host-protection daemon.
#[derive(Debug, Parser)]
#[command(name = "ironpost-daemon", version)]
struct Args {
    /// Config file [default: $IRONPOST_CONFIG, else /etc/ironpost/ironpost.toml].
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run on the built-in defaults (plus IRONPOST_* overrides) instead of a config file.
    #[arg(long, conflicts_with = "config")]
    defaults: bool,
    /// Validate the config and exit.
    #[arg(long)]
    check: bool,
    /// Log format (overrides general.log_format).
    #[arg(long, value_parser = parse_format)]
    log_format: Option<LogFormat>,
    /// Log level (overrides general.log_level).
    #[arg(long, value_parser = parse_level)]
    log_level: Option<LogLevel>,
    /// PID file (overrides general.pid_file).
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<LogFormat, String> {
    toml::Value::String(s.to_owned())
        .try_into()
        .map_err(|_| format!("`{s}`: expected json or pretty"))
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    toml::Value::String(s.to_owned())
        .try_into()
        .map_err(|_| format!("`{s}`: expected trace, debug, info, warn or error"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let source = ConfigSource::resolve(args.defaults, args.config.as_deref());
    if args.check {
        return exit::report(
            source.load().map(|_| Exit::Ok).exit_with(Exit::Config),
            "ironpost-daemon",
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ironpost")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ironpost-daemon: error: cannot start the async runtime: {e}");
            return Exit::Failure.into();
        }
    };
    let opts = RunOptions {
        source,
        log_format: args.log_format,
        log_level: args.log_level,
        pid_file: args.pid_file,
    };
    exit::report(runtime.block_on(run(opts)), "ironpost-daemon")
}
