//! SBOMs generated from the fixtures are valid according to the official validators from PyPI:
//! cyclonedx-python-lib's `JsonStrictValidator` (CycloneDX 1.5 and 1.6 JSON schemas) and
//! spdx-tools' `pyspdxtools`. Each check also feeds the validator a deliberately broken document,
//! so a validator that accepts everything fails the test.
//!
//! The validators live in a venv made by `scripts/python-tools.sh` (at `$IRONPOST_VENV`, default
//! `/var/tmp/ironpost-venv`); without it these tests fail with the command to run.

// Helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ironpost_sbom_scanner::{CycloneDxVersion, Inventory, cyclonedx, inventory, spdx};
use serde_json::Value;

fn venv() -> PathBuf {
    let dir = std::env::var_os("IRONPOST_VENV")
        .map_or_else(|| PathBuf::from("/var/tmp/ironpost-venv"), PathBuf::from);
    let python = dir.join("bin/python");
    assert!(
        python.exists() && dir.join("bin/pyspdxtools").exists(),
        "the SBOM validators are not installed in {}: run `scripts/python-tools.sh` \
         (IRONPOST_VENV={} to choose the venv)",
        dir.display(),
        dir.display()
    );
    dir
}

fn fixtures_inventory() -> Inventory {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let inv = inventory(&[root]).unwrap();
    for l in &inv.lockfiles {
        assert!(l.error.is_none(), "{}: {:?}", l.path.display(), l.error);
    }
    assert!(inv.packages.len() > 50, "fixtures give a real inventory");
    inv
}

const CDX_CHECK: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
error = JsonStrictValidator(getattr(SchemaVersion, sys.argv[1])).validate_str(open(sys.argv[2]).read())
if error is None:
    print("VALID")
    sys.exit(0)
print("INVALID", error)
sys.exit(1)
"#;

/// Runs the CycloneDX validator: (valid, output).
fn cdx_validate(doc: &Value, version: &str) -> (bool, String) {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bom.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", CDX_CHECK, version])
        .arg(&file)
        .output()
        .expect("run the venv's python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let valid = out.status.success() && text.starts_with("VALID");
    assert!(
        valid || text.contains("INVALID"),
        "the validator itself failed: {text}"
    );
    (valid, text)
}

/// Runs pyspdxtools: (valid, output).
fn spdx_validate(doc: &Value) -> (bool, String) {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("doc.spdx.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(venv.join("bin/pyspdxtools"))
        .arg("-i")
        .arg(&file)
        .output()
        .expect("run pyspdxtools");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("ERROR"), text)
}

fn check_cyclonedx(version: CycloneDxVersion, schema: &str) {
    let inv = fixtures_inventory();
    let doc = cyclonedx(&inv, version);
    assert_eq!(doc["specVersion"], version.as_str());
    let (valid, out) = cdx_validate(&doc, schema);
    assert!(valid, "CycloneDX {schema} rejected: {out}");

    let mut broken = doc.clone();
    broken["components"][0]["hashes"] =
        serde_json::json!([{"alg": "SHA-256", "content": "not-hex"}]);
    let (valid, out) = cdx_validate(&broken, schema);
    assert!(!valid, "a bad hash must be rejected: {out}");
    let mut broken = doc;
    broken.as_object_mut().unwrap().remove("bomFormat");
    assert!(
        !cdx_validate(&broken, schema).0,
        "a document without bomFormat must be rejected"
    );
}

#[test]
fn cyclonedx_1_5_is_valid() {
    check_cyclonedx(CycloneDxVersion::V1_5, "V1_5");
}

#[test]
fn cyclonedx_1_6_is_valid() {
    check_cyclonedx(CycloneDxVersion::V1_6, "V1_6");
}

#[test]
fn spdx_2_3_is_valid() {
    let inv = fixtures_inventory();
    let doc = spdx(&inv);
    let (valid, out) = spdx_validate(&doc);
    assert!(valid, "SPDX rejected: {out}");

    let mut broken = doc.clone();
    broken["packages"][1]["downloadLocation"] = serde_json::json!("not a location");
    let (valid, out) = spdx_validate(&broken);
    assert!(!valid, "a bad downloadLocation must be rejected: {out}");
    let mut broken = doc;
    broken["relationships"][0]["relatedSpdxElement"] = serde_json::json!("SPDXRef-nowhere");
    assert!(
        !spdx_validate(&broken).0,
        "a relationship to nothing must be rejected"
    );
}

#[test]
fn empty_inventory_documents_are_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&[tmp.path().to_owned()]).unwrap();
    assert!(cdx_validate(&cyclonedx(&inv, CycloneDxVersion::V1_6), "V1_6").0);
    let (valid, out) = spdx_validate(&spdx(&inv));
    assert!(valid, "{out}");
}

