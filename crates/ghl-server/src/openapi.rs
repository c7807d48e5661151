//! The REST API's OpenAPI document, served at `/openapi.json`: every route with its
//! parameters, its request body where it takes one, and the JSON schema of each answer,
//! client errors included (`{"error": "..."}`).

use serde_json::{json, Value};

/// A `$ref` to a component schema.
fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An answer whose body is JSON of the given schema.
fn answer(description: &str, body: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": body } } })
}

fn error(description: &str) -> Value {
    answer(description, schema("Error"))
}

fn object(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

fn list_of(key: &str, item: &str) -> Value {
    json!({ "type": "object", "required": [key], "properties": { key: { "type": "array", "items": schema(item) } } })
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

/// An admin operation: bearer token, the answers given plus 401 (and 404 where it names a
/// thing that may not exist).
fn op(summary: &str, parameters: Vec<Value>, body: Option<Value>, answers: Value) -> Value {
    let mut responses = answers;
    responses["401"] = error("no or wrong admin token");
    if parameters.iter().any(|parameter| parameter["in"] == "path") {
        responses["404"] = error("no such run, flow or connection");
    }
    let mut operation = json!({
        "summary": summary,
        "security": [{ "admin": [] }],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = body {
        operation["requestBody"] = body;
    }
    operation
}

fn json_body(body: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": body } } })
}

pub fn document() -> Value {
    let run_id = || path_parameter("id", "the run's id");
    let flow_name = || path_parameter("name", "the flow's name");
    let connection_name = || path_parameter("name", "the connection's name");
    let flow_changed = |summary: &str| {
        op(
            summary,
            vec![flow_name()],
            None,
            json!({ "200": answer("done", object(json!({ "name": { "type": "string" }, "enabled": { "type": "boolean" } }))) }),
        )
    };
    json!({
        "openapi": "3.0.3",
        "info": { "title": "ghl-connector API", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": { "admin": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string", "description": "what is wrong, in words" } } },
                "Run": object(json!({
                    "id": { "type": "string" }, "flow_id": { "type": "string" }, "event_id": { "type": "string" },
                    "status": { "type": "string", "enum": ["queued", "running", "waiting", "done", "dead"] },
                    "attempts": { "type": "integer" }, "last_error": { "type": "string", "nullable": true },
                    "created_at": { "type": "integer", "description": "ms since the epoch" },
                    "updated_at": { "type": "integer", "description": "ms since the epoch" },
                })),
                "Step": object(json!({
                    "run_id": { "type": "string" }, "attempt": { "type": "integer" }, "step_index": { "type": "integer" },
                    "name": { "type": "string" }, "status": { "type": "string" },
                    "input": { "nullable": true }, "request": { "nullable": true }, "response": { "nullable": true },
                    "error": { "type": "string", "nullable": true }, "duration_ms": { "type": "integer" },
                })),
                "StepReport": object(json!({
                    "name": { "type": "string" }, "status": { "type": "string" },
                    "input": { "nullable": true }, "request": { "nullable": true }, "response": { "nullable": true },
                    "error": { "type": "string", "nullable": true },
                })),
                "Flow": object(json!({
                    "id": { "type": "string" }, "name": { "type": "string" },
                    "definition": { "type": "string", "description": "the flow file (YAML)" },
                    "enabled": { "type": "boolean" },
                    "status": { "type": "string", "enum": ["enabled", "disabled", "paused"], "description": "paused: the runaway detector held it (it ran one record too often); enable or apply it again" },
                    "paused_reason": { "type": "string", "nullable": true },
                })),
                "Connection": object(json!({
                    "id": { "type": "string" }, "name": { "type": "string" }, "app": { "type": "string" },
                    "location_id": { "type": "string", "nullable": true }, "auth_kind": { "type": "string" },
                    "scopes": { "type": "string" }, "status": { "type": "string" },
                    "status_reason": { "type": "string", "nullable": true },
                })),
                "Trigger": {
                    "type": "object", "required": ["trigger"], "additionalProperties": false,
                    "properties": {
                        "trigger": { "description": "the record that plays the trigger (`.trigger`)" },
                        "dryRun": { "type": "boolean", "description": "test runs: show the writes, do not send them" },
                        "key": { "type": "string", "description": "manual runs: the same key runs once" },
                    },
                },
                "Webhook": {
                    "type": "object", "required": ["type", "webhookId", "timestamp"],
                    "properties": {
                        "type": { "type": "string" }, "locationId": { "type": "string" },
                        "webhookId": { "type": "string" }, "timestamp": { "type": "string", "format": "date-time" },
                    },
                },
            },
        },
        "paths": {
            "/webhooks/highlevel": { "post": {
                "summary": "HighLevel webhook ingress: signed (x-ghl-signature Ed25519, or x-wh-signature RSA), JSON, at most 2 hours old",
                "requestBody": json_body(schema("Webhook")),
                "responses": {
                    "200": answer("stored, or a duplicate", object(json!({ "stored": { "type": "boolean" }, "runs": { "type": "integer" }, "duplicate": { "type": "boolean" } }))),
                    "401": error("unsigned, forged, or older than 2 hours"),
                    "415": error("not application/json"),
                    "429": error("the store is busy: retry"),
                },
            } },
            "/api/runs": { "get": op(
                "List runs, newest first",
                vec![
                    json!({ "name": "status", "in": "query", "required": false, "schema": { "type": "string" } }),
                    json!({ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }),
                ],
                None,
                json!({ "200": answer("the runs", list_of("runs", "Run")), "400": error("a bad query string") }),
            ) },
            "/api/runs/{id}": { "get": op(
                "A run with every step's input, request, response and error",
                vec![run_id()],
                None,
                json!({ "200": answer("the run", object(json!({ "run": schema("Run"), "steps": { "type": "array", "items": schema("Step") } }))) }),
            ) },
            "/api/runs/{id}/replay": { "post": op(
                "Replay a dead-lettered run",
                vec![run_id()],
                None,
                json!({ "200": answer("queued again", object(json!({ "replayed": { "type": "string" } }))), "409": error("the run is not dead-lettered") }),
            ) },
            "/api/flows": {
                "get": op("List flows", vec![], None, json!({ "200": answer("the flows", list_of("flows", "Flow")) })),
                "post": op(
                    "Apply a flow (its YAML file as the body)",
                    vec![],
                    Some(json!({ "required": true, "content": { "text/yaml": { "schema": { "type": "string" } }, "text/plain": { "schema": { "type": "string" } } } })),
                    json!({ "201": answer("applied, with warnings (a flow that can trigger itself)", object(json!({ "id": { "type": "string" }, "warnings": { "type": "array", "items": { "type": "string" } } }))), "400": error("the flow is refused, with the line and the limit or rule at fault"), "413": error("the flow file is over the size a flow may be"), "422": error("a connection the flow names is missing, of another app, or lacks a scope") }),
                ),
            },
            "/api/flows/{name}": {
                "get": op("A flow, with its file", vec![flow_name()], None, json!({ "200": answer("the flow", object(json!({ "flow": schema("Flow") }))) })),
                "delete": op("Delete a flow", vec![flow_name()], None, json!({ "200": answer("deleted", object(json!({ "deleted": { "type": "string" } }))) })),
            },
            "/api/flows/{name}/enable": { "post": flow_changed("Enable a flow") },
            "/api/flows/{name}/disable": { "post": flow_changed("Disable a flow") },
            "/api/flows/{name}/test": { "post": op(
                "Test a flow on a trigger record: every step's input, request and response; nothing recorded",
                vec![flow_name()],
                Some(json_body(schema("Trigger"))),
                json!({
                    "200": answer("what each step did", object(json!({ "steps": { "type": "array", "items": schema("StepReport") } }))),
                    "400": error("the body is not the JSON asked for"),
                    "422": error("the flow does not load"),
                }),
            ) },
            "/api/flows/{name}/run": { "post": op(
                "Run a flow now on a trigger record, recorded like any run",
                vec![flow_name()],
                Some(json_body(schema("Trigger"))),
                json!({
                    "202": answer("queued", object(json!({ "runs": { "type": "array", "items": { "type": "string" } } }))),
                    "200": answer("already run with this key", object(json!({ "duplicate": { "type": "boolean" } }))),
                    "400": error("the body is not the JSON asked for"),
                    "422": error("the flow cannot run"),
                }),
            ) },
            "/api/connections": { "get": op("List connections (no secrets)", vec![], None, json!({ "200": answer("the connections", list_of("connections", "Connection")) })) },
            "/api/connections/{name}": { "delete": op(
                "Remove a connection and its secrets",
                vec![connection_name()],
                None,
                json!({ "200": answer("removed", object(json!({ "removed": { "type": "string" } }))) }),
            ) },
            "/api/connections/{name}/test": { "post": op(
                "Check a connection with a harmless read",
                vec![connection_name()],
                None,
                json!({ "200": answer("whether it works", object(json!({ "name": { "type": "string" }, "works": { "type": "boolean" }, "error": { "type": "string" } }))) }),
            ) },
            "/api/catalog": { "get": op(
                "Actions and triggers",
                vec![],
                None,
                json!({ "200": answer("the catalog", object(json!({ "actions": { "type": "array", "items": { "type": "object" } }, "triggers": { "type": "array", "items": { "type": "object" } } }))) }),
            ) },
            "/healthz": { "get": { "summary": "Liveness", "responses": { "200": { "description": "ok", "content": { "text/plain": { "schema": { "type": "string" } } } } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics (OpenMetrics text)", "responses": { "200": { "description": "the metrics", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } } } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": answer("the OpenAPI document", json!({ "type": "object" })) } } },
        }
    })
}
