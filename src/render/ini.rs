//! INI: the one INI writer, in the two dialects labwarp writes.
//!
//! [`Dialect::Oslo`], `undercloud.conf`: oslo.config's parser (`oslo_config/iniparser.py`) reads `key = value` lines: a line that
//! starts with a blank continues the previous value, `#` and `;` start comment lines, blanks
//! around a value are dropped, and a value wrapped in matching quotes loses them. Values then
//! go through PEP 292 substitution: `$name` and `${name}` are replaced by other options and
//! `$$` is a literal `$`. So this writer refuses control characters (no second line can
//! start), refuses a value wrapped in quotes, writes `$` as `$$`, and trims blanks the parser
//! would drop anyway.
//!
//! [`Dialect::ConfigParser`], VirtualBMC's `virtualbmc.conf` and per-node `config`: Python's
//! configparser with its default interpolation, where `%` starts a reference (and vbmc's own
//! writes of a `%` fail), blanks around a value are dropped and an indented line continues a
//! value. So control characters, `%` and surrounding blanks are refused.
//!
//! Keys and section names are fixed by the caller and checked to be words.

use super::{Result, bad};

/// Which parser reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// oslo.config (`$` substitution; `$$` is a `$`).
    Oslo,
    /// Python configparser (`%` interpolation).
    ConfigParser,
}

pub struct Ini {
    out: String,
    dialect: Dialect,
    sections: usize,
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The value as oslo.config will read it back, or why it cannot be written.
pub fn value(field: &str, value: &str) -> Result<String> {
    value_in(Dialect::Oslo, field, value)
}

/// The value as `dialect`'s parser will read it back, or why it cannot be written.
pub fn value_in(dialect: Dialect, field: &str, value: &str) -> Result<String> {
    if value.chars().any(char::is_control) {
        return Err(bad(
            field,
            value.escape_debug().to_string(),
            "contains a newline or control character; remove it",
        ));
    }
    let v = value.trim();
    match dialect {
        Dialect::Oslo => {
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
        Dialect::ConfigParser => {
            if v != value {
                return Err(bad(
                    field,
                    value,
                    "starts or ends with blanks, which configparser drops; remove them",
                ));
            }
            if v.contains('%') {
                return Err(bad(
                    field,
                    value,
                    "contains `%`, which configparser (VirtualBMC's config) reads as a reference; remove it",
                ));
            }
            Ok(v.to_string())
        }
    }
}

impl Ini {
    /// An oslo.config file starting with `header` as comment lines (control characters
    /// escaped), a blank line after them.
    pub fn new(header: &str) -> Self {
        Self::with_dialect(Dialect::Oslo, header)
    }

    /// A configparser file; the first section follows the header directly.
    pub fn configparser(header: &str) -> Self {
        Self::with_dialect(Dialect::ConfigParser, header)
    }

    fn with_dialect(dialect: Dialect, header: &str) -> Self {
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
        Ini {
            out,
            dialect,
            sections: 0,
        }
    }

    pub fn section(&mut self, name: &str) {
        debug_assert!(is_word(name), "section names are fixed words");
        let blank = match self.dialect {
            Dialect::Oslo => !self.out.is_empty(),
            Dialect::ConfigParser => self.sections > 0,
        };
        if blank {
            self.out.push('\n');
        }
        self.sections += 1;
        self.out.push('[');
        self.out.push_str(name);
        self.out.push_str("]\n");
    }

    /// `key = value`; `field` names the lab field in the error when the value cannot be written.
    pub fn set(&mut self, key: &str, v: &str, field: &str) -> Result<()> {
        if !is_word(key) {
            return Err(bad(field, key, "is not an INI key"));
        }
        let v = value_in(self.dialect, field, v)?;
        self.out.push_str(key);
        self.out.push_str(" = ");
        self.out.push_str(&v);
        self.out.push('\n');
        Ok(())
    }

    /// `true`/`false` (oslo.config), `True`/`False` (configparser, as Python writes them).
    pub fn set_bool(&mut self, key: &str, value: bool) {
        self.out.push_str(key);
        self.out.push_str(match (self.dialect, value) {
            (Dialect::Oslo, true) => " = true\n",
            (Dialect::Oslo, false) => " = false\n",
            (Dialect::ConfigParser, true) => " = True\n",
            (Dialect::ConfigParser, false) => " = False\n",
        });
    }

    /// A comma-separated list; an item holding a comma would become two and is refused.
    pub fn set_list(&mut self, key: &str, values: &[String], field: &str) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            let f = format!("{field}[{i}]");
            value_in(self.dialect, &f, v)?;
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
