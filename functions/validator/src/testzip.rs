//! Builds ZIP archives for tests, byte by byte, so every hostile variant can
//! be made exactly (no binary files checked in). Behind the `test-util`
//! feature: never in a release build.

use std::io::Write;

pub const UNIX: u16 = 3 << 8 | 20;

#[derive(Clone, Debug)]
pub struct Spec {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub method: u16,
    pub flags: u16,
    pub made_by: u16,
    pub external: u32,
    pub crc: Option<u32>,
    /// A different name in the local header than in the directory.
    pub local_name: Option<Vec<u8>>,
    /// Sizes lied about in the directory (compressed, uncompressed).
    pub sizes: Option<(u64, u64)>,
    /// Values only the local header carries differently from the directory.
    pub local: Local,
    /// A data descriptor after the data; sets flag bit 3 in both headers.
    pub descriptor: Option<Descriptor>,
    /// Bytes written just before this entry's local header (a gap).
    pub before: Vec<u8>,
    /// Raw bytes written right after the (compressed) data and before any
    /// descriptor, counted in neither header's sizes unless `sizes` says so.
    pub after_data: Vec<u8>,
    /// The local header's extra field (the directory's stays empty, unless ZIP64).
    pub local_extra: Vec<u8>,
    /// The directory entry's extra field (besides any ZIP64 field).
    pub central_extra: Vec<u8>,
}

/// Local-header values that differ from the directory's (`None`: the same).
#[derive(Clone, Debug, Default)]
pub struct Local {
    pub method: Option<u16>,
    pub flags: Option<u16>,
    pub crc: Option<u32>,
    /// (compressed, uncompressed).
    pub sizes: Option<(u64, u64)>,
}

/// A data descriptor: `crc` and `sizes` default to the entry's true values.
#[derive(Clone, Debug, Default)]
pub struct Descriptor {
    /// Starts with the optional `PK\x07\x08` signature.
    pub signature: bool,
    /// 8-byte sizes; the local header then carries a ZIP64 extra field.
    pub zip64: bool,
    pub crc: Option<u32>,
    /// (compressed, uncompressed).
    pub sizes: Option<(u64, u64)>,
}

impl Spec {
    pub fn stored(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            method: 0,
            flags: 0x0800,
            made_by: UNIX,
            external: 0o100_644 << 16,
            crc: None,
            local_name: None,
            sizes: None,
            local: Local::default(),
            descriptor: None,
            before: Vec::new(),
            after_data: Vec::new(),
            local_extra: Vec::new(),
            central_extra: Vec::new(),
        }
    }

    /// With a data descriptor (sizes and CRC after the data, as streaming writers do).
    pub fn with_descriptor(mut self, descriptor: Descriptor) -> Self {
        self.descriptor = Some(descriptor);
        self
    }

    pub fn deflated(name: &str, data: &[u8]) -> Self {
        Self {
            method: 8,
            ..Self::stored(name, data)
        }
    }
}

fn compress(spec: &Spec) -> Vec<u8> {
    match spec.method {
        8 => {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&spec.data).unwrap();
            e.finish().unwrap()
        }
        _ => spec.data.clone(),
    }
}

fn crc(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h.finalize()
}

#[derive(Default)]
pub struct Options {
    pub comment: Vec<u8>,
    /// Always write ZIP64 end records.
    pub zip64: bool,
    /// Bytes appended after the end record.
    pub trailing: Vec<u8>,
    /// Bytes before the first entry (a self-extracting stub); offsets stay absolute.
    pub prefix: Vec<u8>,
    /// Bytes between the last entry and the central directory.
    pub before_directory: Vec<u8>,
    /// Bytes between the central directory and the end records.
    pub after_directory: Vec<u8>,
}

