/*!
The one checksum fetchpool checks, `sha256=HEX`, validated once where the user gives it (an
input list's field or option, `--checksum`), so a job only ever carries lowercase hex.
*/

use crate::error::Error;

/// Validate `sha256=HEX` and return the lowercase hex digest.
///
/// # Errors
/// [`Error::InvalidChecksum`] when the algorithm is not sha256 or the digest is not 64 hex digits.
pub fn parse_checksum(value: &str) -> Result<String, Error> {
    let hex = value
        .strip_prefix("sha256=")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(h) => Ok(h.to_ascii_lowercase()),
        None => Err(Error::InvalidChecksum {
            value: value.to_string(),
        }),
    }
}
