use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The addressed row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change collides with existing rows (unique keys, references).
    #[error("{0}")]
    Conflict(String),
    /// A row names a pod that does not exist (the pod id).
    #[error("pod {0} does not exist")]
    UnknownPod(String),
    /// A row names the top pod where only a bottom pod may be (the pod id).
    #[error("pod {0} is the top pod; a bottom pod is needed")]
    TopPod(String),
    /// What is stored cannot be read back (a bug or a hand-edited row).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A query the store cannot make (a bug in the caller).
    #[error("unsupported query: {0}")]
    Unsupported(String),
    /// The database URL of the configuration cannot be used.
    #[error("{0}")]
    BadUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether a database error is a unique-key violation: the signal that
    /// another request (maybe on another instance) won a race.
    pub fn is_unique_violation(err: &sqlx::Error) -> bool {
        err.as_database_error()
            .is_some_and(|e| e.is_unique_violation())
    }

    /// Turns a unique violation into a conflict with the given message, and
    /// passes other errors through.
    pub(crate) fn conflict_on_unique(err: sqlx::Error, message: impl Into<String>) -> StoreError {
        if Self::is_unique_violation(&err) {
            StoreError::Conflict(message.into())
        } else {
            StoreError::Database(err)
        }
    }
}
