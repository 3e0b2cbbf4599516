/*!
One line of an input list: its fields (blanks separate, quotes keep blanks), the URL, its
mirrors, PATH and checksum; and aria2c's indented `key=value` option lines, applied to the
URL above them.
*/

use std::path::PathBuf;

use crate::config::parse_header;
use crate::error::Error;
use crate::job::{Spec, parse_checksum};

/// The options of aria2c's format that fetchpool understands.
const OPTIONS: &str = "out, dir, checksum, header";

/// Split `text` into fields: blanks separate; a field that starts with `"` runs to the next
/// unescaped `"` (`\"` and `\\` inside), one that starts with `'` to the next `'`. A quote
/// inside a field (`O'Brien.csv`, a URL) is an ordinary character.
fn fields(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            return Ok(out);
        };
        if first != '"' && first != '\'' {
            // Unquoted: up to the next blank, taken whole.
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
            continue;
        }
        let mut field = String::new();
        let mut chars = rest[1..].chars();
        loop {
            match chars.next() {
                Some(c) if c == first => break,
                Some('\\') if first == '"' => match chars.next() {
                    Some(e @ ('"' | '\\')) => field.push(e),
                    Some(other) => {
                        field.push('\\');
                        field.push(other);
                    }
                    None => return Err(format!("unterminated {first} quote")),
                },
                Some(c) => field.push(c),
                None => return Err(format!("unterminated {first} quote")),
            }
        }
        rest = chars.as_str();
        if rest.starts_with(|c: char| !c.is_whitespace()) {
            return Err(format!("a blank must follow the closing {first} quote"));
        }
        out.push(field);
    }
}

/// One line that is not blank, a comment or an option: the URL, its mirrors, PATH, checksum.
pub(crate) fn parse_line(text: &str, line: usize) -> Result<Spec, Error> {
    let bad = |reason: String| Error::BadLine { line, reason };
    let mut fields = fields(text).map_err(bad)?.into_iter();
    let url = fields.next().unwrap_or_default();
    let mut spec = Spec {
        line: Some(line),
        ..Spec::url(url)
    };
    for field in fields {
        if field.starts_with("sha256=") {
            if spec.sha256.is_some() {
                return Err(bad("more than one checksum".into()));
            }
            spec.sha256 = Some(
                parse_checksum(&field).map_err(|_| bad(format!("invalid checksum {field:?}")))?,
            );
        } else if field.contains("://") && spec.path.is_none() {
            spec.mirrors.push(field);
        } else if spec.path.is_none() {
            spec.path = Some(PathBuf::from(field));
        } else {
            return Err(bad(format!(
                "unexpected field {field:?} (expected URL [MIRROR…] [PATH] [sha256=HEX])"
            )));
        }
    }
    Ok(spec)
}

/// Whether a raw line is an aria2c option line: indented, and `key=value` with a key of
/// letters and dashes.
pub(crate) fn is_option(raw: &str) -> bool {
    let indented = raw.starts_with([' ', '\t']);
    let text = raw.trim();
    let key = text.split_once('=').map(|(k, _)| k);
    indented
        && key.is_some_and(|k| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Apply the option line `text` (line `line`) to the spec above it.
pub(crate) fn apply_option(spec: &mut Spec, text: &str, line: usize) -> Result<(), Error> {
    let bad = |reason: String| Error::BadLine { line, reason };
    let (key, value) = text.trim().split_once('=').unwrap_or_default();
    let value = value.trim();
    match key {
        "out" => {
            if spec.path.is_some() {
                return Err(bad("a second file name (out=)".into()));
            }
            spec.path = Some(PathBuf::from(value));
        }
        "dir" => spec.dir = Some(PathBuf::from(value)),
        "checksum" => {
            let (algo, hex) = value.split_once('=').unwrap_or((value, ""));
            if !algo.eq_ignore_ascii_case("sha-256") && !algo.eq_ignore_ascii_case("sha256") {
                return Err(bad(format!(
                    "checksum type {algo:?} is not supported (use sha-256=HEX)"
                )));
            }
            spec.sha256 = Some(
                parse_checksum(&format!("sha256={hex}"))
                    .map_err(|_| bad(format!("invalid checksum {value:?}")))?,
            );
        }
        "header" => spec
            .headers
            .push(parse_header(value).map_err(|e| bad(e.to_string()))?),
        other => {
            return Err(bad(format!(
                "option {other:?} is not supported (fetchpool knows {OPTIONS})"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_their_blanks() {
        assert_eq!(
            fields(r#"http://h/it's "my file.csv" 'x "y"' "a\"b\\c" O'Brien"#).unwrap(),
            [
                "http://h/it's",
                "my file.csv",
                "x \"y\"",
                "a\"b\\c",
                "O'Brien"
            ]
        );
        assert!(fields("http://h/a \"open").is_err());
        assert!(
            fields("\"a\"b").is_err(),
            "a blank must follow a closing quote"
        );
        assert_eq!(
            fields(" a\u{3000}b\t ").unwrap(),
            ["a", "b"],
            "any blank separates"
        );
    }

    #[test]
    fn urls_after_the_first_are_mirrors() {
        let s = parse_line("http://a/x\thttp://b/x\thttp://c/x  name", 4).unwrap();
        assert_eq!(s.mirrors, ["http://b/x", "http://c/x"]);
        assert_eq!(s.path, Some(PathBuf::from("name")));
    }

    #[test]
    fn option_lines_are_indented_key_values() {
        assert!(is_option("  out=a.bin"));
        assert!(is_option("\tchecksum=sha-256=00"));
        assert!(!is_option("out=a.bin"));
        assert!(!is_option("  http://h/a?x=1"));
        let mut s = Spec::url("http://h/a");
        apply_option(&mut s, " header=X-Token: abc", 2).unwrap();
        assert_eq!(s.headers, [("X-Token".to_string(), "abc".to_string())]);
        let err = apply_option(&mut s, " split=4", 3).unwrap_err().to_string();
        assert!(err.contains("\"split\" is not supported"), "{err}");
    }
}
