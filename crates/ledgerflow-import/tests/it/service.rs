//! The import service against real stores (SQLite, and PostgreSQL where the machine has it):
//! what the two-pass streaming import promises beyond the parsers.

use std::path::Path;
use std::sync::Arc;

use ledgerflow_core::Store;
use ledgerflow_core::model::Account;
use ledgerflow_import::service::{
    ImportError, ImportOptions, Progress, Quiet, ReadError, Source, import_file,
};

use crate::helpers::{
    actor, assert_nothing_written, checking, import_default, import_path, on_each_store,
    twice_opened, wf_csv_file,
};

/// Appends a row to the file when a phase starts: the file changes under the import.
struct ChangeFileAt {
    phase: &'static str,
    path: std::path::PathBuf,
}

impl Progress for ChangeFileAt {
    fn phase(&self, label: &'static str, _total: u64) {
        if label == self.phase {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .expect("open for append");
            f.write_all(ledgerflow_test_support::wf_row(999_999).as_bytes())
                .expect("append");
        }
    }
}

/// Imports `path`, appending a row to it when the rows are being written: refused.
async fn refused_when_changed_while_importing(s: &dyn Store, account: &Account, path: &Path) {
    let err = import_path(
        s,
        account,
        path,
        Arc::new(ChangeFileAt {
            phase: "importing",
            path: path.to_path_buf(),
        }),
    )
    .await
    .expect_err("a changed file is refused");
    assert!(
        err.to_string()
            .contains("changed while it was being imported"),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_that_changes_during_the_import_imports_nothing() {
    on_each_store(async |s, account| {
        let (_dir, path) = wf_csv_file(2_000);
        // Into an account without history (one pass): changed while the rows are written.
        refused_when_changed_while_importing(s, &account, &path).await;
        assert_eq!(s.counts().await.expect("counts").transactions, 0);
        assert!(s.list_imports().await.expect("imports").is_empty());

        // With history (two passes): changed between deciding and writing.
        ledgerflow_test_support::write_wf_csv(&path, 0, 2_000).expect("write");
        let first = import_path(s, &account, &path, Arc::new(Quiet))
            .await
            .expect("import");
        assert_eq!(first.new, 2_000);
        ledgerflow_test_support::write_wf_csv(&path, 1_000, 3_000).expect("write");
        refused_when_changed_while_importing(s, &account, &path).await;
        assert_eq!(s.counts().await.expect("counts").transactions, 2_000);
        assert_eq!(s.list_imports().await.expect("imports").len(), 1);

        // Unchanged, the overlapping export adds exactly its new half.
        ledgerflow_test_support::write_wf_csv(&path, 1_000, 3_000).expect("write");
        let second = import_path(s, &account, &path, Arc::new(Quiet))
            .await
            .expect("import");
        assert_eq!((second.new, second.duplicates), (1_000, 1_000));
        assert_eq!(s.counts().await.expect("counts").transactions, 3_000);
        let report = ledgerflow_core::service::verify_journal(s)
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
    })
    .await;
}

#[tokio::test]
async fn a_bad_row_late_in_a_large_file_imports_nothing_and_is_named() {
    on_each_store(async |s, account| {
        let (_dir, path) = wf_csv_file(40_000);
        // Row 39,991 of 40,001 gets an impossible date; two chunks were already sent by then.
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.insert(
            39_990,
            "\"02/30/2024\",\"-1.00\",\"*\",\"\",\"BAD DATE\"".into(),
        );
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        let err = import_path(s, &account, &path, Arc::new(Quiet))
            .await
            .expect_err("refused");
        let msg = err.to_string();
        assert!(
            msg.contains("line 39991") && msg.contains("02/30/2024"),
            "{msg}"
        );
        assert_eq!(s.counts().await.expect("counts").transactions, 0);
        assert!(s.list_imports().await.expect("imports").is_empty());
        // --skip-invalid imports the others and says which one it skipped.
        let summary = import_file(
            s,
            &actor(),
            &account,
            "wf.csv",
            Source::Path(path.clone()),
            &ImportOptions {
                skip_invalid: true,
                ..ImportOptions::default()
            },
            Arc::new(Quiet),
        )
        .await
        .expect("skip invalid");
        assert_eq!((summary.new, summary.skipped), (40_000, 1));
        assert!(
            summary.skipped_rows[0].contains("line 39991"),
            "{:?}",
            summary.skipped_rows
        );
        let batch = s
            .get_import(summary.batch_id.expect("batch"))
            .await
            .expect("batch");
        assert_eq!(
            (batch.rows_read, batch.rows_new, batch.rows_skipped),
            (40_001, 40_000, 1)
        );
    })
    .await;
}

#[tokio::test]
async fn a_csv_that_is_not_utf8_is_decoded_whole_and_imported() {
    on_each_store(async |s, account| {
        // Windows-1252: é is one byte, 0xE9. Valid WF shape otherwise.
        let mut bytes = b"\"01/02/2024\",\"-4.50\",\"*\",\"\",\"CAF".to_vec();
        bytes.push(0xE9);
        bytes.extend_from_slice(b" NOIR\"\n\"01/03/2024\",\"-2.00\",\"*\",\"\",\"BAKERY\"\n");
        let summary = import_default(s, &account, "latin.csv", &bytes)
            .await
            .expect("imports");
        assert_eq!(summary.new, 2);
        assert!(
            summary.warnings.iter().any(|w| w.contains("Windows-1252")),
            "{:?}",
            summary.warnings
        );
        let page = s
            .list_transactions(&ledgerflow_core::model::TxFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        assert!(
            page.items.iter().any(|t| t.payee == "CAFé NOIR"),
            "{:?}",
            page.items
        );
    })
    .await;
}

#[tokio::test]
async fn a_file_that_cannot_be_read_is_an_io_error_with_its_cause_not_bad_input() {
    on_each_store(async |s, account| {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("gone.csv");
        let err = import_path(s, &account, &missing, Arc::new(Quiet))
            .await
            .expect_err("refused");
        assert!(!err.is_bad_input(), "{err}");
        match &err {
            ImportError::Io {
                source: ReadError::Os(io),
                ..
            } => assert_eq!(io.kind(), std::io::ErrorKind::NotFound),
            other => panic!("an I/O error with its cause: {other:?}"),
        }
        assert!(
            std::error::Error::source(&err).is_some(),
            "the cause is kept"
        );
        // Bad input stays bad input.
        let err = import_default(
            s,
            &account,
            "bad.csv",
            b"\"13/45/2024\",\"-1.00\",\"*\",\"\",\"BAD\"\n",
        )
        .await
        .expect_err("refused");
        assert!(err.is_bad_input(), "{err}");
        assert_nothing_written(s).await;
    })
    .await;
}

/// Two imports into one account at once, by two handles on the store (the CLI and the server):
/// a long statement and a short one that repeats its first rows. They take turns, so the second
/// finds the first's rows: each row is in the account once, whichever finished first. Without
/// the turns both found the account without those rows and added them twice.
#[tokio::test]
async fn two_imports_at_once_into_one_account_add_each_row_once() {
    const LONG: u64 = 20_000;
    const SHORT: u64 = 1_000;
    let files = tempfile::tempdir().expect("tempdir");
    let (long, short) = (
        files.path().join("long.csv"),
        files.path().join("short.csv"),
    );
    ledgerflow_test_support::write_wf_csv(&long, 0, LONG).expect("long");
    ledgerflow_test_support::write_wf_csv(&short, 0, SHORT).expect("short");
    for (a, b, _dir) in twice_opened().await {
        let account = checking(a.as_ref()).await;
        let (x, y) = tokio::join!(
            import_path(a.as_ref(), &account, &long, Arc::new(Quiet)),
            import_path(b.as_ref(), &account, &short, Arc::new(Quiet)),
        );
        let (x, y) = (x.expect("long"), y.expect("short"));
        assert_eq!(
            x.new + y.new,
            LONG as usize,
            "long: {} new, {} duplicates; short: {} new, {} duplicates",
            x.new,
            x.duplicates,
            y.new,
            y.duplicates
        );
        assert_eq!(x.new + x.duplicates, LONG as usize);
        assert_eq!(y.new + y.duplicates, SHORT as usize);
        let stored = a.counts().await.expect("counts").transactions;
        assert_eq!(stored, LONG as i64, "rows in the account");
        a.close().await;
        b.close().await;
    }
}

/// An import that waited for another one checks the account again when its turn comes: one
/// archived during the wait takes nothing.
#[tokio::test]
async fn an_import_waiting_its_turn_into_an_account_archived_meanwhile_imports_nothing() {
    let (_files, path) = wf_csv_file(50);
    for (a, b, _dir) in twice_opened().await {
        let account = checking(a.as_ref()).await;
        let held = a.lock_imports(account.id).await.expect("lock");
        let waiting = {
            let (b, account, path) = (b.clone(), account.clone(), path.clone());
            tokio::spawn(
                async move { import_path(b.as_ref(), &account, &path, Arc::new(Quiet)).await },
            )
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let archive = ledgerflow_core::model::AccountPatch {
            archived: Some(true),
            ..Default::default()
        };
        a.update_account(&actor(), account.id, &archive)
            .await
            .expect("archive");
        drop(held);
        let err = waiting
            .await
            .expect("task")
            .expect_err("imported into an archived account");
        assert!(err.to_string().contains("archived"), "{err}");
        assert_eq!(a.counts().await.expect("counts").transactions, 0);
        a.close().await;
        b.close().await;
    }
}

/// An MT940 file of several daily statements of one account imports as one batch, on each
/// engine; importing it again adds nothing; a statement that does not add up imports nothing.
#[tokio::test]
async fn mt940_daily_statements_import_once_and_a_broken_one_not_at_all() {
    const RABO: &str = ":940:\r\n:20:940S140102\r\n:25:NL34RABO0142623393 EUR\r\n:28C:0\r\n:60F:C131231EUR000000004433,52\r\n:61:140102C000000000400,00N541NONREF\r\nNL66RABO0160878799\r\n:86:/ORDP//NAME/R. SMITH/REMI/Test money/\r\n:62F:C140102EUR000000004833,52\r\n:20:940S140106\r\n:25:NL34RABO0142623393 EUR\r\n:28C:0\r\n:60F:C140102EUR000000004833,52\r\n:61:140106D000000000034,61N093NONREF\r\n:86:/BENM//NAME/Kosten/REMI/Periode 4/\r\n:62F:C140106EUR000000004798,91\r\n";
    for e in crate::helpers::engines().await {
        let s = e.store.as_ref();
        let mut new = ledgerflow_test_support::fixtures::new_account("Rabo");
        new.currency = ledgerflow_core::Currency::from_code("EUR").expect("EUR");
        let account = s.create_account(&actor(), &new).await.expect("account");
        let broken = RABO.replace("C140106EUR000000004798,91", "C140106EUR000000004798,90");
        let err = import_default(s, &account, "rabo.swi", broken.as_bytes())
            .await
            .expect_err("a statement that does not add up is refused");
        assert!(err.to_string().contains("closing balance"), "{err}");
        assert_nothing_written(s).await;

        let first = import_default(s, &account, "rabo.swi", RABO.as_bytes())
            .await
            .expect("imports");
        assert_eq!(first.format, Some(ledgerflow_import::Format::Mt940));
        assert_eq!((first.new, first.duplicates), (2, 0));
        let page = s
            .list_transactions(&ledgerflow_core::model::TxFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        let mut rows: Vec<(String, i64)> = page
            .items
            .iter()
            .map(|t| (t.payee.clone(), t.amount_minor))
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                ("Kosten".to_string(), -3461),
                ("R. SMITH".to_string(), 40000)
            ]
        );
        // The same statements exported again (another file name): every row a duplicate.
        let again = RABO.replace(":940:\r\n", "");
        let second = import_default(s, &account, "rabo-again.swi", again.as_bytes())
            .await
            .expect("imports");
        assert_eq!((second.new, second.duplicates), (0, 2));
        s.close().await;
    }
}

/// Rows the reader passes over (a pending row, a card number heading its charges) are said on
/// every import: into an account without history (one pass) and with history (two passes).
#[tokio::test]
async fn rows_passed_over_are_said_on_every_import() {
    on_each_store(async |s, account| {
        let first = "Date,Description,Amount\nPending,AMAZON,-1.00\n\"0049XXXXXXXX4939\"\n2024-03-01,COFFEE,-3.50\n2024-03-02,SALARY,2500.00\n";
        let inferred = ledgerflow_import::csv::infer_bytes(first.as_bytes(), true).expect("a reading");
        let opts = ImportOptions {
            profile: Some(inferred.profile),
            ..ImportOptions::default()
        };
        for (text, new) in [
            (first.to_string(), 2),
            (format!("{first}2024-03-03,RENT,-900.00\n"), 1),
        ] {
            let sum = crate::helpers::import_bytes(s, &account, "card.csv", text.as_bytes(), &opts)
                .await
                .expect("import");
            assert_eq!(sum.new, new);
            assert!(
                sum.warnings.iter().any(|w| w.contains("passed over 2 rows")),
                "{:?}",
                sum.warnings
            );
        }
    })
    .await;
}
