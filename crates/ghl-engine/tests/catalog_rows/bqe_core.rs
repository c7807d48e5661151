//! BQE CORE's rows: clients (HighLevel's contacts), activities (service codes), projects,
//! time entries and the company's employees, connected by OAuth through its sandbox's
//! identity provider. A PUT carries the version the row before it read.

use super::{fired, op, AppRows};

const APP: &str = "bqe-core";
const CLIENT: (&str, &str) = ("id", ".trigger.bqeCoreClientId");
const ACTIVITY: (&str, &str) = ("id", ".trigger.bqeCoreActivityId");
const PROJECT: (&str, &str) = ("id", ".trigger.bqeCoreProjectId");
const EMPLOYEE: (&str, &str) = ("id", ".trigger.bqeCoreEmployeeId");
const TIME_ENTRY: (&str, &str) = ("id", ".trigger.bqeCoreTimeEntryId");
const PAGE: (&str, &str) = ("page", r#""1,100""#);

pub const ROWS: AppRows = AppRows {
    app: APP,
    actions: &[
        op("bqe-core.create-client", APP)
            .input(&[("name", r#""Ada Lovelace""#), ("email", r#""ada@example.com""#)])
            .effect("client.created")
            .keep("bqeCoreClientId", "/id"),
        op("bqe-core.get-client", APP)
            .input(&[CLIENT])
            .output("/email")
            .keep("bqeCoreClientVersion", "/version"),
        op("bqe-core.update-client", APP)
            .input(&[
                CLIENT,
                ("name", r#""Ada Lovelace""#),
                ("email", r#""ada@example.com""#),
                ("memo", r#""Met at the conference""#),
                ("version", ".trigger.bqeCoreClientVersion"),
            ])
            .effect("client.updated")
            .output("/memo"),
        op("bqe-core.list-clients", APP).input(&[PAGE]).output("/0/id"),
        op("bqe-core.create-activity", APP)
            .input(&[("code", r#""CONSULT""#), ("description", r#""Consulting""#)])
            .effect("activity.created")
            .keep("bqeCoreActivityId", "/id"),
        op("bqe-core.get-activity", APP)
            .input(&[ACTIVITY])
            .output("/code")
            .keep("bqeCoreActivityVersion", "/version"),
        op("bqe-core.update-activity", APP)
            .input(&[
                ACTIVITY,
                ("code", r#""CONSULT""#),
                ("description", r#""Consulting""#),
                ("billable", "true"),
                ("billRate", "150"),
                ("version", ".trigger.bqeCoreActivityVersion"),
            ])
            .effect("activity.updated")
            .output("/billRate"),
        op("bqe-core.list-activities", APP).input(&[PAGE]).output("/0/id"),
        op("bqe-core.create-project", APP)
            .input(&[("name", r#""Analytical Engine""#), ("code", r#""AE-1""#)])
            .effect("project.created")
            .keep("bqeCoreProjectId", "/id"),
        op("bqe-core.get-project", APP)
            .input(&[PROJECT])
            .output("/code")
            .keep("bqeCoreProjectVersion", "/version"),
        op("bqe-core.update-project", APP)
            .input(&[
                PROJECT,
                ("name", r#""Analytical Engine""#),
                ("code", r#""AE-1""#),
                ("client", r#""Ada Lovelace""#),
                ("status", "0"),
                ("version", ".trigger.bqeCoreProjectVersion"),
            ])
            .effect("project.updated")
            .output("/client"),
        op("bqe-core.list-projects", APP).input(&[PAGE]).output("/0/id"),
        op("bqe-core.list-employees", APP)
            .input(&[PAGE])
            .output("/0/email")
            .keep("bqeCoreEmployeeId", "/0/id"),
        op("bqe-core.get-employee", APP).input(&[EMPLOYEE]).output("/email"),
        op("bqe-core.create-time-entry", APP)
            .input(&[
                ("date", r#""2026-12-01T00:00:00Z""#),
                ("projectId", ".trigger.bqeCoreProjectId"),
                ("activityId", ".trigger.bqeCoreActivityId"),
                ("resourceId", ".trigger.bqeCoreEmployeeId"),
                ("actualHours", "1.5"),
                ("description", r#""Call with Ada""#),
            ])
            .effect("timeentry.created")
            .keep("bqeCoreTimeEntryId", "/id"),
        op("bqe-core.get-time-entry", APP)
            .input(&[TIME_ENTRY])
            .output("/projectId")
            .keep("bqeCoreTimeEntryVersion", "/version"),
        op("bqe-core.update-time-entry", APP)
            .input(&[
                TIME_ENTRY,
                ("date", r#""2026-12-01T00:00:00Z""#),
                ("projectId", ".trigger.bqeCoreProjectId"),
                ("activityId", ".trigger.bqeCoreActivityId"),
                ("resourceId", ".trigger.bqeCoreEmployeeId"),
                ("actualHours", "2"),
                ("description", r#""Call with Ada, and notes""#),
                ("version", ".trigger.bqeCoreTimeEntryVersion"),
            ])
            .effect("timeentry.updated")
            .output("/actualHours"),
        op("bqe-core.list-time-entries", APP).input(&[PAGE]).output("/0/id"),
    ],
    deletes: &[
        op("bqe-core.delete-time-entry", APP).input(&[TIME_ENTRY]).effect("timeentry.deleted"),
        op("bqe-core.delete-project", APP).input(&[PROJECT]).effect("project.deleted"),
        op("bqe-core.delete-activity", APP).input(&[ACTIVITY]).effect("activity.deleted"),
        op("bqe-core.delete-client", APP).input(&[CLIENT]).effect("client.deleted"),
    ],
    triggers: &[
        fired("poll: bqe-core.clients", "bqe-core.create-client and update-client", "/id"),
        fired("poll: bqe-core.activities", "bqe-core.create-activity and update-activity", "/id"),
        fired("poll: bqe-core.projects", "bqe-core.create-project and update-project", "/id"),
    ],
};
