//! Reading the files the tool is given (plan, fleet, evidence, scenario and Job files, release manifests) so
//! that no input can hang the process or exhaust its memory: only regular files are read (a FIFO blocks its
//! reader forever and `/dev/zero` never ends), the small documents only up to a cap (a YAML parser holds
//! every event of a document at once: a 50 MB file of one huge list took 3.7 GB), and the text must be UTF-8,
//! the first bad byte named by its line.

use std::fs::{File, FileType};
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The most a plan, fleet, scenario or Job file may hold: a thousand times a large plan, and small enough
/// that parsing the worst YAML of this size (one huge list) stays within a few hundred MB.
pub const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

/// Why an input file was not read. Every variant names the file; the OS error is part of the message rather
/// than a `source`, so an error chain printed whole (`{:#}`) says it once.
#[derive(Debug, Error)]
pub enum InputError {
    /// The file could not be opened or read (missing, no permission).
    #[error("{}: cannot read the {what}: {cause}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// What the file is for (`plan file`).
        what: &'static str,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The path is a directory, a FIFO, a device or a socket: refused before it is opened.
    #[error("{}: the {what} is {found}, not a regular file", file.display())]
    NotAFile {
        /// The file.
        file: PathBuf,
        /// What the file is for.
        what: &'static str,
        /// What the path is instead (`a FIFO (named pipe)`).
        found: &'static str,
    },
    /// The file holds more than its kind may.
    #[error("{}: the {what} {}, over the {cap} bytes ({} MiB) it may hold", file.display(), size_text(*.size), cap >> 20)]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// What the file is for.
        what: &'static str,
        /// Its size in bytes; None when it grew past the cap while it was read.
        size: Option<u64>,
        /// The most it may hold.
        cap: u64,
    },
    /// The file is not UTF-8 text.
    #[error("{}:{line}:{column}: the {what} is not UTF-8 text (line {line}, column {column} holds a byte that is not UTF-8)", file.display())]
    NotUtf8 {
        /// The file.
        file: PathBuf,
        /// What the file is for.
        what: &'static str,
        /// The 1-based line of the first byte that is not UTF-8.
        line: usize,
        /// Its 1-based column, in characters.
        column: usize,
    },
}

fn size_text(size: Option<u64>) -> String {
    match size {
        Some(size) => format!("is {size} bytes"),
        None => "grew while it was read".to_owned(),
    }
}

