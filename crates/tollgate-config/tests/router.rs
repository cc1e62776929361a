//! Router: precedence, greedy, root, stage-only, ANY, misses, many routes; method ARNs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use tollgate_config::{ApiRouter, Compiled, Method, Router, load_str, method_arn, parse_template};

fn config(routes: &[(&str, &str)]) -> Compiled {
    let mut s = String::from(
        "gateway: {region: us-east-1, account_id: \"123456789012\"}
apis:
  - id: main
    hosts: [\"api.example.com\"]
    stages: {prod: {}, beta: {}}
    routes:
",
    );
    for (path, methods) in routes {
        s.push_str(&format!("      - {{path: \"{path}\", methods: [{methods}], authorization: NONE, integration: {{type: mock}}}}\n"));
    }
    s.push_str(
        "  - id: other
    hosts: [\"*\"]
    stages: {v1: {}}
    routes:
      - {path: \"/{proxy+}\", methods: [ANY], authorization: NONE, integration: {type: mock}}
",
    );
    load_str(&s, Path::new(".")).unwrap()
}

type Hit = (usize, String, Vec<(String, String)>);

fn hit(c: &Compiled, host: &str, method: &str, path: &str) -> Option<Hit> {
    let m = c
        .router
        .lookup(host.as_bytes(), method.as_bytes(), path.as_bytes())?;
    let params = m
        .params
        .iter()
        .map(|(n, r)| {
            (
                (*n).to_owned(),
                String::from_utf8(path.as_bytes()[r.clone()].to_vec()).unwrap(),
            )
        })
        .collect();
    Some((m.route, m.template.to_owned(), params))
}

#[test]
fn precedence_exact_param_greedy_with_backtracking() {
    let c = config(&[
        ("/pets/{petId}", "GET"),      // 0
        ("/pets/mine", "GET"),         // 1
        ("/pets/{petId}/toys", "GET"), // 2
        ("/{proxy+}", "ANY"),          // 3
        ("/pets/mine/{x+}", "POST"),   // 4
        ("/a/b/c", "GET"),             // 5
        ("/a/{p}/d", "GET"),           // 6
    ]);
    let h = "api.example.com";
    assert_eq!(hit(&c, h, "GET", "/prod/pets/mine").unwrap().0, 1);
    let (r, t, p) = hit(&c, h, "GET", "/prod/pets/42").unwrap();
    assert_eq!((r, t.as_str()), (0, "/pets/{petId}"));
    assert_eq!(p, vec![("petId".to_owned(), "42".to_owned())]);
    // "mine" is exact at depth 2 but /pets/mine/toys only exists through the param branch.
    let (r, _, p) = hit(&c, h, "GET", "/prod/pets/mine/toys").unwrap();
    assert_eq!(r, 2);
    assert_eq!(p, vec![("petId".to_owned(), "mine".to_owned())]);
    // exact branch /a/b has no /d: backtrack to /a/{p}/d
    assert_eq!(hit(&c, h, "GET", "/prod/a/b/d").unwrap().0, 6);
    assert_eq!(hit(&c, h, "GET", "/prod/a/b/c").unwrap().0, 5);
    // method mismatch on a specific route falls back to the greedy ANY route
    let (r, _, p) = hit(&c, h, "DELETE", "/prod/pets/42").unwrap();
    assert_eq!(r, 3);
    assert_eq!(p, vec![("proxy".to_owned(), "pets/42".to_owned())]);
    let (r, _, p) = hit(&c, h, "POST", "/prod/pets/mine/a/b%2Fc").unwrap();
    assert_eq!(r, 4);
    assert_eq!(p, vec![("x".to_owned(), "a/b%2Fc".to_owned())]);
}

#[test]
fn greedy_needs_a_segment_and_root_is_its_own_route() {
    let c = config(&[("/{proxy+}", "GET")]);
    let h = "api.example.com";
    assert!(hit(&c, h, "GET", "/prod").is_none());
    assert!(hit(&c, h, "GET", "/prod/").is_none());
    assert_eq!(
        hit(&c, h, "GET", "/prod/x").unwrap().2,
        vec![("proxy".to_owned(), "x".to_owned())]
    );
    let c = config(&[("/", "GET"), ("/{proxy+}", "GET")]);
    for p in ["/prod", "/prod/"] {
        let m = c.router.lookup(h.as_bytes(), b"GET", p.as_bytes()).unwrap();
        assert_eq!((m.route, m.template), (0, "/"));
        assert_eq!(m.resource_path(p.as_bytes()), b"/");
        assert_eq!(m.stage, "prod");
    }
    let path = b"/beta/x/y";
    let m = c.router.lookup(h.as_bytes(), b"GET", path).unwrap();
    assert_eq!((m.route, m.stage, m.stage_index), (1, "beta", 0));
    assert_eq!(m.resource_path(path), b"/x/y");
}

#[test]
fn any_is_a_fallback_and_misses_are_none() {
    let c = config(&[("/items", "ANY"), ("/items", "GET"), ("/only-get", "GET")]);
    let h = "api.example.com";
    assert_eq!(hit(&c, h, "GET", "/prod/items").unwrap().0, 1);
    assert_eq!(hit(&c, h, "PATCH", "/prod/items").unwrap().0, 0);
    assert_eq!(hit(&c, h, "OPTIONS", "/prod/items/").unwrap().0, 0);
    assert!(
        hit(&c, h, "POST", "/prod/only-get").is_none(),
        "unknown method"
    );
    assert!(
        hit(&c, h, "ANY", "/prod/items").is_none(),
        "ANY is not a request method"
    );
    assert!(
        hit(&c, h, "get", "/prod/items").is_none(),
        "methods are case-sensitive"
    );
    assert!(
        hit(&c, h, "GET", "/staging/items").is_none(),
        "unknown stage"
    );
    assert!(
        hit(&c, h, "GET", "/PROD/items").is_none(),
        "stages are case-sensitive"
    );
    assert!(hit(&c, h, "GET", "/prod/nothing").is_none(), "unknown path");
    assert!(
        hit(&c, h, "GET", "/prod/Items").is_none(),
        "paths are case-sensitive"
    );
    assert!(hit(&c, h, "GET", "/prod//items").is_none(), "empty segment");
    assert!(hit(&c, h, "GET", "").is_none());
    assert!(hit(&c, h, "GET", "prod/items").is_none());
}

#[test]
fn host_selection() {
    let c = config(&[("/x", "GET")]);
    // exact host, case-insensitive
    let m = c
        .router
        .lookup(b"API.Example.COM", b"GET", b"/prod/x")
        .unwrap();
    assert_eq!(m.api, 0);
    // other hosts go to the "*" API, which has no "prod" stage
    assert!(
        c.router
            .lookup(b"other.example.com", b"GET", b"/prod/x")
            .is_none()
    );
    assert_eq!(
        c.router
            .lookup(b"other.example.com", b"GET", b"/v1/x")
            .unwrap()
            .api,
        1
    );
    // without a "*" API an unknown host misses
    let mut r = Router::new();
    let mut a = ApiRouter::new(vec!["s".to_owned()]);
    a.insert(0, "/", &parse_template("/").unwrap(), &[Method::Get])
        .unwrap();
    r.add_api(&["h".to_owned()], a);
    assert!(r.lookup(b"h", b"GET", b"/s").is_some());
    assert!(r.lookup(b"H", b"GET", b"/s").is_some());
    assert!(r.lookup(b"g", b"GET", b"/s").is_none());
}

#[test]
fn many_routes_each_resolve_to_themselves() {
    let n = 10_000;
    let mut a = ApiRouter::new(vec!["prod".to_owned()]);
    let mut templates = Vec::new();
    for i in 0..n {
        let t = match i % 4 {
            0 => format!("/r{i}"),
            1 => format!("/g{}/r{i}/{{id}}", i % 50),
            2 => format!("/g{}/{{gid}}/r{i}", i % 50),
            _ => format!("/deep/{}/r{i}/{{rest+}}", i % 7),
        };
        a.insert(i, &t, &parse_template(&t).unwrap(), &[Method::Get])
            .unwrap();
        templates.push(t);
    }
    let mut r = Router::new();
    r.add_api(&["*".to_owned()], a);
    for (i, t) in templates.iter().enumerate() {
        let concrete = t
            .replace("{id}", "v1")
            .replace("{gid}", "v2")
            .replace("{rest+}", "x/y");
        let path = format!("/prod{concrete}");
        let m = r
            .lookup(b"h", b"GET", path.as_bytes())
            .unwrap_or_else(|| panic!("{path} missed"));
        assert_eq!(m.route, i, "{path}");
        assert_eq!(m.template, t);
        assert!(r.lookup(b"h", b"PUT", path.as_bytes()).is_none());
    }
}

#[test]
fn method_arns() {
    assert_eq!(
        method_arn(
            "us-east-1",
            "123456789012",
            "a1b2c3d4e5",
            "prod",
            "GET",
            "/pets/a1b2"
        ),
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/pets/a1b2"
    );
    assert_eq!(
        method_arn("eu-west-1", "111122223333", "x", "v1", "POST", "/"),
        "arn:aws:execute-api:eu-west-1:111122223333:x/v1/POST/"
    );
    assert_eq!(
        method_arn("r", "a", "i", "s", "DELETE", "/a/b/"),
        "arn:aws:execute-api:r:a:i/s/DELETE/a/b/"
    );
}
