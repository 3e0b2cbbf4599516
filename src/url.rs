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

/// The URL with its password replaced by `***`; a user name given without a password (a
/// token, as in `https://TOKEN@host/`) is replaced as a whole.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    if url.password().is_some() {
        let _ = u.set_password(Some("***"));
    } else if !url.username().is_empty() {
        let _ = u.set_username("***");
    } else {
        return url.to_string();
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
    let _ = u.set_username("");
    let _ = u.set_password(None);
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

fn safe_component(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
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
