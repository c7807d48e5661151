//! Every manifest shipped in the binary loads, passes the checks, and says what its app's
//! documentation (specs/partners/) says.

use ghl_apps::auth::Auth;
use ghl_apps::builtin::{manifests, MANIFESTS};
use ghl_apps::error_rules::ErrorMeaning;
use ghl_apps::manifest::{Manifest, Method};
use ghl_apps::paging::Paging;
use ghl_apps::triggers::{Signature, TimeFormat};
use ghl_apps::writes::Write;

fn shipped(app: &str) -> Manifest {
    manifests()
        .unwrap_or_else(|(app, err)| panic!("shipped manifest `{app}` is refused: {err}"))
        .into_iter()
        .find(|manifest| manifest.app == app)
        .unwrap_or_else(|| panic!("no shipped manifest `{app}`"))
}

/// The meaning of an error code under the manifest's rules.
fn meaning_of(manifest: &Manifest, status: Option<u16>, code: &str) -> Option<ErrorMeaning> {
    manifest
        .errors
        .rules
        .iter()
        .find(|rule| {
            rule.code.as_deref() == Some(code)
                && status
                    .is_none_or(|status| rule.status.is_empty() || rule.status.contains(&status))
        })
        .map(|rule| rule.means)
}

#[test]
fn every_shipped_manifest_loads_and_is_named_after_its_file() {
    let loaded = manifests().unwrap_or_else(|(app, err)| panic!("`{app}`: {err}"));
    assert_eq!(loaded.len(), MANIFESTS.len());
    for ((app, _), manifest) in MANIFESTS.iter().zip(&loaded) {
        assert_eq!(manifest.app, *app);
    }
}

