//! A partition log's file, for nodes that run as their own processes or containers: a broker
//! killed and started again must come back with the records it had, as a Kafka broker does
//! from its log directory, or the experiments about stale replicas would lose more than Kafka
//! loses. (The embedded cluster keeps logs in memory across a broker restart instead.)
//!
//! The directory of one partition holds `log`, the record batches back to back exactly as
//! they are served, and `start`, the log start offset when it is not the first batch's. Each
//! append is one `write` without `fsync`, as Kafka's default: a killed process loses nothing
//! the kernel has, a crashed machine may (the sandbox never crashes machines). Truncation,
//! DeleteRecords and a full restart of the log rewrite the file (they are rare).
//! A torn batch at the end (a write cut short) is cut off when the log is read back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::protocol::records::{parse_header, BatchHeader};

/// Bytes before a batch's length field, and the field itself: a v2 batch is
/// `baseOffset int64, batchLength int32` followed by `batchLength` bytes.
const LENGTH_END: usize = 12;

/// An open log file of one partition.
#[derive(Debug)]
pub(crate) struct LogFile {
    dir: PathBuf,
    file: File,
}

/// What a log file held.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// The log start offset (the first batch's base offset unless `start` says otherwise).
    pub log_start: Option<i64>,
    /// The batches, in order.
    pub batches: Vec<(BatchHeader, Bytes)>,
}

impl LogFile {
    /// Opens (creating if need be) the log in `dir` and reads back what it holds.
    pub(crate) fn open(dir: &Path) -> std::io::Result<(Self, Recovered)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("log");
        let mut raw = Vec::new();
        if let Ok(mut existing) = File::open(&path) {
            existing.read_to_end(&mut raw)?;
        }
        let (batches, good) = split(&raw);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if good < raw.len() {
            tracing::warn!(
                "{}: cutting off a torn batch at byte {good} of {}",
                path.display(),
                raw.len()
            );
            file.set_len(good as u64)?;
        }
        let log_start = std::fs::read_to_string(dir.join("start"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Ok((
            Self {
                dir: dir.to_path_buf(),
                file,
            },
            Recovered { log_start, batches },
        ))
    }

    /// Appends one batch.
    pub(crate) fn append(&mut self, batch: &[u8]) {
        if let Err(e) = self.file.write_all(batch) {
            tracing::error!("{}: cannot append to the log: {e}", self.dir.display());
        }
    }

    /// Replaces the file's content with `batches` and records `log_start`.
    pub(crate) fn rewrite<'a>(&mut self, log_start: i64, batches: impl Iterator<Item = &'a [u8]>) {
        if let Err(e) = self.try_rewrite(log_start, batches) {
            tracing::error!("{}: cannot rewrite the log: {e}", self.dir.display());
        }
    }

    fn try_rewrite<'a>(
        &mut self,
        log_start: i64,
        batches: impl Iterator<Item = &'a [u8]>,
    ) -> std::io::Result<()> {
        let fresh = self.dir.join("log.new");
        let mut out = std::io::BufWriter::new(File::create(&fresh)?);
        for batch in batches {
            out.write_all(batch)?;
        }
        out.into_inner().map_err(|e| e.into_error())?;
        std::fs::write(self.dir.join("start"), log_start.to_string())?;
        let path = self.dir.join("log");
        std::fs::rename(&fresh, &path)?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        Ok(())
    }
}

/// The whole batches at the front of `raw`, and how many bytes they take.
fn split(raw: &[u8]) -> (Vec<(BatchHeader, Bytes)>, usize) {
    let mut batches = Vec::new();
    let mut at = 0;
    while raw.len() - at >= LENGTH_END {
        let length = i32::from_be_bytes([raw[at + 8], raw[at + 9], raw[at + 10], raw[at + 11]]);
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        let end = at + LENGTH_END + length;
        if end > raw.len() {
            break;
        }
        let Ok(header) = parse_header(&raw[at..end]) else {
            break;
        };
        batches.push((header, Bytes::copy_from_slice(&raw[at..end])));
        at = end;
    }
    (batches, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::tests::batch_of;

    #[test]
    fn batches_come_back_and_a_torn_tail_is_cut_off() {
        let dir = std::env::temp_dir().join(format!("ksb-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut file, recovered) = LogFile::open(&dir).unwrap();
        assert!(recovered.batches.is_empty() && recovered.log_start.is_none());
        let a = batch_of(&["a"]);
        let b = batch_of(&["b", "c"]);
        file.append(&a);
        file.append(&b);
        // A write cut short: half a batch.
        file.append(&b[..b.len() / 2]);
        drop(file);

        let (mut file, recovered) = LogFile::open(&dir).unwrap();
        let back: Vec<&Bytes> = recovered.batches.iter().map(|(_, bytes)| bytes).collect();
        assert_eq!(back, [&a, &b]);
        assert_eq!(
            std::fs::metadata(dir.join("log")).unwrap().len(),
            (a.len() + b.len()) as u64,
            "the torn tail is gone from the file too"
        );
        file.rewrite(7, [&b[..]].into_iter());
        file.append(&a);
        drop(file);

        let (_, recovered) = LogFile::open(&dir).unwrap();
        assert_eq!(recovered.log_start, Some(7));
        let back: Vec<&Bytes> = recovered.batches.iter().map(|(_, bytes)| bytes).collect();
        assert_eq!(back, [&b, &a]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
