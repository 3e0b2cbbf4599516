/*!
URLs as fetchpool uses them everywhere: parsing (http and https only), redaction (no password
or token ever reaches output, logs or reports), credentials taken off the wire form, and the
file name a URL gives. `job`, the HTTP client and `fetch` all use this one module.
*/

use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::Error;

/// The name used when a URL has no usable last path segment.
pub const DEFAULT_NAME: &str = "index.html";

/// Parse a URL and accept only http and https.
///
/// # Errors
/// [`Error::InvalidUrl`], naming the (redacted) URL.
pub fn parse_url(text: &str) -> Result<Url, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: redact_str(text),
        reason,
    };
    let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(invalid(format!("unsupported scheme {other:?}"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(url)
}

/// Parses the URLs of a list, which mostly share one scheme and host: the part after the
/// host is joined to the last URL with the same text before it, and only a URL with another
/// prefix is parsed whole. Parsing a host costs more than the rest of a URL (the `url`
/// crate runs it through IDNA), and it is the same host line after line.
#[derive(Default)]
pub(crate) struct ListUrls {
    /// `scheme://authority` exactly as written, and a URL parsed with it.
    last: Option<(String, Url)>,
}

impl ListUrls {
    /// What [`parse_url`] gives for `text`.
    pub(crate) fn parse(&mut self, text: &str) -> Result<Url, Error> {
        let Some((prefix, rest)) = split_origin(text) else {
            return parse_url(text);
        };
        if let Some((last, base)) = &self.last
            && last == prefix
            && let Ok(url) = base.join(rest)
        {
            return Ok(url);
        }
        let url = parse_url(text)?;
        self.last = Some((prefix.to_string(), url.clone()));
        Ok(url)
    }
}

/// `text` as `http(s)://authority` and an absolute path after it, when it is that plain:
/// the scheme and its two slashes first (`http:h/a://b` has its `://` in the path),
/// printable ASCII only (no space, no backslash, which the URL standard reads as a slash),
/// an authority, and a path that does not start with two slashes (which a join would read
/// as a host).
fn split_origin(text: &str) -> Option<(&str, &str)> {
    if !text.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return None;
    }
    let after_scheme = ["http://", "https://"].into_iter().find_map(|scheme| {
        let start = text.get(..scheme.len())?;
        start.eq_ignore_ascii_case(scheme).then_some(scheme.len())
    })?;
    let path = after_scheme + text[after_scheme..].find('/')?;
    let (prefix, rest) = text.split_at(path);
    // No authority (`http:///x` names host `x`), a ? or # before the first / (the end of
    // the authority): such URLs are parsed whole.
    let authority = &prefix[after_scheme..];
    if authority.is_empty() || authority.contains(['?', '#']) || rest.starts_with("//") {
        return None;
    }
    Some((prefix, rest))
}

/// The URL with its password replaced by `***`; a user name given without a password (a
/// token, as in `https://TOKEN@host/`) is replaced as a whole.
pub fn redact(url: &Url) -> String {
    if url.password().is_none() && url.username().is_empty() {
        // The common case, once or twice per file: no copy of the parsed URL.
        return url.as_str().to_string();
    }
    let mut u = url.clone();
    if url.password().is_some() {
        let _ = u.set_password(Some("***"));
    } else {
        let _ = u.set_username("***");
    }
    u.to_string()
}

/// `text` with the credentials of every URL in it hidden (for messages that quote what the
/// user typed, such as a usage error). Whatever sits between `://` and the last `@` of the
/// word becomes `***` (hiding a path's `@` too is the safe mistake).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        // A password may hold `/`, `?` or `#` unencoded (that is why such a URL does not
        // parse): the credentials end at the last `@` of the whole word, whatever precedes.
        let word = rest
            .find(|c: char| matches!(c, '\'' | '"') || c.is_whitespace())
            .unwrap_or(rest.len());
        if let Some(at) = rest[..word].rfind('@') {
            out.push_str("***");
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    out
}

/// The URL without `user:password@`: what goes on the wire (credentials travel as a header)
/// and what is recorded beside a partial.
pub(crate) fn strip_userinfo(url: &Url) -> Url {
    let mut u = url.clone();
    if url.password().is_some() || !url.username().is_empty() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u
}

/// Redact a URL that may not even parse.
pub(crate) fn redact_str(text: &str) -> String {
    match Url::parse(text) {
        Ok(u) => redact(&u),
        Err(_) => redact_text(text),
    }
}

/// The file name for a URL: its last path segment, percent-decoded and made safe to use as
/// one path component (no separators, no NUL or control characters, never `.` or `..`);
/// [`DEFAULT_NAME`] when empty.
pub fn name_from_url(url: &Url) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    let decoded = percent_decode_str(last).decode_utf8_lossy();
    safe_component(&decoded)
}

