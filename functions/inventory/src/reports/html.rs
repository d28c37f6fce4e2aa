//! A self-contained HTML page: inline CSS, no script, no external asset
//! (its own Content-Security-Policy forbids both), one table per severity
//! (findings) or service (resources) with its subtotal, and the totals.
//! Every value is escaped: names, tags and recommendations come from the
//! scanned accounts.

use std::fmt::Write as _;

use super::{Encoder, Meta, Row, Totals, capitalised, count_of, dollars, totals_lines};

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;margin:0}\
main{display:flex;flex-direction:column;gap:1rem;max-width:1200px;margin:0 auto;padding:1.5rem}\
h1{font-size:1.5rem;margin:0}h2{font-size:1.15rem;margin:0 0 .5rem}\
.meta{color:#59636e;margin:0}\
#totals{order:-1;background:#f6f8fa;border:1px solid #d1d9e0;border-radius:6px;padding:.75rem 1rem}\
#totals p{margin:.2rem 0;font-size:1.05rem;font-weight:600}\
table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f6f8fa}td.n,th.n{text-align:right;white-space:nowrap}\
tfoot td{font-weight:600;border-bottom:none}\
@media print{main{max-width:none}}";

/// Appends `text` with `&`, `<`, `>`, `"` and `'` replaced by entities, so
/// it is text in an element or in a quoted attribute alike.
pub fn escape(text: &str, out: &mut Vec<u8>) {
    let mut rest = 0;
    for (i, c) in text.char_indices() {
        let entity: &[u8] = match c {
            '&' => b"&amp;",
            '<' => b"&lt;",
            '>' => b"&gt;",
            '"' => b"&quot;",
            '\'' => b"&#39;",
            _ => continue,
        };
        out.extend_from_slice(text[rest..i].as_bytes());
        out.extend_from_slice(entity);
        rest = i + 1;
    }
    out.extend_from_slice(text[rest..].as_bytes());
}

fn element(tag: &str, class: Option<&str>, text: &str, out: &mut Vec<u8>) {
    let mut open = format!("<{tag}");
    if let Some(class) = class {
        let _ = write!(open, " class=\"{class}\"");
    }
    open.push('>');
    out.extend_from_slice(open.as_bytes());
    escape(text, out);
    out.extend_from_slice(format!("</{tag}>").as_bytes());
}

pub struct Html {
    meta: Meta,
}

impl Html {
    pub fn new(meta: Meta) -> Self {
        Self { meta }
    }
}

impl<R: Row> Encoder<R> for Html {
    fn grouped(&self) -> bool {
        true
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>",
        );
        escape(&self.meta.title, out);
        out.extend_from_slice(b"</title><style>");
        out.extend_from_slice(STYLE.as_bytes());
        out.extend_from_slice(b"</style></head>\n<body><main><header>");
        element("h1", None, &self.meta.title, out);
        element(
            "p",
            Some("meta"),
            &format!("Generated {}", self.meta.generated_at),
            out,
        );
        element("p", Some("meta"), &self.meta.filters_line(), out);
        out.extend_from_slice(b"</header>\n");
    }

    fn group(&mut self, label: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<section>");
        element("h2", None, label, out);
        out.extend_from_slice(b"<table><thead><tr>");
        for column in R::TABLE_HEADER {
            element("th", None, column, out);
        }
        element("th", Some("n"), &capitalised(R::AMOUNT), out);
        out.extend_from_slice(b"</tr></thead><tbody>\n");
    }

    fn row(&mut self, row: &R, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<tr>");
        for cell in row.table_cells() {
            element("td", None, &cell, out);
        }
        element("td", Some("n"), &dollars(row.cents()), out);
        out.extend_from_slice(b"</tr>\n");
    }

    fn end_group(&mut self, _label: &str, totals: &Totals, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "</tbody><tfoot><tr><td colspan=\"{}\">",
                R::TABLE_HEADER.len()
            )
            .as_bytes(),
        );
        escape(&count_of(totals.rows, R::NOUN), out);
        out.extend_from_slice(b"</td>");
        element("td", Some("n"), &dollars(totals.cents), out);
        out.extend_from_slice(b"</tr></tfoot></table></section>\n");
    }

    fn finish(&mut self, totals: &Totals, out: &mut Vec<u8>) {
        if totals.rows == 0 {
            element("p", None, &format!("No {} match.", R::NOUN), out);
        }
        out.extend_from_slice(b"<section id=\"totals\">");
        element("h2", None, "Totals", out);
        for line in totals_lines(totals, R::NOUN, R::AMOUNT) {
            element("p", None, &line, out);
        }
        out.extend_from_slice(b"</section>\n</main></body></html>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        escape(text, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn markup_in_a_value_is_escaped_to_text() {
        assert_eq!(
            escaped("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn quotes_and_ampersands_are_escaped_so_attributes_cannot_be_broken_out_of() {
        assert_eq!(escaped("a\"b&c'd"), "a&quot;b&amp;c&#39;d");
    }

    #[test]
    fn text_without_markup_is_unchanged_multibyte_included() {
        assert_eq!(escaped("prod — €5 ünïcode"), "prod — €5 ünïcode");
        assert_eq!(escaped(""), "");
    }
}
