/*!
Which proxy a URL goes through: `--proxy`, `--no-proxy`, and the environment variables curl
reads, with curl's precedence and `NO_PROXY` matching. How a plain `http://` request then
reaches an HTTP proxy is `absolute_form.rs`'s job.
*/

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::error::Error;
use crate::url::redact;

/// Where requests go: a proxy per scheme and the hosts that bypass it. Plain data; build it
/// with [`Proxies::from_env`] (what curl would use), [`Proxies::parse_proxy`] and
/// [`Proxies::parse_no_proxy`]. The default is no proxy at all.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// Proxy for `http://` URLs (`http`, `https`, `socks4`, `socks4a`, `socks5`, `socks5h`).
    pub http: Option<Url>,
    /// Proxy for `https://` URLs.
    pub https: Option<Url>,
    /// Hosts reached directly, in curl's `NO_PROXY` syntax: `*`, a host name (which also
    /// matches its subdomains; a leading dot is ignored), an IP address or CIDR range, each
    /// optionally with `:port`.
    pub no_proxy: Vec<String>,
}

impl fmt::Debug for Proxies {
    /// Proxy URLs may carry credentials: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http.as_ref().map(redact))
            .field("https", &self.https.as_ref().map(redact))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Proxies {
    /// The proxies curl would use, from `getenv`: `http_proxy` for http URLs (lower case
    /// only, as curl: a CGI program receives a request's `Proxy:` header as `HTTP_PROXY`),
    /// `https_proxy` then `HTTPS_PROXY` for https URLs, and for both, when those are unset,
    /// `all_proxy` then `ALL_PROXY`; `no_proxy` then `NO_PROXY`. An empty value means none.
    ///
    /// # Errors
    /// [`Error::InvalidProxy`] when a variable holds something that is not a proxy URL.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let first = |names: &[&'static str]| names.iter().find_map(|n| var(n).map(|v| (*n, v)));
        let parse = |found: Option<(&'static str, String)>| -> Result<Option<Url>, Error> {
            match found {
                Some((name, value)) => Self::parse_proxy(&value).map_err(|e| match e {
                    Error::InvalidProxy { proxy, reason } => Error::InvalidProxy {
                        proxy,
                        reason: format!("{reason} (from {name})"),
                    },
                    other => other,
                }),
                None => Ok(None),
            }
        };
        let all = ["all_proxy", "ALL_PROXY"];
        let http = first(&["http_proxy"]).or_else(|| first(&all));
        let https = first(&["https_proxy", "HTTPS_PROXY"]).or_else(|| first(&all));
        let no_proxy =
            first(&["no_proxy", "NO_PROXY"]).map_or(Vec::new(), |(_, v)| Self::parse_no_proxy(&v));
        Ok(Proxies {
            http: parse(http)?,
            https: parse(https)?,
            no_proxy,
        })
    }

    /// Parse a proxy as given to `--proxy` or in `http_proxy`: a URL, `http://` assumed when
    /// the scheme is missing; `user:password@` is sent to the proxy only. An empty string
    /// means no proxy.
    ///
    /// # Errors
    /// [`Error::InvalidProxy`] for a malformed URL or an unsupported scheme.
    pub fn parse_proxy(text: &str) -> Result<Option<Url>, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        // Name the culprit, never its password.
        let shown = match Url::parse(&with_scheme) {
            Ok(u) => redact(&u),
            Err(_) if text.contains('@') => "(a proxy URL with credentials)".to_string(),
            Err(_) => text.to_string(),
        };
        let invalid = |reason: String| Error::InvalidProxy {
            proxy: shown.clone(),
            reason,
        };
        let url = Url::parse(&with_scheme).map_err(|e| invalid(e.to_string()))?;
        match url.scheme() {
            "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h" => {}
            other => return Err(invalid(format!("unsupported proxy scheme {other:?}"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host".to_string()));
        }
        ureq::Proxy::new(url.as_str()).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(url))
    }

    /// Split a `NO_PROXY` list (commas and/or white space).
    pub fn parse_no_proxy(text: &str) -> Vec<String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// The proxy for `url`, or `None` to go direct.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        if bypassed(&self.no_proxy, url) {
            log::debug!("{} goes direct (no_proxy)", redact(url));
            return None;
        }
        Some(proxy)
    }
}

