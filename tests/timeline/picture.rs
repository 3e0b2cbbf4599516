//! The SVG as the tests see it: panels, lanes, bars, ticks and legend read with roxmltree,
//! the invariants every panel must hold, and the small fixtures the tests share.

use std::collections::HashMap;

use fetchpool::server::Server;

use crate::harness::*;

/// One bar as drawn: its outcome class, times, the entries it stands for and its geometry.
#[derive(Debug)]
pub struct Bar {
    pub status: String,
    pub start: f64,
    pub end: f64,
    pub n: usize,
    pub x: f64,
    pub y: f64,
    pub height: f64,
    pub tooltip: String,
}

#[derive(Debug)]
pub struct Lane {
    pub worker: usize,
    pub top: f64,
    pub bottom: f64,
    pub bars: Vec<Bar>,
    pub retries: usize,
}

#[derive(Debug)]
pub struct Panel {
    pub mode: String,
    pub workers: usize,
    pub total: f64,
    pub lanes: Vec<Lane>,
    /// Grid line x for each tick time (seconds, as written).
    pub ticks: Vec<(f64, f64)>,
    /// x of the dashed line that marks the run's total.
    pub total_x: f64,
}

pub struct Picture {
    pub panels: Vec<Panel>,
    /// Legend entries: data-status → class of its swatch (or of its mark).
    pub legend: HashMap<String, String>,
    pub css: String,
    pub caption: String,
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
pub fn picture(svg: &str) -> Picture {
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
pub fn check_panel(p: &Panel, entries: usize) {
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
    // Times are written to the microsecond and positions to a tenth of a pixel: on a run of
    // a few milliseconds, a microsecond is a good part of a pixel.
    let slack = 0.2 + 1e-6 * px_per_s;
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
            assert!(
                (b.x - expected_x).abs() <= slack,
                "{b:?} not at {expected_x} (±{slack})"
            );
            drawn += b.n;
        }
    }
    assert_eq!(drawn, entries, "bars of {}", p.mode);
    assert!((p.total_x - (x0 + p.total * px_per_s)).abs() <= slack);
}

pub fn files(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("f{i}.bin"), blob(100 + i, 20_000 + 1000 * i)))
        .collect()
}

pub fn server_of(files: &[(String, Vec<u8>)]) -> Server {
    static_server(files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect())
}

pub fn urls(server: &Server, files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .map(|(n, _)| server.url(&format!("/{n}")))
        .collect()
}

pub fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
