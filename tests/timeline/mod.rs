//! The timeline picture (`--timeline`): lanes, bars, colours, the shared time scale of
//! compare mode, redaction, stdout, the demo, and the timing in the JSON report and the
//! library's reports that the picture is drawn from.

mod drawing;
mod outputs;
mod picture;
