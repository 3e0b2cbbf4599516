/*!
One response body into the partial: counted as it comes off the wire (the lengths servers
announce are lengths of the bytes as sent), decoded when it is gzip, checked against the
announced length at both ends, and written at the partial's end.
*/

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use ureq::http::Response;

use super::Download;
use super::partial::{Meta, Partial};
use crate::error::Error;

const BUF_SIZE: usize = 64 * 1024;

/// How to take one response body: `skip` bytes the server sent again, `expected` bytes as
/// sent (Content-Length or the Content-Range span), and whether they are gzip to decode.
pub(super) struct Body {
    pub skip: u64,
    pub expected: Option<u64>,
    pub gzip: bool,
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
pub(super) fn stream(
    resp: Response<ureq::Body>,
    partial: &mut Partial,
    body: Body,
    meta: Option<Meta>,
    dl: &mut Download,
) -> Result<(), Error> {
    let wire = Counted {
        inner: resp.into_body().into_reader(),
        count: 0,
    };
    let start = partial.len;
    // Bytes off the wire are counted once the body is done with: a decoder reads ahead (its
    // header, as soon as it is made) of what it hands out.
    let result = if body.gzip {
        let mut src = MultiGzDecoder::new(wire);
        let r = copy(&mut src, partial, &body, meta, dl);
        dl.received += src.wire();
        r
    } else {
        let mut src = wire;
        let r = copy(&mut src, partial, &body, meta, dl);
        dl.received += src.wire();
        r
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
    dl: &mut Download,
) -> Result<(), Error> {
    let url = dl.url.as_str();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut seen: u64 = 0;
    let mut paced: u64 = 0;
    loop {
        if dl.stop.is_set() {
            return Err(dl.interrupted());
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(body_error(url, e, body.gzip)),
        };
        // The run's rate budget is spent on the bytes as they come off the wire.
        let fresh = src.wire() - paced;
        paced += fresh;
        if !dl.limits.pace(fresh, dl.stop) {
            return Err(dl.interrupted());
        }
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
        dl.observer.progressed(dl.job, (n - drop) as u64);
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
