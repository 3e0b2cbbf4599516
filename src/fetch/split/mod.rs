/*!
One file over several connections of the same pool (`--split`). A file whose length is known
and whose server honours Range is cut into ranges; the worker that started it keeps one, the
others wait on a board ([`board`]) that idle workers of the pool look at once no file is left
to start.
A free worker with nothing queued takes over the second half of the largest range still
running (that transfer stops at the midpoint), while both halves stay above the minimum.

Exactness: bytes are written in place, and the sidecar lists the ranges still missing; it is
rewritten only after the bytes it counts as done are on disk, so a killed run continues with
exactly the missing ranges. Every range is asked with `If-Range` and its 206 checked against
the range asked and the validators the download began with ([`range`]); any reply that does
not fit ends the split, and the file starts again from zero over one stream.
*/

mod board;
mod range;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ureq::http::Response;
use url::Url;

use super::Download;
use super::partial::{self, Meta, Partial};
use super::partials::Partials;
use crate::client::Client;
use crate::config::Config;
use crate::error::Error;
use crate::job::Job;
use crate::timing::SegmentLog;
pub(crate) use board::{Board, Task};
pub(super) use range::Halt;

/// Rewrite the sidecar after this many new bytes of a file (and whenever a range ends): a
/// kill costs at most this much again per file, and the sidecar is not rewritten per chunk.
const RECORD_EVERY: u64 = 256 * 1024;

/// How long an idle worker or a waiting owner sleeps before looking again (wake-ups are
/// signalled; this bounds a missed one).
const NAP: Duration = Duration::from_millis(20);

/// What a download gets from the run around it: to split, the board idle workers of its
/// pool look at (none in the serial loop or for a single download), where its segments are
/// logged, and its worker; and the run's readings of its directories' partials.
#[derive(Clone, Copy, Default)]
pub(crate) struct Helpers<'a> {
    pub board: Option<&'a Board>,
    pub log: Option<&'a Arc<SegmentLog>>,
    pub worker: usize,
    pub partials: Option<&'a Partials>,
}

/// One range: the next byte to write and the end (exclusive), which a takeover moves back.
#[derive(Debug, Clone, Copy)]
struct Part {
    pos: u64,
    end: u64,
    /// A worker is fetching it.
    active: bool,
}

struct State {
    ranges: Vec<Part>,
    /// Bytes written since the sidecar was last rewritten.
    unrecorded: u64,
    /// Why the split ended early, when it did (the first reason wins).
    halt: Option<Halt>,
}

impl State {
    fn active(&self) -> usize {
        self.ranges.iter().filter(|r| r.active).count()
    }

    fn complete(&self) -> bool {
        self.ranges.iter().all(|r| r.pos >= r.end)
    }
}

/// A file being fetched as ranges: what every worker on it shares.
pub(crate) struct SplitFile {
    job: Job,
    /// The URL every range is asked from: the source (the job's, or a mirror) whose reply
    /// the split began with.
    source: Url,
    url: String,
    /// The validators and total every range is checked against (its `todo` is not kept
    /// here: the ranges are).
    meta: Meta,
    io: partial::Shared,
    /// Ranges in flight at once, at most.
    max: usize,
    min: u64,
    log: Option<Arc<SegmentLog>>,
    state: Mutex<State>,
    /// Signalled when a worker lets go of a range: the owner waits on it at the end.
    changed: Condvar,
    /// Bytes the helpers took off the wire.
    received: AtomicU64,
}

