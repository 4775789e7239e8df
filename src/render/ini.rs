//! INI as oslo.config reads it (`undercloud.conf`): the one INI writer.
//!
//! oslo.config's parser (`oslo_config/iniparser.py`) reads `key = value` lines: a line that
//! starts with a blank continues the previous value, `#` and `;` start comment lines, blanks
//! around a value are dropped, and a value wrapped in matching quotes loses them. Values then
//! go through PEP 292 substitution: `$name` and `${name}` are replaced by other options and
//! `$$` is a literal `$`. So this writer refuses control characters (no second line can
//! start), refuses a value wrapped in quotes, writes `$` as `$$`, and trims blanks the parser
//! would drop anyway. Keys and section names are fixed by the caller and checked to be words.

use super::{Result, bad};

pub struct Ini {
    out: String,
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The value as oslo.config will read it back, or why it cannot be written.
pub fn value(field: &str, value: &str) -> Result<String> {
    if value.chars().any(char::is_control) {
        return Err(bad(
            field,
            value.escape_debug().to_string(),
            "contains a newline or control character; remove it",
        ));
    }
    let v = value.trim();
    let quoted =
        v.len() >= 2 && (v.starts_with('"') || v.starts_with('\'')) && v.ends_with(&v[..1]);
    if quoted {
        return Err(bad(
            field,
            value,
            "is wrapped in quotes, which undercloud.conf's parser strips; remove them",
        ));
    }
    Ok(v.replace('$', "$$"))
}

impl Ini {
    /// A file starting with `header` as comment lines (control characters escaped).
    pub fn new(header: &str) -> Self {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            for c in line.chars() {
                if c.is_control() {
                    out.extend(c.escape_default());
                } else {
                    out.push(c);
                }
            }
            out.push('\n');
        }
        Ini { out }
    }

    pub fn section(&mut self, name: &str) {
        debug_assert!(is_word(name), "section names are fixed words");
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out.push('[');
        self.out.push_str(name);
        self.out.push_str("]\n");
    }

    /// `key = value`; `field` names the lab field in the error when the value cannot be written.
    pub fn set(&mut self, key: &str, v: &str, field: &str) -> Result<()> {
        if !is_word(key) {
            return Err(bad(field, key, "is not an INI key"));
        }
        let v = value(field, v)?;
        self.out.push_str(key);
        self.out.push_str(" = ");
        self.out.push_str(&v);
        self.out.push('\n');
        Ok(())
    }

    pub fn set_bool(&mut self, key: &str, value: bool) {
        self.out.push_str(key);
        self.out
            .push_str(if value { " = true\n" } else { " = false\n" });
    }

    /// A comma-separated list; an item holding a comma would become two and is refused.
    pub fn set_list(&mut self, key: &str, values: &[String], field: &str) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            let f = format!("{field}[{i}]");
            value(&f, v)?;
            if v.contains(',') {
                return Err(bad(
                    f,
                    v.as_str(),
                    "contains a comma, which separates list items",
                ));
            }
        }
        self.set(key, &values.join(","), field)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_leave_their_line_or_be_substituted() {
        let mut ini = Ini::new("h\nx");
        ini.section("DEFAULT");
        ini.set("a", "p$(id)${HOME}", "f").unwrap();
        assert!(ini.set("b", "x\ny = 1", "f").is_err());
        assert!(ini.set("b", "\"quoted\"", "f").is_err());
        assert!(ini.set("b c", "v", "f").is_err());
        assert!(ini.set_list("l", &["a,b".into()], "f").is_err());
        assert_eq!(ini.finish(), "# h\n# x\n\n[DEFAULT]\na = p$$(id)$${HOME}\n");
    }
}
