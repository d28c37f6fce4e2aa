//! How results reach the terminal: aligned tables for people, `--json` for
//! scripts, nothing but errors with `--quiet`; colour only on a terminal and
//! never with `NO_COLOR`.

use std::io::IsTerminal;

use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub color: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Bold,
    Good,
    Bad,
    Warn,
    Dim,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            json,
            quiet,
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// Whether progress bars may draw: a person at a terminal who asked for them.
    pub fn progress(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }

    pub fn paint(&self, text: &str, style: Style) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match style {
            Style::Bold => "1",
            Style::Good => "32",
            Style::Bad => "31",
            Style::Warn => "33",
            Style::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// The result of a command: `json` as is with `--json`, else `human`.
    pub fn show(&self, json: &Value, human: impl FnOnce(&Self)) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(json).unwrap_or_default());
        } else if !self.quiet {
            human(self);
        }
    }

    /// A line of the human result (stdout).
    pub fn line(&self, text: &str) {
        if !self.quiet && !self.json {
            println!("{text}");
        }
    }

    /// A remark on what is happening (stderr), never part of the result.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!("{} {text}", self.paint("warning:", Style::Warn));
    }

    /// Rows under a header, each column as wide as its widest cell.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            self.line(&self.paint("(none)", Style::Dim));
            return;
        }
        let mut widths: Vec<usize> = header.iter().map(|h| visible_len(h)).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(visible_len(cell));
                }
            }
        }
        let render = |cells: Vec<&str>| {
            let last = cells.len().saturating_sub(1);
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                line.push_str(cell);
                if i < last {
                    let pad = widths[i].saturating_sub(visible_len(cell)) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line
        };
        let head = render(header.to_vec());
        self.line(&self.paint(&head, Style::Bold));
        for row in rows {
            self.line(&render(row.iter().map(String::as_str).collect()));
        }
    }
}

/// The characters a cell takes on screen: its colour codes take none.
fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => len += 1,
        }
    }
    len
}

/// A field of `value` as a table cell: strings bare, `null` as `-`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Dollars as the console shows them: `$1,234.50`.
pub fn dollars(value: &Value) -> String {
    let Some(amount) = value.as_f64() else {
        return "-".into();
    };
    let cents = (amount.abs() * 100.0).round() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0.0 { "-" } else { "" };
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// Bytes for people: `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dollars_group_thousands_and_keep_the_sign() {
        assert_eq!(dollars(&json!(1234.5)), "$1,234.50");
        assert_eq!(dollars(&json!(-8)), "-$8.00");
        assert_eq!(dollars(&json!(0.004)), "$0.00");
        assert_eq!(dollars(&json!(null)), "-");
    }

    #[test]
    fn colour_codes_take_no_width_in_a_table() {
        assert_eq!(visible_len("\x1b[31mhigh\x1b[0m"), 4);
        assert_eq!(visible_len("médium"), 6);
    }

    #[test]
    fn cells_show_null_as_a_dash_and_lists_joined() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(["a", "b"])), "a,b");
        assert_eq!(cell(&json!(3)), "3");
    }
}
