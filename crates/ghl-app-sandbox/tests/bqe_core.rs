//! BQE CORE's sandbox over real HTTP on 127.0.0.1, against what the vendor sources say
//! (specs/partners/NOTES.md §4 and §0): a token from its identity provider's real endpoints
//! carries the company's API address in `endpoint`, and the API is served only there; bearer
//! tokens refused with `{"Message": ...}`; `page=<n>,<size>` over bare arrays with 204 past
//! the end; GUID ids, `lastUpdated` and `version` on every record; a PUT with a stale
//! version refused with 409 `OutDatedModel`; refused bodies answered 400.

use std::collections::HashMap;

use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn manifest() -> ghl_apps::Manifest {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    manifests.into_iter().find(|m| m.app == "bqe-core").expect("BQE CORE is shipped")
}

/// The sandbox, stopped when the guard drops.
struct Running {
    sandbox: AppSandbox,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start() -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let stop = CancellationToken::new();
    let sandbox =
        AppSandbox::start(manifest(), AppSandboxConfig::default(), listener, stop.clone())
            .await
            .expect("the sandbox starts");
    Running { sandbox, stop }
}

/// A connected company: its API address (from the token answer) and access token.
struct Api {
    http: reqwest::Client,
    endpoint: String,
    token: String,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request =
            self.http.request(method, format!("{}{path}", self.endpoint)).bearer_auth(&self.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("the sandbox answers")
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let answer = self.send(method, path, body).await;
        let status = answer.status();
        let text = answer.text().await.expect("a body");
        let json =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") };
        (status, json)
    }
}

/// The authorization code flow through the sandbox's identity provider, as the vendor
/// samples make it: GET `/idp/connect/authorize` (approved at once, redirected with a code
/// and the state), then POST `/idp/connect/token` with the client in the form.
async fn connect(running: &Running) -> (Api, Value) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let address = &running.sandbox.shared.address;
    let credentials = &running.sandbox.info.credentials;
    let redirect = "http://127.0.0.1:9/callback";
    let authorize = http
        .get(format!("{address}/idp/connect/authorize"))
        .query(&[
            ("client_id", credentials["client_id"].as_str()),
            ("response_type", "code"),
            ("scope", "readwrite:core offline_access"),
            ("redirect_uri", redirect),
            ("state", "st-42"),
        ])
        .send()
        .await
        .expect("the identity provider answers");
    assert!(authorize.status().is_redirection(), "{}", authorize.status());
    let location = authorize.headers()["location"].to_str().expect("text").to_owned();
    let location = url::Url::parse(&location).expect("a URL");
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st-42");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
        ("redirect_uri", redirect),
        ("client_id", credentials["client_id"].as_str()),
        ("client_secret", credentials["client_secret"].as_str()),
    ];
    let token = http.post(format!("{address}/idp/connect/token")).form(&form).send().await;
    let token: Value = token.expect("the token endpoint answers").json().await.expect("JSON");
    let endpoint = token["endpoint"].as_str().expect("the company's API address").to_owned();
    let api = Api {
        http,
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        token: token["access_token"].as_str().expect("an access token").to_owned(),
    };
    (api, token)
}

#[tokio::test]
async fn a_token_from_the_identity_provider_gives_the_api_address_and_only_it_is_served() {
    let running = start().await;
    let (api, token) = connect(&running).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "readwrite:core offline_access");
    assert!(token["refresh_token"].is_string(), "offline_access gives a refresh token: {token}");
    assert!(token["endpoint"].as_str().is_some_and(|e| e.ends_with("/api/")), "{token}");

    let (status, listed) = api.json(Method::GET, "/client?page=1,10", None).await;
    assert_eq!((status, listed), (StatusCode::NO_CONTENT, Value::Null), "no clients yet");

    // The manifest's own address is not the company's: nothing is served there.
    let base = &running.sandbox.info.base_url;
    assert!(base.ends_with("/api"), "{base}");
    let elsewhere = api.http.get(format!("{base}/client")).bearer_auth(&api.token).send().await;
    assert_eq!(elsewhere.expect("answers").status(), StatusCode::NOT_FOUND);

    for bearer in [None, Some("at_not_a_token")] {
        let request = api.http.get(format!("{}/client", api.endpoint));
        let request = match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let refused = request.send().await.expect("answers");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let body: Value = refused.json().await.expect("JSON");
        assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only `Message`: {body}");
    }

    // A wrong client secret is refused at the token endpoint, in OAuth's words.
    let refused = api
        .http
        .post(format!("{}/idp/connect/token", running.sandbox.shared.address))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().expect("text")),
            ("client_id", running.sandbox.info.credentials["client_id"].as_str()),
            ("client_secret", "cs_wrong"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json::<Value>().await.expect("JSON")["error"], "invalid_client");
}

