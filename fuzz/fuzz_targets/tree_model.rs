#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keeper::fuzzing::tree_model(data));
