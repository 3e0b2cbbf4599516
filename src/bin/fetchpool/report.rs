/*!
`fetchpool report FILES...`: the JSON reports of a sharded job merged into one verdict.
*/

use std::io::{self, Write};

use anyhow::Context as _;
use fetchpool::report::merge;

use crate::cli::ReportArgs;
use crate::exit_codes::Exit;

/// `fetchpool report FILES...`: the shards' reports merged into one summary and exit status.
pub fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let merged = merge(&args.files).context("cannot merge the reports")?;
    if !args.quiet {
        let mut err = io::stderr().lock();
        for (_, error) in &merged.failures {
            let _ = writeln!(err, "error: {error}");
        }
    }
    let _ = writeln!(io::stdout(), "{}", merged.line());
    Ok(if merged.complete() {
        Exit::Success
    } else {
        Exit::SomeFailed
    })
}
