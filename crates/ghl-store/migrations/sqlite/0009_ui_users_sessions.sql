-- The web UI's users (`ghl-connector users add NAME`: an argon2id hash of the password, never
-- the password) and their sign-in sessions. A session row holds the SHA-256 of its token (the
-- cookie's value is never stored), the CSRF token the UI's forms carry, and when it ends: the
-- service moves `expires_at` on as the session is used, never past `created_at` + the absolute
-- lifetime.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ui_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX ui_sessions_by_user ON ui_sessions (user_id);
