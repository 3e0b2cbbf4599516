//! The timeline picture (`--timeline`): lanes, bars, colours, the shared time scale of
//! compare mode, redaction, stdout, the demo, and the timing in the JSON report and the
//! library's reports that the picture is drawn from.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fetchpool::server::{Fault, Reply, Server};

use crate::harness::*;

/// One bar as drawn: its outcome class, times, the entries it stands for and its geometry.
#[derive(Debug)]
struct Bar {
    status: String,
    start: f64,
    end: f64,
    n: usize,
    x: f64,
    y: f64,
    height: f64,
    tooltip: String,
}

#[derive(Debug)]
struct Lane {
    worker: usize,
    top: f64,
    bottom: f64,
    bars: Vec<Bar>,
    retries: usize,
}

#[derive(Debug)]
struct Panel {
    mode: String,
    workers: usize,
    total: f64,
    lanes: Vec<Lane>,
    /// Grid line x for each tick time (seconds, as written).
    ticks: Vec<(f64, f64)>,
    /// x of the dashed line that marks the run's total.
    total_x: f64,
}

struct Picture {
    panels: Vec<Panel>,
    /// Legend entries: data-status → class of its swatch (or of its mark).
    legend: HashMap<String, String>,
    css: String,
    caption: String,
}

fn num(n: roxmltree::Node, name: &str) -> f64 {
    n.attribute(name)
        .unwrap_or_else(|| panic!("{:?} lacks {name}", n.tag_name()))
        .parse()
        .unwrap()
}

fn class<'a>(n: roxmltree::Node<'a, '_>) -> &'a str {
    n.attribute("class").unwrap_or("")
}

fn text_of(n: roxmltree::Node) -> String {
    n.descendants()
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Parse the SVG (it must be well-formed XML) into what the tests look at.
#[track_caller]
fn picture(svg: &str) -> Picture {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("the timeline is not XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let panels = root
        .descendants()
        .filter(|n| class(*n) == "panel")
        .map(|p| Panel {
            mode: p.attribute("data-mode").unwrap().to_string(),
            workers: num(p, "data-workers") as usize,
            total: num(p, "data-total"),
            lanes: p
                .children()
                .filter(|n| class(*n) == "lane")
                .map(|l| Lane {
                    worker: num(l, "data-worker") as usize,
                    top: num(l, "data-top"),
                    bottom: num(l, "data-bottom"),
                    bars: l
                        .children()
                        .filter(|n| n.has_tag_name("rect"))
                        .map(|b| Bar {
                            status: class(b)
                                .split(' ')
                                .nth(1)
                                .expect("a bar has an outcome class")
                                .to_string(),
                            start: num(b, "data-start"),
                            end: num(b, "data-end"),
                            n: b.attribute("data-n").map_or(1, |v| v.parse().unwrap()),
                            x: num(b, "x"),
                            y: num(b, "y"),
                            height: num(b, "height"),
                            tooltip: text_of(b),
                        })
                        .collect(),
                    retries: l.children().filter(|n| class(*n) == "retry").count(),
                })
                .collect(),
            ticks: p
                .descendants()
                .filter(|n| class(*n) == "grid")
                .map(|g| (num(g, "data-t"), num(g, "x1")))
                .collect(),
            total_x: p
                .descendants()
                .find(|n| class(*n) == "total")
                .map(|t| num(t, "x1"))
                .expect("a total marker"),
        })
        .collect();
    let legend = root
        .descendants()
        .filter(|n| class(*n) == "legend-item")
        .map(|item| {
            let swatch = item.first_element_child().unwrap();
            (
                item.attribute("data-status").unwrap().to_string(),
                class(swatch).to_string(),
            )
        })
        .collect();
    let css = root
        .descendants()
        .find(|n| n.has_tag_name("style"))
        .map(text_of)
        .unwrap_or_default();
    let caption = root
        .descendants()
        .find(|n| class(*n) == "caption")
        .map(text_of)
        .unwrap_or_default();
    Picture {
        panels,
        legend,
        css,
        caption,
    }
}

/// Every bar lies inside its lane and within [0, total], no two bars of a lane overlap in
/// time, each bar sits where the axis says its start is, and the bars stand for `entries`.
#[track_caller]
fn check_panel(p: &Panel, entries: usize) {
    assert_eq!(
        p.lanes.len(),
        p.workers,
        "one lane per worker in {}",
        p.mode
    );
    let workers: Vec<usize> = p.lanes.iter().map(|l| l.worker).collect();
    assert_eq!(workers, (0..p.workers).collect::<Vec<_>>());
    let (t0, x0) = p.ticks[0];
    let (t1, x1) = *p.ticks.last().unwrap();
    assert_eq!(t0, 0.0);
    let px_per_s = (x1 - x0) / (t1 - t0);
    let mut drawn = 0;
    for lane in &p.lanes {
        let mut last_end = 0.0;
        let mut bars: Vec<&Bar> = lane.bars.iter().collect();
        bars.sort_by(|a, b| a.start.total_cmp(&b.start));
        for b in bars {
            assert!(
                0.0 <= b.start && b.start <= b.end && b.end <= p.total,
                "{b:?} outside [0, {}]",
                p.total
            );
            assert!(b.start >= last_end, "{b:?} overlaps the bar before it");
            last_end = b.end;
            assert!(
                b.y >= lane.top && b.y + b.height <= lane.bottom,
                "{b:?} outside its lane {lane:?}"
            );
            let expected_x = x0 + b.start * px_per_s;
            assert!((b.x - expected_x).abs() <= 0.2, "{b:?} not at {expected_x}");
            drawn += b.n;
        }
    }
    assert_eq!(drawn, entries, "bars of {}", p.mode);
    assert!((p.total_x - (x0 + p.total * px_per_s)).abs() <= 0.2);
}

fn files(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("f{i}.bin"), blob(100 + i, 20_000 + 1000 * i)))
        .collect()
}

