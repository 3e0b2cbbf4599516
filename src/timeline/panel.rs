/*!
One run as a panel of the timeline: a lane per worker, a bar per entry (runs of very short bars
of one worker and one outcome merged into one, so thousands of files stay readable and the file
small), retry marks, the time axis and the run's total. A split file also shows each range that
another worker fetched, in that worker's lane, in the file's colour with a dashed outline and
the file's `data-file` number, so its pieces read as one file.
*/

use svg::node::element::{Group, Line, Rectangle, Title};

use super::{Scale, clean, px, text};
use crate::report::{Record, Summary, human_bytes};

/// Bars narrower than this merge with their neighbours of the same outcome.
const MIN_BAR_PX: f64 = 4.0;
/// About how many separate bars a panel may hold before narrow ones merge more eagerly.
const MAX_BARS: f64 = 2000.0;
/// Average advance of a 10 px label character, to decide whether a label fits its bar.
const CHAR_PX: f64 = 5.6;
/// Height of the heading above the lanes and of the axis below them.
const HEAD: f64 = 22.0;
const AXIS: f64 = 24.0;

/// The lanes a run needs: one per worker of its pool (and never fewer than the workers seen).
pub(super) fn lanes(run: &Summary) -> usize {
    let seen = run
        .files
        .iter()
        .filter_map(|f| f.timing.as_ref())
        .flat_map(|t| std::iter::once(t.worker).chain(t.segments.iter().map(|s| s.worker)))
        .map(|w| w + 1)
        .max()
        .unwrap_or(0);
    run.workers.max(seen).max(1)
}

/// Bars that become one rectangle: a single entry, or a run of short ones.
struct Bar<'a> {
    entries: Vec<&'a Record>,
    start: f64,
    end: f64,
    /// Made of short bars only, so a following short bar may join it.
    short: bool,
}

impl Bar<'_> {
    fn status(&self) -> &str {
        &self.entries[0].status
    }
}

/// Draw `run` with its top at `y`; returns the panel and its height.
pub(super) fn draw(run: &Summary, scale: &Scale, y: f64) -> (Group, f64) {
    let n = lanes(run);
    // Tall lanes for a few workers, thin ones for many, so 64 lanes still fit a screen.
    let lane_h = (320.0 / n as f64).clamp(6.0, 24.0).floor();
    let top = y + HEAD;
    let bottom = top + n as f64 * lane_h;
    let total = run.elapsed.as_secs_f64();
    let mode = run.mode.map_or("run".into(), |m| m.to_string());
    let ran = run.files.iter().filter(|f| f.timing.is_some()).count();
    let mut heading = format!(
        "{mode}: {} {} · {ran} files · {total:.2} s",
        n,
        if n == 1 { "lane" } else { "lanes (workers)" }
    );
    let never_ran = run.files.len() - ran;
    if never_ran > 0 {
        heading += &format!(" · {never_ran} rejected before any download (not drawn)");
    }
    let mut panel = Group::new()
        .set("class", "panel")
        .set("data-mode", mode.as_str())
        .set("data-workers", n)
        .set("data-total", format!("{total:.6}"))
        .add(text(scale.x0, y + 14.0, "heading", &heading));

    let mut backgrounds = Group::new().set("class", "lane-bgs");
    let label_every = (12.0 / lane_h).ceil() as usize;
    for w in 0..n {
        let lane_top = top + w as f64 * lane_h;
        let odd = if w % 2 == 1 { " odd" } else { "" };
        backgrounds = backgrounds.add(
            Rectangle::new()
                .set("class", format!("lane-bg{odd}"))
                .set("x", px(scale.x0))
                .set("y", px(lane_top))
                .set("width", px(scale.seconds * scale.px_per_s))
                .set("height", px(lane_h)),
        );
        if w % label_every == 0 {
            let label = text(
                scale.x0 - 6.0,
                lane_top + lane_h / 2.0 + 3.5,
                "worker",
                &format!("worker {w}"),
            )
            .set("text-anchor", "end");
            backgrounds = backgrounds.add(label);
        }
    }
    panel = panel.add(backgrounds).add(axis(scale, top, bottom));

    let threshold = MIN_BAR_PX.max(scale.seconds * scale.px_per_s * n as f64 / MAX_BARS);
    for w in 0..n {
        let lane_top = top + w as f64 * lane_h;
        let mut lane = Group::new()
            .set("class", "lane")
            .set("data-worker", w)
            .set("data-top", px(lane_top))
            .set("data-bottom", px(lane_top + lane_h));
        for bar in merge(run, w, scale, threshold) {
            lane = draw_bar(run, lane, &bar, w, scale, lane_top, lane_h);
        }
        lane = draw_helped(run, lane, w, scale, lane_top, lane_h);
        panel = panel.add(lane);
    }

    let x = scale.x(total);
    panel = panel
        .add(
            Line::new()
                .set("class", "total")
                .set("x1", px(x))
                .set("x2", px(x))
                .set("y1", px(top - 4.0))
                .set("y2", px(bottom + 4.0)),
        )
        .add(text(
            x + 5.0,
            top + (bottom - top) / 2.0 + 4.0,
            "total-label",
            &format!("{total:.2} s"),
        ));
    (panel, HEAD + (bottom - top) + AXIS)
}

