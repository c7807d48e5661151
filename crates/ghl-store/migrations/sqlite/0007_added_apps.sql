-- Apps a user added (`ghl-connector apps add FILE`): the manifest as written, checked before it
-- is stored, loaded into the app registry when a process starts. Shipped apps are not here.
CREATE TABLE added_apps (
    id TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
