/*!
Plain `http://` through an HTTP proxy in absolute form (`GET http://host/path HTTP/1.1`), as
curl and wget send it: the one proxy case ureq 3 gets wrong for us (it tunnels plain http
with `CONNECT host:80`, which squid's stock rules refuse).
*/

use std::fmt;

use base64::Engine as _;
use ureq::ProxyProtocol;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, Transport,
};

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
}
