/*!
Which proxy a URL goes through (`--proxy`, `--no-proxy`, and the environment variables curl
reads, with curl's precedence), and the one thing ureq 3 does not do for us: sending a plain
`http://` request to an HTTP proxy in absolute form (`GET http://host/path HTTP/1.1`).
*/

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use ureq::ProxyProtocol;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, Transport,
};
use url::Url;

use crate::error::Error;
use crate::job::redact;

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

/// Plain `http://` through an HTTP(S) proxy, in absolute form.
///
/// Why an adapter: ureq 3 sends every request through an HTTP proxy as a `CONNECT` tunnel,
/// plain http included (`CONNECT host:80`), and squid's stock rules refuse CONNECT to any
/// port but 443 (403), as do most corporate proxies; curl and wget send
/// `GET http://host/path` to the proxy instead (RFC 9112 §3.2.2), as ureq 2 did. ureq 3
/// offers no way to set the request target (ureq-proto writes the path only), but its
/// connector chain is pluggable. So this connector, first in the chain, takes over exactly
/// the case "http target + http(s) proxy": it opens the connection to the proxy itself (TLS
/// to an `https://` proxy comes from the rest of the chain), and the transport it returns
/// rewrites the request line of each request to the absolute URI and adds
/// `Proxy-Authorization`, which therefore exists only on this hop: it never reaches an
/// origin. HTTPS targets and SOCKS proxies are left to ureq (CONNECT, SOCKS), which is right
/// for them. Connections are pooled by ureq under (target, proxy), so keep-alive still works.
#[derive(Debug)]
pub(crate) struct AbsoluteFormConnector {
    /// The agent's config, which has no proxy: used to reach the proxy itself.
    pub(crate) direct: ureq::config::Config,
}

impl Connector<()> for AbsoluteFormConnector {
    type Out = Either<(), Box<dyn Transport>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        let http_proxy = matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https);
        if !http_proxy || details.needs_tls() {
            return Ok(None);
        }
        let authority = details
            .uri
            .authority()
            .ok_or(ureq::Error::ConnectionFailed)?;
        let origin = format!("http://{authority}");
        let addrs = details
            .resolver
            .resolve(proxy.uri(), &self.direct, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: proxy.uri(),
            addrs,
            config: &self.direct,
            request_level: false,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let inner = (details.run_connector)(&to_proxy)?;
        let auth = (proxy.username().is_some() || proxy.password().is_some()).then(|| {
            // ureq has already percent-decoded them, once.
            let pair = format!(
                "{}:{}",
                proxy.username().unwrap_or(""),
                proxy.password().unwrap_or("")
            );
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        log::debug!(
            "http://{authority} through proxy {} in absolute form",
            proxy.host()
        );
        Ok(Some(Either::B(Box::new(AbsoluteForm {
            inner,
            origin,
            auth,
            at_request_start: true,
        }))))
    }
}

/// A connection to an HTTP proxy on which each request line carries the absolute URI.
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host[:port]` of the target.
    origin: String,
    /// `Proxy-Authorization` value, for the proxy only.
    auth: Option<String>,
    /// The next bytes written begin a request (connection new, or a response was read).
    at_request_start: bool,
}

impl fmt::Debug for AbsoluteForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbsoluteForm")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if !std::mem::take(&mut self.at_request_start) {
            return self.inner.transmit_output(amount, timeout);
        }
        let head = &self.inner.buffers().output()[..amount];
        let Some(rewritten) = absolute_form(head, &self.origin, self.auth.as_deref()) else {
            return self.inner.transmit_output(amount, timeout);
        };
        let out = self.inner.buffers().output();
        if rewritten.len() > out.len() {
            return Err(ureq::Error::Io(std::io::Error::other(
                "request head too large for the proxy's absolute form",
            )));
        }
        out[..rewritten.len()].copy_from_slice(&rewritten);
        self.inner.transmit_output(rewritten.len(), timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        // Reading means a response; what is written after it is the next request.
        self.at_request_start = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }
}

/// `GET /p HTTP/1.1\r\n…` → `GET http://host/p HTTP/1.1\r\nProxy-Authorization: …\r\n…`,
/// or `None` when `head` does not start with an origin-form request line.
fn absolute_form(head: &[u8], origin: &str, auth: Option<&str>) -> Option<Vec<u8>> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let space = head[..line_end].iter().position(|&b| b == b' ')?;
    let method = &head[..space];
    if method.is_empty() || !method.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let target = &head[space + 1..line_end];
    if !target.starts_with(b"/") {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + origin.len() + 64);
    out.extend_from_slice(&head[..=space]);
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&head[space + 1..line_end + 2]);
    if let Some(auth) = auth {
        out.extend_from_slice(b"Proxy-Authorization: ");
        out.extend_from_slice(auth.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&head[line_end + 2..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn request_line_becomes_absolute_and_gains_proxy_auth() {
        let head = b"GET /a/b?c HTTP/1.1\r\nHost: h:8\r\n\r\n";
        let out = absolute_form(head, "http://h:8", Some("Basic eDp5")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET http://h:8/a/b?c HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\nHost: h:8\r\n\r\n"
        );
        let out = absolute_form(head, "http://h:8", None).unwrap();
        assert!(out.starts_with(b"GET http://h:8/a/b?c HTTP/1.1\r\nHost"));
        assert!(absolute_form(b"body bytes", "http://h", None).is_none());
        assert!(absolute_form(b"GET http://x/ HTTP/1.1\r\n\r\n", "http://h", None).is_none());
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
