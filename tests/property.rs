//! A property test of the promise: runs of the binary against a server that misbehaves at
//! random (cuts, stalls, 503 with Retry-After, ignored Range or If-Range, a 206 from another
//! offset, gzip sent anyway, a new version of the file between or during requests), each run
//! ended at a random moment (SIGKILL, SIGINT, or not at all), sometimes two runs at once on
//! one directory. After every round, every file at a final path is byte-identical to a
//! version the server served; after a few fault-free runs, every file is there.
//!
//! Half the rounds split files into ranges (`--split 4 --min-split-size 16K`, so most files
//! are fetched as several ranges at once, and resumed range by range).
//!
//! `FETCHPOOL_PROPERTY_ROUNDS` (default 32) and `FETCHPOOL_PROPERTY_SEED` (default: from the
//! clock) set the size and the seed; a failure prints the seed to replay it.

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fetchpool::server::{Fault, Reply, Request, Server};

use crate::harness::*;

/// The last file is large and listed only in the split rounds.
const FILES: usize = 6;

struct World {
    rng: fastrand::Rng,
    faults: bool,
    /// Current version of each file.
    version: [usize; FILES],
    /// SHA-256 of every version of each file ever served.
    served: Vec<HashSet<String>>,
}

fn content(file: usize, version: usize) -> Vec<u8> {
    // Pairs of versions share a length (only the validators tell them apart); lengths
    // change between pairs. Most stay above one 64 KiB read.
    let len = match file {
        f if f == FILES - 1 => 800_000 + ((version / 2) * 104_729) % 400_000,
        _ => 20_000 + ((file * 7919 + (version / 2) * 104_729) % 380_000),
    };
    blob(1000 * file + version, len)
}

fn validators(file: usize, version: usize) -> (Option<String>, String) {
    let day = 1 + (file * 5 + version) % 28;
    let lm = format!("Mon, {day:02} Jan 2024 {:02}:00:00 GMT", version % 24);
    // Some versions have only Last-Modified.
    let etag = (version % 3 != 2).then(|| format!("\"{file}-{version}\""));
    (etag, lm)
}

fn reply(world: &Mutex<World>, req: &Request) -> Reply {
    let mut w = world.lock().unwrap();
    let Some(file) = req
        .path
        .strip_prefix("/f")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n < FILES)
    else {
        return Reply::status(404);
    };
    // A new version between requests (the reply below is of the new one) ...
    if w.faults && w.rng.u8(..100) < 15 {
        w.version[file] += 1;
    }
    let version = w.version[file];
    let body = content(file, version);
    w.served[file].insert(sha(&body));
    let (etag, lm) = validators(file, version);
    // ... or during one (this reply keeps the old bytes, like a server that still has the
    // replaced file open).
    if w.faults && w.rng.u8(..100) < 5 {
        w.version[file] += 1;
        let next = content(file, w.version[file]);
        w.served[file].insert(sha(&next));
    }
    let normal =
        |req: &Request| Reply::file(req, &body, etag.as_deref(), Some(&lm)).rate(Some(1_500_000));
    if !w.faults {
        return normal(req);
    }
    // `bytes=N-` or, from a split download, `bytes=N-M`.
    let range: Option<(usize, Option<usize>)> = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok())));
    let roll = w.rng.u8(..100);
    let cut = w.rng.usize(..body.len());
    match roll {
        0..=29 => normal(req),
        30..=41 => normal(req).fault(Fault::CutAfter(cut)),
        42..=47 => normal(req).fault(Fault::ChunkedCutAfter(cut)),
        48..=49 => normal(req).fault(Fault::StallAfter(cut)),
        50..=55 => Reply::status(503).header("Retry-After", "0"),
        // Range ignored: the whole body.
        56..=61 => {
            let mut plain = req.clone();
            plain.headers.retain(|(n, _)| n != "range");
            normal(&plain)
        }
        // If-Range ignored (S3): the range of whatever version is current.
        62..=81 => {
            let mut bare = req.clone();
            bare.headers.retain(|(n, _)| n != "if-range");
            normal(&bare)
        }
        // A 206 from another offset than asked, with an honest Content-Range.
        82..=89 => match range {
            Some((first, last)) if first < body.len() => {
                let start = if w.rng.bool() {
                    first.saturating_sub(w.rng.usize(1..5000))
                } else {
                    (first + w.rng.usize(1..5000)).min(body.len() - 1)
                };
                // A bounded range is answered as long as asked, from the wrong offset.
                let end = last.map_or(body.len() - 1, |l| {
                    (start + l.saturating_sub(first)).clamp(start, body.len() - 1)
                });
                let mut r = Reply::status(206).header(
                    "Content-Range",
                    format!("bytes {start}-{end}/{}", body.len()),
                );
                if let Some(e) = &etag {
                    r = r.header("ETag", e.as_str());
                }
                r.header("Last-Modified", lm.as_str())
                    .body(&body[start..=end])
            }
            _ => normal(req),
        },
        // gzip sent although identity was asked, sometimes cut.
        _ => {
            let mut r = Reply::status(200)
                .header("Content-Encoding", "gzip")
                .header("Last-Modified", lm.as_str())
                .body(gzip(&body));
            if let Some(e) = &etag {
                r = r.header("ETag", e.as_str());
            }
            if w.rng.bool() {
                let n = r.body.len();
                r = r.fault(Fault::CutAfter(w.rng.usize(..n)));
            }
            r
        }
    }
}

