/*!
Running many jobs: the same `download_url` in a plain serial loop, or mapped over a fixed
rayon pool of exactly the configured size. Results leave as [`Report`]s over a crossbeam
channel, so an embedding program (or the printer thread) sees each one as it completes;
[`results`] wraps that in a plain blocking iterator, the `imap_unordered` of the classic
program. A list can also stream in ([`Downloader::run_stream`]): downloads start while later lines
are still being read. Compare mode runs the same plan both ways, each a full fresh download
(so it keeps the whole plan, where the other modes keep none of it).
*/

mod queue;
pub mod results;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::client::Client;
use crate::config::{Config, Mode, Stop};
use crate::error::Error;
use crate::fetch::partials::Partials;
use crate::fetch::split::{Board, Helpers, Task};
use crate::fetch::{Outcome, fetch};
use crate::job::{Job, Plan, Rejected};
use crate::observe::{Observer, Quiet};
use crate::plan::Planned;
use crate::report::{Printer, Report, Summary};
use crate::timing::Clock;
use queue::{CloseOnDrop, Feed};

/// Entries planned ahead of the pool's workers at most: enough that no worker waits for
/// the planner, few enough that a long list does not wait in memory.
const AHEAD: usize = 256;

/// Downloads jobs with one shared HTTP agent (keep-alive across jobs) and one fixed pool.
/// Build it once and reuse it.
pub struct Downloader {
    shared: Shared,
    pool: Arc<rayon::ThreadPool>,
}

/// What every job of a downloader uses: the settings, the HTTP agent (its clones share one
/// connection pool), the observer and when to stop. Cheap to clone into a background run.
#[derive(Clone)]
struct Shared {
    config: Config,
    client: Client,
    observer: Arc<dyn Observer>,
    stop: Stop,
}

impl Shared {
    /// One job, from the observer's `started` to its `finished`.
    fn observed(
        &self,
        job: &Job,
        force: bool,
        observer: &dyn Observer,
        helpers: Helpers,
    ) -> Result<Outcome, Error> {
        observer.started(job);
        let result = fetch(
            &self.client,
            &self.config,
            job,
            force,
            &self.stop,
            observer,
            helpers,
        );
        observer.finished(job, &result);
        result
    }

    /// A range of another worker's split file, fetched on this worker; false when its host
    /// had no free slot and the range was put back.
    fn help(&self, task: Task, worker: usize) -> bool {
        task.run(
            &self.client,
            &self.config,
            &self.stop,
            &*self.observer,
            worker,
        )
    }
}

impl Downloader {
    /// Build a downloader: the HTTP agent and a thread pool of exactly `config.jobs` threads.
    ///
    /// # Errors
    /// [`Error::Pool`] when the pool's threads cannot be started; [`Error::CaCertificate`],
    /// [`Error::CookieFile`], [`Error::Netrc`] or [`Error::Io`] for a file of the network
    /// settings that cannot be used.
    pub fn new(config: Config) -> Result<Self, Error> {
        let jobs = config.jobs.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .thread_name(|i| format!("fetchpool-{i}"))
            .build()
            .map_err(|source| Error::Pool { source })?;
        let client = Client::new(&config)?;
        Ok(Downloader {
            shared: Shared {
                stop: Stop::new(&config.cancel),
                config,
                client,
                observer: Arc::new(Quiet),
            },
            pool: Arc::new(pool),
        })
    }

    /// The same downloader, with `observer` told about every job as it runs (see
    /// [`Observer`]): for a progress display, or to collect timings.
    pub fn with_observer(mut self, observer: impl Observer + 'static) -> Self {
        self.shared.observer = Arc::new(observer);
        self
    }

