/*!
One response body into the partial: counted as it comes off the wire (the lengths servers
announce are lengths of the bytes as sent), decoded when it is gzip, checked against the
announced length at both ends, and handed to a [`Sink`]: the partial's end, or one range of
a split download (which may stop taking bytes before the body ends).
*/

use std::cell::Cell;
use std::io::{self, Read};
use std::ops::{Deref, DerefMut};

use flate2::read::MultiGzDecoder;
use ureq::http::Response;

use super::Download;
use super::partial::{Meta, Partial};
use crate::error::Error;

/// Larger than ureq's read buffer (`client::INPUT_BUFFER`), so that every read takes all it
/// holds and its next `recv` starts at the front of an empty buffer.
const BUF_SIZE: usize = 256 * 1024;

thread_local! {
    /// Each worker's copy buffer, kept between bodies: a list of small files would otherwise
    /// allocate and zero a buffer per file (measured: 2.5 % of the small scenario's time).
    static SPARE: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

/// The calling thread's copy buffer for the length of one body; returned on drop.
struct Scratch(Box<[u8]>);

impl Scratch {
    fn take() -> Scratch {
        let buf = SPARE.take();
        Scratch(buf.unwrap_or_else(|| vec![0; BUF_SIZE].into_boxed_slice()))
    }
}

impl Deref for Scratch {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        SPARE.set(Some(std::mem::take(&mut self.0)));
    }
}

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

/// Where the bytes of a body go.
pub(super) trait Sink {
    /// Take `buf`, the next bytes of the file; `whole` says that the body has arrived
    /// entirely with them. Returns how many bytes were taken: fewer than `buf.len()` means
    /// the sink is full, and the body stops there.
    fn put(&mut self, buf: &[u8], whole: bool) -> Result<usize, Error>;
}

/// The partial's end, with the validators of a version not yet recorded.
struct Append<'a> {
    partial: &'a mut Partial,
    meta: Option<Meta>,
    gzip: bool,
}

impl Sink for Append<'_> {
    fn put(&mut self, buf: &[u8], whole: bool) -> Result<usize, Error> {
        // A decoded body always gets its sidecar: it says "never resume these bytes". A
        // whole body needs none in a partial created afresh with none written; in any other
        // a sidecar may be there, and it must describe the bytes.
        if let Some(m) = self.meta.take() {
            if self.gzip || !whole || !self.partial.needs_no_sidecar() {
                self.partial.set_meta(m)?;
            } else {
                self.partial.append_whole(buf)?;
                return Ok(buf.len());
            }
        }
        self.partial.append(buf)?;
        Ok(buf.len())
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
    let start = partial.len;
    let gzip = body.gzip;
    let mut sink = Append {
        partial,
        meta,
        gzip,
    };
    let result = stream_into(resp, &mut sink, body, dl);
    if let Err(Error::TooLong { .. }) = &result {
        partial.truncate(start)?;
    }
    result.map(|_| ())
}

/// Copy one body into `sink`, every chunk through the same loop (cancellation, counting,
/// progress). Returns true when the sink filled up before the body ended (the rest of the
/// body is left unread and its connection is not reused).
pub(super) fn stream_into(
    resp: Response<ureq::Body>,
    sink: &mut dyn Sink,
    body: Body,
    dl: &mut Download,
) -> Result<bool, Error> {
    let wire = Counted {
        inner: resp.into_body().into_reader(),
        count: 0,
    };
    // Bytes off the wire are counted once the body is done with: a decoder reads ahead (its
    // header, as soon as it is made) of what it hands out.
    if body.gzip {
        let mut src = MultiGzDecoder::new(wire);
        let r = copy(&mut src, sink, &body, dl);
        dl.received += src.wire();
        r
    } else {
        let mut src = wire;
        let r = copy(&mut src, sink, &body, dl);
        dl.received += src.wire();
        r
    }
}

fn copy(
    src: &mut impl Source,
    sink: &mut dyn Sink,
    body: &Body,
    dl: &mut Download,
) -> Result<bool, Error> {
    let url = dl.url.as_str();
    let mut buf = Scratch::take();
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
        let whole = !body.gzip && body.expected == Some(src.wire());
        let taken = sink.put(&buf[drop..n], whole)?;
        dl.observer.progressed(dl.job, taken as u64);
        if taken < n - drop {
            return Ok(true);
        }
    }
    match body.expected {
        Some(exp) if src.wire() < exp => Err(Error::Truncated {
            url: url.to_string(),
            got: src.wire(),
            expected: exp,
        }),
        _ => Ok(false),
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
    use crate::config::Stop;
    use crate::fetch::partial::temp_paths;
    use crate::fetch::partial::tests::version;

    /// A whole body written into a partial that has a sidecar (a run killed after recording
    /// version v, before its first byte) rewrites that sidecar first: otherwise a run killed
    /// in the middle of the write would leave bytes that the old sidecar vouches for.
    #[test]
    fn a_whole_body_beside_a_sidecar_records_its_own_version() {
        let dir = tempfile::tempdir().unwrap();
        let final_path = dir.path().join("f");
        let stop = Stop::default();
        let mut killed = Partial::open(&final_path, "u", &stop, &mut || {}).unwrap();
        killed.set_meta(version("v")).unwrap();
        drop(killed);
        let mut partial = Partial::open(&final_path, "u", &stop, &mut || {}).unwrap();
        assert!(!partial.fresh);
        let mut sink = Append {
            partial: &mut partial,
            meta: Some(version("w")),
            gzip: false,
        };
        assert_eq!(sink.put(b"abc", true).unwrap(), 3);
        let sidecar = std::fs::read_to_string(temp_paths(&final_path).meta).unwrap();
        assert!(
            sidecar.contains("\"w\"") && !sidecar.contains("\"v\""),
            "{sidecar}"
        );
        // Afresh, a whole body needs none.
        partial.finish(&final_path).unwrap();
        let other = dir.path().join("g");
        let mut partial = Partial::open(&other, "u", &stop, &mut || {}).unwrap();
        let mut sink = Append {
            partial: &mut partial,
            meta: Some(version("w")),
            gzip: false,
        };
        sink.put(b"abc", true).unwrap();
        assert!(!temp_paths(&other).meta.exists());
        partial.finish(&other).unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"abc");
    }
}
