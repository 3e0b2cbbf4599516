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
pub(crate) mod partials;
mod protocol;
pub(crate) mod retry;
pub(crate) mod split;
mod stamp;

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::client::limits::{Limits, Slot};
use crate::config::{Config, Stop};
use crate::error::Error;
use crate::job::Job;
use crate::observe::Observer;
use crate::url::{redact, strip_userinfo};
use partial::{Partial, sha256_of};
use protocol::transfer;
use split::Helpers;
use stamp::{Answer, Conditional, Version};
use ureq::http::Response;
use url::Url;

/// How a successful download ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The whole file was received in this run.
    Downloaded,
    /// A partial file from an earlier run was continued.
    Resumed,
    /// The final file was already there; nothing was downloaded.
    AlreadyComplete,
    /// Update mode: the server answered the conditional request with 304 Not Modified; the
    /// file at the final path was kept, no body was sent.
    Unchanged,
}

impl Status {
    /// The status as a machine-readable key: `downloaded`, `resumed`, `already_complete`,
    /// `unchanged`.
    pub fn key(self) -> &'static str {
        match self {
            Status::Downloaded => "downloaded",
            Status::Resumed => "resumed",
            Status::AlreadyComplete => "already_complete",
            Status::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Downloaded => "downloaded",
            Status::Resumed => "resumed",
            Status::AlreadyComplete => "already complete",
            Status::Unchanged => "unchanged",
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
    /// The URL asked now: the job's, or one of its mirrors.
    pub source: &'a Url,
    /// That URL, redacted, for messages.
    pub url: String,
    pub stop: &'a Stop,
    pub observer: &'a dyn Observer,
    /// Body bytes taken off the wire in this run.
    pub received: u64,
    /// Whether the bytes on disk were thrown away and the file started again.
    pub restarted: bool,
    /// Restarts in the current attempt (see `protocol::MAX_RESTARTS`).
    pub restarts: u32,
    /// Update mode: what the file at the final path was downloaded as, for a conditional
    /// request (sent only while nothing is on disk in the partial).
    pub conditional: Option<Conditional>,
    /// The server answered the conditional request with 304.
    pub unchanged: bool,
    /// The validators of the version the partial now holds, from the last response.
    pub version: Version,
    /// Update mode's first reply (not a 304), taken by the first exchange as its response,
    /// and the host slot it holds.
    pub pending: Option<(Response<ureq::Body>, Slot)>,
    /// The server's file name (`Content-Disposition`), when the job takes it.
    pub server_name: Option<String>,
    /// The run's per-host slots and byte budget.
    pub limits: &'a Limits,
    /// Who could take ranges of this file, if it splits.
    pub helpers: Helpers<'a>,
    /// One stream only: the split fell back, or this is a range of a split download.
    pub single: bool,
}

impl Download<'_> {
    pub(crate) fn interrupted(&self) -> Error {
        Error::Interrupted {
            url: self.url.clone(),
        }
    }
}

/// Download `job` (see the module docs). `force` discards an existing file and any partial.
/// With `helpers` from a pool, the file may be split into ranges that idle workers take.
pub(crate) fn fetch(
    client: &Client,
    config: &Config,
    job: &Job,
    force: bool,
    stop: &Stop,
    observer: &dyn Observer,
    helpers: Helpers,
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
    // Update mode checks a present file with the server; otherwise present means complete.
    let present = if force {
        None
    } else {
        complete_file(job, &url)?
    };
    if let Some(meta) = &present
        && !config.update
    {
        return Ok(done(meta.len(), 0, Status::AlreadyComplete));
    }
    let mut pending = None;
    if let Some(meta) = &present
        && !has_partial(job, helpers.partials)
    {
        observer.attempt(job, 1);
        match stamp::ask(client, job, meta, stop) {
            Some(Answer::Unchanged) => {
                log::debug!("{url}: 304 Not Modified; {} kept", job.path.display());
                return Ok(done(meta.len(), 0, Status::Unchanged));
            }
            Some(Answer::Reply(resp, slot)) => pending = Some((resp, slot)),
            None => {}
        }
    }
    // Another run may hold this file (its partial appeared after we looked): a reply asked
    // for before is not kept open, nor its host slot, while we wait for that run.
    let mut partial = Partial::open(&job.path, &url, stop, &mut || pending = None)?;
    if !partial.fresh {
        // Another run's partial, or a wait for its lock: what was asked before is stale, and
        // the file is asked about again below (or its partial continued).
        pending = None;
    }
    let mut conditional = None;
    if !force && partial.len == 0 && (present.is_some() || !partial.fresh) {
        // Another run may have finished (or updated) this file while we waited for its lock.
        match complete_file(job, &url)? {
            Some(meta) if !config.update => {
                partial.discard()?;
                return Ok(done(meta.len(), 0, Status::AlreadyComplete));
            }
            Some(meta) => conditional = Some(Conditional::of(&job.path, &job.url, &meta)),
            None => {}
        }
    }
    // A partial of another URL is stale; one of a mirror is continued only on exactly the
    // same validators (protocol.rs).
    let stale = partial.meta.as_ref().is_some_and(|m| {
        !m.resumable || !job.sources().any(|u| strip_userinfo(u).as_str() == m.url)
    });
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
        source: &job.url,
        url: url.clone(),
        stop,
        observer,
        received: 0,
        restarted: false,
        restarts: 0,
        conditional,
        unchanged: false,
        version: Version::default(),
        pending,
        server_name: None,
        limits: client.limits(),
        helpers,
        single: false,
    };
    if let Err(e) = fill(client, config, &mut dl, &mut partial) {
        // Keep a partial worth resuming; an empty or undecodable one is only litter.
        let useless = partial.len == 0 || partial.meta.as_ref().is_some_and(|m| !m.resumable);
        if useless {
            let _ = partial.discard();
        }
        return Err(e);
    }
    if dl.unchanged {
        partial.discard()?;
        let size = complete_file(job, &url)?.map_or(0, |m| m.len());
        log::debug!("{url}: 304 Not Modified; {} kept", job.path.display());
        return Ok(done(size, 0, Status::Unchanged));
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
    // The server's modification time, and what a later update asks with.
    stamp::stamp(partial.file(), &dl.version, &job.url, &url);
    let status = if kept > 0 && !dl.restarted {
        Status::Resumed
    } else {
        Status::Downloaded
    };
    let path = match dl.server_name.take() {
        Some(name) => place_server_named(job, partial, &name, &url)?,
        None => {
            partial.finish(&job.path)?;
            job.path.clone()
        }
    };
    Ok(Outcome {
        path,
        ..done(size, dl.received, status)
    })
}

