//! Example-based tests of the file follower on real files.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use pflog::source::{FollowOptions, Position, SourceMsg, follow_file};
use tokio::sync::mpsc;
use tokio::time::timeout;

const POLL: Duration = Duration::from_millis(10);

fn opts() -> FollowOptions {
    FollowOptions {
        poll_interval: POLL,
        ..FollowOptions::default()
    }
}

fn append(path: &Path, data: &[u8]) {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// Everything received until `n` lines have arrived (messages other than lines included).
async fn collect(rx: &mut mpsc::Receiver<SourceMsg>, n: usize) -> (Vec<Vec<u8>>, Vec<SourceMsg>) {
    let mut lines = Vec::new();
    let mut msgs = Vec::new();
    while lines.len() < n {
        let msg = timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("timed out waiting for lines")
            .expect("follower stopped");
        if let SourceMsg::Lines { lines: l, .. } = &msg {
            lines.extend(l.iter().cloned());
        }
        msgs.push(msg);
    }
    (lines, msgs)
}

/// Nothing more arrives for a while.
async fn quiet(rx: &mut mpsc::Receiver<SourceMsg>) {
    if let Ok(msg) = timeout(POLL * 10, rx.recv()).await {
        panic!("unexpected {msg:?}");
    }
}

fn strs(lines: &[Vec<u8>]) -> Vec<String> {
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

#[tokio::test]
async fn missing_at_start_waits_then_reads_from_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(3, path.clone(), opts(), tx, None));
    let first = timeout(Duration::from_secs(5), rx.recv()).await.unwrap();
    assert_eq!(first, Some(SourceMsg::Waiting { source: 3 }));
    // Several polls without the file: still only one Waiting.
    quiet(&mut rx).await;
    append(&path, b"one\ntwo\n");
    let (lines, msgs) = collect(&mut rx, 2).await;
    assert_eq!(strs(&lines), ["one", "two"]);
    assert!(
        msgs.iter()
            .all(|m| matches!(m, SourceMsg::Lines { source: 3, .. }))
    );
}

#[tokio::test]
async fn starts_at_end_by_default_and_skips_the_partial_line_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, b"old1\nold2\npart");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, path.clone(), opts(), tx, None));
    tokio::time::sleep(POLL * 5).await;
    append(&path, b"ial\nnew1\nne");
    tokio::time::sleep(POLL * 3).await;
    append(&path, b"w2\n");
    let (lines, _) = collect(&mut rx, 2).await;
    assert_eq!(strs(&lines), ["new1", "new2"]);
    quiet(&mut rx).await;
}

#[tokio::test]
async fn from_start_reads_what_is_there_in_few_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let mut data = Vec::new();
    for i in 0..10_000 {
        writeln!(data, "line {i}").unwrap();
    }
    append(&path, &data);
    let (tx, mut rx) = mpsc::channel(64);
    let o = FollowOptions {
        from_start: true,
        ..opts()
    };
    tokio::spawn(follow_file(0, path.clone(), o, tx, None));
    let (lines, msgs) = collect(&mut rx, 10_000).await;
    assert_eq!(lines.len(), 10_000);
    assert_eq!(lines[9_999], b"line 9999");
    // ~109 KB at 256 KiB a read: one message.
    assert_eq!(msgs.len(), 1, "batched per read");
}

#[tokio::test]
async fn a_1mb_line_is_cut_and_does_not_stall_the_next_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let (tx, mut rx) = mpsc::channel(64);
    append(&path, b"");
    tokio::spawn(follow_file(0, path.clone(), opts(), tx, None));
    tokio::time::sleep(POLL * 3).await;
    let mut big = vec![b'x'; 1 << 20];
    big[0] = b'B';
    append(&path, b"before\n");
    // Written in pieces, as a writer might.
    for piece in big.chunks(100_000) {
        append(&path, piece);
    }
    append(&path, b"\nafter\n");
    let (lines, msgs) = collect(&mut rx, 3).await;
    assert_eq!(lines[0], b"before");
    assert_eq!(lines[1].len(), 64 * 1024);
    assert_eq!(lines[1][..], big[..64 * 1024]);
    assert_eq!(lines[2], b"after");
    let too_long = msgs
        .iter()
        .filter(|m| matches!(m, SourceMsg::LineTooLong { .. }))
        .count();
    assert_eq!(too_long, 1);
    quiet(&mut rx).await;
}