/// Reads the regular file at `path` as UTF-8 text: anything else (a directory, FIFO, device or socket) is
/// refused before it is opened, and with a `cap`, a file of more bytes is refused without reading it whole.
/// `what` names the file's purpose in messages (`plan file`).
pub fn read_text(path: &Path, what: &'static str, cap: Option<u64>) -> Result<String, InputError> {
    let io = |cause| InputError::Io { file: path.to_owned(), what, cause };
    let too_large = |size| InputError::TooLarge { file: path.to_owned(), what, size, cap: cap.unwrap_or(0) };
    let (file, size) = open_regular(path, what)?;
    if cap.is_some_and(|cap| size > cap) {
        return Err(too_large(Some(size)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    match cap {
        // One byte more than the cap tells a file that grew (or whose size lied) from one that fits.
        Some(cap) => file.take(cap.saturating_add(1)).read_to_end(&mut bytes),
        None => (&file).read_to_end(&mut bytes),
    }
    .map_err(io)?;
    if cap.is_some_and(|cap| bytes.len() as u64 > cap) {
        return Err(too_large(None));
    }
    String::from_utf8(bytes).map_err(|error| {
        let (line, column) = position_of(error.as_bytes(), error.utf8_error().valid_up_to());
        InputError::NotUtf8 { file: path.to_owned(), what, line, column }
    })
}

/// Opens the regular file at `path` for reading, with its size: anything else (a directory, FIFO, device or
/// socket) is refused before it is opened. For readers that stream a file of any size; [`read_text`] reads one
/// whole.
pub fn open_regular(path: &Path, what: &'static str) -> Result<(File, u64), InputError> {
    let io = |cause| InputError::Io { file: path.to_owned(), what, cause };
    // The path's type is checked before opening: opening a FIFO for reading blocks until a writer comes.
    refuse_unless_regular(path, what, std::fs::metadata(path).map_err(io)?.file_type())?;
    let file = File::open(path).map_err(io)?;
    // What was opened is what is read: the path may name something else by now.
    let metadata = file.metadata().map_err(io)?;
    refuse_unless_regular(path, what, metadata.file_type())?;
    Ok((file, metadata.len()))
}

fn refuse_unless_regular(path: &Path, what: &'static str, file_type: FileType) -> Result<(), InputError> {
    match describe(file_type) {
        None => Ok(()),
        Some(found) => Err(InputError::NotAFile { file: path.to_owned(), what, found }),
    }
}

/// What a file that is not a regular file is, in words; None for a regular file.
fn describe(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if file_type.is_char_device() {
            return Some("a character device");
        }
        if file_type.is_block_device() {
            return Some("a block device");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// The 1-based line and column (in characters) of byte `offset`, all of whose preceding bytes are UTF-8.
fn position_of(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + std::str::from_utf8(&before[line_start..]).map_or(0, |text| text.chars().count());
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.yaml");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn a_regular_file_within_the_cap_reads_whole() {
        let (_dir, path) = write(b"a: 1\n");
        assert_eq!(read_text(&path, "plan file", Some(5)).unwrap(), "a: 1\n");
        assert_eq!(read_text(&path, "release manifest", None).unwrap(), "a: 1\n");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_with_its_size() {
        let (_dir, path) = write(b"a: 12\n");
        let error = read_text(&path, "plan file", Some(5)).unwrap_err();
        assert!(matches!(error, InputError::TooLarge { size: Some(6), cap: 5, .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("input.yaml: the plan file is 6 bytes, over the 5 bytes"), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_whose_size_lies_is_still_read_only_up_to_the_cap() {
        // procfs files say they are empty and hold more.
        let error = read_text(Path::new("/proc/self/maps"), "plan file", Some(10)).unwrap_err();
        assert!(matches!(error, InputError::TooLarge { size: None, cap: 10, .. }), "{error:?}");
        assert!(error.to_string().contains("the plan file grew while it was read, over the 10 bytes"), "{error}");
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_text(dir.path(), "fleet file", Some(5)).unwrap_err().to_string();
        assert!(error.ends_with("the fleet file is a directory, not a regular file"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_before_it_is_read() {
        let error = read_text(Path::new("/dev/zero"), "scenario file", None).unwrap_err().to_string();
        assert_eq!(error, "/dev/zero: the scenario file is a character device, not a regular file");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.yaml");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(read_text(&path, "plan file", Some(5)).map_err(|e| e.to_string())));
        let result = receiver.recv_timeout(std::time::Duration::from_secs(10)).expect("no wait for a writer");
        let error = result.unwrap_err();
        assert!(error.ends_with("plan.yaml: the plan file is a FIFO (named pipe), not a regular file"), "{error}");
    }

    #[test]
    fn text_that_is_not_utf8_names_the_line_and_column_of_the_first_bad_byte() {
        let (_dir, path) = write(b"a: 1\nb: \xc3\xa9\xff\n");
        let error = read_text(&path, "plan file", None).unwrap_err();
        assert!(matches!(error, InputError::NotUtf8 { line: 2, column: 5, .. }), "{error:?}");
        assert!(error.to_string().contains("input.yaml:2:5: the plan file is not UTF-8 text"), "{error}");
    }

    #[test]
    fn a_missing_file_says_the_os_error_once() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_text(&dir.path().join("missing.yaml"), "plan file", None).unwrap_err();
        assert!(std::error::Error::source(&error).is_none(), "the OS error is in the message, not a source too");
        let chained = format!("{:#}", anyhow::Error::from(error));
        assert_eq!(chained.matches("os error 2").count(), 1, "{chained}");
        assert!(chained.contains("missing.yaml: cannot read the plan file: "), "{chained}");
    }
}
