/*!
The board of a run's split files, which idle workers look at once no entry waits: a queued
range first, else a takeover of the largest running one; and [`Task`], a range taken, fetched
on the worker that took it (holding a host slot like any other transfer).
*/

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::{Helpers, NAP, SplitFile, range};
use crate::client::Client;
use crate::config::{Config, Stop};
use crate::fetch::Download;
use crate::fetch::stamp::Version;
use crate::observe::Observer;

/// The split files of a run that have ranges to share.
#[derive(Default)]
pub(crate) struct Board {
    files: Mutex<Vec<Arc<SplitFile>>>,
    wake: Condvar,
    /// Workers in [`Board::wait`]: with none, a notification is skipped (a condition
    /// variable's notify is a system call even when nobody waits, and every finished file
    /// notifies).
    sleepers: AtomicUsize,
}

/// A range of a split file that an idle worker took.
pub(crate) struct Task {
    file: Arc<SplitFile>,
    range: usize,
}

impl Board {
    /// A range for an idle worker: a queued one first, else the second half of the largest
    /// range still running (when its halves stay above the minimum).
    pub(crate) fn take(&self) -> Option<Task> {
        let files: Vec<Arc<SplitFile>> = self.files.lock().ok()?.clone();
        for file in &files {
            if let Some(range) = file.take() {
                return Some(Task {
                    file: file.clone(),
                    range,
                });
            }
        }
        let (_, file) = files
            .iter()
            .filter_map(|f| Some((f.splittable()?, f)))
            .max_by_key(|(left, _)| *left)?;
        let range = file.take_over()?;
        Some(Task {
            file: file.clone(),
            range,
        })
    }

    /// Sleep until a split file may have work, or a short while.
    pub(crate) fn wait(&self) {
        self.wait_unless(|| false);
    }

    /// As [`Board::wait`], unless `done` holds when looked at under the board's lock. With
    /// [`Board::wake_all`] called after `done` becomes true, no sleeper misses it: the end
    /// of a run is seen at once, not after a nap.
    pub(crate) fn wait_unless(&self, done: impl Fn() -> bool) {
        if let Ok(files) = self.files.lock() {
            if done() {
                return;
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let _ = self.wake.wait_timeout(files, NAP);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wake every sleeper, in step with [`Board::wait_unless`] (under the lock).
    pub(crate) fn wake_all(&self) {
        let _files = self.files.lock();
        self.wake.notify_all();
    }

    /// Wake the idle workers: something changed (a file split, or a worker let go).
    /// A wake-up that races a worker on its way into [`Board::wait`] is lost; that worker
    /// sleeps at most its short nap, as it would have without the count.
    pub(crate) fn notify(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.wake.notify_all();
        }
    }

    pub(super) fn add(&self, file: &Arc<SplitFile>) {
        if let Ok(mut files) = self.files.lock() {
            files.push(file.clone());
        }
        self.notify();
    }

    pub(super) fn remove(&self, file: &Arc<SplitFile>) {
        if let Ok(mut files) = self.files.lock() {
            files.retain(|f| !Arc::ptr_eq(f, file));
        }
    }
}

impl Task {
    /// Fetch the range on this worker with the run's client, settings and observer. The
    /// range is a connection like any other: without a free slot on its host
    /// (`--max-per-host`) it is put back at once and this returns false (waiting for one
    /// while the file's owner holds a slot and waits for this range could never end).
    pub(crate) fn run(
        self,
        client: &Client,
        config: &Config,
        stop: &Stop,
        observer: &dyn Observer,
        worker: usize,
    ) -> bool {
        let file = &self.file;
        let Some(slot) = client.limits().try_slot(&file.source) else {
            file.release(self.range, Ok(()), worker, Instant::now(), 0);
            return false;
        };
        let mut dl = Download {
            job: &file.job,
            source: &file.source,
            url: file.url.clone(),
            stop,
            observer,
            received: 0,
            restarted: false,
            restarts: 0,
            conditional: None,
            unchanged: false,
            version: Version::default(),
            pending: None,
            server_name: None,
            limits: client.limits(),
            helpers: Helpers::default(),
            single: true,
        };
        let start = Instant::now();
        let from = file.lock().ranges[self.range].pos;
        let result = range::fetch(file, self.range, client, config, &mut dl, None);
        drop(slot);
        file.received.fetch_add(dl.received, Ordering::Relaxed);
        file.release(self.range, result, worker, start, from);
        true
    }
}
