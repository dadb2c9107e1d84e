//! Storage errors. Anything the disk decides surfaces here, never as a panic.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("column family {0} missing")]
    MissingColumnFamily(&'static str),
}

pub type StorageResult<T> = Result<T, StorageError>;
