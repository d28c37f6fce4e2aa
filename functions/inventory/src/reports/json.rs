//! One JSON array of the rows in the shape the API lists them, streamed:
//! `[`, each row as it comes, `]`.

use serde::Serialize;

use super::{Encoder, Totals};

/// Writes a JSON array an element at a time.
#[derive(Default)]
pub struct JsonArray {
    elements: u64,
}

impl JsonArray {
    pub fn open(out: &mut Vec<u8>) {
        out.push(b'[');
    }

    /// Appends one element; a value that cannot be serialised (none of
    /// ours: plain structs of strings and numbers) is written as `null`
    /// rather than breaking the array.
    pub fn element(&mut self, value: &impl Serialize, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.elements == 0 { b"\n" } else { b",\n" });
        let before = out.len();
        if serde_json::to_writer(&mut *out, value).is_err() {
            out.truncate(before);
            out.extend_from_slice(b"null");
        }
        self.elements += 1;
    }

    pub fn close(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.elements == 0 { b"]\n" } else { b"\n]\n" });
    }
}

impl<R: Serialize> Encoder<R> for JsonArray {
    fn start(&mut self, out: &mut Vec<u8>) {
        Self::open(out);
    }

    fn row(&mut self, row: &R, out: &mut Vec<u8>) {
        self.element(row, out);
    }

    fn finish(&mut self, _totals: &Totals, out: &mut Vec<u8>) {
        self.close(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_is_an_empty_array() {
        let (mut json, mut out) = (JsonArray::default(), Vec::new());
        Encoder::<u8>::start(&mut json, &mut out);
        Encoder::<u8>::finish(&mut json, &Totals::default(), &mut out);
        let parsed: Vec<u8> = serde_json::from_slice(&out).unwrap();
        assert!(parsed.is_empty());
    }

    #[test]
    fn rows_are_the_elements_of_one_array_in_order() {
        let (mut json, mut out) = (JsonArray::default(), Vec::new());
        Encoder::<&str>::start(&mut json, &mut out);
        for row in ["a\"b", "c", "</script>"] {
            json.row(&row, &mut out);
        }
        Encoder::<&str>::finish(&mut json, &Totals::default(), &mut out);
        let parsed: Vec<String> = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, ["a\"b", "c", "</script>"]);
    }
}
