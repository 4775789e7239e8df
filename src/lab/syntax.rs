//! Better positions and words for YAML syntax errors libyaml reports late or without a line:
//! a missing space after a colon (reported on the next line), a second document (no line),
//! an alias bomb (no line), nesting past the parser's limit. Each finds the line in the text
//! itself; the message never quotes the line (it may hold a secret).

use super::error::{Location, Problem};

/// A better problem for the syntax error `message` at `at`, when the text shows the cause.
pub fn explain(message: &str, at: Option<Location>, text: &str) -> Option<(Problem, Location)> {
    if message.contains("more than one document") {
        return second_document(text);
    }
    if message.contains("repetition limit exceeded") {
        return alias_bomb(text);
    }
    if message.contains("recursion limit exceeded") {
        let at = at?;
        return Some((
            Problem::error(
                "",
                "",
                "the file nests lists or mappings deeper than the YAML reader allows",
                "a lab is at most a few levels deep: remove the extra `[`, `{` or indentation",
            ),
            at,
        ));
    }
    // libyaml's symptoms of `key:value` (one plain word) followed by more mapping lines.
    if message.contains("could not find expected ':'")
        || message.contains("mapping values are not allowed")
    {
        return missing_space(at?, text);
    }
    None
}

/// `key:value` on or before the error line: YAML reads it as one plain word, and libyaml
/// only notices on a later line.
fn missing_space(at: Location, text: &str) -> Option<(Problem, Location)> {
    let (line_no, key, column) = text
        .lines()
        .enumerate()
        .take(at.line)
        .filter_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '-']).len();
            let rest = &line[indent..];
            let key_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let after = rest[key_len..].strip_prefix(':')?;
            let next = after.chars().next()?;
            let is_key = key_len > 0 && rest.as_bytes()[0].is_ascii_alphabetic();
            (is_key && !next.is_whitespace() && next != ':' && next != '/')
                .then(|| (i + 1, rest[..key_len].to_string(), indent + key_len + 2))
        })
        .last()?;
    Some((
        Problem::error(
            "",
            "",
            format!("a space is missing after `{key}:` on line {line_no}"),
            format!("write `{key}: ` followed by the value (YAML needs a space after the colon)"),
        ),
        Location {
            line: line_no,
            column,
        },
    ))
}

fn second_document(text: &str) -> Option<(Problem, Location)> {
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        let marker = t == "---" || t.starts_with("--- ");
        if marker && seen_content {
            return Some((
                Problem::error(
                    "",
                    "",
                    format!("a second YAML document starts on line {}", i + 1),
                    "a lab file is one document: remove this `---` line and merge what follows into the first part (or move it to a file of its own)",
                ),
                Location {
                    line: i + 1,
                    column: 1,
                },
            ));
        }
        if !marker && !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            seen_content = true;
        }
    }
    None
}

fn alias_bomb(text: &str) -> Option<(Problem, Location)> {
    let (i, column) = text.lines().enumerate().find_map(|(i, line)| {
        line.find('*')
            .filter(|&c| {
                line[c + 1..]
                    .chars()
                    .next()
                    .is_some_and(|n| n.is_ascii_alphanumeric())
            })
            .map(|c| (i, c + 1))
    })?;
    Some((
        Problem::error(
            "",
            "",
            "aliases (`*name`) expand to too many values (an alias bomb), starting here",
            "write the values out instead of aliases of aliases",
        ),
        Location {
            line: i + 1,
            column,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    #[test]
    fn a_missing_space_is_found_on_its_own_line() {
        let (p, l) = explain(
            "could not find expected ':'",
            at(3, 1),
            "preset: minimal\nname:lab2\novercloud:\n",
        )
        .unwrap();
        assert_eq!((l.line, l.column), (2, 6));
        assert!(p.message.contains("`name:`"), "{p:?}");
        // URLs and libvirt URIs are values, not keys without a space.
        assert!(explain("x", at(2, 1), "a: qemu:///system\n- http://x\n").is_none());
    }

    #[test]
    fn second_documents_and_alias_bombs_get_a_line() {
        let (_, l) = explain(
            "more than one document",
            None,
            "---\nname: a\n---\nname: b\n",
        )
        .unwrap();
        assert_eq!(l.line, 3);
        let (_, l) = explain(
            "repetition limit exceeded",
            None,
            "a: &a [1]\nb: [*a, *a]\n",
        )
        .unwrap();
        assert_eq!((l.line, l.column), (2, 5));
    }
}
