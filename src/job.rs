/*!
From what the user typed to a list of jobs: input-file lines, target paths that cannot leave
the output directory (names come from [`crate::url`]), and duplicate targets. Everything here
is pure (no network); a bad entry becomes a [`Rejected`] that travels to the printer like
any other failure, so one bad line never stops the others.
*/

use std::io::BufRead;
use std::path::{Component, Path, PathBuf};

use url::Url;

use crate::error::Error;
use crate::fetch::partial::temp_paths;
use crate::input;
use crate::plan::Planner;
use crate::url::{parse_url, redact};

/// One download: a URL and the final path its bytes go to.
#[derive(Debug, Clone)]
pub struct Job {
    /// The URL to fetch (may carry `user:password@`, never printed as is).
    pub url: Url,
    /// The final path of the file.
    pub path: PathBuf,
    /// Expected SHA-256 of the file, lowercase hex.
    pub sha256: Option<String>,
    /// Where the job came from, for messages: `line 12` or the URL.
    pub origin: String,
    /// Other URLs of the same file, tried in turn after `url` when a source fails.
    pub mirrors: Vec<Url>,
    /// Request headers of this job only (an input list's `header=`), after the run's own.
    pub headers: Vec<(String, String)>,
    /// Take the server's file name (`Content-Disposition`) for the final file, in the same
    /// directory, when it gives one and no file has that name yet.
    pub server_name: bool,
}

impl Job {
    /// A job for one `(url, path)` pair, the unit of the classic loop. The path is used as
    /// given: a relative path is relative to the current directory, and missing directories
    /// are created when the download starts.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when the URL does not parse or is not http(s).
    pub fn new(url: impl AsRef<str>, path: impl AsRef<Path>) -> Result<Job, Error> {
        let url = parse_url(url.as_ref())?;
        Ok(Job {
            origin: redact(&url),
            url,
            path: path.as_ref().to_path_buf(),
            sha256: None,
            mirrors: Vec::new(),
            headers: Vec::new(),
            server_name: false,
        })
    }

    /// The URL and its mirrors, in the order they are tried.
    pub fn sources(&self) -> impl Iterator<Item = &Url> {
        std::iter::once(&self.url).chain(&self.mirrors)
    }

    /// The URL with any password replaced, for output, logs and reports.
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }
}

/// What the user asked for, before target paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The URL as written.
    pub url: String,
    /// The PATH as written, if any.
    pub path: Option<PathBuf>,
    /// `sha256=HEX`, already validated, lowercase hex only.
    pub sha256: Option<String>,
    /// 1-based input line, when the spec came from a file.
    pub line: Option<usize>,
    /// Other URLs of the same file (aria2c's TAB-separated mirrors).
    pub mirrors: Vec<String>,
    /// A directory for this file (aria2c's `dir=`), relative to the output directory unless
    /// absolute.
    pub dir: Option<PathBuf>,
    /// Request headers of this file only (aria2c's `header=`).
    pub headers: Vec<(String, String)>,
}

impl Spec {
    /// A spec for a URL given on the command line.
    pub fn url(url: impl Into<String>) -> Self {
        Spec {
            url: url.into(),
            path: None,
            sha256: None,
            line: None,
            mirrors: Vec::new(),
            dir: None,
            headers: Vec::new(),
        }
    }
}

/// An entry that was refused before any download started.
#[derive(Debug)]
pub struct Rejected {
    /// The URL (redacted) or `line N` when there is no usable URL.
    pub label: String,
    /// Why.
    pub error: Error,
}

/// The outcome of planning: jobs ready to run, and entries refused with a reason.
#[derive(Debug, Default)]
pub struct Plan {
    /// Jobs with distinct, safe final paths, in input order.
    pub jobs: Vec<Job>,
    /// Entries that will be reported as failed.
    pub rejected: Vec<Rejected>,
}

impl Plan {
    /// Number of entries, accepted or not.
    pub fn len(&self) -> usize {
        self.jobs.len() + self.rejected.len()
    }

    /// Whether there is nothing at all to do.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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

    fn next_line(&mut self) -> Option<std::io::Result<Vec<u8>>>
    where
        R: BufRead,
    {
        let mut raw = Vec::new();
        match self.reader.read_until(b'\n', &mut raw) {
            Ok(0) => None,
            Ok(_) => {
                if raw.last() == Some(&b'\n') {
                    raw.pop();
                }
                Some(Ok(raw))
            }
            Err(e) => Some(Err(e)),
        }
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
            let raw = match self.next_line() {
                Some(Ok(raw)) => raw,
                Some(Err(e)) => {
                    self.failed = true;
                    let error = Some(Err(Error::io(&self.name, e)));
                    return std::mem::replace(&mut self.held, error).or_else(|| self.held.take());
                }
                None => break,
            };
            self.lineno += 1;
            let lineno = self.lineno;
            let Ok(text) = std::str::from_utf8(&raw) else {
                let bad = Err(Error::BadLine {
                    line: lineno,
                    reason: "not valid UTF-8".into(),
                });
                match self.held.replace(bad) {
                    Some(spec) => return Some(spec),
                    None => continue,
                }
            };
            // Editors on Windows start files with a byte-order mark; it is not part of the URL.
            let text = if lineno == 1 {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            let trimmed = text.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if input::is_option(text) {
                match &mut self.held {
                    Some(Ok(spec)) => {
                        if let Err(e) = input::apply_option(spec, text, lineno) {
                            self.held = Some(Err(e));
                        }
                    }
                    // The URL above was already refused: its options go with it.
                    Some(Err(_)) => {}
                    None => {
                        return Some(Err(Error::BadLine {
                            line: lineno,
                            reason: "an option line with no URL above it".into(),
                        }));
                    }
                }
                continue;
            }
            let spec = input::parse_line(trimmed, lineno);
            if let Some(done) = self.held.replace(spec) {
                return Some(done);
            }
        }
        self.held.take()
    }
}

