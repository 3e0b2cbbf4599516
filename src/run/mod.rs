/*!
Running many jobs: the same `download_url` in a plain serial loop, or mapped over a fixed
rayon pool of exactly the configured size. Results leave as [`Report`]s over a crossbeam
channel, so an embedding program (or the printer thread) sees each one as it completes;
[`results`] wraps that in a plain blocking iterator, the `imap_unordered` of the classic
program. Compare mode runs the same plan both ways, each a full fresh download.
*/

pub mod results;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use rayon::prelude::*;

use crate::client::Client;
use crate::config::{Config, Mode, Stop};
use crate::error::Error;
use crate::fetch::{Outcome, fetch};
use crate::job::{Job, Plan};
use crate::observe::{Observer, Quiet};
use crate::report::{Printer, Report, Summary};
use crate::timing::Clock;

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
    fn observed(&self, job: &Job, force: bool, observer: &dyn Observer) -> Result<Outcome, Error> {
        observer.started(job);
        let result = fetch(&self.client, &self.config, job, force, &self.stop, observer);
        observer.finished(job, &result);
        result
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
        shared.observed(job, shared.config.force, &*shared.observer)
    }

    /// Run every entry of `plan` in `mode` and send one [`Report`] per entry to `tx`, in
    /// completion order; rejected entries are reported first. Returns when all are done.
    /// After cancellation, jobs not yet started are skipped without a report. Each report's
    /// [`Timing`](crate::Timing) counts from the moment this call started.
    pub fn run(&self, plan: &Plan, mode: Mode, tx: &Sender<Report>) {
        self.run_phase(
            plan,
            mode,
            self.shared.config.force,
            true,
            Instant::now(),
            tx,
        );
    }

    fn run_phase(
        &self,
        plan: &Plan,
        mode: Mode,
        force: bool,
        with_rejected: bool,
        origin: Instant,
        tx: &Sender<Report>,
    ) {
        if with_rejected {
            for r in &plan.rejected {
                let _ = tx.send(Report {
                    label: r.label.clone(),
                    path: None,
                    result: Err(Error::Rejected {
                        reason: r.error.to_string(),
                    }),
                    timing: None,
                });
            }
        }
        let one = |tx: &Sender<Report>, job: &Job| {
            if self.shared.stop.is_set() {
                return;
            }
            // The serial loop runs on the caller's thread, which may belong to some other pool.
            let worker = match mode {
                Mode::Serial => 0,
                Mode::Parallel => rayon::current_thread_index().unwrap_or(0),
            };
            let clock = Clock::start(origin, worker, &*self.shared.observer);
            let result = self.shared.observed(job, force, &clock);
            let timing = clock.stop();
            let _ = tx.send(Report {
                label: job.display_url(),
                path: Some(job.path.clone()),
                result,
                timing: Some(timing),
            });
        };
        match mode {
            Mode::Serial => plan.jobs.iter().for_each(|job| one(tx, job)),
            Mode::Parallel => self.pool.install(|| {
                plan.jobs
                    .par_iter()
                    .with_max_len(1)
                    .for_each_with(tx.clone(), |tx, job| one(tx, job))
            }),
        }
    }

    /// Run `plan` in `mode` with a printer thread: the worker → channel → printer pipeline.
    pub fn run_printed<W, E>(&self, plan: &Plan, mode: Mode, printer: Printer<W, E>) -> Summary
    where
        W: Write + Send,
        E: Write + Send,
    {
        self.phase_printed(plan, mode, self.shared.config.force, true, printer)
    }

    fn phase_printed<W, E>(
        &self,
        plan: &Plan,
        mode: Mode,
        force: bool,
        with_rejected: bool,
        printer: Printer<W, E>,
    ) -> Summary
    where
        W: Write + Send,
        E: Write + Send,
    {
        let jobs = self.shared.config.jobs.max(1);
        let (tx, rx) = crossbeam_channel::bounded(4 * jobs);
        let start = Instant::now();
        let mut summary = std::thread::scope(|s| {
            let expected = plan.jobs.len()
                + if with_rejected {
                    plan.rejected.len()
                } else {
                    0
                };
            let printer = s.spawn(move || printer.print(rx, expected));
            self.run_phase(plan, mode, force, with_rejected, start, &tx);
            drop(tx);
            printer.join().unwrap_or_default()
        });
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
            self.phase_printed(plan, mode, true, with_rejected, printer)
        };
        let serial = phase(Mode::Serial, true);
        if self.shared.stop.is_set() {
            return (serial, None);
        }
        let parallel = phase(Mode::Parallel, false);
        (serial, Some(parallel))
    }
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
    fetch(&Client::new(&config)?, &config, &job, false, &stop, &Quiet)
}
