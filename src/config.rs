/*!
Checked settings for a [`crate::Downloader`]. Plain data, no clap types: the binary turns its
command line into a `Config`, an embedding program builds one directly.
*/

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use crate::client::proxy::Proxies;
use crate::error::Error;

/// How a [`crate::Downloader`] behaves. Start from [`Config::default`] and change fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// Worker threads of the parallel pool (at least 1).
    pub jobs: usize,
    /// Ranges one file may be fetched as at once (`--split`): 1 is one stream per file. A
    /// file is split only on the parallel pool, when its length is known, its server honours
    /// Range and sends it unencoded; its ranges are jobs of the same pool, taken when no file
    /// waits, and a free worker takes over half of the largest remaining range.
    pub split: usize,
    /// No range of a split file is made smaller than this many bytes (`--min-split-size`).
    pub min_split_size: u64,
    /// Extra attempts after the first one for retryable failures.
    pub retries: u32,
    /// Connect timeout and idle-read timeout: a server that sends nothing for this long fails.
    pub timeout: Duration,
    /// Extra request headers, `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Download again files that already exist, and discard partial files.
    pub force: bool,
    /// Update mode: a file already at its final path is checked with a conditional request
    /// (`If-None-Match` with the ETag it was downloaded with, else `If-Modified-Since` with its
    /// modification time) and replaced only when the server sends a new version. Off: a file
    /// at its final path counts as complete, without a request.
    pub update: bool,
    /// At most this many transfers in flight to one host (host and port) across the whole
    /// pool; workers beyond it wait. `None`: no cap but the pool size.
    pub max_per_host: Option<usize>,
    /// The run's total download rate in bytes per second (all workers together), counted on
    /// the bytes as they come off the wire. `None`: unlimited.
    pub limit_rate: Option<u64>,
    /// Redirects followed at most per request.
    pub max_redirects: u32,
    /// First backoff step; each retry waits a random time up to `retry_base * 2^attempt`.
    pub retry_base: Duration,
    /// Upper bound of one backoff wait, and of an honoured `Retry-After`.
    pub retry_cap: Duration,
    /// Set to `true` (e.g. from a Ctrl-C handler) to stop: no new jobs start, transfers
    /// abort between chunks, partial files are kept for resume.
    pub cancel: Arc<AtomicBool>,
    /// PEM files of CA certificates trusted in addition to the system store (which
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` replace when set).
    pub ca_certificates: Vec<PathBuf>,
    /// Do not verify TLS certificates at all. Never the default.
    pub insecure: bool,
    /// Which proxy each URL goes through. Default: none; [`Proxies::from_env`] reads the
    /// variables curl reads.
    pub proxies: Proxies,
    /// Netscape cookies.txt files loaded into the run's jar before the first request.
    pub cookie_files: Vec<PathBuf>,
    /// Cookies given as `name=value; name2=value2`, sent to the host of each job's URL only.
    pub cookies: Vec<Secret>,
    /// Basic-auth `USER[:PASSWORD]`, sent to the host of each job's URL only.
    pub user: Option<Secret>,
    /// A `.netrc` file: Basic-auth credentials of its `machine` entries, each sent to that
    /// host only.
    pub netrc: Option<PathBuf>,
}

/// A password, a cookie, a token: kept out of `Debug` output, so that printing a
/// [`Config`] never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// When to stop: the user's flag ([`Config::cancel`], e.g. set by a Ctrl-C handler) or a
/// run's own (a result iterator dropped early). Checked between jobs, between chunks, and
/// while waiting (backoff, another run's lock).
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    user: Arc<AtomicBool>,
    run: Option<Arc<AtomicBool>>,
}

impl Stop {
    pub(crate) fn new(user: &Arc<AtomicBool>) -> Self {
        Stop {
            user: user.clone(),
            run: None,
        }
    }

    /// The same stop, plus `run`'s flag.
    pub(crate) fn and(&self, run: &Arc<AtomicBool>) -> Self {
        Stop {
            user: self.user.clone(),
            run: Some(run.clone()),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.user.load(Ordering::Relaxed)
            || self.run.as_ref().is_some_and(|r| r.load(Ordering::Relaxed))
    }
}

/// Default pool size: CPU count minus one, never below 2, so that "parallel" is never a
/// serial loop in disguise on a one- or two-CPU machine.
pub fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.saturating_sub(1).max(2)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jobs: default_jobs(),
            split: 1,
            min_split_size: 4 * 1024 * 1024,
            retries: 3,
            timeout: Duration::from_secs(30),
            headers: Vec::new(),
            user_agent: concat!("fetchpool/", env!("CARGO_PKG_VERSION")).to_string(),
            force: false,
            update: false,
            max_per_host: None,
            limit_rate: None,
            max_redirects: 10,
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(30),
            cancel: Arc::new(AtomicBool::new(false)),
            ca_certificates: Vec::new(),
            insecure: false,
            proxies: Proxies::default(),
            cookie_files: Vec::new(),
            cookies: Vec::new(),
            user: None,
            netrc: None,
        }
    }
}

/// Parse a `Name: value` header as given to `-H`.
///
/// # Errors
/// [`Error::InvalidHeader`] when there is no colon, the name is not a valid token, or the
/// header is one fetchpool manages itself (Range, If-Range).
pub fn parse_header(text: &str) -> Result<(String, String), Error> {
    // Only the name is ever quoted back, and only as far as it looks like a name: the rest
    // may be a token (`Authorization Bearer …`, `X-Api-Key=…`).
    let name: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    let invalid = |reason: &str| Error::InvalidHeader {
        name: name.clone(),
        reason: reason.to_string(),
    };
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| invalid("expected 'Name: value'"))?;
    let name = name.trim();
    let value = value.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(invalid("bad header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(invalid("control characters in value"));
    }
    // The resume protocol is fetchpool's: a Range of the user's would contradict its own.
    if ["range", "if-range"].contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid("fetchpool sends Range and If-Range itself"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// How a job list is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One job after the other on the calling thread.
    Serial,
    /// Jobs mapped over the downloader's thread pool.
    Parallel,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Serial => "serial",
            Mode::Parallel => "parallel",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pool_is_never_serial() {
        assert!(default_jobs() >= 2);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Config {
            user: Some(Secret::new("alice:hunter2")),
            cookies: vec![Secret::new("sid=hunter3")],
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter"), "{shown}");
    }

    #[test]
    fn headers_need_a_name_and_a_colon() {
        assert_eq!(
            parse_header("X-A:  b c ").unwrap(),
            ("X-A".to_string(), "b c".to_string())
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
        assert!(parse_header("Bad Name: v").is_err());
        assert!(parse_header("range: bytes=0-9").is_err());
        let e = parse_header("X-Api-Key=SECRET").unwrap_err().to_string();
        assert!(e.contains("X-Api-Key") && !e.contains("SECRET"), "{e}");
    }
}
