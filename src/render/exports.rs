//! exports(5): the one writer of NFS export lines (`/etc/exports.d/*.exports`).
//!
//! A line is `PATH CLIENT(OPTIONS)`: blanks separate the fields, `#` starts a comment, and a
//! double quote or a backslash in the path changes how exportfs reads the rest. So the path is
//! refused when it is not absolute, holds a control character or a `..` component, and every
//! byte other than letters, digits and `/._+,:=@-` is written as exports(5)'s three-digit octal
//! escape (`\040` for a space): nothing in the path can end it, quote it or start an option.
//! Clients and options are fixed by labwarp's callers and refused unless they are plain words.

use super::{Result, bad};

/// Bytes written as themselves in an export path.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/._+,:=@-".contains(&b)
}

/// The path as exports(5) carries it (octal escapes), or why it cannot be exported.
pub fn escape_path(field: &str, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(bad(
            field,
            path,
            "is not an absolute path; start it with `/`",
        ));
    }
    if path.chars().any(char::is_control) {
        return Err(bad(
            field,
            path.escape_debug().to_string(),
            "contains a newline or control character; remove it",
        ));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(bad(
            field,
            path,
            "contains `..`; write the exported directory itself",
        ));
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    Ok(out)
}

/// One export line, newline included: `PATH CLIENTS(OPTIONS)`.
pub fn line(field: &str, path: &str, clients: &str, options: &str) -> Result<String> {
    let path = escape_path(field, path)?;
    let word = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    if !word(clients, ".:/-*") {
        return Err(bad(
            "export clients",
            clients,
            "is not a host, network or pattern; give one such as 192.168.24.0/24",
        ));
    }
    if !word(options, "_,=") {
        return Err(bad(
            "export options",
            options,
            "are not plain export options",
        ));
    }
    Ok(format!("{path} {clients}({options})\n"))
}

/// A comment line: `# ` and the text with control characters escaped (it stays one line).
pub fn comment(text: &str) -> String {
    let text: String = text
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    format!("# {text}\n")
}

/// One parsed export: the path (unescaped), the client and the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub path: String,
    pub clients: String,
    pub options: Vec<String>,
}

/// Reads the export lines of a file the way exportfs splits them (blank-separated fields,
/// `#` comments, octal escapes in the path); `None` for a line this writer cannot have made.
pub fn parse(text: &str) -> Vec<Option<Export>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let (path, client) = (words.next()?, words.next()?);
            if words.next().is_some() || path.contains('"') {
                return None;
            }
            let (clients, options) = client.strip_suffix(')')?.split_once('(')?;
            Some(Export {
                path: unescape(path)?,
                clients: clients.to_string(),
                options: options.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

fn unescape(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = std::str::from_utf8(bytes.get(i + 1..i + 4)?).ok()?;
            out.push(u8::from_str_radix(digits, 8).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_stay_one_escaped_word_or_are_refused() {
        let opts = "rw,sync,no_root_squash";
        for path in [
            "/export/nova",
            "/export/a b",
            "/export/a\" *(rw,no_root_squash)",
            "/export/$(touch x)",
            "/export/#x",
            "/export/back\\slash",
            "/export/ünï",
        ] {
            let l = line("p", path, "192.168.24.0/24", opts).unwrap();
            assert_eq!(l.lines().count(), 1, "{l}");
            let parsed = parse(&l);
            assert_eq!(
                parsed,
                vec![Some(Export {
                    path: path.into(),
                    clients: "192.168.24.0/24".into(),
                    options: opts.split(',').map(String::from).collect(),
                })],
                "{l}"
            );
        }
        for path in ["/export/a\n/ *(rw)", "export", "/export/../etc", "/x\r"] {
            assert!(line("p", path, "c", opts).is_err(), "{path:?}");
        }
        assert!(line("p", "/x", "a b", opts).is_err());
        assert!(line("p", "/x", "c", "rw) *(rw").is_err());
    }
}
