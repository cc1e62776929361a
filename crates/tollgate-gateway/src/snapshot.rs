//! The gateway's view of one configuration: the compiled config plus everything the data
//! path needs precomputed (integration templates, gateway-response tables, metric labels).
//! A `Snapshot` is immutable; the control side publishes a new one through `ArcSwap`.

use std::time::{Duration, SystemTime};

use tollgate_config::{Authorization, Compiled, Integration};

use crate::auth::RouteAuthorizer;
use crate::metrics::RouteLabel;
use crate::response::{Response, ResponseHead};
use crate::responses::{GatewayResponses, Override, Template};

/// Where a published configuration came from (`GET /config` answers `source`, and `revision`
/// for etcd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// The `--config` file (at start, reload, SIGHUP, `--watch`).
    #[default]
    File,
    /// The built-in quickstart configuration.
    Builtin,
    /// A body sent to `PUT /config`.
    Admin,
    /// The value of the etcd key at this modification revision.
    Etcd { revision: i64 },
}

impl Origin {
    /// The `source` of `GET /config`.
    pub fn name(self) -> &'static str {
        match self {
            Origin::File => "file",
            Origin::Builtin => "builtin",
            Origin::Admin => "admin",
            Origin::Etcd { .. } => "etcd",
        }
    }
}

/// One published configuration.
pub struct Snapshot {
    pub version: u64,
    /// Where this configuration came from.
    pub origin: Origin,
    pub loaded_at: SystemTime,
    pub compiled: Compiled,
    pub apis: Vec<ApiRt>,
    pub limits: tollgate_http::RequestLimits,
    pub max_body_bytes: u64,
    /// `gateway.limits.max_buffered_body_bytes_per_worker` (or its default).
    pub body_budget: u64,
    pub header_timeout: Duration,
    /// `gateway.limits.body_timeout_ms`: a request body streamed upstream arrives within it.
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub(crate) lambda: crate::auth::lambda::Compiled,
    pub(crate) cognito: crate::auth::cognito::Compiled,
    pub(crate) iam: crate::auth::iam::Compiled,
}

pub struct ApiRt {
    pub responses: GatewayResponses,
    /// The API's resource policy compiled into a decision tree.
    pub resource_policy: Option<tollgate_policy::CompiledPolicy>,
    pub routes: Vec<RouteRt>,
}

pub struct RouteRt {
    pub label: RouteLabel,
    pub authorization: Authorization,
    pub integration: IntegrationRt,
}

pub enum IntegrationRt {
    Mock(MockRt),
    Proxy(ProxyRt),
}

pub struct MockRt {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl MockRt {
    /// No configured `Content-Type` and a body: answered `application/json`.
    pub(crate) fn needs_content_type(&self) -> bool {
        !self.body.is_empty()
            && !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    }

    /// The mock answer, protocol-neutral (borrowing the snapshot's headers and body). The
    /// HTTP/1 caller takes a fast path writing the same bytes (`pipeline/integrate.rs`); this
    /// is the form a caller of another protocol uses (HTTP/2).
    pub(crate) fn response<'a>(&'a self, request_id: &'a str) -> Response<'a> {
        let mut head = ResponseHead::new(self.status);
        for (k, v) in &self.headers {
            head.push(k.as_bytes(), v.as_bytes());
        }
        if self.needs_content_type() {
            head.push(b"content-type", b"application/json");
        }
        head.mark_framing();
        head.push(b"x-amzn-RequestId", request_id.as_bytes());
        Response {
            head,
            body: std::borrow::Cow::Borrowed(&self.body),
        }
    }
}

pub struct ProxyRt {
    pub uri: tollgate_config::UriTemplate,
    pub timeout: Duration,
    /// Upstream header name (lowercase) <- context expression.
    pub request_headers: Vec<(String, tollgate_config::ContextExpr)>,
    /// Client headers never forwarded (lowercase).
    pub drop_headers: Vec<String>,
}

impl Snapshot {
    /// The compiled authorizer of route `route` of API `api` for its authorization type.
    pub(crate) fn route_authorizer(
        &self,
        api: usize,
        route: usize,
        authorization: Authorization,
    ) -> RouteAuthorizer<'_> {
        let index = self.compiled.route(api, route).and_then(|r| r.authorizer);
        match authorization {
            Authorization::None => RouteAuthorizer::None,
            Authorization::AwsIam => RouteAuthorizer::Iam(&self.iam),
            Authorization::CognitoUserPools => {
                let scopes = self
                    .compiled
                    .config
                    .apis
                    .get(api)
                    .and_then(|x| x.routes.get(route))
                    .map_or(&[][..], |r| r.scopes.as_slice());
                RouteAuthorizer::Cognito(index.and_then(|i| self.cognito.authorizer(i)), scopes)
            }
            Authorization::Custom => RouteAuthorizer::Lambda(index.and_then(|i| {
                Some((
                    self.lambda.authorizer(i)?,
                    self.compiled.authorizers.get(i)?,
                ))
            })),
        }
    }