#[test]
fn your_app_is_a_source_and_a_target() {
    let app = shipped("your-app");
    assert_eq!(
        app.auth.credentials().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["api_key"]
    );
    let names: Vec<&str> = app.operations.iter().map(|op| op.name.as_str()).collect();
    for wanted in
        ["create-contact", "get-contact", "update-contact", "delete-contact", "list-contacts"]
    {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    let create = app.operation("create-contact").expect("create");
    assert!(matches!(&create.write, Some(Write::NaturalKey(key)) if key.lookup == "list-contacts"));
    let list = app.operation("list-contacts").expect("list");
    assert!(matches!(list.paging, Some(Paging::Page { max_limit: 100, .. })));
    assert!(!list.writes() && create.writes());
    let webhooks = app.triggers.webhooks.as_ref().expect("webhooks");
    assert!(matches!(webhooks.signature, Signature::StandardWebhooks { tolerance_secs: 300 }));
    let poll = &app.triggers.polls[0];
    assert_eq!((poll.modified.as_str(), poll.time_format), ("updated_at", TimeFormat::Rfc3339));
    assert_eq!(app.check.as_ref().map(|check| check.operation.as_str()), Some("list-contacts"));
}

#[test]
fn slack_turns_its_error_answers_into_meanings() {
    let slack = shipped("slack");
    assert_eq!(slack.auth, Auth::SecretUrl);
    let post = slack.operation("post-message").expect("post-message");
    assert_eq!((post.method, post.path.as_str()), (Method::Post, ""));
    assert_eq!(post.write, Some(Write::NotRepeatable));
    // The official list (messaging-webhooks.md, section 1).
    for (status, code, meaning) in [
        (400, "invalid_payload", ErrorMeaning::Invalid),
        (400, "user_not_found", ErrorMeaning::Invalid),
        (403, "action_prohibited", ErrorMeaning::Forbidden),
        (404, "channel_not_found", ErrorMeaning::Gone),
        (410, "channel_is_archived", ErrorMeaning::Gone),
        (500, "rollup_error", ErrorMeaning::Retry),
        (404, "no_service", ErrorMeaning::Gone),
        (403, "invalid_token", ErrorMeaning::Reconnect),
    ] {
        assert_eq!(meaning_of(&slack, Some(status), code), Some(meaning), "{code}");
    }
    assert!(slack.errors.rules.iter().any(|r| r.status == [429] && r.means == ErrorMeaning::Retry));
    assert_eq!(
        slack.rate_limit.as_ref().map(|limit| limit.headers.retry_after.as_str()),
        Some("Retry-After")
    );
}

#[test]
fn teams_posts_adaptive_cards_and_message_cards_within_its_thresholds() {
    let teams = shipped("teams");
    let card = teams.operation("post-adaptive-card").expect("adaptive card");
    assert_eq!(card.response.status, [200, 202]);
    assert!(teams.operation("post-message-card").is_some());
    let windows: Vec<(u32, u32)> = teams
        .rate_limit
        .as_ref()
        .expect("rate limit")
        .windows
        .iter()
        .map(|window| (window.requests, window.per_secs))
        .collect();
    assert_eq!(windows, [(4, 1), (60, 30), (100, 3600), (150, 7200), (1800, 86400)]);
    let throttled =
        teams.errors.rules.iter().find(|rule| rule.text_contains.is_some()).expect("a text rule");
    assert_eq!(throttled.means, ErrorMeaning::Retry, "the connector's 429 in a 200's body");
}

#[test]
fn the_outgoing_webhook_signs_each_message_with_an_id_stable_across_retries() {
    let webhook = shipped("webhook");
    assert_eq!(webhook.auth, Auth::SignedWebhook);
    assert!(webhook.auth.url_is_credential());
    let credentials = webhook.auth.credentials();
    let named: Vec<(&str, bool)> =
        credentials.iter().map(|c| (c.name.as_str(), c.secret)).collect();
    assert_eq!(named, [("url", true), ("secret", true)]);
    let send = webhook.operation("send").expect("send");
    assert_eq!((send.method, send.path.as_str()), (Method::Post, ""));
    assert_eq!(send.write, Some(Write::IdempotencyKey { header: "webhook-id".into() }));
}

#[test]
fn a_signed_webhook_whose_write_is_not_keyed_by_webhook_id_is_refused_with_its_line() {
    let text = MANIFESTS.iter().find(|(app, _)| *app == "webhook").expect("webhook").1;
    let broken = text.replace(
        "    write:\n      kind: idempotency_key\n      header: webhook-id\n",
        "    write:\n      kind: not_repeatable\n",
    );
    assert_ne!(broken, text, "the case changes the manifest");
    let error = ghl_apps::load(&broken).expect_err("refused");
    let line = broken[..broken.find("kind: not_repeatable").expect("there")].matches('\n').count();
    assert_eq!(error.line, line, "{error}");
    assert!(error.to_string().contains("header: webhook-id"), "{error}");
}

/// BQE CORE (specs/partners/NOTES.md §4, §0): OAuth through its identity provider with the
/// company's API address in the token answer's `endpoint`; `page=<n>,<size>` lists;
/// `{"Message"}` errors with a stale `version` (409 `OutDatedModel`) not retried; polls on
/// `lastUpdated` since its webhooks' format is unknown.
#[test]
fn bqe_core_says_what_its_sources_say() {
    let app = shipped("bqe-core");
    let Auth::Oauth2AuthorizationCode(code) = &app.auth else { panic!("{:?}", app.auth) };
    assert_eq!(code.base_url_from.as_deref(), Some("endpoint"));
    assert_eq!(code.scopes, ["readwrite:core", "offline_access"]);
    assert!(!code.pkce, "the vendor samples send a client secret without PKCE");
    for operation in app.operations.iter().filter(|op| op.method == Method::Get) {
        if operation.path.ends_with('}') {
            continue;
        }
        assert!(
            matches!(
                operation.paging,
                Some(Paging::PageAndSize { max_limit: 1000, first_page: 1, .. })
            ),
            "{}: {:?}",
            operation.name,
            operation.paging
        );
        assert_eq!(operation.response.status, [200, 204], "{}: 204 past the end", operation.name);
    }
    for operation in app.operations.iter().filter(|op| op.method == Method::Put) {
        let body = operation.body.as_ref().expect("a PUT has a body");
        assert!(body.required().contains(&"version".to_owned()), "{}", operation.name);
    }
    let stale = app.errors.rules.iter().find(|rule| rule.status == [409]).expect("a 409 rule");
    assert_eq!(stale.text_contains.as_deref(), Some("OutDatedModel"));
    assert_eq!(stale.means, ErrorMeaning::Invalid);
    assert!(app.triggers.webhooks.is_none(), "polled instead");
    let polls: Vec<(&str, &str, TimeFormat)> = app
        .triggers
        .polls
        .iter()
        .map(|poll| (poll.name.as_str(), poll.modified.as_str(), poll.time_format))
        .collect();
    assert_eq!(
        polls,
        [
            ("clients", "lastUpdated", TimeFormat::Rfc3339),
            ("activities", "lastUpdated", TimeFormat::Rfc3339),
            ("projects", "lastUpdated", TimeFormat::Rfc3339),
        ]
    );
}