#[tokio::test]
async fn a_1mb_line_passes_whole_under_a_larger_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let mut big = vec![b'y'; 1 << 20];
    big.push(b'\n');
    big.extend_from_slice(b"after\n");
    append(&path, &big);
    let (tx, mut rx) = mpsc::channel(64);
    let o = FollowOptions {
        from_start: true,
        max_line: 2 << 20,
        ..opts()
    };
    tokio::spawn(follow_file(0, path.clone(), o, tx, None));
    let (lines, msgs) = collect(&mut rx, 2).await;
    assert_eq!(lines[0].len(), 1 << 20);
    assert_eq!(lines[1], b"after");
    assert!(
        !msgs
            .iter()
            .any(|m| matches!(m, SourceMsg::LineTooLong { .. }))
    );
}

#[tokio::test]
async fn nul_and_invalid_utf8_pass_through_as_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, b"a\0b\n\xff\xfe\xc3(\r\n\n");
    let (tx, mut rx) = mpsc::channel(64);
    let o = FollowOptions {
        from_start: true,
        ..opts()
    };
    tokio::spawn(follow_file(0, path.clone(), o, tx, None));
    let (lines, _) = collect(&mut rx, 3).await;
    assert_eq!(
        lines,
        vec![b"a\0b".to_vec(), b"\xff\xfe\xc3(\r".to_vec(), Vec::new()]
    );
}

#[tokio::test]
async fn resumes_at_a_saved_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, b"one\ntwo\npar");
    let o = FollowOptions {
        from_start: true,
        ..opts()
    };
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(follow_file(0, path.clone(), o.clone(), tx, None));
    let (_, msgs) = collect(&mut rx, 2).await;
    let Some(SourceMsg::Lines {
        position: Some(pos),
        ..
    }) = msgs.last().cloned()
    else {
        panic!("no position in {msgs:?}")
    };
    // Just past "two\n": the partial line is not delivered yet.
    assert_eq!(pos.offset, 8);
    task.abort();
    // The thread notices the abort and drops its sender.
    assert_eq!(
        timeout(Duration::from_secs(5), rx.recv()).await.unwrap(),
        None
    );

    append(&path, b"t\nfour\n");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, path.clone(), o.clone(), tx, Some(pos)));
    let (lines, _) = collect(&mut rx, 2).await;
    assert_eq!(strs(&lines), ["part", "four"]);

    // A position in another file (rotated while we were away): the new file from its start.
    let other = Position {
        inode: pos.inode + 1,
        ..pos
    };
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, path.clone(), opts(), tx, Some(other)));
    let (lines, _) = collect(&mut rx, 4).await;
    assert_eq!(strs(&lines), ["one", "two", "part", "four"]);
}

#[tokio::test]
async fn rename_rotation_reads_the_old_file_to_its_end_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let old = dir.path().join("mail.log.1");
    append(&path, b"");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, path.clone(), opts(), tx, None));
    tokio::time::sleep(POLL * 3).await;
    let mut writer = OpenOptions::new().append(true).open(&path).unwrap();
    writer.write_all(b"a\n").unwrap();
    std::fs::rename(&path, &old).unwrap();
    // logrotate's `create`: the new file exists before the writer reopens.
    append(&path, b"");
    // Let the follower switch to the new (empty) file ...
    let mut seen = Vec::new();
    let rotated = timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Some(SourceMsg::Rotated { .. }) => break,
                Some(SourceMsg::Lines { lines, .. }) => seen.extend(lines),
                Some(other) => panic!("unexpected {other:?}"),
                None => panic!("stopped"),
            }
        }
    })
    .await;
    assert!(rotated.is_ok(), "rotation noticed");
    // ... while the writer still writes to the renamed file, then reopens.
    writer.write_all(b"b\nc").unwrap();
    tokio::time::sleep(POLL * 3).await;
    writer.write_all(b"\n").unwrap();
    let mut writer = OpenOptions::new().append(true).open(&path).unwrap();
    writer.write_all(b"d\n").unwrap();
    let (lines, _) = collect(&mut rx, 4 - seen.len()).await;
    seen.extend(lines);
    assert_eq!(strs(&seen), ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn a_file_renamed_back_is_read_on_not_again() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("mail.log");
    let b = dir.path().join("mail.log.1");
    append(&a, b"");
    let o = FollowOptions {
        rotate_grace: Duration::from_millis(100),
        ..opts()
    };
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, a.clone(), o, tx, None));
    tokio::time::sleep(POLL * 3).await;
    append(&a, b"1\n");
    std::fs::rename(&a, &b).unwrap();
    append(&a, b"");
    // Until the follower has switched to the new file.
    let mut lines = Vec::new();
    loop {
        match timeout(Duration::from_secs(5), rx.recv()).await.unwrap() {
            Some(SourceMsg::Rotated { .. }) => break,
            Some(SourceMsg::Lines { lines: l, .. }) => lines.extend(l),
            other => panic!("unexpected {other:?}"),
        }
    }
    append(&b, b"2\n");
    std::fs::remove_file(&a).unwrap();
    std::fs::rename(&b, &a).unwrap();
    tokio::time::sleep(POLL * 5).await;
    append(&a, b"3\n");
    let (l, _) = collect(&mut rx, 3 - lines.len()).await;
    lines.extend(l);
    assert_eq!(strs(&lines), ["1", "2", "3"]);
    // Well past the grace period of the file that was briefly at the path.
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(&a, b"4\n");
    let (l, _) = collect(&mut rx, 1).await;
    assert_eq!(strs(&l), ["4"]);
    quiet(&mut rx).await;
}

