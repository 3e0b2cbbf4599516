/*!
Update mode: what a downloaded file remembers about the version it is, and the question
asked about it. Its modification time is the server's `Last-Modified` (as wget, and curl
`-R`), and its ETag is kept in an extended attribute of the file itself,
`user.fetchpool.etag`, so it can never collide with a user's file and moves with the file.
Where the file system has no user attributes, the modification time alone carries the
version (`If-Modified-Since`). The question goes out before any temporary file exists, so
an unchanged file costs one request and no directory operation.
*/

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use ureq::http::Response;
use url::Url;

use crate::client::Client;
use crate::client::limits::Slot;
use crate::config::Stop;
use crate::job::Job;
use crate::url::strip_userinfo;

/// The attribute's name; its value is `ETAG\nURL` (the URL without credentials), so an ETag
/// is only ever sent back for the URL it came from.
const ATTR: &CStr = c"user.fetchpool.etag";

/// The validators of the version a response carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Version {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What to ask a server about a file already at its final path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conditional {
    /// The ETag the file was downloaded with (for this URL).
    pub etag: Option<String>,
    /// The file's modification time.
    pub modified: Option<SystemTime>,
}

impl Conditional {
    /// What to ask about the file at `path`, whose metadata (taken without following a
    /// link: it is a regular file) is `meta`.
    pub(crate) fn of(path: &Path, url: &Url, meta: &Metadata) -> Conditional {
        let mut buf = [0u8; 1024];
        let etag = read_attr(path, &mut buf).and_then(|v| {
            let (etag, from) = v.split_once('\n')?;
            (!etag.is_empty() && is_url_without_userinfo(from, url)).then(|| etag.to_string())
        });
        let modified = meta.modified().ok();
        Conditional { etag, modified }
    }

    /// The request header that asks "send it only if it changed": `If-None-Match` when the
    /// ETag is known (exact), else `If-Modified-Since` (to the second).
    pub(crate) fn header(&self) -> Option<(&'static str, String)> {
        match (&self.etag, self.modified) {
            (Some(etag), _) => Some(("If-None-Match", etag.clone())),
            (None, Some(t)) => Some(("If-Modified-Since", httpdate::fmt_http_date(t))),
            (None, None) => None,
        }
    }
}

/// What the server said to the first conditional request.
pub(crate) enum Answer {
    /// 304: the file at the final path is the server's current version.
    Unchanged,
    /// Anything else: the reply (a new version's body, or an error status) for the
    /// download to take as its first exchange, with the host slot it holds.
    Reply(Response<ureq::Body>, Slot),
}

/// Ask whether `job`'s file (present at its final path, with no partial beside it) changed.
/// `None` when the question could not be asked or failed on the way: the download then asks
/// again, with its retries and mirrors.
pub(crate) fn ask(client: &Client, job: &Job, meta: &Metadata, stop: &Stop) -> Option<Answer> {
    let asked = Conditional::of(&job.path, &job.url, meta).header()?;
    let slot = client.limits().slot(&job.url, stop)?;
    match client.get_with(&job.url, &[asked], &job.headers) {
        Ok(r) if r.status().as_u16() == 304 => Some(Answer::Unchanged),
        Ok(r) => Some(Answer::Reply(r, slot)),
        Err(e) => {
            log::debug!("{e}; asking again with retries");
            None
        }
    }
}

/// Give the complete partial `file` the server's modification time and record its ETag.
/// Neither is part of the promise about the bytes: a failure is logged, not an error.
pub(crate) fn stamp(file: &File, version: &Version, url: &Url, shown: &str) {
    if let Some(t) = version
        .last_modified
        .as_deref()
        .and_then(|lm| httpdate::parse_http_date(lm).ok())
        && let Err(e) = file.set_modified(t)
    {
        log::debug!("{shown}: cannot set the modification time: {e}");
    }
    if let Some(etag) = &version.etag {
        let value = format!("{etag}\n{}", strip_userinfo(url));
        if let Err(e) = write_attr(file, &value) {
            log::debug!("{shown}: ETag not kept ({e}); updates will use the modification time");
        }
    }
}

fn write_attr(file: &File, value: &str) -> std::io::Result<()> {
    let name = ATTR;
    // SAFETY: a valid descriptor, a NUL-terminated name, and a buffer with its length.
    let rc = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether `text` is `url` without its credentials (copied only when it has some).
fn is_url_without_userinfo(text: &str, url: &Url) -> bool {
    if url.username().is_empty() && url.password().is_none() {
        text == url.as_str()
    } else {
        text == strip_userinfo(url).as_str()
    }
}

/// The attribute of the file at `path` (not followed if it is a link): read into `buf`, or,
/// when it is longer (an ETag with a long URL, a signed one say), into a string of its size.
fn read_attr<'b>(path: &Path, buf: &'b mut [u8]) -> Option<Cow<'b, str>> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let get = |into: &mut [u8]| {
        // SAFETY: NUL-terminated path and name, and a buffer with its length (a zero length
        // asks for the size and writes nothing).
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                ATTR.as_ptr(),
                into.as_mut_ptr().cast(),
                into.len(),
            )
        };
        usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
    };
    match get(buf) {
        Ok(n) => std::str::from_utf8(buf.get(..n)?).ok().map(Cow::Borrowed),
        Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {
            let mut long = vec![0; get(&mut []).ok()?];
            let n = get(&mut long).ok()?;
            long.truncate(n);
            String::from_utf8(long).ok().map(Cow::Owned)
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ETag kept with a URL longer than the first read's buffer (a signed URL, say) is
    /// read back all the same.
    #[test]
    fn an_etag_with_a_long_url_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let url = Url::parse(&format!("http://h/f?sig={}", "a".repeat(3000))).unwrap();
        let version = Version {
            etag: Some("\"v1\"".into()),
            last_modified: None,
        };
        stamp(&file, &version, &url, "f");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let asked = Conditional::of(&path, &url, &meta);
        assert_eq!(asked.etag.as_deref(), Some("\"v1\""));
        let other = Url::parse("http://h/g").unwrap();
        assert_eq!(Conditional::of(&path, &other, &meta).etag, None);
    }

    #[test]
    fn an_etag_belongs_to_its_url_with_or_without_credentials() {
        let bare = Url::parse("http://h/d/f.csv").unwrap();
        let with_login = Url::parse("http://me:secret@h/d/f.csv").unwrap();
        assert!(is_url_without_userinfo("http://h/d/f.csv", &bare));
        assert!(is_url_without_userinfo("http://h/d/f.csv", &with_login));
        assert!(!is_url_without_userinfo("http://h/d/g.csv", &bare));
        assert!(!is_url_without_userinfo(
            "http://me:secret@h/d/f.csv",
            &with_login
        ));
    }

    #[test]
    fn etag_is_asked_before_the_modification_time() {
        let t = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let both = Conditional {
            etag: Some("\"v1\"".into()),
            modified: Some(t),
        };
        assert_eq!(both.header(), Some(("If-None-Match", "\"v1\"".into())));
        let time = Conditional {
            etag: None,
            modified: Some(t),
        };
        assert_eq!(
            time.header(),
            Some(("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT".into()))
        );
    }
}
