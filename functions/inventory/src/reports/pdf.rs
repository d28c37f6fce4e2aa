//! A PDF of the report's tables (A4 landscape, one table per severity or
//! service, the totals last), in the base-14 Helvetica with WinAnsi text, so
//! no font is embedded and any reader (`pdftotext` too) gets the text back.
//!
//! Written as it goes: each page's content stream and page object are
//! serialised (with `pdf-writer`) and handed on as soon as the page is full;
//! only the objects' offsets and the pages' ids stay behind, for the
//! cross-reference table and the page tree written at the end.

use pdf_writer::{Chunk, Content, Finish, Name, Rect, Ref, Settings, Str, TextStr};

use super::{Encoder, Meta, Row, Totals, capitalised, count_of, dollars, totals_lines};

const PAGE_WIDTH: f32 = 842.0;
const PAGE_HEIGHT: f32 = 595.0;
const MARGIN: f32 = 36.0;
const BODY: f32 = 8.0;
const LEADING: f32 = 11.0;
const GAP: f32 = 6.0;

const PAGES: Ref = Ref::new(1);
const CATALOG: Ref = Ref::new(2);
const REGULAR: Ref = Ref::new(3);
const BOLD: Ref = Ref::new(4);
const INFO: Ref = Ref::new(5);
const FIRST_FREE: i32 = 6;

/// Helvetica's advance widths (per 1,000 of the size) for `' '..='~'`, from
/// its AFM; the bold face is wider by about 5 %.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// The WinAnsi (Windows-1252) byte of `c`, `?` for what it cannot show.
pub fn win_ansi(c: char) -> u8 {
    match c as u32 {
        0x20..=0x7E | 0xA0..=0xFF => c as u8,
        0x00..=0x1F | 0x7F => b' ',
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            _ => b'?',
        },
    }
}

/// A WinAnsi byte's width at `size` (outside ASCII, a digit's: about right).
fn width(byte: u8, size: f32, bold: bool) -> f32 {
    let units = match byte {
        0x20..=0x7E => HELVETICA[(byte - 0x20) as usize],
        0x85 => 1000,
        _ => 556,
    };
    let units = if bold {
        units as f32 * 1.05
    } else {
        units as f32
    };
    units * size / 1000.0
}

/// `text` in WinAnsi, cut to `room` points with an ellipsis when longer.
pub fn fit(text: &str, room: f32, size: f32, bold: bool) -> Vec<u8> {
    let bytes: Vec<u8> = text.chars().map(win_ansi).collect();
    let total: f32 = bytes.iter().map(|b| width(*b, size, bold)).sum();
    if total <= room {
        return bytes;
    }
    let ellipsis = width(0x85, size, bold);
    let mut used = 0.0;
    let mut out = Vec::new();
    for b in bytes {
        let w = width(b, size, bold);
        if used + w + ellipsis > room {
            break;
        }
        used += w;
        out.push(b);
    }
    out.push(0x85);
    out
}

fn text_width(bytes: &[u8], size: f32, bold: bool) -> f32 {
    bytes.iter().map(|b| width(*b, size, bold)).sum()
}

/// One column: where it starts and how wide it is.
#[derive(Debug, Clone, Copy)]
struct Column {
    x: f32,
    width: f32,
}

/// The table's columns across the line, in proportion to `weights`.
fn columns(weights: &[f32]) -> Vec<Column> {
    let room = PAGE_WIDTH - 2.0 * MARGIN - GAP * (weights.len().saturating_sub(1)) as f32;
    let sum: f32 = weights.iter().sum::<f32>().max(f32::EPSILON);
    let mut x = MARGIN;
    weights
        .iter()
        .map(|w| {
            let width = room * w / sum;
            let column = Column { x, width };
            x += width + GAP;
            column
        })
        .collect()
}

/// One piece of text on a line.
struct Piece {
    x: f32,
    text: Vec<u8>,
    size: f32,
    bold: bool,
}

pub struct Pdf {
    meta: Meta,
    /// Bytes handed on so far: the next object's offset.
    written: usize,
    /// Each object's offset, by id (`offsets[0]` is object 1).
    offsets: Vec<usize>,
    pages: Vec<Ref>,
    next_id: i32,
    content: Content,
    /// The next line's baseline on the page being filled.
    y: f32,
    /// The open table's heading and header row, repeated on a new page.
    table: Option<(String, Vec<String>)>,
    columns: Vec<Column>,
}

