/*!
The lines of an input list, in fetchpool's own format and in aria2c's. A line is
`URL [MIRROR…] [PATH] [sha256=HEX]`, fields separated by blanks; a field with blanks is quoted
(`"my file.csv"`, or `'…'` taken literally). aria2c lists work as they are: URLs of one file
separated by a TAB are mirrors, and indented `key=value` lines below a URL are its options
(`out=`, `dir=`, `checksum=sha-256=HEX`, `header=`).

This module reads a whole list, lazily as it arrives ([`read_input`]) or at once
([`parse_input`]); `line.rs` holds the syntax of one line.
*/

mod line;

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::job::Spec;
use line::{apply_option, is_option, parse_line};

/// Parse an input file: one `URL [MIRROR…] [PATH] [sha256=HEX]` per line, fields quoted
/// when they hold blanks; blank lines and lines starting with `#` are ignored; indented
/// `key=value` lines (aria2c's `out=`, `dir=`, `checksum=`, `header=`) apply to the URL
/// above them (see [`crate::input`]). A bad line yields an `Err` in its place (a bad option
/// line, in place of its URL's entry); reading stops only when the reader itself fails.
///
/// # Errors
/// The outer `Err` is an I/O error of `reader` (named after `name`).
pub fn parse_input(reader: impl BufRead, name: &Path) -> Result<Vec<Result<Spec, Error>>, Error> {
    let mut out = Vec::new();
    for spec in read_input(reader, name) {
        match spec {
            Err(e @ Error::Io { .. }) => return Err(e),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The specs of an input file as they are read, one line at a time (see [`parse_input`]
/// for the format). An I/O error of `reader` is the last item, an [`Error::Io`] naming
/// `name`.
pub fn read_input<R: BufRead>(reader: R, name: &Path) -> Input<R> {
    Input {
        reader,
        name: name.to_path_buf(),
        lineno: 0,
        failed: false,
        held: None,
        ready: None,
        raw: Vec::new(),
    }
}

/// The specs of an input file, read lazily: see [`read_input`].
pub struct Input<R> {
    reader: R,
    name: PathBuf,
    lineno: usize,
    failed: bool,
    /// The last spec read, held back while indented option lines below it may follow.
    held: Option<Result<Spec, Error>>,
    /// Whether a line can be read without waiting (see [`Input::streamed`]).
    ready: Option<Ready<R>>,
    /// The line being read (one buffer for the whole list).
    raw: Vec<u8>,
}

/// See [`Input::streamed`].
type Ready<R> = Box<dyn FnMut(&R) -> bool + Send>;

impl<R> Input<R> {
    /// For a list still being written (a pipe): `ready` says whether reading the next line
    /// would not wait. A spec is held back for option lines below it only while they can
    /// already be read, so that its download never waits for the writer; an aria2c option
    /// line must then arrive together with its URL line. Without this, the next line is
    /// always awaited (right for a file).
    pub fn streamed(mut self, ready: impl FnMut(&R) -> bool + Send + 'static) -> Self {
        self.ready = Some(Box::new(ready));
        self
    }

    /// Read the next line into `self.raw`, without its line end: `false` at the end.
    fn next_line(&mut self) -> std::io::Result<bool>
    where
        R: BufRead,
    {
        self.raw.clear();
        if self.reader.read_until(b'\n', &mut self.raw)? == 0 {
            return Ok(false);
        }
        if self.raw.last() == Some(&b'\n') {
            self.raw.pop();
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for Input<R> {
    type Item = Result<Spec, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            if self.held.is_some()
                && let Some(ready) = &mut self.ready
                && !ready(&self.reader)
            {
                return self.held.take();
            }
            match self.next_line() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.failed = true;
                    let error = Some(Err(Error::io(&self.name, e)));
                    return std::mem::replace(&mut self.held, error).or_else(|| self.held.take());
                }
            }
            self.lineno += 1;
            let lineno = self.lineno;
            let raw = std::mem::take(&mut self.raw);
            let spec = self.line(&raw, lineno);
            self.raw = raw;
            match spec {
                Line::Skip => {}
                Line::Done(spec) => return Some(spec),
            }
        }
        self.held.take()
    }
}

/// What one line of the list gives.
enum Line {
    /// Nothing to hand out yet (a blank line, a comment, an option line, the first spec).
    Skip,
    /// The entry ready to go (the spec held before this line, or this line's error).
    Done(Result<Spec, Error>),
}

impl<R> Input<R> {
    /// Take line `lineno`: a spec is held back (for option lines that may follow), and the
    /// one held before it handed out.
    fn line(&mut self, raw: &[u8], lineno: usize) -> Line {
        let Ok(text) = std::str::from_utf8(raw) else {
            let bad = Err(Error::BadLine {
                line: lineno,
                reason: "not valid UTF-8".into(),
            });
            return self.held.replace(bad).map_or(Line::Skip, Line::Done);
        };
        // Editors on Windows start files with a byte-order mark; it is not part of the URL.
        let text = if lineno == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Line::Skip;
        }
        if is_option(text) {
            match &mut self.held {
                Some(Ok(spec)) => {
                    if let Err(e) = apply_option(spec, text, lineno) {
                        self.held = Some(Err(e));
                    }
                }
                // The URL above was already refused: its options go with it.
                Some(Err(_)) => {}
                None => {
                    return Line::Done(Err(Error::BadLine {
                        line: lineno,
                        reason: "an option line with no URL above it".into(),
                    }));
                }
            }
            return Line::Skip;
        }
        let spec = parse_line(trimmed, lineno);
        self.held.replace(spec).map_or(Line::Skip, Line::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_optional_path_and_checksum() {
        let sum = "a".repeat(64);
        let input = format!(
            "# comment\n\nhttp://h/a\nhttp://h/b  sub/b.bin\nhttp://h/c c sha256={sum}\nhttp://h/d x y\n"
        );
        let specs = parse_input(input.as_bytes(), Path::new("in")).unwrap();
        assert_eq!(specs.len(), 4);
        assert_eq!(specs[0].as_ref().unwrap().line, Some(3));
        assert_eq!(
            specs[1].as_ref().unwrap().path.as_deref(),
            Some(Path::new("sub/b.bin"))
        );
        assert_eq!(specs[2].as_ref().unwrap().sha256.as_deref(), Some(&*sum));
        let err = specs[3].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("input line 6:"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_and_crlf_line_ends_are_tolerated() {
        let specs = parse_input(
            "\u{feff}http://h/a\r\nhttp://h/b x\r\n".as_bytes(),
            Path::new("in"),
        )
        .unwrap();
        let specs: Vec<Spec> = specs.into_iter().map(Result::unwrap).collect();
        assert_eq!(specs[0].url, "http://h/a");
        assert_eq!(specs[1].path.as_deref(), Some(Path::new("x")));
    }
}
