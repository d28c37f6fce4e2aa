//! Every DynamoDB expression our code builds names its attributes through
//! `#placeholders` wherever a name is one of DynamoDB's reserved words.
//!
//! An unescaped reserved word (`sensitive`, `status`, `name`, `size`...) is a
//! `ValidationException` at run time, which nothing but the one request that
//! builds it would ever find. So this test reads every expression fragment in
//! the sources of our crates (each string literal that an expression is made
//! of) and checks each bare attribute name against DynamoDB's list
//! (`data/dynamodb_reserved_words.txt`, the 573 words of the DynamoDB
//! developer guide, as moto ships them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Words of the expression grammar itself, which are reserved words too.
const GRAMMAR: &[&str] = &[
    "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN",
];

/// The expression functions; `size` is also a reserved word as a name.
const FUNCTIONS: &[&str] = &[
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "if_not_exists",
    "list_append",
];

fn reserved_words() -> BTreeSet<String> {
    include_str!("data/dynamodb_reserved_words.txt")
        .lines()
        .map(|w| w.trim().to_ascii_uppercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The Rust sources of every crate that talks to DynamoDB.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = devstack::repo_root();
    let mut out = Vec::new();
    walk(&root.join("shared/src"), &mut out);
    walk(&root.join("infra/devstack/src"), &mut out);
    walk(&root.join("infra/admin/src"), &mut out);
    if let Ok(functions) = std::fs::read_dir(root.join("functions")) {
        for function in functions.flatten() {
            walk(&function.path().join("src"), &mut out);
        }
    }
    out.sort();
    out
}

/// The contents of the plain `"..."` string literals of `source`.
fn string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = source.chars().peekable();
    let mut in_line_comment = false;
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if in_line_comment {
            if c == '\n' {
                in_line_comment = false;
            }
            prev = c;
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            in_line_comment = true;
            continue;
        }
        // A char literal such as '"' is not the start of a string.
        if c == '"' && prev != '\'' {
            let mut literal = String::new();
            while let Some(d) = chars.next() {
                match d {
                    '\\' => {
                        if let Some(e) = chars.next() {
                            literal.push(if e == 'n' { '\n' } else { e });
                        }
                    }
                    '"' => break,
                    other => literal.push(other),
                }
            }
            out.push(literal);
            prev = '"';
            continue;
        }
        prev = c;
    }
    out
}

/// Whether a literal is (part of) a DynamoDB expression rather than prose.
fn looks_like_expression(literal: &str) -> bool {
    // `:value` placeholders follow a space, `(` or `,` (not `Option::is_none`).
    let has_value_placeholder = literal.match_indices(':').any(|(i, _)| {
        let after = literal[i + 1..].starts_with(|c: char| c.is_ascii_lowercase());
        let before = literal[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == '(' || c == ',');
        after && before
    });
    let starts_with_clause = ["SET ", "ADD ", "REMOVE ", "DELETE "]
        .iter()
        .any(|clause| literal.starts_with(clause));
    let has_function = FUNCTIONS[..6]
        .iter()
        .any(|f| literal.contains(&format!("{f}(")));
    (has_value_placeholder && !literal.contains("://")) || starts_with_clause || has_function
}

/// The attribute names a fragment uses bare (not as `#name` or `:value`,
/// not inside a Rust `{...}` interpolation, not a function being called).
fn bare_names(fragment: &str) -> Vec<String> {
    let bytes = fragment.as_bytes();
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                let start = i;
                while i < bytes.len()
                    && ((bytes[i] as char).is_ascii_alphanumeric() || bytes[i] == b'_')
                {
                    i += 1;
                }
                let word = &fragment[start..i];
                let before = start.checked_sub(1).map(|j| bytes[j] as char);
                let escaped = matches!(before, Some('#' | ':' | '.' | '{'));
                let called = fragment[i..].trim_start().starts_with('(');
                if !escaped && !(called && FUNCTIONS.contains(&word)) && !GRAMMAR.contains(&word) {
                    names.push(word.to_owned());
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

#[test]
fn no_expression_uses_a_reserved_word_unescaped() {
    let reserved = reserved_words();
    assert!(reserved.len() > 500, "the reserved-word list was not read");
    let mut offences = Vec::new();
    let mut fragments = 0;
    for path in sources() {
        let source = std::fs::read_to_string(&path).expect("source readable");
        if !source.contains("_expression(") {
            continue;
        }
        for literal in string_literals(&source) {
            if !looks_like_expression(&literal) {
                continue;
            }
            fragments += 1;
            for name in bare_names(&literal) {
                if reserved.contains(&name.to_ascii_uppercase()) {
                    let file = path.strip_prefix(devstack::repo_root()).unwrap_or(&path);
                    offences.push(format!("{}: `{name}` in \"{literal}\"", file.display()));
                }
            }
        }
    }
    assert!(
        fragments > 30,
        "only {fragments} expression fragments were found"
    );
    assert!(
        offences.is_empty(),
        "reserved words used without a #placeholder:\n  {}",
        offences.join("\n  ")
    );
}

#[test]
fn the_scanner_of_this_test_finds_what_it_should() {
    assert_eq!(
        bare_names("SET #status = :to, status_at = :now, size = :s"),
        ["status_at", "size"]
    );
    assert_eq!(
        bare_names("attribute_not_exists(pk) AND size(#parts) < :n"),
        ["pk"]
    );
    assert_eq!(bare_names("SET {} = :v, sensitive = :s"), ["sensitive"]);
    assert!(looks_like_expression("SET sensitive = :s"));
    assert!(looks_like_expression("gsi1pk = :p"));
    assert!(!looks_like_expression("packages/{name}/{version}"));
    assert!(!looks_like_expression("Option::is_none"));
    assert_eq!(
        string_literals(
            r#"let a = "x = :y"; // "not me"
            let c = '"'; let b = "SET \"q\" = :z";"#
        ),
        ["x = :y", "SET \"q\" = :z"]
    );
}
