//! The checks a parsed manifest must pass before it is used: names and ids, paths and their
//! parameters, what every write says about repeating it, references between parts (lookups,
//! paging parameters, the check, polls, events), and values serde accepts but an app cannot
//! (a zero page size, a header name with a space). Each problem comes with the path of the
//! part at fault, which the loader turns into a line.

use std::collections::BTreeSet;

use crate::auth::{template_names, Auth};
use crate::error::Problem;
use crate::locate::{path, Seg};
use crate::manifest::{FieldType, Manifest, Method, Operation};
use crate::paging::Paging;
use crate::place::{is_header_char, Param, Place};
use crate::template::Placeholder;
use crate::triggers::{Signature, SignedContent};
use crate::writes::Write;

type Found = (Vec<Seg>, Problem);

/// The first problem of a manifest, with where it is.
pub fn check(manifest: &Manifest) -> Result<(), Found> {
    check_app(manifest)?;
    let mut names = BTreeSet::new();
    for (index, operation) in manifest.operations.iter().enumerate() {
        if !is_operation_name(&operation.name) {
            let problem = Problem::OperationName(operation.name.clone());
            return Err((path!["operations", index, "name"], problem));
        }
        if !names.insert(operation.name.as_str()) {
            let problem = Problem::DuplicateOperation(operation.name.clone());
            return Err((path!["operations", index, "name"], problem));
        }
    }
    for (index, operation) in manifest.operations.iter().enumerate() {
        check_operation(manifest, index, operation)?;
    }
    check_check(manifest)?;
    check_triggers(manifest)?;
    check_rates_and_errors(manifest)
}

