//! Politeness: --max-per-host caps the transfers one host sees at once, across the pool,
//! as counted by the server itself. (--limit-rate is measured in scripts/bench.sh, never
//! asserted as a time here.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fetchpool::server::{Reply, Request, Server};

use crate::harness::*;

/// A server that counts the requests it is answering at once (each takes a while), and
/// the most it ever saw.
fn counting_server() -> (Server, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), most.clone());
    let server = Server::start(move |req: &Request| {
        let in_flight = n.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(in_flight, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
        n.fetch_sub(1, Ordering::SeqCst);
        let seed: usize = req.path[2..].parse().unwrap();
        Reply::file(req, &blob(seed, 5000), None, None)
    })
    .unwrap();
    (server, most)
}

fn list(env: &Env, server: &Server) -> String {
    let urls: String = (0..12)
        .map(|i| server.url(&format!("/f{i}")) + "\n")
        .collect();
    env.write("list.txt", &urls)
}

#[test]
fn max_per_host_caps_what_the_server_sees_at_once() {
    let env = Env::new();
    let (server, most) = counting_server();
    env.run(&["-j", "6", "--max-per-host", "2", "-i", &list(&env, &server)])
        .code(0)
        .stdout_has("12 ok");
    assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
    for i in 0..12 {
        assert_file(&env.out().join(format!("f{i}")), &blob(i, 5000));
    }
}

#[test]
fn without_a_cap_the_pool_reaches_the_host_in_parallel() {
    // The counter above can see more than two: the cap is what held it.
    let env = Env::new();
    let (server, most) = counting_server();
    env.run(&["-j", "6", "-i", &list(&env, &server)]).code(0);
    assert!(most.load(Ordering::SeqCst) > 2, "{most:?}");
}

#[test]
fn limit_rate_still_downloads_every_byte() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(130, 300_000)), ("b", blob(131, 300_000))]);
    env.run(&["--limit-rate", "4M", &server.url("/a"), &server.url("/b")])
        .code(0);
    assert_file(&env.out().join("a"), &blob(130, 300_000));
    assert_file(&env.out().join("b"), &blob(131, 300_000));
    env.run(&["--limit-rate", "0", "http://h/x"])
        .code(2)
        .stderr_has("--limit-rate");
}