/// Validate `sha256=HEX` and return the lowercase hex digest.
///
/// # Errors
/// [`Error::InvalidChecksum`] when the algorithm is not sha256 or the digest is not 64 hex digits.
pub fn parse_checksum(value: &str) -> Result<String, Error> {
    let hex = value
        .strip_prefix("sha256=")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(h) => Ok(h.to_ascii_lowercase()),
        None => Err(Error::InvalidChecksum {
            value: value.to_string(),
        }),
    }
}

/// Resolve a user-given relative PATH under `dir`, refusing any path that would leave it.
/// Absolute paths are the user's explicit choice and are kept as they are.
pub(crate) fn resolve_user_path(dir: &Path, path: &Path) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(normalize(path));
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(Error::UnsafePath {
                        path: path.to_path_buf(),
                    });
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::UnsafePath {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    if parts.is_empty() {
        return Err(Error::UnsafePath {
            path: path.to_path_buf(),
        });
    }
    let mut out = normalize(dir);
    out.extend(parts);
    Ok(out)
}

/// Lexical normalization: drop `.`, fold `..` into its parent. Used to compare targets.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The temporary file a job writes to before the rename: `<path>.part`, or a shortened,
/// hashed name beside it when that would pass the file-name limit.
pub fn part_path(path: &Path) -> PathBuf {
    temp_paths(path).part
}

/// Turn `(url, path)` pairs into a plan: each path used as given (see [`Job::new`]), bad
/// URLs and second entries for one file rejected, as [`plan`] does for an input list.
pub fn plan_pairs<U, P>(pairs: impl IntoIterator<Item = (U, P)>) -> Plan
where
    U: AsRef<str>,
    P: AsRef<Path>,
{
    let mut planner = Planner::new(".");
    pairs
        .into_iter()
        .filter_map(|(url, path)| planner.pair(url.as_ref(), path.as_ref()))
        .collect()
}

/// How [`plan_with`] names files a spec gives no PATH for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Naming {
    /// The URL's host and directories become folders under the output directory (as
    /// `wget -x`), so same-named files of different folders do not collide.
    pub keep_paths: bool,
    /// Take the server's name from `Content-Disposition` when it gives one (see
    /// [`Job::server_name`]).
    pub content_disposition: bool,
}

/// Turn specs into jobs under `dir`: resolve names and paths, and reject entries whose URL
/// is bad, whose path leaves `dir`, or whose file (or one of its temporaries) is already
/// another job's file or temporary, however the two paths are spelled. The whole plan at
/// once; [`Planner::stream`] gives it entry by entry, as the list is read.
pub fn plan(specs: impl IntoIterator<Item = Result<Spec, Error>>, dir: &Path) -> Plan {
    plan_with(specs, dir, Naming::default())
}

/// [`plan`], naming files without a PATH as `naming` says.
pub fn plan_with(
    specs: impl IntoIterator<Item = Result<Spec, Error>>,
    dir: &Path,
    naming: Naming,
) -> Plan {
    Planner::new(dir)
        .with_naming(naming)
        .stream(specs)
        .collect()
}

/// Create the output directory when missing.
///
/// # Errors
/// [`Error::Io`] naming `dir` when it cannot be created or is not a directory.
pub fn ensure_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        )),
        Err(_) => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_paths_never_leave_the_output_dir() {
        let d = Path::new("/out");
        assert_eq!(
            resolve_user_path(d, Path::new("a/../b")).unwrap(),
            Path::new("/out/b")
        );
        assert!(resolve_user_path(d, Path::new("../x")).is_err());
        assert!(resolve_user_path(d, Path::new("a/../../x")).is_err());
        assert!(resolve_user_path(d, Path::new(".")).is_err());
        assert_eq!(
            resolve_user_path(d, Path::new("/abs/x")).unwrap(),
            Path::new("/abs/x")
        );
    }

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

    #[test]
    fn plan_rejects_duplicates_bad_urls_and_part_collisions() {
        let specs = vec![
            Ok(Spec::url("http://h/a")),
            Ok(Spec::url("http://other/a")),
            Ok(Spec::url("ftp://h/b")),
            Ok(Spec {
                path: Some("a.part".into()),
                ..Spec::url("http://h/c")
            }),
            Ok(Spec::url("http://h/d")),
        ];
        let plan = plan(specs, Path::new("/out"));
        let names: Vec<_> = plan.jobs.iter().map(|j| j.path.clone()).collect();
        assert_eq!(names, [PathBuf::from("/out/a"), PathBuf::from("/out/d")]);
        assert_eq!(plan.rejected.len(), 3);
        assert!(matches!(
            plan.rejected[0].error,
            Error::DuplicateTarget { .. }
        ));
        assert!(matches!(plan.rejected[1].error, Error::InvalidUrl { .. }));
    }
}
