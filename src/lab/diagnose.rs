//! Turns serde_yaml's errors (syntax, wrong type, unknown key, unknown enum value) into a
//! `Problem` with the field path, a plain-words message, a fix, and the line and column.

use super::error::{Location, Problem};

/// Converts a parse or deserialize error. `syntax` is true when the text is not YAML at all
/// (the error then has no field path).
pub fn from_yaml_error(err: &serde_yaml::Error, syntax: bool) -> (Problem, Option<Location>) {
    let location = err.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    });
    let full = err.to_string();
    let text = strip_location_suffix(&full);
    if syntax {
        let (path, rest) = split_path(&text);
        if !path.is_empty() && (rest.contains(" as u128") || rest.contains(" as i128")) {
            // A number longer than 64 bits: the YAML reader cannot hold it, whatever the field.
            let value = if is_secret_path(path) {
                "***".to_string()
            } else {
                first_quoted(rest)
            };
            return (
                Problem::error(
                    path,
                    value,
                    "the number is too large",
                    "put the value in quotes if it is text, or write a smaller number",
                ),
                location,
            );
        }
        let text = if is_secret_path(path) {
            format!("{path}: {}", mask_quoted(rest))
        } else {
            text
        };
        let fix = match location {
            Some(l) => format!(
                "correct the YAML near line {} column {} (check indentation, colons and quotes)",
                l.line, l.column
            ),
            None => "correct the YAML syntax (check indentation, colons and quotes)".to_string(),
        };
        return (
            Problem::error("", "", format!("invalid YAML: {text}"), fix),
            location,
        );
    }
    let (path, message) = split_path(&text);
    let mut problem = describe(path, message);
    if is_secret_path(&problem.path) {
        // Whatever serde quoted from a secret's value stays out of every message.
        problem.value = if problem.value.is_empty() {
            String::new()
        } else {
            "***".into()
        };
        problem.message = problem
            .message
            .split(" `")
            .next()
            .unwrap_or_default()
            .into();
    }
    (problem, location)
}

/// Every backticked part replaced by `***` (serde quotes values between backticks).
fn mask_quoted(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "***" } else { part })
        .collect::<Vec<_>>()
        .join("`")
}

/// Fields whose value is a secret: never shown in a problem.
pub fn is_secret_path(path: &str) -> bool {
    path.rsplit('.').next().is_some_and(|k| k == "password")
}

/// serde_yaml puts ` at line L column C` after the message (libyaml errors may go on with
/// `, while parsing ...`); the location is reported separately, so drop its first mention.
fn strip_location_suffix(text: &str) -> String {
    let Some(i) = text.find(" at line ") else {
        return text.to_string();
    };
    let rest = &text[i + 9..];
    let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
    let n = digits(rest);
    let tail = &rest[n..];
    match tail.strip_prefix(" column ") {
        Some(after) if n > 0 && digits(after) > 0 => {
            format!("{}{}", &text[..i], &after[digits(after)..])
        }
        _ => text.to_string(),
    }
}

/// `overcloud.nodes[0].count: invalid type: ...` → (`overcloud.nodes[0].count`, `invalid type: ...`).
fn split_path(text: &str) -> (&str, &str) {
    if let Some((head, rest)) = text.split_once(": ") {
        let is_path = !head.is_empty()
            && head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.[]?".contains(c));
        let is_message = ["invalid", "unknown", "missing", "duplicate"]
            .iter()
            .any(|w| head.starts_with(w));
        if is_path && !is_message {
            return (head, rest);
        }
    }
    ("", text)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() || path == "." {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Everything between backticks after `expected`: the allowed keys or values.
fn expected_list(message: &str) -> Vec<String> {
    let Some((_, tail)) = message.split_once("expected") else {
        return Vec::new();
    };
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The first backticked word: the unknown key or variant the user wrote.
fn first_quoted(message: &str) -> String {
    message.split('`').nth(1).unwrap_or_default().to_string()
}

/// "did you mean `x`?" when a candidate is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&word_lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(path: &str, message: &str) -> Problem {
    if message.starts_with("unknown field") {
        let key = first_quoted(message);
        let known = expected_list(message);
        // A key that exists as written at another level is said to belong there (rather
        // than "did you mean" a look-alike of this level: `undercloud_hostname` at the top is
        // not `undercloud`); otherwise suggestions come from this level only.
        let elsewhere = levels_with_key(&key);
        let here = suggest(&key, known.iter().map(String::as_str));
        let fix = match here {
            Some(s) if elsewhere.is_empty() => format!("did you mean `{s}`?"),
            _ if !elsewhere.is_empty() => format!(
                "`{key}` is not a key of {}; it belongs under {}: move it there",
                if path.is_empty() || path == "." {
                    "the top level".to_string()
                } else {
                    format!("`{path}`")
                },
                elsewhere
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            _ if known.is_empty() => "remove this key".to_string(),
            _ => format!("remove it or use one of {}", list(&known)),
        };
        return Problem::error(join(path, &key), key, "unknown key", fix);
    }
    if message.starts_with("unknown variant") {
        let value = first_quoted(message);
        let known = expected_list(message);
        let fix = match suggest(&value, known.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? (allowed: {})", list(&known)),
            None => format!("use one of {}", list(&known)),
        };
        return Problem::error(path, value, "unknown value", fix);
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let value = found
            .split_once(' ')
            .map(|(_, v)| v.trim_matches('`').to_string())
            .unwrap_or_default();
        let wanted = plain_type(expected);
        return Problem::error(
            path,
            value,
            format!("expected {wanted}, found {}", plain_found(found)),
            format!("write {wanted} here"),
        );
    }
    Problem::error(
        path,
        "",
        message.to_string(),
        "check this key against the lab.yaml reference (labwarp validate --preset demo shows a valid file)",
    )
}

/// Every key path of a lab with every optional part present, list indexes written `[N]`:
/// `overcloud.nodes[N].memory_mib`.
fn key_paths() -> &'static [String] {
    static PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PATHS.get_or_init(|| {
        use super::model::*;
        let mut lab = Lab {
            preset: Some(String::new()),
            theme: Some(String::new()),
            overrides: vec![String::new()],
            // Not the default release, so that its key is written out too.
            tripleo: Tripleo {
                release: String::new(),
                overcloud_image: Some(ImageSource::default()),
                ipa_image: Some(ImageSource::default()),
            },
            ..Lab::default()
        };
        for n in &mut lab.networks {
            n.gateway = Some(String::new());
            n.dhcp = Some(DhcpRange::default());
            n.mtu = Some(0);
            n.host_nic = Some(String::new());
        }
        let src = ImageSource {
            md5: Some(String::new()),
            md5_url: Some(String::new()),
            ..ImageSource::default()
        };
        lab.images.undercloud = src.clone();
        lab.images.overcloud_kernel = Some(src.clone());
        lab.images.overcloud_initrd = Some(src);
        for nic in &mut lab.undercloud.vm.nics {
            nic.mac = Some(String::new());
        }
        let mut out = vec!["overcloud.vbmc.password".to_string()];
        if let Ok(v) = serde_yaml::to_value(&lab) {
            collect_keys(&v, "", &mut out);
        }
        out
    })
}

fn collect_keys(v: &serde_yaml::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or_default();
                let p = join(prefix, k);
                out.push(p.clone());
                collect_keys(v, &p, out);
            }
        }
        serde_yaml::Value::Sequence(s) => {
            if let Some(first) = s.first() {
                collect_keys(first, &format!("{prefix}[N]"), out);
            }
        }
        _ => {}
    }
}

