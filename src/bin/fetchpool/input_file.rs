/*!
`--input-file`: the list from a file, or from stdin, which may be a list still being written
(read as it arrives, without waiting for lines that are not there yet).
*/

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::Context as _;
use fetchpool::read_input;

/// The input file as a stream of specs. A file that cannot be opened or read at all (a
/// directory) is a fatal error here; one that fails later is a failed entry naming it.
pub fn open_input(
    path: &Path,
) -> anyhow::Result<fetchpool::job::Input<BufReader<Box<dyn Read + Send>>>> {
    let stdin = path == Path::new("-");
    let (source, name): (Box<dyn Read + Send>, &Path) = if stdin {
        (Box::new(io::stdin()), Path::new("<stdin>"))
    } else {
        let file = File::open(path)
            .with_context(|| format!("cannot read input file {}", path.display()))?;
        (Box::new(file), path)
    };
    let mut reader = BufReader::new(source);
    reader
        .fill_buf()
        .with_context(|| format!("cannot read input file {}", path.display()))?;
    let input = read_input(reader, name);
    // A file is read at once; stdin may be a list still being written.
    Ok(if stdin {
        input.streamed(|r: &BufReader<_>| !r.buffer().is_empty() || stdin_ready())
    } else {
        input
    })
}

/// Whether reading stdin would return at once (data or end of file), without waiting.
fn stdin_ready() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, its count, and a zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0
}
