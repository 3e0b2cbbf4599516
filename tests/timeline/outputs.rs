//! Where the picture goes and what it is drawn from: `--timeline -` alone on stdout, the
//! JSON report's timing, the library's reports, and the demo's kept file.

use std::collections::HashMap;

use super::picture::*;
use crate::harness::*;

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

#[test]
fn timeline_with_dry_run_is_a_usage_error() {
    let env = Env::new();
    env.run(&["--dry-run", "--timeline", "t.svg", "http://127.0.0.1:9/a"])
        .code(2)
        .stderr_has("--timeline");
    assert_absent(&env.path("t.svg"));
}
