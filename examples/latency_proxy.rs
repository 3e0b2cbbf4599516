//! A TCP proxy that adds a round-trip delay, for `scripts/bench.sh`'s latency scenario.
//!
//! `latency_proxy LISTEN_ADDR UPSTREAM_ADDR RTT_MS`
//!
//! Every byte is held for half the round trip in each direction, and the first bytes of a
//! connection for one more round trip (the TCP handshake a real wide-area link would cost).
//! Order is kept: one queue per direction, each chunk released at its own due time.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: latency_proxy LISTEN_ADDR UPSTREAM_ADDR RTT_MS");
        std::process::exit(2);
    }
    let rtt = Duration::from_millis(args[3].parse().unwrap_or_else(|_| {
        eprintln!(
            "latency_proxy: RTT_MS must be a whole number, got {:?}",
            args[3]
        );
        std::process::exit(2);
    }));
    let listener = TcpListener::bind(&args[1]).unwrap_or_else(|e| {
        eprintln!("latency_proxy: cannot listen on {}: {e}", args[1]);
        std::process::exit(2);
    });
    let upstream = args[2].clone();
    for client in listener.incoming().flatten() {
        let upstream = upstream.clone();
        std::thread::spawn(move || {
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            // The handshake: the client's first bytes arrive one round trip later.
            let up = std::thread::spawn(move || pipe(client, server, rtt / 2, rtt));
            pipe(s2, c2, rtt / 2, Duration::ZERO);
            let _ = up.join();
        });
    }
}

/// Copy `from` to `to`, each chunk delayed by `delay` (the first by `delay + first_extra`).
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration, first_extra: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, chunk) in rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if chunk.is_empty() || to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut extra = first_extra;
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        let due = Instant::now() + delay + std::mem::take(&mut extra);
        if tx.send((due, buf[..n].to_vec())).is_err() || n == 0 {
            break;
        }
    }
    let _ = writer.join();
}
