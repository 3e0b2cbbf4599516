/*!
One range of a split download over one connection: `Range: bytes=A-B` with `If-Range`, the
206 checked against the range asked for and the validators the download began with before a
byte is written, the body written in place. A reply that does not fit is never retried here:
it ends the split ([`Halt::Fallback`]) and the file starts again over one stream.
*/

use std::time::SystemTime;

use ureq::http::Response;

use super::SplitFile;
use crate::client::Client;
use crate::config::Config;
use crate::error::Error;
use crate::fetch::Download;
use crate::fetch::body::{Body, Sink, stream_into};
use crate::fetch::protocol::{header, other_source, parse_content_range, validators_changed};
use crate::fetch::retry;

/// Why a split download stopped before its last byte.
pub(crate) enum Halt {
    /// The server's reply does not fit the split (Range ignored, another range, another
    /// version, an encoding): start again over one stream.
    Fallback(String),
    /// A failure of the download itself (after its retries), or cancellation.
    Failed(Error),
}

/// Range `i` of a file as a body's destination: written in place, up to its end.
struct Slot<'a> {
    file: &'a SplitFile,
    i: usize,
}

impl Sink for Slot<'_> {
    fn put(&mut self, buf: &[u8], _whole: bool) -> Result<usize, Error> {
        self.file.put(self.i, buf)
    }
}

/// Fetch range `i` of `file` until it is complete or the file stops, retrying failures that
/// are worth it from the next missing byte. `first` is a reply already checked by the
/// caller: `(response, its first byte, its length)`.
pub(super) fn fetch(
    file: &SplitFile,
    i: usize,
    client: &Client,
    config: &Config,
    dl: &mut Download,
    mut first: Option<(Response<ureq::Body>, u64, u64)>,
) -> Result<(), Halt> {
    let mut attempt = 0;
    while let Some((pos, end)) = file.remaining(i) {
        let result = match first.take() {
            Some((resp, from, span)) => copy(file, i, resp, pos - from, span, dl),
            None => request(file, i, pos, end, client, dl),
        };
        match result {
            Ok(()) => {}
            Err(Halt::Failed(e)) if e.is_retryable() && attempt < config.retries => {
                log::debug!("{}: range {i} continues from byte {pos}", dl.url);
                if !retry::pause(config, dl, attempt, &e) {
                    return Err(Halt::Failed(dl.interrupted()));
                }
                attempt += 1;
            }
            Err(halt) => return Err(halt),
        }
    }
    Ok(())
}

/// Ask for `pos..end` and write what comes back, once the reply is known to be exactly those
/// bytes (or starts earlier: the overlap is skipped) of the same version.
fn request(
    file: &SplitFile,
    i: usize,
    pos: u64,
    end: u64,
    client: &Client,
    dl: &mut Download,
) -> Result<(), Halt> {
    let url = dl.url.clone();
    let mut extra = vec![("Range", format!("bytes={pos}-{}", end - 1))];
    if let Some(v) = file.meta.if_range() {
        extra.push(("If-Range", v.to_string()));
    }
    // The caller holds this range's slot on the host (`--max-per-host`).
    let resp = client
        .get_with(&file.source, &extra, &file.job.headers)
        .map_err(Halt::Failed)?;
    let status = resp.status().as_u16();
    let headers = resp.headers();
    match status {
        206 => {}
        200 => {
            return Err(Halt::Fallback(format!(
                "200 to Range {pos}-{} (range ignored or file changed)",
                end - 1
            )));
        }
        416 => return Err(Halt::Fallback(format!("416 to Range {pos}-{}", end - 1))),
        _ => {
            let retry_after = header(headers, "retry-after")
                .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
            return Err(Halt::Failed(Error::Status {
                url,
                status,
                retry_after,
            }));
        }
    }
    let raw = header(headers, "content-range").unwrap_or_default();
    let known = file.meta.total.unwrap_or_default();
    let why = match parse_content_range(raw) {
        None => Some(format!("unusable Content-Range {raw:?}")),
        Some((first, last, total)) => {
            if header(headers, "content-encoding")
                .is_some_and(|e| !e.eq_ignore_ascii_case("identity"))
            {
                Some("206 with a Content-Encoding".into())
            } else if first > pos || last < pos || last >= known {
                Some(format!(
                    "206 range {first}-{last} for Range {pos}-{}",
                    end - 1
                ))
            } else if total != Some(known) {
                Some(format!("206 total {raw:?}, the file had {known} bytes"))
            } else if resp
                .body()
                .content_length()
                .is_some_and(|n| n != last - first + 1)
            {
                Some(format!(
                    "Content-Length disagrees with Content-Range {raw:?}"
                ))
            } else {
                validators_changed(&file.meta, headers)
                    .or_else(|| other_source(&file.meta, &file.source, headers))
            }
        }
    };
    if let Some(why) = why {
        return Err(Halt::Fallback(why));
    }
    let (first, last, _) = parse_content_range(raw).unwrap_or_default();
    log::debug!("{url}: 206 {raw} for range {pos}-{}", end - 1);
    copy(file, i, resp, pos - first, last - first + 1, dl)
}

/// The checked body into range `i`, skipping `skip` bytes the server sent again.
fn copy(
    file: &SplitFile,
    i: usize,
    resp: Response<ureq::Body>,
    skip: u64,
    span: u64,
    dl: &mut Download,
) -> Result<(), Halt> {
    let body = Body {
        skip,
        expected: Some(span),
        gzip: false,
    };
    // `--limit-rate` is paced in the copy loop that every body goes through, this one too.
    stream_into(resp, &mut Slot { file, i }, body, dl)
        .map(|_| ())
        .map_err(Halt::Failed)
}
