//! Syslog over a byte stream: LF framing (one message per line) and RFC 6587 octet counting
//! (`LEN SP MSG`), detected from each connection's first byte (a digit means octet counting).
//! Messages longer than [`MAX_LINE`] are cut and counted; a malformed length ends the stream.

use super::{Batch, MAX_LINE};
use crate::pipeline::PipelineError;

/// Longest accepted length prefix: 9 digits (a frame of up to ~1 GB, most of it skipped).
const MAX_LEN_DIGITS: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not decided yet (no byte seen).
    Detect,
    Lf,
    OctetCounting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames (octet counting: reading the length).
    Start,
    /// Octet counting: this many message bytes still to read.
    Body { left: usize },
    /// Skipping the part of a message beyond MAX_LINE (LF: until newline; octets: `left`).
    Skip { left: usize },
}

/// Incremental framer: feed it bytes as they arrive; complete messages go into a [`Batch`].
#[derive(Debug)]
pub struct Framer {
    mode: Mode,
    state: State,
    /// Bytes of the current, incomplete message (or length prefix).
    pending: Vec<u8>,
    /// Octet counting: bytes to skip after the kept part of an over-long message.
    skip_after: usize,
    /// Messages cut to MAX_LINE so far.
    pub truncated: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            mode: Mode::Detect,
            state: State::Start,
            pending: Vec::new(),
            skip_after: 0,
            truncated: 0,
        }
    }
}

impl Framer {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Consumes `data`, pushing every complete message into `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Batch) -> Result<(), PipelineError> {
        while !data.is_empty() {
            if self.mode == Mode::Detect {
                self.mode = if data[0].is_ascii_digit() {
                    Mode::OctetCounting
                } else {
                    Mode::Lf
                };
            }
            data = match self.mode {
                Mode::Lf => self.feed_lf(data, out),
                _ => self.feed_octets(data, out)?,
            };
        }
        Ok(())
    }

    /// At end of stream: an unterminated LF message is still a message.
    pub fn finish(&mut self, out: &mut Batch) {
        if self.mode == Mode::Lf && self.state == State::Start && !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            push_trimmed(&line, out);
        }
        self.pending.clear();
    }

    fn feed_lf<'a>(&mut self, data: &'a [u8], out: &mut Batch) -> &'a [u8] {
        if let State::Skip { .. } = self.state {
            return match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.state = State::Start;
                    &data[i + 1..]
                }
                None => &[],
            };
        }
        match memchr::memchr(b'\n', data) {
            Some(i) => {
                if self.pending.is_empty() {
                    let line = &data[..i];
                    if line.len() > MAX_LINE {
                        self.truncated += 1;
                        push_trimmed(&line[..MAX_LINE], out);
                    } else {
                        push_trimmed(line, out);
                    }
                } else {
                    let room = MAX_LINE.saturating_sub(self.pending.len());
                    let take = i.min(room);
                    self.pending.extend_from_slice(&data[..take]);
                    if i > room {
                        self.truncated += 1;
                    }
                    let line = std::mem::take(&mut self.pending);
                    push_trimmed(&line, out);
                }
                &data[i + 1..]
            }
            None => {
                let room = MAX_LINE.saturating_sub(self.pending.len());
                if data.len() > room {
                    self.pending.extend_from_slice(&data[..room]);
                    self.truncated += 1;
                    let line = std::mem::take(&mut self.pending);
                    push_trimmed(&line, out);
                    self.state = State::Skip { left: 0 };
                } else {
                    self.pending.extend_from_slice(data);
                }
                &[]
            }
        }
    }

    fn feed_octets<'a>(
        &mut self,
        data: &'a [u8],
        out: &mut Batch,
    ) -> Result<&'a [u8], PipelineError> {
        match self.state {
            State::Start => {
                // Skip stray newlines between frames (some senders add them).
                if self.pending.is_empty() && (data[0] == b'\n' || data[0] == b'\r') {
                    return Ok(&data[1..]);
                }
                for (i, &b) in data.iter().enumerate() {
                    if b == b' ' {
                        if self.pending.is_empty() {
                            return Err(PipelineError::Framing {
                                reason: "empty length",
                            });
                        }
                        let len: usize = std::str::from_utf8(&self.pending)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or(PipelineError::Framing {
                                reason: "length is not a number",
                            })?;
                        self.pending.clear();
                        if len > MAX_LINE {
                            self.truncated += 1;
                            self.state = State::Body { left: MAX_LINE };
                            self.pending.reserve(MAX_LINE);
                            // Remember how much to skip after the kept part.
                            self.skip_after = len - MAX_LINE;
                        } else {
                            self.state = State::Body { left: len };
                            self.skip_after = 0;
                        }
                        return Ok(&data[i + 1..]);
                    }
                    if !b.is_ascii_digit() {
                        return Err(PipelineError::Framing {
                            reason: "length prefix has a non-digit",
                        });
                    }
                    if self.pending.len() >= MAX_LEN_DIGITS {
                        return Err(PipelineError::Framing {
                            reason: "length prefix longer than 9 digits",
                        });
                    }
                    self.pending.push(b);
                }
                Ok(&[])
            }
            State::Body { left } => {
                let take = left.min(data.len());
                let rest = &data[take..];
                if self.pending.is_empty() && take == left {
                    push_trimmed(&data[..take], out);
                    self.after_body();
                } else {
                    self.pending.extend_from_slice(&data[..take]);
                    if take == left {
                        let msg = std::mem::take(&mut self.pending);
                        push_trimmed(&msg, out);
                        self.after_body();
                    } else {
                        self.state = State::Body { left: left - take };
                    }
                }
                Ok(rest)
            }
            State::Skip { left } => {
                let take = left.min(data.len());
                self.state = if take == left {
                    State::Start
                } else {
                    State::Skip { left: left - take }
                };
                Ok(&data[take..])
            }
        }
    }

    fn after_body(&mut self) {
        self.state = if self.skip_after > 0 {
            State::Skip {
                left: self.skip_after,
            }
        } else {
            State::Start
        };
        self.skip_after = 0;
    }
}

/// Drops a trailing `\r` (CRLF senders) and `\n` (octet-counted messages that end in one);
/// empty messages (blank lines) are not messages.
fn push_trimmed(line: &[u8], out: &mut Batch) {
    let mut l = line;
    while let [rest @ .., b'\n' | b'\r'] = l {
        l = rest;
    }
    if !l.is_empty() {
        out.push(l);
    }
}

#[cfg(test)]
mod tests;