impl SplitFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether another range may start: the file has not ended, nor reached its cap.
    fn may_grow(&self, st: &State) -> bool {
        st.halt.is_none() && st.active() < self.max
    }

    /// A queued range (the largest), marked active; none when the file ended or is at its
    /// cap of ranges in flight.
    fn take(&self) -> Option<usize> {
        let mut st = self.lock();
        if !self.may_grow(&st) {
            return None;
        }
        let (i, _) = st
            .ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.active && r.pos < r.end)
            .max_by_key(|(_, r)| r.end - r.pos)?;
        st.ranges[i].active = true;
        Some(i)
    }

    /// The largest running range whose halves stay above the minimum, if another range may
    /// start at all.
    fn halvable(&self, st: &State) -> Option<usize> {
        if !self.may_grow(st) {
            return None;
        }
        let left = |r: &Part| r.end.saturating_sub(r.pos);
        let (i, _) = st
            .ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| r.active && left(r) / 2 >= self.min)
            .max_by_key(|(_, r)| left(r))?;
        Some(i)
    }

    /// Bytes left in the largest running range that may be halved, if any.
    fn splittable(&self) -> Option<u64> {
        let st = self.lock();
        let r = &st.ranges[self.halvable(&st)?];
        Some(r.end.saturating_sub(r.pos))
    }

    /// Halve the largest running range: its transfer stops at the midpoint, and the second
    /// half becomes a new active range for the caller.
    fn take_over(&self) -> Option<usize> {
        let mut st = self.lock();
        let i = self.halvable(&st)?;
        let Part { pos, end, .. } = st.ranges[i];
        let mid = pos + (end - pos) / 2;
        st.ranges[i].end = mid;
        st.ranges.push(Part {
            pos: mid,
            end,
            active: true,
        });
        log::debug!(
            "{}: takeover: {pos}-{end} becomes {pos}-{mid} and {mid}-{end}",
            self.url
        );
        Some(st.ranges.len() - 1)
    }

    /// Where range `i` stands: `(next byte, end)` while bytes remain and the file goes on.
    fn remaining(&self, i: usize) -> Option<(u64, u64)> {
        let st = self.lock();
        let r = st.ranges[i];
        (st.halt.is_none() && r.pos < r.end).then_some((r.pos, r.end))
    }

    /// Write the next bytes of range `i`, up to its end (which may have moved back); returns
    /// how many were taken (none once the file ended).
    fn put(&self, i: usize, buf: &[u8]) -> Result<usize, Error> {
        let mut st = self.lock();
        if st.halt.is_some() {
            return Ok(0);
        }
        let Part { pos, end, .. } = st.ranges[i];
        let n = buf.len().min(end.saturating_sub(pos) as usize);
        // Under the lock, so a takeover never moves the end below bytes being written.
        self.io.write_at(&buf[..n], pos)?;
        st.ranges[i].pos += n as u64;
        st.unrecorded += n as u64;
        if st.unrecorded >= RECORD_EVERY || st.ranges[i].pos >= end {
            self.record(&mut st)?;
        }
        Ok(n)
    }

    /// Rewrite the sidecar with the ranges still missing.
    fn record(&self, st: &mut State) -> Result<(), Error> {
        let mut todo: Vec<(u64, u64)> = st
            .ranges
            .iter()
            .filter(|r| r.pos < r.end)
            .map(|r| (r.pos, r.end))
            .collect();
        todo.sort_unstable();
        st.unrecorded = 0;
        self.io.record(&Meta {
            todo,
            ..self.meta.clone()
        })
    }

    /// A worker lets go of range `i` with `result`: the range is free again, a failure ends
    /// the split for everyone, the sidecar says where things stand, and the segment is logged.
    fn release(
        &self,
        i: usize,
        result: Result<(), Halt>,
        worker: usize,
        start: Instant,
        from: u64,
    ) {
        let mut st = self.lock();
        st.ranges[i].active = false;
        let to = st.ranges[i].pos;
        if let Err(halt) = result
            && st.halt.is_none()
        {
            st.halt = Some(halt);
        }
        if let Err(e) = self.record(&mut st)
            && st.halt.is_none()
        {
            st.halt = Some(Halt::Failed(e));
        }
        drop(st);
        if to > from
            && let Some(log) = &self.log
        {
            log.add(worker, start, from, to);
        }
        self.changed.notify_all();
    }
}

/// The sizes of the first pieces of `[from, to)`: up to `n`, none below `min`.
fn cut(from: u64, to: u64, n: usize, min: u64) -> Vec<Part> {
    let len = to.saturating_sub(from);
    let n = (n as u64).min(len / min.max(1)).max(1);
    (0..n)
        .map(|k| Part {
            pos: from + len * k / n,
            end: from + len * (k + 1) / n,
            active: false,
        })
        .collect()
}

/// Whether `dl` may split a file of `total` bytes with `have` on disk.
pub(super) fn worth_it(dl: &Download, config: &Config, have: u64, total: u64) -> bool {
    dl.helpers.board.is_some()
        && !dl.single
        && config.split > 1
        && total.saturating_sub(have) / 2 >= config.min_split_size.max(1)
}

/// Split a download of `total` bytes whose 206 (`resp`, starting at byte `first`, `span`
/// bytes) was checked and continues the bytes on disk: the ranges go to the board, this
/// worker streams the first from `resp`, then helps with the rest until the file is complete.
#[allow(clippy::too_many_arguments)]
pub(super) fn start(
    client: &Client,
    config: &Config,
    dl: &mut Download,
    partial: &mut Partial,
    meta: Meta,
    total: u64,
    resp: Response<ureq::Body>,
    first: u64,
    span: u64,
) -> Result<(), Halt> {
    let have = partial.len.min(total);
    // The total of the reply governs from here (an earlier sidecar may not have known it).
    let meta = Meta {
        total: Some(total),
        ..meta
    };
    let mut ranges = cut(have, total, config.split, config.min_split_size);
    ranges[0].active = true;
    log::debug!(
        "{}: split {have}-{total} into {} ranges",
        dl.url,
        ranges.len()
    );
    let todo = ranges.iter().map(|r| (r.pos, r.end)).collect();
    partial
        .set_meta(Meta { todo, ..meta })
        .map_err(Halt::Failed)?;
    dl.observer.sized(dl.job, Some(total), have);
    drive(
        client,
        config,
        dl,
        partial,
        ranges,
        Some((resp, first, span)),
    )
}

