//! `ironpost-cli config validate|show|init`.

use std::io::Write;
use std::path::PathBuf;

use ironpost_config::{ConfigSource, EXAMPLE, IronpostConfig};
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use serde_json::json;

use crate::args::{ConfigCmd, Global, OutputFormat};
use crate::output;

/// The config source the global flags select.
pub(crate) fn source(g: &Global) -> ConfigSource {
    ConfigSource::resolve(g.defaults, g.config.as_deref())
}

/// Loads the selected config, or fails with exit code 3.
pub(crate) fn load(g: &Global) -> Result<IronpostConfig, ExitError> {
    source(g).load().map(|l| l.value).exit_with(Exit::Config)
}

pub(crate) fn run(g: &Global, cmd: &ConfigCmd) -> Result<Exit, ExitError> {
    match cmd {
        ConfigCmd::Validate => validate(g),
        ConfigCmd::Show => {
            let cfg = load(g)?;
            match g.output {
                OutputFormat::Text => output::text(&cfg.to_redacted_toml())?,
                OutputFormat::Json => output::json(&cfg.redacted())?,
            }
            Ok(Exit::Ok)
        }
        ConfigCmd::Init(a) => {
            let path = a.path.clone().unwrap_or_else(|| match source(g) {
                ConfigSource::File(p) => p,
                ConfigSource::Defaults => PathBuf::from(ironpost_config::DEFAULT_CONFIG_PATH),
            });
            if path.as_os_str() == "-" {
                output::text(EXAMPLE)?;
                return Ok(Exit::Ok);
            }
            if path.exists() && !a.force {
                return Err(anyhow::anyhow!(
                    "{} already exists; pass --force to overwrite it",
                    path.display()
                ))
                .exit_with(Exit::Failure);
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).exit_with(Exit::Failure)?;
            }
            let mut f = std::fs::File::create(&path).exit_with(Exit::Failure)?;
            f.write_all(EXAMPLE.as_bytes()).exit_with(Exit::Failure)?;
            match g.output {
                OutputFormat::Text => output::text(&format!("wrote {}", path.display()))?,
                OutputFormat::Json => output::json(&json!({ "written": path }))?,
            }
            Ok(Exit::Ok)
        }
    }
}

fn validate(g: &Global) -> Result<Exit, ExitError> {
    let src = source(g);
    match src.load() {
        Ok(l) => {
            let vars: Vec<&str> = l.overrides.iter().map(|o| o.var.as_str()).collect();
            match g.output {
                OutputFormat::Text => {
                    let mut msg = format!("{}: valid", l.origin);
                    if !vars.is_empty() {
                        msg.push_str(&format!(" (environment overrides: {})", vars.join(", ")));
                    }
                    output::text(&msg)?;
                }
                OutputFormat::Json => output::json(&json!({
                    "valid": true,
                    "config": l.origin.to_string(),
                    "overrides": l.overrides.iter().map(|o| json!({"var": o.var, "key": o.key})).collect::<Vec<_>>(),
                }))?,
            }
            Ok(Exit::Ok)
        }
        Err(e) => {
            if g.output == OutputFormat::Json {
                let issues = e.issues();
                let errors: Vec<_> = if issues.is_empty() {
                    vec![json!({ "message": e.to_string() })]
                } else {
                    issues
                        .iter()
                        .map(|i| json!({"location": i.location.to_string(), "key": i.key, "message": i.message}))
                        .collect()
                };
                output::json(&json!({ "valid": false, "errors": errors }))?;
            }
            Err(e).exit_with(Exit::Config)
        }
    }
}
