//! Live progress from the library, without a terminal crate: an [`Observer`] adds up bytes
//! in atomics as workers write them, and a reporter thread samples them four times a second.
//! The download path pays one call per 64 KiB chunk. `cargo run --example progress`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use fetchpool::server::{Reply, Server};
use fetchpool::{Config, Downloader, Error, Job, Observer, Outcome};

#[derive(Default)]
struct Counters {
    expected: AtomicU64,
    written: AtomicU64,
    done: AtomicUsize,
}

impl Observer for Counters {
    fn sized(&self, _job: &Job, total: Option<u64>, on_disk: u64) {
        if let Some(t) = total {
            self.expected.fetch_add(t - on_disk, Ordering::Relaxed);
        }
    }
    fn progressed(&self, _job: &Job, bytes: u64) {
        self.written.fetch_add(bytes, Ordering::Relaxed);
    }
    fn finished(&self, _job: &Job, _result: &Result<Outcome, Error>) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = vec![1u8; 2 << 20];
    let server = Server::start(move |req| Reply::file(req, &data, None, None).rate(Some(4 << 20)))?;
    let dir = tempfile::tempdir()?;
    let pairs: Vec<_> = (0..6)
        .map(|i| (server.url(&format!("/{i}")), dir.path().join(i.to_string())))
        .collect();
    let counters = Arc::new(Counters::default());
    let downloader = Downloader::new(Config::default())?.with_observer(counters.clone());
    std::thread::scope(|s| {
        let reporter = s.spawn(|| {
            while counters.done.load(Ordering::Relaxed) < pairs.len() {
                std::thread::sleep(Duration::from_millis(250));
                println!(
                    "{} of 6 files, {} of {} bytes",
                    counters.done.load(Ordering::Relaxed),
                    counters.written.load(Ordering::Relaxed),
                    counters.expected.load(Ordering::Relaxed),
                );
            }
        });
        for result in downloader.parallel(pairs.iter().map(|(u, p)| (u, p))) {
            if let Err(e) = result {
                eprintln!("{e}");
            }
        }
        reporter.join().unwrap();
    });
    let written = counters.written.load(Ordering::Relaxed);
    println!("done: {written} bytes written");
    assert_eq!(
        written,
        6 * (2 << 20),
        "every byte was seen by the observer"
    );
    Ok(())
}