    /// The settings this downloader was built with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Write the cookies of the run (those loaded and those servers set, unexpired) to `path`
    /// in the Netscape cookies.txt format, readable by curl, wget and `--load-cookies`;
    /// returns how many. The file is created private to the user (mode 0600).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save_cookies(&self, path: &std::path::Path) -> Result<usize, Error> {
        self.shared.client.save_cookies(path)
    }

    /// Download one job on the calling thread.
    ///
    /// # Errors
    /// Any [`Error`] of the download; the partial file (if any) is kept for a later resume.
    pub fn download(&self, job: &Job) -> Result<Outcome, Error> {
        let shared = &self.shared;
        shared.observed(
            job,
            shared.config.force,
            &*shared.observer,
            Helpers::default(),
        )
    }

    /// Run every entry of `plan` in `mode` and send one [`Report`] per entry to `tx`, in
    /// completion order; rejected entries are reported first. Returns when all are done.
    /// After cancellation, jobs not yet started are skipped without a report. Each report's
    /// [`Timing`](crate::Timing) counts from the moment this call started.
    pub fn run(&self, plan: &Plan, mode: Mode, tx: &Sender<Report>) {
        self.run_stream(entries(plan, true), mode, tx);
    }

    /// Run entries as they come (e.g. from [`Planner::stream`](crate::Planner::stream) over
    /// an input file being read): the first download starts as soon as the first job is
    /// planned, and at most a few hundred entries wait planned ahead of the workers, so
    /// memory does not follow the length of the list. Otherwise as [`Downloader::run`];
    /// rejected entries are reported when they come. After cancellation no more entries are
    /// taken. Returns the number of entries taken (reported, or skipped after cancellation).
    pub fn run_stream<I>(&self, entries: I, mode: Mode, tx: &Sender<Report>) -> usize
    where
        I: IntoIterator<Item = Planned>,
        I::IntoIter: Send,
    {
        let force = self.shared.config.force;
        self.run_phase(entries.into_iter(), mode, force, Instant::now(), tx)
    }

    fn run_phase(
        &self,
        entries: impl Iterator<Item = Planned> + Send,
        mode: Mode,
        force: bool,
        origin: Instant,
        tx: &Sender<Report>,
    ) -> usize {
        let board = Board::default();
        let partials = Partials::default();
        let one = |tx: &Sender<Report>, entry: Planned, worker: usize, board: Option<&Board>| {
            let job = match entry {
                Planned::Job(job) => job,
                Planned::Rejected(r) => {
                    let _ = tx.send(Report {
                        label: r.label,
                        path: None,
                        result: Err(Error::Rejected {
                            reason: r.error.to_string(),
                        }),
                        timing: None,
                    });
                    return;
                }
            };
            if self.shared.stop.is_set() {
                return;
            }
            let clock = Clock::start(origin, worker, &*self.shared.observer);
            let helpers = Helpers {
                board,
                log: Some(clock.segments()),
                worker,
                partials: Some(&partials),
            };
            let result = self.shared.observed(&job, force, &clock, helpers);
            let timing = clock.stop();
            let _ = tx.send(Report {
                label: job.display_url(),
                path: Some(job.path),
                result,
                timing: Some(timing),
            });
        };
        // After cancellation no more of the list is read (it may be a pipe that never ends);
        // what was planned ahead is skipped and counted as not started.
        let entries = entries.take_while(|_| !self.shared.stop.is_set());
        match mode {
            // The serial loop runs on the caller's thread, which may belong to some other pool.
            Mode::Serial => entries.map(|e| one(tx, e, 0, None)).count(),
            Mode::Parallel => {
                // The planner reads and plans ahead on its own thread; the pool's workers
                // pull from a bounded feed, so planning never waits for the whole list and
                // the list never waits in memory. A worker with no entry waiting takes a
                // range of a split file instead.
                let feed = Feed::new(AHEAD, self.pool.current_num_threads());
                std::thread::scope(|s| {
                    let feed = &feed;
                    let planner = s.spawn(move || {
                        let _close = CloseOnDrop(feed);
                        let mut taken = 0;
                        for e in entries {
                            taken += 1;
                            // Refused only if every worker is gone (a panic, re-raised below).
                            if feed.push(e).is_err() {
                                break;
                            }
                        }
                        taken
                    });
                    queue::drain(
                        &self.pool,
                        feed,
                        &board,
                        |e, worker| one(tx, e, worker, Some(&board)),
                        |task, worker| self.shared.help(task, worker),
                    );
                    planner
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))
                })
            }
        }
    }

    /// Run `plan` in `mode` with a printer thread: the worker → channel → printer pipeline.
    pub fn run_printed<W, E>(&self, plan: &Plan, mode: Mode, printer: Printer<W, E>) -> Summary
    where
        W: Write + Send,
        E: Write + Send,
    {
        self.run_stream_printed(entries(plan, true), mode, printer)
    }

    /// Run entries as they come (see [`Downloader::run_stream`]) with a printer thread. The
    /// summary counts every entry taken, rejected ones included.
    pub fn run_stream_printed<I, W, E>(
        &self,
        entries: I,
        mode: Mode,
        printer: Printer<W, E>,
    ) -> Summary
    where
        I: IntoIterator<Item = Planned>,
        I::IntoIter: Send,
        W: Write + Send,
        E: Write + Send,
    {
        let force = self.shared.config.force;
        self.phase_printed(entries.into_iter(), mode, force, printer)
    }

    fn phase_printed<W, E>(
        &self,
        entries: impl Iterator<Item = Planned> + Send,
        mode: Mode,
        force: bool,
        printer: Printer<W, E>,
    ) -> Summary
    where
        W: Write + Send,
        E: Write + Send,
    {
        let jobs = self.shared.config.jobs.max(1);
        // Room for the results of a printer tick or two, so that workers do not wait on it
        // (the slots are allocated up front: capped, whatever `--jobs` says).
        let (tx, rx) = crossbeam_channel::bounded((16 * jobs).min(1024));
        let start = Instant::now();
        let (mut summary, taken) = std::thread::scope(|s| {
            let printer = s.spawn(move || printer.print(rx));
            let taken = self.run_phase(entries, mode, force, start, &tx);
            drop(tx);
            // The printer may be waiting out a tick: the run is over now, not a tick later.
            printer.thread().unpark();
            (printer.join().unwrap_or_default(), taken)
        });
        summary.not_started = taken.saturating_sub(summary.ok + summary.failed);
        summary.mode = Some(mode);
        summary.workers = match mode {
            Mode::Serial => 1,
            Mode::Parallel => jobs,
        };
        summary.elapsed = start.elapsed();
        summary
    }

    /// Run `plan` serially and then in parallel, each a full fresh download (existing files
    /// and partials are replaced, so neither phase is a no-op). Each phase has its own
    /// printer on `out`/`err`, after a `-- serial` / `-- parallel` heading (unless `quiet`).
    /// Rejected entries are reported in the serial phase only. Stops after the serial phase
    /// when cancelled.
    pub fn compare<W, E>(
        &self,
        plan: &Plan,
        out: &mut W,
        err: &mut E,
        quiet: bool,
    ) -> (Summary, Option<Summary>)
    where
        W: Write + Send,
        E: Write + Send,
    {
        let mut phase = |mode: Mode, with_rejected: bool| {
            if !quiet {
                let _ = writeln!(out, "-- {mode}");
            }
            let printer = Printer::new(&mut *out, &mut *err, quiet);
            self.phase_printed(entries(plan, with_rejected), mode, true, printer)
        };
        let serial = phase(Mode::Serial, true);
        if self.shared.stop.is_set() {
            return (serial, None);
        }
        let parallel = phase(Mode::Parallel, false);
        (serial, Some(parallel))
    }
}