    pub fn build(compiled: Compiled, version: u64) -> Self {
        let cfg = &compiled.config;
        let apis = cfg
            .apis
            .iter()
            .enumerate()
            .map(|(api_index, api)| {
                let resource_policy = compiled
                    .policies
                    .resource
                    .get(api_index)
                    .and_then(Option::as_ref)
                    .map(|p| {
                        tollgate_policy::CompiledPolicy::new(
                            tollgate_policy::PolicyKind::Resource,
                            std::slice::from_ref(p),
                        )
                    });
                let mut responses = GatewayResponses::default();
                for (t, o) in &api.gateway_responses {
                    {
                        let rt = *t;
                        responses.insert(
                            rt,
                            Override {
                                status: o.status,
                                headers: o
                                    .headers
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect(),
                                body: o.body.as_deref().map(Template::compile),
                            },
                        );
                    }
                }
                let api_label = if api.name.is_empty() {
                    api.id.clone()
                } else {
                    api.name.clone()
                };
                let routes = api
                    .routes
                    .iter()
                    .enumerate()
                    .map(|(route_index, r)| {
                        let methods: Vec<&str> = r.methods.iter().map(|m| m.as_str()).collect();
                        let label = RouteLabel::new(
                            &api_label,
                            &format!("{} {}", methods.join(","), r.path),
                        );
                        let integration = match &r.integration {
                            Integration::Mock(m) => IntegrationRt::Mock(MockRt {
                                status: m.status,
                                headers: m
                                    .headers
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect(),
                                body: m.body.as_bytes().to_vec(),
                            }),
                            Integration::HttpProxy(p) => {
                                let cr = compiled.route(api_index, route_index);
                                IntegrationRt::Proxy(ProxyRt {
                                    uri: cr.and_then(|c| c.uri.clone()).unwrap_or(
                                        tollgate_config::UriTemplate { parts: Vec::new() },
                                    ),
                                    timeout: Duration::from_millis(p.timeout_ms),
                                    request_headers: cr
                                        .map(|c| c.request_headers.clone())
                                        .unwrap_or_default(),
                                    drop_headers: p
                                        .drop_request_headers
                                        .iter()
                                        .map(|h| h.to_ascii_lowercase())
                                        .collect(),
                                })
                            }
                        };
                        RouteRt {
                            label,
                            authorization: r.authorization,
                            integration,
                        }
                    })
                    .collect();
                ApiRt {
                    responses,
                    resource_policy,
                    routes,
                }
            })
            .collect();
        let l = &cfg.gateway.limits;
        Snapshot {
            version,
            origin: Origin::default(),
            loaded_at: SystemTime::now(),
            limits: tollgate_http::RequestLimits {
                max_header_bytes: l.max_header_bytes,
                max_headers: 100,
            },
            max_body_bytes: l.max_body_bytes,
            body_budget: l.buffered_body_budget(),
            header_timeout: Duration::from_millis(l.header_timeout_ms),
            body_timeout: Duration::from_millis(l.body_timeout_ms),
            idle_timeout: Duration::from_millis(l.idle_timeout_ms),
            connect_timeout: Duration::from_millis(cfg.gateway.upstream.connect_timeout_ms),
            apis,
            lambda: crate::auth::lambda::Compiled::build(&compiled, version),
            cognito: crate::auth::cognito::Compiled::build(&compiled),
            iam: crate::auth::iam::Compiled::build(&compiled),
            compiled,
        }
    }
}
