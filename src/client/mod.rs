/*!
The HTTP side of one request: a single ureq `Agent` (configured once, cloned into workers so
keep-alive works across jobs) and fetchpool's own redirect policy. ureq follows redirects
itself but forwards custom headers to other hosts and allows https → http, so redirects are
followed here instead: bounded, http(s) only, no downgrade, credentials dropped off-host.
The network settings each have a file: `tls` (what is trusted), `proxy` (where requests
go; `absolute_form` how plain http reaches an HTTP proxy), `cookies` (the run's jar),
`auth` (logins), `resolve` (name lookups, kept a minute), `tcp` (the connections).
*/

mod absolute_form;
pub(crate) mod auth;
pub(crate) mod cookies;
pub(crate) mod limits;
pub(crate) mod proxy;
mod resolve;
mod tcp;
pub(crate) mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ureq::Agent;
use ureq::http::Response;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector as _, RustlsConnector, SocksConnector,
};
use url::Url;

use crate::config::Config;
use crate::error::Error;
use crate::url::{redact, strip_userinfo};
use absolute_form::AbsoluteFormConnector;
use auth::Netrc;
use cookies::Jar;
use proxy::Proxies;

/// Headers that carry credentials: never sent to a host other than the one the user named.
const SECRET_HEADERS: [&str; 2] = ["authorization", "cookie"];

#[derive(Clone)]
pub(crate) struct Client {
    /// For http, and for https too when the trust store was set up front.
    agent: Agent,
    /// For https with the system's trust store, made at the first https request: reading
    /// the store (a hundred and more files) would cost every run tens of milliseconds, a
    /// list of plain http URLs included.
    secure: Arc<OnceLock<Result<Agent, (PathBuf, String)>>>,
    /// How to make an agent, for `secure`.
    recipe: Recipe,
    headers: Vec<(String, String)>,
    max_redirects: u32,
    proxies: Proxies,
    /// The ureq form of `proxies.http` / `proxies.https`, built once: the pool keys on it.
    ureq_proxies: (Option<ureq::Proxy>, Option<ureq::Proxy>),
    /// One jar for the run, shared by every clone (every worker).
    jar: Arc<Jar>,
    /// `Cookie` pairs given by the user (`-b name=value`), for the origin host only.
    user_cookies: Option<String>,
    /// `Authorization` from `--user`, for the origin host only.
    user_auth: Option<String>,
    netrc: Option<Arc<Netrc>>,
    insecure: bool,
    /// Per-host slots and the run's byte budget, shared by every clone.
    limits: limits::Limits,
}

/// The settings every agent of a client is made with.
#[derive(Clone)]
struct Recipe {
    timeout: std::time::Duration,
    user_agent: String,
    idle: usize,
    /// Host names looked up once a minute, shared by the client's agents (see resolve.rs).
    resolver: resolve::Cached,
}

/// ureq's read buffer per connection. Measured on 4 × 256 MiB over loopback to tmpfs (medians
/// of 7): ureq's default, 128 KiB, took 1.05 s and 1.93 s of CPU; 64 KiB (with the body
/// copied out in reads larger than it, see `fetch/body.rs`) 0.80 s and 1.46 s, level with
/// wget2. 32 KiB was slower again (0.88 s), 512 KiB no better and 8 times the memory.
/// It still holds any response head ureq accepts (its limit is 64 KiB too).
const INPUT_BUFFER: usize = 64 * 1024;

