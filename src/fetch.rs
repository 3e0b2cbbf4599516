/*!
One URL to one file: `download_url`. This is where the promise "the file on disk is exactly the
file on the server, or it is not at the final path" is kept. Bytes go to a locked `.part`; a
resume asks `Range` + `If-Range` and checks `Content-Range` before writing a byte; anything the
server says that does not fit what is on disk restarts from zero instead of splicing; retries
continue from the bytes on disk; only a complete (and, if asked, checksummed) file is renamed.
*/

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ureq::Body;
use ureq::http::{HeaderMap, Response};

use crate::client::Client;
use crate::config::Config;
use crate::error::Error;
use crate::job::{Job, strip_userinfo};
use crate::partial::{Meta, Partial, sha256_of};
use crate::retry;

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

const BUF_SIZE: usize = 64 * 1024;

/// Download `job` (see the module docs). `force` discards an existing file and any partial.
pub(crate) fn fetch(
    client: &Client,
    config: &Config,
    job: &Job,
    force: bool,
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
    if config.cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted { url });
    }
    if !force && let Some(size) = complete_file(job)? {
        return Ok(done(size, 0, Status::AlreadyComplete));
    }
    let mut partial = Partial::open(&job.path)?;
    // Another run may have finished this file while we waited for its lock.
    if !force
        && partial.len == 0
        && let Some(size) = complete_file(job)?
    {
        partial.discard()?;
        return Ok(done(size, 0, Status::AlreadyComplete));
    }
    let bare_url = strip_userinfo(&job.url).to_string();
    let stale = partial
        .meta
        .as_ref()
        .is_some_and(|m| m.url != bare_url || !m.resumable);
    if force || stale {
        partial.restart()?;
    }
    let kept = partial.len;
    if kept > 0 {
        log::debug!("{url}: {kept} bytes on disk from an earlier run");
    }
    let mut received = 0;
    let mut restarted = false;
    if let Err(e) = fill(
        client,
        config,
        job,
        &mut partial,
        &mut received,
        &mut restarted,
    ) {
        // Keep a partial worth resuming; an empty one is only litter.
        if partial.len == 0 {
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
    let status = if kept > 0 && !restarted {
        Status::Resumed
    } else {
        Status::Downloaded
    };
    Ok(done(size, received, status))
}

/// Bring the partial to the full file: attempts with backoff between them, each continuing
/// from the bytes on disk.
fn fill(
    client: &Client,
    config: &Config,
    job: &Job,
    partial: &mut Partial,
    received: &mut u64,
    restarted: &mut bool,
) -> Result<(), Error> {
    let mut attempt = 0;
    loop {
        if config.cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted {
                url: job.display_url(),
            });
        }
        match transfer(client, job, partial, &config.cancel, received, restarted) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < config.retries => {
                let wait = retry::backoff(
                    attempt,
                    config.retry_base,
                    config.retry_cap,
                    e.retry_after(),
                );
                attempt += 1;
                log::debug!(
                    "{e}; retry {attempt}/{} in {wait:?} from byte {}",
                    config.retries,
                    partial.len
                );
                if !retry::sleep(wait, &config.cancel) {
                    return Err(Error::Interrupted {
                        url: job.display_url(),
                    });
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The size of the file at the final path when it counts as complete: it exists and, when a
/// checksum is given, matches it. A mismatching file is downloaded again (and replaced).
fn complete_file(job: &Job) -> Result<Option<u64>, Error> {
    let meta = match fs::metadata(&job.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&job.path, e)),
    };
    if !meta.is_file() {
        return Err(Error::io(
            &job.path,
            io::Error::new(
                io::ErrorKind::IsADirectory,
                "exists and is not a regular file",
            ),
        ));
    }
    if let Some(expected) = &job.sha256 {
        let actual = fs::File::open(&job.path)
            .and_then(sha256_of)
            .map_err(|e| Error::io(&job.path, e))?;
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

/// One request/response exchange that brings the partial to the full file, or fails.
/// A reply that does not fit the bytes on disk restarts the file from zero (at most once:
/// after a restart no Range is sent, so the next reply cannot disagree with the disk).
fn transfer(
    client: &Client,
    job: &Job,
    partial: &mut Partial,
    cancel: &AtomicBool,
    received: &mut u64,
    restarted: &mut bool,
) -> Result<(), Error> {
    let url = job.display_url();
    loop {
        let have = partial.len;
        let mut extra = Vec::new();
        if have > 0 {
            extra.push(("Range", format!("bytes={have}-")));
            if let Some(v) = partial.meta.as_ref().and_then(Meta::if_range) {
                extra.push(("If-Range", v.to_string()));
            }
        }
        let resp = client.get(&job.url, &extra)?;
        let status = resp.status().as_u16();
        match status {
            200 => {
                if have > 0 {
                    restart_from_zero(
                        partial,
                        restarted,
                        &url,
                        "200 to a Range request (range ignored or file changed)".into(),
                    )?;
                }
                let decoded = content_encoding(&url, resp.headers())?;
                let length = resp.body().content_length();
                let meta = meta_from(job, resp.headers(), length, !decoded);
                stream(resp, partial, 0, length, Some(meta), cancel, &url, received)?;
                return Ok(());
            }
            206 => {
                let raw = header(resp.headers(), "content-range").unwrap_or_default();
                let bad = || Error::BadContentRange {
                    url: url.clone(),
                    value: raw.to_string(),
                };
                let Some((first, last, total)) = parse_content_range(raw) else {
                    if have == 0 {
                        return Err(bad());
                    }
                    restart_from_zero(
                        partial,
                        restarted,
                        &url,
                        format!("unusable Content-Range {raw:?}"),
                    )?;
                    continue;
                };
                if let Some(why) = mismatch(partial, resp.headers(), first, last, total) {
                    if have == 0 {
                        return Err(bad());
                    }
                    restart_from_zero(partial, restarted, &url, why)?;
                    continue;
                }
                let length = last - first + 1;
                if resp.body().content_length().is_some_and(|n| n != length) {
                    return Err(bad());
                }
                log::debug!("{url}: 206 {raw}, continuing at byte {have}");
                if partial.meta.is_none() {
                    partial.set_meta(meta_from(job, resp.headers(), total, true))?;
                }
                stream(
                    resp,
                    partial,
                    have - first,
                    Some(length),
                    None,
                    cancel,
                    &url,
                    received,
                )?;
                match total {
                    // A server may answer with less than was asked: ask again for the rest.
                    Some(t) if partial.len < t => continue,
                    _ => return Ok(()),
                }
            }
            416 if have > 0 => {
                let raw = header(resp.headers(), "content-range").unwrap_or_default();
                let total = raw
                    .strip_prefix("bytes */")
                    .and_then(|t| t.trim().parse::<u64>().ok());
                let known = partial.meta.as_ref().and_then(|m| m.total);
                if total == Some(have) && known.is_none_or(|k| k == have) {
                    log::debug!("{url}: 416 with total {have}: the partial is complete");
                    return Ok(());
                }
                restart_from_zero(
                    partial,
                    restarted,
                    &url,
                    format!("416 with Content-Range {raw:?} for {have} bytes on disk"),
                )?;
            }
            _ => {
                let retry_after = header(resp.headers(), "retry-after")
                    .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                return Err(Error::Status {
                    url,
                    status,
                    retry_after,
                });
            }
        }
    }
}

fn restart_from_zero(
    partial: &mut Partial,
    restarted: &mut bool,
    url: &str,
    why: String,
) -> Result<(), Error> {
    log::debug!("{url}: {why}; restarting from zero");
    *restarted = true;
    partial.restart()
}

/// Why a 206 cannot continue the partial, if it cannot.
fn mismatch(
    partial: &Partial,
    headers: &HeaderMap,
    first: u64,
    last: u64,
    total: Option<u64>,
) -> Option<String> {
    let have = partial.len;
    if header(headers, "content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
        return Some("206 with a Content-Encoding".into());
    }
    if first > have || last < have || total.is_some_and(|t| last >= t) {
        return Some(format!(
            "206 range {first}-{last} does not continue byte {have}"
        ));
    }
    let meta = partial.meta.as_ref()?;
    if let (Some(t), Some(k)) = (total, meta.total)
        && t != k
    {
        return Some(format!("remote length changed from {k} to {t}"));
    }
    let etag = header(headers, "etag");
    if let (Some(now), Some(then)) = (etag, &meta.etag)
        && now != then
    {
        return Some(format!("ETag changed from {then} to {now}"));
    }
    let modified = header(headers, "last-modified");
    if let (None, Some(now), Some(then)) = (etag, modified, &meta.last_modified)
        && now != then
    {
        return Some(format!("Last-Modified changed from {then} to {now}"));
    }
    None
}

/// Whether ureq is decoding the body for us (gzip sent although identity was asked).
/// Encodings it cannot decode are refused rather than written as if they were the file.
fn content_encoding(url: &str, headers: &HeaderMap) -> Result<bool, Error> {
    match header(headers, "content-encoding").map(str::to_ascii_lowercase) {
        None => Ok(false),
        Some(e) if e == "identity" => Ok(false),
        Some(e) if e == "gzip" || e == "x-gzip" => Ok(true),
        Some(e) => Err(Error::UnsupportedEncoding {
            url: url.to_string(),
            encoding: e,
        }),
    }
}

fn meta_from(job: &Job, headers: &HeaderMap, total: Option<u64>, resumable: bool) -> Meta {
    Meta {
        url: strip_userinfo(&job.url).to_string(),
        etag: header(headers, "etag").map(str::to_string),
        last_modified: header(headers, "last-modified").map(str::to_string),
        total,
        resumable,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (first <= last).then_some((first, last, total))
}

/// Copy the body into the partial, dropping the first `skip` bytes (an overlap the server
/// sent again). A body shorter than `expected` is an error; the bytes written stay on disk.
///
/// `meta`, the validators of a version not yet recorded, is written before the first byte
/// that leaves the partial incomplete, so every partial that can outlive this call has its
/// sidecar. A body that arrives whole in its first chunk (most small files) never needs one:
/// that saves a file creation and an unlink per file, which dominate on many small files.
#[allow(clippy::too_many_arguments)]
fn stream(
    resp: Response<Body>,
    partial: &mut Partial,
    skip: u64,
    expected: Option<u64>,
    mut meta: Option<Meta>,
    cancel: &AtomicBool,
    url: &str,
    received: &mut u64,
) -> Result<(), Error> {
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut seen: u64 = 0;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted {
                url: url.to_string(),
            });
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(body_error(url, e)),
        };
        let drop = skip.saturating_sub(seen).min(n as u64) as usize;
        seen += n as u64;
        *received += n as u64;
        if let Some(m) = meta.take()
            && expected != Some(seen)
        {
            partial.set_meta(m)?;
        }
        partial.append(&buf[drop..n])?;
    }
    match expected {
        Some(exp) if seen < exp => Err(Error::Truncated {
            url: url.to_string(),
            got: seen,
            expected: exp,
        }),
        _ => Ok(()),
    }
}

/// ureq's body reader wraps its own errors in `io::Error`; unwrap them for a clear message.
fn body_error(url: &str, e: io::Error) -> Error {
    let source = match e.get_ref().is_some_and(|i| i.is::<ureq::Error>()) {
        true => match e.into_inner().map(|i| i.downcast::<ureq::Error>()) {
            Some(Ok(inner)) => *inner,
            _ => ureq::Error::Io(io::Error::other("body read failed")),
        },
        false => ureq::Error::Io(e),
    };
    Error::Transport {
        url: url.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_strictly() {
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 9, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range(""), None);
    }
}
