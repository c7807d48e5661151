//! Manifests with mistakes are refused with the line of the mistake and a reason. Each case
//! changes one thing in the shipped Your App manifest.

use ghl_apps::builtin::MANIFESTS;
use ghl_apps::{load, Problem, MAX_MANIFEST_BYTES};

fn your_app() -> &'static str {
    MANIFESTS.iter().find(|(app, _)| *app == "your-app").map(|(_, text)| *text).expect("your-app")
}

/// One mistake: `from` (which must occur in the manifest) becomes `to`; the error must be on
/// the line holding `at` (its last occurrence) and its reason contain `reason`.
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    at: &'static str,
    reason: &'static str,
    problem: fn(&Problem) -> bool,
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.rfind(needle).unwrap_or_else(|| panic!("`{needle}` is not in the broken text"));
    text[..at].matches('\n').count() + 1
}

fn shape(problem: &Problem) -> bool {
    matches!(problem, Problem::Shape(_))
}

const CASES: &[Case] = &[
    Case {
        name: "unknown field",
        from: "    title: Get a contact\n",
        to: "    titel: Get a contact\n",
        at: "titel:",
        reason: "unknown field `titel`, expected one of `name`, `title`",
        problem: shape,
    },
    Case {
        name: "missing required field",
        from: "    title: Get a contact\n",
        to: "",
        at: "- name: get-contact",
        reason: "operations[1]: missing field `title`",
        problem: shape,
    },
    Case {
        name: "path parameter not declared",
        from: "    method: PATCH\n    path: /contacts/{id}\n",
        to: "    method: PATCH\n    path: /contacts/{contact_id}\n",
        at: "path: /contacts/{contact_id}",
        reason: "the path has `{contact_id}` but `path_params` does not declare it",
        problem: |p| matches!(p, Problem::UndeclaredPathParam { param, .. } if param == "contact_id"),
    },
    Case {
        name: "paging style missing its field",
        from: "      max_limit: 100\n",
        to: "",
        at: "style: page",
        reason: "missing field `max_limit`",
        problem: shape,
    },
    Case {
        name: "paging style with another style's field",
        from: "      page: query:page\n",
        to: "      cursor: query:page\n",
        at: "style: page",
        reason: "unknown field `cursor`",
        problem: shape,
    },
    Case {
        name: "trigger naming an unknown operation",
        from: "      operation: list-contacts\n      modified",
        to: "      operation: list-contact\n      modified",
        at: "operation: list-contact\n",
        reason: "poll `contacts`: `list-contact` is not an operation of this manifest",
        problem: |p| matches!(p, Problem::UnknownOperation { name, .. } if name == "list-contact"),
    },
    Case {
        name: "duplicate operation names",
        from: "  - name: delete-contact\n",
        to: "  - name: get-contact\n",
        at: "- name: get-contact",
        reason: "two operations are named `get-contact`",
        problem: |p| matches!(p, Problem::DuplicateOperation(name) if name == "get-contact"),
    },
    Case {
        name: "base URL that is not a URL",
        from: "base_url: https://api.your-app.example/v1",
        to: "base_url: api.your-app.example/v1",
        at: "base_url:",
        reason: "base_url: `api.your-app.example/v1` is not a URL",
        problem: shape,
    },
    Case {
        name: "app id with capitals and a space",
        from: "app: your-app",
        to: "app: Your App",
        at: "app:",
        reason: "`Your App` is not an app id",
        problem: |p| matches!(p, Problem::AppId(_)),
    },
    Case {
        name: "write that does not say what repeating it does",
        from: "    write: {kind: idempotent}\n    causes: [contact.updated]\n",
        to: "    causes: [contact.updated]\n",
        at: "method: PATCH",
        reason: "operation `update-contact` is a PATCH: say what repeating it does",
        problem: |p| matches!(p, Problem::WriteMissing { .. }),
    },
    Case {
        name: "GET with a body",
        from: "    path: /contacts/{id}\n    path_params:\n      id: {type: string, required: true}\n    response:\n      record: /data\n      id: id\n\n",
        to: "    path: /contacts/{id}\n    path_params:\n      id: {type: string, required: true}\n    body:\n      fields: {x: {type: string}}\n    response:\n      record: /data\n      id: id\n\n",
        at: "body:\n      fields: {x",
        reason: "operation `get-contact` is a GET, which carries no body",
        problem: |p| matches!(p, Problem::GetWithBody { .. }),
    },
    Case {
        name: "write causing an event the app does not send",
        from: "causes: [contact.created]",
        to: "causes: [contact.create]",
        at: "causes: [contact.create]",
        reason: "`contact.create` is not a webhook event of this manifest",
        problem: |p| matches!(p, Problem::UnknownEvent { .. }),
    },
    Case {
        name: "event reconciled by an unknown poll",
        from: "reconciled_by: contacts",
        to: "reconciled_by: contact",
        at: "reconciled_by: contact",
        reason: "`contact` is not a poll of this manifest (they are: `contacts`)",
        problem: |p| matches!(p, Problem::UnknownPoll { .. }),
    },
    Case {
        name: "paging parameter the operation does not declare",
        from: "      page: query:page\n",
        to: "      page: query:pg\n",
        at: "page: query:pg",
        reason: "`paging.page`: `query:pg` is not a parameter of operation `list-contacts`",
        problem: |p| matches!(p, Problem::UndeclaredParam { .. }),
    },
    Case {
        name: "natural key looked up by an undeclared parameter",
        from: "          param: query:email\n",
        to: "          param: query:mail\n",
        at: "- field: email",
        reason: "`query:mail` is not a parameter of operation `list-contacts`",
        problem: |p| matches!(p, Problem::UndeclaredParam { .. }),
    },
    Case {
        name: "natural key lookup that writes",
        from: "      lookup: list-contacts\n",
        to: "      lookup: delete-contact\n",
        at: "lookup: delete-contact",
        reason: "operation `delete-contact` writes; a read is needed here",
        problem: |p| matches!(p, Problem::NotARead { .. }),
    },
    Case {
        name: "record place that is not a JSON pointer",
        from: "      record: /data\n      id: id\n      status: [201]\n",
        to: "      record: data\n      id: id\n      status: [201]\n",
        at: "record: data",
        reason: "`data` is not a JSON pointer; write `/data`",
        problem: shape,
    },
    Case {
        name: "page size of the wrong type",
        from: "      max_limit: 100\n",
        to: "      max_limit: lots\n",
        at: "style: page",
        reason: "invalid type: string \"lots\", expected u32",
        problem: shape,
    },
    Case {
        name: "unknown auth kind",
        from: "  kind: api_key\n",
        to: "  kind: apikey\n",
        at: "kind: apikey",
        reason: "unknown variant `apikey`, expected one of `api_key`, `bearer`",
        problem: shape,
    },
    Case {
        name: "api key header naming no credential",
        from: "    X-Api-Key: \"{api_key}\"\n",
        to: "    X-Api-Key: \"api_key\"\n",
        at: "X-Api-Key",
        reason: "names no credential",
        problem: |p| matches!(p, Problem::Invalid(_)),
    },
    Case {
        name: "signed timestamp without its header",
        from: "      scheme: standard_webhooks\n",
        to: "      scheme: hmac_sha256\n      header: X-Signature\n      encoding: hex\n      signed: timestamp_dot_body\n",
        at: "signed: timestamp_dot_body",
        reason: "needs `timestamp_header`",
        problem: |p| matches!(p, Problem::Invalid(_)),
    },
    Case {
        name: "error rule matching a code nobody reads",
        from: "  code: /error/code\n",
        to: "",
        at: "- status: 409",
        reason: "`errors.code` does not say where the code is",
        problem: |p| matches!(p, Problem::Invalid(_)),
    },
    Case {
        name: "connection check that writes",
        from: "  operation: list-contacts\n  input:",
        to: "  operation: create-contact\n  input:",
        at: "operation: create-contact",
        reason: "`check.operation`: operation `create-contact` writes",
        problem: |p| matches!(p, Problem::NotARead { .. }),
    },
    Case {
        name: "check input the operation does not take",
        from: "    limit: 1\n",
        to: "    size: 1\n",
        at: "size: 1",
        reason: "`size` is not a parameter of operation `list-contacts`",
        problem: |p| matches!(p, Problem::UndeclaredParam { .. }),
    },
    Case {
        name: "field declared twice",
        from: "        name: {type: string, required: true}\n",
        to: "        name: {type: string, required: true}\n        name: {type: integer}\n",
        at: "name: {type: integer}",
        reason: "the field `name` is declared twice",
        problem: shape,
    },
    Case {
        name: "rate window of zero requests",
        from: "    - requests: 120\n",
        to: "    - requests: 0\n",
        at: "- requests: 0",
        reason: "allows at least 1 request",
        problem: |p| matches!(p, Problem::Invalid(_)),
    },
    Case {
        name: "body with fields and a schema",
        from: "        external_id: {type: string, description: The id of the record in the other app}\n",
        to: "        external_id: {type: string}\n      schema: {type: object}\n",
        at: "body:\n      fields:\n        name: {type: string, required: true}\n        email: {type: string, description",
        reason: "the body gives both `fields` and `schema`",
        problem: |p| matches!(p, Problem::BodyFieldsOrSchema { .. }),
    },
];

