/*!
The library's one error type. Every variant names the thing at fault (the URL, the input
line, the path) so that a message printed on its own, one line, tells the user what to fix.
URLs in messages are always redacted (no password), see [`crate::url::redact`].
*/

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while planning or running downloads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL that cannot be parsed, or whose scheme is not http or https.
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl {
        /// The URL as given (redacted).
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A line of an input file that cannot be understood.
    #[error("input line {line}: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A `--header` value that is not `Name: value`.
    #[error("invalid header {name:?} (value not shown): {reason}")]
    InvalidHeader {
        /// What stands before the first colon or space (the value may be a secret).
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A checksum that is not `sha256=` followed by 64 hex digits.
    #[error("invalid checksum {value:?}: expected sha256=<64 hex digits>")]
    InvalidChecksum {
        /// The checksum as given.
        value: String,
    },

    /// An entry refused while planning (bad line, bad URL, unsafe or duplicate target),
    /// as reported to the printer.
    #[error("{reason}")]
    Rejected {
        /// The planning error's message.
        reason: String,
    },

    /// A `--shard` value (or an array task's variable) that is not a shard of the list.
    #[error("invalid shard {value}: {reason}")]
    InvalidShard {
        /// The value as given (`K/N`, or `NAME=value` for a variable).
        value: String,
        /// Why.
        reason: String,
    },

    /// `--shard auto` outside an array task, or without a way to learn the shard count.
    #[error("--shard auto: {reason}")]
    NoShardEnvironment {
        /// Which variables are missing, and what to give instead.
        reason: String,
    },

    /// A shard report that cannot be read or merged.
    #[error("{path}: {reason}")]
    BadReport {
        /// The report file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The worker pool could not be started.
    #[error("cannot start the worker pool: {source}")]
    Pool {
        /// rayon's error.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },

    /// A target path that would leave the output directory.
    #[error("{path}: path escapes the output directory")]
    UnsafePath {
        /// The offending path as given.
        path: PathBuf,
    },

    /// A job whose final path is already taken by an earlier job of the same run.
    #[error("{url}: target {path} is already used by {first}")]
    DuplicateTarget {
        /// The later job's URL (redacted).
        url: String,
        /// The shared final path.
        path: PathBuf,
        /// The earlier job (its URL or input line).
        first: String,
    },

    /// A file system operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The path being read, written, created or renamed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A file operation of one download failed (the partial, its sidecar, the rename).
    #[error("{url}: {path}: {source}")]
    File {
        /// The URL (redacted).
        url: String,
        /// The path being read, written, created or renamed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A temporary is a symbolic link (or another non-regular file); it is never followed.
    #[error("{url}: {path}: refusing to use a temporary that is a symlink or not a regular file")]
    UnsafePartial {
        /// The URL (redacted).
        url: String,
        /// The `.part` or `.part.meta` path.
        path: PathBuf,
    },

    /// A file at a temporary's path that fetchpool did not write: it is never overwritten
    /// or deleted.
    #[error("{url}: {path} exists and was not written by fetchpool; move it away")]
    ForeignFile {
        /// The URL (redacted).
        url: String,
        /// The file's path.
        path: PathBuf,
    },

    /// A `.part` without fetchpool's sidecar (another tool's) that the server cannot continue
    /// exactly; fetchpool never cuts back bytes it did not write.
    #[error(
        "{url}: {path} was not written by fetchpool and does not continue the remote file; \
         remove it or use --force"
    )]
    ForeignPartial {
        /// The URL (redacted).
        url: String,
        /// The `.part` path.
        path: PathBuf,
    },

    /// The server answered with a status that is not a success.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL (redacted).
        url: String,
        /// The HTTP status code.
        status: u16,
        /// `Retry-After` as sent by the server, if any (seconds to wait).
        #[doc(hidden)]
        retry_after: Option<std::time::Duration>,
    },

    /// The connection failed, timed out, or the response could not be read.
    #[error("{url}: {source}")]
    Transport {
        /// The URL (redacted).
        url: String,
        /// The HTTP client's error.
        #[source]
        source: ureq::Error,
    },

    /// A request through a proxy failed: the proxy refused or could not be reached, or the
    /// connection through it broke.
    #[error("{url}: via proxy {proxy}: {source}")]
    Proxy {
        /// The URL (redacted).
        url: String,
        /// The proxy (redacted).
        proxy: String,
        /// The HTTP client's error.
        #[source]
        source: ureq::Error,
    },

    /// The body ended before the announced length.
    #[error("{url}: body ended early: got {got} of {expected} bytes")]
    Truncated {
        /// The URL (redacted).
        url: String,
        /// Bytes received in this response.
        got: u64,
        /// Bytes announced.
        expected: u64,
    },

    /// A body longer than its Content-Length or Content-Range announced; what it wrote was
    /// taken back.
    #[error("{url}: body longer than the {expected} bytes announced")]
    TooLong {
        /// The URL (redacted).
        url: String,
        /// Bytes announced.
        expected: u64,
    },

    /// An encoded body (gzip) that does not decode; nothing of it is kept.
    #[error("{url}: cannot decode the gzip body: {reason}")]
    Decode {
        /// The URL (redacted).
        url: String,
        /// The decoder's message.
        reason: String,
        /// Whether the encoded stream was cut short (then another attempt may succeed).
        #[doc(hidden)]
        cut: bool,
    },

    /// A server whose replies keep contradicting the bytes on disk (ranges that do not
    /// continue the file, after restarts from zero); given up rather than asked forever.
    #[error("{url}: giving up after repeated restarts: {reason}")]
    Unstable {
        /// The URL (redacted).
        url: String,
        /// The last contradiction.
        reason: String,
    },

    /// A 206 or 416 reply whose `Content-Range` cannot be used safely; nothing was written.
    #[error("{url}: unusable Content-Range {value:?}")]
    BadContentRange {
        /// The URL (redacted).
        url: String,
        /// The header value, or empty when missing.
        value: String,
    },

    /// A redirect that fetchpool refuses to follow.
    #[error("{url}: redirect refused: {reason}")]
    Redirect {
        /// The URL that redirected (redacted).
        url: String,
        /// Why: too many, unsupported scheme, https to http, missing Location.
        reason: String,
    },

    /// The body came in a Content-Encoding that fetchpool cannot turn back into the file.
    #[error("{url}: unsupported Content-Encoding {encoding:?} (identity was asked)")]
    UnsupportedEncoding {
        /// The URL (redacted).
        url: String,
        /// The encoding the server used.
        encoding: String,
    },

    /// The downloaded file does not match the expected checksum; it was not kept.
    #[error("{url}: checksum mismatch: expected sha256={expected}, got sha256={actual}")]
    ChecksumMismatch {
        /// The URL (redacted).
        url: String,
        /// The expected hex digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },

    /// The server's certificate was refused (unknown issuer, expired, wrong name…). Not
    /// retried: only the user can say what to trust.
    #[error(
        "{url}: TLS certificate not trusted ({reason}); to trust its CA use --ca-certificate FILE (or --insecure to skip verification)"
    )]
    Certificate {
        /// The URL (redacted).
        url: String,
        /// What the TLS library objected to.
        reason: String,
    },

    /// A CA certificate file (`--ca-certificate`, `SSL_CERT_FILE`, `SSL_CERT_DIR`) that
    /// cannot be used.
    #[error("{path}: unusable CA certificates: {reason}")]
    CaCertificate {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A proxy setting (`--proxy` or a `*_proxy` variable) that is not a usable proxy URL.
    #[error("invalid proxy {proxy}: {reason}")]
    InvalidProxy {
        /// The proxy as given (redacted).
        proxy: String,
        /// Why.
        reason: String,
    },

    /// A line of a cookies.txt file that cannot be read.
    #[error("{path}:{line}: {reason}")]
    CookieFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the cookie's value).
        reason: String,
    },

    /// A `.netrc` file that cannot be parsed.
    #[error("{path}: {reason}")]
    Netrc {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a password).
        reason: String,
    },

    /// The run was interrupted (Ctrl-C) while this download was under way; its partial is kept.
    #[error("{url}: interrupted")]
    Interrupted {
        /// The URL (redacted).
        url: String,
    },
}

/// A name lookup that says the host does not exist (as opposed to a resolver that failed
/// for now, which is worth another attempt). The standard library reports both as an
/// uncategorized `io::Error` carrying getaddrinfo's message, so the message is what tells.
fn unknown_host(e: &io::Error) -> bool {
    let text = e.to_string();
    text.contains("failed to lookup address information")
        && (text.contains("not known") || text.contains("No address associated"))
}

impl Error {
    /// Whether another attempt at the same download may succeed: network failures,
    /// truncated bodies and the statuses that mean "try again later".
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Error::Transport { source, .. } | Error::Proxy { source, .. } => match source {
                ureq::Error::Io(e) => !unknown_host(e),
                ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::Protocol(_) => true,
                _ => false,
            },
            Error::Truncated { .. } => true,
            Error::Decode { cut, .. } => *cut,
            _ => false,
        }
    }

    /// The server's `Retry-After`, when this error carries one.
    pub(crate) fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn file(url: &str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::File {
            url: url.to_string(),
            path: path.into(),
            source,
        }
    }
}
