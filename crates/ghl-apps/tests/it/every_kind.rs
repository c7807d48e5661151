//! Every auth kind, paging style, write kind and signature scheme of docs/apps/manifest.md
//! loads as the documentation writes it: one small manifest per kind, each a variation of
//! one base.

use ghl_apps::auth::{Auth, ClientAuth, RefreshTokens};
use ghl_apps::paging::Paging;
use ghl_apps::place::ValueAt;
use ghl_apps::triggers::{Encoding, Signature, SignedContent};
use ghl_apps::writes::Write;
use ghl_apps::{load, Manifest};

/// A notes API; `{auth}`, `{paging}`, `{write}` and `{signature}` are filled per case.
const BASE: &str = r#"
app: notes
title: Notes
base_url: https://notes.example/api
auth:
{auth}
check:
  operation: list-notes
operations:
  - name: list-notes
    title: List notes
    method: GET
    path: /notes
    query:
      page: {type: integer}
      offset: {type: integer}
      limit: {type: integer}
      cursor: {type: string}
    response: {record: /notes, id: id}
    paging:
{paging}
  - name: add-note
    title: Add a note
    method: POST
    path: /notes
    body:
      fields:
        text: {type: string, required: true}
        notebook_id: {type: string}
    response: {record: /note, id: id}
    write:
{write}
triggers:
  webhooks:
    signature:
{signature}
    event_type: header:X-Event
    dedup_id: /delivery_id
    events:
      - {name: note.added, title: Note added}
"#;

const AUTH: &str = "  kind: bearer";
const PAGING: &str =
    "      style: page\n      page: query:page\n      limit: query:limit\n      max_limit: 50";
const WRITE: &str = "      kind: not_repeatable";
const SIGNATURE: &str = "      scheme: none";

fn manifest(auth: &str, paging: &str, write: &str, signature: &str) -> Manifest {
    let text = BASE
        .replace("{auth}", auth)
        .replace("{paging}", paging)
        .replace("{write}", write)
        .replace("{signature}", signature);
    load(&text).unwrap_or_else(|err| panic!("{err}\n{text}"))
}

/// Whether a loaded auth is the one a case wrote.
type AuthFits = fn(&Auth) -> bool;

#[test]
fn every_auth_kind_loads() {
    let cases: &[(&str, AuthFits)] = &[
        ("  kind: bearer", |a| *a == Auth::Bearer),
        ("  kind: basic", |a| *a == Auth::Basic),
        ("  kind: login_secret_key", |a| matches!(a, Auth::LoginSecretKey { header } if header == "Authorization")),
        ("  kind: api_key\n  query:\n    key: \"{api_key}\"", |a| matches!(a, Auth::ApiKey { query, .. } if query.len() == 1)),
        (
            "  kind: oauth2_authorization_code\n  authorize_url: https://notes.example/oauth/authorize\n  token_url: /oauth/token\n  scopes: [notes.read]\n  refresh_tokens: reused\n  client_auth: basic_header\n  pkce: true\n  base_url_from: endpoint",
            |a| matches!(a, Auth::Oauth2AuthorizationCode(code) if code.refresh_tokens == RefreshTokens::Reused && code.client_auth == ClientAuth::BasicHeader && code.pkce),
        ),
        ("  kind: oauth2_client_credentials\n  token_url: https://notes.example/oauth/token", |a| matches!(a, Auth::Oauth2ClientCredentials(_))),
        ("  kind: secret_url", |a| *a == Auth::SecretUrl),
    ];
    for (auth, fits) in cases {
        let loaded = manifest(auth, PAGING, WRITE, SIGNATURE);
        assert!(fits(&loaded.auth), "{auth}: {:?}", loaded.auth);
        assert!(!loaded.auth.credentials().is_empty());
    }
}

