/*!
Watching downloads as they happen. An [`Observer`] hears, per job, when it starts, each
attempt, the length the server announced, the bytes as they are written, each retry and the
end. Every method has a no-op default, and the download path holds a `&dyn Observer`, so a
run nobody watches pays one empty call per 64 KiB chunk and nothing else; no channel
message per chunk. The binary draws its progress bars from these calls and the timeline's
per-entry timing is taken the same way; an embedding program can do either.

```
use std::sync::atomic::{AtomicU64, Ordering};
use fetchpool::{Job, Observer};

/// Bytes written so far, over all jobs: a reporter thread can sample it.
#[derive(Default)]
struct Bytes(AtomicU64);

impl Observer for Bytes {
    fn progressed(&self, _job: &Job, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}
```
*/

use std::time::Duration;

use crate::error::Error;
use crate::fetch::Outcome;
use crate::job::Job;

/// Hooks called from the worker threads while jobs run. Implementations must be cheap and
/// must not block: they run on the download path. `Send + Sync` because every worker of the
/// pool calls the same observer.
#[allow(unused_variables)]
pub trait Observer: Send + Sync {
    /// A worker took `job`; nothing has been checked or requested yet.
    fn started(&self, job: &Job) {}

    /// Attempt `number` (from 1) of `job` is about to send its first request.
    fn attempt(&self, job: &Job, number: u32) {}

    /// A response will write the file: its full length when the server said (`None`:
    /// unknown, e.g. a gzip body decoded as it comes), and the bytes already on disk that
    /// it continues (0 for a download from the start, after a restart too). A split
    /// download (`Config::split`) says it once for the whole file, with the bytes of its
    /// earlier ranges as `on_disk`.
    fn sized(&self, job: &Job, total: Option<u64>, on_disk: u64) {}

    /// `bytes` more bytes of the file were written. Called once per chunk (up to 64 KiB).
    /// The ranges of a split file report here too, from the workers that fetch them, so the
    /// calls for one job may come from several threads at once; they add up to the file.
    fn progressed(&self, job: &Job, bytes: u64) {}

    /// An attempt failed with `error`; the next one starts after `wait`.
    fn retrying(&self, job: &Job, error: &Error, wait: Duration) {}

    /// `job` ended; its report follows on the channel.
    fn finished(&self, job: &Job, result: &Result<Outcome, Error>) {}
}

/// An observer shared with the code that reads it (keep an `Arc` clone, give the downloader
/// the other).
impl<T: Observer + ?Sized> Observer for std::sync::Arc<T> {
    fn started(&self, job: &Job) {
        (**self).started(job);
    }
    fn attempt(&self, job: &Job, number: u32) {
        (**self).attempt(job, number);
    }
    fn sized(&self, job: &Job, total: Option<u64>, on_disk: u64) {
        (**self).sized(job, total, on_disk);
    }
    fn progressed(&self, job: &Job, bytes: u64) {
        (**self).progressed(job, bytes);
    }
    fn retrying(&self, job: &Job, error: &Error, wait: Duration) {
        (**self).retrying(job, error, wait);
    }
    fn finished(&self, job: &Job, result: &Result<Outcome, Error>) {
        (**self).finished(job, result);
    }
}

/// The observer of a run nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}
