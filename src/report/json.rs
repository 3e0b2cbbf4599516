/*!
The machine-readable report: every run's [`Summary`] as JSON, for scripts and plotting tools,
and for merging the shards of one job ([`mod@super::merge`]).
*/

use std::path::Path;

use serde::Serialize;

use super::Summary;
use crate::error::Error;
use crate::shard::Shard;

/// Write the machine-readable report: `{"runs": [summary, ...]}`, and `"shard": {"index":
/// K, "count": N}` for a sharded run (what `fetchpool report` merges).
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_json(path: &Path, runs: &[&Summary], shard: Option<Shard>) -> Result<(), Error> {
    std::fs::write(path, json_text(runs, shard)).map_err(|e| Error::io(path, e))
}

/// The report as text (see [`write_json`]) and a newline, for a file or stdout.
pub fn json_text(runs: &[&Summary], shard: Option<Shard>) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        shard: Option<Shard>,
        runs: &'a [&'a Summary],
    }
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string_pretty(&Doc { shard, runs }).unwrap_or_default() + "\n"
}