/// Grid lines through the lanes and labelled ticks below them, in seconds from the start.
fn axis(scale: &Scale, top: f64, bottom: f64) -> Group {
    let (ticks, decimals) = scale.ticks();
    let mut g = Group::new().set("class", "axis-group").add(
        Line::new()
            .set("class", "axis")
            .set("x1", px(scale.x0))
            .set("x2", px(scale.x(scale.seconds)))
            .set("y1", px(bottom + 0.5))
            .set("y2", px(bottom + 0.5)),
    );
    for t in ticks {
        let x = px(scale.x(t));
        g = g
            .add(
                Line::new()
                    .set("class", "grid")
                    .set("data-t", format!("{t:.6}"))
                    .set("x1", x.as_str())
                    .set("x2", x.as_str())
                    .set("y1", px(top))
                    .set("y2", px(bottom + 4.0)),
            )
            .add(
                text(
                    scale.x(t),
                    bottom + 16.0,
                    "tick-label",
                    &format!("{t:.decimals$} s"),
                )
                .set("text-anchor", "middle"),
            );
    }
    g
}

/// The bars of worker `w`, in time order, with runs of short same-outcome bars merged. Bars
/// with a failed attempt never merge: a retry is worth seeing on its own.
fn merge<'a>(run: &'a Summary, w: usize, scale: &Scale, threshold: f64) -> Vec<Bar<'a>> {
    let mut entries: Vec<(&Record, f64, f64)> = run
        .files
        .iter()
        .filter_map(|f| {
            let t = f.timing.as_ref().filter(|t| t.worker == w)?;
            Some((f, t.start.as_secs_f64(), t.end.as_secs_f64()))
        })
        .collect();
    entries.sort_by(|a, b| a.1.total_cmp(&b.1));
    let short = |r: &Record, start: f64, end: f64| {
        (end - start) * scale.px_per_s < threshold
            && r.timing.as_ref().is_some_and(|t| t.retried_at.is_empty())
    };
    let mut bars: Vec<Bar> = Vec::new();
    for (r, start, end) in entries {
        let is_short = short(r, start, end);
        if let Some(last) = bars.last_mut()
            && is_short
            && last.short
            && last.status() == r.status
            && (start - last.end) * scale.px_per_s < 1.0
        {
            last.entries.push(r);
            last.end = end;
            continue;
        }
        bars.push(Bar {
            entries: vec![r],
            start,
            end,
            short: is_short,
        });
    }
    bars
}

/// The ranges of other workers' split files that worker `w` fetched.
fn draw_helped(
    run: &Summary,
    mut lane: Group,
    w: usize,
    scale: &Scale,
    lane_top: f64,
    lane_h: f64,
) -> Group {
    let pad = (lane_h * 0.15).max(1.0).round();
    for (i, f) in run.files.iter().enumerate() {
        let Some(t) = &f.timing else { continue };
        for seg in t.segments.iter().filter(|s| s.worker == w && t.worker != w) {
            let (start, end) = (seg.start.as_secs_f64(), seg.end.as_secs_f64());
            let x = scale.x(start);
            let width = ((end - start) * scale.px_per_s - 1.0).max(2.0);
            let tip = format!(
                "{}\nbytes {}–{} ({}) of this file, for worker {} · {start:.3}–{end:.3} s on worker {w}",
                f.url,
                seg.from,
                seg.to,
                human_bytes(seg.to - seg.from),
                t.worker
            );
            lane = lane.add(
                Rectangle::new()
                    .set("class", format!("bar segment {}", f.status))
                    .set("x", px(x))
                    .set("y", px(lane_top + pad))
                    .set("width", format!("{width:.2}"))
                    .set("height", px(lane_h - 2.0 * pad))
                    .set("data-file", i)
                    .set("data-start", format!("{start:.6}"))
                    .set("data-end", format!("{end:.6}"))
                    .add(Title::new(clean(&tip))),
            );
            let fits = ((width - 5.0) / CHAR_PX).floor().max(0.0) as usize;
            if lane_h >= 14.0
                && let Some(shown) = fitted(&label(f), fits)
            {
                lane = lane.add(text(
                    x + 3.0,
                    lane_top + lane_h / 2.0 + 3.5,
                    "label",
                    &shown,
                ));
            }
        }
    }
    lane
}

