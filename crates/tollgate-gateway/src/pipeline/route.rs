//! Phase 1, route: host, method and path -> the route context (API, stage, route, its
//! authorization and resource policy), or the error an unrouted request is answered with.

use tollgate_http::RequestHead;

use crate::accesslog::Routed;
use crate::body::BodyReader;
use crate::error::GatewayError;
use crate::router::OwnedMatch;
use crate::snapshot::{ApiRt, RouteRt, Snapshot};

use super::Stop;

/// Where a routed request goes: everything the later phases and `finish` need of its route.
pub(crate) struct RouteCtx<'s> {
    /// The snapshot the request is served under.
    pub snapshot: &'s Snapshot,
    pub m: OwnedMatch<'s>,
    pub api: &'s ApiRt,
    pub api_cfg: &'s tollgate_config::Api,
    pub route: &'s RouteRt,
}

impl RouteCtx<'_> {
    /// The route as the logs, the metrics and the access log name it.
    pub(crate) fn routed(&self) -> Routed<'_> {
        Routed {
            api_id: &self.api_cfg.id,
            stage: self.m.stage,
            label: &self.route.label,
            resource_path: self.m.template,
        }
    }

    /// The stage's variables.
    pub(crate) fn stage_vars(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        self.api_cfg.stages.get(self.m.stage).map(|s| &s.variables)
    }
}

/// What routing found.
pub(crate) enum Routing<'s> {
    /// The route, and the body reader (or the error a declared body too large for
    /// `max_body_bytes` is answered with).
    Routed(RouteCtx<'s>, Result<BodyReader, GatewayError>),
    /// No route: the API the host names, if any (for its gateway responses), and why.
    Unrouted(Option<usize>, Stop),
}

/// Route the request.
pub(crate) fn route<'s>(snap: &'s Snapshot, buf: &[u8], head: &RequestHead) -> Routing<'s> {
    let method = head.method.slice(buf);
    let path = head.path.slice(buf);
    let host = head
        .host
        .map(|h| crate::wire::strip_port(h.slice(buf)))
        .unwrap_or_default();
    let found = snap
        .compiled
        .router
        .lookup(host, method, path)
        .map(|m| crate::router::own(&m, path));
    let body = BodyReader::new(head.framing, snap.max_body_bytes).map_err(|_| {
        GatewayError::too_large()
            .with_reason("declared body larger than gateway.limits.max_body_bytes")
    });
    let Some(m) = found else {
        return match body {
            Ok(b) => Routing::Unrouted(
                snap.compiled.router.api_for_host(host),
                Stop {
                    err: GatewayError::missing_token().with_reason("no route matches"),
                    body: Some(b),
                    keep: true,
                },
            ),
            Err(err) => Routing::Unrouted(None, Stop::closing(err)),
        };
    };
    let api = snap.apis.get(m.api);
    let api_cfg = snap.compiled.config.apis.get(m.api);
    let route = api.and_then(|a| a.routes.get(m.route));
    let route_cfg = api_cfg.and_then(|a| a.routes.get(m.route));
    let (Some(api), Some(api_cfg), Some(route), Some(_)) = (api, api_cfg, route, route_cfg) else {
        // A match the snapshot does not hold cannot happen; answer it as unrouted.
        let err = GatewayError::missing_token().with_reason("route not in the snapshot");
        return Routing::Unrouted(None, Stop::closing(err));
    };
    let rc = RouteCtx {
        snapshot: snap,
        m,
        api,
        api_cfg,
        route,
    };
    Routing::Routed(rc, body)
}
