/*!
Live progress on stderr, drawn by the binary from the library's [`Observer`] calls: one
overall bar (files done / total, bytes, rate, ETA) and one line per transfer under way.
Every other line of text (the printer's, the logger's) goes through [`AboveBars`], which
prints it above the bars without tearing them; with the bars off it is a plain writer.
*/

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fetchpool::{Error, Job, Observer, Outcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `--progress`: when to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum When {
    /// When stderr is a terminal.
    Auto,
    /// Even when stderr is not a terminal (a log that understands escape codes).
    Always,
    /// Never.
    Never,
}

/// Whether bars are drawn at all, and in colour: off a terminal, and under `NO_COLOR`, never
/// an escape code that is not needed.
pub fn target(when: When, quiet: bool) -> Option<ProgressDrawTarget> {
    let tty = io::stderr().is_terminal();
    match when {
        _ if quiet => None,
        When::Never => None,
        When::Auto if !tty => None,
        When::Auto => Some(ProgressDrawTarget::stderr_with_hz(10)),
        When::Always if tty => Some(ProgressDrawTarget::stderr_with_hz(10)),
        When::Always => Some(ProgressDrawTarget::term_like_with_hz(
            Box::new(console::Term::stderr()),
            10,
        )),
    }
}

fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stderr().is_terminal()
}

/// The bars of a run. Cheap per chunk: a map lookup under a short lock and two atomic adds
/// (indicatif redraws at most ten times a second on its own).
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    active: Mutex<HashMap<PathBuf, ProgressBar>>,
    /// Files of the run, when known before the list is read (a streamed list is not).
    files: Option<usize>,
    done: AtomicUsize,
    line: ProgressStyle,
}

impl Bars {
    /// Bars for `files` jobs (when known) on `multi` (already given its draw target).
    pub fn new(multi: &MultiProgress, files: Option<usize>) -> Bars {
        let (bar, line) = if colour() {
            (
                "{prefix:.bold} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                "  {wide_msg} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12}",
            )
        } else {
            (
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                "  {wide_msg} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12}",
            )
        };
        let style = |t: &str| {
            ProgressStyle::with_template(t)
                .expect("a valid template")
                .progress_chars("=> ")
        };
        // No length until the first file announces one: an empty bar, not a full one.
        let overall = multi.add(ProgressBar::no_length().with_style(style(bar)));
        overall.set_prefix(files_done(0, files));
        // ETA and rate keep moving while every transfer waits on a slow server.
        overall.enable_steady_tick(Duration::from_millis(500));
        Bars {
            multi: multi.clone(),
            overall,
            active: Mutex::new(HashMap::new()),
            files,
            done: AtomicUsize::new(0),
            line: style(line),
        }
    }

    fn bar(&self, job: &Job) -> Option<ProgressBar> {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.get(&job.path).cloned()
    }

    /// Clear the bars (before the summary is printed).
    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Observer for Bars {
    fn started(&self, job: &Job) {
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new(0))
            .with_style(self.line.clone());
        let name = job.path.file_name().unwrap_or_default();
        bar.set_message(name.to_string_lossy().into_owned());
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.insert(job.path.clone(), bar);
    }

    fn sized(&self, job: &Job, total: Option<u64>, on_disk: u64) {
        let Some(bar) = self.bar(job) else { return };
        // A restart takes back what this file counted before.
        let counted = bar.length().unwrap_or(0);
        let overall_len = self.overall.length().unwrap_or(0);
        self.overall.set_length(overall_len.saturating_sub(counted));
        let pos = self.overall.position();
        self.overall
            .set_position(pos.saturating_sub(bar.position()));
        match total {
            Some(t) => {
                bar.set_length(t);
                let len = self.overall.length().unwrap_or(0);
                self.overall.set_length(len + t);
            }
            None => bar.unset_length(),
        }
        bar.set_position(on_disk);
        self.overall.inc(on_disk);
    }

    fn progressed(&self, job: &Job, bytes: u64) {
        if let Some(bar) = self.bar(job) {
            bar.inc(bytes);
        }
        self.overall.inc(bytes);
    }

    fn retrying(&self, job: &Job, _error: &Error, wait: Duration) {
        if let Some(bar) = self.bar(job) {
            let name = job.path.file_name().unwrap_or_default().to_string_lossy();
            bar.set_message(format!("{name} (retry in {:.1} s)", wait.as_secs_f64()));
        }
    }

    fn finished(&self, job: &Job, result: &Result<Outcome, Error>) {
        let bar = {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            active.remove(&job.path)
        };
        if let Some(bar) = bar {
            // A file already complete or unchanged was never sized: count it now.
            if let Ok(o) = result
                && bar.length().is_none_or(|l| l == 0)
                && o.received == 0
            {
                let len = self.overall.length().unwrap_or(0);
                self.overall.set_length(len + o.size);
                self.overall.inc(o.size);
            }
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.overall.set_prefix(files_done(done, self.files));
    }
}

/// `3/10 files`, or `3 files` while the total is not known.
fn files_done(done: usize, files: Option<usize>) -> String {
    match files {
        Some(n) => format!("{done}/{n} files"),
        None => format!("{done} files"),
    }
}

/// [`Bars`] shared between the downloader (which calls it) and `main` (which clears it).
pub struct Watch(pub std::sync::Arc<Bars>);

impl Observer for Watch {
    fn started(&self, job: &Job) {
        self.0.started(job);
    }
    fn sized(&self, job: &Job, total: Option<u64>, on_disk: u64) {
        self.0.sized(job, total, on_disk);
    }
    fn progressed(&self, job: &Job, bytes: u64) {
        self.0.progressed(job, bytes);
    }
    fn retrying(&self, job: &Job, error: &Error, wait: Duration) {
        self.0.retrying(job, error, wait);
    }
    fn finished(&self, job: &Job, result: &Result<Outcome, Error>) {
        self.0.finished(job, result);
    }
}

/// A writer whose lines appear above the bars: each complete line is written while the
/// bars are lifted, so a line and a redraw never interleave.
pub struct AboveBars<W: Write> {
    multi: MultiProgress,
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> AboveBars<W> {
    /// Lines to `inner`, above `multi`'s bars.
    pub fn new(multi: &MultiProgress, inner: W) -> Self {
        AboveBars {
            multi: multi.clone(),
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for AboveBars<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            let inner = &mut self.inner;
            self.multi
                .suspend(|| inner.write_all(&lines).and_then(|()| inner.flush()))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let inner = &mut self.inner;
            self.multi.suspend(|| inner.write_all(&rest))?;
        }
        self.inner.flush()
    }
}
