/*!
One cookie jar for the whole run, shared by every worker: loaded from Netscape cookies.txt
files (what browser exporters, curl and wget write), fed by servers' `Set-Cookie`, saved at
the end. The rules (domain, path, secure, expiry) are cookie_store's; this file only speaks
the cookies.txt format, which neither cookie_store nor ureq's own jar reads or writes.
*/

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cookie_store::{CookieDomain, CookieExpiration, CookieStore};
use url::Url;

use crate::error::Error;

/// The run's cookies. Cookie values are secrets: nothing here logs them.
#[derive(Default)]
pub(crate) struct Jar {
    store: Mutex<CookieStore>,
    /// Whether a cookie was ever loaded or kept. Until then a request neither locks the
    /// store (one lock shared by every worker, twice per request) nor searches it.
    used: AtomicBool,
}

impl Jar {
    /// A jar holding the unexpired cookies of `files`.
    pub(crate) fn load(files: &[impl AsRef<Path>]) -> Result<Jar, Error> {
        let mut store = CookieStore::default();
        let now = unix_now();
        for path in files {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let mut loaded = 0;
            for (n, line) in text.lines().enumerate() {
                let bad = |reason: &str| Error::CookieFile {
                    path: path.to_path_buf(),
                    line: n + 1,
                    reason: reason.to_string(),
                };
                let Some(entry) = parse_line(line).map_err(bad)? else {
                    continue;
                };
                if entry.expires != 0 && entry.expires <= now {
                    continue;
                }
                let (url, set_cookie) =
                    entry.as_set_cookie(now).ok_or_else(|| bad("bad domain"))?;
                store
                    .parse(&set_cookie, &url)
                    .map_err(|e| bad(&format!("refused: {e}")))?;
                loaded += 1;
            }
            log::debug!("{loaded} cookies loaded from {}", path.display());
        }
        let used = AtomicBool::new(store.iter_any().next().is_some());
        Ok(Jar {
            store: Mutex::new(store),
            used,
        })
    }

    /// `name=value; …` for a request to `url`, or `None` when no cookie belongs to it.
    pub(crate) fn header_for(&self, url: &Url) -> Option<String> {
        if !self.used.load(Ordering::Acquire) {
            return None;
        }
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let mut header = String::new();
        for (name, value) in store.get_request_values(url) {
            if !header.is_empty() {
                header.push_str("; ");
            }
            let _ = write!(header, "{name}={value}");
        }
        (!header.is_empty()).then_some(header)
    }

    /// Keep the `Set-Cookie` values of a response from `url` (those the rules accept).
    pub(crate) fn store<'a>(&self, url: &Url, set_cookies: impl Iterator<Item = &'a str>) {
        let mut set_cookies = set_cookies.peekable();
        if set_cookies.peek().is_none() {
            return;
        }
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        for value in set_cookies {
            match store.parse(value, url) {
                Ok(_) => self.used.store(true, Ordering::Release),
                // The reason only: the cookie's value is a secret.
                Err(e) => log::debug!("cookie from {} not kept: {e}", crate::url::redact(url)),
            }
        }
    }

    /// Write the unexpired cookies, session cookies included (expiry 0, as curl writes
    /// them), in the cookies.txt format; the file is private to the user (mode 0600).
    pub(crate) fn save(&self, path: &Path) -> Result<usize, Error> {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::from(
            "# Netscape HTTP Cookie File\n# Written by fetchpool. It holds secrets: keep it private.\n\n",
        );
        let mut count = 0;
        for c in store.iter_unexpired() {
            let (domain, subdomains) = match &c.domain {
                CookieDomain::HostOnly(d) => (d.clone(), "FALSE"),
                CookieDomain::Suffix(d) => (format!(".{d}"), "TRUE"),
                _ => continue,
            };
            let expires = match &c.expires {
                CookieExpiration::AtUtc(t) => t.unix_timestamp().max(1),
                CookieExpiration::SessionEnd => 0,
            };
            let http_only = if c.http_only().unwrap_or(false) {
                "#HttpOnly_"
            } else {
                ""
            };
            let secure = if c.secure().unwrap_or(false) {
                "TRUE"
            } else {
                "FALSE"
            };
            let _ = writeln!(
                text,
                "{http_only}{domain}\t{subdomains}\t{}\t{secure}\t{expires}\t{}\t{}",
                String::from(&c.path),
                c.name(),
                c.value()
            );
            count += 1;
        }
        drop(store);
        write_private(path, text.as_bytes()).map_err(|e| Error::io(path, e))?;
        Ok(count)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file it creates: an existing file (a jar loaded and saved
    // under one name) is made private too, before any cookie is written into it.
    use std::os::unix::fs::PermissionsExt as _;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One line of cookies.txt.
#[derive(Debug, PartialEq)]
struct Entry<'a> {
    domain: &'a str,
    subdomains: bool,
    path: &'a str,
    secure: bool,
    /// Unix seconds; 0 for a session cookie.
    expires: i64,
    name: &'a str,
    value: &'a str,
    http_only: bool,
}

/// `Ok(None)` for comments and blank lines.
fn parse_line(line: &str) -> Result<Option<Entry<'_>>, &'static str> {
    let line = line.trim_end_matches('\r');
    let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
        Some(rest) => (rest, true),
        None => (line, false),
    };
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = line.split('\t').collect();
    // curl writes six fields for a cookie with an empty value.
    if !(6..=7).contains(&fields.len()) {
        return Err(
            "expected 7 tab-separated fields (domain, subdomains, path, secure, expiry, name, value)",
        );
    }
    let flag = |s: &str| match s.to_ascii_uppercase().as_str() {
        "TRUE" => Ok(true),
        "FALSE" => Ok(false),
        _ => Err("expected TRUE or FALSE"),
    };
    let domain = fields[0];
    if domain.trim_start_matches('.').is_empty() {
        return Err("empty domain");
    }
    if fields[5].is_empty() {
        return Err("empty cookie name");
    }
    Ok(Some(Entry {
        domain,
        subdomains: flag(fields[1])?,
        path: if fields[2].is_empty() { "/" } else { fields[2] },
        secure: flag(fields[3])?,
        expires: fields[4].parse().map_err(|_| "expiry is not a number")?,
        name: fields[5],
        value: fields.get(6).copied().unwrap_or(""),
        http_only,
    }))
}

