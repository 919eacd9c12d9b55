//! Every finding one by one (`--each`) without holding them: each batch of objects writes its findings to a
//! temporary file as JSON lines, one chunk per CRD, and the report reads them back chunk by chunk, by CRD and
//! then in the order the objects were read, whichever worker finished first. Memory holds one chunk.

use crate::findings::ObjectFinding;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, PoisonError};

/// Where one batch's findings of one CRD are in the file.
#[derive(Debug, Clone)]
struct Chunk {
    crd: Option<String>,
    /// The batch's place in the input.
    sequence: u64,
    offset: u64,
    len: usize,
}

#[derive(Debug)]
struct Written {
    file: File,
    end: u64,
    chunks: Vec<Chunk>,
}

/// Every finding of a validation, in a temporary file (deleted when the spool is dropped).
#[derive(Debug)]
pub struct FindingSpool {
    written: Mutex<Written>,
}

/// One batch's findings, serialized per CRD, before they are written.
#[derive(Debug, Default)]
pub struct SpoolBatch {
    chunks: BTreeMap<Option<String>, Vec<u8>>,
}

impl SpoolBatch {
    /// Adds a finding.
    pub fn push(&mut self, finding: &ObjectFinding) {
        let buffer = self.chunks.entry(finding.key.crd.clone()).or_default();
        // A finding is plain data: serializing it into memory cannot fail.
        let _ = serde_json::to_writer(&mut *buffer, finding);
        buffer.push(b'\n');
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

impl FindingSpool {
    /// An empty spool in a new temporary file.
    pub fn new() -> io::Result<FindingSpool> {
        let file = tempfile::tempfile()?;
        Ok(FindingSpool { written: Mutex::new(Written { file, end: 0, chunks: Vec::new() }) })
    }

    /// Writes one batch's findings; `sequence` is the batch's place in the input.
    pub fn write(&self, sequence: u64, batch: SpoolBatch) -> io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        for (crd, bytes) in batch.chunks {
            let offset = written.end;
            written.file.write_all_at(&bytes, offset)?;
            written.end += bytes.len() as u64;
            written.chunks.push(Chunk { crd, sequence, offset, len: bytes.len() });
        }
        written.file.flush()
    }

    /// Every finding, by CRD (objects no CRD defines last) and then in input order.
    pub fn findings(&self) -> impl Iterator<Item = io::Result<ObjectFinding>> + '_ {
        let mut chunks = self.written.lock().unwrap_or_else(PoisonError::into_inner).chunks.clone();
        chunks.sort_by(|a, b| (a.crd.is_none(), &a.crd, a.sequence).cmp(&(b.crd.is_none(), &b.crd, b.sequence)));
        chunks.into_iter().flat_map(move |chunk| match self.read(&chunk) {
            Ok(findings) => findings.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(error) => vec![Err(error)],
        })
    }

    fn read(&self, chunk: &Chunk) -> io::Result<Vec<ObjectFinding>> {
        let mut bytes = vec![0; chunk.len];
        self.written.lock().unwrap_or_else(PoisonError::into_inner).file.read_exact_at(&mut bytes, chunk.offset)?;
        serde_json::Deserializer::from_slice(&bytes)
            .into_iter::<ObjectFinding>()
            .map(|finding| finding.map_err(io::Error::other))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{FindingCode, ObjectRef};
    use serde_json::json;

    #[test]
    fn findings_come_back_by_crd_then_in_input_order() {
        let finding = |crd: Option<&str>, name: &str| {
            let object = ObjectRef::of(&json!({"apiVersion": "a.io/v1", "kind": "K", "metadata": {"name": name}}));
            let finding = ObjectFinding::new(FindingCode::DataPruned, object, ".spec.x", "m").with_value(json!(1));
            match crd {
                Some(crd) => finding.against(crd, Some("v1")),
                None => finding,
            }
        };
        let spool = FindingSpool::new().unwrap();
        let batch = |findings: &[ObjectFinding]| {
            let mut batch = SpoolBatch::default();
            findings.iter().for_each(|f| batch.push(f));
            batch
        };
        // The second batch is written first, as a faster worker would.
        spool.write(1, batch(&[finding(Some("b"), "3"), finding(None, "4")])).unwrap();
        spool.write(0, batch(&[finding(Some("b"), "1"), finding(Some("a"), "2")])).unwrap();
        let names: Vec<String> = spool.findings().map(|f| f.unwrap().object.name).collect();
        assert_eq!(names, ["2", "1", "3", "4"]);
        let first = spool.findings().next().unwrap().unwrap();
        assert_eq!(first, finding(Some("a"), "2"));
    }
}
