//! The classic program, in fetchpool: the same `(url, filename)` pairs downloaded in a plain
//! loop and then on a pool of CPU count minus one threads (at least 2), printing how long each
//! URL took, the totals and the speedup.
//!
//! It serves its own files from the built-in loopback server (50 ms round trip, 1 MiB/s per
//! connection), so it needs no network: `cargo run --example tutorial`.

use std::time::{Duration, Instant};

use fetchpool::server::{Reply, Server};
use fetchpool::{Config, Downloader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = vec![7u8; 256 * 1024];
    let server = Server::with_rtt(Duration::from_millis(50), move |req| {
        Reply::file(req, &data, None, None).rate(Some(1 << 20))
    })?;
    let dir = tempfile::tempdir()?;

    // The inputs: zipped URLs and file names.
    let urls: Vec<String> = (1..=8)
        .map(|i| server.url(&format!("/file{i}.bin")))
        .collect();
    let names = |phase: &str| -> Vec<_> {
        (1..=8)
            .map(|i| dir.path().join(phase).join(format!("file{i}.bin")))
            .collect()
    };
    let downloader = Downloader::new(Config::default())?;

    // The loop.
    let start = Instant::now();
    for result in downloader.serial(urls.iter().zip(names("serial"))) {
        let done = result?;
        println!("{} took {:.2?}", done.url, done.elapsed);
    }
    let serial = start.elapsed();
    println!("serial: {serial:.2?}");

    // The pool: the same function over the same pairs, results as they complete.
    let start = Instant::now();
    for result in downloader.parallel(urls.iter().zip(names("parallel"))) {
        let done = result?;
        println!("{} took {:.2?}", done.url, done.elapsed);
    }
    let parallel = start.elapsed();
    println!(
        "parallel ({} threads): {parallel:.2?}",
        downloader.config().jobs
    );
    println!(
        "speedup: {:.2}x",
        serial.as_secs_f64() / parallel.as_secs_f64()
    );
    Ok(())
}
