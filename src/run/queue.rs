/*!
The work the pool's workers pull from: entries first, from the queue the planner fills; once
none is waiting, ranges of split files (queued ones, then the second half of the largest
running one). Exactly one worker per pool thread loops until the queue is closed and empty
and no file is being downloaded, so a worker that runs out of files helps with the bytes
that remain instead of going idle; no thread is ever added.
*/

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::fetch::split::{Board, Task};

/// How long a worker with nothing to do waits on the queue before looking at the board again.
const NAP: Duration = Duration::from_millis(20);

/// Run `one(entry, worker)` for every entry of `queue` on `pool`'s threads, and
/// `help(task, worker)` for ranges of split files whenever no entry is waiting (false: the
/// range could not start, its host has no free slot, so the worker naps). Returns when
/// the queue is closed and drained and every entry is done.
pub(crate) fn drain<T, F, H>(
    pool: &rayon::ThreadPool,
    queue: Receiver<T>,
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
            let queue = queue.clone();
            s.spawn(move |_| {
                let worker = rayon::current_thread_index().unwrap_or(0);
                let run = |entry| {
                    one(entry, worker);
                    running.fetch_sub(1, Ordering::SeqCst);
                    board.notify();
                };
                loop {
                    running.fetch_add(1, Ordering::SeqCst);
                    let closed = match queue.try_recv() {
                        Ok(entry) => {
                            run(entry);
                            continue;
                        }
                        Err(TryRecvError::Empty) => false,
                        Err(TryRecvError::Disconnected) => true,
                    };
                    running.fetch_sub(1, Ordering::SeqCst);
                    if let Some(task) = board.take() {
                        if !help(task, worker) {
                            board.wait();
                        }
                        continue;
                    }
                    if !closed {
                        // Nothing to help with: wait for the planner, briefly.
                        running.fetch_add(1, Ordering::SeqCst);
                        match queue.recv_timeout(NAP) {
                            Ok(entry) => run(entry),
                            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                                running.fetch_sub(1, Ordering::SeqCst);
                            }
                        }
                        continue;
                    }
                    if running.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    board.wait();
                }
            });
        }
    });
}
