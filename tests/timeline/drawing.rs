//! What the picture shows: one lane per worker and one bar per entry, compare mode's two
//! panels on one time scale, a colour per outcome with its legend, and never a secret.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fetchpool::server::{Fault, Reply, Server};

use super::picture::*;
use crate::harness::*;

#[test]
fn timeline_has_one_lane_per_worker_and_one_bar_per_entry() {
    let files = files(9);
    let server = server_of(&files);
    let urls = urls(&server, &files);
    for (mode, jobs, lanes) in [
        ("parallel", "3", 3),
        ("parallel", "12", 12),
        ("serial", "3", 1),
    ] {
        let env = Env::new();
        let svg = env.path("t.svg");
        let mut args = vec!["--mode", mode, "-j", jobs, "--force", "--timeline"];
        let svg_arg = svg.display().to_string();
        args.push(&svg_arg);
        args.extend(urls.iter().map(String::as_str));
        env.run(&args).code(0);
        let pic = picture(&read(&svg));
        assert_eq!(pic.panels.len(), 1);
        let panel = &pic.panels[0];
        assert_eq!((panel.mode.as_str(), panel.workers), (mode, lanes));
        check_panel(panel, files.len());
        assert!(
            pic.caption.contains(&format!("on {lanes} worker")),
            "{}",
            pic.caption
        );
        for (name, content) in &files {
            assert_file(&env.out().join(name), content);
        }
    }
}

#[test]
fn compare_stacks_two_panels_on_one_time_scale() {
    let files = files(6);
    // A paced link, so that the serial run is visibly longer than the parallel one.
    let served = files.clone();
    let server =
        Server::start(
            move |req| match served.iter().find(|(n, _)| req.path == format!("/{n}")) {
                Some((_, c)) => Reply::file(req, c, None, None).rate(Some(1 << 20)),
                None => Reply::status(404),
            },
        )
        .unwrap();
    let env = Env::new();
    let svg = env.path("t.svg");
    let json = env.path("r.json");
    let mut args = vec!["--mode", "compare", "-j", "3"];
    let (svg_arg, json_arg) = (svg.display().to_string(), json.display().to_string());
    args.extend(["--timeline", &svg_arg, "--json", &json_arg]);
    let urls = urls(&server, &files);
    args.extend(urls.iter().map(String::as_str));
    env.run(&args).code(0);

    let pic = picture(&read(&svg));
    let modes: Vec<(&str, usize)> = pic
        .panels
        .iter()
        .map(|p| (p.mode.as_str(), p.workers))
        .collect();
    assert_eq!(modes, [("serial", 1), ("parallel", 3)]);
    for p in &pic.panels {
        check_panel(p, files.len());
    }
    // Same scale: the same ticks at the same x in both panels (and check_panel put each total
    // marker and bar where that scale says). No claim on which run was faster: that is timing.
    assert_eq!(pic.panels[0].ticks, pic.panels[1].ticks);

    let report: serde_json::Value = serde_json::from_str(&read(&json)).unwrap();
    let elapsed: Vec<f64> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["elapsed"].as_f64().unwrap())
        .collect();
    for (p, e) in pic.panels.iter().zip(&elapsed) {
        assert!(
            (p.total - e).abs() < 1e-5,
            "panel total {} vs report {e}",
            p.total
        );
    }
    let speedup = elapsed[0] / elapsed[1];
    for needle in [
        format!("serial {:.2} s", elapsed[0]),
        format!("parallel {:.2} s on 3 workers", elapsed[1]),
        format!("{speedup:.2}× faster"),
    ] {
        assert!(
            pic.caption.contains(&needle),
            "{needle:?} not in {:?}",
            pic.caption
        );
    }
}

/// A server with one file per outcome: `ok`, `busy` (503 once), `cut` (cut once), `resume`
/// (served with Range, for a partial already on disk), `done` (on disk already), `gone` (404).
fn outcome_server() -> (Server, HashMap<&'static str, Vec<u8>>) {
    let contents: HashMap<&str, Vec<u8>> = ["ok", "busy", "cut", "resume", "done"]
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, blob(200 + i, 40_000)))
        .collect();
    let served = contents.clone();
    let busy = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |req| {
        let name = req.path.trim_start_matches('/');
        let Some(c) = served.get(name) else {
            return Reply::status(404).body("no");
        };
        let file = Reply::file(req, c, Some("\"v1\""), None);
        match name {
            "busy" if busy.fetch_add(1, Ordering::SeqCst) == 0 => {
                Reply::status(503).header("Retry-After", "0")
            }
            "cut" if cut.fetch_add(1, Ordering::SeqCst) == 0 => file.fault(Fault::CutAfter(10_000)),
            _ => file,
        }
    })
    .unwrap();
    (server, contents)
}

