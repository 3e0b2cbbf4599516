/*!
Where the run's text and documents go: lines of text to stdout unless stdout carries a
document (`--timeline -`, `--json -`), and a document alone on stdout ending quietly at a
closed pipe.
*/

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;
use fetchpool::{Summary, timeline};

/// Where lines of text go: stdout, unless stdout carries the SVG document (`--timeline -`).
pub fn text_out(svg_on_stdout: bool) -> Box<dyn Write + Send> {
    if svg_on_stdout {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    }
}

/// `--timeline FILE`, or the SVG alone on stdout for `-`.
pub fn write_timeline(dest: &Path, runs: &[&Summary]) -> anyhow::Result<()> {
    if dest != Path::new("-") {
        return timeline::write_svg(dest, runs).context("cannot write the timeline");
    }
    write_stdout(timeline::render(runs).as_bytes()).context("cannot write the timeline to stdout")
}

/// A document alone on stdout (`--timeline -`, `--json -`); a closed pipe is a normal end.
pub fn write_stdout(doc: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(doc).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}