fn server_of(files: &[(String, Vec<u8>)]) -> Server {
    static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect())
}

fn urls(server: &Server, files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .map(|(n, _)| server.url(&format!("/{n}")))
        .collect()
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

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

#[test]
fn timeline_dash_writes_only_the_svg_to_stdout() {
    let files = files(3);
    let server = server_of(&files);
    let mut urls = urls(&server, &files);
    urls.push(server.url("/missing.bin"));
    for mode in ["serial", "parallel", "compare"] {
        let env = Env::new();
        let mut args = vec!["--mode", mode, "--timeline", "-"];
        args.extend(urls.iter().map(String::as_str));
        let run = env.run(&args);
        run.code(1)
            .stderr_has("f2.bin")
            .stderr_has("3 ok (0 already complete), 1 failed")
            .stderr_has("missing.bin");
        let pic = picture(&run.stdout);
        assert_eq!(
            pic.panels.len(),
            if mode == "compare" { 2 } else { 1 },
            "{mode}"
        );
        assert!(run.stdout.starts_with("<svg"), "{mode}: {}", run.stdout);
        assert!(run.stdout.trim_end().ends_with("</svg>"), "{mode}");
    }
}

#[test]
fn json_report_carries_the_timing_the_picture_is_drawn_from() {
    let files = files(8);
    let server = server_of(&files);
    let env = Env::new();
    let svg = env.path("t.svg").display().to_string();
    let json = env.path("r.json").display().to_string();
    let mut args = vec!["-j", "2", "--timeline", &svg, "--json", &json];
    let urls = urls(&server, &files);
    args.extend(urls.iter().map(String::as_str));
    env.run(&args).code(0);
    let report: serde_json::Value =
        serde_json::from_str(&read(std::path::Path::new(&json))).unwrap();
    let run = &report["runs"][0];
    let elapsed = run["elapsed"].as_f64().unwrap();
    let mut starts = std::collections::HashSet::new();
    let mut ends = std::collections::HashSet::new();
    for f in run["files"].as_array().unwrap() {
        let (start, end) = (f["start"].as_f64().unwrap(), f["end"].as_f64().unwrap());
        assert!(0.0 <= start && start <= end && end <= elapsed, "{f}");
        assert_eq!(f["attempts"], 1, "{f}");
        assert!(f["retried_at"].as_array().unwrap().is_empty());
        let worker = f["worker"].as_u64().unwrap() as usize;
        assert!(worker < 2, "{f}");
        starts.insert((worker, format!("{start:.6}")));
        ends.insert((worker, format!("{end:.6}")));
    }
    // Each bar (or run of merged bars) starts where an entry of its worker started and ends
    // where one ended, as the report says.
    let pic = picture(&read(std::path::Path::new(&svg)));
    let panel = &pic.panels[0];
    check_panel(panel, files.len());
    for lane in &panel.lanes {
        for b in &lane.bars {
            assert!(
                starts.contains(&(lane.worker, format!("{:.6}", b.start))),
                "{b:?}"
            );
            assert!(
                ends.contains(&(lane.worker, format!("{:.6}", b.end))),
                "{b:?}"
            );
        }
    }
}

#[test]
fn library_reports_say_when_and_where_each_entry_ran() {
    let files = files(6);
    let server = server_of(&files);
    let env = Env::new();
    std::fs::create_dir_all(env.out()).unwrap();
    let specs = urls(&server, &files)
        .into_iter()
        .map(|u| Ok(fetchpool::Spec::url(u)))
        .chain([Err(fetchpool::Error::BadLine {
            line: 7,
            reason: "junk".into(),
        })]);
    let plan = fetchpool::plan(specs, &env.out());
    let downloader = fetchpool::Downloader::new(fetchpool::Config {
        jobs: 3,
        ..fetchpool::Config::default()
    })
    .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    downloader.run(&plan, fetchpool::Mode::Parallel, &tx);
    drop(tx);
    let reports: Vec<fetchpool::Report> = rx.iter().collect();
    assert_eq!(reports.len(), 7);
    let rejected: Vec<_> = reports.iter().filter(|r| r.timing.is_none()).collect();
    assert_eq!(rejected.len(), 1, "the bad line never ran");
    let mut per_worker: HashMap<usize, Vec<(std::time::Duration, std::time::Duration)>> =
        HashMap::new();
    for r in reports.iter().filter_map(|r| r.timing.as_ref()) {
        assert!(r.worker < 3 && r.start <= r.end && r.attempts == 1, "{r:?}");
        per_worker
            .entry(r.worker)
            .or_default()
            .push((r.start, r.end));
    }
    for spans in per_worker.values_mut() {
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "one worker ran two files at once: {w:?}");
        }
    }
}