/// Continue a split download from the ranges its sidecar lists as missing.
pub(super) fn resume(
    client: &Client,
    config: &Config,
    dl: &mut Download,
    partial: &mut Partial,
) -> Result<(), Halt> {
    let meta = partial.meta.clone().unwrap_or_default();
    let total = meta.total.unwrap_or_default();
    let missing: u64 = meta.todo.iter().map(|(a, b)| b - a).sum();
    log::debug!(
        "{}: split download continues: {} ranges, {missing} bytes missing",
        dl.url,
        meta.todo.len()
    );
    let ranges = meta
        .todo
        .iter()
        .map(|&(pos, end)| Part {
            pos,
            end,
            active: false,
        })
        .collect();
    dl.observer
        .sized(dl.job, Some(total), total.saturating_sub(missing));
    drive(client, config, dl, partial, ranges, None)
}

/// The owner's side: share the ranges, fetch them (the first from `first` when given) until
/// none is left to take, wait for the helpers, and say how the split ended.
fn drive(
    client: &Client,
    config: &Config,
    dl: &mut Download,
    partial: &mut Partial,
    ranges: Vec<Part>,
    mut first: Option<(Response<ureq::Body>, u64, u64)>,
) -> Result<(), Halt> {
    let meta = partial.meta.clone().unwrap_or_default();
    let io = partial.shared().map_err(Halt::Failed)?;
    let shared = dl.helpers.board.is_some() && config.split > 1;
    let file = Arc::new(SplitFile {
        job: dl.job.clone(),
        source: dl.source.clone(),
        url: dl.url.clone(),
        meta: Meta {
            todo: Vec::new(),
            ..meta.clone()
        },
        io,
        max: if shared { config.split } else { 1 },
        min: config.min_split_size.max(1),
        log: dl.helpers.log.cloned(),
        state: Mutex::new(State {
            ranges,
            unrecorded: 0,
            halt: None,
        }),
        changed: Condvar::new(),
        received: AtomicU64::new(0),
    });
    let board = dl.helpers.board.filter(|_| shared);
    if let Some(board) = board {
        board.add(&file);
    }
    let worker = dl.helpers.worker;
    loop {
        let next = match first.take() {
            Some(reply) => Some((0, Some(reply))),
            None if dl.stop.is_set() => None,
            None => file.take().or_else(|| file.take_over()).map(|i| (i, None)),
        };
        if let Some((i, reply)) = next {
            let start = Instant::now();
            let from = file.lock().ranges[i].pos;
            let result = range::fetch(&file, i, client, config, dl, reply);
            file.release(i, result, worker, start, from);
            if let Some(board) = board {
                board.notify();
            }
            continue;
        }
        let st = file.lock();
        if st.active() == 0 {
            break;
        }
        let _ = file.changed.wait_timeout(st, NAP);
    }
    if let Some(board) = board {
        board.remove(&file);
    }
    dl.received += file.received.load(Ordering::Relaxed);
    let mut st = file.lock();
    let halt = st.halt.take();
    let complete = st.complete();
    drop(st);
    // Whatever happens next (a restart cuts the file back) starts from the real length.
    let done = (halt.is_none() && complete).then(|| Meta {
        todo: Vec::new(),
        ..meta
    });
    partial.reload(done).map_err(Halt::Failed)?;
    if let Some(halt) = halt {
        return Err(halt);
    }
    if !complete {
        return Err(Halt::Failed(dl.interrupted()));
    }
    if partial.len != meta_total(partial) {
        return Err(Halt::Fallback(format!(
            "split download ended with {} bytes on disk",
            partial.len
        )));
    }
    Ok(())
}

fn meta_total(partial: &Partial) -> u64 {
    partial.meta.as_ref().and_then(|m| m.total).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_and_respect_the_minimum() {
        for (from, to, n, min) in [
            (0, 100, 4, 10),
            (7, 1000, 3, 1),
            (0, 99, 8, 40),
            (0, 5, 8, 1),
        ] {
            let parts = cut(from, to, n, min);
            assert!(parts.len() <= n && !parts.is_empty());
            assert_eq!(parts[0].pos, from);
            assert_eq!(parts.last().unwrap().end, to);
            for w in parts.windows(2) {
                assert_eq!(w[0].end, w[1].pos);
            }
            if parts.len() > 1 {
                assert!(
                    parts.iter().all(|p| p.end - p.pos >= min),
                    "{from} {to} {n} {min}"
                );
            }
        }
        assert_eq!(cut(0, 99, 8, 40).len(), 2);
    }
}
