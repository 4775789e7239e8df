//! Typed form fields bound to named lab fields (never by position). Text fields are
//! ratatui-textarea editors (single line, multi line, masked); enums are selects; counts and
//! sizes are steppers. Every change is applied to the lab and the lab is re-validated, so
//! each field shows the problems whose path names it, as the user types.

use super::fields::{FieldKey, Kind, Value};
use super::style::Styles;
use super::validate::Issue;
use crate::lab::Lab;
use ratatui_textarea::{Input, Key, TextArea};

#[derive(Debug, Clone)]
pub enum Editor {
    Text(Box<TextArea<'static>>),
    Choice(usize),
    Number(u64),
}

#[derive(Debug, Clone)]
pub struct Field {
    pub key: FieldKey,
    pub kind: Kind,
    pub editor: Editor,
    /// Problems from the last validation whose path names this field.
    pub issues: Vec<Issue>,
}

impl Field {
    pub fn new(key: FieldKey, lab: &Lab) -> Field {
        let kind = key.kind();
        let editor = match (kind, key.get(lab)) {
            (Kind::Select(opts), Value::Text(s)) => {
                Editor::Choice(opts.iter().position(|o| *o == s).unwrap_or(0))
            }
            (Kind::Stepper { .. }, Value::Number(n)) => Editor::Number(n),
            (Kind::Multi, Value::Lines(lines)) => Editor::Text(Box::new(text_area(lines, kind))),
            (_, Value::Text(s)) => Editor::Text(Box::new(text_area(vec![s], kind))),
            (_, Value::Lines(lines)) => Editor::Text(Box::new(text_area(lines, kind))),
            (_, Value::Number(n)) => Editor::Text(Box::new(text_area(vec![n.to_string()], kind))),
        };
        Field {
            key,
            kind,
            editor,
            issues: Vec::new(),
        }
    }

    pub fn value(&self) -> Value {
        match (&self.editor, self.kind) {
            (Editor::Choice(i), Kind::Select(opts)) => {
                Value::Text(opts.get(*i).copied().unwrap_or_default().to_string())
            }
            (Editor::Number(n), _) => Value::Number(*n),
            (Editor::Text(ta), Kind::Multi) => Value::Lines(
                ta.lines()
                    .iter()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect(),
            ),
            (Editor::Text(ta), _) => Value::Text(ta.lines().join("")),
            (Editor::Choice(_), _) => Value::Text(String::new()),
        }
    }

    /// Shown text of a non-text field (`◂ rhel ▸`, `◂ 8192 MiB ▸`).
    pub fn display(&self) -> String {
        match (&self.editor, self.kind) {
            (Editor::Choice(i), Kind::Select(opts)) => {
                format!("◂ {} ▸", opts.get(*i).copied().unwrap_or("?"))
            }
            (Editor::Number(n), Kind::Stepper { unit: "", .. }) => format!("◂ {n} ▸"),
            (Editor::Number(n), Kind::Stepper { unit, .. }) => format!("◂ {n} {unit} ▸"),
            _ => String::new(),
        }
    }

    pub fn is_text(&self) -> bool {
        matches!(self.editor, Editor::Text(_))
    }

    pub fn is_multi(&self) -> bool {
        self.kind == Kind::Multi
    }

    pub fn has_error(&self) -> bool {
        self.issues.iter().any(|i| i.error)
    }

    /// Rows the field takes on screen.
    pub fn height(&self) -> u16 {
        if self.is_multi() { 3 } else { 1 }
    }

    /// Select: next/previous option. Stepper: plus/minus one step, clamped.
    pub fn step(&mut self, forward: bool) -> bool {
        match (&mut self.editor, self.kind) {
            (Editor::Choice(i), Kind::Select(opts)) if !opts.is_empty() => {
                let n = opts.len();
                *i = if forward {
                    (*i + 1) % n
                } else {
                    (*i + n - 1) % n
                };
                true
            }
            (Editor::Number(v), Kind::Stepper { min, max, step, .. }) => {
                let next = if forward {
                    v.saturating_add(step).min(max)
                } else {
                    v.saturating_sub(step).max(min)
                };
                let changed = next != *v;
                *v = next;
                changed
            }
            _ => false,
        }
    }

