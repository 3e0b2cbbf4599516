/*!
The HTTP side of one request: a single ureq `Agent` (configured once, cloned into workers so
keep-alive works across jobs) and fetchpool's own redirect policy. ureq follows redirects
itself but forwards custom headers to other hosts and allows https → http, so redirects are
followed here instead: bounded, http(s) only, no downgrade, credentials dropped off-host.
*/

use base64::Engine as _;
use percent_encoding::percent_decode_str;
use ureq::http::Response;
use ureq::{Agent, Body};
use url::Url;

use crate::config::Config;
use crate::error::Error;
use crate::job::{redact, strip_userinfo};

/// Headers that carry credentials: never sent to a host other than the one the user named.
const SECRET_HEADERS: [&str; 2] = ["authorization", "cookie"];

#[derive(Clone)]
pub(crate) struct Client {
    agent: Agent,
    headers: Vec<(String, String)>,
    max_redirects: u32,
}

impl Client {
    pub(crate) fn new(config: &Config) -> Self {
        let idle = config.jobs.max(4);
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(config.timeout))
            .timeout_per_read(Some(config.timeout))
            .timeout_per_write(Some(config.timeout))
            .user_agent(config.user_agent.as_str())
            // A Range applies to the encoded body: ask for the bytes as they are stored.
            .accept_encoding("identity")
            .max_idle_connections(idle * 2)
            .max_idle_connections_per_host(idle)
            .build()
            .into();
        Client {
            agent,
            headers: config.headers.clone(),
            max_redirects: config.max_redirects,
        }
    }

    /// GET `url` with `extra` headers (Range, If-Range), following redirects under the policy
    /// above. Returns the response of the last hop, whatever its status.
    pub(crate) fn get(&self, url: &Url, extra: &[(&str, String)]) -> Result<Response<Body>, Error> {
        let user_auth = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        let basic = basic_auth(url).filter(|_| !user_auth);
        let mut current = strip_userinfo(url);
        let mut hops = 0;
        loop {
            let on_origin = same_host(&current, url);
            let mut req = self.agent.get(current.as_str());
            for (name, value) in &self.headers {
                let secret = SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s));
                if on_origin || !secret {
                    req = req.header(name.as_str(), value.as_str());
                }
            }
            if let (true, Some(auth)) = (on_origin, &basic) {
                req = req.header("Authorization", auth.as_str());
            }
            for (name, value) in extra {
                req = req.header(*name, value.as_str());
            }
            log::debug!("GET {} {:?}", redact(&current), extra);
            let resp = req.call().map_err(|source| Error::Transport {
                url: redact(&current),
                source,
            })?;
            let status = resp.status().as_u16();
            log::debug!("{} -> {status}", redact(&current));
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

/// `Authorization: Basic …` from `user:password@` in the URL, percent-decoded.
fn basic_auth(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let user = percent_decode_str(url.username()).decode_utf8_lossy();
    let pass = percent_decode_str(url.password().unwrap_or("")).decode_utf8_lossy();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    Some(format!("Basic {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_comes_from_userinfo_and_userinfo_is_stripped() {
        let u = Url::parse("http://al%40ice:p%3Ass@h:8/x").unwrap();
        assert_eq!(basic_auth(&u).unwrap(), "Basic YWxAaWNlOnA6c3M=");
        assert_eq!(strip_userinfo(&u).as_str(), "http://h:8/x");
        assert!(basic_auth(&Url::parse("http://h/x").unwrap()).is_none());
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
