/*!
The machine-readable report: every run's [`Summary`] as JSON, for scripts and plotting tools.
*/

use std::io;
use std::path::Path;

use serde::Serialize;

use super::Summary;
use crate::error::Error;

/// Write the machine-readable report: `{"runs": [summary, ...]}`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_json(path: &Path, runs: &[&Summary]) -> Result<(), Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        runs: &'a [&'a Summary],
    }
    let text = serde_json::to_string_pretty(&Doc { runs }).map_err(io::Error::other);
    let text = text.map_err(|e| Error::io(path, e))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}
