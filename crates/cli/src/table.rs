//! The CLI's text tables: columns separated by two spaces, the last column not padded, the header
//! bold and verdict words coloured on a colour terminal. Self-contained (std only) so that
//! `bench/tables.sh` can render the same rows with this and with `comfy-table`.
//!
//! Hand-written rather than `comfy-table` (issue 14 item 4 asks for the crate where it keeps the
//! output and the speed; here it keeps neither): colouring single cells needs comfy-table's `tty`
//! feature, which pulls crossterm, and it renders the same text 5–7× slower (`bench/tables.sh`,
//! bench/README.md "Tables": 1,000 rows 0.57 ms against 2.98 ms, 100,000 rows 0.10 s against
//! 0.73 s), which shows on `alerts list --limit 100000`.

/// The ANSI colour of a cell, for the few words that carry a verdict.
pub(crate) fn paint(cell: &str) -> Option<&'static str> {
    Some(match cell {
        "critical" | "unhealthy" | "failure" => "1;31",
        "high" | "forgeable" => "31",
        "medium" | "degraded" | "spoofable" => "33",
        "low" | "dry_run" => "36",
        "healthy" | "success" | "verified" => "32",
        _ => return None,
    })
}

/// The table for `header` and `rows`; `colour` adds ANSI colours (the text is the same without).
pub(crate) fn table_with(header: &[&str], rows: &[Vec<String>], colour: bool) -> String {
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
