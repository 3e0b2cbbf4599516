/*!
From what the user typed to a list of jobs: the types that travel from the input list to the
pool ([`Job`], [`Spec`], [`Plan`], [`Rejected`]). Everything here is pure (no network); a bad
entry becomes a [`Rejected`] that travels to the printer like any other failure, so one bad
line never stops the others. Names come from [`crate::url`], input lines from
[`crate::input`], and the plan as a stream from [`mod@crate::plan`].
*/

mod checksum;
mod paths;
mod planning;

use std::path::{Path, PathBuf};

use url::Url;

use crate::error::Error;
use crate::url::{parse_url, redact};

pub use checksum::parse_checksum;
pub use paths::{ensure_dir, part_path};
pub(crate) use paths::{normalize, resolve_user_path, split_name};
pub use planning::{Naming, plan, plan_pairs, plan_with};
// Reading a whole list lives with the line format, in `input`; these paths stay for
// programs that name them here.
pub use crate::input::{Input, parse_input, read_input};

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
