//! CycloneDX JSON (spec 1.5 and 1.6).

use serde_json::{Value, json};

use super::{DocMeta, TOOL_NAME, TOOL_VERSION, components, hash_name, plain_url, subject_name};
use crate::package::{Ecosystem, Inventory, Source};

/// CycloneDX specification version of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CycloneDxVersion {
    V1_5,
    #[default]
    V1_6,
}

impl CycloneDxVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CycloneDxVersion::V1_5 => "1.5",
            CycloneDxVersion::V1_6 => "1.6",
        }
    }
}

const ROOT_REF: &str = "ironpost:scan-root";

pub(crate) fn render(inv: &Inventory, version: CycloneDxVersion, meta: DocMeta) -> Value {
    let comps = components(inv);
    let mut out_components = Vec::with_capacity(comps.len());
    let mut dependencies = Vec::new();
    for c in &comps {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), json!("library"));
        obj.insert("bom-ref".into(), json!(c.id));
        match c.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, name)) if c.ecosystem == Ecosystem::Npm => {
                obj.insert("group".into(), json!(format!("@{scope}")));
                obj.insert("name".into(), json!(name));
            }
            _ => {
                obj.insert("name".into(), json!(c.name));
            }
        }
        if !c.version.is_empty() {
            obj.insert("version".into(), json!(c.version));
        }
        if c.dev {
            obj.insert("scope".into(), json!("optional"));
        }
        if !c.checksums.is_empty() {
            let hashes: Vec<Value> = c
                .checksums
                .iter()
                .map(|h| json!({"alg": hash_name(h.alg, false), "content": h.hex}))
                .collect();
            obj.insert("hashes".into(), json!(hashes));
        }
        obj.insert("purl".into(), json!(c.id));
        let reference = match &c.source {
            Source::Git { url, .. } => plain_url(url).map(|u| json!({"type": "vcs", "url": u})),
            Source::Url(url) => plain_url(url).map(|u| json!({"type": "distribution", "url": u})),
            _ => None,
        };
        if let Some(r) = reference {
            obj.insert("externalReferences".into(), json!([r]));
        }
        let mut props = vec![json!({"name": "ironpost:source", "value": c.source.kind()})];
        props.extend(
            c.lockfiles
                .iter()
                .map(|l| json!({"name": "ironpost:lockfile", "value": l.display().to_string()})),
        );
        obj.insert("properties".into(), json!(props));
        out_components.push(Value::Object(obj));
        if let Some(deps) = &c.dependencies {
            dependencies.push(json!({"ref": c.id, "dependsOn": deps}));
        }
    }
    json!({
        "$schema": format!("http://cyclonedx.org/schema/bom-{}.schema.json", version.as_str()),
        "bomFormat": "CycloneDX",
        "specVersion": version.as_str(),
        "serialNumber": format!("urn:uuid:{}", meta.serial),
        "version": 1,
        "metadata": {
            "timestamp": meta.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "tools": {
                "components": [{"type": "application", "name": TOOL_NAME, "version": TOOL_VERSION}]
            },
            "component": {"type": "application", "bom-ref": ROOT_REF, "name": subject_name(inv)}
        },
        "components": out_components,
        "dependencies": dependencies,
    })
}
