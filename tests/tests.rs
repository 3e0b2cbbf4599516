//! The integration tests: one binary, a shared harness, one module per area.

mod harness;

mod cli;
mod hostile;
mod interop_nginx;
mod promise;
mod resume;
mod retry;
mod proxy;
mod signals;
mod tls;

use resume::get as resume_get;
