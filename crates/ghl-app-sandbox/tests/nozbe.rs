//! Nozbe's sandbox over real HTTP, held to the vendor file (specs/partners/nozbe-openapi.json)
//! rather than to the manifest: the manifest's operations are the file's, every answer
//! validates against the file's schema of its status, and the quirks NOTES.md §2/§0 give
//! hold (raw token, `Api-Version`, bare-array offset paging, epoch-millisecond times and
//! their filter, 400 refusals, partial `PUT`, a deleted comment answered).

use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_spec_check::vendor::{self, Allowances};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const FILE: &str = "nozbe-openapi.json";

fn manifest() -> ghl_apps::Manifest {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    manifests.into_iter().find(|m| m.app == "nozbe").expect("Nozbe is shipped")
}

/// What the vendor file cannot list, each documented by another vendor source or chosen
/// (docs/connectors/nozbe.md).
fn allowances() -> Allowances {
    let pair = |op: &str, field: &str| (op.to_owned(), field.to_owned());
    Allowances {
        // nozbe.help: any field filters a list, with [min]/[max]/... operators.
        field_filters: true,
        extra: Vec::new(),
        required_here: vec![
            // A task is made in a project, so that a lost answer is found among its tasks.
            pair("create-task", "project_id"),
            // Completing sets, reopening clears, the end time: that is the whole call.
            pair("complete-task", "ended_at"),
            pair("reopen-task", "ended_at"),
        ],
    }
}

#[test]
fn every_operation_of_the_manifest_is_the_vendor_s() {
    vendor::assert_manifest_matches_with(&manifest(), vendor::spec(FILE), "", &allowances());
}

struct Nozbe {
    sandbox: AppSandbox,
    client: reqwest::Client,
    token: String,
    _stop: CancellationToken,
}

impl Nozbe {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let stop = CancellationToken::new();
        let config = AppSandboxConfig { rate_limits: Some(Vec::new()), ..Default::default() };
        let sandbox = AppSandbox::start(manifest(), config, listener, stop.clone())
            .await
            .expect("the sandbox starts");
        let token = sandbox.info.credentials["api_token"].clone();
        Self { sandbox, client: reqwest::Client::new(), token, _stop: stop }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.info.base_url)
    }

    /// Sends a request as Nozbe's own client does (raw token, `Api-Version: current`) and
    /// checks the answer against the vendor file's operation `template`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        template: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = self
            .client
            .request(method.clone(), self.url(path))
            .header("Authorization", &self.token)
            .header("Api-Version", "current");
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer = request.send().await.expect("the sandbox answers");
        let status = answer.status();
        let text = answer.text().await.expect("a body");
        let body: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") };
        let operation = vendor::spec(FILE)
            .operation(method.as_str(), template)
            .unwrap_or_else(|| panic!("{method} {template} is in the vendor file"));
        operation.assert_answer(status.as_u16(), &body);
        (status, body)
    }
}

