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

/// Formats rows as columns separated by two spaces; the last column is not padded. On a colour
/// terminal ([`colour`]) the header is bold and cells that are exactly a severity, an evidence
/// class, a health state or an outcome are coloured.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_with(header, rows, colour())
}

/// Whether stdout gets colour: a terminal, `NO_COLOR` unset or empty (no-color.org), and a
/// `TERM` other than `dumb`.
pub(crate) fn colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && std::io::stdout().is_terminal()
}

/// The ANSI colour of a cell, for the few words that carry a verdict.
fn paint(cell: &str) -> Option<&'static str> {
    Some(match cell {
        "critical" | "unhealthy" | "failure" => "1;31",
        "high" | "forgeable" => "31",
        "medium" | "degraded" | "spoofable" => "33",
        "low" | "dry_run" => "36",
        "healthy" | "success" | "verified" => "32",
        _ => return None,
    })
}

fn table_with(header: &[&str], rows: &[Vec<String>], colour: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    // Padding is computed on the text, then the colour wraps the padded cell.
    let line = |cells: Vec<&str>, code: &dyn Fn(&str) -> Option<&'static str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let cell = if i == last {
                (*c).to_owned()
            } else {
                format!("{c:<w$}  ", w = widths[i])
            };
            match code(c).filter(|_| colour) {
                Some(code) => {
                    let (text, pad) = cell.split_at(c.len());
                    s.push_str(&format!("\x1b[{code}m{text}\x1b[0m{pad}"));
                }
                None => s.push_str(&cell),
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec(), &|_| Some("1"));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect(), &paint));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_the_same_with_and_without_colour() {
        let rows = vec![
            vec!["high".to_owned(), "verified".to_owned(), "x".to_owned()],
            vec!["a longer cell".to_owned(), "-".to_owned(), "y".to_owned()],
        ];
        let plain = table_with(&["SEVERITY", "EVIDENCE", "TITLE"], &rows, false);
        assert_eq!(
            plain,
            "SEVERITY       EVIDENCE  TITLE\nhigh           verified  x\na longer cell  -         y\n"
        );
        let painted = table_with(&["SEVERITY", "EVIDENCE", "TITLE"], &rows, true);
        assert!(painted.contains("\x1b[31mhigh\x1b[0m           \x1b[32mverified\x1b[0m  x"));
        assert!(painted.starts_with("\x1b[1mSEVERITY\x1b[0m       "));
        // Without the escape sequences, the same text.
        let stripped = painted
            .split("\x1b[")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split_once('m').map_or(part, |(_, rest)| rest)
                }
            })
            .collect::<String>();
        assert_eq!(stripped, plain);
    }
}