impl Recipe {
    fn agent(&self, tls: ureq::tls::TlsConfig) -> Agent {
        let Recipe {
            timeout,
            user_agent,
            idle,
            resolver,
        } = self;
        let agent_config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(*timeout))
            .timeout_per_read(Some(*timeout))
            .timeout_per_write(Some(*timeout))
            .user_agent(user_agent.as_str())
            // A Range applies to the encoded body: ask for the bytes as they are stored.
            .accept_encoding("identity")
            .input_buffer_size(INPUT_BUFFER)
            .max_idle_connections(idle * 2)
            .max_idle_connections_per_host(*idle)
            // ureq reads ALL_PROXY/HTTPS_PROXY/HTTP_PROXY by default, with its own precedence;
            // the proxy is chosen per request here instead (`Proxies::for_url`).
            .proxy(None)
            .tls_config(tls)
            .build();
        // ureq's default chain with the absolute-form connector in front (see proxy.rs) and
        // a TCP connector whose liveness check is one system call (see tcp.rs).
        let connector = AbsoluteFormConnector {
            direct: agent_config.clone(),
        }
        .chain(SocksConnector::default())
        .chain(ConnectProxyConnector::default())
        .chain(tcp::Tcp)
        .chain(RustlsConnector::default());
        Agent::with_parts(agent_config, connector, resolver.clone())
    }
}