impl Entry<'_> {
    /// The URL this cookie could have come from and the `Set-Cookie` that would have set it,
    /// so that cookie_store applies the same rules to a loaded cookie as to a received one.
    fn as_set_cookie(&self, now: i64) -> Option<(Url, String)> {
        let host = self.domain.trim_start_matches('.');
        let scheme = if self.secure { "https" } else { "http" };
        let url = Url::parse(&format!("{scheme}://{host}{}", self.path)).ok()?;
        url.host_str()?;
        let mut s = format!("{}={}; Path={}", self.name, self.value, self.path);
        // A leading dot also means "and subdomains" in files older tools wrote.
        if self.subdomains || self.domain.starts_with('.') {
            let _ = write!(s, "; Domain={host}");
        }
        if self.secure {
            s.push_str("; Secure");
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if self.expires > 0 {
            let _ = write!(s, "; Max-Age={}", self.expires - now);
        }
        Some((url, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_txt_lines_parse_and_comments_are_skipped() {
        assert_eq!(parse_line("# Netscape HTTP Cookie File"), Ok(None));
        assert_eq!(parse_line(""), Ok(None));
        let e = parse_line("#HttpOnly_.example.com\tTRUE\t/p\tTRUE\t0\tsid\tabc")
            .unwrap()
            .unwrap();
        assert!(e.http_only && e.subdomains && e.secure);
        assert_eq!(
            (e.domain, e.path, e.name, e.value),
            (".example.com", "/p", "sid", "abc")
        );
        assert_eq!(
            parse_line("h\tFALSE\t/\tFALSE\t0\tempty")
                .unwrap()
                .unwrap()
                .value,
            ""
        );
        assert!(parse_line("h\tmaybe\t/\tFALSE\t0\tn\tv").is_err());
        assert!(parse_line("h\tFALSE\t/\tFALSE\tsoon\tn\tv").is_err());
        assert!(parse_line("just some text").is_err());
    }

    #[test]
    fn jar_applies_domain_path_secure_and_expiry_rules() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.txt");
        let future = unix_now() + 3600;
        std::fs::write(
            &file,
            format!(
                "# Netscape HTTP Cookie File\n\
                 h.test\tFALSE\t/\tFALSE\t0\thost\t1\n\
                 .d.test\tTRUE\t/\tFALSE\t{future}\tsub\t2\n\
                 h.test\tFALSE\t/only\tFALSE\t0\tpath\t3\n\
                 h.test\tFALSE\t/\tTRUE\t0\tsecure\t4\n\
                 h.test\tFALSE\t/\tFALSE\t1000\texpired\t5\n"
            ),
        )
        .unwrap();
        let jar = Jar::load(&[&file]).unwrap();
        let get = |u: &str| jar.header_for(&Url::parse(u).unwrap());
        assert_eq!(get("http://h.test/x").as_deref(), Some("host=1"));
        assert_eq!(get("http://www.d.test/").as_deref(), Some("sub=2"));
        assert_eq!(get("http://d.test/").as_deref(), Some("sub=2"));
        let only = get("http://h.test/only/x").unwrap();
        assert!(only.contains("path=3") && only.contains("host=1"));
        assert!(get("https://h.test/").unwrap().contains("secure=4"));
        assert_eq!(get("http://other.test/"), None);
        assert_eq!(get("http://sub.h.test/"), None);

        jar.store(
            &Url::parse("http://h.test/login").unwrap(),
            ["new=6; Path=/", "evil=7; Domain=other.test"].into_iter(),
        );
        assert!(get("http://h.test/").unwrap().contains("new=6"));
        assert_eq!(get("http://other.test/"), None);

        let saved = dir.path().join("saved.txt");
        assert_eq!(jar.save(&saved).unwrap(), 5);
        let again = Jar::load(&[&saved]).unwrap();
        let back = |u: &str| again.header_for(&Url::parse(u).unwrap());
        assert_eq!(back("http://www.d.test/").as_deref(), Some("sub=2"));
        assert!(back("http://h.test/").unwrap().contains("new=6"));
        assert!(back("https://h.test/").unwrap().contains("secure=4"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.txt");
        std::fs::write(&file, "# ok\nh\tFALSE\t/\n").unwrap();
        let err = Jar::load(&[&file]).err().unwrap().to_string();
        assert!(err.contains("bad.txt") && err.contains(":2:"), "{err}");
    }
}
