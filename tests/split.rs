//! Split downloads (`--split`): ranges of one file on the pool's workers, the tail takeover,
//! resuming only the missing ranges, and every way a server can make a split unsafe (no
//! Range, another range, another version, gzip), each ending with the server's exact bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use fetchpool::server::{Reply, Request, Server};

use crate::harness::*;

const SPLIT: [&str; 4] = ["--split", "4", "--min-split-size", "16K"];

/// The arguments of a split run on 4 workers: `-j 4`, `extra`, [`SPLIT`], then `urls`.
fn split_args<'a>(extra: &[&'a str], urls: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-j", "4"];
    args.extend(extra);
    args.extend(SPLIT);
    args.extend(urls);
    args
}

/// `bytes=A-B` of a request, when it asks for a bounded range.
fn bounded(req: &Request) -> Option<(usize, usize)> {
    let (a, b) = req
        .header("range")?
        .strip_prefix("bytes=")?
        .split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A file server that sends every response at `rate` bytes per second.
fn slow_server(content: Vec<u8>, rate: u64) -> Server {
    Server::start(move |req| Reply::file(req, &content, Some("\"v1\""), None).rate(Some(rate)))
        .unwrap()
}

#[test]
fn split_files_are_exact_whatever_their_size() {
    let min = 16 * 1024;
    // Sizes not divisible by 4, just below and above two minimum ranges, and tiny.
    let sizes = [
        1_000_003,
        2 * min - 1,
        2 * min,
        2 * min + 1,
        3 * min + 7,
        100,
    ];
    let files: Vec<(String, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("f{i}"), blob(70 + i, n)))
        .collect();
    let server = static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect());
    let env = Env::new();
    let urls: Vec<String> = files
        .iter()
        .map(|(n, _)| server.url(&format!("/{n}")))
        .collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let args = split_args(&[], &urls);
    env.run(&args).code(0);
    for (i, (name, content)) in files.iter().enumerate() {
        assert_file(&env.out().join(name), content);
        let ranges: Vec<(usize, usize)> = hits(&server, &format!("/{name}"))
            .iter()
            .filter_map(bounded)
            .collect();
        // Below two minimum ranges a file is never split; from there it is.
        assert_eq!(
            ranges.is_empty(),
            sizes[i] < 2 * min,
            "{name} ({} bytes): ranges {ranges:?}",
            sizes[i]
        );
        for (a, b) in ranges {
            assert!(b - a + 1 >= min, "{name}: range {a}-{b} below the minimum");
        }
    }
    assert_eq!(env.listing().len(), files.len(), "{:?}", env.listing());
}