/// `--content-disposition`: the complete file takes the server's name beside the planned
/// path, unless a file has that name already. Then, when that file holds the same bytes
/// (a rerun), the download is dropped and that file reported; otherwise the planned name
/// (reserved for this job in the plan) is used and the clash logged. Never a replacement.
fn place_server_named(
    job: &Job,
    mut partial: Partial,
    name: &str,
    url: &str,
) -> Result<PathBuf, Error> {
    let named = job.path.with_file_name(name);
    if named == job.path {
        partial.finish(&job.path)?;
        return Ok(named);
    }
    if partial.finish_new(&named)? {
        return Ok(named);
    }
    let same = fs::File::open(&named)
        .and_then(sha256_of)
        .is_ok_and(|theirs| partial.sha256().is_ok_and(|ours| ours == theirs));
    if same {
        partial.discard()?;
        return Ok(named);
    }
    log::warn!(
        "{url}: the server names it {name:?}, but {} exists; saved as {}",
        named.display(),
        job.path.display()
    );
    partial.finish(&job.path)?;
    Ok(job.path.clone())
}

/// Bring the partial to the full file: attempts with backoff between them, each continuing
/// from the bytes on disk. With mirrors, a failed source hands over to the next one at once;
/// once every source has failed in a row, the usual backoff and retry count apply.
fn fill<'a>(
    client: &Client,
    config: &Config,
    dl: &mut Download<'a>,
    partial: &mut Partial,
) -> Result<(), Error> {
    let sources: Vec<&'a Url> = dl.job.sources().collect();
    let (mut at, mut failed_in_row) = (0, 0);
    // Update mode's first question, when its reply is pending, was attempt 1.
    let (mut attempt, mut tries) = (0, u32::from(dl.pending.is_some()));
    loop {
        if dl.stop.is_set() {
            return Err(dl.interrupted());
        }
        // The slot is held for the whole exchange and given back before any backoff.
        let slot = match dl.pending.as_mut().map(|(_, slot)| std::mem::take(slot)) {
            Some(asked) => asked,
            None => {
                tries += 1;
                dl.observer.attempt(dl.job, tries);
                match dl.limits.slot(dl.source, dl.stop) {
                    Some(s) => s,
                    None => return Err(dl.interrupted()),
                }
            }
        };
        let result = transfer(client, config, dl, partial);
        drop(slot);
        let e = match result {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if sources.len() > 1 && another_source_may_help(&e) {
            at = (at + 1) % sources.len();
            dl.source = sources[at];
            dl.url = redact(sources[at]);
            failed_in_row += 1;
            if failed_in_row < sources.len() {
                log::debug!("{e}; trying mirror {}", dl.url);
                continue;
            }
        }
        failed_in_row = 0;
        if !(e.is_retryable() && attempt < config.retries) {
            return Err(e);
        }
        log::debug!("{}: {} bytes on disk to continue from", dl.url, partial.len);
        if !retry::pause(config, dl, attempt, &e) {
            return Err(dl.interrupted());
        }
        attempt += 1;
    }
}

/// Whether a failure is the source's (its status, its connection, what it sent), which
/// another mirror may not share; not one of ours (the disk, a stop).
fn another_source_may_help(e: &Error) -> bool {
    e.is_retryable()
        || matches!(
            e,
            Error::Status { .. }
                | Error::Transport { .. }
                | Error::Certificate { .. }
                | Error::TooLong { .. }
                | Error::BadContentRange { .. }
                | Error::Decode { .. }
                | Error::UnsupportedEncoding { .. }
        )
}

/// Whether a `.part` sits beside the final path (update mode asks first only without one: a
/// partial is a newer version under way, continued by its own validators); from the run's
/// readings of its directories when it has them.
fn has_partial(job: &Job, partials: Option<&partials::Partials>) -> bool {
    let part = partial::part_path(&job.path);
    match partials {
        Some(partials) => partials.exist(&part),
        None => partials::exists(&part),
    }
}

/// The file at the final path (its metadata) when it counts as complete: it exists and, when
/// a checksum is given, matches it. A mismatching file is downloaded again (and replaced).
fn complete_file(job: &Job, url: &str) -> Result<Option<fs::Metadata>, Error> {
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
    Ok(Some(meta))
}