/// The URL's host and path as a relative path, as `wget -x` lays files out:
/// `host[:port]/dir/…/name`, every component made safe as in [`name_from_url`].
pub fn path_from_url(url: &Url) -> std::path::PathBuf {
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => DEFAULT_NAME.to_string(),
    };
    let mut path = std::path::PathBuf::from(safe_component(&host));
    let segments: Vec<&str> = url.path_segments().map_or(Vec::new(), Iterator::collect);
    if let Some((_, dirs)) = segments.split_last() {
        for dir in dirs.iter().filter(|d| !d.is_empty()) {
            path.push(safe_component(&percent_decode_str(dir).decode_utf8_lossy()));
        }
    }
    path.push(name_from_url(url));
    path
}

/// The file name a server gives in `Content-Disposition` (`filename*=UTF-8''…` preferred,
/// else `filename="…"`), reduced to its last component and made safe as in
/// [`name_from_url`]; `None` when it gives none that is usable.
pub fn name_from_disposition(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for part in value.split(';').map(str::trim) {
        let Some((key, val)) = part.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let mut pieces = val.trim().splitn(3, '\'');
                let charset = pieces.next()?;
                let encoded = pieces.nth(1)?;
                if charset.eq_ignore_ascii_case("utf-8") {
                    extended = percent_decode_str(encoded)
                        .decode_utf8()
                        .ok()
                        .map(|c| c.into_owned());
                }
            }
            "filename" => plain = Some(unquote(val.trim())),
            _ => {}
        }
    }
    let name = extended.or(plain)?;
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let safe = safe_component(last);
    (safe != DEFAULT_NAME || last == DEFAULT_NAME).then_some(safe)
}

/// A quoted-string's content (`\x` stands for `x`), or the token as it is.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

