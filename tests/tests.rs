//! The integration tests: one binary, a shared harness, one module per area.

mod harness;

mod cli;
mod hostile;
mod interop_nginx;
mod promise;
mod resume;
mod retry;
mod signals;
mod timeline;

use resume::get as resume_get;
