//! Printing helpers shared by the commands: JSON to stdout, or aligned text tables.

use std::io::Write;

use ironpost_proto::exit::{Exit, ExitError, WithExit};
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), ExitError> {
    write_json(value, true)
}

/// Prints `value` as JSON on stdout: pretty on a terminal, compact (a third smaller, and quicker
/// to write) when it goes to a file or a pipe. For reports that can run to megabytes.
pub(crate) fn json_report<T: Serialize + ?Sized>(value: &T) -> Result<(), ExitError> {
    use std::io::IsTerminal;
    write_json(value, std::io::stdout().is_terminal())
}

fn write_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<(), ExitError> {
    // Buffered: stdout is line-buffered, and serde writes a document in many small pieces.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if pretty {
        serde_json::to_writer_pretty(&mut out, value).exit_with(Exit::Failure)?;
    } else {
        serde_json::to_writer(&mut out, value).exit_with(Exit::Failure)?;
    }
    writeln!(out).exit_with(Exit::Failure)?;
    out.flush().exit_with(Exit::Failure)
}

/// Prints text on stdout.
pub(crate) fn text(s: &str) -> Result<(), ExitError> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).exit_with(Exit::Failure)?;
    if !s.ends_with('\n') {
        writeln!(out).exit_with(Exit::Failure)?;
    }
    Ok(())
}

/// Formats rows as columns separated by two spaces (see [`crate::table`]), coloured when stdout
/// takes colour ([`colour`]).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    crate::table::table_with(header, rows, colour())
}

/// Whether stdout gets colour: a terminal, `NO_COLOR` unset or empty (no-color.org), and a
/// `TERM` other than `dumb`.
pub(crate) fn colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && std::io::stdout().is_terminal()
}
