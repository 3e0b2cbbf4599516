/*!
When each entry ran: start and end as offsets from the start of its run, the worker it ran
on, and its attempts. It travels with every [`crate::Report`], so the printer, the JSON report
and the timeline picture draw from the same numbers, and an embedding program can draw its own.
*/

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The timing of one entry that reached a worker. In the JSON report durations are seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Timing {
    /// From the start of the run to the moment a worker took the entry.
    #[serde(serialize_with = "secs")]
    pub start: Duration,
    /// From the start of the run to the moment the entry's result was known.
    #[serde(serialize_with = "secs")]
    pub end: Duration,
    /// The worker that ran it: the pool thread's index, 0 for the serial loop.
    pub worker: usize,
    /// Requests attempted (0 when the file was already complete).
    pub attempts: u32,
    /// Offsets from the start of the run where an attempt failed and was retried.
    #[serde(serialize_with = "all_secs")]
    pub retried_at: Vec<Duration>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn all_secs<S: serde::Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ds.iter().map(Duration::as_secs_f64))
}

/// Attempts of the download running on this thread, while [`timed`] watches it.
#[derive(Default)]
struct Attempts {
    started: u32,
    retried: Vec<Instant>,
}

// A download runs on one thread from its first request to its result, so the retry loop can
// note its attempts here without the attempt count threading through every function of fetch.
thread_local! {
    static ATTEMPTS: RefCell<Option<Attempts>> = const { RefCell::new(None) };
}

/// The retry loop is about to send a request.
pub(crate) fn attempt_started() {
    ATTEMPTS.with_borrow_mut(|a| {
        if let Some(a) = a {
            a.started += 1;
        }
    });
}

/// The attempt just made failed and will be retried.
pub(crate) fn attempt_retried() {
    ATTEMPTS.with_borrow_mut(|a| {
        if let Some(a) = a {
            a.retried.push(Instant::now());
        }
    });
}

/// Run `download` on this thread and time it against `origin`, the start of the run.
pub(crate) fn timed<T>(
    origin: Instant,
    worker: usize,
    download: impl FnOnce() -> T,
) -> (T, Timing) {
    let start = origin.elapsed();
    let outer = ATTEMPTS.replace(Some(Attempts::default()));
    let result = download();
    let attempts = ATTEMPTS.replace(outer).unwrap_or_default();
    let since = |t: Instant| t.saturating_duration_since(origin);
    let timing = Timing {
        start,
        end: origin.elapsed(),
        worker,
        attempts: attempts.started,
        retried_at: attempts.retried.into_iter().map(since).collect(),
    };
    (result, timing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_only_inside_timed() {
        attempt_started();
        let origin = Instant::now();
        let ((), t) = timed(origin, 3, || {
            attempt_started();
            attempt_retried();
            attempt_started();
        });
        assert_eq!((t.worker, t.attempts, t.retried_at.len()), (3, 2, 1));
        assert!(t.start <= t.retried_at[0] && t.retried_at[0] <= t.end);
        let ((), t) = timed(origin, 0, || ());
        assert_eq!((t.attempts, t.retried_at.len()), (0, 0));
    }
}
