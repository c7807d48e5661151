//! HighLevel's app description: the operations of the Contacts API (apps/contacts.json) and
//! the appointment operations of the Calendars API (apps/calendars.json), as data. What the
//! spec says (method, path, scope, schema, query) was generated once from the spec files;
//! what it does not say (what a write changes, how a lost create is found again, how a list
//! pages, where the location goes) is written beside it, so every fact about an operation is
//! in its row. The types name no app: a partner app is described with the same ones.
//! The sandbox and the client read this one table; the engine's HighLevel app builds its
//! operations (what the catalog, flows and `api --list` read) from it.

use serde_json::Value;

use crate::webhook::EventType;

/// Which API an operation belongs to (decides the `Version` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Contacts,
    Calendars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The spec's `operationId`, e.g. `get-contact`.
    pub id: &'static str,
    pub method: &'static str,
    /// The spec's path template, e.g. `/contacts/{contactId}`.
    pub path: &'static str,
    /// The scope a token needs (the bulk operations name none in the spec; they write contacts).
    pub scope: &'static str,
    /// The request body's schema name in the spec, if the operation takes a body.
    pub request_schema: Option<&'static str>,
    /// The success status the spec documents.
    pub success_status: u16,
    pub api: Api,
    pub summary: &'static str,
    /// The query parameters the spec defines.
    pub query: &'static [&'static str],
    /// Where the operation names the tenant the connection speaks for (HighLevel's location);
    /// `None` when the token or a record id says it. Filled by [`Operation::fill_tenant`].
    pub tenant: Option<Param>,
    /// Whether calling it changes anything: writes are recorded as effects, never repeated
    /// blindly; reads are retried freely.
    pub writes: bool,
    /// For an operation that creates a new record each time it runs: how the record is found
    /// again when the answer was lost, so a retry never makes a twin.
    pub creates: Option<LostCreate>,
    /// For a list: how it is walked page by page.
    pub paging: Option<Paging>,
    /// The webhook events a successful call causes: what lets the engine recognise the echo
    /// of its own write, and `flows apply` warn about a flow that triggers itself.
    pub events: &'static [EventType],
    /// The body's fields where the spec's schema is empty and the documentation gives them.
    pub documented_body: Option<DocumentedBody>,
}

/// Where a request carries a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A `{name}` segment of the path template.
    Path,
    Query,
    /// A top-level field of the JSON body.
    Body,
}

/// A named value of a request, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub place: Place,
    pub name: &'static str,
}

impl Param {
    pub const fn path(name: &'static str) -> Self {
        Self { place: Place::Path, name }
    }

    pub const fn query(name: &'static str) -> Self {
        Self { place: Place::Query, name }
    }

    pub const fn body(name: &'static str) -> Self {
        Self { place: Place::Body, name }
    }

    /// Its value in a request's parameters (path and query) or body, if given.
    pub fn value_in<'a>(
        &self,
        params: &'a [(&'a str, &'a str)],
        body: Option<&'a Value>,
    ) -> Option<&'a str> {
        match self.place {
            Place::Path | Place::Query => {
                params.iter().find(|(name, _)| *name == self.name).map(|(_, value)| *value)
            }
            Place::Body => body?.get(self.name)?.as_str(),
        }
    }
}

