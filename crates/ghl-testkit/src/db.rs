//! Databases for tests: a SQLite file in a temporary folder, or a schema of its own in the
//! PostgreSQL database `test` on 127.0.0.1:5432 (trust auth), so tests never see each other.
//! Both go away with the value: the folder is removed and the schema dropped, so test runs do
//! not pile schemas up in the machine's database.

use ghl_store::{MasterKey, Store};
use tempfile::TempDir;

/// The test database every PostgreSQL test gets a schema in.
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of the test's own. It lives as long as this value: drop it after the stores
/// and processes that use it.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    /// The PostgreSQL schema (`None` on SQLite).
    schema: Option<String>,
    /// The SQLite file's folder, removed on drop.
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file (not created until a store opens it).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite:{}", dir.path().join("test.db").display());
        Self { url, backend: Backend::Sqlite, schema: None, _dir: Some(dir) }
    }

    /// A fresh schema in the test database; the URL selects it for every connection.
    pub async fn postgres() -> Self {
        let schema = format!("t_{}", ghl_store::new_id());
        Self::postgres_schema(&schema, false).await
    }

    /// A fresh schema for a benchmark, `b_<id>`: drop it with [`TestDb::drop_schema`] when
    /// done (`scripts/bench-compare.sh` drops the `b_` schemas a bench it runs leaves).
    pub async fn postgres_bench() -> Self {
        let schema = format!("b_{}", ghl_store::new_id());
        Self::postgres_schema(&schema, false).await
    }

    /// Drops the PostgreSQL schema with everything in it now (nothing on SQLite); dropping
    /// the value does the same, later.
    pub async fn drop_schema(&self) {
        if let Some(schema) = &self.schema {
            Self::on_admin(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        }
    }

    /// The schema `schema`, made empty first when `fresh` (a test that names its schema, so a
    /// process it starts can be pointed at it).
    pub async fn postgres_schema(schema: &str, fresh: bool) -> Self {
        if fresh {
            Self::on_admin(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        }
        Self::on_admin(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await;
        let url = format!("{POSTGRES}?options=-c%20search_path%3D{schema}");
        Self { url, backend: Backend::Postgres, schema: Some(schema.to_owned()), _dir: None }
    }

    /// Runs one statement on the test database as its administrator.
    pub async fn on_admin(statement: &str) {
        if let Err(err) = Self::try_on_admin(POSTGRES, statement).await {
            panic!(
                "{statement}: {err} (PostgreSQL on 127.0.0.1:5432, database `test`, trust auth)"
            );
        }
    }

    async fn try_on_admin(url: &str, statement: &str) -> Result<(), sqlx::Error> {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(url).await?;
        let done = sqlx::query(statement).execute(&admin).await;
        admin.close().await;
        done.map(|_| ())
    }

    /// A store on this database under a new master key.
    pub async fn store(&self) -> Store {
        self.store_with(&MasterKey::generate()).await
    }

    pub async fn store_with(&self, key: &MasterKey) -> Store {
        Store::open(&self.url, key).await.expect("the test store opens")
    }

    /// The SQLite file's folder (`None` on PostgreSQL).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(TempDir::path)
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL schema. A drop cannot await, and may run on a runtime that is
    /// shutting down: a thread with a runtime of its own does it. A schema still locked (a
    /// store left open in a transaction) is left rather than waited for.
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else { return };
        let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        let waiting_at_most_5s = format!("{POSTGRES}?options=-c%20lock_timeout%3D5000");
        let dropped = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(Self::try_on_admin(&waiting_at_most_5s, &statement)).ok()
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: the test schema {} was left in the database", self.url);
        }
    }
}

/// A store on a SQLite file, and the database that keeps the file (drop it last).
pub async fn sqlite_store() -> (Store, TestDb) {
    let db = TestDb::sqlite();
    (db.store().await, db)
}