impl Pdf {
    pub fn new(meta: Meta) -> Self {
        Self {
            meta,
            written: 0,
            offsets: vec![0; (FIRST_FREE - 1) as usize],
            pages: Vec::new(),
            next_id: FIRST_FREE,
            content: Content::new(),
            y: top(),
            table: None,
            columns: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(bytes);
        self.written += bytes.len();
    }

    /// Hands on one object written by `write` into a chunk of its own.
    fn object(&mut self, id: Ref, write: impl FnOnce(&mut Chunk), out: &mut Vec<u8>) {
        let mut chunk = Chunk::with_settings(Settings { pretty: false });
        write(&mut chunk);
        let index = (id.get() - 1) as usize;
        if self.offsets.len() <= index {
            self.offsets.resize(index + 1, 0);
        }
        self.offsets[index] = self.written;
        self.emit(chunk.as_bytes(), out);
    }

    fn allocate(&mut self) -> Ref {
        let id = Ref::new(self.next_id);
        self.next_id += 1;
        id
    }

    /// Closes the page being filled (with its number) and hands it on.
    fn end_page(&mut self, out: &mut Vec<u8>) {
        let number = format!("Page {}", self.pages.len() + 1);
        let label = fit(&number, 100.0, BODY, false);
        let x = PAGE_WIDTH - MARGIN - text_width(&label, BODY, false);
        draw(&mut self.content, x, MARGIN - 14.0, &label, BODY, false);
        let content = std::mem::replace(&mut self.content, Content::new()).finish();
        let (content_id, page_id) = (self.allocate(), self.allocate());
        self.object(
            content_id,
            |c| {
                c.stream(content_id, &content);
            },
            out,
        );
        self.object(
            page_id,
            |c| {
                c.page(page_id).parent(PAGES).contents(content_id);
            },
            out,
        );
        self.pages.push(page_id);
        self.y = top();
    }

    /// Makes room for a line `height` high, on a new page if this one is full.
    fn room(&mut self, height: f32, out: &mut Vec<u8>) {
        if self.y - height < MARGIN {
            self.end_page(out);
            if let Some((heading, header)) = self.table.clone() {
                self.heading(&format!("{heading} (continued)"), out);
                self.header_row(&header, out);
            }
        }
    }

    fn line(&mut self, pieces: &[Piece], height: f32, out: &mut Vec<u8>) {
        self.room(height, out);
        for p in pieces {
            draw(&mut self.content, p.x, self.y, &p.text, p.size, p.bold);
        }
        self.y -= height;
    }

    fn text_line(&mut self, text: &str, size: f32, bold: bool, out: &mut Vec<u8>) {
        let piece = Piece {
            x: MARGIN,
            text: fit(text, PAGE_WIDTH - 2.0 * MARGIN, size, bold),
            size,
            bold,
        };
        self.line(&[piece], size * 1.4, out);
    }

    fn heading(&mut self, text: &str, out: &mut Vec<u8>) {
        self.room(13.0 * 1.4 + 2.0 * LEADING, out);
        self.y -= 4.0;
        self.text_line(text, 13.0, true, out);
    }

    /// A row of cells, the last right-aligned (the amount).
    fn cells(&mut self, cells: &[&str], bold: bool, out: &mut Vec<u8>) {
        let last = cells.len().saturating_sub(1);
        let pieces: Vec<Piece> = cells
            .iter()
            .zip(self.columns.iter())
            .enumerate()
            .map(|(i, (cell, column))| {
                let text = fit(cell, column.width, BODY, bold);
                let x = if i == last {
                    column.x + column.width - text_width(&text, BODY, bold)
                } else {
                    column.x
                };
                Piece {
                    x,
                    text,
                    size: BODY,
                    bold,
                }
            })
            .collect();
        self.line(&pieces, LEADING, out);
    }

    fn header_row(&mut self, header: &[String], out: &mut Vec<u8>) {
        let cells: Vec<&str> = header.iter().map(String::as_str).collect();
        self.cells(&cells, true, out);
        self.content
            .set_line_width(0.5)
            .move_to(MARGIN, self.y + LEADING - 2.5)
            .line_to(PAGE_WIDTH - MARGIN, self.y + LEADING - 2.5)
            .stroke();
    }
}

/// The first baseline of a page.
fn top() -> f32 {
    PAGE_HEIGHT - MARGIN - BODY
}

fn draw(content: &mut Content, x: f32, y: f32, text: &[u8], size: f32, bold: bool) {
    let font = if bold { Name(b"F2") } else { Name(b"F1") };
    content
        .begin_text()
        .set_font(font, size)
        .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
        .show(Str(text))
        .end_text();
}

impl<R: Row> Encoder<R> for Pdf {
    fn grouped(&self) -> bool {
        true
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        // The binary comment marks the file as binary to transfer programs.
        self.emit(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n", out);
        let title = self.meta.title.clone();
        self.text_line(&title, 16.0, true, out);
        let generated = format!("Generated {}", self.meta.generated_at);
        self.text_line(&generated, BODY + 1.0, false, out);
        let filters = self.meta.filters_line();
        self.text_line(&filters, BODY + 1.0, false, out);
        self.columns = columns(R::TABLE_WIDTHS);
    }

    fn group(&mut self, label: &str, out: &mut Vec<u8>) {
        let mut header: Vec<String> = R::TABLE_HEADER.iter().map(|h| h.to_string()).collect();
        header.push(capitalised(R::AMOUNT));
        self.heading(label, out);
        self.header_row(&header, out);
        self.table = Some((label.to_owned(), header));
    }

    fn row(&mut self, row: &R, out: &mut Vec<u8>) {
        let mut cells = row.table_cells();
        let amount = dollars(row.cents());
        cells.push(amount.into());
        let cells: Vec<&str> = cells.iter().map(|c| c.as_ref()).collect();
        self.cells(&cells, false, out);
    }

    fn end_group(&mut self, _label: &str, totals: &Totals, out: &mut Vec<u8>) {
        self.table = None;
        let count = count_of(totals.rows, R::NOUN);
        let mut cells = vec![count.as_str()];
        cells.resize(R::TABLE_HEADER.len(), "");
        let amount = dollars(totals.cents);
        cells.push(&amount);
        self.cells(&cells, true, out);
        self.y -= LEADING / 2.0;
    }

    fn finish(&mut self, totals: &Totals, out: &mut Vec<u8>) {
        if totals.rows == 0 {
            self.text_line(&format!("No {} match.", R::NOUN), BODY + 2.0, false, out);
        }
        self.heading("Totals", out);
        for line in totals_lines(totals, R::NOUN, R::AMOUNT) {
            self.text_line(&line, 11.0, true, out);
        }
        self.end_page(out);

        for (id, name) in [(REGULAR, "Helvetica"), (BOLD, "Helvetica-Bold")] {
            self.object(
                id,
                |c| {
                    c.type1_font(id)
                        .base_font(Name(name.as_bytes()))
                        .encoding_predefined(Name(b"WinAnsiEncoding"));
                },
                out,
            );
        }
        let pages = std::mem::take(&mut self.pages);
        self.object(
            PAGES,
            |c| {
                let mut tree = c.pages(PAGES);
                tree.kids(pages.iter().copied())
                    .count(pages.len() as i32)
                    .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
                tree.resources()
                    .fonts()
                    .pair(Name(b"F1"), REGULAR)
                    .pair(Name(b"F2"), BOLD);
            },
            out,
        );
        self.object(
            CATALOG,
            |c| {
                c.indirect(CATALOG)
                    .start::<pdf_writer::writers::Catalog>()
                    .pages(PAGES);
            },
            out,
        );
        let title = self.meta.title.clone();
        self.object(
            INFO,
            |c| {
                let mut info = c.indirect(INFO).dict();
                info.pair(Name(b"Title"), TextStr(&title));
                info.pair(Name(b"Producer"), TextStr("cloudkeep"));
                info.finish();
            },
            out,
        );

        // The cross-reference table: one 20-byte entry per object, in order.
        let xref = self.written;
        let mut table = format!("xref\n0 {}\n0000000000 65535 f\r\n", self.offsets.len() + 1);
        for offset in &self.offsets {
            table.push_str(&format!("{offset:010} 00000 n\r\n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {} /Root {} 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len() + 1,
            CATALOG.get(),
            INFO.get()
        ));
        self.emit(table.as_bytes(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_outside_win_ansi_becomes_question_marks_and_controls_spaces() {
        let bytes: Vec<u8> = "a€é—漢\n".chars().map(win_ansi).collect();
        assert_eq!(bytes, [b'a', 0x80, 0xE9, 0x97, b'?', b' ']);
    }

    #[test]
    fn text_too_wide_for_its_column_is_cut_with_an_ellipsis() {
        let long = "x".repeat(200);
        let cut = fit(&long, 50.0, BODY, false);
        assert_eq!(cut.last(), Some(&0x85));
        assert!(text_width(&cut, BODY, false) <= 50.0);
        assert_eq!(fit("short", 50.0, BODY, false), b"short");
    }

    #[test]
    fn columns_fill_the_line_between_the_margins() {
        let cols = columns(&[1.0, 2.0, 1.0]);
        assert_eq!(cols[0].x, MARGIN);
        let end = cols[2].x + cols[2].width;
        assert!((end - (PAGE_WIDTH - MARGIN)).abs() < 0.01, "{end}");
        assert!((cols[1].width - 2.0 * cols[0].width).abs() < 0.01);
    }
}