/// How a create whose answer was lost (timeout, dropped connection, 5xx) is found again
/// before anything is retried. Each lookup is a read of the same app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostCreate {
    /// The record is unique by the tenant's duplicate rule (a contact by email, then phone).
    DuplicateRule(DuplicateRule),
    /// The record is a child of another (a contact's task): the newest of the parent's
    /// children made since the call began whose fields match the create's body.
    Child(ChildOf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateRule {
    /// The lookup by unique values, and its keys: (body field of the create, query
    /// parameter of the lookup).
    pub lookup: &'static str,
    pub keys: &'static [(&'static str, &'static str)],
    /// Without any key nothing identifies the record (the app would accept a twin): the
    /// newest record whose `search_fields` equal the body's, by this search operation.
    pub search: &'static str,
    pub search_fields: &'static [&'static str],
    /// Reads a record by its id (this path parameter): the record a duplicate refusal
    /// names. Such a refusal after an ambiguous attempt proves that attempt created it.
    pub read: &'static str,
    pub read_id: &'static str,
    /// The field holding the record in each answer, the create's included.
    pub record: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildOf {
    /// Where the create names its parent; the `list` operation takes it by the same name.
    pub parent: Param,
    /// Lists the parent's children; `records` is the field of its answer holding them.
    pub list: &'static str,
    pub records: &'static str,
    /// The fields that must equal the create's body (those the body leaves out match any).
    pub matching: &'static [Match],
    /// The field of the create's answer holding the record; `None`: the answer is the record.
    pub answer: Option<&'static str>,
}

/// How a field of a found record is compared with the create's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The same JSON value.
    Same(&'static str),
    /// The same instant (RFC 3339 times: `10:00:00Z` is `10:00:00.000Z`).
    SameInstant(&'static str),
}

/// How a list is walked page by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// The field of each answer holding the page's records.
    pub records: &'static str,
    /// The page size, and the largest the app allows.
    pub limit: Param,
    pub max_limit: u32,
    pub next: NextPage,
}

impl Paging {
    /// Asks for the largest page the operation allows where the caller did not choose a size:
    /// fewer requests, so less of the rate budget.
    pub fn ask_largest(&self, params: &mut Vec<(String, String)>, body: &mut Option<Value>) {
        let Self { limit, max_limit, .. } = *self;
        match limit.place {
            Place::Path | Place::Query => {
                if !params.iter().any(|(name, _)| name == limit.name) {
                    params.push((limit.name.into(), max_limit.to_string()));
                }
            }
            Place::Body => {
                if let Value::Object(fields) =
                    body.get_or_insert_with(|| Value::Object(Default::default()))
                {
                    fields.entry(limit.name).or_insert_with(|| max_limit.into());
                }
            }
        }
    }
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPage {
    /// The answer's `object` (HighLevel's `meta`) holds the next page's start in `fields`,
    /// sent back as query parameters of the same names; without them the list is done.
    AnswerCursor { object: &'static str, fields: &'static [&'static str] },
    /// Each record carries its position in `field` (HighLevel's `searchAfter`): the last
    /// record's is sent in the body's field of that name, in place of the `replaces` fields
    /// (a page number). A page shorter than the limit given is the last.
    RecordCursor { field: &'static str, replaces: &'static [&'static str] },
    /// The records skipped so far go in `skip`; a page shorter than the limit (given, or
    /// `default_limit`) is the last.
    Offset { skip: Param, default_limit: usize },
}

/// Body fields the documentation gives where the spec's schema is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentedBody {
    pub fields: &'static [&'static str],
    pub required: &'static [&'static str],
}

impl Operation {
    pub fn find(id: &str) -> Option<&'static Operation> {
        OPERATIONS.iter().find(|operation| operation.id == id)
    }

    /// Whether calling it changes nothing (safe to retry blindly).
    pub fn is_read(&self) -> bool {
        !self.writes
    }

    /// Puts `tenant` where the operation takes it, unless the caller gave it: the one rule
    /// the client, the engine's steps and `api` share. An empty `tenant` is not filled.
    pub fn fill_tenant(
        &self,
        tenant: &str,
        params: &mut Vec<(String, String)>,
        body: &mut Option<Value>,
    ) {
        let Some(param) = self.tenant else { return };
        if tenant.is_empty() {
            return;
        }
        match param.place {
            Place::Path | Place::Query => {
                if !params.iter().any(|(name, _)| name == param.name) {
                    params.push((param.name.to_owned(), tenant.to_owned()));
                }
            }
            Place::Body => {
                if let Value::Object(fields) =
                    body.get_or_insert_with(|| Value::Object(Default::default()))
                {
                    fields.entry(param.name).or_insert_with(|| tenant.into());
                }
            }
        }
    }

    /// Whether [`Operation::fill_tenant`] would add anything.
    pub fn lacks_tenant(&self, params: &[(&str, &str)], body: Option<&Value>) -> bool {
        self.tenant.is_some_and(|param| param.value_in(params, body).is_none())
    }
}

/// A contact is unique in its location by email, then phone (the location's duplicate rule).
const CONTACT_BY_DUPLICATE_RULE: LostCreate = LostCreate::DuplicateRule(DuplicateRule {
    lookup: "get-duplicate-contact",
    keys: &[("email", "email"), ("phone", "number")],
    search: "search-contacts-advanced",
    search_fields: &["firstName", "lastName", "companyName"],
    read: "get-contact",
    read_id: "contactId",
    record: "contact",
});

const TASK_OF_CONTACT: LostCreate = LostCreate::Child(ChildOf {
    parent: Param::path("contactId"),
    list: "get-all-tasks",
    records: "tasks",
    matching: &[Match::Same("title"), Match::SameInstant("dueDate"), Match::Same("body")],
    answer: Some("task"),
});

const NOTE_OF_CONTACT: LostCreate = LostCreate::Child(ChildOf {
    parent: Param::path("contactId"),
    list: "get-all-notes",
    records: "notes",
    matching: &[Match::Same("body")],
    answer: Some("note"),
});

const APPOINTMENT_OF_CONTACT: LostCreate = LostCreate::Child(ChildOf {
    parent: Param::body("contactId"),
    list: "get-appointments-for-contact",
    records: "events",
    matching: &[Match::Same("calendarId"), Match::SameInstant("startTime")],
    answer: None,
});

/// `GET /contacts/`: `meta.startAfter` + `meta.startAfterId` name the next page.
const CONTACTS_AFTER_META_CURSOR: Paging = Paging {
    records: "contacts",
    limit: Param::query("limit"),
    max_limit: 100,
    next: NextPage::AnswerCursor { object: "meta", fields: &["startAfter", "startAfterId"] },
};

/// `POST /contacts/search`: each contact carries its `searchAfter` position.
const SEARCH_AFTER_LAST_RECORD: Paging = Paging {
    records: "contacts",
    limit: Param::body("pageLimit"),
    max_limit: crate::search::MAX_PAGE_LIMIT,
    next: NextPage::RecordCursor { field: "searchAfter", replaces: &["page"] },
};

/// The contacts of a business, by `skip` (HighLevel's default page is 20).
const CONTACTS_BY_SKIP: Paging = Paging {
    records: "contacts",
    limit: Param::query("limit"),
    max_limit: 100,
    next: NextPage::Offset { skip: Param::query("skip"), default_limit: 20 },
};

/// `SearchBodyV2DTO` is empty in the spec; NOTES.md documents its fields.
const SEARCH_BODY: DocumentedBody = DocumentedBody {
    fields: &["locationId", "pageLimit", "page", "searchAfter", "query", "filters", "sort"],
    required: &["locationId", "pageLimit"],
};

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: "search-contacts-advanced",
        method: "POST",
        path: "/contacts/search",
        scope: "contacts.readonly",
        request_schema: Some("SearchBodyV2DTO"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Search Contacts",
        query: &[],
        tenant: Some(Param::body("locationId")),
        writes: false,
        creates: None,
        paging: Some(SEARCH_AFTER_LAST_RECORD),
        events: &[],
        documented_body: Some(SEARCH_BODY),
    },
    Operation {
        id: "get-duplicate-contact",
        method: "GET",
        path: "/contacts/search/duplicate",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Duplicate Contact",
        query: &["locationId", "number", "email"],
        tenant: Some(Param::query("locationId")),
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "get-all-tasks",
        method: "GET",
        path: "/contacts/{contactId}/tasks",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get all Tasks",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "create-task",
        method: "POST",
        path: "/contacts/{contactId}/tasks",
        scope: "contacts.write",
        request_schema: Some("CreateTaskParams"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Create Task",
        query: &[],
        tenant: None,
        writes: true,
        creates: Some(TASK_OF_CONTACT),
        paging: None,
        events: &[EventType::TaskCreate],
        documented_body: None,
    },
    Operation {
        id: "get-task",
        method: "GET",
        path: "/contacts/{contactId}/tasks/{taskId}",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Task",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "update-task",
        method: "PUT",
        path: "/contacts/{contactId}/tasks/{taskId}",
        scope: "contacts.write",
        request_schema: Some("UpdateTaskBody"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Update Task",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::TaskComplete],
        documented_body: None,
    },
    Operation {
        id: "delete-task",
        method: "DELETE",
        path: "/contacts/{contactId}/tasks/{taskId}",
        scope: "contacts.write",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Delete Task",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::TaskDelete],
        documented_body: None,
    },
    Operation {
        id: "update-task-completed",
        method: "PUT",
        path: "/contacts/{contactId}/tasks/{taskId}/completed",
        scope: "contacts.write",
        request_schema: Some("UpdateTaskStatusParams"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Update Task Completed",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::TaskComplete],
        documented_body: None,
    },
    Operation {
        id: "get-appointments-for-contact",
        method: "GET",
        path: "/contacts/{contactId}/appointments",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Appointments for Contact",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "add-tags",
        method: "POST",
        path: "/contacts/{contactId}/tags",
        scope: "contacts.write",
        request_schema: Some("TagsDTO"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Add Tags",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::ContactUpdate, EventType::ContactTagUpdate],
        documented_body: None,
    },
    Operation {
        id: "remove-tags",
        method: "DELETE",
        path: "/contacts/{contactId}/tags",
        scope: "contacts.write",
        request_schema: Some("TagsDTO"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Remove Tags",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::ContactUpdate, EventType::ContactTagUpdate],
        documented_body: None,
    },
    Operation {
        id: "get-all-notes",
        method: "GET",
        path: "/contacts/{contactId}/notes",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get All Notes",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "create-note",
        method: "POST",
        path: "/contacts/{contactId}/notes",
        scope: "contacts.write",
        request_schema: Some("NotesDTO"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Create Note",
        query: &[],
        tenant: None,
        writes: true,
        creates: Some(NOTE_OF_CONTACT),
        paging: None,
        events: &[EventType::NoteCreate],
        documented_body: None,
    },
    Operation {
        id: "get-note",
        method: "GET",
        path: "/contacts/{contactId}/notes/{id}",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Note",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "update-note",
        method: "PUT",
        path: "/contacts/{contactId}/notes/{id}",
        scope: "contacts.write",
        request_schema: Some("UpdateNoteDTO"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Update Note",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::NoteUpdate],
        documented_body: None,
    },
    Operation {
        id: "delete-note",
        method: "DELETE",
        path: "/contacts/{contactId}/notes/{id}",
        scope: "contacts.write",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Delete Note",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::NoteDelete],
        documented_body: None,
    },
    Operation {
        id: "create-association",
        method: "POST",
        path: "/contacts/bulk/tags/update/{type}",
        scope: "contacts.write",
        request_schema: Some("UpdateTagsDTO"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Update Contacts Tags",
        query: &[],
        tenant: Some(Param::body("locationId")),
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "add-remove-contact-from-business",
        method: "POST",
        path: "/contacts/bulk/business",
        scope: "contacts.write",
        request_schema: Some("ContactsBusinessUpdate"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Add/Remove Contacts From Business",
        query: &[],
        tenant: Some(Param::body("locationId")),
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "get-contact",
        method: "GET",
        path: "/contacts/{contactId}",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Contact",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "update-contact",
        method: "PUT",
        path: "/contacts/{contactId}",
        scope: "contacts.write",
        request_schema: Some("UpdateContactDto"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Update Contact",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[
            EventType::ContactUpdate,
            EventType::ContactTagUpdate,
            EventType::ContactDndUpdate,
        ],
        documented_body: None,
    },
    Operation {
        id: "delete-contact",
        method: "DELETE",
        path: "/contacts/{contactId}",
        scope: "contacts.write",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Delete Contact",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::ContactDelete],
        documented_body: None,
    },
    Operation {
        id: "upsert-contact",
        method: "POST",
        path: "/contacts/upsert",
        scope: "contacts.write",
        request_schema: Some("UpsertContactDto"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Upsert Contact",
        query: &[],
        tenant: Some(Param::body("locationId")),
        writes: true,
        creates: None,
        paging: None,
        events: &[
            EventType::ContactCreate,
            EventType::ContactUpdate,
            EventType::ContactTagUpdate,
            EventType::ContactDndUpdate,
        ],
        documented_body: None,
    },
    Operation {
        id: "get-contacts-by-businessId",
        method: "GET",
        path: "/contacts/business/{businessId}",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Contacts By BusinessId",
        query: &["limit", "locationId", "skip", "query"],
        tenant: Some(Param::query("locationId")),
        writes: false,
        creates: None,
        paging: Some(CONTACTS_BY_SKIP),
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "add-followers-contact",
        method: "POST",
        path: "/contacts/{contactId}/followers",
        scope: "contacts.write",
        request_schema: Some("FollowersDTO"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Add Followers",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "remove-followers-contact",
        method: "DELETE",
        path: "/contacts/{contactId}/followers",
        scope: "contacts.write",
        request_schema: Some("FollowersDTO"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Remove Followers",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "add-contact-to-campaign",
        method: "POST",
        path: "/contacts/{contactId}/campaigns/{campaignId}",
        scope: "contacts.write",
        request_schema: Some("AddContactToCampaignDto"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Add Contact to Campaign",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "remove-contact-from-campaign",
        method: "DELETE",
        path: "/contacts/{contactId}/campaigns/{campaignId}",
        scope: "contacts.write",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Remove Contact From Campaign",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "remove-contact-from-every-campaign",
        method: "DELETE",
        path: "/contacts/{contactId}/campaigns/removeAll",
        scope: "contacts.write",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Remove Contact From Every Campaign",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "add-contact-to-workflow",
        method: "POST",
        path: "/contacts/{contactId}/workflow/{workflowId}",
        scope: "contacts.write",
        request_schema: Some("CreateWorkflowDto"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Add Contact to Workflow",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "delete-contact-from-workflow",
        method: "DELETE",
        path: "/contacts/{contactId}/workflow/{workflowId}",
        scope: "contacts.write",
        request_schema: Some("CreateWorkflowDto"),
        success_status: 200,
        api: Api::Contacts,
        summary: "Delete Contact from Workflow",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "create-contact",
        method: "POST",
        path: "/contacts/",
        scope: "contacts.write",
        request_schema: Some("CreateContactDto"),
        success_status: 201,
        api: Api::Contacts,
        summary: "Create Contact",
        query: &[],
        tenant: Some(Param::body("locationId")),
        writes: true,
        creates: Some(CONTACT_BY_DUPLICATE_RULE),
        paging: None,
        events: &[EventType::ContactCreate],
        documented_body: None,
    },
    Operation {
        id: "get-contacts",
        method: "GET",
        path: "/contacts/",
        scope: "contacts.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Contacts,
        summary: "Get Contacts",
        query: &["locationId", "startAfterId", "startAfter", "query", "limit"],
        tenant: Some(Param::query("locationId")),
        writes: false,
        creates: None,
        paging: Some(CONTACTS_AFTER_META_CURSOR),
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "create-appointment",
        method: "POST",
        path: "/calendars/events/appointments",
        scope: "calendars/events.write",
        request_schema: Some("AppointmentCreateSchema"),
        success_status: 200,
        api: Api::Calendars,
        summary: "Create appointment",
        query: &[],
        tenant: Some(Param::body("locationId")),
        writes: true,
        creates: Some(APPOINTMENT_OF_CONTACT),
        paging: None,
        events: &[EventType::AppointmentCreate],
        documented_body: None,
    },
    Operation {
        id: "edit-appointment",
        method: "PUT",
        path: "/calendars/events/appointments/{eventId}",
        scope: "calendars/events.write",
        request_schema: Some("AppointmentEditSchema"),
        success_status: 200,
        api: Api::Calendars,
        summary: "Update Appointment",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::AppointmentUpdate],
        documented_body: None,
    },
    Operation {
        id: "get-appointment",
        method: "GET",
        path: "/calendars/events/appointments/{eventId}",
        scope: "calendars/events.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Calendars,
        summary: "Get Appointment",
        query: &[],
        tenant: None,
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "get-calendar-events",
        method: "GET",
        path: "/calendars/events",
        scope: "calendars/events.readonly",
        request_schema: None,
        success_status: 200,
        api: Api::Calendars,
        summary: "Get Calendar Events",
        query: &["locationId", "userId", "calendarId", "groupId", "startTime", "endTime"],
        tenant: Some(Param::query("locationId")),
        writes: false,
        creates: None,
        paging: None,
        events: &[],
        documented_body: None,
    },
    Operation {
        id: "delete-event",
        method: "DELETE",
        path: "/calendars/events/{eventId}",
        scope: "calendars/events.write",
        request_schema: Some("DeleteAppointmentSchema"),
        success_status: 201,
        api: Api::Calendars,
        summary: "Delete Event",
        query: &[],
        tenant: None,
        writes: true,
        creates: None,
        paging: None,
        events: &[EventType::AppointmentDelete],
        documented_body: None,
    },
];

#[cfg(test)]
mod tests {
    //! The facts written beside the generated columns, held against the spec where it can
    //! say something about them.

    use super::*;
    use crate::spec_rules::{body_rules, response_fields};

    fn operation(id: &str) -> &'static Operation {
        Operation::find(id).unwrap_or_else(|| panic!("{id} is in the table"))
    }

    /// Whether the operation takes `param` where it says, by its spec (or documented body).
    fn takes(operation: &Operation, param: Param) -> bool {
        match param.place {
            Place::Path => operation.path.contains(&format!("{{{}}}", param.name)),
            Place::Query => operation.query.contains(&param.name),
            Place::Body => {
                let documented =
                    operation.documented_body.is_some_and(|body| body.fields.contains(&param.name));
                let specified = body_rules()
                    .for_operation(operation)
                    .is_some_and(|rule| rule.properties.iter().any(|field| field == param.name));
                documented || specified
            }
        }
    }

    /// Whether the spec's success answer has this top-level field, where the spec gives the
    /// answer a schema (it gives none for the search and the duplicate lookup).
    fn answers(operation: &Operation, field: &str) -> bool {
        let fields = response_fields(operation);
        fields.is_empty() || fields.iter().any(|name| name == field)
    }

    #[test]
    fn writes_are_the_operations_that_need_a_write_scope() {
        for operation in OPERATIONS {
            assert_eq!(
                operation.writes,
                !operation.scope.ends_with(".readonly"),
                "{}",
                operation.id
            );
            if !operation.writes {
                assert!(operation.events.is_empty(), "{} reads, yet causes events", operation.id);
            }
        }
    }

    #[test]
    fn the_tenant_goes_where_the_spec_takes_it() {
        for operation in OPERATIONS {
            if let Some(param) = operation.tenant {
                assert!(takes(operation, param), "{} does not take {param:?}", operation.id);
            }
            if operation.query.contains(&"locationId") {
                assert_eq!(operation.tenant, Some(Param::query("locationId")), "{}", operation.id);
            }
        }
    }

    #[test]
    fn creates_are_posts_found_again_by_reads_of_the_spec() {
        let creates: Vec<_> = OPERATIONS.iter().filter(|op| op.creates.is_some()).collect();
        assert_eq!(creates.len(), 4);
        for create in creates {
            assert_eq!(create.method, "POST", "{}", create.id);
            assert!(create.writes, "{}", create.id);
            match create.creates {
                Some(LostCreate::DuplicateRule(rule)) => {
                    let lookup = operation(rule.lookup);
                    assert!(lookup.is_read(), "{}", rule.lookup);
                    for (field, param) in rule.keys {
                        assert!(takes(create, Param::body(field)), "{} has no {field}", create.id);
                        assert!(takes(lookup, Param::query(param)), "{} has no {param}", lookup.id);
                    }
                    let search = operation(rule.search);
                    assert!(search.is_read() && search.paging.is_some(), "{}", rule.search);
                    for field in rule.search_fields {
                        assert!(takes(create, Param::body(field)), "{} has no {field}", create.id);
                    }
                    let read = operation(rule.read);
                    assert!(read.is_read() && takes(read, Param::path(rule.read_id)));
                    for answering in [create, lookup, read] {
                        assert!(
                            answers(answering, rule.record),
                            "{}: {}",
                            answering.id,
                            rule.record
                        );
                    }
                }
                Some(LostCreate::Child(child)) => {
                    assert!(takes(create, child.parent), "{} has no {:?}", create.id, child.parent);
                    let list = operation(child.list);
                    assert!(list.is_read() && takes(list, Param::path(child.parent.name)));
                    assert!(answers(list, child.records), "{}: {}", list.id, child.records);
                    for field in child.matching {
                        let (Match::Same(name) | Match::SameInstant(name)) = field;
                        assert!(takes(create, Param::body(name)), "{} has no {name}", create.id);
                    }
                    if let Some(field) = child.answer {
                        assert!(answers(create, field), "{}: {field}", create.id);
                    }
                }
                None => unreachable!(),
            }
        }
    }

    #[test]
    fn paged_operations_take_their_paging_parameters() {
        let paged: Vec<_> = OPERATIONS.iter().filter(|op| op.paging.is_some()).collect();
        assert_eq!(paged.len(), 3);
        for list in paged {
            let Some(paging) = list.paging else { continue };
            assert!(list.is_read(), "{}", list.id);
            assert!(takes(list, paging.limit), "{} has no {:?}", list.id, paging.limit);
            assert!(answers(list, paging.records), "{}: {}", list.id, paging.records);
            match paging.next {
                // The spec's answer schema leaves `meta` out; the live API sends it.
                NextPage::AnswerCursor { fields, .. } => {
                    for field in fields {
                        assert!(takes(list, Param::query(field)), "{} has no {field}", list.id);
                    }
                }
                NextPage::RecordCursor { field, replaces } => {
                    assert_eq!(paging.limit.place, Place::Body, "{}", list.id);
                    for name in replaces.iter().chain([&field]) {
                        assert!(takes(list, Param::body(name)), "{} has no {name}", list.id);
                    }
                }
                NextPage::Offset { skip, .. } => {
                    assert!(takes(list, skip), "{} has no {skip:?}", list.id);
                }
            }
        }
    }

    #[test]
    fn documented_bodies_fill_only_empty_schemas() {
        for operation in OPERATIONS {
            if operation.documented_body.is_some() {
                assert!(operation.request_schema.is_some(), "{}", operation.id);
                assert!(body_rules().for_operation(operation).is_none(), "{}", operation.id);
            }
        }
    }

    #[test]
    fn the_tenant_is_filled_where_the_operation_takes_it_unless_given() {
        let (mut params, mut body) = (Vec::new(), None);
        operation("get-contacts").fill_tenant("loc", &mut params, &mut body);
        assert_eq!((params, body), (vec![("locationId".into(), "loc".into())], None));

        let mut params = vec![("locationId".to_owned(), "mine".to_owned())];
        let mut body = None;
        operation("get-contacts").fill_tenant("loc", &mut params, &mut body);
        assert_eq!(params, [("locationId".to_owned(), "mine".to_owned())]);

        let mut body = Some(serde_json::json!({ "firstName": "Ada" }));
        operation("create-contact").fill_tenant("loc", &mut Vec::new(), &mut body);
        assert_eq!(body, Some(serde_json::json!({ "firstName": "Ada", "locationId": "loc" })));

        let mut body = None;
        operation("get-contact").fill_tenant("loc", &mut Vec::new(), &mut body);
        operation("create-contact").fill_tenant("", &mut Vec::new(), &mut body);
        assert_eq!(body, None, "no tenant taken, or none known: nothing filled");
    }
}
