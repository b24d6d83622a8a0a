//! What the Sigma rule tests share: a record from fields, and the rules a record matches through
//! the prefilter, checked against exhaustive evaluation.

use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::rules::RuleSet;

/// A record of `process` with `message` and the `extra` fields.
pub(crate) fn rec(process: &str, message: &str, extra: &[(&str, &str)]) -> MapFields {
    let mut fields = vec![("process".to_owned(), process.to_owned())];
    fields.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    MapFields {
        message: message.to_owned(),
        timestamp_micros: None,
        fields,
    }
}

/// Titles of the rules `r` matches; the prefiltered and the exhaustive evaluation must agree.
pub(crate) fn matched(set: &RuleSet, r: &MapFields) -> Vec<String> {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    set.matches(r, &mut fast);
    set.matches_exhaustive(r, &mut slow);
    let ids: Vec<String> = fast.iter().map(|r| r.title.clone()).collect();
    let slow_ids: Vec<String> = slow.iter().map(|r| r.title.clone()).collect();
    assert_eq!(ids, slow_ids, "prefilter disagrees on {:?}", r.message);
    ids
}
