/*!
Host names looked up once a minute per host, not once per request.

ureq resolves the host before every request, even one that goes out on a pooled
connection: for a list of 2000 files on one host, 2000 calls to `getaddrinfo` (each a read of
`/etc/hosts` and `nsswitch.conf`, and a DNS query where no local cache answers). Like curl,
whose DNS cache keeps an answer for 60 seconds, the run keeps each host's addresses for a
minute after it looked them up; a failed lookup is not kept, so the next request asks again.
As in curl, an answer is kept for its minute even when connecting to its addresses fails
(a retry within the minute tries the same addresses). Both agents of a client (plain and
TLS) share one cache.
*/

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long an answer is used (curl's default DNS cache timeout).
const KEEP: Duration = Duration::from_secs(60);

/// A resolver that remembers what `inner` answered, per scheme and authority as written.
pub(crate) struct Cached<R = DefaultResolver> {
    inner: Arc<R>,
    keep: Duration,
    answers: Arc<RwLock<Answers>>,
}

/// Not the answers: their keys may carry a proxy's credentials.
impl<R> std::fmt::Debug for Cached<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached").field("keep", &self.keep).finish()
    }
}

/// Each authority's last answer, keyed by the authority as written (`host`, `host:port`,
/// with any credentials: `h` and `h:80` are two entries), one map per default port (`http`,
/// `https`: an authority without a port means a different port in each).
#[derive(Default)]
struct Answers {
    by_scheme: [HashMap<Box<str>, Answer>; 2],
    /// Stale answers are dropped when a map reaches this size (then twice what is left, so
    /// that a run over many hosts sweeps now and then, not at every new host).
    sweep_at: [usize; 2],
}

/// Maps smaller than this are never swept.
const SWEEP_FROM: usize = 64;

#[derive(Debug)]
struct Answer {
    at: Instant,
    addrs: ResolvedSocketAddrs,
}

impl<R> Clone for Cached<R> {
    fn clone(&self) -> Self {
        Cached {
            inner: Arc::clone(&self.inner),
            keep: self.keep,
            answers: Arc::clone(&self.answers),
        }
    }
}

impl Default for Cached {
    fn default() -> Self {
        Cached::new(DefaultResolver::default(), KEEP)
    }
}

impl<R: Resolver> Cached<R> {
    fn new(inner: R, keep: Duration) -> Self {
        Cached {
            inner: Arc::new(inner),
            keep,
            answers: Arc::default(),
        }
    }
}

impl<R: Resolver> Resolver for Cached<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // Anything unusual (no authority, another scheme) is the inner resolver's to judge.
        let (Some(authority), Some(scheme)) = (uri.authority(), uri.scheme_str()) else {
            return self.inner.resolve(uri, config, timeout);
        };
        let map = match scheme {
            "http" => 0,
            "https" => 1,
            _ => return self.inner.resolve(uri, config, timeout),
        };
        let key = authority.as_str();
        let fresh = |a: &Answer| a.at.elapsed() < self.keep;
        if let Some(answer) = self.read().by_scheme[map].get(key).filter(|a| fresh(a)) {
            return Ok(answer.addrs.clone());
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut answers = self.answers.write().unwrap_or_else(|e| e.into_inner());
        let Answers {
            by_scheme,
            sweep_at,
        } = &mut *answers;
        // Forget what went stale, so that a run over many hosts keeps only the recent ones.
        if by_scheme[map].len() >= sweep_at[map].max(SWEEP_FROM) {
            by_scheme[map].retain(|_, a| fresh(a));
            sweep_at[map] = 2 * by_scheme[map].len();
        }
        by_scheme[map].insert(
            key.into(),
            Answer {
                at: Instant::now(),
                addrs: addrs.clone(),
            },
        );
        Ok(addrs)
    }
}

impl<R> Cached<R> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Answers> {
        self.answers.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers 127.0.0.1 with the URI's port, or fails for hosts named `nowhere`; counts calls.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let authority = uri.authority().unwrap();
            if authority.host() == "nowhere" {
                return Err(ureq::Error::HostNotFound);
            }
            let port = authority.port_u16().unwrap_or(80);
            let mut addrs = self.empty();
            addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
            Ok(addrs)
        }
    }

    fn ask(cache: &Cached<Counting>, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        let addrs = cache.resolve(&uri, &Config::default(), NextTimeout::default())?;
        Ok(addrs.to_vec())
    }

    fn calls(cache: &Cached<Counting>) -> usize {
        cache.inner.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_host_is_looked_up_once_while_its_answer_is_fresh() {
        let cache = Cached::new(Counting::default(), KEEP);
        let first = ask(&cache, "http://example.test:8080/a").unwrap();
        let again = ask(&cache, "http://example.test:8080/b").unwrap();
        assert_eq!(first, vec![SocketAddr::from(([127, 0, 0, 1], 8080))]);
        assert_eq!(again, first);
        assert_eq!(calls(&cache), 1);
        // Another port, or the other scheme with the same authority, is another question.
        let other_port = ask(&cache, "http://example.test:8081/a").unwrap();
        assert_eq!(other_port, vec![SocketAddr::from(([127, 0, 0, 1], 8081))]);
        ask(&cache, "https://example.test:8080/a").unwrap();
        assert_eq!(calls(&cache), 3);
        // A clone (the other agent of the client) shares the answers.
        ask(&cache.clone(), "http://example.test:8080/c").unwrap();
        assert_eq!(calls(&cache), 3);
    }

    #[test]
    fn a_stale_answer_is_looked_up_again() {
        let cache = Cached::new(Counting::default(), Duration::ZERO);
        ask(&cache, "http://example.test/a").unwrap();
        ask(&cache, "http://example.test/a").unwrap();
        assert_eq!(calls(&cache), 2);
    }

    #[test]
    fn stale_answers_are_swept_and_fresh_ones_kept() {
        let hosts = |cache: &Cached<Counting>| {
            for i in 0..200 {
                ask(cache, &format!("http://host{i}.test/a")).unwrap();
            }
            cache.read().by_scheme[0].len()
        };
        let stale = Cached::new(Counting::default(), Duration::ZERO);
        assert!(hosts(&stale) <= SWEEP_FROM, "stale answers are dropped");
        let fresh = Cached::new(Counting::default(), KEEP);
        assert_eq!(hosts(&fresh), 200, "fresh answers are all kept");
    }

    #[test]
    fn a_failed_lookup_is_not_kept() {
        let cache = Cached::new(Counting::default(), KEEP);
        assert!(matches!(
            ask(&cache, "http://nowhere/a"),
            Err(ureq::Error::HostNotFound)
        ));
        assert!(ask(&cache, "http://nowhere/a").is_err());
        assert_eq!(calls(&cache), 2);
    }
}
