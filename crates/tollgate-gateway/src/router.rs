//! The routed request, detached from the connection buffer so the buffer can move on.

use tollgate_config::RouteMatch;

/// A route match with owned strings (path parameters still percent-encoded, as on the wire).
#[derive(Debug, Clone)]
pub struct OwnedMatch {
    pub api: usize,
    pub route: usize,
    pub stage: String,
    pub template: String,
    /// The actual resource path after the stage, `/` for the root.
    pub resource_path: String,
    pub params: Vec<(String, String)>,
}

pub(crate) fn own(m: &RouteMatch<'_>, path: &[u8]) -> OwnedMatch {
    OwnedMatch {
        api: m.api,
        route: m.route,
        stage: m.stage.to_owned(),
        template: m.template.to_owned(),
        resource_path: String::from_utf8_lossy(m.resource_path(path)).into_owned(),
        params: m
            .params
            .iter()
            .map(|(n, r)| {
                (
                    (*n).to_owned(),
                    String::from_utf8_lossy(path.get(r.clone()).unwrap_or_default()).into_owned(),
                )
            })
            .collect(),
    }
}
