//! HighLevel's description (`ghl_types::OPERATIONS`) can be written as a manifest: its
//! hardest rows — a create found again by the duplicate rule, a child create, the three
//! paging strategies, the location filled in the body or the query, the POST search that
//! reads — load and check as data. (The runtime will describe HighLevel this way; this test
//! holds the format to it meanwhile.)

use ghl_apps::load;
use ghl_apps::paging::Paging;
use ghl_apps::place::Place;
use ghl_apps::writes::Write;

const HIGHLEVEL_PART: &str = r#"
app: highlevel
title: HighLevel
base_url: https://services.leadconnectorhq.com
account: location
headers:
  Version: "2021-07-28"
auth:
  kind: oauth2_authorization_code
  authorize_url: https://marketplace.gohighlevel.com/oauth/chooselocation
  token_url: /oauth/token
  scopes: [contacts.readonly]
  write_scopes: [contacts.write]
  refresh_tokens: rotating
check:
  operation: get-contacts
  input: {limit: 1}
errors:
  message: /message
operations:
  - name: create-contact
    title: Create Contact
    method: POST
    scope: contacts.write
    path: /contacts/
    body:
      schema: {type: object, properties: {locationId: {type: string}, email: {type: string}, phone: {type: string}, firstName: {type: string}, lastName: {type: string}, companyName: {type: string}}}
    account: body:locationId
    response: {record: /contact, id: id, status: [201]}
    write:
      kind: natural_key
      lookup: get-duplicate-contact
      keys:
        - {field: email, param: query:email}
        - {field: phone, param: query:number}
      records: /contact
      fallback:
        search: search-contacts-advanced
        fields: [firstName, lastName, companyName]
      duplicate: {id_at: /meta/contactId, read: get-contact, read_id: path:contactId}
    causes: [ContactCreate]
  - name: get-duplicate-contact
    title: Get Duplicate Contact
    method: GET
    path: /contacts/search/duplicate
    query:
      locationId: {type: string, required: true}
      email: {type: string}
      number: {type: string}
    account: query:locationId
    response: {record: /contact}
  - name: get-contact
    title: Get Contact
    method: GET
    path: /contacts/{contactId}
    path_params: {contactId: {type: string, required: true}}
    response: {record: /contact, id: id}
  - name: search-contacts-advanced
    title: Search Contacts
    method: POST
    path: /contacts/search
    body:
      fields:
        locationId: {type: string, required: true}
        pageLimit: {type: integer, required: true}
        page: {type: integer}
        searchAfter: {type: array}
        query: {type: string}
        filters: {type: array}
        sort: {type: array}
    account: body:locationId
    response: {record: /contacts, id: id}
    write: {kind: read}
    paging: {style: search_after, field: searchAfter, send: body:searchAfter, replaces: [page], limit: body:pageLimit, max_limit: 500}
  - name: get-contacts
    title: Get Contacts
    method: GET
    path: /contacts/
    query:
      locationId: {type: string, required: true}
      startAfterId: {type: string}
      startAfter: {type: integer}
      query: {type: string}
      limit: {type: integer}
    account: query:locationId
    response: {record: /contacts, id: id}
    paging:
      style: cursor
      next:
        - {from: /meta/startAfter, to: query:startAfter}
        - {from: /meta/startAfterId, to: query:startAfterId}
      limit: query:limit
      max_limit: 100
  - name: get-contacts-by-businessId
    title: Get Contacts By BusinessId
    method: GET
    path: /contacts/business/{businessId}
    path_params: {businessId: {type: string, required: true}}
    query:
      locationId: {type: string, required: true}
      limit: {type: integer}
      skip: {type: integer}
    account: query:locationId
    response: {record: /contacts, id: id}
    paging: {style: offset, offset: query:skip, limit: query:limit, max_limit: 100}
  - name: get-all-tasks
    title: Get all Tasks
    method: GET
    path: /contacts/{contactId}/tasks
    path_params: {contactId: {type: string, required: true}}
    response: {record: /tasks, id: id}
  - name: create-task
    title: Create Task
    method: POST
    scope: contacts.write
    path: /contacts/{contactId}/tasks
    path_params: {contactId: {type: string, required: true}}
    body:
      fields:
        title: {type: string, required: true}
        body: {type: string}
        dueDate: {type: date_time, required: true}
        completed: {type: boolean, required: true}
    response: {record: /task, id: id, status: [201]}
    write: {kind: child_of, parent: path:contactId, list: get-all-tasks, matching: [title, body], same_instant: [dueDate]}
    causes: [TaskCreate]
triggers:
  webhooks:
    signature: {scheme: none}
    event_type: /type
    dedup_id: /webhookId
    account: /locationId
    events:
      - {name: ContactCreate, title: Contact created, reconciled_by: contacts}
      - {name: TaskCreate, title: Task created}
  polls:
    - name: contacts
      title: New or updated HighLevel contacts
      operation: search-contacts-advanced
      modified: dateUpdated
      created: dateAdded
      time_format: rfc3339
"#;

#[test]
fn highlevels_hardest_operations_are_expressible() {
    let manifest = load(HIGHLEVEL_PART).unwrap_or_else(|err| panic!("{err}"));
    let create = manifest.operation("create-contact").expect("create-contact");
    assert_eq!(
        create.account.as_ref().map(|p| (p.place, p.name.as_str())),
        Some((Place::Body, "locationId"))
    );
    let Some(Write::NaturalKey(rule)) = &create.write else { panic!("a natural key") };
    assert_eq!(rule.keys.len(), 2);
    assert!(rule.fallback.is_some() && rule.duplicate.is_some());
    let search = manifest.operation("search-contacts-advanced").expect("search");
    assert!(!search.writes(), "the POST search reads");
    assert!(matches!(search.paging, Some(Paging::SearchAfter { max_limit: 500, .. })));
    let list = manifest.operation("get-contacts").expect("get-contacts");
    assert!(matches!(&list.paging, Some(Paging::Cursor { next, .. }) if next.len() == 2));
    let task = manifest.operation("create-task").expect("create-task");
    assert!(matches!(&task.write, Some(Write::ChildOf(child)) if child.list == "get-all-tasks"));
    assert_eq!(task.scope.as_deref(), Some("contacts.write"));
}