/// The entries of a whole plan, as a stream: its rejected entries (when `with_rejected`),
/// then its jobs.
fn entries(plan: &Plan, with_rejected: bool) -> impl Iterator<Item = Planned> + Send + '_ {
    let rejected = plan.rejected.iter().filter(move |_| with_rejected);
    let rejected = rejected.map(|r| {
        Planned::Rejected(Rejected {
            label: r.label.clone(),
            error: Error::Rejected {
                reason: r.error.to_string(),
            },
        })
    });
    rejected.chain(plan.jobs.iter().cloned().map(Planned::Job))
}

/// Download one URL to one path with default settings (see [`Config::default`]).
/// The tuple mirrors the zipped `(url, path)` pairs of the classic loop. The path is used as
/// given (a relative path is relative to the current directory).
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL that is not http(s), or any error of the download.
pub fn download_url<U, P>((url, path): (U, P)) -> Result<Outcome, Error>
where
    U: AsRef<str>,
    P: AsRef<std::path::Path>,
{
    let job = Job::new(url, path)?;
    let config = Config {
        jobs: 1,
        ..Config::default()
    };
    let stop = Stop::new(&config.cancel);
    fetch(
        &Client::new(&config)?,
        &config,
        &job,
        false,
        &stop,
        &Quiet,
        Helpers::default(),
    )
}