    /// Typed input. Text fields take it through the editor; steppers take digits and
    /// Backspace so a port or a size can be typed directly.
    pub fn input(&mut self, input: Input) -> bool {
        match (&mut self.editor, self.kind) {
            (Editor::Text(ta), kind) => {
                if kind != Kind::Multi && matches!(input.key, Key::Enter) {
                    return false;
                }
                ta.input(input)
            }
            (Editor::Number(v), Kind::Stepper { max, .. }) => match input.key {
                Key::Char(d) if d.is_ascii_digit() && !input.ctrl && !input.alt => {
                    let digit = u64::from(d.to_digit(10).unwrap_or(0));
                    *v = v.saturating_mul(10).saturating_add(digit).min(max);
                    true
                }
                Key::Backspace => {
                    *v /= 10;
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Editor styles follow focus (the textarea draws its own cursor; only the focused
    /// field shows one).
    pub fn set_focus(&mut self, focused: bool, styles: &Styles) {
        if let Editor::Text(ta) = &mut self.editor {
            let style = if focused {
                styles.input_focus
            } else {
                styles.input
            };
            ta.set_style(style);
            ta.set_cursor_line_style(style);
            ta.set_cursor_style(if focused { styles.cursor } else { style });
            ta.set_placeholder_style(styles.muted);
        }
    }
}

fn text_area(lines: Vec<String>, kind: Kind) -> TextArea<'static> {
    let mut ta = TextArea::new(if lines.is_empty() {
        vec![String::new()]
    } else {
        lines
    });
    if kind == Kind::Secret {
        ta.set_mask_char('•');
        ta.set_placeholder_text("(generated when empty)");
    } else if kind == Kind::Multi {
        ta.set_placeholder_text("one per line");
    }
    ta.move_cursor(ratatui_textarea::CursorMove::Bottom);
    ta.move_cursor(ratatui_textarea::CursorMove::End);
    ta
}

/// One wizard screen's fields plus focus.
#[derive(Debug, Clone)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
}

impl Form {
    pub fn new(keys: Vec<FieldKey>, lab: &Lab, styles: &Styles) -> Form {
        let mut form = Form {
            fields: keys.into_iter().map(|k| Field::new(k, lab)).collect(),
            focus: 0,
        };
        form.refocus(styles);
        form
    }

    pub fn focused(&self) -> Option<&Field> {
        self.fields.get(self.focus)
    }

    pub fn focused_mut(&mut self) -> Option<&mut Field> {
        self.fields.get_mut(self.focus)
    }

    pub fn refocus(&mut self, styles: &Styles) {
        let focus = self.focus;
        for (i, f) in self.fields.iter_mut().enumerate() {
            f.set_focus(i == focus, styles);
        }
    }

    pub fn move_focus(&mut self, delta: isize, styles: &Styles) {
        let n = self.fields.len();
        if n == 0 {
            return;
        }
        self.focus = (self.focus as isize + delta).rem_euclid(n as isize) as usize;
        self.refocus(styles);
    }

    pub fn focus_on(&mut self, index: usize, styles: &Styles) {
        if index < self.fields.len() {
            self.focus = index;
            self.refocus(styles);
        }
    }

    /// Writes every field into the lab. A field whose text cannot become its lab type keeps
    /// that as its own issue (the lab keeps its last good value).
    pub fn apply(&mut self, lab: &mut Lab) -> Vec<(usize, Issue)> {
        let mut parse_errors = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            if let Err(message) = f.key.set(lab, f.value()) {
                parse_errors.push((
                    i,
                    Issue {
                        path: f.key.path(),
                        message,
                        fix: None,
                        error: true,
                    },
                ));
            }
        }
        parse_errors
    }

    /// Assigns validation issues to the fields they name.
    pub fn attach(&mut self, issues: &[Issue], parse_errors: Vec<(usize, Issue)>) {
        for f in &mut self.fields {
            let path = f.key.path();
            f.issues = issues
                .iter()
                .filter(|i| names_field(&i.path, &path))
                .cloned()
                .collect();
        }
        // A problem about a whole object (`networks[0].dhcp`) goes to its first field shown
        // (`networks[0].dhcp.start`), so it is seen and blocks Next like any other.
        for issue in issues {
            let shown = self.fields.iter().any(|f| f.issues.contains(issue));
            if !shown
                && let Some(f) = self
                    .fields
                    .iter_mut()
                    .find(|f| names_field(&f.key.path(), &issue.path))
            {
                f.issues.push(issue.clone());
            }
        }
        for (i, issue) in parse_errors {
            if let Some(f) = self.fields.get_mut(i) {
                f.issues.insert(0, issue);
            }
        }
    }

    pub fn first_invalid(&self) -> Option<usize> {
        self.fields.iter().position(Field::has_error)
    }
}

/// `hypervisors[0].address` names the field `hypervisors[0].address`, and so do its parts
/// (`overcloud.nodes[1].disks[0].size_gib` belongs to `overcloud.nodes[1].disks[0]`).
pub fn names_field(issue_path: &str, field_path: &str) -> bool {
    issue_path == field_path
        || issue_path
            .strip_prefix(field_path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_paths_match_fields_by_name_not_prefix_text() {
        assert!(names_field(
            "hypervisors[0].address",
            "hypervisors[0].address"
        ));
        assert!(names_field(
            "undercloud.cloud_init.nameservers[1]",
            "undercloud.cloud_init.nameservers"
        ));
        assert!(!names_field("networks[0].cidr2", "networks[0].cidr"));
        assert!(!names_field("networks[1].cidr", "networks[0].cidr"));
    }
}
