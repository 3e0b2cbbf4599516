//! The embedding API: the iterator of the classic pool and loop, and a scratch crate that
//! depends on fetchpool with `default-features = false`, as the README tells an embedder.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetchpool::server::{Reply, Server};
use fetchpool::{Config, Downloader, Status};

use crate::harness::*;

fn downloader(jobs: usize) -> Downloader {
    Downloader::new(Config {
        jobs,
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn parallel_yields_every_result_once() {
    let env = Env::new();
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("f{i}"), blob(60 + i, 1000 + i * 100)))
        .collect();
    let server = static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect());
    let pairs: Vec<_> = files
        .iter()
        .map(|(n, _)| (server.url(&format!("/{n}")), env.out().join(n)))
        .collect();
    let mut seen: Vec<String> = downloader(4)
        .parallel(pairs.iter().map(|(u, p)| (u, p)))
        .map(|r| r.unwrap().path.display().to_string())
        .collect();
    seen.sort();
    let mut want: Vec<String> = pairs.iter().map(|(_, p)| p.display().to_string()).collect();
    want.sort();
    assert_eq!(seen, want);
    for (n, c) in &files {
        assert_file(&env.out().join(n), c);
    }
}

#[test]
fn parallel_yields_in_completion_order_while_the_pool_works() {
    let env = Env::new();
    // /slow answers only once the test has received /fast's result from the iterator.
    let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let r = release.clone();
    let server = Server::start(move |req| {
        if req.path == "/slow" {
            let (lock, cv) = &*r;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = cv.wait(go).unwrap();
            }
        }
        Reply::file(req, req.path.as_bytes(), None, None)
    })
    .unwrap();
    let pairs = [
        (server.url("/slow"), env.out().join("slow")),
        (server.url("/fast"), env.out().join("fast")),
    ];
    let mut results = downloader(2).parallel(pairs);
    let first = results.next().unwrap().unwrap();
    assert!(first.path.ends_with("fast"), "{first:?}");
    let (lock, cv) = &*release;
    *lock.lock().unwrap() = true;
    cv.notify_all();
    let second = results.next().unwrap().unwrap();
    assert!(second.path.ends_with("slow"));
    assert!(results.next().is_none());
    assert_file(&env.out().join("slow"), b"/slow");
}

#[test]
fn serial_downloads_in_input_order_on_each_next() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(70, 500)), ("b", blob(71, 500))]);
    let pairs = [
        (server.url("/a"), env.out().join("a")),
        (server.url("/b"), env.out().join("b")),
    ];
    let d = downloader(2);
    let mut results = d.serial(pairs.clone());
    assert!(
        server.requests().is_empty(),
        "nothing happens before next()"
    );
    assert!(results.next().unwrap().unwrap().path.ends_with("a"));
    assert_eq!(server.requests().len(), 1);
    assert!(results.next().unwrap().unwrap().path.ends_with("b"));
    assert!(results.next().is_none());
    // The same pairs again: every file is complete, no request.
    let again: Vec<_> = d.serial(pairs).map(|r| r.unwrap().status).collect();
    assert_eq!(again, [Status::AlreadyComplete, Status::AlreadyComplete]);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn bad_pairs_fail_alone_before_any_download() {
    let env = Env::new();
    let server = static_server(vec![("a", blob(72, 100))]);
    let pairs = [
        (server.url("/a"), env.out().join("a")),
        ("ftp://h/x".to_string(), env.out().join("x")),
        (server.url("/a"), env.out().join("sub/../a")),
    ];
    let results: Vec<_> = downloader(2).parallel(pairs).collect();
    assert_eq!(results.len(), 3);
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("unsupported scheme")));
    assert!(errors.iter().any(|e| e.contains("is already used by")));
    assert_eq!(hits(&server, "/a").len(), 1);
}

#[test]
fn dropping_the_iterator_early_stops_the_rest_cleanly() {
    let env = Env::new();
    let v = Arc::new(blob(73, 400_000));
    let c = v.clone();
    let server =
        Server::start(move |req| Reply::file(req, &c, None, None).rate(Some(400_000))).unwrap();
    let pairs: Vec<_> = (0..12)
        .map(|i| (server.url(&format!("/{i}")), env.out().join(i.to_string())))
        .collect();
    let d = downloader(2);
    let mut results = d.parallel(pairs.iter().map(|(u, p)| (u, p)));
    results.next().unwrap().unwrap();
    drop(results);
    // Once the drop returns, no worker is on the run any more: nothing new is requested.
    let after_drop = server.requests().len();
    assert!(
        after_drop < 12,
        "{after_drop} requests: the rest was not stopped"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.requests().len(), after_drop);
    // Every file in place is whole; what was cut short stayed a partial.
    for i in 0..12 {
        let path = env.out().join(i.to_string());
        if path.exists() {
            assert_file(&path, &v);
        }
    }
    // And the downloader is still usable: the rest completes, partials resumed.
    let again = d
        .parallel(pairs.iter().map(|(u, p)| (u, p)))
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(again, 12);
    for i in 0..12 {
        assert_file(&env.out().join(i.to_string()), &v);
    }
}