/// Builds a ZIP of `specs`.
pub fn build(specs: &[Spec], options: &Options) -> Vec<u8> {
    let mut out = options.prefix.clone();
    let mut central = Vec::new();
    for spec in specs {
        out.extend_from_slice(&spec.before);
        let offset = out.len() as u64;
        let body = compress(spec);
        let crc = spec.crc.unwrap_or_else(|| crc(&spec.data));
        let local_name = spec.local_name.clone().unwrap_or_else(|| spec.name.clone());
        let (csize, usize_) = spec
            .sizes
            .unwrap_or((body.len() as u64, spec.data.len() as u64));
        let flags = match spec.descriptor {
            Some(_) => spec.flags | 0x0008,
            None => spec.flags,
        };
        // With a descriptor, the local header's CRC and sizes are zero (APPNOTE 4.4.4).
        let (local_crc, local_sizes) = match spec.descriptor {
            Some(_) => (0, (0, 0)),
            None => (crc, (csize, usize_)),
        };
        let local_crc = spec.local.crc.unwrap_or(local_crc);
        let (local_csize, local_usize) = spec.local.sizes.unwrap_or(local_sizes);
        let zip64 = spec.descriptor.as_ref().is_some_and(|d| d.zip64);
        let mut local_extra = Vec::new();
        if zip64 {
            local_extra.extend_from_slice(&1u16.to_le_bytes());
            local_extra.extend_from_slice(&16u16.to_le_bytes());
            local_extra.extend_from_slice(&local_usize.to_le_bytes());
            local_extra.extend_from_slice(&local_csize.to_le_bytes());
        }
        local_extra.extend_from_slice(&spec.local_extra);
        let sat = |v: u64| if zip64 { 0xFFFF_FFFF } else { v as u32 };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        out.extend_from_slice(&spec.local.flags.unwrap_or(flags).to_le_bytes());
        out.extend_from_slice(&spec.local.method.unwrap_or(spec.method).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x21u16.to_le_bytes());
        out.extend_from_slice(&local_crc.to_le_bytes());
        out.extend_from_slice(&sat(local_csize).to_le_bytes());
        out.extend_from_slice(&sat(local_usize).to_le_bytes());
        out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(local_extra.len() as u16).to_le_bytes());
        out.extend_from_slice(&local_name);
        out.extend_from_slice(&local_extra);
        out.extend_from_slice(&body);
        out.extend_from_slice(&spec.after_data);
        if let Some(d) = &spec.descriptor {
            if d.signature {
                out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            }
            out.extend_from_slice(&d.crc.unwrap_or(crc).to_le_bytes());
            let (dc, du) = d.sizes.unwrap_or((csize, usize_));
            if d.zip64 {
                out.extend_from_slice(&dc.to_le_bytes());
                out.extend_from_slice(&du.to_le_bytes());
            } else {
                out.extend_from_slice(&(dc as u32).to_le_bytes());
                out.extend_from_slice(&(du as u32).to_le_bytes());
            }
        }
        let mut central_spec = spec.clone();
        central_spec.flags = flags;
        central.extend(central_entry(&central_spec, crc, csize, usize_, offset));
    }
    out.extend_from_slice(&options.before_directory);
    finish(out, central, specs.len() as u64, options)
}

/// A whole local file (header and stored data), to hide inside an archive
/// where a streaming unzip would find it.
pub fn hidden_file(name: &str, data: &[u8]) -> Vec<u8> {
    let spec = Spec::stored(name, data);
    let one = build(std::slice::from_ref(&spec), &Options::default());
    one[..30 + name.len() + data.len()].to_vec()
}

pub fn central_entry(spec: &Spec, crc: u32, csize: u64, usize_: u64, offset: u64) -> Vec<u8> {
    let big = csize >= 0xFFFF_FFFF || usize_ >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF;
    let mut extra = spec.central_extra.clone();
    if big {
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&24u16.to_le_bytes());
        extra.extend_from_slice(&usize_.to_le_bytes());
        extra.extend_from_slice(&csize.to_le_bytes());
        extra.extend_from_slice(&offset.to_le_bytes());
    }
    let sat = |v: u64| if big { 0xFFFF_FFFFu32 } else { v as u32 };
    let mut c = Vec::new();
    c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    c.extend_from_slice(&spec.made_by.to_le_bytes());
    c.extend_from_slice(&(if big { 45u16 } else { 20 }).to_le_bytes());
    c.extend_from_slice(&spec.flags.to_le_bytes());
    c.extend_from_slice(&spec.method.to_le_bytes());
    c.extend_from_slice(&0u16.to_le_bytes());
    c.extend_from_slice(&0x21u16.to_le_bytes());
    c.extend_from_slice(&crc.to_le_bytes());
    c.extend_from_slice(&sat(csize).to_le_bytes());
    c.extend_from_slice(&sat(usize_).to_le_bytes());
    c.extend_from_slice(&(spec.name.len() as u16).to_le_bytes());
    c.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    c.extend_from_slice(&0u16.to_le_bytes());
    c.extend_from_slice(&0u16.to_le_bytes());
    c.extend_from_slice(&0u16.to_le_bytes());
    c.extend_from_slice(&spec.external.to_le_bytes());
    c.extend_from_slice(&sat(offset).to_le_bytes());
    c.extend_from_slice(&spec.name);
    c.extend_from_slice(&extra);
    c
}

/// Appends the central directory and the end records.
pub fn finish(mut out: Vec<u8>, central: Vec<u8>, count: u64, options: &Options) -> Vec<u8> {
    let cd_offset = out.len() as u64;
    let cd_size = central.len() as u64;
    out.extend_from_slice(&central);
    out.extend_from_slice(&options.after_directory);
    let zip64 = options.zip64 || count > 0xFFFF || cd_offset > 0xFFFF_FFFF;
    if zip64 {
        let record_offset = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&record_offset.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let (n, size, offset) = if zip64 {
        (0xFFFFu16, 0xFFFF_FFFFu32, 0xFFFF_FFFFu32)
    } else {
        (count as u16, cd_size as u32, cd_offset as u32)
    };
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(options.comment.len() as u16).to_le_bytes());
    out.extend_from_slice(&options.comment);
    out.extend_from_slice(&options.trailing);
    out
}

/// A valid package's manifest and README.
pub fn manifest(name: &str, version: &str) -> Vec<u8> {
    format!(r#"{{"name": "{name}", "version": "{version}", "description": "test"}}"#).into_bytes()
}

pub fn valid_entries() -> Vec<Spec> {
    vec![
        Spec::deflated("package.json", &manifest("tool", "1.0.0")),
        Spec::stored("README.md", b"# tool\nDoes things.\n"),
        Spec::deflated("src/main.txt", &b"hello world, ".repeat(200)),
    ]
}