#[tokio::test]
async fn records_carry_guids_times_and_a_version_that_a_stale_put_cannot_overwrite() {
    let running = start().await;
    let (api, _) = connect(&running).await;

    let (status, refused) =
        api.json(Method::POST, "/client", Some(json!({"email": "a@x.test"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused, json!({"Message": "name is required"}));

    let (status, client) = api
        .json(Method::POST, "/client", Some(json!({"name": "Ada Lovelace", "email": "ada@x.test"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let id = client["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "a GUID: {id}");
    assert_eq!(client["createdOn"], client["lastUpdated"]);
    let first = client["version"].as_str().expect("a version").to_owned();

    let (status, again) =
        api.json(Method::POST, "/client", Some(json!({"name": "Ada Lovelace"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a client's name is taken: {again}");
    assert!(again["Message"].as_str().is_some_and(|m| m.contains(&id)), "{again}");

    let put = json!({"name": "Ada Lovelace", "phone": "+44 20 7946 0000", "version": first});
    let (status, updated) =
        api.json(Method::PUT, &format!("/client/{id}"), Some(put.clone())).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["phone"], "+44 20 7946 0000");
    assert!(updated.get("email").is_none(), "a PUT is the whole record: {updated}");
    assert_ne!(updated["version"], first);
    assert!(updated["lastUpdated"].as_str() >= client["lastUpdated"].as_str());

    // The same PUT again carries the version it read, which is stale now.
    let (status, stale) = api.json(Method::PUT, &format!("/client/{id}"), Some(put)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(stale["Message"].as_str().is_some_and(|m| m.starts_with("OutDatedModel")), "{stale}");
    let (status, without) =
        api.json(Method::PUT, &format!("/client/{id}"), Some(json!({"name": "Ada"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no version: {without}");
    assert_eq!(without, json!({"Message": "version is required"}));
    let (_, got) = api.json(Method::GET, &format!("/client/{id}"), None).await;
    assert_eq!(got, updated, "neither refused PUT changed anything");

    let deleted = api.send(Method::DELETE, &format!("/client/{id}"), None).await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let (status, gone) = api.json(Method::GET, &format!("/client/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(gone["Message"].is_string(), "{gone}");
}

#[tokio::test]
async fn lists_are_bare_arrays_in_pages_from_one_and_204_past_the_end() {
    let running = start().await;
    let (api, _) = connect(&running).await;
    for n in 1..=5 {
        let activity = json!({"code": format!("A{n}"), "description": format!("Activity {n}")});
        let (status, _) = api.json(Method::POST, "/activity", Some(activity)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    for (page, expected) in [(1, 2), (2, 2), (3, 1)] {
        let (status, listed) =
            api.json(Method::GET, &format!("/activity?page={page},2"), None).await;
        assert_eq!(status, StatusCode::OK);
        let records = listed.as_array().expect("a bare array");
        assert_eq!(records.len(), expected, "page {page}");
        seen.extend(records.iter().map(|r| r["code"].as_str().expect("a code").to_owned()));
    }
    assert_eq!(seen, ["A1", "A2", "A3", "A4", "A5"]);
    let past = api.send(Method::GET, "/activity?page=4,2", None).await;
    assert_eq!(past.status(), StatusCode::NO_CONTENT);
    assert!(past.bytes().await.expect("a body").is_empty());
    let (_, zero) = api.json(Method::GET, "/activity?page=0,2", None).await;
    let (_, one) = api.json(Method::GET, "/activity?page=1,2", None).await;
    assert_eq!(zero, one, "page 0 is the first page, as the vendor samples' page=0 reads");

    let (status, refused) = api.json(Method::GET, "/activity?page=2", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["Message"].as_str().is_some_and(|m| m.contains("<page>,<size>")), "{refused}");

    // The company has its user as an employee before anything is made.
    let (status, employees) = api.json(Method::GET, "/employee?page=1,10", None).await;
    assert_eq!(status, StatusCode::OK);
    let employee = &employees[0];
    let (status, got) = api
        .json(Method::GET, &format!("/employee/{}", employee["id"].as_str().expect("id")), None)
        .await;
    assert_eq!((status, &got), (StatusCode::OK, employee));
}