#[test]
fn failed_resumed_retried_and_complete_entries_have_their_colours() {
    let (server, contents) = outcome_server();
    let env = Env::new();
    std::fs::create_dir_all(env.out()).unwrap();
    std::fs::write(env.out().join("resume.part"), &contents["resume"][..15_000]).unwrap();
    std::fs::write(env.out().join("done"), &contents["done"]).unwrap();
    let svg = env.path("t.svg").display().to_string();
    let json = env.path("r.json").display().to_string();
    let names = ["ok", "busy", "cut", "resume", "done", "gone"];
    let urls: Vec<String> = names.iter().map(|n| server.url(&format!("/{n}"))).collect();
    let mut args = vec!["--mode", "serial", "--timeline", &svg, "--json", &json];
    args.extend(urls.iter().map(String::as_str));
    env.run(&args).code(1).stderr_has("404");
    for n in ["ok", "busy", "cut", "resume", "done"] {
        assert_file(&env.out().join(n), &contents[n]);
    }

    let pic = picture(&read(std::path::Path::new(&svg)));
    let panel = &pic.panels[0];
    check_panel(panel, names.len());
    let status_of = |name: &str| {
        let url = server.url(&format!("/{name}"));
        let bar = panel.lanes[0]
            .bars
            .iter()
            .find(|b| b.tooltip.lines().next() == Some(url.as_str()))
            .unwrap_or_else(|| panic!("no bar of its own for {name}: {panel:?}"));
        bar.status.clone()
    };
    let expected = [
        ("ok", "downloaded"),
        ("busy", "downloaded"),
        ("cut", "downloaded"),
        ("resume", "resumed"),
        ("done", "already_complete"),
        ("gone", "failed"),
    ];
    for (name, status) in expected {
        assert_eq!(status_of(name), status, "{name}");
    }
    // Retried attempts are marked: one for the 503, one for the cut.
    assert_eq!(panel.lanes[0].retries, 2);

    // Each outcome has a colour of its own, and the legend lists it with that colour.
    let mut colours = Vec::new();
    for status in ["downloaded", "resumed", "already_complete", "failed"] {
        let rule = format!(".{status}{{fill:");
        let at = pic
            .css
            .find(&rule)
            .unwrap_or_else(|| panic!("no colour for {status}"));
        colours.push(
            pic.css[at + rule.len()..]
                .split('}')
                .next()
                .unwrap()
                .to_string(),
        );
        assert_eq!(
            pic.legend.get(status).map(String::as_str),
            Some(&*format!("bar {status}"))
        );
    }
    colours.sort();
    colours.dedup();
    assert_eq!(colours.len(), 4, "outcomes share a colour");
    assert_eq!(pic.legend.get("retried").map(String::as_str), Some("retry"));

    // The JSON report counts the same attempts.
    let report: serde_json::Value =
        serde_json::from_str(&read(std::path::Path::new(&json))).unwrap();
    let attempts: HashMap<String, u64> = report["runs"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let url = f["url"].as_str().unwrap();
            let name = url.rsplit('/').next().unwrap().to_string();
            (name, f["attempts"].as_u64().unwrap())
        })
        .collect();
    let expected: HashMap<String, u64> = [
        ("ok", 1),
        ("busy", 2),
        ("cut", 2),
        ("resume", 1),
        ("done", 0),
        ("gone", 1),
    ]
    .iter()
    .map(|(n, a)| (n.to_string(), *a))
    .collect();
    assert_eq!(attempts, expected);
}

#[test]
fn passwords_and_tokens_in_urls_never_reach_the_timeline() {
    let content = blob(300, 5000);
    let c = content.clone();
    let server = Server::start(move |req| match req.path.as_str() {
        "/secret.bin" => Reply::file(req, &c, None, None),
        _ => Reply::status(404),
    })
    .unwrap();
    let env = Env::new();
    let with_password = |path: &str| {
        server
            .url(path)
            .replace("http://", "http://alice:hunter2-pw@")
    };
    let svg = env.path("t.svg").display().to_string();
    let json = env.path("r.json").display().to_string();
    let (ok, missing) = (with_password("/secret.bin"), with_password("/missing.bin"));
    // A token as the user name alone, as some services hand out download links.
    let token = server
        .url("/token.bin")
        .replace("http://", "http://ghp-TOKEN-4242@");
    let run = env.run(&[
        "--mode",
        "compare",
        "-H",
        "Authorization: Bearer tok-987654",
        "--timeline",
        &svg,
        "--json",
        &json,
        &ok,
        &missing,
        &token,
    ]);
    run.code(1)
        .nowhere("hunter2-pw")
        .nowhere("tok-987654")
        .nowhere("TOKEN-4242");
    assert_file(&env.out().join("secret.bin"), &content);
    let svg = read(std::path::Path::new(&svg));
    let pic = picture(&svg);
    for p in &pic.panels {
        check_panel(p, 3);
    }
    for secret in ["hunter2-pw", "tok-987654", "TOKEN-4242"] {
        assert!(!svg.contains(secret), "{secret} is in the SVG");
        assert!(!read(std::path::Path::new(&json)).contains(secret));
    }
    // The URLs are there, redacted, so the bars still say which file they are.
    assert!(svg.contains("alice:***@127.0.0.1"), "{svg}");
    assert!(svg.contains("//***@127.0.0.1"), "{svg}");
}
