/*!
One verdict for a sharded job: the JSON reports of every shard (`--json report-%k.json`)
merged into one summary, so that a pipeline can gate on the whole job and not on whichever
task finished last. A shard with no report counts as not done.
*/

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::human_bytes;
use crate::error::Error;
use crate::shard::Shard;

/// What the reports of a sharded job add up to.
#[derive(Debug, Default)]
pub struct Merged {
    /// The number of shards the reports say the list was cut into.
    pub count: u32,
    /// Shards of `0..count` with no report: their entries are not accounted for.
    pub missing: Vec<u32>,
    /// Shards with more than one report among the files (only the first one counts).
    pub repeated: Vec<u32>,
    /// Entries in place (already complete ones included), over all shards.
    pub ok: usize,
    /// Of those, files that were already complete.
    pub already_complete: usize,
    /// Entries that failed.
    pub failed: usize,
    /// Entries not started (the shard was interrupted).
    pub not_started: usize,
    /// Size of the files in place.
    pub bytes: u64,
    /// Bytes received over the network.
    pub received: u64,
    /// The longest shard's wall time, in seconds.
    pub elapsed: f64,
    /// `(URL or line, error)` of each failed entry, shard by shard.
    pub failures: Vec<(String, String)>,
}

impl Merged {
    /// Whether every entry of every shard is in place: all shards reported, nothing failed
    /// or left unstarted.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
            && self.repeated.is_empty()
            && self.failed == 0
            && self.not_started == 0
    }

    /// The summary line.
    pub fn line(&self) -> String {
        let reported = self.count as usize - self.missing.len();
        let mut s = format!(
            "{reported} of {} shards: {} ok ({} already complete), {} failed",
            self.count, self.ok, self.already_complete, self.failed
        );
        if self.not_started > 0 {
            s += &format!(", {} not started (interrupted)", self.not_started);
        }
        s += &format!(
            "; {} in place, {} received; longest shard {:.2} s",
            human_bytes(self.bytes),
            human_bytes(self.received),
            self.elapsed
        );
        if !self.missing.is_empty() {
            s += &format!("; no report from shard {}", list(&self.missing));
        }
        if !self.repeated.is_empty() {
            s += &format!("; more than one report from shard {}", list(&self.repeated));
        }
        s
    }
}

fn list(shards: &[u32]) -> String {
    shards
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize)]
struct Doc {
    shard: Option<Shard>,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    ok: usize,
    already_complete: usize,
    failed: usize,
    not_started: usize,
    bytes: u64,
    received: u64,
    elapsed: f64,
    files: Vec<File>,
}

#[derive(Deserialize)]
struct File {
    url: String,
    error: Option<String>,
}

/// Merge the JSON reports at `paths` (a report without a shard is shard 0 of 1). Each
/// report's last run counts (in compare mode, the parallel one).
///
/// # Errors
/// [`Error::BadReport`] naming the file that cannot be read, is not a fetchpool report,
/// or was made with another number of shards than the first.
pub fn merge(paths: &[PathBuf]) -> Result<Merged, Error> {
    let mut merged = Merged::default();
    let mut seen = Vec::new();
    for path in paths {
        let (shard, run) = read(path)?;
        if seen.is_empty() {
            merged.count = shard.count;
            seen = vec![false; shard.count as usize];
        } else if shard.count != merged.count {
            return Err(bad(
                path,
                format!(
                    "made with {} shards, the first report with {}",
                    shard.count, merged.count
                ),
            ));
        }
        if std::mem::replace(&mut seen[shard.index as usize], true) {
            merged.repeated.push(shard.index);
            continue;
        }
        merged.ok += run.ok;
        merged.already_complete += run.already_complete;
        merged.failed += run.failed;
        merged.not_started += run.not_started;
        merged.bytes += run.bytes;
        merged.received += run.received;
        merged.elapsed = merged.elapsed.max(run.elapsed);
        merged.failures.extend(
            run.files
                .into_iter()
                .filter_map(|f| f.error.map(|e| (f.url, e))),
        );
    }
    merged.missing = (0..merged.count).filter(|&k| !seen[k as usize]).collect();
    Ok(merged)
}

fn read(path: &Path) -> Result<(Shard, Run), Error> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let doc: Doc = serde_json::from_slice(&text)
        .map_err(|e| bad(path, format!("not a fetchpool JSON report: {e}")))?;
    let shard = match doc.shard {
        Some(s) => Shard::new(s.index, s.count).map_err(|e| bad(path, e.to_string()))?,
        None => Shard { index: 0, count: 1 },
    };
    let run = doc.runs.into_iter().last();
    Ok((shard, run.ok_or_else(|| bad(path, "no run in it".into()))?))
}

fn bad(path: &Path, reason: String) -> Error {
    Error::BadReport {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dir: &Path, shard: Option<(u32, u32)>, ok: usize, failed: usize) -> PathBuf {
        let name = format!("r{shard:?}-{ok}-{failed}.json");
        let shard = shard.map_or("null".into(), |(k, n)| {
            format!(r#"{{"index": {k}, "count": {n}}}"#)
        });
        let failures = (0..failed)
            .map(|i| format!(r#"{{"url": "http://h/{i}", "error": "http://h/{i}: HTTP 404"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let text = format!(
            r#"{{"shard": {shard}, "runs": [{{"ok": {ok}, "already_complete": 1, "failed": {failed},
            "not_started": 0, "bytes": 10, "received": 9, "elapsed": 1.5, "files": [{failures}]}}]}}"#
        );
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn shards_add_up_and_only_a_whole_clean_job_is_complete() {
        let d = tempfile::tempdir().unwrap();
        let all: Vec<_> = (0..3)
            .map(|k| report(d.path(), Some((k, 3)), 2, 0))
            .collect();
        let m = merge(&all).unwrap();
        assert!(m.complete(), "{}", m.line());
        assert_eq!((m.ok, m.already_complete, m.bytes), (6, 3, 30));
        assert!(m.line().starts_with("3 of 3 shards: 6 ok"), "{}", m.line());

        let m = merge(&all[..2]).unwrap();
        assert!(!m.complete());
        assert_eq!(m.missing, [2]);
        assert!(m.line().contains("no report from shard 2"), "{}", m.line());

        let failing = report(d.path(), Some((2, 3)), 1, 1);
        let m = merge(&[all[0].clone(), all[1].clone(), failing]).unwrap();
        assert!(!m.complete() && m.failed == 1);
        assert_eq!(m.failures[0].1, "http://h/0: HTTP 404");

        let m = merge(&[all[0].clone(), all[0].clone()]).unwrap();
        assert_eq!((m.repeated.clone(), m.ok), (vec![0], 2));
    }

    #[test]
    fn mixed_counts_and_non_reports_are_named() {
        let d = tempfile::tempdir().unwrap();
        let a = report(d.path(), Some((0, 2)), 1, 0);
        let b = report(d.path(), Some((0, 3)), 1, 0);
        let err = merge(&[a, b.clone()]).unwrap_err().to_string();
        assert!(
            err.contains(&b.display().to_string()) && err.contains("3 shards"),
            "{err}"
        );
        let junk = d.path().join("junk.json");
        std::fs::write(&junk, "{}").unwrap();
        let err = merge(&[junk]).unwrap_err().to_string();
        assert!(
            err.contains("junk.json") && err.contains("not a fetchpool JSON report"),
            "{err}"
        );
        let plain = report(d.path(), None, 1, 0);
        assert!(merge(&[plain]).unwrap().complete());
    }
}