fn id(record: &Value) -> String {
    record["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_token_is_sent_raw_with_api_version_and_anything_else_is_refused() {
    let nozbe = Nozbe::start().await;
    let tasks = nozbe.url("/tasks");
    let send = |authorization: Option<String>, version: bool| {
        let mut request = nozbe.client.get(&tasks);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        if version {
            request = request.header("Api-Version", "current");
        }
        async move { request.send().await.expect("the sandbox answers") }
    };
    assert_eq!(send(Some(nozbe.token.clone()), true).await.status(), StatusCode::OK);
    for refused in [None, Some("wrong".to_owned()), Some(format!("apikey {}", nozbe.token))] {
        let answer = send(refused.clone(), true).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{refused:?}");
        let body: Value = answer.json().await.expect("a JSON error");
        assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
    }
    let unversioned = send(Some(nozbe.token.clone()), false).await;
    assert_eq!(unversioned.status(), StatusCode::BAD_REQUEST);
    let body: Value = unversioned.json().await.expect("a JSON error");
    assert!(body["message"].as_str().expect("text").contains("Api-Version"), "{body}");
}

#[tokio::test]
async fn tasks_are_made_changed_in_part_completed_reopened_and_deleted_as_the_file_says() {
    let nozbe = Nozbe::start().await;
    let (status, project) = nozbe
        .call(
            Method::POST,
            "/projects",
            "/projects",
            Some(json!({
                "name": "Clients", "team_id": "TEAMTEAMTEAMTEAM", "is_open": true
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let project_id = id(&project);
    assert_eq!(project_id.len(), 16, "Nozbe ids have 16 characters");

    let (status, task) = nozbe
        .call(
            Method::POST,
            "/tasks",
            "/tasks",
            Some(json!({
                "name": "Call Ada", "project_id": project_id, "due_at": 1_767_312_000_000_i64
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(task["created_at"].is_i64() && task["last_modified"].is_i64(), "{task}");
    let task_id = id(&task);
    let item = format!("/tasks/{task_id}");

    let (_, changed) = nozbe
        .call(Method::PUT, &item, "/tasks/{id}", Some(json!({"responsible_id": "author"})))
        .await;
    assert_eq!(changed["name"], "Call Ada", "a PUT changes only the fields it gives");
    assert_eq!(changed["due_at"], task["due_at"]);
    let (_, done) = nozbe
        .call(Method::PUT, &item, "/tasks/{id}", Some(json!({"ended_at": 1_767_400_000_000_i64})))
        .await;
    assert_eq!(done["ended_at"], 1_767_400_000_000_i64);
    let (_, open) = nozbe.call(Method::GET, "/tasks?ended_at=null", "/tasks", None).await;
    assert_eq!(open, json!([]), "a completed task is not open");
    let (_, reopened) =
        nozbe.call(Method::PUT, &item, "/tasks/{id}", Some(json!({"ended_at": null}))).await;
    assert!(reopened["ended_at"].is_null(), "{reopened}");
    let (_, open) = nozbe.call(Method::GET, "/tasks?ended_at=null", "/tasks", None).await;
    assert_eq!(open.as_array().map(Vec::len), Some(1));

    let (status, deleted) = nozbe.call(Method::DELETE, &item, "/tasks/{id}", None).await;
    assert_eq!((status, deleted), (StatusCode::OK, Value::Null));
    let (status, missing) = nozbe.call(Method::GET, &item, "/tasks/{id}", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["message"].as_str().expect("text").contains(&task_id), "{missing}");
}

#[tokio::test]
async fn comments_tags_assignments_and_reminders_answer_as_the_file_says() {
    let nozbe = Nozbe::start().await;
    let (_, task) = nozbe
        .call(
            Method::POST,
            "/tasks",
            "/tasks",
            Some(json!({"name": "Ada", "project_id": "task_me"})),
        )
        .await;
    let task_id = id(&task);

    let (status, comment) = nozbe
        .call(
            Method::POST,
            "/comments",
            "/comments",
            Some(json!({"task_id": task_id, "body": "Called"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let comment_path = format!("/comments/{}", id(&comment));
    let (_, edited) = nozbe
        .call(Method::PUT, &comment_path, "/comments/{id}", Some(json!({"body": "Called twice"})))
        .await;
    assert_eq!(edited["created_at"], comment["created_at"], "an edit keeps the creation time");
    assert!(edited["edited_at"].is_i64(), "{edited}");
    let (_, listed) =
        nozbe.call(Method::GET, &format!("/comments?task_id={task_id}"), "/comments", None).await;
    assert_eq!(listed[0]["body"], "Called twice");
    let (status, deleted) = nozbe.call(Method::DELETE, &comment_path, "/comments/{id}", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["body"], "Called twice", "a deleted comment is answered");

    let (status, tag) =
        nozbe.call(Method::POST, "/tags", "/tags", Some(json!({"name": "vip"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(tag.get("created_at").is_none(), "a tag has no times: {tag}");
    let tag_path = format!("/tags/{}", id(&tag));
    let (_, renamed) =
        nozbe.call(Method::PUT, &tag_path, "/tags/{id}", Some(json!({"name": "VIP"}))).await;
    assert_eq!(renamed["name"], "VIP");
    let (_, found) = nozbe.call(Method::GET, "/tags?name=VIP", "/tags", None).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1));

    let (status, assignment) = nozbe
        .call(
            Method::POST,
            "/tag_assignments",
            "/tag_assignments",
            Some(json!({
                "tag_id": id(&tag), "task_id": task_id
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, on_task) = nozbe
        .call(Method::GET, &format!("/tag_assignments?task_id={task_id}"), "/tag_assignments", None)
        .await;
    assert_eq!(on_task[0]["tag_id"], tag["id"]);
    let assignment_path = format!("/tag_assignments/{}", id(&assignment));
    let (status, _) =
        nozbe.call(Method::DELETE, &assignment_path, "/tag_assignments/{id}", None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, reminder) = nozbe
        .call(Method::POST, "/reminders", "/reminders", Some(json!({
            "task_id": task_id, "remind_at": 1_767_312_000_000_i64, "is_relative": false, "is_all_day": false
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let reminder_path = format!("/reminders/{}", id(&reminder));
    nozbe.call(Method::GET, &reminder_path, "/reminders/{id}", None).await;
    let (_, reminders) =
        nozbe.call(Method::GET, &format!("/reminders?task_id={task_id}"), "/reminders", None).await;
    assert_eq!(reminders.as_array().map(Vec::len), Some(1));
    let (status, _) = nozbe.call(Method::DELETE, &reminder_path, "/reminders/{id}", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn lists_are_bare_arrays_paged_by_offset_and_filtered_by_epoch_milliseconds() {
    let nozbe = Nozbe::start().await;
    let mut made = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        let (_, task) = nozbe
            .call(
                Method::POST,
                "/tasks",
                "/tasks",
                Some(json!({"name": name, "project_id": "task_me"})),
            )
            .await;
        made.push(task);
    }
    let mut names = Vec::new();
    for offset in [0, 2, 4] {
        let path = format!("/tasks?limit=2&offset={offset}");
        let (_, page) = nozbe.call(Method::GET, &path, "/tasks", None).await;
        let page = page.as_array().expect("a bare array").clone();
        assert_eq!(page.len(), if offset == 4 { 1 } else { 2 }, "a short page is the last");
        names.extend(page.iter().map(|task| task["name"].as_str().expect("a name").to_owned()));
    }
    assert_eq!(names, ["a", "b", "c", "d", "e"]);

    // Touch the first task: it is the one changed last.
    let first = format!("/tasks/{}", id(&made[0]));
    let (_, touched) =
        nozbe.call(Method::PUT, &first, "/tasks/{id}", Some(json!({"name": "a2"}))).await;
    let since = touched["last_modified"].as_i64().expect("epoch milliseconds");
    let path = format!("/tasks?last_modified%5Bmin%5D={since}&sortBy=last_modified");
    let (_, changed) = nozbe.call(Method::GET, &path, "/tasks", None).await;
    let changed = changed.as_array().expect("a bare array");
    assert!(changed.iter().all(|task| task["last_modified"].as_i64() >= Some(since)));
    let times: Vec<i64> =
        changed.iter().filter_map(|task| task["last_modified"].as_i64()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "oldest change first: {times:?}");
    assert!(changed.iter().any(|task| task["name"] == "a2"), "{changed:?}");
    let later = format!("/tasks?last_modified%5Bmin%5D={}", since + 1);
    let (_, none) = nozbe.call(Method::GET, &later, "/tasks", None).await;
    assert_eq!(none, json!([]));
    let text_time = "/tasks?last_modified%5Bmin%5D=2026-01-01T00:00:00Z";
    let (status, refused) = nozbe.call(Method::GET, text_time, "/tasks", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

#[tokio::test]
async fn a_refused_body_is_a_400_naming_the_field_and_makes_nothing() {
    let nozbe = Nozbe::start().await;
    let (status, refused) =
        nozbe.call(Method::POST, "/tasks", "/tasks", Some(json!({"project_id": "task_me"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["message"].as_str().expect("text").contains("name"), "{refused}");
    let (status, refused) = nozbe
        .call(
            Method::POST,
            "/tasks",
            "/tasks",
            Some(json!({"name": "x", "project_id": "task_me", "due_at": "tomorrow"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["message"].as_str().expect("text").contains("due_at"), "{refused}");
    let (_, all) = nozbe.call(Method::GET, "/tasks", "/tasks", None).await;
    assert_eq!(all, json!([]), "nothing was made");
}