/// A saved position in a file that was rotated while nobody followed it: its unread tail is
/// read from the rotated file beside it (renamed with a date suffix here; compressed rotations
/// are ignored), then the new file from its start. A copy (copytruncate) is recognised by the
/// bytes before the offset, also when the truncated file grew past the offset again.
#[tokio::test]
async fn resume_finds_the_file_rotated_while_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, b"one\ntwo\n");
    let o = FollowOptions {
        from_start: true,
        ..opts()
    };
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(follow_file(0, path.clone(), o.clone(), tx, None));
    let (_, msgs) = collect(&mut rx, 2).await;
    let Some(SourceMsg::Lines {
        position: Some(pos),
        ..
    }) = msgs.last().cloned()
    else {
        panic!("no position in {msgs:?}")
    };
    assert_eq!((pos.offset, pos.tail.as_bytes()), (8, &b"one\ntwo\n"[..]));
    task.abort();
    assert_eq!(
        timeout(Duration::from_secs(5), rx.recv()).await.unwrap(),
        None
    );

    // Renamed away with dateext, a decoy compressed file beside it, a new file.
    append(&path, b"three\n");
    std::fs::rename(&path, dir.path().join("mail.log-20261124")).unwrap();
    std::fs::write(dir.path().join("mail.log.2.gz"), b"one\ntwo\nnot this\n").unwrap();
    append(&path, b"four\n");
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(follow_file(0, path.clone(), o.clone(), tx, Some(pos)));
    let (lines, _) = collect(&mut rx, 2).await;
    assert_eq!(strs(&lines), ["three", "four"]);
    quiet(&mut rx).await;
    task.abort();

    // Copytruncate: copied, truncated, and grown past the old offset again.
    let path = dir.path().join("other.log");
    append(&path, b"alpha\nbeta\n");
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(follow_file(0, path.clone(), o.clone(), tx, None));
    let (_, msgs) = collect(&mut rx, 2).await;
    let Some(SourceMsg::Lines {
        position: Some(pos),
        ..
    }) = msgs.last().cloned()
    else {
        panic!("no position in {msgs:?}")
    };
    task.abort();
    assert_eq!(
        timeout(Duration::from_secs(5), rx.recv()).await.unwrap(),
        None
    );
    append(&path, b"gamma\n");
    std::fs::copy(&path, dir.path().join("other.log.1")).unwrap();
    std::fs::write(&path, b"").unwrap();
    append(&path, b"delta-is-longer\nepsilon\n");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, path.clone(), o, tx, Some(pos)));
    let (lines, _) = collect(&mut rx, 3).await;
    assert_eq!(strs(&lines), ["gamma", "delta-is-longer", "epsilon"]);
    quiet(&mut rx).await;
}

/// The position taken at startup (`initial_position`) is where reading begins: the end of the
/// file, and a line that was half written there is skipped as a whole (its rest is not a line);
/// a file not there yet is read from its start when it appears.
#[tokio::test]
async fn the_initial_position_is_the_end_and_skips_a_half_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, b"old1\nhal");
    let pos = pflog::source::file::initial_position(&path, false).unwrap();
    assert_eq!(pos.offset, 8);
    append(&path, b"f\nnew1\n");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, path.clone(), opts(), tx, Some(pos)));
    let (lines, _) = collect(&mut rx, 1).await;
    assert_eq!(strs(&lines), ["new1"]);
    quiet(&mut rx).await;

    let later = dir.path().join("later.log");
    let pos = pflog::source::file::initial_position(&later, false).unwrap();
    assert_eq!(pos, Position::ABSENT);
    append(&later, b"first\n");
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(follow_file(0, later.clone(), opts(), tx, Some(pos)));
    let (lines, _) = collect(&mut rx, 1).await;
    assert_eq!(strs(&lines), ["first"]);
}
