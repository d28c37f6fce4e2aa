//! Any bytes, validated as a package: the core must never panic, hang or
//! allocate without bound, whatever the archive says about itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use validator::source::MemorySource;
use validator::{Expectation, validate};

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let expect = Expectation {
        name: "tool".into(),
        version: "1.0.0".into(),
        sha256: None,
    };
    let report = runtime.block_on(validate(&MemorySource::new(data.to_vec()), &expect)).expect("memory never fails");
    assert!(!report.checks.is_empty());
});
