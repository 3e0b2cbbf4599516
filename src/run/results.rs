/*!
The classic program's shape: `(url, path)` pairs in, results out as a plain blocking
iterator. [`Downloader::parallel`] is the pool's `imap_unordered` (results in completion
order, the work on the downloader's pool while the caller iterates); [`Downloader::serial`]
is the loop, each download done on the caller's thread by `next()`. No channel, scope or
thread for the caller to manage. Dropping a [`Results`] early stops the rest: no new
download starts, transfers under way stop at their next chunk (keeping their partials, as
after Ctrl-C; a stalled one after its `timeout`), and the drop returns once the pool has let
go of the run.
*/

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;

use super::{Downloader, Shared, queue};
use crate::error::Error;
use crate::fetch::Outcome;
use crate::fetch::partials::Partials;
use crate::fetch::split::{Board, Helpers};
use crate::job::{Job, Plan, plan_pairs};

/// Results of a run of `(url, path)` pairs, one per pair: see the module docs.
pub struct Results {
    rejected: std::vec::IntoIter<Error>,
    run: Run,
    /// Set when dropped: stops the work not yet done.
    stop: Arc<AtomicBool>,
}

type Panic = Box<dyn Any + Send>;

enum Run {
    /// The loop: the remaining jobs, done one by one by `next()`.
    Serial {
        jobs: std::vec::IntoIter<Job>,
        shared: Box<Shared>,
    },
    /// The pool: results as workers finish them; `done` closes when the pool let go.
    Parallel {
        rx: Option<Receiver<Result<Outcome, Error>>>,
        done: Receiver<()>,
        /// A job's panic, caught on the pool and raised again by `next()` once the other
        /// results are out (a panic left on the pool would abort the process).
        panic: Arc<Mutex<Option<Panic>>>,
    },
}

impl Downloader {
    /// Download every `(url, path)` pair on the pool and yield each result as it completes
    /// (the classic `imap_unordered`). Paths are used as given ([`Job::new`]); a bad URL or
    /// a second pair for one file yields its error without a download.
    ///
    /// ```
    /// # let server = fetchpool::server::Server::start(|r| fetchpool::server::Reply::file(r, b"x", None, None))?;
    /// # let dir = tempfile::tempdir()?;
    /// # let urls = [server.url("/a"), server.url("/b")];
    /// # let names = [dir.path().join("a"), dir.path().join("b")];
    /// let downloader = fetchpool::Downloader::new(fetchpool::Config::default())?;
    /// for result in downloader.parallel(urls.iter().zip(&names)) {
    ///     match result {
    ///         Ok(done) => println!("{} took {:.2?}", done.url, done.elapsed),
    ///         Err(e) => eprintln!("{e}"),
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parallel<U, P>(&self, pairs: impl IntoIterator<Item = (U, P)>) -> Results
    where
        U: AsRef<str>,
        P: AsRef<Path>,
    {
        let Plan { jobs, rejected } = plan_pairs(pairs);
        let (shared, stop) = self.own_run();
        // Unbounded: a worker never waits for a consumer, so results left unread (another
        // iterator of the same downloader being read first) cannot hold the pool up.
        let (tx, rx) = crossbeam_channel::unbounded();
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let pool = self.pool.clone();
        let panic = Arc::new(Mutex::new(None));
        let caught = panic.clone();
        self.pool.spawn(move || {
            let board = Board::default();
            let partials = Partials::default();
            let force = shared.config.force;
            let feed = queue::Feed::of(jobs, pool.current_num_threads());
            let drained = std::panic::catch_unwind(AssertUnwindSafe(|| {
                queue::drain(
                    &pool,
                    &feed,
                    &board,
                    |job: Job, worker| {
                        if shared.stop.is_set() {
                            return;
                        }
                        let helpers = Helpers {
                            board: Some(&board),
                            log: None,
                            worker,
                            partials: Some(&partials),
                        };
                        let _ = tx.send(shared.observed(&job, force, &*shared.observer, helpers));
                    },
                    |task, worker| shared.help(task, worker),
                );
            }));
            if let Err(payload) = drained {
                *caught.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
            }
            drop(tx);
            drop(done_tx);
        });
        Results {
            rejected: errors(rejected),
            run: Run::Parallel {
                rx: Some(rx),
                done,
                panic,
            },
            stop,
        }
    }

    /// The same pairs in a plain loop: each `next()` downloads the next pair on the calling
    /// thread, in input order. Bad pairs come first, as with [`Downloader::parallel`].
    pub fn serial<U, P>(&self, pairs: impl IntoIterator<Item = (U, P)>) -> Results
    where
        U: AsRef<str>,
        P: AsRef<Path>,
    {
        let Plan { jobs, rejected } = plan_pairs(pairs);
        let (shared, stop) = self.own_run();
        Results {
            rejected: errors(rejected),
            run: Run::Serial {
                jobs: jobs.into_iter(),
                shared: Box::new(shared),
            },
            stop,
        }
    }
}

impl Downloader {
    /// What one iterator's jobs share: this downloader's, plus a stop flag of its own.
    fn own_run(&self) -> (Shared, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        let mut shared = self.shared.clone();
        shared.stop = shared.stop.and(&stop);
        (shared, stop)
    }
}

/// The errors of the pairs refused before any download, in input order.
fn errors(rejected: Vec<crate::job::Rejected>) -> std::vec::IntoIter<Error> {
    rejected
        .into_iter()
        .map(|r| r.error)
        .collect::<Vec<_>>()
        .into_iter()
}

impl Iterator for Results {
    type Item = Result<Outcome, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.rejected.next() {
            return Some(Err(e));
        }
        match &mut self.run {
            Run::Serial { jobs, shared } => {
                if shared.stop.is_set() {
                    return None;
                }
                let job = jobs.next()?;
                let force = shared.config.force;
                Some(shared.observed(&job, force, &*shared.observer, Helpers::default()))
            }
            Run::Parallel { rx, panic, .. } => match rx.as_ref()?.recv() {
                Ok(result) => Some(result),
                Err(_) => {
                    // Every result is out; a job's panic goes on in the caller's thread.
                    let payload = panic.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(payload) = payload {
                        std::panic::resume_unwind(payload);
                    }
                    None
                }
            },
        }
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Run::Parallel { rx, done, .. } = &mut self.run {
            // Workers blocked on a full channel see it closed and move on.
            drop(rx.take());
            let _ = done.recv();
        }
    }
}