impl Client {
    /// # Errors
    /// An unreadable CA file, cookie file or netrc file.
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        let recipe = Recipe {
            timeout: config.timeout,
            user_agent: config.user_agent.clone(),
            idle: config.jobs.max(4),
            resolver: resolve::Cached::default(),
        };
        // Trust given on the command line (--ca-certificate, --insecure) is read now, so that a
        // bad file is one fatal error; the store (the system's, or SSL_CERT_FILE/DIR, which
        // are only checked to exist here) waits for the first https request.
        let up_front = config.insecure || !config.ca_certificates.is_empty();
        for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
            if let Some(path) = std::env::var_os(var)
                && let Err(e) = std::fs::metadata(&path)
            {
                return Err(Error::CaCertificate {
                    path: PathBuf::from(path),
                    reason: format!("from {var}: {e}"),
                });
            }
        }
        let agent = if up_front {
            recipe.agent(tls::tls_config(&config.ca_certificates, config.insecure)?)
        } else {
            recipe.agent(ureq::tls::TlsConfig::default())
        };
        let secure = Arc::new(OnceLock::new());
        if up_front {
            let _ = secure.set(Ok(agent.clone()));
        }
        let user_cookies = config
            .cookies
            .iter()
            .map(|c| c.expose().trim().trim_end_matches(';').to_string())
            .filter(|c| !c.is_empty())
            .reduce(|a, b| format!("{a}; {b}"));
        let netrc = match &config.netrc {
            Some(path) => Some(Arc::new(Netrc::load(path)?)),
            None => None,
        };
        let p = &config.proxies;
        Ok(Client {
            agent,
            secure,
            recipe,
            headers: config.headers.clone(),
            max_redirects: config.max_redirects,
            ureq_proxies: (
                p.http.as_ref().map(proxy::to_ureq),
                p.https.as_ref().map(proxy::to_ureq),
            ),
            proxies: config.proxies.clone(),
            jar: Arc::new(Jar::load(&config.cookie_files)?),
            user_cookies,
            user_auth: config
                .user
                .as_ref()
                .map(|u| auth::from_user_option(u.expose())),
            netrc,
            insecure: config.insecure,
            limits: limits::Limits::new(config.max_per_host, config.limit_rate),
        })
    }

    /// The agent for `url`'s scheme (see `secure`).
    ///
    /// # Errors
    /// [`Error::CaCertificate`] when the store `SSL_CERT_FILE`/`SSL_CERT_DIR` name cannot be
    /// read (never a silent fall back to other certificates).
    fn agent_for(&self, url: &Url) -> Result<&Agent, Error> {
        if url.scheme() != "https" {
            return Ok(&self.agent);
        }
        let made = self.secure.get_or_init(|| {
            tls::tls_config(&[], false)
                .map(|tls| self.recipe.agent(tls))
                .map_err(|e| match e {
                    Error::CaCertificate { path, reason } => (path, reason),
                    other => (PathBuf::new(), other.to_string()),
                })
        });
        made.as_ref()
            .map_err(|(path, reason)| Error::CaCertificate {
                path: path.clone(),
                reason: reason.clone(),
            })
    }

    /// The run's politeness limits (see [`limits`]).
    pub(crate) fn limits(&self) -> &limits::Limits {
        &self.limits
    }

    /// Write the run's cookies to `path` (cookies.txt format); returns how many.
    pub(crate) fn save_cookies(&self, path: &Path) -> Result<usize, Error> {
        self.jar.save(path)
    }

    /// The `Authorization` the origin of `url` gets, by precedence: a `-H Authorization`
    /// (sent with the other headers, so none here), `user:password@` in the URL, `--user`,
    /// then the netrc entry of its host.
    fn origin_auth(&self, url: &Url) -> Option<String> {
        let header_given = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        if header_given {
            return None;
        }
        auth::from_userinfo(url)
            .or_else(|| self.user_auth.clone())
            .or_else(|| {
                let netrc = self.netrc.as_ref()?;
                netrc.authorization(url.host_str()?)
            })
    }

    /// GET `url` with `extra` headers (Range, If-Range), following redirects under the policy
    /// above. Returns the response of the last hop, whatever its status.
    /// `own` are a job's own headers (an input list's `header=`), treated as the run's
    /// headers are: secret ones and cookies sent to the URL's host only, none logged.
    pub(crate) fn get_with(
        &self,
        url: &Url,
        extra: &[(&str, String)],
        own: &[(String, String)],
    ) -> Result<Response<ureq::Body>, Error> {
        let origin_auth = self.origin_auth(url);
        let mut current = strip_userinfo(url);
        let mut hops = 0;
        loop {
            let on_origin = same_host(&current, url);
            let mut req = self.agent_for(&current)?.get(current.as_str());
            let via = self.proxies.for_url(&current).map(redact);
            let proxy = match via {
                Some(_) if current.scheme() == "http" => self.ureq_proxies.0.clone(),
                Some(_) => self.ureq_proxies.1.clone(),
                None => None,
            };
            if proxy.is_some() {
                req = req.config().proxy(proxy).build();
            }
            let mut cookies: Vec<String> = Vec::new();
            for (name, value) in self.headers.iter().chain(own) {
                let secret = SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s));
                if name.eq_ignore_ascii_case("cookie") {
                    if on_origin {
                        cookies.push(value.clone());
                    }
                } else if on_origin || !secret {
                    req = req.header(name.as_str(), value.as_str());
                }
            }
            if let (true, Some(auth)) = (on_origin, &origin_auth) {
                req = req.header("Authorization", auth.as_str());
            }
            if let (true, Some(c)) = (on_origin, &self.user_cookies) {
                cookies.push(c.clone());
            }
            // The jar decides by its own rules (domain, path, secure, expiry) on every hop.
            cookies.extend(self.jar.header_for(&current));
            if !cookies.is_empty() {
                req = req.header("Cookie", cookies.join("; "));
            }
            for (name, value) in extra {
                req = req.header(*name, value.as_str());
            }
            log::debug!("GET {} {:?}", redact(&current), extra);
            let resp = req
                .call()
                .map_err(|source| match tls::certificate_problem(&source) {
                    Some(reason) => Error::Certificate {
                        url: redact(&current),
                        reason,
                    },
                    // A connection that failed on the way to a proxy is the proxy's failure.
                    None => match &via {
                        Some(proxy) => Error::Proxy {
                            url: redact(&current),
                            proxy: proxy.clone(),
                            source,
                        },
                        None => Error::Transport {
                            url: redact(&current),
                            source,
                        },
                    },
                })?;
            let status = resp.status().as_u16();
            log::debug!("{} -> {status}", redact(&current));
            self.jar.store(
                &current,
                resp.headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            hops += 1;
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok());
            let next = next_hop(&current, status, location, hops, self.max_redirects).map_err(
                |reason| Error::Redirect {
                    url: redact(&current),
                    reason,
                },
            )?;
            log::debug!("redirect {status} to {}", redact(&next));
            if self.insecure && next.scheme() == "https" && !same_host(&next, &current) {
                // --insecure was asked for the hosts the user named; say so when it goes on
                // to apply to one they did not.
                log::warn!(
                    "--insecure: the certificate of {} (redirected from {}) is not verified either",
                    redact(&next),
                    redact(&current)
                );
            }
            current = strip_userinfo(&next);
        }
    }
}

