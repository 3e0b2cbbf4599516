/*!
The receiving end of the pipeline. [`Report`], the message each job sends over the channel,
belongs here; [`printer`] turns reports into lines and a [`Summary`] ([`summary`]), which the
compare table, the JSON report ([`json`]) and the timeline are made from.
*/

pub mod json;
pub mod merge;
pub mod printer;
pub mod summary;

use std::path::PathBuf;

use crate::error::Error;
use crate::fetch::Outcome;
use crate::timing::Timing;

pub use json::{json_text, write_json};
pub use merge::{Merged, merge};
pub use printer::Printer;
pub use summary::{Record, Summary, compare_table, human_bytes};

/// The result of one entry of a plan, as it travels to the printer.
#[derive(Debug)]
pub struct Report {
    /// The URL (redacted) or, for an input line that has none, `line N`.
    pub label: String,
    /// The job's final path, when it got that far.
    pub path: Option<PathBuf>,
    /// What happened.
    pub result: Result<Outcome, Error>,
    /// When it ran and on which worker; `None` for an entry rejected before any download.
    pub timing: Option<Timing>,
}
