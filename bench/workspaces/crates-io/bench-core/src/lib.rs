//! Records, their (de)serialization and a few statistics over them.
use bench_derive::Describe;
use itertools::Itertools;
use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

include!(concat!(env!("OUT_DIR"), "/squares.rs"));

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("no records")]
    Empty,
    #[error("bad record: {0}")]
    Parse(#[from] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Describe)]
pub struct Record {
    pub name: String,
    pub score: u64,
    pub tags: Vec<String>,
}

static DEFAULT_TAGS: Lazy<Vec<String>> = Lazy::new(|| vec!["bench".to_string()]);

pub fn record(name: &str, score: u64) -> Record {
    Record { name: name.to_string(), score, tags: DEFAULT_TAGS.clone() }
}

pub fn parse_records(json: &str) -> Result<Vec<Record>, CoreError> {
    let records: Vec<Record> = serde_json::from_str(json)?;
    if records.is_empty() {
        return Err(CoreError::Empty);
    }
    log::debug!("parsed {} records", records.len());
    Ok(records)
}

pub fn summary(records: &[Record]) -> anyhow::Result<String> {
    let best = records.iter().max_by_key(|r| r.score).ok_or(CoreError::Empty)?;
    let names = records.iter().map(|r| r.name.as_str()).sorted().dedup().join(",");
    let square = SQUARES[(best.score % 64) as usize];
    Ok(format!("best={} names={} square={} {}", best.name, names, square, Record::describe()))
}

/// Seconds since the epoch, through chrono so the workspace compiles it.
pub fn now_epoch_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}