#[test]
fn each_mistake_is_refused_with_its_line_and_reason() {
    for case in CASES {
        let base = your_app();
        assert!(base.contains(case.from), "{}: `from` is not in the manifest", case.name);
        let broken = base.replacen(case.from, case.to, 1);
        let error = load(&broken).expect_err(case.name);
        let at = case.at;
        let expected_line = line_of(&broken, at.split('\n').next().unwrap_or(at));
        let expected_line = if at.contains('\n') { line_of(&broken, at) } else { expected_line };
        assert_eq!(error.line, expected_line, "{}: {error}", case.name);
        assert!(
            error.problem.to_string().contains(case.reason),
            "{}: `{}` does not say `{}`",
            case.name,
            error.problem,
            case.reason
        );
        assert!((case.problem)(&error.problem), "{}: {:?}", case.name, error.problem);
        assert!(error.to_string().starts_with(&format!("line {expected_line}")), "{error}");
    }
}

#[test]
fn a_body_schema_must_be_a_json_schema() {
    let broken = your_app().replacen(
        "    body:\n      fields:\n        name: {type: string}\n",
        "    body:\n      schema: {type: 12}\n      fields:\n        name: {type: string}\n",
        1,
    );
    let broken = broken.replacen(
        "      schema: {type: 12}\n      fields:\n        name: {type: string}\n        email: {type: string}\n        phone: {type: string}\n        company: {type: string}\n        tags: {type: array}\n        external_id: {type: string}\n",
        "      schema: {type: 12}\n",
        1,
    );
    let error = load(&broken).expect_err("a schema of type 12");
    assert!(matches!(error.problem, Problem::BodySchema { .. }), "{error}");
    assert_eq!(error.line, line_of(&broken, "schema: {type: 12}"), "{error}");
}