#[test]
fn demo_ends_with_the_path_of_its_timeline() {
    let env = Env::new();
    let demo = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fetchpool"))
            .env("TMPDIR", env.dir.path())
            .args(["demo", "--files", "3", "--size", "16K", "--latency", "2"])
            .args(["--bandwidth", "4M", "-j", "3"])
            .args(extra)
            .output()
            .unwrap();
        Run::from(out)
    };
    // By default a new file in the temporary directory, which the demo does not delete.
    let run = demo(&[]);
    run.code(0);
    let last = run.stdout.lines().last().unwrap_or_default();
    let path = last
        .strip_prefix("timeline: ")
        .and_then(|l| l.strip_suffix(" (open it in a browser)"))
        .unwrap_or_else(|| panic!("last line is not the timeline's path\n{run}"));
    let path = std::path::Path::new(path);
    assert!(path.starts_with(env.dir.path()), "{}", path.display());
    let pic = picture(&read(path));
    let modes: Vec<&str> = pic.panels.iter().map(|p| p.mode.as_str()).collect();
    assert_eq!(modes, ["serial", "parallel"]);
    for p in &pic.panels {
        check_panel(p, 3);
    }
    // Or where --timeline says.
    let chosen = env.path("demo.svg");
    let run = demo(&["--timeline", &chosen.display().to_string()]);
    run.code(0);
    assert_eq!(
        run.stdout.lines().last(),
        Some(&*format!(
            "timeline: {} (open it in a browser)",
            chosen.display()
        ))
    );
    assert_eq!(picture(&read(&chosen)).panels.len(), 2);
    // Or alone on stdout, the demo's text on stderr.
    let run = demo(&["--timeline", "-"]);
    run.code(0)
        .stderr_has("verified: 3 files")
        .stderr_has("speedup");
    assert_eq!(picture(&run.stdout).panels.len(), 2);
}
