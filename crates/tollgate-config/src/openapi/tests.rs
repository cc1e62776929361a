//! Every document of testdata/openapi: imports as AWS's own import did (routes, methods,
//! authorization), or is refused naming the method, path and pointer. Plus the load-time hook
//! (`apis[].openapi_file`) with `functions` / `user_pools`.

use std::path::{Path, PathBuf};

use super::*;
use crate::schema::{Authorization, Authorizer, Integration, Method, ResponseType};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/openapi")
}

fn read(rel: &str) -> String {
    let p = dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn placeholders() -> Options<'static> {
    Options {
        placeholders: true,
        ..Options::default()
    }
}

fn ok(rel: &str) -> Imported {
    import(&read(rel), &placeholders()).unwrap_or_else(|e| {
        panic!(
            "{rel}: {}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn refused(rel: &str) -> Vec<String> {
    match import(&read(rel), &placeholders()) {
        Ok(i) => panic!("{rel} imported: {:?}", i.labels),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn has(errors: &[String], needles: &[&str]) {
    assert!(
        errors.iter().any(|e| needles.iter().all(|n| e.contains(n))),
        "no error with {needles:?} in:\n{}",
        errors.join("\n")
    );
}

/// `(label, authorization)` of every route.
fn shape(i: &Imported) -> Vec<(String, Authorization)> {
    i.labels
        .iter()
        .cloned()
        .zip(i.routes.iter().map(|r| r.authorization))
        .collect()
}

const GATEWAY: &str = "gateway: {region: us-east-1, account_id: \"123456789012\"}\n";

fn load(config: &str) -> Result<crate::Compiled, Vec<String>> {
    crate::load_str(&format!("{GATEWAY}{config}"), &dir()).map_err(|e| e.messages())
}

// ------------------------------------------------------------ documents that import

#[test]
fn localstack_swagger_request_authorizer_on_query_base_path_ignored() {
    let i = ok("localstack/swagger.json");
    assert_eq!(
        shape(&i),
        [
            ("GET /test".to_owned(), Authorization::Custom),
            ("OPTIONS /test".to_owned(), Authorization::Custom)
        ]
    );
    let Some(Authorizer::Request(a)) = i.authorizers.first() else {
        panic!("{:?}", i.authorizers)
    };
    assert_eq!(
        a.identity_source.as_deref(),
        Some("method.request.querystring.auth")
    );
    assert!(a.function_url.starts_with(PLACEHOLDER));
    assert_eq!(i.routes[0].authorizer.as_deref(), Some(a.name.as_str()));
    let Integration::Mock(m) = &i.routes[1].integration else {
        panic!()
    };
    assert_eq!(m.status, 200);
    assert_eq!(m.headers["Access-Control-Allow-Methods"], "GET,OPTIONS");
    // Served from the config: the function is mapped by name; the route is /test, not /base/test.
    let c = load(
        "functions: [{name: myapi-authorizer-0-22ad13b, url: \"http://127.0.0.1:9/fn\"}]\n\
         apis: [{id: a1, stages: {prod: {}}, openapi_file: localstack/swagger.json}]\n",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.router.lookup(b"x", b"GET", b"/prod/test").is_some());
    assert!(c.router.lookup(b"x", b"GET", b"/prod/base/test").is_none());
    let Some(Authorizer::Request(a)) = c.config.authorizers.first() else {
        panic!()
    };
    assert_eq!(a.name, "a1-myapi-authorizer-0");
    assert_eq!(a.function_url, "http://127.0.0.1:9/fn");
    // The warning names its pointer.
    assert!(
        c.warnings
            .iter()
            .any(|w| w.message.contains("/authorizerCredentials")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn unmapped_function_is_an_error_naming_the_arn_and_where() {
    let e = load("apis: [{id: a1, stages: {prod: {}}, openapi_file: localstack/swagger.json}]\n")
        .err()
        .unwrap_or_default();
    has(
        &e,
        &[
            "apis[0].openapi_file",
            "arn:aws:lambda:us-east-1:000000000000:function:myapi-authorizer-0-22ad13b",
            "#/securityDefinitions/myapi-authorizer-0/x-amazon-apigateway-authorizer/authorizerUri",
            "functions",
        ],
    );
}

#[test]
fn localstack_pets_http_with_renamed_path_parameter() {
    let i = ok("localstack/pets.json");
    assert_eq!(
        shape(&i),
        [
            ("GET /pets".to_owned(), Authorization::None),
            ("GET /pets/{petId}".to_owned(), Authorization::None)
        ]
    );
    let Integration::HttpProxy(h) = &i.routes[1].integration else {
        panic!()
    };
    assert_eq!(
        h.uri,
        "http://petstore-demo-endpoint.execute-api.com/petstore/pets/{petId}"
    );
    assert!(
        i.warnings
            .iter()
            .any(|w| w.pointer == "/x-amazon-apigateway-binary-media-types")
    );
    load("apis: [{id: a1, stages: {prod: {}}, openapi_file: localstack/pets.json}]\n")
        .unwrap_or_else(|e| panic!("{e:?}"));
}

#[test]
fn localstack_stage_variables_must_exist_in_every_stage() {
    let i = ok("localstack/openapi.spec.stage-variables.json");
    assert_eq!(shape(&i), [("GET /path1".to_owned(), Authorization::None)]);
    let Integration::HttpProxy(h) = &i.routes[0].integration else {
        panic!()
    };
    assert_eq!(
        h.uri,
        "https://${stageVariables.TestHost}/${stageVariables.testPath}?${stageVariables.querystring}"
    );
    let vars: Vec<&str> = i.stage_variables.iter().map(String::as_str).collect();
    assert_eq!(vars, ["TestHost", "querystring", "testPath"]);
    let e = load(
        "apis: [{id: a1, stages: {prod: {}}, openapi_file: localstack/openapi.spec.stage-variables.json}]\n",
    )
    .err()
    .unwrap_or_default();
    has(
        &e,
        &[
            "apis[0].openapi_file (GET /path1)",
            "stage variable \"TestHost\" is not defined in stage \"prod\"",
        ],
    );
}

#[test]
fn localstack_yaml_mock_with_integer_status() {
    let i = ok("localstack/openapi-method-int.spec.yaml");
    assert_eq!(shape(&i), [("GET /test".to_owned(), Authorization::None)]);
    let Integration::Mock(m) = &i.routes[0].integration else {
        panic!()
    };
    assert_eq!(m.status, 200);
    assert_eq!(m.headers["Access-Control-Allow-Origin"], "*");
}

#[test]
fn localstack_server_variable_base_path_is_ignored() {
    let i = ok("localstack/openapi-basepath-server-variable.yaml");
    assert_eq!(
        shape(&i),
        [
            ("GET /test".to_owned(), Authorization::None),
            ("OPTIONS /test".to_owned(), Authorization::None)
        ]
    );
}

#[test]
fn localstack_any_method_mock() {
    let i = ok("localstack/openapi-mock.json");
    assert_eq!(
        shape(&i),
        [("ANY /echo/{data}".to_owned(), Authorization::None)]
    );
    assert_eq!(i.routes[0].methods, [Method::Any]);
}

#[test]
fn devguide_greedy_http_proxy() {
    let i = ok("apigw-devguide/setup-http-integrations__02.swagger.json");
    assert_eq!(
        shape(&i),
        [("ANY /{proxy+}".to_owned(), Authorization::None)]
    );
    let Integration::HttpProxy(h) = &i.routes[0].integration else {
        panic!()
    };
    assert_eq!(
        h.uri,
        "http://petstore-demo-endpoint.execute-api.com/petstore/{proxy}"
    );
    let c = load(
        "apis: [{id: a1, stages: {test: {}}, openapi_file: apigw-devguide/setup-http-integrations__02.swagger.json}]\n",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.router.lookup(b"x", b"DELETE", b"/test/a/b/c").is_some());
}

// ------------------------------------------------------------ documents AWS-faithfully refused

#[test]
fn refused_lambda_and_aws_integrations_name_method_path_and_type() {
    has(
        &refused("localstack/openapi.spec.pulumi.json"),
        &["GET /just_do_it", "aws_proxy", "#/paths/~1just_do_it/get/"],
    );
    has(
        &refused("localstack/swagger-mock-cors.json"),
        &["GET /product/{product_id}", "aws_proxy"],
    );
    has(
        &refused("smithy/cors-model.openapi.json"),
        &["PUT /payload/{id}", "aws_proxy"],
    );
    let e = refused("smithy/cors-with-custom-gateway-response-headers.openapi.json");
    has(&e, &["PUT /foo", "aws_proxy"]);
    has(&e, &["OPTIONS /foo", "integration type aws "]);
    has(
        &refused("apigw-devguide/set-up-lambda-proxy-integrations__01.openapi.json"),
        &["ANY /{proxy+}", "aws_proxy"],
    );
    has(
        &refused("apigw-devguide/api-as-s3-proxy-export-swagger-with-extensions__01.swagger.json"),
        &["HEAD /{folder}/{item}", "integration type aws "],
    );
    has(
        &refused("aws-apigateway-importer/apigateway.json"),
        &["GET /products", "integration type aws "],
    );
    has(
        &refused("api-gateway-secure-pet-store/swagger.yaml"),
        &["POST /login", "integration type aws "],
    );
    has(
        &refused("serverless-samples/apigw-lambda-powertools-openapi-cdk__openapi.json"),
        &["POST /order", "AWS_PROXY"],
    );
}

#[test]
fn refused_methods_without_integration() {
    has(
        &refused("smithy/cognito-user-pools-security.openapi.json"),
        &[
            "GET /",
            "no x-amazon-apigateway-integration",
            "#/paths/~1/get",
        ],
    );
    let e = refused("apigw-devguide/api-gateway-swagger-extensions-authtype__01.openapi.json");
    has(
        &e,
        &["GET /operation1", "no x-amazon-apigateway-integration"],
    );
    has(
        &e,
        &["GET /operation2", "no x-amazon-apigateway-integration"],
    );
}

#[test]
fn cloudformation_intrinsics_are_refused_with_their_pointer() {
    let e = refused("serverless-samples/fargate-rest-api__swagger.yaml");
    has(
        &e,
        &[
            "#/securityDefinitions/LambdaAuthorizer/x-amazon-apigateway-authorizer/authorizerUri",
            "Fn::Sub",
        ],
    );
    has(
        &e,
        &[
            "#/paths/~1locations/get/x-amazon-apigateway-integration/uri",
            "GET /locations",
            "Fn::Join",
        ],
    );
}

// ------------------------------------------------------------ the developer guide's fragments

fn with_mock_route(fragment: &str) -> String {
    format!(
        r#"{{"swagger": "2.0", "info": {{"title": "t", "version": "1"}},
  "paths": {{"/x": {{"get": {{"x-amazon-apigateway-integration": {{"type": "mock",
     "requestTemplates": {{"application/json": "{{\"statusCode\": 200}}"}},
     "responses": {{"default": {{"statusCode": "200"}}}}}}}}}}}},
  {fragment}}}"#
    )
}

#[test]
fn devguide_policy_fragment_becomes_this_apis_resource_policy() {
    let frag = read("apigw-devguide/openapi-extensions-policy.fragment.txt");
    let doc = with_mock_route(frag.trim());
    let i = import(&doc, &Options::default()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(i.resource_policy.is_some());
    let tmp = std::env::temp_dir().join(format!(
        "tollgate-openapi-policy-{}.json",
        std::process::id()
    ));
    std::fs::write(&tmp, &doc).unwrap_or_else(|e| panic!("{e}"));
    let c = load(&format!(
        "apis: [{{id: a1, stages: {{prod: {{}}}}, openapi_file: {}}}]\n",
        tmp.display()
    ));
    let _ = std::fs::remove_file(&tmp);
    let c = c.unwrap_or_else(|e| panic!("{e:?}"));
    let pol = c.policies.resource.first().and_then(Option::as_ref);
    let text = format!("{pol:?}");
    assert!(
        text.contains("arn:aws:execute-api:us-east-1:123456789012:a1/"),
        "execute-api:/* is this API: {text}"
    );
}

#[test]
fn devguide_gateway_responses_fragment_status_as_string() {
    let frag =
        read("apigw-devguide/api-gateway-swagger-extensions-gateway-responses.fragment.json");
    let inner = frag
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or("");
    let i =
        import(&with_mock_route(inner), &Options::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let k = &i.gateway_responses[&ResponseType::InvalidApiKey];
    assert_eq!(k.status, Some(429));
    let d = &i.gateway_responses[&ResponseType::Default4xx];
    assert_eq!(d.headers["Access-Control-Allow-Origin"], "domain.com");
    assert_eq!(d.body.as_deref(), Some("{\"message\": test 4xx b }"));
}

// ------------------------------------------------------------ semantics on small documents

const COGNITO_DOC: &str = r##"
openapi: 3.0.1
info: {title: pets, version: "1"}
security: [{pool: []}]
components:
  securitySchemes:
    pool:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: cognito_user_pools
      x-amazon-apigateway-authorizer:
        type: cognito_user_pools
        providerARNs: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    sigv4:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: awsSigv4
  responses:
    loop: {$ref: "#/components/responses/loop2"}
    loop2: {$ref: "#/components/responses/loop"}
  x-mock: &mock
    type: mock
    requestTemplates: {application/json: '{"statusCode": 200}'}
    responses: {default: {statusCode: "200"}}
paths:
  /root-security:
    get: {x-amazon-apigateway-integration: *mock}
  /scoped:
    get:
      security: [{pool: ["pets/read"]}]
      x-amazon-apigateway-integration: *mock
  /open:
    get:
      security: []
      x-amazon-apigateway-integration: *mock
  /iam:
    get:
      security: [{sigv4: []}]
      x-amazon-apigateway-integration: *mock
  /shared:
    $ref: "#/x-items/shared"
x-items:
  shared:
    post: {x-amazon-apigateway-auth: {type: aws_iam}, x-amazon-apigateway-integration: *mock}
"##;

#[test]
fn security_root_operation_empty_scopes_legacy_and_refs() {
    let i = import(COGNITO_DOC, &placeholders()).unwrap_or_else(|e| panic!("{e:?}"));
    let mut s = shape(&i);
    s.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        s,
        [
            ("GET /iam".to_owned(), Authorization::AwsIam),
            ("GET /open".to_owned(), Authorization::None),
            (
                "GET /root-security".to_owned(),
                Authorization::CognitoUserPools
            ),
            ("GET /scoped".to_owned(), Authorization::CognitoUserPools),
            ("POST /shared".to_owned(), Authorization::AwsIam),
        ]
    );
    let scoped = i.routes.iter().find(|r| r.path == "/scoped");
    assert_eq!(
        scoped.map(|r| r.scopes.clone()),
        Some(vec!["pets/read".to_owned()])
    );
    let Some(Authorizer::CognitoUserPools(a)) = i.authorizers.first() else {
        panic!()
    };
    assert_eq!(a.identity_source, "method.request.header.Authorization");
    assert_eq!(a.ttl_seconds, 300);
    // Served: user pool mapped to a JWKS; unmapped -> error naming the ARN.
    let tmp = std::env::temp_dir().join(format!(
        "tollgate-openapi-cognito-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&tmp, COGNITO_DOC).unwrap_or_else(|e| panic!("{e}"));
    let api = format!(
        "apis: [{{id: a1, stages: {{prod: {{}}}}, openapi_file: {}}}]\n",
        tmp.display()
    );
    let bad = load(&api).err().unwrap_or_default();
    let good = load(&format!(
        "user_pools: [{{arn: \"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example\", jwks: {{url: \"http://127.0.0.1:9/jwks.json\"}}}}]\n{api}"
    ));
    let _ = std::fs::remove_file(&tmp);
    has(
        &bad,
        &[
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example",
            "user_pools",
            "pool",
        ],
    );
    let c = good.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(c.config.authorizers.len(), 1);
    // The unused `loop` reference cycle is never followed; the x-mock / x-items keys are not
    // API Gateway extensions.
}

#[test]
fn ref_cycles_are_bounded() {
    let doc = r##"{"openapi": "3.0.0", "info": {"title": "t", "version": "1"},
      "paths": {"/a": {"$ref": "#/x/a"}}, "x": {"a": {"$ref": "#/x/b"}, "b": {"$ref": "#/x/a"}}}"##;
    let e = import(doc, &Options::default()).err().unwrap_or_default();
    assert!(
        e.iter().any(|d| d.message.contains("chained $refs")),
        "{e:?}"
    );
}

#[test]
fn strict_turns_warnings_into_errors() {
    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let e = import(&read("localstack/pets.json"), &strict)
        .err()
        .unwrap_or_default();
    assert!(
        e.iter()
            .any(|d| d.pointer == "/x-amazon-apigateway-binary-media-types"),
        "{e:?}"
    );
}

#[test]
fn unknown_extension_is_a_warning_naming_its_pointer() {
    let doc = with_mock_route(r#""x-amazon-apigateway-shiny-new-thing": true"#);
    let i = import(&doc, &Options::default()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        i.warnings
            .iter()
            .any(|w| w.pointer == "/x-amazon-apigateway-shiny-new-thing"),
        "{:?}",
        i.warnings
    );
}

#[test]
fn openapi_file_and_routes_are_exclusive() {
    let e = load(
        "apis: [{id: a1, stages: {prod: {}}, openapi_file: localstack/pets.json, routes: []}]\n",
    )
    .err()
    .unwrap_or_default();
    has(&e, &["apis[0]", "mutually exclusive"]);
}

#[test]
fn missing_document_is_an_error() {
    let e = load("apis: [{id: a1, stages: {prod: {}}, openapi_file: nope.yaml}]\n")
        .err()
        .unwrap_or_default();
    has(&e, &["apis[0].openapi_file", "cannot read"]);
}

#[test]
fn hostile_documents_are_refused_not_crashed() {
    let deep = format!("{}x{}", "- ".repeat(200), "");
    assert!(import(&deep, &Options::default()).is_err());
    let deep_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert!(import(&deep_json, &Options::default()).is_err());
    assert!(import("just a string", &Options::default()).is_err());
    assert!(import("{\"swagger\": \"1.2\"}", &Options::default()).is_err());
    // Paths, operations and integrations of the wrong shape.
    for doc in [
        r#"{"swagger": "2.0", "paths": []}"#,
        r#"{"swagger": "2.0", "paths": {"/a": 3}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"get": []}}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": 1}}}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"get": {"security": {}, "x-amazon-apigateway-integration": {"type": "mock"}}}}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"get": {"security": [{"nope": []}], "x-amazon-apigateway-integration": {"type": "mock"}}}}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "http://h/{x}"}}}}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "mock", "responses": {"default": {"statusCode": "x"}}}}}}}"#,
        r#"{"swagger": "2.0", "paths": {"/a": {"$ref": "other.json#/x"}}}"#,
    ] {
        assert!(import(doc, &Options::default()).is_err(), "{doc}");
    }
}

#[test]
fn shared_integrations_by_reference() {
    let doc = r##"{"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
      "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"$ref": "#/components/x-amazon-apigateway-integrations/m"}}}},
      "components": {"x-amazon-apigateway-integrations": {"m": {"type": "mock",
        "requestTemplates": {"application/json": "{\"statusCode\": 204}"}}}}}"##;
    let i = import(doc, &Options::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let Integration::Mock(m) = &i.routes[0].integration else {
        panic!()
    };
    assert_eq!(m.status, 204);
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
}

#[test]
fn the_config_digest_covers_the_documents() {
    let plain = load("apis: [{id: a1, stages: {prod: {}}, routes: []}]\n")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let text = format!("{GATEWAY}apis: [{{id: a1, stages: {{prod: {{}}}}, routes: []}}]\n");
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        plain.sha256, hex,
        "without documents: the text's own digest"
    );
    let a = TempDoc::new("a", &with_mock_route(r#""x-a": 1"#));
    let cfg = format!(
        "apis: [{{id: a1, stages: {{prod: {{}}}}, openapi_file: {}}}]\n",
        a.0.display()
    );
    let first = load(&cfg).unwrap_or_else(|e| panic!("{e:?}")).sha256;
    std::fs::write(&a.0, with_mock_route(r#""x-a": 2"#)).unwrap_or_else(|e| panic!("{e}"));
    let second = load(&cfg).unwrap_or_else(|e| panic!("{e:?}")).sha256;
    assert_ne!(first, second);
}

struct TempDoc(PathBuf);

impl TempDoc {
    fn new(name: &str, text: &str) -> TempDoc {
        let p = std::env::temp_dir().join(format!(
            "tollgate-openapi-{}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        TempDoc(p)
    }
}

impl Drop for TempDoc {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn functions_and_user_pools_are_checked() {
    let e = load(
        "functions: [{name: f, url: \"ftp://x\"}, {name: g}]\n\
         user_pools: [{arn: \"arn:foo:baz\", jwks: {url: \"http://127.0.0.1:9/j\"}}]\n",
    )
    .err()
    .unwrap_or_default();
    has(&e, &["functions[0].url", "ftp://x"]);
    has(&e, &["functions[1].url", "missing"]);
    has(&e, &["user_pools[0].arn", "arn:foo:baz"]);
    let e = load("functions: {}\n").err().unwrap_or_default();
    has(&e, &["functions: expected a list"]);
}

// ------------------------------------------------- mappings and scopes that carry security

/// An OpenAPI 3 document with one `GET /users/{userId}` operation whose integration is `integ`
/// (JSON) and whose security is `security` (JSON), with a Cognito scheme `pool` and a TOKEN
/// scheme `tok`.
fn secured_doc(integ: &str, security: &str) -> String {
    format!(
        r#"{{"openapi": "3.0.1", "info": {{"title": "t", "version": "1"}},
  "paths": {{"/users/{{userId}}": {{"get": {{"security": {security},
     "x-amazon-apigateway-integration": {integ}}}}}}},
  "components": {{"securitySchemes": {{
    "pool": {{"type": "apiKey", "name": "Authorization", "in": "header",
      "x-amazon-apigateway-authtype": "cognito_user_pools",
      "x-amazon-apigateway-authorizer": {{"type": "cognito_user_pools",
        "providerARNs": ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"]}}}},
    "tok": {{"type": "apiKey", "name": "Authorization", "in": "header",
      "x-amazon-apigateway-authtype": "custom",
      "x-amazon-apigateway-authorizer": {{"type": "token",
        "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations"}}}}}}}}}}"#
    )
}

fn proxy_with(params: &str) -> String {
    format!(
        r#"{{"type": "http_proxy", "httpMethod": "GET", "uri": "http://up.example/users/{{userId}}",
          "requestParameters": {params}}}"#
    )
}

fn import_errors(doc: &str) -> Vec<String> {
    match import(doc, &placeholders()) {
        Ok(i) => panic!("imported: {:?}", i.labels),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_uri_parameter_mapped_from_the_authorizer_is_refused_not_filled_from_the_path() {
    // AWS fills {userId} with the caller's principalId; filling it from the request path
    // would let any caller name any user.
    let doc = secured_doc(
        &proxy_with(r#"{"integration.request.path.userId": "context.authorizer.principalId"}"#),
        r#"[{"tok": []}]"#,
    );
    has(
        &import_errors(&doc),
        &[
            "uri parameter {userId} is mapped from context.authorizer.principalId",
            "/x-amazon-apigateway-integration/uri",
        ],
    );
    // Mapped from the route's own parameter: imports.
    let doc = secured_doc(
        &proxy_with(r#"{"integration.request.path.userId": "method.request.path.userId"}"#),
        r#"[{"tok": []}]"#,
    );
    assert!(import(&doc, &placeholders()).is_ok());
}

#[test]
fn cognito_scopes_must_be_a_list_of_strings() {
    let integ =
        r#"{"type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}"#;
    for (scopes, why) in [
        (
            r#""pets/read""#,
            "must be a list of strings, found a string",
        ),
        (r#"[123, "pets/read"]"#, "expected a string, found a number"),
        (
            r#"[{"Fn::Sub": "pets/${X}"}]"#,
            "CloudFormation intrinsic (Fn::Sub)",
        ),
    ] {
        let doc = secured_doc(integ, &format!(r#"[{{"pool": {scopes}}}]"#));
        has(&import_errors(&doc), &["GET /users/{userId}", why]);
    }
    let doc = secured_doc(integ, r#"[{"pool": ["pets/read", "pets/write"]}]"#);
    let i = import(&doc, &placeholders()).unwrap_or_else(|e| panic!("{e:?}"));
    let scopes = i.routes.first().map(|r| r.scopes.clone());
    assert_eq!(
        scopes,
        Some(vec!["pets/read".to_owned(), "pets/write".to_owned()])
    );
}

#[test]
fn header_mappings_tollgate_cannot_supply_remove_the_clients_header() {
    let doc = secured_doc(
        &proxy_with(
            r#"{"integration.request.path.userId": "method.request.path.userId",
                "integration.request.header.X-Request-Id": "context.requestId",
                "integration.request.header.X-Amzn-Trace-Id": "context.xrayTraceId",
                "integration.request.header.X-Caller": "method.request.header.X-Other",
                "integration.request.header.X-Static": "'yes'"}"#,
        ),
        "[]",
    );
    let i = import(&doc, &placeholders()).unwrap_or_else(|e| panic!("{e:?}"));
    let Some(Integration::HttpProxy(h)) = i.routes.first().map(|r| &r.integration) else {
        panic!("not an http_proxy route: {:?}", i.routes);
    };
    assert_eq!(
        h.request_headers.get("X-Request-Id").map(String::as_str),
        Some("context.requestId")
    );
    assert_eq!(
        h.request_headers.get("X-Static").map(String::as_str),
        Some("'yes'")
    );
    assert_eq!(h.drop_request_headers, ["X-Amzn-Trace-Id", "X-Caller"]);
    let warned: Vec<String> = i.warnings.iter().map(ToString::to_string).collect();
    has(
        &warned,
        &[
            "the upstream gets no X-Caller header",
            "drop_request_headers",
        ],
    );
    has(
        &warned,
        &["context.xrayTraceId", "no X-Amzn-Trace-Id header"],
    );
    // The rendered config loads.
    let out = import_config(&doc, "a1", false).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(out.yaml.contains("drop_request_headers"), "{}", out.yaml);
    let yaml = out.yaml.replace(PLACEHOLDER, "x");
    crate::load_str(&yaml, &dir()).unwrap_or_else(|e| panic!("{:?}\n{yaml}", e.messages()));
}

#[test]
fn a_query_parameter_mapped_from_elsewhere_is_refused() {
    let doc = secured_doc(
        &proxy_with(
            r#"{"integration.request.path.userId": "method.request.path.userId",
                "integration.request.querystring.owner": "context.authorizer.principalId"}"#,
        ),
        r#"[{"tok": []}]"#,
    );
    has(
        &import_errors(&doc),
        &["query string parameter owner mapped from context.authorizer.principalId"],
    );
}

#[test]
fn import_keeps_empty_lists_of_the_resource_policy() {
    // `"aws:SourceIp": []` matches no address: the Allow holds for nobody. Dropping the empty
    // list as a default would turn it into an Allow for everyone.
    let doc = with_mock_route(
        r#""x-amazon-apigateway-policy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*",
            "Condition": {"IpAddress": {"aws:SourceIp": []}}}]}"#,
    );
    let out = import_config(&doc, "a1", false).unwrap_or_else(|e| panic!("{e:?}"));
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&out.yaml).unwrap_or_else(|e| panic!("{e}\n{}", out.yaml));
    let cond = &v["apis"][0]["resource_policy"]["Statement"][0]["Condition"];
    assert_eq!(
        cond["IpAddress"]["aws:SourceIp"],
        serde_yaml_ng::Value::Sequence(Vec::new()),
        "{}",
        out.yaml
    );
}

// ------------------------------------------------- errors that name where they come from

/// `secured_doc`'s TOKEN scheme with extra authorizer fields (JSON members, comma-led).
fn token_doc(extra: &str) -> String {
    secured_doc(
        r#"{"type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}"#,
        r#"[{"tok": []}]"#,
    )
    .replace(
        r#""type": "token","#,
        &format!(r#""type": "token"{extra},"#),
    )
}

#[test]
fn an_authorizer_ttl_over_awss_limit_is_named_as_written() {
    let doc = token_doc(r#", "authorizerResultTtlInSeconds": 99999999999"#);
    has(
        &import_errors(&doc),
        &[
            "/components/securitySchemes/tok/x-amazon-apigateway-authorizer/authorizerResultTtlInSeconds",
            "at most 3600 (AWS's limit), found 99999999999",
        ],
    );
}

#[test]
fn import_refuses_what_would_not_load_and_load_names_the_document() {
    // The loader finds this (the converter does not): import must not exit 0 on it.
    let doc = token_doc(r#", "identityValidationExpression": "(unclosed""#);
    let e: Vec<String> = import_config(&doc, "a1", false)
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    has(
        &e,
        &[
            "the configuration it stands for would not load",
            "identity_validation_expression",
        ],
    );
    // Served from openapi_file, the error names the document's authorizer, not an
    // `authorizers[k]` the configuration does not have.
    let tmp = std::env::temp_dir().join(format!(
        "tollgate-openapi-authz-{}.json",
        std::process::id()
    ));
    std::fs::write(&tmp, &doc).unwrap_or_else(|e| panic!("{e}"));
    let e = load(&format!(
        "functions: [{{name: auth, url: \"http://127.0.0.1:9/f\"}}]\n\
         apis: [{{id: a1, stages: {{prod: {{}}}}, openapi_file: {}}}]\n",
        tmp.display()
    ))
    .err()
    .unwrap_or_default();
    let _ = std::fs::remove_file(&tmp);
    has(
        &e,
        &[
            "apis[0].openapi_file (",
            "authorizer a1-tok).identity_validation_expression",
        ],
    );
    assert!(!e.iter().any(|m| m.starts_with("authorizers[")), "{e:?}");
}

#[test]
fn an_unused_scheme_is_one_warning_naming_it() {
    let doc = secured_doc(
        r#"{"type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}"#,
        r#"[{"tok": []}]"#,
    );
    let i = import(&doc, &placeholders()).unwrap_or_else(|e| panic!("{e:?}"));
    let w: Vec<String> = i.warnings.iter().map(ToString::to_string).collect();
    has(
        &w,
        &[
            "securitySchemes/pool",
            "security scheme pool is used by no operation",
        ],
    );
    assert!(!w.iter().any(|m| m.contains("not supported")), "{w:?}");
}
