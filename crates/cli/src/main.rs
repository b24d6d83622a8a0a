//! `ironpost-cli`: parses arguments and dispatches to one file per command group. Exit codes come
//! from `ironpost_proto::exit` (one table for both binaries).

mod alerts;
mod args;
mod block;
mod config_cmd;
mod console_cmd;
mod daemon_cmd;
mod docs_cmd;
mod fleet_cmd;
mod isolate;
mod output;
mod rules_cmd;
mod sbom_cmd;
mod simulate;
mod since;
mod table;

use std::process::ExitCode;

use clap::Parser;
use ironpost_proto::exit::{self, Exit, ExitError, WithExit};

use crate::args::{ActionsCmd, AlertsCmd, Args, BlockCmd, Command, PacketsCmd, RulesCmd};

// mimalloc: a `scan sbom` of 10,000 packages ran 8.5 ms with it against 10.6 ms with glibc's
// allocator (measured by hand with and without these lines; bench/README.md, "SBOM scan").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse_from(sbom_cmd::rewrite_args(std::env::args_os().collect()));
    exit::report(run(args), "ironpost-cli")
}

/// Runs `fut` on a current-thread tokio runtime, built only for the commands that talk to the
/// daemon or the network (the offline ones start faster without it).
fn block_on<F: std::future::Future<Output = Result<Exit, ExitError>>>(
    fut: F,
) -> Result<Exit, ExitError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .exit_with(Exit::Failure)?
        .block_on(fut)
}

fn run(args: Args) -> Result<Exit, ExitError> {
    let g = &args.global;
    match &args.command {
        Command::Config(c) => config_cmd::run(g, c),
        Command::Status(s) => block_on(daemon_cmd::status(g, s)),
        Command::Reload(s) => block_on(daemon_cmd::reload(g, s)),
        Command::Metrics(m) => block_on(daemon_cmd::metrics(g, m)),
        Command::Alerts(AlertsCmd::List(q)) => block_on(alerts::list_alerts(g, q)),
        Command::Alerts(AlertsCmd::Submit(s)) => block_on(alerts::submit(g, s)),
        Command::Actions(ActionsCmd::List(q)) => block_on(alerts::list_actions(g, q)),
        Command::Block(BlockCmd::Add(a)) => block_on(block::add(g, a)),
        Command::Block(BlockCmd::Remove(t)) => block_on(block::remove(g, t)),
        Command::Block(BlockCmd::List(s)) => block_on(block::list(g, s)),
        Command::Stats(s) => block_on(block::stats(g, s)),
        Command::Packets(PacketsCmd::List(q)) => block_on(alerts::list_packets(g, q)),
        Command::Rules(RulesCmd::Validate(a)) => rules_cmd::validate(g, a),
        Command::Rules(RulesCmd::Test(a)) => rules_cmd::test(g, a),
        Command::Rules(RulesCmd::List(a)) => rules_cmd::list(g, a),
        Command::Rules(RulesCmd::Coverage(a)) => rules_cmd::coverage(g, a),
        Command::Isolate(a) => block_on(isolate::isolate(g, a)),
        Command::Restore(a) => block_on(isolate::restore(g, a)),
        Command::Db(sbom_cmd::DbCmd::Import(a)) => sbom_cmd::db_import(g, a),
        Command::Db(sbom_cmd::DbCmd::Status(a)) => sbom_cmd::db_status(g, a),
        Command::Scan(sbom_cmd::ScanCmd::Sbom(a)) => sbom_cmd::scan_sbom(g, a),
        Command::Scan(sbom_cmd::ScanCmd::Image(a)) => sbom_cmd::scan_image(g, a),
        Command::Sbom(sbom_cmd::SbomCmd::Generate(a)) => sbom_cmd::sbom_generate(g, a),
        Command::Simulate(a) => block_on(simulate::simulate(g, a)),
        Command::Fleet(args::FleetCmd::Status { store }) => block_on(fleet_cmd::status(g, *store)),
        Command::Console(c) => block_on(console_cmd::run(g, c)),
        Command::Completions(a) => docs_cmd::completions(a),
        Command::Man(a) => docs_cmd::man(a),
    }
}
