/*!
The printer: the one thread that writes results. It takes [`Report`]s off the channel in
completion order, prints a line for each (successes to `out`, failures to `err`), counts
them, and returns a [`Summary`] for the final line, the compare table and the JSON report.
A closed stdout (`fetchpool … | head`) is a normal end: printing stops, counting goes on.
*/

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use crossbeam_channel::Receiver;
use serde::Serialize;

use crate::error::Error;
use crate::fetch::Status;
use crate::run::{Mode, Report};
use crate::timing::Timing;

/// Writes one line per finished entry. `W` gets successes and summaries, `E` failures.
pub struct Printer<W, E> {
    out: W,
    err: E,
    quiet: bool,
    out_open: bool,
}

/// One entry of the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The URL (redacted) or `line N`.
    pub url: String,
    /// The final path, when the entry got one.
    pub path: Option<String>,
    /// Size of the final file (0 on failure).
    pub bytes: u64,
    /// Bytes received over the network for it in this run.
    pub received: u64,
    /// Seconds spent on it.
    pub elapsed: f64,
    /// `downloaded`, `resumed`, `already_complete` or `failed`.
    pub status: String,
    /// The error message of a failed entry.
    pub error: Option<String>,
    /// When and where it ran (`start`, `end`, `worker`, `attempts`, `retried_at` in the
    /// JSON report); `None` for an entry rejected before any download.
    #[serde(flatten)]
    pub timing: Option<Timing>,
}

/// Totals of one run (one phase of compare).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Serial or parallel.
    pub mode: Option<Mode>,
    /// Threads that downloaded.
    pub workers: usize,
    /// Entries that ended with the file in place (already complete ones included).
    pub ok: usize,
    /// Of those, files that were already complete.
    pub already_complete: usize,
    /// Entries that failed.
    pub failed: usize,
    /// Entries skipped because the run was interrupted.
    pub not_started: usize,
    /// Total size of the files in place.
    pub bytes: u64,
    /// Body bytes received over the network.
    pub received: u64,
    /// Wall time of the run, in seconds in the JSON report.
    #[serde(serialize_with = "as_secs")]
    pub elapsed: Duration,
    /// One record per entry, in completion order.
    pub files: Vec<Record>,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Summary {
    /// Network throughput in bytes per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.received as f64 / secs
        } else {
            0.0
        }
    }

    /// The final line: counts, bytes, wall time and throughput.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} ok ({} already complete), {} failed",
            self.ok, self.already_complete, self.failed
        );
        if self.not_started > 0 {
            s += &format!(", {} not started (interrupted)", self.not_started);
        }
        // Sizes in place and bytes received differ after a resume, a rerun or a failure:
        // say both then, and the rate is always of the bytes received.
        s += &format!("; {}", human_bytes(self.bytes));
        if self.received != self.bytes {
            s += &format!(" in place, {} received", human_bytes(self.received));
        }
        s += &format!(
            " in {:.2} s ({}/s)",
            self.elapsed.as_secs_f64(),
            human_bytes(self.throughput() as u64)
        );
        s
    }
}

impl<W: Write, E: Write> Printer<W, E> {
    /// A printer writing successes to `out` and failures to `err`; `quiet` keeps only failures
    /// (the caller prints the summary).
    pub fn new(out: W, err: E, quiet: bool) -> Self {
        Printer {
            out,
            err,
            quiet,
            out_open: true,
        }
    }

    /// Consume reports until the channel closes; `expected` entries were planned.
    pub fn print(mut self, rx: Receiver<Report>, expected: usize) -> Summary {
        let mut summary = Summary::default();
        for report in rx {
            let record = self.one(&mut summary, report);
            summary.files.push(record);
        }
        summary.not_started = expected.saturating_sub(summary.files.len());
        let _ = self.out.flush();
        let _ = self.err.flush();
        summary
    }

