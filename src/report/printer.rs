/*!
The printer: the one thread that writes results. It takes [`Report`]s off the channel in
completion order, prints a line for each (successes to `out`, failures to `err`), counts
them, and returns a [`Summary`] for the final line, the compare table and the JSON report.
A closed stdout (`fetchpool … | head`) is a normal end: printing stops, counting goes on.

While results stream in, the printer takes them a tick (1 ms) at a time instead of being woken
for each one: with thousands of small files a wake-up per result cost more (a context switch
each, on machines with few cores) than the printing. When none came during a tick it blocks
on the channel again, so a long download costs it nothing.
*/

use std::io::Write;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};

use super::{Record, Report, Summary, human_bytes};
use crate::fetch::Status;

/// How long the printer lets results gather while they are coming: a line shows about this
/// much later than its file ended, at most. Whoever ends the run unparks the printer so that
/// the end is not late (see [`Printer::print`]).
const TICK: Duration = Duration::from_millis(1);

/// Writes one line per finished entry. `W` gets successes and summaries, `E` failures.
pub struct Printer<W, E> {
    out: W,
    err: E,
    quiet: bool,
    out_open: bool,
    records: bool,
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
            records: true,
        }
    }

    /// Whether the summary keeps a [`Record`] of every entry (the default), for the JSON
    /// report and the timeline. Without them the totals are all that is kept, and memory
    /// does not grow with the length of the list (a record is a few hundred bytes).
    pub fn records(mut self, keep: bool) -> Self {
        self.records = keep;
        self
    }

    /// Consume reports until the channel closes. The entries skipped after an interruption
    /// send no report: the caller, which knows how many entries it took, sets
    /// [`Summary::not_started`]. While results are coming, the printer parks a millisecond
    /// between batches: the caller that drops the last sender may `unpark` its thread to end
    /// it at once.
    pub fn print(mut self, rx: Receiver<Report>) -> Summary {
        let mut summary = Summary::default();
        // Blocks while nothing comes; ends when every sender is gone.
        'run: while let Ok(report) = rx.recv() {
            self.take(&mut summary, report);
            loop {
                std::thread::park_timeout(TICK);
                let mut more = false;
                loop {
                    match rx.try_recv() {
                        Ok(report) => {
                            more = true;
                            self.take(&mut summary, report);
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => break 'run,
                    }
                }
                if !more {
                    break;
                }
            }
        }
        let _ = self.out.flush();
        let _ = self.err.flush();
        summary
    }

    fn take(&mut self, summary: &mut Summary, report: Report) {
        if let Some(record) = self.one(summary, report) {
            summary.files.push(record);
        }
    }

    /// Count and print one report; its record when records are kept (built only then).
    fn one(&mut self, summary: &mut Summary, report: Report) -> Option<Record> {
        let timing = report.timing;
        match report.result {
            Ok(o) => {
                summary.ok += 1;
                summary.bytes += o.size;
                summary.received += o.received;
                match o.status {
                    Status::AlreadyComplete => summary.already_complete += 1,
                    Status::Unchanged => summary.unchanged += 1,
                    Status::Downloaded | Status::Resumed => {}
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
                self.records.then(|| Record {
                    url: o.url,
                    // The file's real name (the server's, with --content-disposition).
                    path: Some(o.path.display().to_string()),
                    bytes: o.size,
                    received: o.received,
                    elapsed: o.elapsed.as_secs_f64(),
                    status: o.status.key().to_string(),
                    error: None,
                    timing,
                })
            }
            Err(e) => {
                summary.failed += 1;
                let _ = writeln!(self.err, "error: {e}");
                self.records.then(|| Record {
                    url: report.label,
                    path: report.path.as_deref().map(|p| p.display().to_string()),
                    bytes: 0,
                    received: 0,
                    elapsed: 0.0,
                    status: "failed".into(),
                    error: Some(e.to_string()),
                    timing,
                })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::fetch::Outcome;
    use crate::timing::Timing;

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
        let s = Printer::new(&mut out, &mut err, false).print(rx);
        assert_eq!((s.ok, s.already_complete, s.failed), (2, 1, 1));
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
    fn without_records_the_totals_still_count_every_entry() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(ok("http://h/a", 1, Status::Downloaded)).unwrap();
        tx.send(ok("http://h/b", 2, Status::AlreadyComplete))
            .unwrap();
        drop(tx);
        let s = Printer::new(Vec::new(), Vec::new(), true)
            .records(false)
            .print(rx);
        assert_eq!((s.ok, s.already_complete, s.bytes), (2, 1, 3));
        assert!(s.files.is_empty());
    }

    #[test]
    fn quiet_printer_prints_only_errors() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(ok("http://h/a", 1, Status::Downloaded)).unwrap();
        drop(tx);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        Printer::new(&mut out, &mut err, true).print(rx);
        assert!(out.is_empty() && err.is_empty());
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8.0 MiB");
    }
}