/// The document minus what must differ between runs.
fn stable(mut doc: Value) -> Value {
    let o = doc.as_object_mut().unwrap();
    for k in ["serialNumber", "documentNamespace"] {
        o.remove(k);
    }
    if let Some(m) = o.get_mut("metadata") {
        m.as_object_mut().unwrap().remove("timestamp");
    }
    if let Some(c) = o.get_mut("creationInfo") {
        c.as_object_mut().unwrap().remove("created");
    }
    doc
}

#[test]
fn output_is_deterministic_and_carries_the_model() {
    let inv = fixtures_inventory();
    let a = cyclonedx(&inv, CycloneDxVersion::V1_6);
    let b = cyclonedx(&inv, CycloneDxVersion::V1_6);
    assert_ne!(a["serialNumber"], b["serialNumber"]);
    assert_eq!(stable(a.clone()), stable(b));
    assert_eq!(stable(spdx(&inv)), stable(spdx(&inv)));

    let comps = a["components"].as_array().unwrap();
    let refs: Vec<&str> = comps
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    let mut sorted = refs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(refs, sorted, "components sorted by bom-ref and unique");

    let by_ref = |r: &str| {
        comps
            .iter()
            .find(|c| c["bom-ref"] == r)
            .unwrap_or_else(|| panic!("{r}"))
    };
    let frame = by_ref("pkg:npm/%40babel/code-frame@7.12.13");
    assert_eq!(frame["group"], "@babel");
    assert_eq!(frame["name"], "code-frame");
    assert!(
        frame["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["alg"] == "SHA-512")
    );
    assert_eq!(
        by_ref("pkg:npm/typescript@5.0.4")["scope"],
        "optional",
        "dev-only"
    );
    assert!(by_ref("pkg:npm/react@18.2.0").get("scope").is_none());
    let git = by_ref(
        "pkg:cargo/gitdep@0.3.0?vcs_url=https%3A%2F%2Fgithub.com%2Fexample%2Fgitdep%400123abcdef0123abcdef0123abcdef0123abcdef",
    );
    assert_eq!(git["externalReferences"][0]["type"], "vcs");

    let deps = a["dependencies"].as_array().unwrap();
    let debug = deps
        .iter()
        .find(|d| d["ref"] == "pkg:npm/debug@4.3.4")
        .unwrap();
    assert_eq!(debug["dependsOn"], serde_json::json!(["pkg:npm/ms@2.1.2"]));
    assert!(
        !deps.iter().any(|d| d["ref"] == "pkg:pypi/django@4.2.7"),
        "requirements.txt records no graph, so none is claimed"
    );

    let s = spdx(&inv);
    let pkgs = s["packages"].as_array().unwrap();
    assert_eq!(
        pkgs.len(),
        comps.len() + 1,
        "one SPDX package per component plus the root"
    );
    let rels = s["relationships"].as_array().unwrap();
    assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
    assert!(rels.iter().any(|r| r["relationshipType"] == "DEPENDS_ON"));
    let django = pkgs.iter().find(|p| p["name"] == "django").unwrap();
    assert_eq!(
        django["externalRefs"][0]["referenceLocator"],
        "pkg:pypi/django@4.2.7"
    );
    assert_eq!(django["checksums"][0]["algorithm"], "SHA256");
}