/// The README's library example, taken from the README as it is written.
fn readme_example() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find("## Library").expect("a Library section")..];
    let start = section.find("```rust").expect("a rust block");
    let body = &section[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn an_embedder_with_default_features_off_compiles_the_readme_example_without_cli_crates() {
    let scratch = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::create_dir_all(scratch.path().join("src")).unwrap();
    std::fs::write(
        scratch.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"embedder\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nfetchpool = {{ path = {root:?}, default-features = false }}\n\n\
             [workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(scratch.path().join("src/main.rs"), readme_example()).unwrap();
    // The project's lock file, so the scratch crate builds offline with the same versions.
    std::fs::copy(
        Path::new(root).join("Cargo.lock"),
        scratch.path().join("Cargo.lock"),
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(root).join("target/embedder");
    let build = Command::new(&cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(scratch.path())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the README example does not compile for an embedder:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let tree = Command::new(&cargo)
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .current_dir(scratch.path())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.contains("fetchpool v"), "{tree}");
    for cli in [
        "clap",
        "env_logger",
        "ctrlc",
        "anyhow",
        "tempfile",
        "indicatif",
        "tokio",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(&format!("{cli} v"))),
            "{cli} is in an embedder's tree:\n{tree}"
        );
    }
}

/// An observer that panics on the file named `f3`.
struct Boom;

impl fetchpool::Observer for Boom {
    fn started(&self, job: &fetchpool::Job) {
        if job.path.ends_with("f3") {
            panic!("the observer fails on f3");
        }
    }
}

/// Files by name with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Ten files, the server and the `(url, path)` pairs for them.
fn ten_files(env: &Env) -> (Files, Server, Vec<(String, std::path::PathBuf)>) {
    let files: Files = (0..10)
        .map(|i| (format!("f{i}"), blob(90 + i, 3000 + i * 10)))
        .collect();
    let server = static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect());
    let pairs = files
        .iter()
        .map(|(n, _)| (server.url(&format!("/{n}")), env.out().join(n)))
        .collect();
    (files, server, pairs)
}

/// Runs `run` on its own thread; whether it panicked. The receive timeout only detects a
/// hang; it measures nothing.
fn panics(run: impl FnOnce() + Send + 'static) -> bool {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
        let _ = done_tx.send(result.is_err());
    });
    done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the run hung after one of its jobs panicked")
}

/// A job that panics (here an embedder's observer) ends the run with that panic once the
/// other workers have finished the list: it never leaves them waiting forever for an entry
/// that will not be put down.
#[test]
fn a_panicking_job_ends_the_run_with_its_panic_instead_of_hanging() {
    let env = Env::new();
    let (files, _server, pairs) = ten_files(&env);
    let plan = fetchpool::plan_pairs(pairs);
    let ok = Arc::new(Mutex::new(0));
    let seen = ok.clone();
    let panicked = panics(move || {
        let downloader = downloader(4).with_observer(Boom);
        let (tx, rx) = fetchpool::channel::unbounded();
        let collect = std::thread::spawn(move || {
            *seen.lock().unwrap() = rx
                .iter()
                .filter(|r: &fetchpool::Report| r.result.is_ok())
                .count();
        });
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            downloader.run(&plan, fetchpool::Mode::Parallel, &tx)
        }));
        drop(tx);
        collect.join().unwrap();
        if let Err(p) = run {
            std::panic::resume_unwind(p);
        }
    });
    assert!(panicked, "the job's panic reaches the caller");
    assert_eq!(*ok.lock().unwrap(), 9, "every other entry was downloaded");
    for (n, c) in files.iter().filter(|(n, _)| n != "f3") {
        assert_file(&env.out().join(n), c);
    }
}

/// The same through the iterator: the other results come out, then `next()` raises the
/// job's panic in the caller's thread (left on the pool, it would abort the process).
#[test]
fn a_panicking_job_under_parallel_reaches_the_caller_after_the_other_results() {
    let env = Env::new();
    let (files, _server, pairs) = ten_files(&env);
    let ok = Arc::new(Mutex::new(0));
    let seen = ok.clone();
    let panicked = panics(move || {
        let downloader = downloader(4).with_observer(Boom);
        for result in downloader.parallel(pairs.iter().map(|(u, p)| (u, p))) {
            if result.is_ok() {
                *seen.lock().unwrap() += 1;
            }
        }
    });
    assert!(panicked, "next() raises the job's panic");
    assert_eq!(*ok.lock().unwrap(), 9, "every other result came out first");
    for (n, c) in files.iter().filter(|(n, _)| n != "f3") {
        assert_file(&env.out().join(n), c);
    }
}
