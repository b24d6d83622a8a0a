//! `completions` and `man`: shell completion scripts and manual pages generated from the CLI's own
//! argument definitions (clap_complete, clap_mangen), so they never drift from the code.

use clap::CommandFactory;
use ironpost_proto::exit::{Exit, ExitError, WithExit};

use crate::args::{Args, CompletionsArgs, ManArgs};
use crate::output;

pub(crate) fn completions(a: &CompletionsArgs) -> Result<Exit, ExitError> {
    let mut cmd = Args::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "ironpost-cli", &mut out);
    Ok(Exit::Ok)
}

pub(crate) fn man(a: &ManArgs) -> Result<Exit, ExitError> {
    std::fs::create_dir_all(&a.dir).exit_with(Exit::Failure)?;
    clap_mangen::generate_to(Args::command(), &a.dir).exit_with(Exit::Failure)?;
    let mut pages: Vec<String> = std::fs::read_dir(&a.dir)
        .exit_with(Exit::Failure)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ironpost-cli") && n.ends_with(".1"))
        .collect();
    pages.sort();
    output::text(&format!(
        "{} manual pages in {}: {}",
        pages.len(),
        a.dir.display(),
        pages.join(" ")
    ))?;
    Ok(Exit::Ok)
}
