/*!
When to try again and how long to wait: capped exponential backoff with full jitter, and the
server's `Retry-After` (seconds or an HTTP date) honoured as a lower bound, itself capped so a
hostile server cannot park a worker for a day. Waits wake up early on cancellation.
*/

use std::time::{Duration, Instant, SystemTime};

use super::Download;
use crate::config::{Config, Stop};
use crate::error::Error;

/// The wait before retry number `attempt` (0 for the first retry).
pub(crate) fn backoff(
    attempt: u32,
    base: Duration,
    cap: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let jitter = ceiling.mul_f64(fastrand::f64());
    match retry_after {
        Some(ra) => jitter.max(ra.min(cap)),
        None => jitter,
    }
}

/// Parse `Retry-After`: delta-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The pause before retry number `attempt` (0 for the first) after `error`: the backoff,
/// told to the observer, slept so that a stop ends it. `false` when stopped.
pub(crate) fn pause(config: &Config, dl: &Download, attempt: u32, error: &Error) -> bool {
    let wait = backoff(
        attempt,
        config.retry_base,
        config.retry_cap,
        error.retry_after(),
    );
    dl.observer.retrying(dl.job, error, wait);
    log::debug!(
        "{error}; retry {}/{} in {wait:?}",
        attempt + 1,
        config.retries
    );
    sleep(wait, dl.stop)
}

/// Sleep for `d`, waking early when `stop` is set. Returns false when cancelled.
pub(crate) fn sleep(d: Duration, stop: &Stop) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.is_set() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_respects_retry_after() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..40 {
            let d = backoff(attempt, base, cap, None);
            assert!(d <= cap);
            assert!(d <= base * 2u32.pow(attempt.min(10)));
        }
        let d = backoff(0, base, cap, Some(Duration::from_secs(1)));
        assert!(d >= Duration::from_secs(1) && d <= cap);
        // A huge Retry-After is capped.
        assert_eq!(
            backoff(0, base, cap, Some(Duration::from_secs(86_400))),
            cap
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