fn safe_component(name: &str) -> String {
    let unsafe_char = |c: char| c == '/' || c == '\\' || c.is_control();
    let mut s = if name
        .bytes()
        .all(|b| b.is_ascii() && !unsafe_char(char::from(b)))
    {
        // The usual name: nothing to replace.
        name.to_string()
    } else {
        name.chars()
            .map(|c| if unsafe_char(c) { '_' } else { c })
            .collect()
    };
    // Keep names within what every common file system accepts (255 bytes), on a char boundary.
    const MAX: usize = 200;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    let trimmed = s.trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        DEFAULT_NAME.to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list's URLs parse exactly as they do one by one, whatever came before them.
    #[test]
    fn list_urls_parse_as_single_urls_do() {
        let urls = [
            "http://h/a.csv",
            "http://h/b/../c%20d.csv?x=1#f",
            "http://h//x",
            "http://h/%2e%2e/y",
            "http://h/a@b/c",
            "http:///x",
            "http:///y",
            "http://h:80/z",
            "http://h:80/z/./w",
            "HTTP://H/Upper",
            "http://me:pw@h/secret",
            "http://h/a b",
            "http://h/a\\b",
            "http://h?q/x",
            "https://h/a",
            "http://h/é",
            "ftp://h/a",
            "http://h/a",
            "http://[::1]:8080/v6",
            "http://[::1]:8080/v6/2",
            "not a url",
            "http://h/end",
            // A `://` that is not the scheme's: these parse as http://h/a://b/c and so on.
            "http:h/a://b/c",
            "http:h/a://b/d",
            "http:/ex.com/r?u=https://x/y",
            "http:/ex.com/r?u=https://x/z",
            "https:ex.com/p/http://origin/f1",
            "https:ex.com/p/http://origin/f2",
            "http:h#://x/a",
            "http:h#://x/b",
            "Https://H/mixed",
            "Https://H/case",
        ];
        let mut list = ListUrls::default();
        for text in urls {
            let whole = parse_url(text).map(|u| u.to_string());
            let listed = list.parse(text).map(|u| u.to_string());
            match (whole, listed) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
                (a, b) => panic!("{text}: {a:?} vs {b:?}"),
            }
        }
    }

    fn name(u: &str) -> String {
        name_from_url(&Url::parse(u).unwrap())
    }

    #[test]
    fn names_are_single_safe_components() {
        assert_eq!(name("http://h/a/b/file.bin"), "file.bin");
        assert_eq!(name("http://h/a/b/"), DEFAULT_NAME);
        assert_eq!(name("http://h"), DEFAULT_NAME);
        assert_eq!(name("http://h/a%20b.txt?x=1"), "a b.txt");
        assert_eq!(name("http://h/x/%2e%2e"), DEFAULT_NAME);
        assert_eq!(
            name("http://h/x/..%2f..%2fetc%2fpasswd"),
            ".._.._etc_passwd"
        );
        assert_eq!(name("http://h/x/a%5cb"), "a_b");
        assert_eq!(name("http://h/x/a%00b%0a"), "a_b_");
        assert_eq!(name("http://h/%2fetc%2fpasswd"), "_etc_passwd");
    }

    #[test]
    fn kept_paths_are_host_and_safe_segments() {
        let p = |u: &str| path_from_url(&Url::parse(u).unwrap());
        assert_eq!(
            p("http://h/2023/data.csv"),
            std::path::Path::new("h/2023/data.csv")
        );
        assert_eq!(
            p("http://h:8080/a//b%2fc/"),
            std::path::Path::new("h:8080/a/b_c/index.html")
        );
        // Dot segments, encoded or not, are resolved by the URL parser: nothing climbs.
        assert_eq!(p("http://h/a/%2e%2e/%2E%2E/x"), std::path::Path::new("h/x"));
    }

    #[test]
    fn disposition_names_are_safe_last_components() {
        let n = name_from_disposition;
        assert_eq!(
            n("attachment; filename=\"r.csv\"").as_deref(),
            Some("r.csv")
        );
        assert_eq!(
            n("attachment; filename=\"x.bin\"; filename*=UTF-8''na%C3%AFve%20r.csv").as_deref(),
            Some("naïve r.csv")
        );
        assert_eq!(
            n("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(n("attachment; filename=\"..\"").as_deref(), None);
        assert_eq!(n("inline").as_deref(), None);
    }

    #[test]
    fn passwords_are_redacted_even_in_unparsable_urls() {
        let u = Url::parse("http://user:secret@h/x").unwrap();
        assert_eq!(redact(&u), "http://user:***@h/x");
        assert!(!redact_str("http://user:secret@h:99999/x").contains("secret"));
        for odd in ["http://user:pa?SECRET@h:1/x", "http://u:a/b#SECRET@h/x"] {
            assert!(!redact_str(odd).contains("SECRET"), "{}", redact_str(odd));
        }
        let token = Url::parse("https://ghp_TOKEN@h/x").unwrap();
        assert_eq!(redact(&token), "https://***@h/x");
        assert_eq!(
            redact_text("invalid value 'http://u:pw@h/x' for '-j': no; see https://a@b c://d"),
            "invalid value 'http://***@h/x' for '-j': no; see https://***@b c://d"
        );
    }
}
