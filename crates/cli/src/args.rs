//! Command-line grammar of `ironpost-cli`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use ironpost_core::{Evidence, Severity};

/// Ironpost command-line interface.
#[derive(Debug, Parser)]
#[command(name = "ironpost-cli", version, about, after_help = EXIT_CODES)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 failure, 2 usage, 3 config invalid or missing, \
4 daemon not running, 5 storage unavailable, 6 scan found vulnerabilities (docs/cli.md).";

/// Options every command takes.
#[derive(Debug, ClapArgs)]
pub(crate) struct Global {
    /// Config file [default: $IRONPOST_CONFIG, else /etc/ironpost/ironpost.toml].
    #[arg(short, long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Use the built-in defaults (plus IRONPOST_* overrides) instead of a config file.
    #[arg(long, global = true, conflicts_with = "config")]
    pub(crate) defaults: bool,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check, show or create the config file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Ask the running daemon for its status (over the control socket).
    Status(SocketArg),
    /// Make the running daemon re-read its config.
    Reload(SocketArg),
    /// Print the daemon's Prometheus metrics.
    Metrics(MetricsArgs),
    /// Query or submit alerts.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Query response actions.
    #[command(subcommand)]
    Actions(ActionsCmd),
    /// Block, unblock and list source addresses in the XDP filter (running daemon).
    #[command(subcommand)]
    Block(BlockCmd),
    /// XDP traffic counters from the running daemon.
    Stats(SocketArg),
    /// Query stored packet events (suspicious packets reported by the XDP program).
    #[command(subcommand)]
    Packets(PacketsCmd),
    /// Check detection rules (YAML and Sigma) and try them on sample lines.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Isolate a container now (`isolate web-1 --action pause`), or list what the container guard
    /// has isolated (`isolate list`).
    Isolate(IsolateArgs),
    /// Undo the guard's isolation of a container: reconnect its networks (same aliases and
    /// addresses where Docker allows), start it if stopped, unpause it.
    Restore(RestoreArgs),
    /// Import and inspect the offline vulnerability database.
    #[command(subcommand)]
    Db(crate::sbom_cmd::DbCmd),
    /// Scan lockfiles for known vulnerabilities.
    #[command(subcommand)]
    Scan(crate::sbom_cmd::ScanCmd),
    /// Write an SBOM (CycloneDX or SPDX JSON) of the lockfiles under directories.
    #[command(subcommand)]
    Sbom(crate::sbom_cmd::SbomCmd),
    /// Publish simulated connection attempts to the IDS telemetry subject on NATS (seed 004).
    Simulate(SimulateArgs),
    /// The web console: its URL, or a one-time login link (`console login`).
    #[command(subcommand)]
    Console(crate::console_cmd::ConsoleCmd),
    /// Fleet mode: the nodes sharing block decisions ([fleet] nats_urls).
    #[command(subcommand)]
    Fleet(FleetCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
    /// Write the manual pages (roff): ironpost-cli.1 and one page per command.
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum FleetCmd {
    /// Every node's last heartbeat: role, version, age, run-time blocks, module health.
    Status {
        /// Read the heartbeats a central stored (its `[storage]`) instead of asking the cluster.
        #[arg(long)]
        store: bool,
    },
}

#[derive(Debug, ClapArgs)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ManArgs {
    /// Directory to write the pages into (created when missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct IsolateArgs {
    #[command(subcommand)]
    pub(crate) list: Option<IsolateCmd>,
    /// Container id or name.
    pub(crate) container: Option<String>,
    /// What to do to it.
    #[arg(long, value_enum)]
    pub(crate) action: Option<IsolateAction>,
    #[command(flatten)]
    pub(crate) socket: SocketArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IsolateCmd {
    /// Containers isolated by the guard and not yet restored.
    List(SocketArg),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IsolateAction {
    Pause,
    Stop,
    #[value(name = "network_disconnect")]
    NetworkDisconnect,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RestoreArgs {
    /// Container id or name.
    pub(crate) container: String,
    #[command(flatten)]
    pub(crate) socket: SocketArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RulesCmd {
    /// Load every rule under a directory; list each one that cannot be used, with the reason.
    Validate(RulesValidateArgs),
    /// Run one rule file on sample lines (--rule), or hold every rule of a directory to its
    /// sample file (--dir).
    Test(RulesTestArgs),
    /// The rules of a directory: id, title, severity, sshd mode, tags, file.
    List(RulesValidateArgs),
    /// Which rules fire on a log file, with counts (like fail2ban-regex).
    Coverage(RulesCoverageArgs),
}

/// `log_pipeline.sshd_mode` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SshdModeArg {
    Normal,
    Ddos,
    Aggressive,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RulesCoverageArgs {
    /// The log file to run the rules on.
    #[arg(long, value_name = "LOG")]
    pub(crate) file: PathBuf,
    /// Rules directory [default: log_pipeline.rules_dir from the config].
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Evaluate only the sshd rules of this mode [default: every rule of the directory].
    #[arg(long, value_enum, value_name = "MODE")]
    pub(crate) sshd_mode: Option<SshdModeArg>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RulesValidateArgs {
    /// Rules directory [default: log_pipeline.rules_dir from the config].
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["rule", "dir"])))]
pub(crate) struct RulesTestArgs {
    /// The rule file (seed YAML or Sigma).
    #[arg(long, value_name = "FILE")]
    pub(crate) rule: Option<PathBuf>,
    /// A rules directory: every rule against its sample file DIR/tests/<id>.log (exit 1 on any
    /// mismatch; format in docs/rules.md).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["stdin", "file"])]
    pub(crate) dir: Option<PathBuf>,
    /// Read sample lines from standard input (the default when --file is absent).
    #[arg(long, conflicts_with = "file")]
    pub(crate) stdin: bool,
    /// Read sample lines from a file.
    #[arg(long, value_name = "F")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BlockCmd {
    /// Drop every packet from an address or network.
    Add(BlockAddArgs),
    /// Remove a block.
    Remove(BlockTarget),
    /// Blocks with their hits, reason and expiry.
    List(SocketArg),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct BlockAddArgs {
    /// IP address or CIDR, e.g. 198.51.100.7 or 2001:db8::/64.
    pub(crate) cidr: ironpost_core::net::Cidr,
    /// Remove the block after this long (`90s`, `30m`, `2h`, `7d`); default: until removed.
    #[arg(long, value_name = "DURATION")]
    pub(crate) ttl: Option<String>,
    /// Why (shown by `block list`).
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) socket: SocketArg,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct BlockTarget {
    pub(crate) cidr: ironpost_core::net::Cidr,
    #[command(flatten)]
    pub(crate) socket: SocketArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PacketsCmd {
    /// List stored packet events, newest first.
    List(PacketQueryArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct PacketQueryArgs {
    /// Only newer than this (same forms as `alerts list --since`).
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCmd {
    /// Load and validate the config; list every problem with file:line and key.
    Validate,
    /// Print the effective config (file + environment overrides), passwords masked.
    Show,
    /// Write a commented example config.
    Init(InitArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct InitArgs {
    /// Where to write it; `-` for standard output [default: the --config path].
    #[arg(value_name = "PATH")]
    pub(crate) path: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct SocketArg {
    /// Control socket [default: general.control_socket from the config].
    #[arg(long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct MetricsArgs {
    /// Base URL of the daemon's HTTP listener [default: http://{general.http_listen}, https:// with [http] tls_cert].
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCmd {
    /// List stored alerts, newest first.
    List(AlertQueryArgs),
    /// Send alerts (JSON objects, one per line, or a JSON array) to the running daemon.
    Submit(SubmitArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct AlertQueryArgs {
    /// Only newer than this: RFC 3339, a date, `90m`, `2h`, `7d`, or `1 hour ago`.
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    /// Only this severity and above.
    #[arg(long, value_name = "LEVEL")]
    pub(crate) severity: Option<Severity>,
    /// Only alerts whose source address rests on this evidence: verified, spoofable or forgeable.
    #[arg(long, value_name = "CLASS")]
    pub(crate) evidence: Option<Evidence>,
    /// Only alerts of this rule or detector id.
    #[arg(long, value_name = "ID")]
    pub(crate) rule: Option<String>,
    /// Only alerts whose source address is this one.
    #[arg(long, value_name = "IP")]
    pub(crate) src: Option<IpAddr>,
    /// Only alerts about this container: its name, id, or an id prefix of 12+ hex digits.
    #[arg(long, value_name = "NAME|ID")]
    pub(crate) container: Option<String>,
    /// Only alerts of this fleet node (a central's store holds every agent's).
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct SubmitArgs {
    /// File to read; `-` or absent for standard input.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) socket: SocketArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ActionsCmd {
    /// List stored response actions, newest first.
    List(ActionQueryArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ActionQueryArgs {
    /// Only newer than this (same forms as `alerts list --since`).
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    /// Only actions caused by this alert id.
    #[arg(long, value_name = "ID")]
    pub(crate) alert: Option<ironpost_core::EventId>,
    /// Only actions of this fleet node (a central's store holds every agent's).
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SimMode {
    /// One host, a new destination port on every attempt (a port scan).
    Scan,
    /// One host, ports 443 and 80 in turn, slowly.
    Benign,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct SimulateArgs {
    #[arg(long, value_enum)]
    pub(crate) mode: SimMode,
    /// How long to publish.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub(crate) seconds: u32,
    /// Attempts per second [default: scan 100, benign 0.5].
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// NATS server [default: `[ids.nats] url`].
    #[arg(long, value_name = "URL")]
    pub(crate) nats_url: Option<String>,
    /// Subject [default: `[ids] subject`].
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// Source address of the attempts [default: scan 198.18.0.5, benign 198.18.0.6].
    #[arg(long)]
    pub(crate) src: Option<std::net::IpAddr>,
    /// Destination address [default: 198.18.0.9].
    #[arg(long)]
    pub(crate) dst: Option<std::net::IpAddr>,
}
