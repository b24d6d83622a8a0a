//! `ironpost-cli db import|status`, `scan sbom|image` and `sbom generate`: the offline
//! vulnerability database, scans of lockfiles, OS packages and container images against it, and
//! SBOM documents (of directories or of an image).
//!
//! The database directory is `--db`, else `sbom.vuln_db_path` from the config (joined to
//! `general.data_dir` when relative). The config is read only when a flag leaves something to it;
//! without a config file these commands use the built-in defaults.
//! A progress indicator is drawn on stderr while importing and scanning when stderr is a terminal.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use indicatif::{ProgressDrawTarget, ProgressStyle};
use ironpost_config::ConfigSource;
use ironpost_core::Severity;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_sbom_scanner::{
    CycloneDxVersion, Inventory, Policy, SbomConfig, SbomFormat, Suppressions, Vex, scan,
};
use ironpost_vulndb::{Db, VulnDbError};

use crate::args::{Global, OutputFormat};
use crate::{config_cmd, output};

#[derive(Debug, Subcommand)]
pub(crate) enum DbCmd {
    /// Import a RustSec advisory-db checkout, or a directory or zip of OSV JSON.
    Import(DbImportArgs),
    /// Sources, advisory counts and the age of the last import.
    Status(DbArg),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DbArg {
    /// Database directory [default: sbom.vuln_db_path from the config].
    #[arg(long, value_name = "DIR")]
    pub(crate) db: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DbImportArgs {
    /// The source: advisory-db checkout (crates/<name>/RUSTSEC-*.md), OSV JSON directory or zip.
    pub(crate) path: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScanCmd {
    /// Match every lockfile under the directories against the vulnerability database.
    Sbom(ScanSbomArgs),
    /// Match a container image's OS packages and lockfiles against the vulnerability database:
    /// an image of the local Docker engine (exported through its API) or `--input` a `docker
    /// save` tar or an OCI image layout directory.
    Image(ScanImageArgs),
}

/// Which image to read.
#[derive(Debug, ClapArgs)]
pub(crate) struct ImageSource {
    /// A `docker save` tar or an OCI image layout directory, instead of the engine's image.
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) input: Option<PathBuf>,
    /// The Docker engine's socket [default: unix:// of DOCKER_HOST, else /var/run/docker.sock].
    #[arg(long, value_name = "PATH")]
    pub(crate) docker_socket: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ScanImageArgs {
    /// The engine's image: NAME[:TAG] or ID (omit with `--input`).
    #[arg(
        value_name = "NAME[:TAG]|ID",
        required_unless_present = "input",
        conflicts_with = "input"
    )]
    pub(crate) image: Option<String>,
    #[command(flatten)]
    pub(crate) source: ImageSource,
    #[command(flatten)]
    pub(crate) opts: ScanOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScanFormat {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ScanSbomArgs {
    /// Directories to scan (repeatable) [default: sbom.scan_dirs from the config].
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub(crate) dir: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) opts: ScanOpts,
}

/// Policy and output of a scan, the same for directories and images.
#[derive(Debug, ClapArgs)]
pub(crate) struct ScanOpts {
    /// Report findings of this severity and above; findings without a severity are always
    /// reported [default: sbom.min_severity from the config].
    #[arg(long, value_name = "LEVEL")]
    pub(crate) min_severity: Option<Severity>,
    /// Report format [default: table, or json with `--output json`]. JSON and SARIF are
    /// indented on a terminal, compact when written to a file or a pipe.
    #[arg(long, value_enum)]
    pub(crate) format: Option<ScanFormat>,
    /// Suppressions file (TOML `[[suppress]]` entries: id, package, reason, expires).
    #[arg(long, value_name = "FILE")]
    pub(crate) suppressions: Option<PathBuf>,
    /// CycloneDX VEX document: `not_affected` statements suppress findings.
    #[arg(long, value_name = "FILE")]
    pub(crate) vex: Option<PathBuf>,
    /// Exit 0 even when findings remain (report only). Without it a CI job fails on findings:
    /// exit 6, the way `trivy --exit-code` and `cargo audit` fail a build.
    #[arg(long)]
    pub(crate) exit_zero: bool,
    #[command(flatten)]
    pub(crate) db: DbArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SbomCmd {
    /// Inventory the lockfiles under the directories and write an SBOM.
    Generate(SbomGenerateArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct SbomGenerateArgs {
    /// Directories to inventory (repeatable) [default: sbom.scan_dirs from the config].
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["image", "image_input"])]
    pub(crate) dir: Vec<PathBuf>,
    /// Inventory the Docker engine's image NAME[:TAG]|ID instead (exported through its API).
    #[arg(long, value_name = "NAME[:TAG]|ID", conflicts_with = "image_input")]
    pub(crate) image: Option<String>,
    /// Inventory a `docker save` tar or an OCI image layout directory instead.
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) image_input: Option<PathBuf>,
    /// The Docker engine's socket for `--image` [default: unix:// of DOCKER_HOST, else
    /// /var/run/docker.sock].
    #[arg(long, value_name = "PATH")]
    pub(crate) docker_socket: Option<PathBuf>,
    /// Document format [default: sbom.output_format from the config].
    #[arg(long, value_enum)]
    pub(crate) format: Option<SbomFormatArg>,
    /// CycloneDX spec version (SPDX is always 2.3).
    #[arg(long, value_enum, default_value_t = SpecVersion::V1_6)]
    pub(crate) spec_version: SpecVersion,
    /// Where to write it, `-` for standard output (given as `--output FILE`).
    #[arg(long = "output-file", value_name = "FILE|-", default_value = "-")]
    pub(crate) output_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SbomFormatArg {
    Cyclonedx,
    Spdx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SpecVersion {
    #[value(name = "1.5")]
    V1_5,
    #[value(name = "1.6")]
    V1_6,
}

/// `sbom generate --output FILE`: the global `--output text|json` owns that name for every other
/// command, so after `sbom generate` it is renamed to the command's own `--output-file`.
pub(crate) fn rewrite_args(args: Vec<OsString>) -> Vec<OsString> {
    let Some(at) = args
        .windows(2)
        .position(|w| w[0] == "sbom" && w[1] == "generate")
    else {
        return args;
    };
    let mut out = Vec::with_capacity(args.len());
    for (i, a) in args.into_iter().enumerate() {
        if i <= at + 1 {
            out.push(a);
            continue;
        }
        match a.to_str() {
            Some("--output" | "-o") => out.push("--output-file".into()),
            Some(s) if s.starts_with("--output=") => {
                out.push(format!("--output-file={}", &s["--output=".len()..]).into());
            }
            _ => out.push(a),
        }
    }
    out
}

/// A one-line progress indicator on stderr (indicatif), redrawn ten times a second while it
/// lives and cleared when dropped; hidden when stderr is not a terminal.
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new(label: &str) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(Self::style(false));
        bar.set_message(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    /// The label and elapsed time; with `counted`, a 30-character bar and done/total too.
    fn style(counted: bool) -> ProgressStyle {
        let template = if counted {
            "{msg} [{bar:30}] {pos}/{len} {elapsed}"
        } else {
            "{msg} {elapsed}"
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("#>.")
    }

    /// A new phase: `total` steps, or 0 when unknown (no bar).
    fn phase(&self, label: &str, total: usize) {
        self.0.set_style(Self::style(total > 0));
        self.0.set_length(total as u64);
        self.0.set_position(0);
        self.0.set_message(label.to_owned());
    }

    fn set(&self, done: usize) {
        self.0.set_position(done as u64);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The `[sbom]` section and data_dir, read from the config only when `needed`.
fn sbom_config(g: &Global, needed: bool) -> Result<(SbomConfig, PathBuf), ExitError> {
    if !needed {
        return Ok((SbomConfig::default(), PathBuf::new()));
    }
    // These commands work without a daemon install: with no `--config`, no `IRONPOST_CONFIG` and
    // no file at the default path, they use the built-in defaults (plus `IRONPOST_*` overrides).
    let source = match config_cmd::source(g) {
        ConfigSource::File(p)
            if g.config.is_none()
                && std::env::var_os("IRONPOST_CONFIG").is_none()
                && !p.exists() =>
        {
            ConfigSource::Defaults
        }
        s => s,
    };
    let cfg = source.load().map(|l| l.value).exit_with(Exit::Config)?;
    Ok((cfg.sbom, cfg.general.data_dir))
}

fn resolve_db(g: &Global, a: &DbArg) -> Result<PathBuf, ExitError> {
    match &a.db {
        Some(d) => Ok(d.clone()),
        None => {
            let (cfg, data_dir) = sbom_config(g, true)?;
            Ok(ironpost_sbom_scanner::db_dir(&cfg, &data_dir))
        }
    }
}

fn open_db(dir: &Path) -> Result<Db, ExitError> {
    Db::open(dir)
        .map_err(|e| {
            let hint = matches!(e, VulnDbError::NotFound { .. })
                .then_some("; import one with `ironpost-cli db import <advisory-db or OSV dir/zip> --db DIR`")
                .unwrap_or_default();
            anyhow::Error::new(e).context(format!(
                "cannot open the vulnerability database {}{hint}",
                dir.display()
            ))
        })
        .exit_with(Exit::Failure)
}

pub(crate) fn db_import(g: &Global, a: &DbImportArgs) -> Result<Exit, ExitError> {
    let dir = resolve_db(g, &a.db)?;
    let progress = Progress::new(&format!("importing {}", a.path.display()));
    let report = Db::import(&dir, &a.path)
        .with_context(|| format!("cannot import {} into {}", a.path.display(), dir.display()))
        .exit_with(Exit::Failure)?;
    drop(progress);
    for e in report.errors.iter().take(50) {
        eprintln!("warning: {e}");
    }
    if report.errors.len() > 50 {
        eprintln!("warning: … and {} more", report.errors.len() - 50);
    }
    match g.output {
        OutputFormat::Json => output::json(&serde_json::json!({
            "db": dir,
            "source": report.source,
            "kind": report.kind,
            "imported": report.imported,
            "withdrawn": report.withdrawn,
            "informational": report.informational,
            "replaced": report.replaced,
            "duplicates": report.duplicates,
            "skipped": report.skipped,
            "errors": report.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "notes": report.notes.len(),
            "total": report.total,
        }))?,
        OutputFormat::Text => output::text(&format!(
            "imported {} advisories from {} ({}): {} withdrawn, {} informational, {} replaced, {} entry error(s); {} now holds {} advisories",
            report.imported,
            report.source.display(),
            report.kind.as_str(),
            report.withdrawn,
            report.informational,
            report.replaced,
            report.errors.len(),
            dir.display(),
            report.total
        ))?,
    }
    Ok(Exit::Ok)
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub(crate) fn db_status(g: &Global, a: &DbArg) -> Result<Exit, ExitError> {
    let dir = resolve_db(g, a)?;
    let status = open_db(&dir)?.status();
    match g.output {
        OutputFormat::Json => output::json(&status)?,
        OutputFormat::Text => {
            let mut s = format!(
                "{}: {} advisories ({} withdrawn, {} informational), last import {} ago\n",
                status.dir.display(),
                status.advisories,
                status.withdrawn,
                status.informational,
                status.newest_import_age_seconds.map_or("-".into(), age)
            );
            let eco: Vec<Vec<String>> = status
                .by_ecosystem
                .iter()
                .map(|(k, v)| vec![k.clone(), v.to_string()])
                .collect();
            s.push_str(&output::table(&["ECOSYSTEM", "ADVISORIES"], &eco));
            let rows: Vec<Vec<String>> = status
                .sources
                .iter()
                .map(|src| {
                    vec![
                        src.meta.kind.as_str().to_owned(),
                        src.held.to_string(),
                        src.meta.errors.to_string(),
                        src.meta.imported_at.to_rfc3339(),
                        age(src.age_seconds),
                        src.meta.path.display().to_string(),
                    ]
                })
                .collect();
            s.push('\n');
            s.push_str(&output::table(
                &["KIND", "HELD", "ERRORS", "IMPORTED", "AGE", "SOURCE"],
                &rows,
            ));
            output::text(&s)?;
        }
    }
    Ok(Exit::Ok)
}

fn print_lockfile_errors(inv: &Inventory) {
    for e in &inv.walk_errors {
        eprintln!("warning: {}", scan_error(e));
    }
    for l in &inv.lockfiles {
        if let Some(e) = &l.error {
            eprintln!("warning: {}", scan_error(e));
        }
    }
}

fn scan_error(e: &ironpost_sbom_scanner::Error) -> String {
    scan::error_chain(e)
}

pub(crate) fn scan_sbom(g: &Global, a: &ScanSbomArgs) -> Result<Exit, ExitError> {
    let dirs = a.dir.clone();
    run_scan(g, &a.opts, a.dir.is_empty(), |cfg| {
        let dirs = if dirs.is_empty() {
            cfg.scan_dirs.clone()
        } else {
            dirs
        };
        ironpost_sbom_scanner::inventory(&dirs)
            .context("cannot scan")
            .exit_with(Exit::Failure)
    })
}

pub(crate) fn scan_image(g: &Global, a: &ScanImageArgs) -> Result<Exit, ExitError> {
    run_scan(g, &a.opts, false, |_| {
        load_image(a.image.as_deref(), &a.source)
    })
}

/// The inventory of the image named (engine) or given (`--input`).
fn load_image(image: Option<&str>, source: &ImageSource) -> Result<Inventory, ExitError> {
    use ironpost_sbom_scanner::image;
    // Executables too: Go and `cargo auditable` binaries carry their dependency lists.
    let keep = image::Keep {
        elf: true,
        paths: None,
    };
    let limits = image::Limits::default();
    if let Some(input) = &source.input {
        let loaded = image::load(input, limits, keep)
            .with_context(|| format!("cannot read the image {}", input.display()))
            .exit_with(Exit::Failure)?;
        return Ok(image::inventory(&loaded, input));
    }
    let Some(name) = image else {
        return Err(anyhow::anyhow!("name an image or give --input")).exit_with(Exit::Usage);
    };
    let socket = source
        .docker_socket
        .clone()
        .unwrap_or_else(image::default_socket);
    let file = image::Engine::connect(&socket)
        .and_then(|e| e.export(name, &std::env::temp_dir()))
        .with_context(|| format!("cannot export the image {name} from the Docker engine"))
        .exit_with(Exit::Failure)?;
    let loaded = image::load_saved(Path::new(name), file, limits, keep)
        .with_context(|| format!("cannot read the image {name}"))
        .exit_with(Exit::Failure)?;
    Ok(image::inventory(&loaded, Path::new(name)))
}

/// Loads the database, inventories (`inventory`, given the `[sbom]` config), matches, applies
/// the policy and prints the report. `needs_cfg`: the inventory takes something from the config.
fn run_scan(
    g: &Global,
    a: &ScanOpts,
    needs_cfg: bool,
    inventory: impl FnOnce(&SbomConfig) -> Result<Inventory, ExitError>,
) -> Result<Exit, ExitError> {
    let needs_cfg = needs_cfg || a.min_severity.is_none() || a.db.db.is_none();
    let (cfg, data_dir) = sbom_config(g, needs_cfg)?;
    let db_dir =
        a.db.db
            .clone()
            .unwrap_or_else(|| ironpost_sbom_scanner::db_dir(&cfg, &data_dir));
    let policy = Policy {
        min_severity: a.min_severity.unwrap_or(cfg.min_severity),
        suppressions: a
            .suppressions
            .as_deref()
            .map(Suppressions::load)
            .transpose()
            .context("cannot use the suppressions file")
            .exit_with(Exit::Failure)?,
        vex: a
            .vex
            .as_deref()
            .map(Vex::load)
            .transpose()
            .context("cannot use the VEX document")
            .exit_with(Exit::Failure)?,
    };
    let progress = Progress::new("loading the vulnerability database");
    let db = open_db(&db_dir)?;
    progress.phase("reading lockfiles", 0);
    let inv = inventory(&cfg)?;
    progress.phase("matching packages", inv.packages.len());
    let findings = scan::find_with(&inv, &db, |n| progress.set(n));
    drop(progress);
    print_lockfile_errors(&inv);
    let report = scan::apply(&inv, findings, &policy, chrono::Utc::now().date_naive());
    for e in &report.expired_suppressions {
        eprintln!(
            "warning: {} entry {} ({}) expired on {}: it no longer suppresses anything",
            e.file.display(),
            e.entry,
            e.id,
            e.expires
        );
    }
    let format = a.format.unwrap_or(match g.output {
        OutputFormat::Json => ScanFormat::Json,
        OutputFormat::Text => ScanFormat::Table,
    });
    match format {
        ScanFormat::Json => output::json_report(&report)?,
        ScanFormat::Sarif => output::json_report(&ironpost_sbom_scanner::sarif(&report))?,
        ScanFormat::Table => output::text(&ironpost_sbom_scanner::table(&report))?,
    }
    let exit = if report.findings.is_empty() || a.exit_zero {
        Exit::Ok
    } else {
        Exit::Findings
    };
    // The process ends here: freeing tens of thousands of strings one by one would only add to
    // the time of a scan.
    std::mem::forget((report, inv, db));
    Ok(exit)
}

pub(crate) fn sbom_generate(g: &Global, a: &SbomGenerateArgs) -> Result<Exit, ExitError> {
    let image = a.image.is_some() || a.image_input.is_some();
    let (cfg, _) = sbom_config(g, (a.dir.is_empty() && !image) || a.format.is_none())?;
    let dirs = if a.dir.is_empty() {
        cfg.scan_dirs.clone()
    } else {
        a.dir.clone()
    };
    let format = match a.format {
        Some(SbomFormatArg::Cyclonedx) => SbomFormat::Cyclonedx,
        Some(SbomFormatArg::Spdx) => SbomFormat::Spdx,
        None => cfg.output_format,
    };
    let inv = if image {
        let source = ImageSource {
            input: a.image_input.clone(),
            docker_socket: a.docker_socket.clone(),
        };
        load_image(a.image.as_deref(), &source)?
    } else {
        ironpost_sbom_scanner::inventory(&dirs)
            .context("cannot inventory")
            .exit_with(Exit::Failure)?
    };
    print_lockfile_errors(&inv);
    let doc = match format {
        SbomFormat::Cyclonedx => ironpost_sbom_scanner::cyclonedx(
            &inv,
            match a.spec_version {
                SpecVersion::V1_5 => CycloneDxVersion::V1_5,
                SpecVersion::V1_6 => CycloneDxVersion::V1_6,
            },
        ),
        SbomFormat::Spdx => ironpost_sbom_scanner::spdx(&inv),
    };
    if a.output_file.as_os_str() == "-" {
        output::json(&doc)?;
    } else {
        let mut bytes = serde_json::to_vec_pretty(&doc).exit_with(Exit::Failure)?;
        bytes.push(b'\n');
        std::fs::write(&a.output_file, bytes)
            .with_context(|| format!("cannot write {}", a.output_file.display()))
            .exit_with(Exit::Failure)?;
        eprintln!(
            "wrote {} packages from {} lockfile(s) to {}",
            inv.packages.len(),
            inv.lockfiles.len(),
            a.output_file.display()
        );
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn output_after_sbom_generate_names_the_file() {
        let cases: [(&[&str], &[&str]); 4] = [
            (
                &["cli", "sbom", "generate", "--output", "x.json"],
                &["cli", "sbom", "generate", "--output-file", "x.json"],
            ),
            (
                &["cli", "--defaults", "sbom", "generate", "-o", "-"],
                &[
                    "cli",
                    "--defaults",
                    "sbom",
                    "generate",
                    "--output-file",
                    "-",
                ],
            ),
            (
                &["cli", "sbom", "generate", "--output=a"],
                &["cli", "sbom", "generate", "--output-file=a"],
            ),
            (
                &["cli", "--output", "json", "db", "status"],
                &["cli", "--output", "json", "db", "status"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite_args(os(input)), os(want), "{input:?}");
        }
    }
}
