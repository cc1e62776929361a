//! The routed request, detached from the connection buffer so the buffer can move on.

use tollgate_config::RouteMatch;

/// A route match detached from the connection buffer: what it took from the request's path
/// is owned (path parameters still percent-encoded, as on the wire), what it took from the
/// routing table borrows from the snapshot the request is served under.
#[derive(Debug, Clone)]
pub struct OwnedMatch<'s> {
    pub api: usize,
    pub route: usize,
    pub stage: &'s str,
    pub template: &'s str,
    /// The actual resource path after the stage, `/` for the root.
    pub resource_path: String,
    pub params: Vec<(&'s str, String)>,
}

pub(crate) fn own<'s>(m: &RouteMatch<'s>, path: &[u8]) -> OwnedMatch<'s> {
    OwnedMatch {
        api: m.api,
        route: m.route,
        stage: m.stage,
        template: m.template,
        resource_path: String::from_utf8_lossy(m.resource_path(path)).into_owned(),
        params: m
            .params
            .iter()
            .map(|(n, r)| {
                (
                    *n,
                    String::from_utf8_lossy(path.get(r.clone()).unwrap_or_default()).into_owned(),
                )
            })
            .collect(),
    }
}
