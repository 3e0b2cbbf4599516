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

use flate2::read::MultiGzDecoder;
use ureq::http::{HeaderMap, Response};

use crate::client::Client;
use crate::config::Config;
use crate::error::Error;
use crate::job::{Job, strip_userinfo};
use crate::partial::{Meta, Partial, sha256_of};
use crate::retry;
use crate::timing;

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
    if !force && let Some(size) = complete_file(job, &url)? {
        return Ok(done(size, 0, Status::AlreadyComplete));
    }
    let mut partial = Partial::open(&job.path, &url, &config.cancel)?;
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
    if force {
        // The user said so: whatever is in the partial, another tool's bytes included, goes.
        partial.adopt();
    }
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
        timing::attempt_started();
        match transfer(client, job, partial, &config.cancel, received, restarted) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < config.retries => {
                timing::attempt_retried();
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
fn complete_file(job: &Job, url: &str) -> Result<Option<u64>, Error> {
    let meta = match fs::metadata(&job.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file(url, &job.path, e)),
    };
    if !meta.is_file() {
        return Err(Error::file(
            url,
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

/// One request/response exchange, repeated while the server sends the file in pieces, that
/// brings the partial to the full file, or fails. A reply that does not fit the bytes on disk
/// restarts the file from zero (after a restart no Range is sent, so the next reply cannot
/// disagree with the disk: the number of requests stays bounded).
fn transfer(
    client: &Client,
    job: &Job,
    partial: &mut Partial,
    cancel: &AtomicBool,
    received: &mut u64,
    restarted: &mut bool,
) -> Result<(), Error> {
    let url = job.display_url();
    // Decoded bytes (an earlier attempt at a gzipped body) are never continued by a Range.
    if partial.meta.as_ref().is_some_and(|m| !m.resumable) {
        restart_from_zero(partial, restarted, &url, "decoded partial".into())?;
    }
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
                let gzip = gzipped(&url, resp.headers())?;
                // ureq's own decoding is off, so this is the length of the bytes as sent.
                let length = resp.body().content_length();
                let total = if gzip { None } else { length };
                let meta = meta_from(job, resp.headers(), total, !gzip);
                let body = Body {
                    skip: 0,
                    expected: length,
                    gzip,
                };
                return stream(resp, partial, body, Some(meta), cancel, &url, received);
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
                let length = last - first + 1;
                let why = mismatch(partial, resp.headers(), first, last, total).or_else(|| {
                    let n = resp.body().content_length().filter(|&n| n != length)?;
                    Some(format!(
                        "Content-Length {n} disagrees with Content-Range {raw:?}"
                    ))
                });
                if let Some(why) = why {
                    if have == 0 {
                        return Err(bad());
                    }
                    restart_from_zero(partial, restarted, &url, why)?;
                    continue;
                }
                // The total known when the download began governs until it completes.
                let total = total.or(partial.meta.as_ref().and_then(|m| m.total));
                log::debug!("{url}: 206 {raw}, continuing at byte {have}");
                if partial.meta.is_none() {
                    partial.set_meta(meta_from(job, resp.headers(), total, true))?;
                }
                let body = Body {
                    skip: have - first,
                    expected: Some(length),
                    gzip: false,
                };
                stream(resp, partial, body, None, cancel, &url, received)?;
                match total {
                    Some(t) if partial.len >= t => return Ok(()),
                    // Less than the whole file, or a total nobody knows: ask for the rest
                    // (a server that has no more says so with a 416).
                    _ => continue,
                }
            }
            416 if have > 0 => {
                let raw = header(resp.headers(), "content-range").unwrap_or_default();
                let total = raw
                    .strip_prefix("bytes */")
                    .and_then(|t| t.trim().parse::<u64>().ok());
                let known = partial.meta.as_ref().and_then(|m| m.total);
                let changed = partial
                    .meta
                    .as_ref()
                    .and_then(|m| validators_changed(m, resp.headers()));
                if total == Some(have) && known.is_none_or(|k| k == have) && changed.is_none() {
                    log::debug!("{url}: 416 with total {have}: the partial is complete");
                    return Ok(());
                }
                let why = changed.unwrap_or_else(|| {
                    format!("416 with Content-Range {raw:?} for {have} bytes on disk")
                });
                restart_from_zero(partial, restarted, &url, why)?;
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
    if let Some(k) = meta.total
        && (total.is_some_and(|t| t != k) || last >= k)
    {
        return Some(format!(
            "remote length changed from {k} (206 range {first}-{last}/{})",
            total.map_or("*".into(), |t| t.to_string())
        ));
    }
    validators_changed(meta, headers)
}

/// Which validator both sides have and disagree on, if any: every one is compared.
fn validators_changed(meta: &Meta, headers: &HeaderMap) -> Option<String> {
    if let (Some(now), Some(then)) = (header(headers, "etag"), &meta.etag)
        && now != then
    {
        return Some(format!("ETag changed from {then} to {now}"));
    }
    if let (Some(now), Some(then)) = (header(headers, "last-modified"), &meta.last_modified)
        && now != then
    {
        return Some(format!("Last-Modified changed from {then} to {now}"));
    }
    None
}

/// Whether the body is gzip (sent although identity was asked); fetchpool decodes it itself.
/// Encodings it cannot decode are refused rather than written as if they were the file.
fn gzipped(url: &str, headers: &HeaderMap) -> Result<bool, Error> {
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

/// How to take one response body: `skip` bytes the server sent again, `expected` bytes as
/// sent (Content-Length or the Content-Range span), and whether they are gzip to decode.
struct Body {
    skip: u64,
    expected: Option<u64>,
    gzip: bool,
}

/// A reader that counts the bytes as sent over the network, under any decoder.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A body reader that knows how many bytes it has taken off the wire.
trait Source: Read {
    fn wire(&self) -> u64;
}

impl<R: Read> Source for Counted<R> {
    fn wire(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Source for MultiGzDecoder<Counted<R>> {
    fn wire(&self) -> u64 {
        self.get_ref().count
    }
}

/// Copy one body into the partial. A body shorter than announced is an error and its bytes
/// stay on disk; one longer than announced is an error and what it wrote is taken back.
///
/// `meta`, the validators of a version not yet recorded, is written before the first byte
/// that leaves the partial incomplete, so every partial that can outlive this call has its
/// sidecar. A body that arrives whole in its first chunk (most small files) never needs one:
/// that saves a file creation and an unlink per file, which dominate on many small files.
fn stream(
    resp: Response<ureq::Body>,
    partial: &mut Partial,
    body: Body,
    meta: Option<Meta>,
    cancel: &AtomicBool,
    url: &str,
    received: &mut u64,
) -> Result<(), Error> {
    let wire = Counted {
        inner: resp.into_body().into_reader(),
        count: 0,
    };
    let start = partial.len;
    let result = if body.gzip {
        copy(
            &mut MultiGzDecoder::new(wire),
            partial,
            &body,
            meta,
            cancel,
            url,
            received,
        )
    } else {
        copy(&mut { wire }, partial, &body, meta, cancel, url, received)
    };
    if let Err(Error::TooLong { .. }) = &result {
        partial.truncate(start)?;
    }
    result
}

fn copy(
    src: &mut impl Source,
    partial: &mut Partial,
    body: &Body,
    mut meta: Option<Meta>,
    cancel: &AtomicBool,
    url: &str,
    received: &mut u64,
) -> Result<(), Error> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut seen: u64 = 0;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted {
                url: url.to_string(),
            });
        }
        let before = src.wire();
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(body_error(url, e, body.gzip)),
        };
        *received += src.wire() - before;
        if body.expected.is_some_and(|exp| src.wire() > exp) {
            return Err(Error::TooLong {
                url: url.to_string(),
                expected: body.expected.unwrap_or_default(),
            });
        }
        let drop = body.skip.saturating_sub(seen).min(n as u64) as usize;
        seen += n as u64;
        // A decoded body always gets its sidecar: it says "never resume these bytes".
        if let Some(m) = meta.take()
            && (body.gzip || body.expected != Some(src.wire()))
        {
            partial.set_meta(m)?;
        }
        partial.append(&buf[drop..n])?;
    }
    match body.expected {
        Some(exp) if src.wire() < exp => Err(Error::Truncated {
            url: url.to_string(),
            got: src.wire(),
            expected: exp,
        }),
        _ => Ok(()),
    }
}

/// ureq's body reader wraps its own errors in `io::Error`; unwrap them for a clear message.
/// Anything else under a gzip decoder is the decoder's: a cut stream (worth another attempt)
/// or bytes that are not gzip.
fn body_error(url: &str, e: io::Error, gzip: bool) -> Error {
    let source = match e.get_ref().is_some_and(|i| i.is::<ureq::Error>()) {
        true => match e.into_inner().map(|i| i.downcast::<ureq::Error>()) {
            Some(Ok(inner)) => *inner,
            _ => ureq::Error::Io(io::Error::other("body read failed")),
        },
        false if gzip => {
            return Error::Decode {
                url: url.to_string(),
                cut: e.kind() == io::ErrorKind::UnexpectedEof,
                reason: e.to_string(),
            };
        }
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
