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
    /// Remove the pinned XDP program and maps of the configured interface
    /// (`<ebpf.pin_path>/<ebpf.interface>`) and exit: the program stops filtering. Use it with
    /// the daemon stopped (a running daemon keeps its own attachment until it stops).
    #[arg(long, conflicts_with = "check")]
    detach: bool,
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

/// `--detach`: removes `<pin_path>/<interface>` (link first, then maps).
#[allow(clippy::print_stdout)] // the removed paths are the command's output
fn detach(source: &ConfigSource) -> Result<Exit, exit::ExitError> {
    let cfg = source.load().exit_with(Exit::Config)?.value;
    let Some(dir) = cfg.ebpf.pin_dir() else {
        eprintln!("ironpost-daemon: ebpf.pin_path is empty: nothing is pinned");
        return Ok(Exit::Ok);
    };
    let removed = ironpost_ebpf_engine::remove_pins(&dir).exit_with(Exit::Failure)?;
    if removed.is_empty() {
        eprintln!("ironpost-daemon: no pins under {}", dir.display());
    }
    for p in removed {
        println!("removed {}", p.display());
    }
    Ok(Exit::Ok)
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
    if args.detach {
        return exit::report(detach(&source), "ironpost-daemon");
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
