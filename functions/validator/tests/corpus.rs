//! The corpus: valid packages pass; every hostile or broken archive ends with
//! the right check failed. Built in memory, validated through the same core
//! that reads S3 in production.

use std::future::Future;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use validator::source::{MemorySource, Source, SourceError};
use validator::testzip::{self as support, Options, Spec, build, manifest, valid_entries};
use validator::{Expectation, Report, validate};

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
        .map(|c| c.id)
        .collect()
}

fn message<'a>(report: &'a Report, id: &str) -> &'a str {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.message.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn valid_stored_and_deflated_package_passes_every_check() {
    let report = run(build(&valid_entries(), &Options::default())).await;
    assert!(report.passed(), "{report:#?}");
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
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
    let report = fails_only(with(two_faced), "zip.crc").await;
    assert!(message(&report, "zip.crc").contains("local header"));
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
    let original = build(&valid_entries(), &Options::default());
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
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}.zip")), seed).unwrap();
    }
}
