/*!
The work the pool's workers pull from: entries first, from the [`Feed`] the planner fills;
once none is waiting, ranges of split files (queued ones, then the second half of the largest
running one). Exactly one worker per pool thread loops until the feed is closed and empty
and no file is being downloaded, so a worker that runs out of files helps with the bytes
that remain instead of going idle; no thread is ever added.
*/

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fetch::split::{Board, Task};

/// How long a worker with nothing to do waits on the feed before looking at the board again.
const NAP: Duration = Duration::from_millis(20);

/// Planned entries on their way from the planner to the workers, at most `cap` waiting.
///
/// Unlike a bounded channel, a full feed does not wake the planner each time a worker takes
/// one entry: the planner sleeps until the workers have taken half of what waits. With a
/// channel, a list of 2000 small files switched the planner thread in and out 2000 times,
/// each time to plan a single line.
pub(crate) struct Feed<T> {
    state: Mutex<State<T>>,
    /// The planner waits here for room.
    room: Condvar,
    /// Idle workers wait here for an entry.
    ready: Condvar,
    cap: usize,
}

struct State<T> {
    items: VecDeque<T>,
    /// No more entries will come.
    closed: bool,
    /// The planner sleeps until the feed is half empty.
    planner_waits: bool,
    /// Workers waiting for an entry.
    idle: usize,
    /// Workers that may still take entries; none left means the planner can stop.
    workers: usize,
}

/// What a worker gets from the feed.
pub(crate) enum Take<T> {
    Entry(T),
    /// Nothing waiting now; more may come.
    Empty,
    /// Nothing waiting and nothing more to come.
    Closed,
}

impl<T> Feed<T> {
    /// An open feed for `workers` workers, at most `cap` entries waiting.
    pub(crate) fn new(cap: usize, workers: usize) -> Feed<T> {
        Feed {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                planner_waits: false,
                idle: 0,
                workers,
            }),
            room: Condvar::new(),
            ready: Condvar::new(),
            cap: cap.max(1),
        }
    }

    /// A closed feed holding `items`, for `workers` workers.
    pub(crate) fn of(items: impl IntoIterator<Item = T>, workers: usize) -> Feed<T> {
        let feed = Feed::new(usize::MAX, workers);
        {
            let mut state = feed.lock();
            state.items.extend(items);
            state.closed = true;
        }
        feed
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A worker that panicked held no invariant half-done: the queue is still a queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add an entry, waiting while the feed is full. `Err` gives it back when no worker is
    /// left to take it.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut state = self.lock();
        while state.items.len() >= self.cap && state.workers > 0 {
            state.planner_waits = true;
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.workers == 0 {
            return Err(item);
        }
        state.items.push_back(item);
        if state.idle > 0 {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// No more entries: waiting workers see [`Take::Closed`] once the feed is empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next entry, without waiting.
    pub(crate) fn try_take(&self) -> Take<T> {
        let mut state = self.lock();
        self.pop(&mut state)
    }

    /// The next entry, waiting at most `wait` for one.
    pub(crate) fn take_timeout(&self, wait: Duration) -> Take<T> {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            match self.pop(&mut state) {
                Take::Empty => {}
                taken => return taken,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Take::Empty;
            }
            state.idle += 1;
            state = match self.ready.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
            state.idle -= 1;
        }
    }

    fn pop(&self, state: &mut State<T>) -> Take<T> {
        match state.items.pop_front() {
            Some(item) => {
                if state.planner_waits && state.items.len() <= self.cap / 2 {
                    state.planner_waits = false;
                    self.room.notify_one();
                }
                Take::Entry(item)
            }
            None if state.closed => Take::Closed,
            None => Take::Empty,
        }
    }

    /// A worker is gone (finished, or unwinding from a panic).
    fn leave(&self) {
        let mut state = self.lock();
        state.workers = state.workers.saturating_sub(1);
        if state.workers == 0 {
            self.room.notify_one();
        }
    }
}

/// Closes the feed when dropped: the planner's end, normal or a panic's.
pub(crate) struct CloseOnDrop<'a, T>(pub &'a Feed<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// One worker's presence on the feed, ended on drop.
struct Worker<'a, T>(&'a Feed<T>);

impl<T> Drop for Worker<'_, T> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Run `one(entry, worker)` for every entry of `feed` on `pool`'s threads, and
/// `help(task, worker)` for ranges of split files whenever no entry is waiting (false: the
/// range could not start, its host has no free slot, so the worker naps). Returns when
/// the feed is closed and drained and every entry is done. `feed` must be made for
/// `pool.current_num_threads()` workers.
pub(crate) fn drain<T, F, H>(
    pool: &rayon::ThreadPool,
    feed: &Feed<T>,
    board: &Board,
    one: F,
    help: H,
) where
    T: Send,
    F: Fn(T, usize) + Sync,
    H: Fn(Task, usize) -> bool + Sync,
{
    // Entries taken and not finished: while there are any, a free worker may still get a range.
    let running = AtomicUsize::new(0);
    let (one, help, running) = (&one, &help, &running);
    pool.scope(|s| {
        for _ in 0..pool.current_num_threads() {
            s.spawn(move |_| {
                let _present = Worker(feed);
                let worker = rayon::current_thread_index().unwrap_or(0);
                let run = |entry, hand: InHand| {
                    one(entry, worker);
                    drop(hand);
                    board.notify();
                };
                loop {
                    let hand = InHand::take(running, board);
                    let closed = match feed.try_take() {
                        Take::Entry(entry) => {
                            run(entry, hand);
                            continue;
                        }
                        Take::Empty => false,
                        Take::Closed => true,
                    };
                    drop(hand);
                    if let Some(task) = board.take() {
                        if !help(task, worker) {
                            board.wait();
                        }
                        continue;
                    }
                    if !closed {
                        // Nothing to help with: wait for the planner, briefly.
                        let hand = InHand::take(running, board);
                        match feed.take_timeout(NAP) {
                            Take::Entry(entry) => run(entry, hand),
                            Take::Empty | Take::Closed => drop(hand),
                        }
                        continue;
                    }
                    if running.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    // Another worker still has an entry (it may yet split it): wait for it,
                    // or for the end, which its hand announces when put down.
                    board.wait_unless(|| running.load(Ordering::SeqCst) == 0);
                }
            });
        }
    });
}

/// A worker's hand, holding an entry (or about to take one): counted in `running` while it
/// lives. Put down on drop, also when the entry's job panics (the other workers then finish
/// the list and the scope re-raises the panic, instead of waiting forever for the count to
/// fall); the last one put down wakes the workers waiting for the end.
struct InHand<'a> {
    running: &'a AtomicUsize,
    board: &'a Board,
}

impl<'a> InHand<'a> {
    fn take(running: &'a AtomicUsize, board: &'a Board) -> InHand<'a> {
        running.fetch_add(1, Ordering::SeqCst);
        InHand { running, board }
    }
}

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.board.wake_all();
        }
    }
}