/// Where redirect number `hop` from `current` goes, or why fetchpool refuses to follow it:
/// too many hops, no usable Location, a scheme other than http(s), https to http.
fn next_hop(
    current: &Url,
    status: u16,
    location: Option<&str>,
    hop: u32,
    max: u32,
) -> Result<Url, String> {
    if hop > max {
        return Err(format!("more than {max} redirects"));
    }
    let location = location.ok_or_else(|| format!("{status} without a usable Location"))?;
    let next = current
        .join(location)
        .map_err(|e| format!("bad Location {location:?}: {e}"))?;
    match next.scheme() {
        "http" | "https" => {}
        other => return Err(format!("to unsupported scheme {other:?}")),
    }
    if current.scheme() == "https" && next.scheme() == "http" {
        return Err(format!("https to http downgrade ({})", redact(&next)));
    }
    Ok(next)
}

fn same_host(a: &Url, b: &Url) -> bool {
    a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    /// Serves one `ok` per connection, then does `after` to it (with the connection still
    /// held); returns the URL and how many connections were accepted.
    fn one_reply_per_connection(
        after: fn(&mut std::net::TcpStream),
    ) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/f", listener.local_addr().unwrap())).unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .unwrap();
                after(&mut stream);
                held.push(stream);
            }
        });
        (url, accepted)
    }

    /// The liveness check skipped as a connection goes back to the pool (client/tcp.rs) is
    /// made before its next use: a connection the server closed, or on which it sent bytes
    /// nobody asked for, is not reused, and the next request goes out on a new one.
    #[test]
    fn a_pooled_connection_spoiled_while_idle_is_not_reused() {
        let closes: fn(&mut std::net::TcpStream) = |s| {
            s.shutdown(std::net::Shutdown::Both).unwrap();
        };
        let babbles: fn(&mut std::net::TcpStream) = |s| s.write_all(b"unasked").unwrap();
        for after in [closes, babbles] {
            let (url, accepted) = one_reply_per_connection(after);
            let client = Client::new(&Config::default()).unwrap();
            for _ in 0..3 {
                let mut resp = client.get_with(&url, &[], &[]).unwrap();
                assert_eq!(resp.body_mut().read_to_string().unwrap(), "ok");
                drop(resp);
                // What the server did reaches this side well before the next request.
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
        }
    }

    #[test]
    fn userinfo_is_stripped() {
        let u = Url::parse("http://al%40ice:p%3Ass@h:8/x").unwrap();
        assert_eq!(strip_userinfo(&u).as_str(), "http://h:8/x");
    }

    #[test]
    fn redirects_are_bounded_and_never_leave_http() {
        let https = Url::parse("https://h/a/b").unwrap();
        let http = Url::parse("http://h/a/b").unwrap();
        assert_eq!(
            next_hop(&http, 302, Some("../c"), 1, 10).unwrap().as_str(),
            "http://h/c"
        );
        assert!(
            next_hop(&https, 302, Some("http://h/x"), 1, 10)
                .unwrap_err()
                .contains("downgrade")
        );
        assert!(next_hop(&http, 302, Some("https://h/x"), 1, 10).is_ok());
        assert!(
            next_hop(&http, 302, Some("file:///etc/passwd"), 1, 10)
                .unwrap_err()
                .contains("scheme")
        );
        assert!(next_hop(&http, 302, Some("ftp://h/x"), 1, 10).is_err());
        assert!(
            next_hop(&http, 302, None, 1, 10)
                .unwrap_err()
                .contains("Location")
        );
        assert!(
            next_hop(&http, 302, Some("/x"), 11, 10)
                .unwrap_err()
                .contains("more than 10")
        );
    }

    #[test]
    fn same_host_compares_host_and_port() {
        let a = Url::parse("http://h/x").unwrap();
        assert!(same_host(&a, &Url::parse("http://h:80/y").unwrap()));
        assert!(!same_host(&a, &Url::parse("http://h:81/y").unwrap()));
        assert!(!same_host(&a, &Url::parse("http://g/x").unwrap()));
    }
}
