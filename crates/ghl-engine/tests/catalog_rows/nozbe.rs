//! Nozbe's catalog rows: a project, a task in it (changed, completed, reopened), a comment,
//! a tag and its assignment, a reminder; the task and the comment are polled before the
//! deletes. Facts are kept under `nozbe...` names.

use super::{fired, op, ActionRow, AppRows, TriggerRow};

const PROJECT: (&str, &str) = ("id", ".trigger.nozbeProjectId");
const TASK: (&str, &str) = ("id", ".trigger.nozbeTaskId");
const TASK_ID: (&str, &str) = ("task_id", ".trigger.nozbeTaskId");
const COMMENT: (&str, &str) = ("id", ".trigger.nozbeCommentId");
const TAG: (&str, &str) = ("id", ".trigger.nozbeTagId");
const REMINDER: (&str, &str) = ("id", ".trigger.nozbeReminderId");
const ASSIGNMENT: (&str, &str) = ("id", ".trigger.nozbeTagAssignmentId");

pub const ROWS: AppRows =
    AppRows { app: "nozbe", actions: ACTIONS, deletes: DELETES, triggers: TRIGGERS };

const ACTIONS: &[ActionRow] = &[
    op("nozbe.create-project", "nozbe")
        .input(&[
            ("name", r#""Clients""#),
            ("team_id", r#""TEAMxxxxxxxxxxx1""#),
            ("is_open", "true"),
        ])
        .effect("project.created")
        .keep("nozbeProjectId", "/id"),
    op("nozbe.get-project", "nozbe").input(&[PROJECT]).output("/author_id"),
    op("nozbe.update-project", "nozbe")
        .input(&[PROJECT, ("description", r#""Everyone we call""#)])
        .effect("project.updated")
        .output("/description"),
    op("nozbe.list-projects", "nozbe").input(&[("limit", "10")]).output("/0/id"),
    op("nozbe.create-task", "nozbe")
        .input(&[
            ("name", r#""Call Ada""#),
            ("project_id", ".trigger.nozbeProjectId"),
            ("due_at", "1767312000000"),
        ])
        .effect("task.created")
        .keep("nozbeTaskId", "/id"),
    op("nozbe.get-task", "nozbe").input(&[TASK]).output("/created_at"),
    op("nozbe.update-task", "nozbe")
        .input(&[TASK, ("name", r#""Call Ada Lovelace""#)])
        .effect("task.updated")
        .output("/name"),
    op("nozbe.complete-task", "nozbe")
        .input(&[TASK, ("ended_at", "1767400000000")])
        .effect("task.updated")
        .output("/ended_at"),
    op("nozbe.reopen-task", "nozbe")
        .input(&[TASK, ("ended_at", "null")])
        .effect("task.updated")
        .output("/last_modified"),
    op("nozbe.list-tasks", "nozbe")
        .input(&[("project_id", ".trigger.nozbeProjectId"), ("ended_at", r#""null""#)])
        .output("/0/id"),
    op("nozbe.create-comment", "nozbe")
        .input(&[TASK_ID, ("body", r#""Called; she will write back""#)])
        .effect("comment.created")
        .keep("nozbeCommentId", "/id"),
    op("nozbe.get-comment", "nozbe").input(&[COMMENT]).output("/body"),
    op("nozbe.update-comment", "nozbe")
        .input(&[COMMENT, ("body", r#""Called twice""#)])
        .effect("comment.updated")
        .output("/edited_at"),
    op("nozbe.list-comments", "nozbe").input(&[TASK_ID]).output("/0/id"),
    op("nozbe.create-tag", "nozbe")
        .input(&[("name", r#""vip""#)])
        .effect("tag.created")
        .keep("nozbeTagId", "/id"),
    op("nozbe.get-tag", "nozbe").input(&[TAG]).output("/name"),
    op("nozbe.update-tag", "nozbe")
        .input(&[TAG, ("is_favorite", "true")])
        .effect("tag.updated")
        .output("/is_favorite"),
    op("nozbe.list-tags", "nozbe").input(&[("name", r#""vip""#)]).output("/0/id"),
    op("nozbe.create-tag-assignment", "nozbe")
        .input(&[TASK_ID, ("tag_id", ".trigger.nozbeTagId")])
        .effect("tag_assignment.created")
        .keep("nozbeTagAssignmentId", "/id"),
    op("nozbe.list-tag-assignments", "nozbe").input(&[TASK_ID]).output("/0/tag_id"),
    op("nozbe.create-reminder", "nozbe")
        .input(&[
            TASK_ID,
            ("remind_at", "1767308400000"),
            ("is_relative", "false"),
            ("is_all_day", "false"),
        ])
        .effect("reminder.created")
        .keep("nozbeReminderId", "/id"),
    op("nozbe.get-reminder", "nozbe").input(&[REMINDER]).output("/remind_at"),
    op("nozbe.list-reminders", "nozbe").input(&[TASK_ID]).output("/0/id"),
];

const DELETES: &[ActionRow] = &[
    op("nozbe.delete-tag-assignment", "nozbe")
        .input(&[ASSIGNMENT])
        .effect("tag_assignment.deleted"),
    op("nozbe.delete-reminder", "nozbe").input(&[REMINDER]).effect("reminder.deleted"),
    op("nozbe.delete-comment", "nozbe").input(&[COMMENT]).effect("comment.deleted").output("/body"),
    op("nozbe.delete-task", "nozbe").input(&[TASK]).effect("task.deleted"),
];

const TRIGGERS: &[TriggerRow] = &[
    fired("poll: nozbe.tasks", "nozbe.create-task and the changes after it", "/last_modified"),
    fired("poll: nozbe.comments", "nozbe.create-comment", "/body"),
];