/// Lowercase ASCII letters, digits and `-`, starting with a letter, at most 60 long.
fn is_id(text: &str) -> bool {
    text.len() <= 60
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// ASCII letters, digits, `-` and `_`, starting with a letter (HighLevel's operation ids
/// are the spec's `operationId`s: `get-contacts-by-businessId`), at most 80 long.
fn is_operation_name(text: &str) -> bool {
    text.len() <= 80
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn invalid(at: Vec<Seg>, reason: String) -> Result<(), Found> {
    Err((at, Problem::Invalid(reason)))
}

fn check_header_names<'a>(
    names: impl Iterator<Item = &'a String>,
    at: impl Fn(&str) -> Vec<Seg>,
) -> Result<(), Found> {
    for name in names {
        if name.is_empty() || !name.bytes().all(is_header_char) {
            return invalid(at(name), format!("`{name}` is not an HTTP header name"));
        }
    }
    Ok(())
}

fn check_app(manifest: &Manifest) -> Result<(), Found> {
    if manifest.app.len() > 40 || !is_id(&manifest.app) {
        return Err((path!["app"], Problem::AppId(manifest.app.clone())));
    }
    check_header_names(manifest.headers.keys(), |name| path!["headers", name])?;
    match &manifest.auth {
        Auth::ApiKey { headers, query } => {
            if headers.is_empty() && query.is_empty() {
                return invalid(
                    path!["auth"],
                    "an `api_key` auth needs `headers` (or `query`): which header carries \
                     which credential, like `X-Api-Key: \"{api_key}\"`"
                        .into(),
                );
            }
            check_header_names(headers.keys(), |name| path!["auth", "headers", name])?;
            for (place, values) in [("headers", headers), ("query", query)] {
                for (name, template) in values {
                    let names = template_names(template);
                    if names.is_empty() || names.iter().any(|name| !is_credential(name)) {
                        return invalid(
                            path!["auth", place, name.as_str()],
                            format!(
                                "`{name}: {template}` names no credential; write the \
                                 credential's name in braces, like `\"{{api_key}}\"` (lowercase \
                                 letters, digits and `_`)"
                            ),
                        );
                    }
                }
            }
        }
        Auth::LoginSecretKey { header } => {
            check_header_names(std::iter::once(header), |_| path!["auth", "header"])?;
        }
        Auth::Oauth2AuthorizationCode(code)
            if code.scopes.iter().chain(&code.write_scopes).any(|s| s.contains(' ')) =>
        {
            return invalid(
                path!["auth", "scopes"],
                "a scope holds no space; list each scope as its own item".into(),
            );
        }
        _ => {}
    }
    Ok(())
}

fn is_credential(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn known_operations(manifest: &Manifest) -> String {
    let names: Vec<String> =
        manifest.operations.iter().map(|operation| format!("`{}`", operation.name)).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The operation of that name, which must be a read.
fn read_operation<'m>(
    manifest: &'m Manifest,
    name: &str,
    what: &str,
    at: Vec<Seg>,
) -> Result<&'m Operation, Found> {
    let Some(operation) = manifest.operation(name) else {
        let problem = Problem::UnknownOperation {
            what: what.to_owned(),
            name: name.to_owned(),
            known: known_operations(manifest),
        };
        return Err((at, problem));
    };
    if operation.writes() {
        return Err((at, Problem::NotARead { what: what.to_owned(), name: name.to_owned() }));
    }
    Ok(operation)
}

/// `param` must be declared by `operation` (headers need no declaration).
fn declared(operation: &Operation, param: &Param, what: &str, at: Vec<Seg>) -> Result<(), Found> {
    if operation.declares(param) {
        return Ok(());
    }
    let problem = Problem::UndeclaredParam {
        what: what.to_owned(),
        operation: operation.name.clone(),
        param: param.to_string(),
    };
    Err((at, problem))
}

fn check_operation(manifest: &Manifest, index: usize, operation: &Operation) -> Result<(), Found> {
    let at = |key: &str| path!["operations", index, key];
    let name = &operation.name;
    if !(operation.path.is_empty() || operation.path.starts_with('/')) {
        let problem = Problem::PathStart { operation: name.clone(), path: operation.path.clone() };
        return Err((at("path"), problem));
    }
    let in_path = operation.path_names();
    for param in &in_path {
        if operation.path_params.get(param).is_none() {
            let problem = Problem::UndeclaredPathParam {
                operation: name.clone(),
                param: (*param).to_owned(),
            };
            return Err((at("path"), problem));
        }
    }
    for param in operation.path_params.names() {
        if !in_path.contains(&param) {
            let problem =
                Problem::UnusedPathParam { operation: name.clone(), param: param.to_owned() };
            return Err((path!["operations", index, "path_params", param], problem));
        }
    }
    check_header_names(operation.headers.keys(), |header| {
        path!["operations", index, "headers", header]
    })?;
    if let Some(body) = &operation.body {
        if operation.method == Method::Get {
            return Err((at("body"), Problem::GetWithBody { operation: name.clone() }));
        }
        let which = match (body.fields.is_empty(), &body.schema) {
            (false, Some(_)) => Some("both `fields` and `schema`"),
            (true, None) => Some("neither `fields` nor `schema`"),
            _ => None,
        };
        if let Some(which) = which {
            let problem = Problem::BodyFieldsOrSchema { operation: name.clone(), which };
            return Err((at("body"), problem));
        }
        if let Some(schema) = &body.schema {
            if let Err(err) = jsonschema::validator_for(schema) {
                let problem =
                    Problem::BodySchema { operation: name.clone(), reason: err.to_string() };
                return Err((path!["operations", index, "body", "schema"], problem));
            }
        }
    }
    if let Some(account) = &operation.account {
        if account.place == Place::Path {
            declared(operation, account, "`account`", at("account"))?;
        }
    }
    if operation.response.status.iter().any(|status| !(200..300).contains(status)) {
        return invalid(
            path!["operations", index, "response", "status"],
            format!("operation `{name}`: a success status is between 200 and 299"),
        );
    }
    check_write(manifest, index, operation)?;
    if let Some(paging) = &operation.paging {
        check_paging(index, operation, paging)?;
    }
    Ok(())
}

fn check_write(manifest: &Manifest, index: usize, operation: &Operation) -> Result<(), Found> {
    let name = &operation.name;
    let write_at = |key: &str| path!["operations", index, "write", key];
    let Some(write) = &operation.write else {
        if operation.method != Method::Get {
            let problem = Problem::WriteMissing {
                operation: name.clone(),
                method: operation.method.to_string(),
            };
            return Err((path!["operations", index, "method"], problem));
        }
        return Ok(());
    };
    if operation.method == Method::Get && write.writes() {
        let problem = Problem::GetWrites { operation: name.clone(), kind: write.kind().into() };
        return Err((path!["operations", index, "write"], problem));
    }
    let webhook_id = crate::signatures::standard_webhooks::ID_HEADER;
    let keyed_by_webhook_id = matches!(write,
        Write::IdempotencyKey { header } if header.eq_ignore_ascii_case(webhook_id));
    if manifest.auth == Auth::SignedWebhook && write.writes() && !keyed_by_webhook_id {
        return invalid(
            path!["operations", index, "write"],
            format!(
                "operation `{name}`: a `signed_webhook` app sends each message with a \
                 `webhook-id` its receiver deduplicates by; write `{{kind: idempotency_key, \
                 header: {webhook_id}}}`"
            ),
        );
    }
    match write {
        Write::IdempotencyKey { header } => {
            check_header_names(std::iter::once(header), |_| write_at("header"))?;
        }
        Write::NaturalKey(key) => {
            let what = format!("operation `{name}`: `write.lookup`");
            let lookup = read_operation(manifest, &key.lookup, &what, write_at("lookup"))?;
            if key.keys.is_empty() {
                return invalid(
                    write_at("keys"),
                    format!(
                        "operation `{name}`: a natural key needs `keys`: which body field is \
                         looked up by which parameter of `{}`",
                        key.lookup
                    ),
                );
            }
            for (number, key_match) in key.keys.iter().enumerate() {
                let at = path!["operations", index, "write", "keys", number];
                let field = Param { place: Place::Body, name: key_match.field.clone() };
                declared(
                    operation,
                    &field,
                    &format!("operation `{name}`: `write.keys`"),
                    at.clone(),
                )?;
                declared(
                    lookup,
                    &key_match.param,
                    &format!("operation `{name}`: `write.keys`"),
                    at,
                )?;
                if let Some(template) = &key_match.template {
                    if let Err(reason) = template.expects(Placeholder::Value) {
                        return invalid(
                            path!["operations", index, "write", "keys", number, "template"],
                            format!("operation `{name}`: `write.keys`: {reason}"),
                        );
                    }
                }
            }
            if let Some(fallback) = &key.fallback {
                let what = format!("operation `{name}`: `write.fallback.search`");
                let at = path!["operations", index, "write", "fallback", "search"];
                read_operation(manifest, &fallback.search, &what, at)?;
            }
            if let Some(proof) = &key.duplicate {
                let what = format!("operation `{name}`: `write.duplicate.read`");
                let at = path!["operations", index, "write", "duplicate", "read"];
                let read = read_operation(manifest, &proof.read, &what, at.clone())?;
                declared(read, &proof.read_id, &what, at)?;
            }
        }
        Write::ChildOf(child) => {
            let what = format!("operation `{name}`: `write.list`");
            let list = read_operation(manifest, &child.list, &what, write_at("list"))?;
            let what = format!("operation `{name}`: `write.parent`");
            declared(operation, &child.parent, &what, write_at("parent"))?;
            let parent_in_list = Param { place: Place::Path, name: child.parent.name.clone() };
            if !list.declares(&parent_in_list) && !list.declares(&Param::query(&child.parent.name))
            {
                let problem = Problem::UndeclaredParam {
                    what,
                    operation: list.name.clone(),
                    param: child.parent.name.clone(),
                };
                return Err((write_at("parent"), problem));
            }
            for field in child.matching.iter().chain(&child.same_instant) {
                let field = Param { place: Place::Body, name: field.clone() };
                let what = format!("operation `{name}`: `write.matching`");
                declared(operation, &field, &what, write_at("matching"))?;
            }
        }
        Write::Read | Write::Idempotent | Write::NotRepeatable => {}
    }
    Ok(())
}

fn check_paging(index: usize, operation: &Operation, paging: &Paging) -> Result<(), Found> {
    let name = &operation.name;
    let at = |key: &str| path!["operations", index, "paging", key];
    if operation.writes() {
        let problem = Problem::PagingOnWrite {
            operation: name.clone(),
            method: operation.method.to_string(),
        };
        return Err((path!["operations", index, "paging"], problem));
    }
    for (key, param) in paging.params() {
        let what = format!("operation `{name}`: `paging.{key}`");
        declared(operation, param, &what, at(key))?;
    }
    if paging.max_limit() == Some(0) {
        return invalid(
            at("max_limit"),
            format!("operation `{name}`: `paging.max_limit` is 0; no page would hold a record"),
        );
    }
    match paging {
        Paging::Cursor { next, limit, max_limit } => {
            if next.is_empty() {
                return invalid(
                    at("next"),
                    format!(
                        "operation `{name}`: a cursor needs `next`: where the answer says the \
                         next page starts, and the parameter it goes back in"
                    ),
                );
            }
            if limit.is_some() != max_limit.is_some() {
                return invalid(
                    at("limit"),
                    format!("operation `{name}`: give both `limit` and `max_limit`, or neither"),
                );
            }
        }
        Paging::NextLink { limit, max_limit, .. } if limit.is_some() != max_limit.is_some() => {
            return invalid(
                at("limit"),
                format!("operation `{name}`: give both `limit` and `max_limit`, or neither"),
            );
        }
        Paging::SearchAfter { field, .. } if field.is_empty() => {
            return invalid(at("field"), format!("operation `{name}`: `paging.field` is empty"));
        }
        Paging::PageAndSize { param, .. }
            if param.place != Place::Query
                || operation
                    .query
                    .get(&param.name)
                    .is_some_and(|f| f.kind != FieldType::String) =>
        {
            return invalid(
                at("param"),
                format!(
                    "operation `{name}`: `paging.param` carries `<page>,<size>`: declare it as a \
                     query parameter of type string"
                ),
            );
        }
        _ => {}
    }
    Ok(())
}

fn check_check(manifest: &Manifest) -> Result<(), Found> {
    let Some(check) = &manifest.check else { return Ok(()) };
    let at = path!["check", "operation"];
    let operation = read_operation(manifest, &check.operation, "`check.operation`", at)?;
    for name in check.input.keys() {
        let known =
            operation.path_params.get(name).is_some() || operation.query.get(name).is_some();
        if !known {
            let problem = Problem::UndeclaredParam {
                what: "`check.input`".into(),
                operation: operation.name.clone(),
                param: name.clone(),
            };
            return Err((path!["check", "input", name.as_str()], problem));
        }
    }
    Ok(())
}

fn check_triggers(manifest: &Manifest) -> Result<(), Found> {
    let triggers = &manifest.triggers;
    let mut polls = BTreeSet::new();
    for (index, poll) in triggers.polls.iter().enumerate() {
        let at = |key: &str| path!["triggers", "polls", index, key];
        if !is_id(&poll.name) {
            return invalid(
                at("name"),
                format!(
                    "`{}` is not a poll name; write lowercase letters, digits and `-`",
                    poll.name
                ),
            );
        }
        if !polls.insert(poll.name.as_str()) {
            return Err((at("name"), Problem::DuplicatePoll(poll.name.clone())));
        }
        let what = format!("poll `{}`", poll.name);
        let operation = read_operation(manifest, &poll.operation, &what, at("operation"))?;
        if let Some(since) = &poll.since {
            let what = format!("poll `{}`: `since`", poll.name);
            declared(operation, &since.param, &what, at("since"))?;
            if let Some(template) = &since.template {
                if let Err(reason) = template.expects(Placeholder::Time) {
                    return invalid(
                        path!["triggers", "polls", index, "since", "template"],
                        format!("{what}: {reason}"),
                    );
                }
            }
        }
        if let Some(sort) = &poll.sort {
            let what = format!("poll `{}`: `sort.param`", poll.name);
            declared(operation, &sort.param, &what, at("sort"))?;
        }
    }
    let known_polls = || {
        let names: Vec<String> = polls.iter().map(|name| format!("`{name}`")).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let mut events = BTreeSet::new();
    if let Some(webhooks) = &triggers.webhooks {
        if let Signature::HmacSha256(scheme) = &webhooks.signature {
            let at = path!["triggers", "webhooks", "signature", "header"];
            check_header_names(std::iter::once(&scheme.header), |_| at.clone())?;
            if scheme.signed == SignedContent::TimestampDotBody && scheme.timestamp_header.is_none()
            {
                return invalid(
                    path!["triggers", "webhooks", "signature", "signed"],
                    "`signed: timestamp_dot_body` needs `timestamp_header`: the header holding \
                     the signed timestamp"
                        .into(),
                );
            }
        }
        if webhooks.event_type.places().is_empty() {
            return invalid(
                path!["triggers", "webhooks", "event_type"],
                "`event_type` lists no place".into(),
            );
        }
        if let Signature::TimestampV1 { header, .. } = &webhooks.signature {
            let at = path!["triggers", "webhooks", "signature", "header"];
            check_header_names(std::iter::once(header), |_| at.clone())?;
        }
        if webhooks.events.is_empty() {
            return invalid(
                path!["triggers", "webhooks", "events"],
                "webhooks need at least one event under `events`".into(),
            );
        }
        for (index, event) in webhooks.events.iter().enumerate() {
            let at = |key: &str| path!["triggers", "webhooks", "events", index, key];
            if !events.insert(event.name.as_str()) {
                return Err((at("name"), Problem::DuplicateEvent(event.name.clone())));
            }
            if webhooks.event_type.split(&event.name).is_none() {
                let count = webhooks.event_type.places().len();
                return invalid(
                    at("name"),
                    format!(
                        "`{}` must be {count} non-empty parts joined by `.`, one per place of \
                         `event_type`",
                        event.name
                    ),
                );
            }
            if let Some(poll) = &event.reconciled_by {
                if !polls.contains(poll.as_str()) {
                    let problem = Problem::UnknownPoll {
                        what: format!("event `{}`: `reconciled_by`", event.name),
                        name: poll.clone(),
                        known: known_polls(),
                    };
                    return Err((at("reconciled_by"), problem));
                }
            }
        }
    }
    let known_events = || {
        let names: Vec<String> = events.iter().map(|name| format!("`{name}`")).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    for (index, operation) in manifest.operations.iter().enumerate() {
        for (number, event) in operation.causes.iter().enumerate() {
            if !events.contains(event.as_str()) {
                let problem = Problem::UnknownEvent {
                    what: format!("operation `{}`: `causes`", operation.name),
                    name: event.clone(),
                    known: known_events(),
                };
                return Err((path!["operations", index, "causes", number], problem));
            }
        }
    }
    Ok(())
}

fn check_rates_and_errors(manifest: &Manifest) -> Result<(), Found> {
    if let Some(rate_limit) = &manifest.rate_limit {
        if rate_limit.windows.is_empty() {
            return invalid(
                path!["rate_limit", "windows"],
                "`rate_limit.windows` is empty; give at least one `{requests: N, per_secs: S}`"
                    .into(),
            );
        }
        for (index, window) in rate_limit.windows.iter().enumerate() {
            if window.requests == 0 || window.per_secs == 0 {
                return invalid(
                    path!["rate_limit", "windows", index],
                    "a rate-limit window allows at least 1 request in at least 1 second".into(),
                );
            }
        }
    }
    for (index, rule) in manifest.errors.rules.iter().enumerate() {
        let at = path!["errors", "rules", index];
        if rule.status.is_empty() && rule.code.is_none() && rule.text_contains.is_none() {
            return invalid(
                at,
                "an error rule needs `status`, `code` or `text_contains` to match answers".into(),
            );
        }
        if let Some(status) = rule.status.iter().find(|status| !(100..=599).contains(*status)) {
            return invalid(at, format!("{status} is not an HTTP status"));
        }
        if rule.code.is_some() && manifest.errors.code.is_none() {
            return invalid(
                at,
                "a rule matches a `code`, but `errors.code` does not say where the code is \
                 (a JSON pointer like `/error/code`, or `text`)"
                    .into(),
            );
        }
    }
    Ok(())
}
