//! Printing helpers shared by the commands: JSON to stdout, or aligned text tables.

use std::io::Write;

use ironpost_daemon::exit::{Exit, ExitError, WithExit};
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

/// Formats rows as columns separated by two spaces; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