fn spawn(env: &Env, list: &str, split: bool) -> Child {
    let ranges: &[&str] = match split {
        true => &["--split", "4", "--min-split-size", "16K"],
        false => &[],
    };
    env.cmd()
        .args(ranges)
        .args([
            "-j",
            "3",
            "--retries",
            "2",
            "--timeout",
            "1",
            "-q",
            "-i",
            list,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Wait for `child`, which must end on its own (every fault is bounded in time).
fn wait(child: &mut Child, seed: u64) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "seed {seed}: a run never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check(env: &Env, world: &Mutex<World>, seed: u64, round: usize) {
    let w = world.lock().unwrap();
    for (file, served) in w.served.iter().enumerate() {
        let path = env.out().join(format!("f{file}"));
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                served.contains(&sha(&bytes)),
                "seed {seed}, round {round}: f{file} ({} bytes) is no version the server served",
                bytes.len()
            );
        }
    }
}

#[test]
fn every_final_file_is_a_version_the_server_served() {
    let rounds: usize = std::env::var("FETCHPOOL_PROPERTY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let seed: u64 = std::env::var("FETCHPOOL_PROPERTY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("property test: seed {seed}, {rounds} rounds (FETCHPOOL_PROPERTY_SEED to replay)");
    let world = Arc::new(Mutex::new(World {
        rng: fastrand::Rng::with_seed(seed),
        faults: true,
        version: [0; FILES],
        served: vec![HashSet::new(); FILES],
    }));
    let w = world.clone();
    let server = Server::start(move |req| reply(&w, req)).unwrap();
    let env = Env::new();
    let list = |n: usize| -> String {
        (0..n)
            .map(|i| format!("{} f{i}\n", server.url(&format!("/f{i}"))))
            .collect()
    };
    let plain = env.write("list.txt", &list(FILES - 1));
    let with_large = env.write("split.txt", &list(FILES));
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    for round in 0..rounds {
        // Complete files are removed often, so that every round downloads.
        for file in 0..FILES {
            if rng.u8(..100) < 60 {
                let _ = std::fs::remove_file(env.out().join(format!("f{file}")));
            }
        }
        let split = round % 2 == 1;
        let list = if split { &with_large } else { &plain };
        let mut runs = vec![spawn(&env, list, split)];
        if rng.u8(..100) < 25 {
            runs.push(spawn(&env, list, split));
        }
        for run in &mut runs {
            match rng.u8(..3) {
                0 => {
                    std::thread::sleep(Duration::from_millis(rng.u64(..400)));
                    let _ = run.kill();
                    let _ = run.wait();
                }
                1 => {
                    std::thread::sleep(Duration::from_millis(rng.u64(..400)));
                    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
                    // None: the signal came before the handler was installed.
                    let code = wait(run, seed);
                    assert!(
                        matches!(code, Some(0 | 1 | 130) | None),
                        "seed {seed}, round {round}: SIGINT gave {code:?}"
                    );
                }
                _ => {
                    let code = wait(run, seed);
                    assert!(
                        matches!(code, Some(0 | 1)),
                        "seed {seed}, round {round}: exit {code:?}"
                    );
                }
            }
        }
        check(&env, &world, seed, round);
    }
    world.lock().unwrap().faults = false;
    let mut last = None;
    for _ in 0..3 {
        last = wait(&mut spawn(&env, &with_large, true), seed);
        if last == Some(0) {
            break;
        }
    }
    assert_eq!(
        last,
        Some(0),
        "seed {seed}: fault-free runs did not complete the list"
    );
    check(&env, &world, seed, rounds);
    for file in 0..FILES {
        assert!(
            env.out().join(format!("f{file}")).is_file(),
            "seed {seed}: f{file} missing after fault-free runs"
        );
    }
}
