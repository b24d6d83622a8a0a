//! SPDX 2.3 JSON.
//!
//! The document DESCRIBES one root package standing for the scanned directories, which CONTAINS
//! every package found; DEPENDS_ON relationships carry the dependency graph where lockfiles
//! record it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{DocMeta, TOOL_NAME, TOOL_VERSION, components, hash_name, plain_url, subject_name};
use crate::package::{Inventory, Source};

const ROOT_ID: &str = "SPDXRef-Root";

/// Characters SPDX identifiers allow: letters, digits, `.` and `-`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

pub(crate) fn render(inv: &Inventory, meta: DocMeta) -> Value {
    let comps = components(inv);
    let mut used = BTreeSet::new();
    let mut spdx_ids = BTreeMap::new();
    for c in &comps {
        let base = format!(
            "SPDXRef-Package-{}-{}-{}",
            c.ecosystem.purl_type(),
            sanitize(&c.name),
            sanitize(&c.version)
        );
        let mut id = base.clone();
        let mut n = 2;
        while !used.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        spdx_ids.insert(c.id.as_str(), id);
    }

    let mut packages = vec![json!({
        "SPDXID": ROOT_ID,
        "name": subject_name(inv),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "SOURCE",
        "comment": "The scanned directories; it contains the packages found in their lockfiles.",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": ROOT_ID,
    })];
    let mut depends = Vec::new();
    for c in &comps {
        let id = &spdx_ids[c.id.as_str()];
        let download = match &c.source {
            Source::Git { url, rev } => plain_url(url).map(|u| match rev {
                Some(rev) => format!("git+{u}@{rev}"),
                None => format!("git+{u}"),
            }),
            Source::Url(url) => plain_url(url).map(str::to_owned),
            _ => None,
        };
        let mut obj = serde_json::Map::new();
        obj.insert("SPDXID".into(), json!(id));
        obj.insert("name".into(), json!(c.name));
        if !c.version.is_empty() {
            obj.insert("versionInfo".into(), json!(c.version));
        }
        obj.insert(
            "downloadLocation".into(),
            json!(download.as_deref().unwrap_or("NOASSERTION")),
        );
        obj.insert("filesAnalyzed".into(), json!(false));
        obj.insert("primaryPackagePurpose".into(), json!("LIBRARY"));
        if !c.checksums.is_empty() {
            let sums: Vec<Value> = c
                .checksums
                .iter()
                .map(|h| json!({"algorithm": hash_name(h.alg, true), "checksumValue": h.hex}))
                .collect();
            obj.insert("checksums".into(), json!(sums));
        }
        obj.insert(
            "externalRefs".into(),
            json!([{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": c.id,
            }]),
        );
        let lockfiles: Vec<String> = c
            .lockfiles
            .iter()
            .map(|l| l.display().to_string())
            .collect();
        obj.insert(
            "sourceInfo".into(),
            json!(format!(
                "{} package from {}",
                c.source.kind(),
                lockfiles.join(", ")
            )),
        );
        packages.push(Value::Object(obj));
        relationships.push(json!({
            "spdxElementId": ROOT_ID,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
        for dep in c.dependencies.iter().flatten() {
            depends.push(json!({
                "spdxElementId": id,
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": spdx_ids[dep.as_str()],
            }));
        }
    }
    relationships.extend(depends);
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject_name(inv),
        "documentNamespace": format!("https://ironpost.invalid/spdxdocs/{}", meta.serial),
        "creationInfo": {
            "created": meta.timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "creators": [format!("Tool: {TOOL_NAME}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