/// The levels (parent paths, `[N]` for list items) where `key` is a key; the top level is
/// `the top level`.
fn levels_with_key(key: &str) -> Vec<String> {
    let mut levels: Vec<String> = key_paths()
        .iter()
        .filter_map(|p| match p.rsplit_once('.') {
            Some((parent, k)) if k == key => Some(parent.to_string()),
            None if p == key => Some("the top level".to_string()),
            _ => None,
        })
        .collect();
    levels.dedup();
    levels.truncate(3);
    levels
}

/// serde's Rust-flavoured type names in words a lab.yaml author knows.
fn plain_type(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" => "a whole number (0 or more)".into(),
        "a boolean" => "true or false".into(),
        "a string" => "a text value".into(),
        "a sequence" => "a list (`- item` lines)".into(),
        e if e.starts_with("struct ") => "a mapping (`key: value` lines)".into(),
        e if e.starts_with("enum ") => "one of the allowed words".into(),
        "" => "a different kind of value".into(),
        e => e.to_string(),
    }
}

fn plain_found(found: &str) -> String {
    if found.starts_with("integer") || found.starts_with("floating point") {
        "a number".into()
    } else if found.starts_with("string") {
        "a text value".into()
    } else if found.starts_with("boolean") {
        "true/false".into()
    } else if found.starts_with("sequence") {
        "a list".into()
    } else if found.starts_with("map") {
        "a mapping".into()
    } else if found.starts_with("unit") {
        "nothing (null)".into()
    } else {
        found.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_location_and_splits_path() {
        let t = "overcloud.nodes[0].count: invalid type: string \"lots\", expected u32 at line 3 column 13";
        let stripped = strip_location_suffix(t);
        let (path, msg) = split_path(&stripped);
        assert_eq!(path, "overcloud.nodes[0].count");
        assert_eq!(msg, "invalid type: string \"lots\", expected u32");
    }

    #[test]
    fn message_without_path_is_kept_whole() {
        let (path, msg) = split_path("unknown field `x`, expected `a` or `b`");
        assert_eq!(path, "");
        assert_eq!(expected_list(msg), vec!["a", "b"]);
    }

    #[test]
    fn a_key_from_another_level_is_sent_there() {
        let p = describe("", "unknown field `nodes`, expected `preset` or `name`");
        assert_eq!(
            p.fix,
            "`nodes` is not a key of the top level; it belongs under `overcloud`: move it there"
        );
        let p = describe(
            "overcloud.vbmc",
            "unknown field `memory_mib`, expected `base_port` or `address`",
        );
        assert!(p.fix.contains("`undercloud.vm`"), "{}", p.fix);
        assert!(p.fix.contains("`overcloud.nodes[N]`"), "{}", p.fix);
        // A look-alike of this level does not win over the key's own level.
        let p = describe(
            "",
            "unknown field `undercloud_hostname`, expected `undercloud` or `overcloud`",
        );
        assert!(p.fix.contains("`undercloud.conf`"), "{}", p.fix);
    }

    #[test]
    fn suggestion_needs_similarity() {
        let c = ["memory_mib", "vcpus", "disks"];
        assert_eq!(suggest("memry_mib", c), Some("memory_mib"));
        assert_eq!(suggest("zzz", c), None);
    }
}