fn draw_bar(
    run: &Summary,
    lane: Group,
    bar: &Bar,
    w: usize,
    scale: &Scale,
    lane_top: f64,
    lane_h: f64,
) -> Group {
    let pad = (lane_h * 0.15).max(1.0).round();
    let x = scale.x(bar.start);
    let width = (bar.end - bar.start) * scale.px_per_s;
    let status = bar.status();
    // A hair of space between neighbours, and never thinner than a visible line; a failure
    // is often instant, and must still catch the eye.
    let thinnest = if status == "failed" { 3.0 } else { 2.0 };
    let drawn = if width >= 3.0 {
        width - 1.0
    } else {
        width.max(thinnest)
    };
    let merged = bar.entries.len() > 1;
    let mut rect = Rectangle::new()
        .set(
            "class",
            format!("bar {status}{}", if merged { " merged" } else { "" }),
        )
        .set("x", px(x))
        .set("y", px(lane_top + pad))
        .set("width", format!("{drawn:.2}"))
        .set("height", px(lane_h - 2.0 * pad))
        .set("data-start", format!("{:.6}", bar.start))
        .set("data-end", format!("{:.6}", bar.end));
    if merged {
        rect = rect.set("data-n", bar.entries.len());
    }
    // A split file's own bar carries the number its ranges in other lanes carry too.
    let one = bar.entries[0];
    if !merged
        && one.timing.as_ref().is_some_and(|t| !t.segments.is_empty())
        && let Some(i) = run.files.iter().position(|f| std::ptr::eq(f, one))
    {
        rect = rect.set("data-file", i);
    }
    let mut lane = lane.add(rect.add(Title::new(clean(&tooltip(bar, w)))));
    if merged {
        return lane;
    }
    // Marks first, so that the label stays readable on top of them.
    let retried = one.timing.as_ref().map_or(&[][..], |t| &t.retried_at[..]);
    for (i, at) in retried.iter().enumerate() {
        let x = px(scale.x(at.as_secs_f64()));
        lane = lane.add(
            Line::new()
                .set("class", "retry")
                .set("x1", x.as_str())
                .set("x2", x.as_str())
                .set("y1", px(lane_top))
                .set("y2", px(lane_top + lane_h))
                .add(Title::new(format!(
                    "attempt {} failed at {:.3} s and was retried",
                    i + 1,
                    at.as_secs_f64()
                ))),
        );
    }
    let fits = ((drawn - 5.0) / CHAR_PX).floor().max(0.0) as usize;
    match fitted(&label(one), fits) {
        Some(shown) if lane_h >= 14.0 => {
            let class = if status == "already_complete" || status == "unchanged" {
                "label dark"
            } else {
                "label"
            };
            lane.add(text(x + 3.0, lane_top + lane_h / 2.0 + 3.5, class, &shown))
        }
        _ => lane,
    }
}

/// `name` cut to `fits` characters with an ellipsis, or nothing when too little fits.
fn fitted(name: &str, fits: usize) -> Option<String> {
    if name.chars().count() <= fits {
        Some(name.to_string())
    } else if fits >= 4 {
        Some(name.chars().take(fits - 1).collect::<String>() + "…")
    } else {
        None
    }
}

/// A bar's tooltip: the URL (already redacted in the record), path, size, time and status.
fn tooltip(bar: &Bar, w: usize) -> String {
    let time = format!(
        "{:.3}–{:.3} s ({:.3} s) on worker {w}",
        bar.start,
        bar.end,
        bar.end - bar.start
    );
    let status = bar.status().replace('_', " ");
    if let [one] = &bar.entries[..] {
        let attempts = one.timing.as_ref().map_or(0, |t| t.attempts);
        let mut s = format!("{}\n{}\n", one.url, one.path.as_deref().unwrap_or("-"));
        s += &match one.error {
            Some(_) => format!("{status} · {time}"),
            None => format!("{status} · {} · {time}", human_bytes(one.bytes)),
        };
        if attempts > 1 {
            s += &format!(" · {attempts} attempts");
        }
        if let Some(e) = &one.error {
            s += &format!("\n{e}");
        }
        s
    } else {
        let bytes: u64 = bar.entries.iter().map(|e| e.bytes).sum();
        format!(
            "{} short files, all {status} · {} · {time}",
            bar.entries.len(),
            human_bytes(bytes)
        )
    }
}

/// The name shown on a wide bar: the file name of its path, else the end of its URL.
fn label(r: &Record) -> String {
    let from_path = r.path.as_deref().and_then(|p| {
        std::path::Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    from_path.unwrap_or_else(|| {
        r.url
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or(&r.url)
            .to_string()
    })
}
