//! Fuzz target: `ironpost.toml` as the daemon and the CLI load it (syntax, every section's typed
//! fields, `IRONPOST_*` environment overrides, validation). The input is the file, optionally
//! followed by a NUL byte and `NAME=VALUE` lines taken as the environment. Loading must give a
//! config or an error that names the key, never panic; a loaded config can be shown redacted.
//!
//! Run with `make fuzz FUZZ_TARGETS=config_toml` (see docs/fuzzing.md).

#![no_main]

use ironpost_config::IronpostConfig;
use ironpost_core::config::{ConfigText, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (file, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(file), Ok(env)) = (std::str::from_utf8(file), std::str::from_utf8(env)) else {
        return;
    };
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let text = ConfigText::embedded("fuzz", file);
    if let Ok(loaded) = load::<IronpostConfig>(&text, env) {
        let _ = loaded.value.enabled_modules();
        let _ = loaded.value.to_redacted_toml();
    }
});
