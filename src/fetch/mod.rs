/*!
One URL to one file: `download_url`. The steps live beside this file: `protocol` (one
exchange: Range, If-Range, what 200/206/416 mean for the bytes on disk), `body` (one
response body into the partial, decoding gzip), `partial` (the `.part`, its sidecar and
lock), `retry` (backoff). This is where the promise "the file on disk is exactly the
file on the server, or it is not at the final path" is kept. Bytes go to a locked `.part`; a
resume asks `Range` + `If-Range` and checks `Content-Range` before writing a byte; anything the
server says that does not fit what is on disk restarts from zero instead of splicing; retries
continue from the bytes on disk; only a complete (and, if asked, checksummed) file is renamed.
*/

mod body;
pub(crate) mod partial;
mod protocol;
pub(crate) mod retry;

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::{Config, Stop};
use crate::error::Error;
use crate::job::Job;
use crate::observe::Observer;
use crate::url::strip_userinfo;
use partial::{Partial, sha256_of};
use protocol::transfer;

/// How a successful download ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The whole file was received in this run.
    Downloaded,
    /// A partial file from an earlier run was continued.
    Resumed,
    /// The final file was already there; nothing was downloaded.
    AlreadyComplete,
}

impl Status {
    /// The status as a machine-readable key: `downloaded`, `resumed`, `already_complete`.
    pub fn key(self) -> &'static str {
        match self {
            Status::Downloaded => "downloaded",
            Status::Resumed => "resumed",
            Status::AlreadyComplete => "already_complete",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Downloaded => "downloaded",
            Status::Resumed => "resumed",
            Status::AlreadyComplete => "already complete",
        })
    }
}

/// What one successful download produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The URL (redacted: never contains a password).
    pub url: String,
    /// The final path.
    pub path: PathBuf,
    /// Size of the final file.
    pub size: u64,
    /// Body bytes received over the network in this run (0 when already complete).
    pub received: u64,
    /// Wall time spent on this job.
    pub elapsed: Duration,
    /// How it ended.
    pub status: Status,
}

/// One download under way: what each step of it (protocol, body) needs to know and tell.
pub(crate) struct Download<'a> {
    pub job: &'a Job,
    /// The URL, redacted, for messages.
    pub url: String,
    pub stop: &'a Stop,
    pub observer: &'a dyn Observer,
    /// Body bytes taken off the wire in this run.
    pub received: u64,
    /// Whether the bytes on disk were thrown away and the file started again.
    pub restarted: bool,
    /// Restarts in the current attempt (see `protocol::MAX_RESTARTS`).
    pub restarts: u32,
}

impl Download<'_> {
    pub(crate) fn interrupted(&self) -> Error {
        Error::Interrupted {
            url: self.url.clone(),
        }
    }
}

/// Download `job` (see the module docs). `force` discards an existing file and any partial.
pub(crate) fn fetch(
    client: &Client,
    config: &Config,
    job: &Job,
    force: bool,
    stop: &Stop,
    observer: &dyn Observer,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    let url = job.display_url();
    let done = |size, received, status| Outcome {
        url: url.clone(),
        path: job.path.clone(),
        size,
        received,
        elapsed: start.elapsed(),
        status,
    };
    if stop.is_set() {
        return Err(Error::Interrupted { url });
    }
    if !force && let Some(size) = complete_file(job, &url)? {
        return Ok(done(size, 0, Status::AlreadyComplete));
    }
    let mut partial = Partial::open(&job.path, &url, stop)?;
    // Another run may have finished this file while we waited for its lock.
    if !force
        && partial.len == 0
        && let Some(size) = complete_file(job, &url)?
    {
        partial.discard()?;
        return Ok(done(size, 0, Status::AlreadyComplete));
    }
    let bare_url = strip_userinfo(&job.url).to_string();
    let stale = partial
        .meta
        .as_ref()
        .is_some_and(|m| m.url != bare_url || !m.resumable);
    if config.force {
        // The user said so: whatever is in the partial, another tool's bytes included, goes.
        // (Compare mode's fresh downloads discard only what fetchpool itself wrote.)
        partial.adopt();
    }
    if force || stale {
        partial.restart()?;
    }
    let kept = partial.len;
    if kept > 0 {
        log::debug!("{url}: {kept} bytes on disk from an earlier run");
    }
    let mut dl = Download {
        job,
        url: url.clone(),
        stop,
        observer,
        received: 0,
        restarted: false,
        restarts: 0,
    };
    if let Err(e) = fill(client, config, &mut dl, &mut partial) {
        // Keep a partial worth resuming; an empty or undecodable one is only litter.
        let useless = partial.len == 0 || partial.meta.as_ref().is_some_and(|m| !m.resumable);
        if useless {
            let _ = partial.discard();
        }
        return Err(e);
    }
    if let Some(expected) = &job.sha256 {
        let actual = partial.sha256()?;
        if actual != *expected {
            partial.discard()?;
            return Err(Error::ChecksumMismatch {
                url,
                expected: expected.clone(),
                actual,
            });
        }
    }
    let size = partial.len;
    partial.finish(&job.path)?;
    let status = if kept > 0 && !dl.restarted {
        Status::Resumed
    } else {
        Status::Downloaded
    };
    Ok(done(size, dl.received, status))
}

/// Bring the partial to the full file: attempts with backoff between them, each continuing
/// from the bytes on disk.
fn fill(
    client: &Client,
    config: &Config,
    dl: &mut Download,
    partial: &mut Partial,
) -> Result<(), Error> {
    let mut attempt = 0;
    loop {
        if dl.stop.is_set() {
            return Err(dl.interrupted());
        }
        dl.observer.attempt(dl.job, attempt + 1);
        match transfer(client, dl, partial) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < config.retries => {
                let wait = retry::backoff(
                    attempt,
                    config.retry_base,
                    config.retry_cap,
                    e.retry_after(),
                );
                dl.observer.retrying(dl.job, &e, wait);
                attempt += 1;
                log::debug!(
                    "{e}; retry {attempt}/{} in {wait:?} from byte {}",
                    config.retries,
                    partial.len
                );
                if !retry::sleep(wait, dl.stop) {
                    return Err(dl.interrupted());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The size of the file at the final path when it counts as complete: it exists and, when a
/// checksum is given, matches it. A mismatching file is downloaded again (and replaced).
fn complete_file(job: &Job, url: &str) -> Result<Option<u64>, Error> {
    // Not followed: a link at the final path would make another file count as this one.
    let meta = match fs::symlink_metadata(&job.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file(url, &job.path, e)),
    };
    if !meta.is_file() {
        let what = if meta.is_symlink() {
            "is a symbolic link; fetchpool neither follows nor replaces it"
        } else {
            "exists and is not a regular file"
        };
        return Err(Error::file(
            url,
            &job.path,
            io::Error::new(io::ErrorKind::IsADirectory, what),
        ));
    }
    if let Some(expected) = &job.sha256 {
        let actual = fs::File::open(&job.path)
            .and_then(sha256_of)
            .map_err(|e| Error::file(url, &job.path, e))?;
        if actual != *expected {
            log::debug!(
                "{}: existing file does not match its checksum; downloading again",
                job.path.display()
            );
            return Ok(None);
        }
    }
    Ok(Some(meta.len()))
}