#[test]
fn every_paging_style_loads() {
    let cases: &[(&str, &str)] = &[
        ("      style: offset\n      offset: query:offset\n      limit: query:limit\n      max_limit: 50", "offset"),
        ("      style: cursor\n      next:\n        - {from: /next_cursor, to: query:cursor}\n      limit: query:limit\n      max_limit: 50", "cursor"),
        ("      style: next_link\n      next: header:Link", "next_link"),
        ("      style: next_link\n      next: /links/next\n      limit: query:limit\n      max_limit: 50", "next_link"),
        ("      style: page\n      page: query:page\n      limit: query:limit\n      max_limit: 50\n      first_page: 0", "page"),
        ("      style: page_and_size\n      param: query:cursor\n      max_limit: 1000\n      first_page: 0", "page_and_size"),
    ];
    for (paging, style) in cases {
        let loaded = manifest(AUTH, paging, WRITE, SIGNATURE);
        let list = loaded.operation("list-notes").and_then(|op| op.paging.as_ref());
        assert_eq!(list.map(Paging::style), Some(*style), "{paging}");
    }
    let link = manifest(AUTH, cases[2].0, WRITE, SIGNATURE);
    let next = link.operation("list-notes").and_then(|op| op.paging.clone());
    assert!(matches!(next, Some(Paging::NextLink { next: ValueAt::Header(h), .. }) if h == "Link"));
}

#[test]
fn every_write_kind_loads() {
    let cases: &[&str] = &[
        "      kind: idempotency_key\n      header: Idempotency-Key",
        "      kind: idempotent",
        "      kind: read",
        "      kind: natural_key\n      lookup: list-notes\n      keys:\n        - {field: text, param: query:cursor}",
    ];
    for write in cases {
        let loaded = manifest(AUTH, PAGING, write, SIGNATURE);
        assert!(loaded.operation("add-note").and_then(|op| op.write.as_ref()).is_some(), "{write}");
    }
    let read = manifest(AUTH, PAGING, cases[2], SIGNATURE);
    assert_eq!(read.operation("add-note").map(|op| op.writes()), Some(false));
    assert!(matches!(
        manifest(AUTH, PAGING, cases[0], SIGNATURE).operation("add-note").and_then(|op| op.write.clone()),
        Some(Write::IdempotencyKey { header }) if header == "Idempotency-Key"
    ));
}

#[test]
fn every_signature_scheme_loads() {
    let hmac = "      scheme: hmac_sha256\n      header: X-Signature\n      encoding: base64\n      prefix: \"sha256=\"\n      signed: timestamp_dot_body\n      timestamp_header: X-Timestamp\n      tolerance_secs: 60";
    let loaded = manifest(AUTH, PAGING, WRITE, hmac);
    let signature = loaded.triggers.webhooks.map(|webhooks| webhooks.signature);
    assert!(matches!(
        signature,
        Some(Signature::HmacSha256(scheme))
            if scheme.encoding == Encoding::Base64 && scheme.signed == SignedContent::TimestampDotBody
    ));
    let standard =
        manifest(AUTH, PAGING, WRITE, "      scheme: standard_webhooks\n      tolerance_secs: 600");
    assert!(matches!(
        standard.triggers.webhooks.map(|webhooks| webhooks.signature),
        Some(Signature::StandardWebhooks { tolerance_secs: 600 })
    ));
}

/// `page_and_size` sends `<page>,<size>` in one parameter: a parameter declared as a number
/// cannot carry it, and is refused at load naming the key.
#[test]
fn a_page_and_size_parameter_must_be_a_query_string() {
    let integer = "      style: page_and_size\n      param: query:page\n      max_limit: 1000";
    let text = BASE
        .replace("{auth}", AUTH)
        .replace("{paging}", integer)
        .replace("{write}", WRITE)
        .replace("{signature}", SIGNATURE);
    let error = load(&text).expect_err("an integer parameter");
    assert!(error.to_string().contains("`paging.param` carries `<page>,<size>`"), "{error}");
    assert_eq!(
        error.line,
        text.find("param: query:page").map(|at| text[..at].lines().count()).unwrap_or(0),
        "{error}"
    );
    let loaded = manifest(AUTH, &integer.replace("query:page", "query:cursor"), WRITE, SIGNATURE);
    let paging = loaded.operation("list-notes").and_then(|op| op.paging.clone());
    assert!(matches!(paging, Some(Paging::PageAndSize { first_page: 1, max_limit: 1000, .. })));
}
