//! Loader tests on a small composed config: file:line errors, env overrides, validation.

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Pipe {
    enabled: bool,
    batch_size: u32,
    paths: Vec<String>,
    storage: StorageConfig,
    /// Reads like `storage` + `mode` in an environment variable.
    storage_mode: String,
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe {
            enabled: true,
            batch_size: 100,
            paths: vec!["/var/log/auth.log".into()],
            storage: StorageConfig::default(),
            storage_mode: "local".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Top {
    general: GeneralConfig,
    pipe: Pipe,
}

impl Validate for Top {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        self.general.validate(&key(prefix, "general"), issues);
        if self.pipe.batch_size == 0 {
            issues.push(key(prefix, "pipe.batch_size"), "must be at least 1");
        }
        self.pipe
            .storage
            .validate(&key(prefix, "pipe.storage"), issues);
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Loaded<Top>, ConfigError> {
    load::<Top>(
        &ConfigText {
            origin: Origin::File("ironpost.toml".into()),
            text: text.into(),
        },
        env(vars),
    )
}

#[test]
fn empty_file_gives_defaults() {
    let l = load_text("", &[]).unwrap();
    assert_eq!(l.value, Top::default());
    assert!(l.overrides.is_empty());
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let err = load_text(
        "[general]\nlog_level = \"debug\"\n\n[pipe]\nenabled = true\nbatchsize = 5\n",
        &[],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("ironpost.toml:6:"), "{msg}");
    assert!(msg.contains("`pipe.batchsize`"), "{msg}");
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn unknown_section_names_it() {
    let msg = load_text("[general]\n[nope]\nx = 1\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("ironpost.toml:2:"), "{msg}");
    assert!(msg.contains("`nope`"), "{msg}");
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let msg = load_text(
        "[general]\nlog_level = \"info\"\n[pipe]\nbatch_size = \"many\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(msg.starts_with("ironpost.toml:4:"), "{msg}");
    assert!(msg.contains("`pipe.batch_size`"), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");
}

#[test]
fn bad_enum_value_lists_the_choices() {
    let msg = load_text("[general]\nlog_format = \"xml\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("ironpost.toml:2:"), "{msg}");
    assert!(msg.contains("json") && msg.contains("pretty"), "{msg}");
}

#[test]
fn syntax_error_has_a_line() {
    let msg = load_text("[general]\nlog_level = \n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("ironpost.toml:2:"), "{msg}");
    assert!(msg.contains("syntax"), "{msg}");
}

#[test]
fn env_overrides_every_kind_of_field() {
    let l = load_text(
        "[pipe]\nbatch_size = 5\n",
        &[
            ("IRONPOST_PIPE_BATCH_SIZE", "42"),
            ("IRONPOST_PIPE_ENABLED", "false"),
            ("IRONPOST_PIPE_PATHS", "/a.log, /b.log"),
            ("IRONPOST_GENERAL_LOG_LEVEL", "debug"),
            ("IRONPOST_GENERAL_HTTP_LISTEN", "127.0.0.1:0"),
            (
                "IRONPOST_PIPE_STORAGE_POSTGRES_URL",
                "postgresql://u:p@127.0.0.1/db",
            ),
            ("IRONPOST_PIPE_STORAGE_RETENTION_DAYS", "7"),
            ("IRONPOST_CONFIG", "/ignored/by/the/loader"),
            ("IRONPOST_TEST_ANYTHING", "ignored"),
            ("HOME", "/root"),
        ],
    )
    .unwrap();
    let v = l.value;
    assert_eq!(v.pipe.batch_size, 42);
    assert!(!v.pipe.enabled);
    assert_eq!(v.pipe.paths, vec!["/a.log".to_owned(), "/b.log".to_owned()]);
    assert_eq!(v.general.log_level, LogLevel::Debug);
    assert_eq!(v.general.http_listen.port(), 0);
    assert_eq!(
        v.pipe.storage.postgres_url.as_deref(),
        Some("postgresql://u:p@127.0.0.1/db")
    );
    assert_eq!(v.pipe.storage.retention_days, 7);
    assert_eq!(l.overrides.len(), 7);
    assert!(
        l.overrides
            .iter()
            .any(|o| o.key == "pipe.storage.postgres_url")
    );
}

#[test]
fn env_prefers_the_reading_whose_key_exists() {
    // `PIPE_STORAGE_MODE` is `pipe.storage` + `mode` (no such key) or `pipe` + `storage_mode`.
    let l = load_text("", &[("IRONPOST_PIPE_STORAGE_MODE", "remote")]).unwrap();
    assert_eq!(l.value.pipe.storage_mode, "remote");
    assert_eq!(l.overrides[0].key, "pipe.storage_mode");
    // With neither key known the longest section is named, so the error points at it.
    let err = load_text("", &[("IRONPOST_PIPE_STORAGE_COLOUR", "red")]).unwrap_err();
    assert!(err.to_string().contains("pipe.storage.colour"), "{err}");
}

#[test]
fn env_array_accepts_toml_syntax() {
    let l = load_text("", &[("IRONPOST_PIPE_PATHS", r#"["/x,y.log"]"#)]).unwrap();
    assert_eq!(l.value.pipe.paths, vec!["/x,y.log".to_owned()]);
}

#[test]
fn env_errors_name_the_variable() {
    let msg = load_text("", &[("IRONPOST_PIPE_BATCH_SIZE", "lots")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("IRONPOST_PIPE_BATCH_SIZE") && msg.contains("integer"),
        "{msg}"
    );
    let msg = load_text("", &[("IRONPOST_PIPE_NOPE", "1")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("IRONPOST_PIPE_NOPE") && msg.contains("unknown field"),
        "{msg}"
    );
    let msg = load_text("", &[("IRONPOST_NOSECTION_X", "1")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("IRONPOST_NOSECTION_X") && msg.contains("GENERAL"),
        "{msg}"
    );
    let msg = load_text("", &[("IRONPOST_GENERAL_LOG_LEVEL", "loud")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("IRONPOST_GENERAL_LOG_LEVEL") && msg.contains("unknown variant"),
        "{msg}"
    );
}

#[test]
fn validation_reports_every_issue_with_its_origin() {
    let err = load_text(
        "[general]\nshutdown_timeout_secs = 0\n\n[pipe]\nbatch_size = 0\n",
        &[("IRONPOST_PIPE_STORAGE_POSTGRES_URL", "mysql://x")],
    )
    .unwrap_err();
    let issues = err.issues();
    assert_eq!(issues.len(), 3, "{err}");
    let by_key = |k: &str| {
        issues
            .iter()
            .find(|i| i.key == k)
            .unwrap_or_else(|| panic!("{k} in {err}"))
    };
    assert_eq!(
        by_key("general.shutdown_timeout_secs").location.to_string(),
        "ironpost.toml:2:1"
    );
    assert_eq!(
        by_key("pipe.batch_size").location.to_string(),
        "ironpost.toml:5:1"
    );
    assert_eq!(
        by_key("pipe.storage.postgres_url").location,
        Location::Env {
            var: "IRONPOST_PIPE_STORAGE_POSTGRES_URL".into()
        }
    );
}

#[test]
fn missing_file_points_to_config_init() {
    let err = ConfigText::read(std::path::Path::new("/nonexistent/ironpost.toml")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ironpost-cli config init"), "{msg}");
    assert!(matches!(err, ConfigError::Missing { .. }));
}

#[test]
fn redacts_url_passwords() {
    assert_eq!(
        redact_url("postgresql://u:secret@h:5432/db"),
        "postgresql://u:***@h:5432/db"
    );
    assert_eq!(
        redact_url("redis://127.0.0.1:6379"),
        "redis://127.0.0.1:6379"
    );
}