    fn one(&mut self, summary: &mut Summary, report: Report) -> Record {
        let path = report.path.as_deref().map(|p| p.display().to_string());
        let timing = report.timing;
        match report.result {
            Ok(o) => {
                summary.ok += 1;
                summary.bytes += o.size;
                summary.received += o.received;
                if o.status == Status::AlreadyComplete {
                    summary.already_complete += 1;
                }
                if !self.quiet {
                    let line = format!(
                        "{:>10}  {:>7.2}s  {} -> {}  ({})",
                        human_bytes(o.size),
                        o.elapsed.as_secs_f64(),
                        o.url,
                        o.path.display(),
                        o.status
                    );
                    self.write_out(&line);
                }
                Record {
                    url: o.url,
                    path,
                    bytes: o.size,
                    received: o.received,
                    elapsed: o.elapsed.as_secs_f64(),
                    status: o.status.key().to_string(),
                    error: None,
                    timing,
                }
            }
            Err(e) => {
                summary.failed += 1;
                let _ = writeln!(self.err, "error: {e}");
                Record {
                    url: report.label,
                    path,
                    bytes: 0,
                    received: 0,
                    elapsed: 0.0,
                    status: "failed".into(),
                    error: Some(e.to_string()),
                    timing,
                }
            }
        }
    }

    fn write_out(&mut self, line: &str) {
        if self.out_open && writeln!(self.out, "{line}").is_err() {
            // Closed pipe or full disk: stop printing; the run itself goes on.
            self.out_open = false;
        }
    }
}

/// The serial-vs-parallel table of compare mode.
pub fn compare_table(serial: &Summary, parallel: &Summary) -> String {
    let mut s = format!(
        "{:<9} {:>7} {:>6} {:>11} {:>9} {:>12} {:>8}\n",
        "mode", "workers", "files", "bytes", "time", "throughput", "speedup"
    );
    let base = serial.elapsed.as_secs_f64();
    for r in [serial, parallel] {
        let secs = r.elapsed.as_secs_f64();
        let speedup = if secs > 0.0 { base / secs } else { 0.0 };
        s += &format!(
            "{:<9} {:>7} {:>6} {:>11} {:>8.2}s {:>10}/s {:>7.2}x\n",
            r.mode.map_or("-".into(), |m| m.to_string()),
            r.workers,
            r.ok,
            human_bytes(r.bytes),
            secs,
            human_bytes(r.throughput() as u64),
            speedup
        );
    }
    s
}

/// Write the machine-readable report: `{"runs": [summary, ...]}`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_json(path: &Path, runs: &[&Summary]) -> Result<(), Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        runs: &'a [&'a Summary],
    }
    let text = serde_json::to_string_pretty(&Doc { runs }).map_err(io::Error::other);
    let text = text.map_err(|e| Error::io(path, e))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::Outcome;

    fn ok(url: &str, size: u64, status: Status) -> Report {
        Report {
            label: url.into(),
            path: Some(format!("/o/{size}").into()),
            result: Ok(Outcome {
                url: url.into(),
                path: format!("/o/{size}").into(),
                size,
                received: if status == Status::AlreadyComplete {
                    0
                } else {
                    size
                },
                elapsed: Duration::from_millis(5),
                status,
            }),
            timing: Some(Timing::default()),
        }
    }

    #[test]
    fn printer_counts_and_splits_streams() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(ok("http://h/a", 2048, Status::Downloaded)).unwrap();
        tx.send(ok("http://h/b", 10, Status::AlreadyComplete))
            .unwrap();
        tx.send(Report {
            label: "line 3".into(),
            path: None,
            result: Err(Error::BadLine {
                line: 3,
                reason: "junk".into(),
            }),
            timing: None,
        })
        .unwrap();
        drop(tx);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = Printer::new(&mut out, &mut err, false).print(rx, 5);
        assert_eq!(
            (s.ok, s.already_complete, s.failed, s.not_started),
            (3 - 1, 1, 1, 2)
        );
        assert_eq!((s.bytes, s.received), (2058, 2048));
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(
            out.contains("2.0 KiB") && out.contains("already complete"),
            "{out}"
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: input line 3: junk\n"
        );
    }

    #[test]
    fn quiet_printer_prints_only_errors() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(ok("http://h/a", 1, Status::Downloaded)).unwrap();
        drop(tx);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        Printer::new(&mut out, &mut err, true).print(rx, 1);
        assert!(out.is_empty() && err.is_empty());
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8.0 MiB");
    }
}
