#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keeper::fuzzing::snapshot(data));
