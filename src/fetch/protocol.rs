/*!
One exchange of the resume protocol: ask for the bytes not yet on disk (`Range` + `If-Range`),
then decide from the status, `Content-Range`, the validators and the encoding whether the
reply continues the partial, ends it, or restarts it from zero. Nothing is written before
that decision.
*/

use std::time::SystemTime;

use ureq::http::HeaderMap;

use super::Download;
use super::body::{Body, stream};
use super::partial::{Meta, Partial};
use super::retry;
use super::split::{self, Halt};
use super::stamp::{Conditional, Version};
use crate::client::Client;
use crate::config::Config;
use crate::error::Error;
use crate::url::{name_from_disposition, strip_userinfo};
use url::Url;

/// One request/response exchange, repeated while the server sends the file in pieces, that
/// brings the partial to the full file, or fails. A reply that does not fit the bytes on disk
/// restarts the file from zero (after a restart no Range is sent, so the next reply cannot
/// disagree with the disk: the number of requests stays bounded).
///
/// When the download may split, the first request asks `Range: bytes=0-` to learn whether
/// the server honours Range; a 206 with a known length hands over to [`split`]. A split that
/// the server's replies do not fit falls back to one stream from zero, once.
pub(super) fn transfer(
    client: &Client,
    config: &Config,
    dl: &mut Download,
    partial: &mut Partial,
) -> Result<(), Error> {
    let (job, url) = (dl.job, dl.url.clone());
    dl.restarts = 0;
    // Decoded bytes (an earlier attempt at a gzipped body) are never continued by a Range.
    if partial.meta.as_ref().is_some_and(|m| !m.resumable) {
        restart_from_zero(partial, dl, "decoded partial".into())?;
    }
    // A split download's partial has holes: only its missing ranges can continue it, and
    // only when the bytes it counts as done are there.
    if partial
        .meta
        .as_ref()
        .is_some_and(|m| !m.todo.is_empty() && !m.done_is_on_disk(partial.len))
    {
        restart_from_zero(
            partial,
            dl,
            "split partial without its finished ranges".into(),
        )?;
    }
    if partial.meta.as_ref().is_some_and(|m| !m.todo.is_empty()) {
        let result = split::resume(client, config, dl, partial);
        split_ended(result, partial, dl)?;
        if partial.meta.as_ref().is_some_and(|m| m.todo.is_empty()) && partial.len > 0 {
            return Ok(());
        }
    }
    loop {
        let have = partial.len;
        // Asking for the whole file as a range tells whether the server honours Range.
        let probe = have == 0 && !dl.single && config.split > 1 && dl.helpers.board.is_some();
        let mut extra = Vec::new();
        if probe {
            extra.push(("Range", "bytes=0-".to_string()));
        }
        if have > 0 {
            extra.push(("Range", format!("bytes={have}-")));
            if let Some(v) = partial.meta.as_ref().and_then(Meta::if_range) {
                extra.push(("If-Range", v.to_string()));
            }
        } else if let Some(asked) = dl.conditional.as_ref().and_then(Conditional::header) {
            extra.push(asked);
        }
        // Update mode's first reply stands for this exchange while nothing is on disk.
        let resp = match dl.pending.take() {
            Some((resp, _slot)) if have == 0 => resp,
            _ => client.get_with(dl.source, &extra, &job.headers)?,
        };
        let status = resp.status().as_u16();
        if matches!(status, 200 | 206) {
            if job.server_name
                && let Some(name) =
                    header(resp.headers(), "content-disposition").and_then(name_from_disposition)
            {
                dl.server_name = Some(name);
            }
            dl.version = Version {
                etag: header(resp.headers(), "etag").map(str::to_string),
                last_modified: header(resp.headers(), "last-modified").map(str::to_string),
            };
        }
        match status {
            304 if have == 0 && dl.conditional.is_some() => {
                log::debug!("{url}: 304 Not Modified");
                dl.unchanged = true;
                return Ok(());
            }
            200 => {
                if have > 0 {
                    restart_from_zero(
                        partial,
                        dl,
                        "200 to a Range request (range ignored or file changed)".into(),
                    )?;
                }
                let gzip = gzipped(&url, resp.headers())?;
                // ureq's own decoding is off, so this is the length of the bytes as sent.
                let length = resp.body().content_length();
                let total = if gzip { None } else { length };
                let meta = meta_from(dl.source, resp.headers(), total, !gzip);
                let body = Body {
                    skip: 0,
                    expected: length,
                    gzip,
                };
                dl.observer.sized(job, total, 0);
                return stream(resp, partial, body, Some(meta), dl);
            }
            206 => {
                let raw = header(resp.headers(), "content-range").unwrap_or_default();
                let bad = || Error::BadContentRange {
                    url: url.clone(),
                    value: raw.to_string(),
                };
                let Some((first, last, total)) = parse_content_range(raw) else {
                    if probe {
                        log::debug!("{url}: unusable Content-Range {raw:?}; one stream");
                        dl.single = true;
                        continue;
                    }
                    if have == 0 {
                        return Err(bad());
                    }
                    restart_from_zero(partial, dl, format!("unusable Content-Range {raw:?}"))?;
                    continue;
                };
                let length = last - first + 1;
                let why = mismatch(partial, resp.headers(), first, last, total)
                    .or_else(|| other_mirror(partial, dl.source, resp.headers()))
                    .or_else(|| {
                        let n = resp.body().content_length().filter(|&n| n != length)?;
                        Some(format!(
                            "Content-Length {n} disagrees with Content-Range {raw:?}"
                        ))
                    });
                if let Some(why) = why {
                    if probe {
                        log::debug!("{url}: {why}; one stream");
                        dl.single = true;
                        continue;
                    }
                    if have == 0 {
                        return Err(bad());
                    }
                    restart_from_zero(partial, dl, why)?;
                    continue;
                }
                // The total known when the download began governs until it completes.
                let total = total.or(partial.meta.as_ref().and_then(|m| m.total));
                log::debug!("{url}: 206 {raw}, continuing at byte {have}");
                if let Some(t) = total
                    && split::worth_it(dl, config, have, t)
                {
                    let meta = match &partial.meta {
                        Some(m) => m.clone(),
                        None => meta_from(dl.source, resp.headers(), total, true),
                    };
                    let result =
                        split::start(client, config, dl, partial, meta, t, resp, first, length);
                    split_ended(result, partial, dl)?;
                    if partial.len > 0 {
                        return Ok(());
                    }
                    continue;
                }
                if partial.meta.is_none() {
                    partial.set_meta(meta_from(dl.source, resp.headers(), total, true))?;
                }
                let body = Body {
                    skip: have - first,
                    expected: Some(length),
                    gzip: false,
                };
                dl.observer.sized(job, total, have);
                stream(resp, partial, body, None, dl)?;
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
                    .and_then(|m| validators_changed(m, resp.headers()))
                    .or_else(|| other_mirror(partial, dl.source, resp.headers()));
                // Only a partial with our sidecar: another tool's bytes of the right length
                // are not known to be the file (only a 206 that continues them says so).
                let ours = partial.meta.is_some();
                if ours
                    && total == Some(have)
                    && known.is_none_or(|k| k == have)
                    && changed.is_none()
                {
                    log::debug!("{url}: 416 with total {have}: the partial is complete");
                    if let Some(m) = &partial.meta {
                        dl.version = Version {
                            etag: m.etag.clone(),
                            last_modified: m.last_modified.clone(),
                        };
                    }
                    return Ok(());
                }
                let why = changed.unwrap_or_else(|| {
                    if !ours {
                        return format!("416 for {have} bytes of unknown origin");
                    }
                    format!("416 with Content-Range {raw:?} for {have} bytes on disk")
                });
                restart_from_zero(partial, dl, why)?;
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

/// Restarts allowed in one attempt. A reply that does not fit the disk costs one restart; a
/// server that answers every request with a range that cannot continue the file (a fixed
/// 206, say) would otherwise be asked forever.
const MAX_RESTARTS: u32 = 3;

/// How a split ended, for the stream that follows: a complete file, an error to return, or
/// a reply the split could not use, after which the file starts again over one stream.
fn split_ended(
    result: Result<(), Halt>,
    partial: &mut Partial,
    dl: &mut Download,
) -> Result<(), Error> {
    match result {
        Ok(()) => Ok(()),
        Err(Halt::Failed(e)) => Err(e),
        Err(Halt::Fallback(why)) => {
            dl.single = true;
            restart_from_zero(partial, dl, format!("{why}; one stream"))
        }
    }
}

fn restart_from_zero(partial: &mut Partial, dl: &mut Download, why: String) -> Result<(), Error> {
    dl.restarts += 1;
    if dl.restarts > MAX_RESTARTS {
        return Err(Error::Unstable {
            url: dl.url.clone(),
            reason: why,
        });
    }
    log::debug!("{}: {why}; restarting from zero", dl.url);
    dl.restarted = true;
    // A server that made us start again is not asked for ranges again: no loop.
    dl.single = true;
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

/// Bytes that came from another mirror continue only when this source names the very same
/// version: the same validators exactly, at least one of them present. Mirrors seldom share
/// ETags, so this usually restarts: never a splice of two servers' maybe-different files.
fn other_mirror(partial: &Partial, source: &Url, headers: &HeaderMap) -> Option<String> {
    other_source(partial.meta.as_ref()?, source, headers)
}

/// [`other_mirror`] for the validators `meta` of bytes on disk (a split download's ranges
/// are held to it too).
pub(super) fn other_source(meta: &Meta, source: &Url, headers: &HeaderMap) -> Option<String> {
    if meta.url == strip_userinfo(source).as_str() {
        return None;
    }
    let (etag, modified) = (header(headers, "etag"), header(headers, "last-modified"));
    let same = (etag.is_some() || modified.is_some())
        && etag == meta.etag.as_deref()
        && modified == meta.last_modified.as_deref();
    (!same).then(|| "the partial came from another mirror with other validators".to_string())
}

/// Which validator both sides have and disagree on, if any: every one is compared.
pub(super) fn validators_changed(meta: &Meta, headers: &HeaderMap) -> Option<String> {
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

fn meta_from(source: &Url, headers: &HeaderMap, total: Option<u64>, resumable: bool) -> Meta {
    Meta {
        url: strip_userinfo(source).to_string(),
        etag: header(headers, "etag").map(str::to_string),
        last_modified: header(headers, "last-modified").map(str::to_string),
        total,
        resumable,
        todo: Vec::new(),
    }
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
pub(super) fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    // `last + 1` must not overflow: a length is counted from it.
    (first <= last && last < u64::MAX).then_some((first, last, total))
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
