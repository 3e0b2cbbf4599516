/*!
The timeline picture (`--timeline`): one lane per worker, time on the x-axis from the start of
the run, one bar per entry coloured by how it ended. A table says how much faster the pool is;
this shows why (lanes busy at once, idle workers, the file that held the run up at the end).
Drawn from the same [`Summary`] records as the JSON report; compare mode stacks its runs on one
time scale, so the serial lane is visibly as long as the speedup says.
*/

mod panel;

use std::path::Path;

use svg::Document;
use svg::node::element::{Group, Rectangle, Style, Text, Title};

use crate::error::Error;
use crate::report::{Summary, human_bytes};

/// Width of the picture in pixels; the height follows from the lanes.
const WIDTH: f64 = 1200.0;
/// Room left of the lanes for their labels.
const LEFT: f64 = 72.0;
/// Room right of the longest run for its total.
const RIGHT: f64 = 64.0;
/// Where the first panel starts, below the caption and the legend.
const TOP: f64 = 86.0;

/// Colours are set by class, so a bar, its legend swatch and any restyling agree.
const CSS: &str = "\
text{font:11px system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;fill:#222}
.caption{font-size:16px;font-weight:600}
.sub{font-size:12px;fill:#555}
.heading{font-size:12px;font-weight:600}
.worker,.tick-label{font-size:10px;fill:#666}
.lane-bg{fill:#eef0f3}
.lane-bg.odd{fill:#e3e6eb}
.grid{stroke:#fff;stroke-width:1}
.axis{stroke:#999;stroke-width:1}
.downloaded{fill:#3b73b9}
.resumed{fill:#2f9e59}
.already_complete{fill:#aeb4bb}
.unchanged{fill:#c8ccd2}
.failed{fill:#d93a3a}
.label{font-size:10px;fill:#fff;pointer-events:none}
.label.dark{fill:#222}
.segment{stroke:#14304f;stroke-width:1;stroke-dasharray:3 2}
.retry{stroke:#f39c12;stroke-width:2}
.total{stroke:#222;stroke-width:1.5;stroke-dasharray:4 3}
.total-label{font-size:12px;font-weight:600}
";

/// The outcomes a bar can show, as (status key in the JSON report, legend text).
const OUTCOMES: [(&str, &str); 5] = [
    ("downloaded", "downloaded"),
    ("resumed", "resumed"),
    ("already_complete", "already complete"),
    ("unchanged", "unchanged"),
    ("failed", "failed"),
];

/// Draw `runs` (one, or compare mode's serial and parallel) as one SVG document, each run a
/// panel, all on the same time scale.
pub fn render(runs: &[&Summary]) -> String {
    let total = runs
        .iter()
        .flat_map(|r| {
            let ends = r.files.iter().filter_map(|f| f.timing.as_ref());
            ends.map(|t| t.end.as_secs_f64())
                .chain([r.elapsed.as_secs_f64()])
        })
        .fold(0.0, f64::max);
    let scale = Scale {
        x0: LEFT,
        px_per_s: (WIDTH - LEFT - RIGHT) / total.max(1e-3),
        seconds: total.max(1e-3),
    };
    let mut body = Group::new().set("class", "panels");
    let mut y = TOP;
    for run in runs {
        let (group, height) = panel::draw(run, &scale, y);
        body = body.add(group);
        y += height + 14.0;
    }
    let (title, sub) = caption(runs);
    let height = y.ceil();
    let doc = Document::new()
        .set("width", WIDTH)
        .set("height", height)
        .set("viewBox", format!("0 0 {WIDTH} {height}"))
        .set("role", "img")
        .add(Title::new(clean(&format!("{title}. {sub}"))))
        .add(Style::new(CSS))
        .add(
            Rectangle::new()
                .set("width", WIDTH)
                .set("height", height)
                .set("fill", "#fff"),
        )
        .add(text(LEFT, 26.0, "caption", &title))
        .add(text(LEFT, 46.0, "sub", &sub))
        .add(legend(LEFT, 62.0))
        .add(body);
    format!("{doc}\n")
}

/// Write [`render`]'s picture of `runs` to `path`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_svg(path: &Path, runs: &[&Summary]) -> Result<(), Error> {
    std::fs::write(path, render(runs)).map_err(|e| Error::io(path, e))
}

/// Seconds to pixels, shared by every panel of a picture.
pub(crate) struct Scale {
    x0: f64,
    px_per_s: f64,
    /// The time at the right end of the lanes.
    seconds: f64,
}

impl Scale {
    fn x(&self, seconds: f64) -> f64 {
        self.x0 + seconds * self.px_per_s
    }

    /// Round tick values (1, 2 or 5 times a power of ten) with at most about ten per axis.
    fn ticks(&self) -> (Vec<f64>, usize) {
        let raw = self.seconds / 10.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let count = (self.seconds / step + 1e-9).floor() as usize;
        ((0..=count).map(|i| i as f64 * step).collect(), decimals)
    }
}

/// The caption: what ran, on how many workers, how long, and for compare the speedup.
fn caption(runs: &[&Summary]) -> (String, String) {
    let workers = |s: &Summary| match s.workers {
        1 => "1 worker".to_string(),
        n => format!("{n} workers"),
    };
    let mode = |s: &Summary| s.mode.map_or("run".into(), |m| m.to_string());
    let secs = |s: &Summary| format!("{:.2} s", s.elapsed.as_secs_f64());
    match runs {
        [serial, parallel] => {
            let speedup = serial.elapsed.as_secs_f64() / parallel.elapsed.as_secs_f64().max(1e-9);
            (
                format!(
                    "fetchpool: {} {} on {}, {} {} on {}: {speedup:.2}× faster",
                    mode(serial),
                    secs(serial),
                    workers(serial),
                    mode(parallel),
                    secs(parallel),
                    workers(parallel)
                ),
                format!(
                    "{} files, {} per run, each run a full fresh download; both on one time scale{}",
                    serial.files.len(),
                    human_bytes(serial.bytes.max(parallel.bytes)),
                    match serial.failed + parallel.failed {
                        0 => String::new(),
                        n => format!("; {n} failed"),
                    }
                ),
            )
        }
        _ => {
            let heads: Vec<String> = runs
                .iter()
                .map(|s| format!("{} on {}, {}", mode(s), workers(s), secs(s)))
                .collect();
            let lines: Vec<String> = runs.iter().map(|s| s.line()).collect();
            (format!("fetchpool: {}", heads.join("; ")), lines.join("; "))
        }
    }
}

/// Swatches for every outcome and the retry mark, whether or not this run had them.
fn legend(x: f64, y: f64) -> Group {
    let mut g = Group::new().set("class", "legend");
    let mut x = x;
    for (key, name) in OUTCOMES {
        let item = Group::new()
            .set("class", "legend-item")
            .set("data-status", key)
            .add(
                Rectangle::new()
                    .set("class", format!("bar {key}"))
                    .set("x", x)
                    .set("y", y - 9.0)
                    .set("width", 14)
                    .set("height", 10),
            )
            .add(text(x + 18.0, y, "", name));
        g = g.add(item);
        x += 32.0 + 6.0 * name.len() as f64;
    }
    let retry = Group::new()
        .set("class", "legend-item")
        .set("data-status", "retried")
        .add(
            svg::node::element::Line::new()
                .set("class", "retry")
                .set("x1", x + 6.0)
                .set("x2", x + 6.0)
                .set("y1", y - 11.0)
                .set("y2", y + 2.0),
        )
        .add(text(x + 14.0, y, "", "attempt failed, retried"));
    x += 170.0;
    g.add(retry).add(text(
        x,
        y,
        "sub",
        "Hover a bar for its URL, path, size and time; very short bars of one worker merge.",
    ))
}

fn text(x: f64, y: f64, class: &str, content: &str) -> Text {
    let t = Text::new(clean(content)).set("x", px(x)).set("y", px(y));
    if class.is_empty() {
        t
    } else {
        t.set("class", class)
    }
}

/// A coordinate with at most one decimal: enough for a screen, and a small file.
fn px(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// Text safe for XML 1.0: control characters (which a path may hold) become U+FFFD; the
/// svg crate escapes `&`, `<` and `>`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
