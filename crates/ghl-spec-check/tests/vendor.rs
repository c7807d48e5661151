//! The vendor-file checks themselves, on the partner files: they must find operations, list
//! what a request may and must send, refuse answers the file forbids, and name every way a
//! manifest departs from its file.

use ghl_spec_check::vendor::{self, differences, Allowances, VendorSpec};
use serde_json::json;

const FILES: [&str; 4] =
    ["nozbe-openapi.json", "qonto-openapi.yaml", "bqe-core-openapi.json", "qobrix-openapi-v2.yaml"];

#[test]
fn every_partner_file_loads_and_its_operations_are_found() {
    for file in FILES {
        let spec = vendor::spec(file);
        let paths = spec.document()["paths"].as_object().expect("paths");
        assert!(!paths.is_empty(), "{file} has paths");
        for (template, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    let found = spec.operation(method, template).expect("found by its template");
                    assert_eq!(found.path, *template, "{file} {method} {template}");
                }
            }
        }
    }
    let nozbe = vendor::spec("nozbe-openapi.json");
    let task = nozbe.operation("GET", "/tasks/abcdefghijklmnop").expect("a concrete path");
    assert_eq!(task.id(), Some("getTaskById"));
    assert!(nozbe.operation("PATCH", "/tasks/abc").is_none(), "Nozbe updates with PUT");
    assert!(nozbe.operation("DELETE", "/tags/abc").is_none(), "tags cannot be deleted");
}

#[test]
fn a_body_lists_its_fields_and_read_only_ones_are_never_required_of_a_request() {
    let nozbe = vendor::spec("nozbe-openapi.json");
    let create = nozbe.operation("POST", "/tasks").expect("create a task");
    let body = create.body().expect("a JSON body");
    assert!(body.properties.contains_key("due_at"));
    assert!(body.properties["created_at"].read_only);
    assert_eq!(body.required_in_requests().into_iter().collect::<Vec<_>>(), ["name"]);
    let tag = nozbe.operation("POST", "/tags").expect("create a tag").body().expect("a body");
    assert!(tag.properties.contains_key("color"), "an allOf property is listed");
    let update = nozbe.operation("PUT", "/tasks/{id}").expect("update").body().expect("a body");
    assert!(update.open, "an update takes any field");
    let query: Vec<String> = nozbe
        .operation("GET", "/tasks")
        .expect("list")
        .parameters_in("query")
        .into_iter()
        .map(|param| param.name)
        .collect();
    assert!(query.contains(&"project_id".to_owned()) && query.contains(&"offset".to_owned()));
}

#[test]
fn answers_are_validated_against_the_file_s_schema_of_their_status() {
    let nozbe = vendor::spec("nozbe-openapi.json");
    let get = nozbe.operation("GET", "/tasks/{id}").expect("get a task");
    let task = json!({
        "id": "abcdefghijklmnop", "name": "Call Ada", "author_id": "AUTHORAUTHORAUTH",
        "created_at": 1767225600000_i64, "last_activity_at": 1767225600000_i64,
        "due_at": null, "review_reason": null
    });
    assert_eq!(get.validate(200, &task), Ok(()));
    let mut missing = task.clone();
    missing.as_object_mut().expect("an object").remove("author_id");
    let errors = get.validate(200, &missing).expect_err("author_id is required");
    assert!(errors.iter().any(|error| error.contains("author_id")), "{errors:?}");
    let mut text_time = task.clone();
    text_time["created_at"] = json!("2026-01-01T00:00:00Z");
    assert!(get.validate(200, &text_time).is_err(), "Nozbe times are integers");
    assert!(get.validate(418, &task).is_err(), "an undocumented status");
    assert_eq!(get.validate(404, &json!({"anything": 1})), Ok(()), "no error body is modelled");
    let list = nozbe.operation("GET", "/tasks").expect("list");
    assert_eq!(list.validate(200, &json!([task])), Ok(()));
    assert!(list.validate(200, &json!({"data": []})).is_err(), "a list is a bare array");
}

const MANIFEST: &str = r#"
app: nozbe-check
title: Check
base_url: https://api4.nozbe.com/v1/api
auth: {kind: api_key, headers: {Authorization: "{api_key}"}}
operations:
  - name: create-task
    title: Create a task
    method: POST
    path: /tasks
    body:
      fields:
        name: {type: string}
        colour: {type: string}
        created_at: {type: integer}
        due_at: {type: string}
    response: {status: [200]}
    write: {kind: not_repeatable}
  - name: list-tasks
    title: List tasks
    method: GET
    path: /tasks
    query:
      project_id: {type: string}
      ended_at: {type: integer}
      "last_modified[min]": {type: integer}
      colour: {type: string}
    response: {record: /data}
  - name: get-task
    title: Get a task
    method: GET
    path: /tasks/{task}
    path_params:
      task: {type: string, required: true}
  - name: delete-tag
    title: Delete a tag
    method: DELETE
    path: /tags/{id}
    path_params:
      id: {type: string, required: true}
    write: {kind: idempotent}
