/*!
When each entry ran: start and end as offsets from the start of its run, the worker it ran
on, its attempts, and for a split download each segment (which worker fetched which range
when), so the timeline can draw one file across several lanes. It travels with every [`crate::Report`], so the printer, the JSON report
and the timeline picture draw from the same numbers, and an embedding program can draw its own.
*/

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::fetch::Outcome;
use crate::job::Job;
use crate::observe::Observer;

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
    /// The ranges of a split download, each as one worker fetched it (the entry's own
    /// worker included); empty when the file came over one stream.
    pub segments: Vec<Segment>,
}

/// One range of a split file, fetched by one worker over one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    /// From the start of the run to the moment the worker took the range.
    #[serde(serialize_with = "secs")]
    pub start: Duration,
    /// From the start of the run to the moment it let go of it.
    #[serde(serialize_with = "secs")]
    pub end: Duration,
    /// The worker (pool thread index).
    pub worker: usize,
    /// The first byte of the file it wrote.
    pub from: u64,
    /// The byte after the last one it wrote.
    pub to: u64,
}

/// Where the segments of one file are written down as they end, by whichever worker ran
/// them; the file's [`Clock`] turns them into [`Segment`]s.
#[derive(Debug, Default)]
pub(crate) struct SegmentLog(Mutex<Vec<Span>>);

/// A segment as logged: the worker, its instants and its bytes.
#[derive(Debug, Clone, Copy)]
struct Span {
    worker: usize,
    start: Instant,
    end: Instant,
    from: u64,
    to: u64,
}

impl SegmentLog {
    /// `worker` wrote bytes `from..to` between `start` and now.
    pub(crate) fn add(&self, worker: usize, start: Instant, from: u64, to: u64) {
        if let Ok(mut v) = self.0.lock() {
            v.push(Span {
                worker,
                start,
                end: Instant::now(),
                from,
                to,
            });
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn all_secs<S: serde::Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ds.iter().map(Duration::as_secs_f64))
}

/// Times one job against `origin`, the start of its run, while passing every event on to
/// the run's observer: the timing is taken from the same calls a progress display sees.
pub(crate) struct Clock<'a> {
    origin: Instant,
    worker: usize,
    start: Duration,
    inner: &'a dyn Observer,
    attempts: AtomicU32,
    retried_at: Mutex<Vec<Duration>>,
    segments: Arc<SegmentLog>,
}

impl<'a> Clock<'a> {
    /// Start timing a job that `worker` takes now.
    pub(crate) fn start(origin: Instant, worker: usize, inner: &'a dyn Observer) -> Self {
        Clock {
            origin,
            worker,
            start: origin.elapsed(),
            inner,
            attempts: AtomicU32::new(0),
            retried_at: Mutex::new(Vec::new()),
            segments: Arc::default(),
        }
    }

    /// Where the job's segments are logged, if it splits.
    pub(crate) fn segments(&self) -> &Arc<SegmentLog> {
        &self.segments
    }

    /// The job's result is known: its timing.
    pub(crate) fn stop(self) -> Timing {
        let since = |at: Instant| at.saturating_duration_since(self.origin);
        let mut segments: Vec<Segment> = match self.segments.0.lock() {
            Ok(v) => v
                .iter()
                .map(|s| Segment {
                    start: since(s.start),
                    end: since(s.end),
                    worker: s.worker,
                    from: s.from,
                    to: s.to,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        segments.sort_by_key(|s| (s.start, s.from));
        Timing {
            segments,
            start: self.start,
            end: self.origin.elapsed(),
            worker: self.worker,
            attempts: self.attempts.into_inner(),
            retried_at: self.retried_at.into_inner().unwrap_or_default(),
        }
    }
}

impl Observer for Clock<'_> {
    fn started(&self, job: &Job) {
        self.inner.started(job);
    }
    fn attempt(&self, job: &Job, number: u32) {
        self.attempts.store(number, Ordering::Relaxed);
        self.inner.attempt(job, number);
    }
    fn sized(&self, job: &Job, total: Option<u64>, on_disk: u64) {
        self.inner.sized(job, total, on_disk);
    }
    fn progressed(&self, job: &Job, bytes: u64) {
        self.inner.progressed(job, bytes);
    }
    fn retrying(&self, job: &Job, error: &Error, wait: Duration) {
        if let Ok(mut r) = self.retried_at.lock() {
            r.push(self.origin.elapsed());
        }
        self.inner.retrying(job, error, wait);
    }
    fn finished(&self, job: &Job, result: &Result<Outcome, Error>) {
        self.inner.finished(job, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Quiet;

    #[test]
    fn attempts_and_retries_are_counted_from_the_events() {
        let job = Job::new("http://h/x", "x").unwrap();
        let origin = Instant::now();
        let clock = Clock::start(origin, 3, &Quiet);
        clock.attempt(&job, 1);
        let e = Error::Interrupted { url: String::new() };
        clock.retrying(&job, &e, Duration::ZERO);
        clock.attempt(&job, 2);
        let t = clock.stop();
        assert_eq!((t.worker, t.attempts, t.retried_at.len()), (3, 2, 1));
        assert!(t.start <= t.retried_at[0] && t.retried_at[0] <= t.end);
        let t = Clock::start(origin, 0, &Quiet).stop();
        assert_eq!((t.attempts, t.retried_at.len()), (0, 0));
    }
}
