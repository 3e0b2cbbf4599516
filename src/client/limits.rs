/*!
Politeness shared by every worker of a run: at most N transfers in flight per host
(`--max-per-host`), and one byte budget for the whole run (`--limit-rate`). Both are counted
per transfer and per chunk, so a download split into several ranges counts each range as a
connection and each of its bytes against the budget.
*/

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use url::Url;

use crate::config::Stop;

/// The run's limits; cheap to clone (the counters are shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    hosts: Option<Arc<HostSlots>>,
    rate: Option<Arc<Bucket>>,
}

impl Limits {
    pub(crate) fn new(max_per_host: Option<usize>, rate: Option<u64>) -> Limits {
        Limits {
            hosts: max_per_host.map(|n| {
                Arc::new(HostSlots {
                    max: n.max(1),
                    busy: Mutex::new(HashMap::new()),
                    freed: Condvar::new(),
                })
            }),
            rate: rate.filter(|&r| r > 0).map(|r| Arc::new(Bucket::new(r))),
        }
    }

    /// Wait for a free slot on `url`'s host; `None` when stopped while waiting. The slot is
    /// given back when the returned guard is dropped.
    pub(crate) fn slot(&self, url: &Url, stop: &Stop) -> Option<Slot> {
        let Some(hosts) = &self.hosts else {
            return Some(Slot(None));
        };
        let key = host_key(url);
        let mut busy = hosts.busy.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let n = busy.entry(key.clone()).or_insert(0);
            if *n < hosts.max {
                *n += 1;
                return Some(Slot(Some((hosts.clone(), key))));
            }
            if stop.is_set() {
                return None;
            }
            // Woken when a slot frees; the timeout only makes a stop noticed.
            busy = hosts
                .freed
                .wait_timeout(busy, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A free slot on `url`'s host now, or `None` without waiting (a helper of a split
    /// download, which must not wait while the file's owner holds a slot of its own).
    pub(crate) fn try_slot(&self, url: &Url) -> Option<Slot> {
        let Some(hosts) = &self.hosts else {
            return Some(Slot(None));
        };
        let key = host_key(url);
        let mut busy = hosts.busy.lock().unwrap_or_else(|e| e.into_inner());
        let n = busy.entry(key.clone()).or_insert(0);
        (*n < hosts.max).then(|| {
            *n += 1;
            Slot(Some((hosts.clone(), key)))
        })
    }

    /// Account for `bytes` taken off the wire, waiting as long as the run's rate requires;
    /// `false` when stopped while waiting.
    pub(crate) fn pace(&self, bytes: u64, stop: &Stop) -> bool {
        match &self.rate {
            Some(bucket) => bucket.take(bytes, stop),
            None => true,
        }
    }
}

/// What `--max-per-host` counts by: host and port.
fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}

#[derive(Debug)]
struct HostSlots {
    max: usize,
    busy: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

/// A transfer's place on its host, given back on drop (the default holds none).
#[derive(Default)]
pub(crate) struct Slot(Option<(Arc<HostSlots>, String)>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((hosts, key)) = self.0.take() {
            let mut busy = hosts.busy.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = busy.get_mut(&key) {
                *n = n.saturating_sub(1);
            }
            hosts.freed.notify_all();
        }
    }
}

/// A token bucket shared by all workers: bytes refill at `rate` per second up to a small
/// burst; a chunk that overdraws it makes its worker sleep the debt off.
#[derive(Debug)]
struct Bucket {
    rate: u64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        // A tenth of a second of bytes, at least one read buffer: smooth, yet not a sleep
        // per chunk at high rates.
        let burst = (rate as f64 / 10.0).max(64.0 * 1024.0);
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    fn take(&self, bytes: u64, stop: &Stop) -> bool {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let (tokens, last) = *state;
            let refilled = (tokens + now.duration_since(last).as_secs_f64() * self.rate as f64)
                .min(self.burst);
            let left = refilled - bytes as f64;
            *state = (left, now);
            (left < 0.0).then(|| Duration::from_secs_f64(-left / self.rate as f64))
        };
        wait.is_none_or(|w| crate::fetch::retry::sleep(w, stop))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn a_host_has_at_most_max_slots_and_gets_them_back() {
        let limits = Limits::new(Some(2), None);
        let stop = Stop::new(&Arc::new(AtomicBool::new(false)));
        let u = Url::parse("http://h/a").unwrap();
        let other = Url::parse("http://g/a").unwrap();
        let a = limits.slot(&u, &stop).unwrap();
        let _b = limits.slot(&u, &stop).unwrap();
        let _c = limits.slot(&other, &stop).unwrap();
        let hosts = limits.hosts.as_ref().unwrap();
        assert_eq!(hosts.busy.lock().unwrap()["h:80"], 2);
        drop(a);
        assert_eq!(hosts.busy.lock().unwrap()["h:80"], 1);
        // A third waiter on a full host gives up when stopped.
        let _d = limits.slot(&u, &stop).unwrap();
        let stopped = Stop::new(&Arc::new(AtomicBool::new(true)));
        assert!(limits.slot(&u, &stopped).is_none());
    }

    #[test]
    fn the_bucket_runs_into_debt_and_owes_it_in_time() {
        let b = Bucket::new(1000);
        let stop = Stop::new(&Arc::new(AtomicBool::new(true)));
        // The burst is free; an overdraft asks for a wait, which a stop cuts short.
        assert!(b.take(64 * 1024, &stop));
        assert!(!b.take(5000, &stop));
        assert!(b.state.lock().unwrap().0 < 0.0);
    }
}
