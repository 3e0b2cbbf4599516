use std::time::Duration;

use super::*;
use crate::config::Mode;
use crate::report::Record;
use crate::timing::Timing;

/// A run of `files` entries spread over `workers`, each worker busy back to back.
fn synthetic(mode: Mode, workers: usize, files: usize, seconds: f64) -> Summary {
    let per_worker = files.div_ceil(workers);
    let each = seconds / per_worker as f64;
    let records = (0..files)
        .map(|i| {
            let (w, k) = (i % workers, i / workers);
            Record {
                url: format!("http://127.0.0.1:40000/data/file{i:05}.bin"),
                path: Some(format!("/tmp/fetchpool-out/file{i:05}.bin")),
                bytes: 16 * 1024,
                received: 16 * 1024,
                elapsed: each,
                status: if i % 97 == 0 { "failed" } else { "downloaded" }.into(),
                error: None,
                timing: Some(Timing {
                    start: Duration::from_secs_f64(k as f64 * each),
                    end: Duration::from_secs_f64((k + 1) as f64 * each * 0.999),
                    worker: w,
                    attempts: 1,
                    retried_at: Vec::new(),
                    segments: Vec::new(),
                }),
            }
        })
        .collect();
    Summary {
        mode: Some(mode),
        workers,
        ok: files,
        elapsed: Duration::from_secs_f64(seconds + 0.001),
        files: records,
        ..Summary::default()
    }
}

/// The costliest run to draw: on each of 8 workers, 200 bars just wide enough not to merge,
/// each followed by a run of tiny ones (10 000 entries in all).
fn mixed() -> Summary {
    let (workers, long, seconds) = (8, 200, 20.0);
    let per_worker = 10_000 / workers;
    let long_s = seconds * 0.94 / long as f64;
    let short_s = seconds * 0.06 / (per_worker - long) as f64;
    let mut run = synthetic(Mode::Parallel, workers, 10_000, seconds);
    let mut clock = vec![0.0; workers];
    for (i, f) in run.files.iter_mut().enumerate() {
        let (w, k) = (i % workers, i / workers);
        let took = if k % (per_worker / long) == 0 {
            long_s
        } else {
            short_s
        };
        let t = f.timing.as_mut().unwrap();
        t.start = Duration::from_secs_f64(clock[w]);
        clock[w] += took;
        t.end = Duration::from_secs_f64(clock[w]);
    }
    run.elapsed = Duration::from_secs_f64(clock.iter().copied().fold(0.0, f64::max) + 0.001);
    run
}

fn bars_drawn(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).expect("the SVG parses");
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("rect") && n.ancestors().any(|a| a.attribute("class") == Some("lane"))
        })
        .map(|n| n.attribute("data-n").map_or(1, |v| v.parse().unwrap()))
        .sum()
}

#[test]
fn ten_thousand_entries_stay_under_two_mib_for_any_pool_size() {
    for workers in [1, 8, 64] {
        let run = synthetic(Mode::Parallel, workers, 10_000, 20.0);
        let svg = render(&[&run]);
        assert!(
            svg.len() < 2 << 20,
            "{workers} workers: {} bytes",
            svg.len()
        );
        assert_eq!(bars_drawn(&svg), 10_000, "{workers} workers");
    }
    let svg = render(&[&mixed()]);
    assert!(svg.len() < 2 << 20, "mixed: {} bytes", svg.len());
    assert_eq!(bars_drawn(&svg), 10_000);
    let serial = synthetic(Mode::Serial, 1, 10_000, 160.0);
    let parallel = synthetic(Mode::Parallel, 64, 10_000, 4.0);
    let svg = render(&[&serial, &parallel]);
    assert!(svg.len() < 2 << 20, "compare: {} bytes", svg.len());
    assert_eq!(bars_drawn(&svg), 20_000);
}

#[test]
fn a_few_long_files_are_one_bar_each_with_a_label() {
    let run = synthetic(Mode::Parallel, 4, 8, 2.0);
    let svg = render(&[&run]);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar ")))
        .filter(|n| n.ancestors().any(|a| a.attribute("class") == Some("lane")))
        .count();
    assert_eq!(bars, 8);
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("label"))
        .filter_map(|n| n.text().map(str::trim))
        .collect();
    assert_eq!(labels.len(), 8);
    assert!(labels.contains(&"file00007.bin"), "{labels:?}");
}

#[test]
fn ticks_are_round_and_cover_the_run() {
    let scale = |seconds: f64| Scale {
        x0: 0.0,
        px_per_s: 1.0,
        seconds,
    };
    assert_eq!(scale(8.89).ticks(), ((0..=8).map(f64::from).collect(), 0));
    let (t, decimals) = scale(0.21).ticks();
    assert_eq!((t.len(), decimals), (5, 2));
    assert!((t[4] - 0.2).abs() < 1e-9);
    let (t, decimals) = scale(95.0).ticks();
    assert_eq!((t.len(), decimals, t[1]), (10, 0, 10.0));
}

#[test]
fn markup_in_names_is_escaped_and_control_characters_replaced() {
    let mut run = synthetic(Mode::Serial, 1, 1, 1.0);
    run.files[0].path = Some("/o/<b>&\"x\"\u{1}.bin".into());
    let svg = render(&[&run]);
    let doc = roxmltree::Document::parse(&svg).expect("still XML");
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name("title") && n.text().is_some_and(|t| t.contains("<b>")))
        .expect("the path is in a tooltip");
    assert!(title.text().unwrap().contains("<b>&\"x\"\u{fffd}.bin"));
}
