//! In-process handler tests (`Router::oneshot`) on a real SQLite store.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ledgerflow_core::model::{Actor, Environment};
use ledgerflow_db::{Location, OpenMode};
use ledgerflow_web::{AppState, router};
use tower::ServiceExt;

struct TestApp {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl TestApp {
    async fn new() -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ledgerflow_db::open(&Location::sqlite_in(dir.path()), OpenMode::Create)
            .await
            .expect("open");
        store
            .initialize(&Actor::system("test"), Environment::Dev)
            .await
            .expect("init");
        TestApp {
            state: AppState {
                store,
                backups: None,
            },
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = router(self.state.clone())
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

#[tokio::test]
async fn health_and_status_report_the_store() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/healthz").await, (StatusCode::OK, "ok\n".into()));
    let (code, body) = app.get("/api/v1/status").await;
    assert_eq!(code, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["engine"], "sqlite");
    assert_eq!(v["environment"], "dev");
    assert_eq!(v["counts"]["transactions"], 0);
    assert_eq!(v["journal"]["head_seq"], 1);
    let (code, body) = app.get("/").await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("LedgerFlow is running"));
}

#[tokio::test]
async fn health_fails_when_the_store_is_gone() {
    let app = TestApp::new().await;
    app.state.store.close().await;
    let (code, _) = app.get("/healthz").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
}
