//! Expression parameters (docs/apps/manifest.md, "Expression parameters"): a poll's `since`
//! and a natural key's lookup parameter may carry a template the app parses as a search
//! expression; each loads as the docs write it, and a template that cannot work is refused
//! with its line.

use ghl_apps::builtin::MANIFESTS;
use ghl_apps::writes::Write;
use ghl_apps::{load, Manifest};
use serde_json::json;

fn your_app() -> &'static str {
    MANIFESTS.iter().find(|(app, _)| *app == "your-app").map(|(_, text)| *text).expect("your-app")
}

const SINCE: &str = "      since: query:updated_since\n";
const KEY: &str = "        - field: email\n          param: query:email\n";

fn with(from: &str, to: &str) -> String {
    assert!(your_app().contains(from), "`{from}` is not in Your App's manifest");
    your_app().replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` is not in the text"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn a_poll_since_and_a_lookup_key_load_with_their_templates() {
    let text = with(
        SINCE,
        "      since:\n        param: query:updated_since\n        template: 'updated_at >= \"{time:%Y-%m-%dT%H:%M:%S}\"'\n",
    );
    let text = text.replacen(
        KEY,
        "        - field: email\n          param: query:email\n          template: 'email == \"{value}\"'\n",
        1,
    );
    let manifest: Manifest = load(&text).unwrap_or_else(|err| panic!("{err}"));
    let since = manifest.triggers.polls[0].since.clone().expect("a since");
    assert_eq!(since.param.to_string(), "query:updated_since");
    let at =
        chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07.890Z").expect("a time").to_utc();
    let template = since.template.expect("a template");
    assert_eq!(template.fill_time(at, "unused"), "updated_at >= \"2026-03-04T05:06:07\"");
    let Some(Write::NaturalKey(natural)) =
        manifest.operation("create-contact").and_then(|op| op.write.clone())
    else {
        panic!("create-contact is a natural key")
    };
    let key = natural.keys[0].template.clone().expect("a key template");
    assert_eq!(key.fill_value(&json!("o'hara@x.test")), "email == \"o\\'hara@x.test\"");
    assert!(natural.keys[1].template.is_none(), "a key without a template stays plain");

    let plain = load(your_app()).expect("Your App loads");
    assert!(plain.triggers.polls[0].since.as_ref().is_some_and(|since| since.template.is_none()));
}

#[test]
fn a_template_that_cannot_work_is_refused_with_its_line() {
    let cases = [
        (
            with(SINCE, "      since: {param: query:updated_since, template: 'updated_at >= \"{value}\"'}\n"),
            "since: {param",
            "has {value}, which means nothing here; write {time}",
        ),
        (
            with(SINCE, "      since: {param: query:updated_since, template: 'updated_at >= \"now\"'}\n"),
            "since: {param",
            "has no {time}",
        ),
        (
            with(SINCE, "      since: {param: query:updated_since, template: 'updated_at >= \"{when}\"'}\n"),
            "since: {param",
            "`{when}` is not a placeholder",
        ),
        (
            with(SINCE, "      since: {param: query:updated_since, templat: 'x {time}'}\n"),
            "since: {param",
            "unknown field `templat`",
        ),
        (
            with(SINCE, "      since: {param: query:nowhere, template: 'x >= \"{time}\"'}\n"),
            "since: {param",
            "`query:nowhere` is not a parameter of operation `list-contacts`",
        ),
        (
            with(KEY, "        - field: email\n          param: query:email\n          template: 'email == \"{time}\"'\n"),
            "template: 'email",
            "has {time}, which means nothing here; write {value}",
        ),
    ];
    for (text, at, reason) in cases {
        let error = load(&text).expect_err(reason);
        assert!(error.problem.to_string().contains(reason), "`{error}` does not say `{reason}`");
        assert_eq!(error.line, line_of(&text, at), "{reason}: {error}");
    }
}