#[test]
fn oversized_deep_and_non_yaml_manifests_are_refused_quickly() {
    let big = format!("{}\ndescription: '{}'\n", your_app(), "x".repeat(MAX_MANIFEST_BYTES));
    let error = load(&big).expect_err("too large");
    assert!(matches!(error.problem, Problem::TooLarge { .. }), "{error}");
    assert_eq!(error.line, 1);

    let deep = format!("app: x\ndescription: {}{}\n", "[".repeat(5_000), "]".repeat(5_000));
    let error = load(&deep).expect_err("too deep");
    assert_eq!((error.line, &error.problem), (2, &Problem::TooDeep { max: 32 }));
    let items = format!("app: x\nlist:\n  {}1\n", "- ".repeat(100));
    assert!(matches!(load(&items).map_err(|e| e.problem), Err(Problem::TooDeep { .. })));

    let aliases =
        format!("a: &a [{}]\nb: [{}]\n", vec!["1"; 1_000].join(", "), vec!["*a"; 1_000].join(", "));
    assert!(load(&aliases).is_err(), "an alias bomb is refused (by the parser's own limit)");

    let error = load("app: x\n  title: [\n").expect_err("not YAML");
    assert!(matches!(error.problem, Problem::Shape(_)), "{error}");
    assert_eq!(error.line, 2, "{error}");
    assert!(error.column.is_some());
}