triggers:
  polls:
    - name: tasks
      title: Tasks
      operation: list-tasks
      modified: updated_at
      time_format: epoch_millis
"#;

#[test]
fn every_difference_of_a_manifest_is_named_at_once() {
    let manifest = ghl_apps::load(MANIFEST).expect("the manifest loads");
    let nozbe = vendor::spec("nozbe-openapi.json");
    let found = differences(&manifest, nozbe, "", &Allowances::default());
    let expect = [
        "create-task (POST /tasks (postTask)): body field colour is not in the vendor's request body",
        "create-task (POST /tasks (postTask)): body field created_at is read-only",
        "create-task (POST /tasks (postTask)): body field due_at is String here but integer, null",
        "create-task (POST /tasks (postTask)): the vendor file requires the body field name",
        "create-task (POST /tasks (postTask)): success status 200 is not documented",
        "list-tasks (GET /tasks (getTasks)): query parameter ended_at is not in the vendor file",
        "list-tasks (GET /tasks (getTasks)): query parameter colour is not in the vendor file",
        "list-tasks (GET /tasks (getTasks)): the record pointer `/data` is not in the vendor's answer",
        "get-task (GET /tasks/{id} (getTaskById)): path parameter {task} is {id}",
        "delete-tag: DELETE /tags/{id} is no operation of nozbe-openapi.json",
        "poll tasks: ",
    ];
    for expected in expect {
        assert!(
            found.iter().any(|difference| difference.starts_with(expected)),
            "`{expected}` is not among:\n{}",
            found.join("\n")
        );
    }

    // With the list's records where the file has them, its fields filter it.
    let listed = MANIFEST.replace("response: {record: /data}", "response: {}");
    let manifest = ghl_apps::load(&listed).expect("the manifest loads");
    let filters = Allowances { field_filters: true, ..Allowances::default() };
    let found = differences(&manifest, nozbe, "", &filters);
    assert!(!found.iter().any(|d| d.contains("ended_at") || d.contains("last_modified")));
    assert!(found.iter().any(|d| d.contains("query parameter colour")), "not a Task field");
}

#[test]
fn a_matching_manifest_has_no_difference_and_3_1_yaml_references_resolve() {
    let spec = VendorSpec::from_text(
        "inline.yaml",
        r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /v2/things/{id}:
    parameters:
      - $ref: '#/components/parameters/Id'
    put:
      parameters:
        - {name: notify, in: query, required: true, schema: {type: boolean}}
      requestBody:
        content:
          application/json:
            schema:
              allOf:
                - $ref: '#/components/schemas/Base'
                - oneOf:
                    - {type: object, properties: {a: {type: string}, b: {type: integer}}, required: [a, b]}
                    - {type: object, properties: {a: {type: string}}, required: [a]}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {thing: {$ref: '#/components/schemas/Base'}}}
components:
  parameters:
    Id: {name: id, in: path, required: true, schema: {type: string}}
  schemas:
    Base:
      type: object
      properties:
        name: {type: [string, "null"]}
        id: {type: string, readOnly: true}
      required: [name, id]
"#,
    )
    .expect("a 3.1 YAML document");
    let put = spec.operation("PUT", "/v2/things/{id}").expect("found");
    assert_eq!(put.parameters_in("path").len(), 1, "the path item's parameter, by reference");
    let body = put.body().expect("a body");
    let required: Vec<String> = body.required_in_requests().into_iter().collect();
    assert_eq!(required, ["a", "name"], "allOf merged; oneOf requires what every branch does");
    assert_eq!(put.validate(200, &json!({"thing": {"name": null, "id": "x"}})), Ok(()));

    let manifest = ghl_apps::load(
        r#"
app: things
title: Things
base_url: https://things.example
auth: {kind: bearer}
operations:
  - name: update-thing
    title: Update a thing
    method: PUT
    path: /things/{id}
    path_params: {id: {type: string, required: true}}
    query: {notify: {type: boolean, required: true}}
    body:
      fields:
        name: {type: string, required: true}
        a: {type: string, required: true}
        b: {type: integer}
    response: {record: /thing, status: [200]}
    write: {kind: idempotent}
"#,
    )
    .expect("the manifest loads");
    vendor::assert_manifest_matches(&manifest, &spec, "/v2");
}