#[test]
fn a_killed_split_download_fetches_only_the_missing_ranges() {
    let content = blob(71, 2_000_000);
    let server = slow_server(content.clone(), 150_000);
    let env = Env::new();
    let url = server.url("/big");
    let mut child = env
        .cmd()
        .args(["-j", "4", "--split", "4", "--min-split-size", "64K", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the sidecar records some progress, then kill without warning.
    let meta = env.out().join("big.part.meta");
    let todo = loop {
        let text = std::fs::read_to_string(&meta).unwrap_or_default();
        let todo: Vec<(usize, usize)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("todo "))
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .collect();
        let missing: usize = todo.iter().map(|(a, b)| b - a).sum();
        if text.ends_with("end\n") && missing > 0 && missing < 1_500_000 {
            break todo;
        }
        assert!(child.try_wait().unwrap().is_none(), "ended before the kill");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let before = server.requests().len();
    // The rerun has no --split: the partial's own sidecar says what is missing.
    env.run(&[&url]).code(0).stdout_has("resumed");
    assert_file(&env.out().join("big"), &content);
    let rerun = &server.requests()[before..];
    assert!(!rerun.is_empty());
    let mut asked = 0;
    for req in rerun {
        let (a, b) = bounded(req).unwrap_or_else(|| panic!("not a missing range: {req:?}"));
        assert!(
            todo.iter().any(|&(from, to)| from <= a && b < to),
            "{a}-{b} is not inside a missing range of {todo:?}"
        );
        asked += b - a + 1;
    }
    // What the sidecar said was missing, or less (the killed run may have written more).
    let missing: usize = todo.iter().map(|(a, b)| b - a).sum();
    assert!(asked <= missing, "asked {asked} of {missing} missing bytes");
    assert_eq!(env.listing(), ["big"]);
}

#[test]
fn a_server_that_ignores_range_gets_one_stream() {
    let content = blob(72, 300_000);
    let body = content.clone();
    let server = Server::start(move |_req| Reply::status(200).body(body.clone())).unwrap();
    let env = Env::new();
    let url = server.url("/f");
    let args = split_args(&[], &[&url]);
    env.run(&args).code(0);
    assert_file(&env.out().join("f"), &content);
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
}

#[test]
fn a_first_reply_without_a_usable_range_gets_one_stream() {
    // The probe is answered from byte 5, or with no total: never split, never a wrong offset.
    for answer in ["bytes 5-299999/300000", "bytes 0-299999/*"] {
        let content = blob(73, 300_000);
        let body = content.clone();
        let server = Server::start(move |req| {
            if req.header("range").is_some() {
                let (first, _) = answer[6..].split_once('-').unwrap();
                let first: usize = first.parse().unwrap();
                Reply::status(206)
                    .header("Content-Range", answer)
                    .body(body[first..].to_vec())
            } else {
                Reply::status(200).body(body.clone())
            }
        })
        .unwrap();
        let env = Env::new();
        let url = server.url("/f");
        let args = split_args(&[], &[&url]);
        env.run(&args).code(0);
        assert_file(&env.out().join("f"), &content);
        let n = server.requests().len();
        assert!(n <= 3, "{answer}: {n} requests");
        assert!(
            server.requests().iter().all(|r| bounded(r).is_none()),
            "{answer}"
        );
    }
}

#[test]
fn a_range_answered_with_another_range_is_never_written_at_the_wrong_offset() {
    let content = blob(74, 400_000);
    let body = content.clone();
    let server = Server::start(move |req| match bounded(req) {
        // Every bounded range is answered 1000 bytes later than asked, honestly labelled.
        Some((a, b)) => {
            let (a, b) = (a + 1000, (b + 1000).min(body.len() - 1));
            Reply::status(206)
                .header("ETag", "\"v1\"")
                .header("Content-Range", format!("bytes {a}-{b}/{}", body.len()))
                .body(body[a..=b].to_vec())
        }
        None => Reply::file(req, &body, Some("\"v1\""), None).rate(Some(400_000)),
    })
    .unwrap();
    let env = Env::new();
    let url = server.url("/f");
    let args = split_args(&[], &[&url]);
    env.run(&args).code(0);
    assert_file(&env.out().join("f"), &content);
    // The probe, at most one wrong range per helper, and one stream from zero: bounded.
    let n = server.requests().len();
    assert!(n <= 1 + 4 + 1, "{n} requests: {:?}", server.requests());
    // A helper's wrong range may still arrive after the fallback began, so the fallback is
    // found by what it is, not by its place in the log.
    let plain = server
        .requests()
        .iter()
        .filter(|r| r.header("range").is_none())
        .count();
    assert_eq!(plain, 1, "the fallback is one plain stream");
}

#[test]
fn a_file_that_changes_during_a_split_ends_as_the_new_version() {
    let old = blob(75, 500_000);
    // Shorter than the old one: nothing of the old version may stay past its end.
    let new = blob(76, 400_000);
    let changed = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    let (o, n, c, s) = (old.clone(), new.clone(), changed.clone(), seen.clone());
    let server = Server::start(move |req| {
        // The file is replaced once the split's ranges are under way.
        if bounded(req).is_some() && s.fetch_add(1, Ordering::SeqCst) == 1 {
            c.store(true, Ordering::SeqCst);
        }
        if c.load(Ordering::SeqCst) {
            Reply::file(req, &n, Some("\"v2\""), None).rate(Some(500_000))
        } else {
            Reply::file(req, &o, Some("\"v1\""), None).rate(Some(500_000))
        }
    })
    .unwrap();
    let env = Env::new();
    let url = server.url("/f");
    let args = split_args(&[], &[&url]);
    env.run(&args).code(0);
    assert!(
        changed.load(Ordering::SeqCst),
        "the split never asked a second range"
    );
    assert_file(&env.out().join("f"), &new);
    assert_eq!(env.listing(), ["f"]);
}

#[test]
fn gzip_replies_are_never_split() {
    let content = blob(77, 300_000);
    let packed = gzip(&content);
    let server = Server::start(move |_req| {
        Reply::status(200)
            .header("Content-Encoding", "gzip")
            .header("ETag", "\"g\"")
            .body(packed.clone())
    })
    .unwrap();
    let env = Env::new();
    let url = server.url("/f");
    let args = split_args(&[], &[&url]);
    env.run(&args).code(0);
    assert_file(&env.out().join("f"), &content);
    assert!(server.requests().iter().all(|r| bounded(r).is_none()));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_free_worker_takes_over_half_of_the_largest_range() {
    // The first range crawls; the second arrives at once. The worker that finished the second
    // must take over the second half of what is left of the first.
    let content = blob(78, 512 * 1024);
    let body = content.clone();
    let server = Server::start(move |req| {
        let reply = Reply::file(req, &body, Some("\"v1\""), None);
        let slow = req
            .header("range")
            .is_some_and(|r| r.starts_with("bytes=0-"));
        reply.rate(slow.then_some(100_000))
    })
    .unwrap();
    let env = Env::new();
    let url = server.url("/f");
    let report = env.path("r.json");
    env.run(&[
        "-j",
        "2",
        "--split",
        "2",
        "--min-split-size",
        "16K",
        "--json",
        report.to_str().unwrap(),
        "--timeline",
        "t.svg",
        &url,
    ])
    .code(0);
    assert_file(&env.out().join("f"), &content);
    let half = 256 * 1024;
    let starts: Vec<usize> = hits(&server, "/f")
        .iter()
        .filter_map(bounded)
        .map(|(a, _)| a)
        .collect();
    assert!(starts.contains(&half), "{starts:?}");
    assert!(
        starts.iter().any(|&a| a > 0 && a < half),
        "no takeover inside the first range: {starts:?}"
    );
    // One record for the file, whose segments cover it on both workers.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let files = doc["runs"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    let segments = files[0]["segments"].as_array().unwrap();
    let covered: u64 = segments
        .iter()
        .map(|s| s["to"].as_u64().unwrap() - s["from"].as_u64().unwrap())
        .sum();
    assert_eq!(covered, content.len() as u64);
    let workers: std::collections::HashSet<u64> = segments
        .iter()
        .map(|s| s["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{segments:?}");
    // The picture: the file's bar in its worker's lane, the range the other worker fetched
    // in that one's lane, both numbered as the same file.
    let svg = std::fs::read_to_string(env.path("t.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let pieces: Vec<(String, String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("data-file").is_some())
        .map(|n| {
            let lane = n.parent().unwrap().attribute("data-worker").unwrap();
            (
                n.attribute("class").unwrap().to_string(),
                lane.to_string(),
                n.attribute("data-file").unwrap().to_string(),
            )
        })
        .collect();
    let own = pieces
        .iter()
        .find(|p| p.0 == "bar downloaded")
        .expect("the file's bar");
    let helped = pieces
        .iter()
        .find(|p| p.0 == "bar segment downloaded")
        .expect("a range drawn in a helper's lane");
    assert_ne!(own.1, helped.1, "{pieces:?}");
    assert_eq!(own.2, helped.2, "{pieces:?}");
}

#[test]
fn idle_workers_take_ranges_of_the_last_large_file() {
    // Small files first, then a large one: the workers done with the small ones take ranges
    // of the large one instead of going idle.
    let big = blob(79, 1_000_000);
    let small = blob(80, 10_000);
    let (b, s) = (big.clone(), small.clone());
    let server = Server::start(move |req| match req.path.as_str() {
        "/big" => Reply::file(req, &b, Some("\"b\""), None).rate(Some(300_000)),
        _ => Reply::file(req, &s, Some("\"s\""), None),
    })
    .unwrap();
    let env = Env::new();
    let urls: Vec<String> = ["/s1", "/s2", "/big"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let mut args = vec!["-j", "3", "--split", "3", "--min-split-size", "16K"];
    args.extend(["--json", "r.json"]);
    args.extend(urls.iter().map(String::as_str));
    env.run(&args).code(0);
    assert_file(&env.out().join("big"), &big);
    assert_file(&env.out().join("s1"), &small);
    let ranges = hits(&server, "/big").iter().filter_map(bounded).count();
    assert!(
        ranges >= 2,
        "the large file was not shared: {ranges} ranges"
    );
    // One record per file; the large one's segments ran on more than its own worker.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("r.json")).unwrap()).unwrap();
    let files = doc["runs"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let big = files
        .iter()
        .find(|f| f["url"].as_str().unwrap().ends_with("/big"))
        .unwrap();
    let own = big["worker"].as_u64().unwrap();
    let segments = big["segments"].as_array().unwrap();
    assert!(
        segments
            .iter()
            .any(|s| s["worker"].as_u64().unwrap() != own),
        "{segments:?}"
    );
}

#[test]
fn the_checksum_of_a_split_file_is_checked_over_the_whole_file() {
    let content = blob(81, 700_000);
    let server = static_server(vec![("f", content.clone())]);
    let url = server.url("/f");
    let env = Env::new();
    let wrong = format!("sha256={}", sha(b"something else"));
    let args = split_args(&["--checksum", &wrong], &[&url]);
    env.run(&args).code(1).stderr_has("checksum");
    assert_absent(&env.out().join("f"));
    assert!(hits(&server, "/f").iter().filter_map(bounded).count() >= 2);
    let right = format!("sha256={}", sha(&content));
    let args = split_args(&["--checksum", &right], &[&url]);
    env.run(&args).code(0);
    assert_file(&env.out().join("f"), &content);
    assert_eq!(env.listing(), ["f"]);
}

#[test]
fn ranges_count_as_connections_under_max_per_host() {
    // The server counts the requests it answers at once (each takes a while to answer).
    let content = blob(82, 600_000);
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (n, m, c) = (now.clone(), most.clone(), content.clone());
    let server = Server::start(move |req| {
        let in_flight = n.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(in_flight, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        n.fetch_sub(1, Ordering::SeqCst);
        Reply::file(req, &c, Some("\"v1\""), None)
    })
    .unwrap();
    let env = Env::new();
    let url = server.url("/f");
    let args = split_args(&["--max-per-host", "2"], &[&url]);
    env.run(&args).code(0);
    assert_file(&env.out().join("f"), &content);
    assert!(hits(&server, "/f").iter().filter_map(bounded).count() >= 2);
    assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
}