/// curl's `NO_PROXY` matching.
fn bypassed(list: &[String], url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let port = url.port_or_known_default();
    list.iter().any(|entry| {
        if entry == "*" {
            return true;
        }
        let (name, want_port) = split_port(entry);
        if want_port.is_some() && want_port != port {
            return false;
        }
        let name = name.trim_start_matches('.').trim_end_matches('.');
        if name.is_empty() {
            return false;
        }
        match (host.parse::<IpAddr>(), name.split_once('/')) {
            (Ok(ip), Some((net, bits))) => in_cidr(ip, net, bits),
            (Ok(ip), None) => name.parse::<IpAddr>().is_ok_and(|n| n == ip),
            (Err(_), _) => {
                host == name
                    || (host.len() > name.len()
                        && host.ends_with(name)
                        && host.as_bytes()[host.len() - name.len() - 1] == b'.')
            }
        }
    })
}

/// `host:port`, `[v6]:port`, or no port (a bare IPv6 address has several colons).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, tail)) => (ip, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The ureq form of a proxy URL, built once so that the connection pool (keyed by proxy)
/// reuses connections across jobs.
pub(crate) fn to_ureq(url: &Url) -> ureq::Proxy {
    ureq::Proxy::new(url.as_str()).expect("checked by Proxies::parse_proxy")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn env_follows_curl_precedence() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p = Proxies::from_vars(vars(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("https_proxy", "lower:2"),
            ("HTTPS_PROXY", "http://upper:3"),
            ("ALL_PROXY", "socks5h://all:4"),
            ("NO_PROXY", "a.example, .b.example"),
        ]))
        .unwrap();
        // HTTP_PROXY is ignored (httpoxy), so http falls back to ALL_PROXY.
        assert_eq!(p.http.unwrap().as_str(), "socks5h://all:4");
        assert_eq!(p.https.unwrap().as_str(), "http://lower:2/");
        assert_eq!(p.no_proxy, ["a.example", ".b.example"]);
        let p = Proxies::from_vars(vars(&[("http_proxy", "")])).unwrap();
        assert_eq!(p, Proxies::default());
        let err = Proxies::from_vars(vars(&[("https_proxy", "ftp://u:secret@h")])).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("https_proxy") && !msg.contains("secret"),
            "{msg}"
        );
    }

    #[test]
    fn no_proxy_matches_like_curl() {
        let list = |s: &str| Proxies::parse_no_proxy(s);
        assert!(bypassed(&list("*"), &url("http://anything/")));
        assert!(bypassed(&list("example.com"), &url("http://example.com/")));
        assert!(bypassed(
            &list("example.com"),
            &url("http://www.Example.com/")
        ));
        assert!(bypassed(&list(".example.com"), &url("http://example.com/")));
        assert!(!bypassed(
            &list("example.com"),
            &url("http://notexample.com/")
        ));
        assert!(bypassed(&list("127.0.0.1"), &url("http://127.0.0.1:8080/")));
        assert!(!bypassed(&list("127.0.0.1"), &url("http://127.0.0.2/")));
        assert!(bypassed(&list("10.0.0.0/8"), &url("http://10.1.2.3/")));
        assert!(bypassed(&list("::1"), &url("http://[::1]:81/")));
        assert!(bypassed(&list("[::1]:81"), &url("http://[::1]:81/")));
        assert!(bypassed(&list("h:8080"), &url("http://h:8080/")));
        assert!(!bypassed(&list("h:8080"), &url("http://h:8081/")));
        assert!(bypassed(&list("h:443"), &url("https://h/")));
        assert!(!bypassed(&list(""), &url("http://h/")));
    }

    #[test]
    fn proxies_pick_by_scheme_and_hide_credentials() {
        let p = Proxies {
            http: Proxies::parse_proxy("u:secret@p:3128").unwrap(),
            https: None,
            no_proxy: vec!["direct".into()],
        };
        assert_eq!(
            p.for_url(&url("http://h/")).unwrap().as_str(),
            "http://u:secret@p:3128/"
        );
        assert!(p.for_url(&url("https://h/")).is_none());
        assert!(p.for_url(&url("http://direct/")).is_none());
        assert!(!format!("{p:?}").contains("secret"));
        assert!(Proxies::parse_proxy("ftp://p").is_err());
        assert!(Proxies::parse_proxy("  ").unwrap().is_none());
    }
}
