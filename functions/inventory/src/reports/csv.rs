//! RFC 4180 CSV: a header row, CRLF line ends, a field quoted when it holds
//! a comma, a quote, CR or LF (its quotes doubled). A field a spreadsheet
//! would read as a formula (one starting with `=`, `+`, `-`, `@`, tab or CR)
//! is prefixed with a single quote, as OWASP's CSV-injection advice says:
//! resource names and tags are chosen by whoever owns the scanned account.

use super::{Encoder, Row, Totals};

/// Whether a spreadsheet would evaluate a cell with this text.
fn looks_like_a_formula(field: &str) -> bool {
    field.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Appends one field, neutralised and quoted as needed.
pub fn field(value: &str, out: &mut Vec<u8>) {
    let prefix = looks_like_a_formula(value);
    let quote = value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push(b'"');
    }
    if prefix {
        out.push(b'\'');
    }
    if quote {
        for part in value.split_inclusive('"') {
            out.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// Appends one record and its CRLF.
pub fn record<'a>(fields: impl IntoIterator<Item = &'a str>, out: &mut Vec<u8>) {
    for (i, value) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        field(value, out);
    }
    out.extend_from_slice(b"\r\n");
}

#[derive(Default)]
pub struct Csv;

impl<R: Row> Encoder<R> for Csv {
    fn start(&mut self, out: &mut Vec<u8>) {
        record(R::CSV_HEADER.iter().copied(), out);
    }

    fn row(&mut self, row: &R, out: &mut Vec<u8>) {
        let cells = row.csv_cells();
        record(cells.iter().map(|c| c.as_ref()), out);
    }

    fn finish(&mut self, _totals: &Totals, _out: &mut Vec<u8>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> String {
        let mut out = Vec::new();
        field(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_plain_field_is_written_as_it_is() {
        assert_eq!(one("i-0abc"), "i-0abc");
        assert_eq!(one(""), "");
        assert_eq!(one("12.50"), "12.50");
    }

    #[test]
    fn a_field_with_a_comma_is_quoted() {
        assert_eq!(one("a,b"), "\"a,b\"");
    }

    #[test]
    fn a_field_with_quotes_is_quoted_and_its_quotes_doubled() {
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("\""), "\"\"\"\"");
    }

    #[test]
    fn a_field_with_a_line_break_is_quoted() {
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
        assert_eq!(one("a\r\nb"), "\"a\r\nb\"");
    }

    #[test]
    fn a_field_starting_with_equals_is_escaped() {
        assert_eq!(
            one("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(one("=1+1"), "'=1+1");
    }

    #[test]
    fn a_field_starting_with_plus_is_escaped() {
        assert_eq!(one("+1"), "'+1");
    }

    #[test]
    fn a_field_starting_with_minus_is_escaped() {
        assert_eq!(one("-2+3"), "'-2+3");
    }

    #[test]
    fn a_field_starting_with_at_is_escaped() {
        assert_eq!(one("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn a_field_starting_with_a_tab_is_escaped() {
        assert_eq!(one("\t=1"), "'\t=1");
    }

    #[test]
    fn a_field_starting_with_a_carriage_return_is_escaped_and_quoted() {
        assert_eq!(one("\r=1"), "\"'\r=1\"");
    }

    #[test]
    fn a_formula_character_inside_a_field_is_left_alone() {
        assert_eq!(one("a=b"), "a=b");
        assert_eq!(one("us-east-1"), "us-east-1");
    }

    #[test]
    fn records_end_in_crlf_and_separate_fields_with_commas() {
        let mut out = Vec::new();
        record(["a", "b,c", ""], &mut out);
        record(["d", "=e", "f"], &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a,\"b,c\",\r\nd,'=e,f\r\n");
    }
}
