/*!
What a run adds up to: one [`Record`] per entry and the totals, as the printer returns them
for the final line, the compare table, the JSON report and the timeline.
*/

use std::time::Duration;

use serde::Serialize;

use crate::config::Mode;
use crate::timing::Timing;

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
    /// `downloaded`, `resumed`, `already_complete`, `unchanged` or `failed`.
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
    /// Of those, files that update mode found unchanged on the server (304).
    pub unchanged: usize,
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
        let mut s = format!("{} ok ({} already complete", self.ok, self.already_complete);
        if self.unchanged > 0 {
            s += &format!(", {} unchanged", self.unchanged);
        }
        s += &format!("), {} failed", self.failed);
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
