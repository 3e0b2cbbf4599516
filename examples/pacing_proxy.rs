//! A TCP proxy that caps every connection at a steady rate, for `scripts/bench.sh`'s split
//! scenarios: a model of a mirror that limits each connection.
//!
//! `pacing_proxy LISTEN_ADDR UPSTREAM_ADDR BYTES_PER_SEC PEAK_FILE`
//!
//! Each chunk toward the client (at most 16 KiB) leaves only when the connection has earned
//! it at the rate: no burst at the start, no credit saved while a connection idles, and one
//! pace across all the keep-alive requests of a connection (unlike nginx's `limit_rate`,
//! which grants every response a one-second burst). Requests go upstream unpaced.
//! PEAK_FILE holds the largest number of connections open at once so far.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHUNK: usize = 16 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: pacing_proxy LISTEN_ADDR UPSTREAM_ADDR BYTES_PER_SEC PEAK_FILE");
        std::process::exit(2);
    }
    let rate: f64 = match args[3].parse() {
        Ok(r) if r > 0.0 => r,
        _ => {
            eprintln!(
                "pacing_proxy: BYTES_PER_SEC must be a positive number, got {:?}",
                args[3]
            );
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(&args[1]).unwrap_or_else(|e| {
        eprintln!("pacing_proxy: cannot listen on {}: {e}", args[1]);
        std::process::exit(2);
    });
    let upstream = args[2].clone();
    let peak_file = args[4].clone();
    let _ = std::fs::write(&peak_file, "0\n");
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for client in listener.incoming().flatten() {
        let Ok(server) = TcpStream::connect(&upstream) else {
            continue;
        };
        let now = live.fetch_add(1, Ordering::SeqCst) + 1;
        if now > peak.fetch_max(now, Ordering::SeqCst) {
            let _ = std::fs::write(&peak_file, format!("{now}\n"));
        }
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || pump(c2, s2, None));
        let live = live.clone();
        std::thread::spawn(move || {
            pump(server, client, Some(rate));
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Copy `from` to `to` until either side closes, at most `rate` bytes per second.
fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<f64>) {
    let mut buf = vec![0u8; CHUNK];
    // When the connection has earned its next byte: never earlier than now (no saved credit).
    let mut next = Instant::now();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(rate) = rate {
            // The chunk leaves once its own time has passed: no burst, not even the first.
            let due = next.max(Instant::now()) + Duration::from_secs_f64(n as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            next = due;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
