//! Who may do what: the role × endpoint matrix, sessions and their cookies, CSRF on every
//! session write, sign-in throttling, API tokens and their revocation, trusted proxies.

use axum::http::{Method, StatusCode};
use ledgerflow_core::model::Role;
use serde_json::json;

use crate::*;

/// One endpoint, the least role that may use it, and a request that role makes successfully.
struct Case {
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
    form: Option<Vec<(&'static str, String)>>,
    least: Role,
}

fn api(
    method: Method,
    path: impl Into<String>,
    body: Option<serde_json::Value>,
    least: Role,
) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        form: None,
        least,
    }
}

/// A write with a JSON body that needs an editor.
fn edit(method: Method, path: impl Into<String>, body: serde_json::Value) -> Case {
    api(method, path, Some(body), Role::Editor)
}

/// A `GET` that needs role `least`.
fn get(path: impl Into<String>, least: Role) -> Case {
    api(Method::GET, path, None, least)
}

fn page_post(path: impl Into<String>, fields: Vec<(&'static str, String)>, least: Role) -> Case {
    Case {
        method: Method::POST,
        path: path.into(),
        body: None,
        form: Some(fields),
        least,
    }
}

fn rank(r: Role) -> u8 {
    ledgerflow_web::auth::rank(r)
}

#[tokio::test]
async fn every_endpoint_enforces_its_role_for_tokens_and_sessions() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(30).await;
    let tx = app.first_tx("").await;
    let cat = app
        .post_json("/api/v1/categories", &app.editor, json!({"name": "Misc"}))
        .await
        .json()["id"]
        .as_i64()
        .expect("cat");
    let n = std::sync::atomic::AtomicU32::new(0);
    let unique = || n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sessions = [
        (
            Role::Viewer,
            app.sign_in("vera", PASSWORD).await.expect("vera"),
        ),
        (Role::Editor, app.sign_in("ed", PASSWORD).await.expect("ed")),
        (
            Role::Admin,
            app.sign_in("ada", PASSWORD).await.expect("ada"),
        ),
    ];
    let tokens = [
        (Role::Viewer, app.viewer.clone()),
        (Role::Editor, app.editor.clone()),
        (Role::Admin, app.admin.clone()),
    ];
    let cases = |k: u32| {
        vec![
            get("/api/v1/status", Role::Viewer),
            get("/api/v1/me", Role::Viewer),
            get("/api/v1/accounts", Role::Viewer),
            get(format!("/api/v1/accounts/{acct}"), Role::Viewer),
            edit(
                Method::POST,
                "/api/v1/accounts",
                json!({"name": format!("A{k}")}),
            ),
            edit(
                Method::PATCH,
                format!("/api/v1/accounts/{acct}"),
                json!({"institution": "Bank"}),
            ),
            get("/api/v1/categories", Role::Viewer),
            edit(
                Method::POST,
                "/api/v1/categories",
                json!({"name": format!("C{k}")}),
            ),
            edit(
                Method::PATCH,
                format!("/api/v1/categories/{cat}"),
                json!({"kind": "expense"}),
            ),
            get("/api/v1/transactions?q=safeway", Role::Viewer),
            get(format!("/api/v1/transactions/{tx}"), Role::Viewer),
            get(format!("/api/v1/transactions/{tx}/history"), Role::Viewer),
            edit(
                Method::POST,
                "/api/v1/transactions",
                json!({"account": acct, "date": "2024-01-01", "amount": "-1.00", "payee": format!("P{k}")}),
            ),
            edit(
                Method::PATCH,
                format!("/api/v1/transactions/{tx}"),
                json!({"memo": format!("m{k}")}),
            ),
            edit(
                Method::POST,
                "/api/v1/transactions/categorize",
                json!({"ids": [tx], "category": cat}),
            ),
            get("/api/v1/imports", Role::Viewer),
            get("/api/v1/backups", Role::Admin),
            // Pages.
            get("/", Role::Viewer),
            get("/transactions?q=safeway", Role::Viewer),
            get(format!("/transactions/{tx}"), Role::Viewer),
            get("/accounts", Role::Viewer),
            get("/categories", Role::Viewer),
            get("/imports", Role::Viewer),
            get("/safety", Role::Admin),
            get("/users", Role::Admin),
            get("/account", Role::Viewer),
            page_post(
                format!("/transactions/{tx}/category"),
                vec![("category", cat.to_string())],
                Role::Editor,
            ),
            page_post(
                "/transactions/categorize",
                vec![("ids", tx.to_string()), ("category", String::new())],
                Role::Editor,
            ),
            page_post(
                format!("/transactions/{tx}"),
                vec![("memo", format!("page {k}"))],
                Role::Editor,
            ),
            page_post(
                "/accounts",
                vec![
                    ("name", format!("PA{k}")),
                    ("kind", "cash".into()),
                    ("currency", "USD".into()),
                ],
                Role::Editor,
            ),
            page_post(
                "/categories",
                vec![("name", format!("PC{k}")), ("kind", "expense".into())],
                Role::Editor,
            ),
            page_post(
                "/users",
                vec![
                    ("name", format!("u{k}")),
                    ("role", "viewer".into()),
                    ("password", PASSWORD.into()),
                ],
                Role::Admin,
            ),
        ]
    };
    // Nobody: 401 on the API, a redirect to sign in on pages (GET) or 401 (POST).
    for c in cases(unique()) {
        let r = send_case(&app, &c, &As::Nobody).await;
        if c.path.starts_with("/api/") || c.method != Method::GET {
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{} {} unauthenticated",
                c.method,
                c.path
            );
        } else {
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{} {}", c.method, c.path);
            assert!(r.location().starts_with("/login?next="), "{}", r.location());
        }
    }
    for (role, who) in tokens.iter().chain(sessions.iter()) {
        for c in cases(unique()) {
            let r = send_case(&app, &c, who).await;
            if rank(*role) >= rank(c.least) {
                assert!(
                    r.status.is_success() || r.status == StatusCode::SEE_OTHER,
                    "{} {} as {role} ({who:?}): {} {}",
                    c.method,
                    c.path,
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {role}: {}",
                    c.method,
                    c.path,
                    r.body
                );
            }
        }
    }
    // A viewer's refused write changed nothing: the memo is an editor's.
    let t = app.store().get_transaction(tx).await.expect("tx");
    assert!(
        t.memo.starts_with('m') || t.memo.starts_with("page"),
        "{}",
        t.memo
    );
}

async fn send_case(app: &TestApp, c: &Case, who: &As) -> Reply {
    match (&c.form, &c.body) {
        (Some(fields), _) => {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.form(&c.path, who, &f).await
        }
        (None, Some(b)) => app.json(c.method.clone(), &c.path, who, b.clone()).await,
        (None, None) => app.get(&c.path, who).await,
    }
}

#[tokio::test]
async fn a_sign_in_keeps_the_journal_exact_on_both_engines() {
    // A session's expiry is journaled as the row keeps it: PostgreSQL keeps microseconds.
    for app in TestApp::both().await {
        app.sign_in("ed", PASSWORD).await.expect("signed in");
        app.sign_in("ada", PASSWORD).await.expect("signed in");
        let report = ledgerflow_core::service::verify_journal(app.store())
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problem);
    }
}

#[tokio::test]
async fn session_writes_need_the_csrf_token_and_sign_out_ends_the_session() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(5).await;
    let As::Session { cookie, csrf } = app.sign_in("ed", PASSWORD).await.expect("signed in") else {
        panic!("not a session");
    };
    let no_csrf = As::Session {
        cookie: cookie.clone(),
        csrf: String::new(),
    };
    let wrong = As::Session {
        cookie: cookie.clone(),
        csrf: "0".repeat(32),
    };
    let good = As::Session {
        cookie: cookie.clone(),
        csrf: csrf.clone(),
    };
    let body = json!({"name": "Savings"});
    // API writes by session: header required.
    for who in [&no_csrf, &wrong] {
        let r = app.post_json("/api/v1/accounts", who, body.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("CSRF"));
    }
    // Reads need none.
    assert_eq!(
        app.get("/api/v1/accounts", &no_csrf).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post_json("/api/v1/accounts", &good, body).await.status,
        StatusCode::CREATED
    );
    // Page forms: the field or the header.
    let r = app
        .form(
            "/categories",
            &no_csrf,
            &[("name", "Food"), ("kind", "expense")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("CSRF"),
        "an HTML page that says why: {}",
        r.body
    );
    let r = app
        .form(
            "/categories",
            &no_csrf,
            &[
                ("csrf", &"f".repeat(32)),
                ("name", "Food"),
                ("kind", "expense"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .form(
            "/categories",
            &no_csrf,
            &[("csrf", &csrf), ("name", "Food"), ("kind", "expense")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(app.store().list_categories().await.expect("cats").len(), 1);
    // Another session has another token: one session's token does not work for the other.
    let As::Session {
        csrf: other_csrf, ..
    } = app.sign_in("ed", PASSWORD).await.expect("again")
    else {
        panic!()
    };
    assert_ne!(other_csrf, csrf);
    let cross = As::Session {
        cookie: cookie.clone(),
        csrf: other_csrf,
    };
    assert_eq!(
        app.patch_json(
            &format!("/api/v1/accounts/{acct}"),
            &cross,
            json!({"institution": "X"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // Sign out: the cookie stops working.
    let r = app.form("/logout", &good, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/me", &good).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.get("/transactions", &good).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=%2Ftransactions");
    // A made-up cookie is not a session.
    let fake = As::Session {
        cookie: format!("lfs_{}", "a".repeat(64)),
        csrf: String::new(),
    };
    assert_eq!(
        app.get("/api/v1/me", &fake).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_in_sets_a_safe_cookie_and_repeated_failures_are_throttled() {
    let app = TestApp::sqlite().await;
    // The session cookie: HttpOnly, SameSite, not readable by scripts; Secure only over HTTPS.
    let login = app.login_cookie().await;
    let fields = [
        ("csrf", login.as_str()),
        ("name", "ada"),
        ("password", PASSWORD),
        ("next", "/"),
    ];
    let r = app.post_login(&fields, Some(&login)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let line = set_cookie_line(&r.headers, "lf_session");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(line.contains(part), "{line}");
    }
    assert!(!line.contains("Secure"), "plain HTTP on loopback: {line}");
    // The sign-in form without its cookie (a cross-site post) is refused.
    let r = app.post_login(&fields, None).await;
    assert!(cookie_value(&r.headers, "lf_session").is_none());
    assert!(
        r.body.contains("expired or came from another site"),
        "{}",
        r.body
    );
    // Wrong passwords: five tries, then even the right password waits.
    for _ in 0..5 {
        let r = app
            .sign_in("vera", "wrong-password-x")
            .await
            .expect_err("refused");
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Wrong name or password"));
    }
    let r = app.sign_in("vera", PASSWORD).await.expect_err("throttled");
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("Too many failed sign-ins"), "{}", r.body);
    // Other users are not locked out by vera's failures.
    assert!(app.sign_in("ed", PASSWORD).await.is_ok());
    // An unknown user gets the same answer as a wrong password.
    let r = app.sign_in("nobody", PASSWORD).await.expect_err("unknown");
    assert!(r.body.contains("Wrong name or password"));
    // A disabled user cannot sign in, and their tokens stop working.
    let vera = app.user("ed").await;
    let r = app
        .form(
            &format!("/users/{}", vera.id),
            &app.admin.clone(),
            &[("disabled", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/me", &app.editor).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app.sign_in("ed", PASSWORD).await.is_err());
}

#[tokio::test]
async fn tokens_act_with_their_users_role_until_revoked() {
    let app = TestApp::sqlite().await;
    let me = app.get("/api/v1/me", &app.viewer).await.json();
    assert_eq!(
        me,
        json!({"name": "vera", "role": "viewer", "via": "token"})
    );
    assert_eq!(
        app.get("/api/v1/transactions", &app.viewer).await.status,
        StatusCode::OK
    );
    let r = app
        .post_json("/api/v1/accounts", &app.viewer, json!({"name": "X"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("editor role"));
    // Bad credentials: 401 with a Bearer challenge.
    for bad in ["Bearer lft_nope", "Basic dmVyYTpwdw==", "Bearer "] {
        let r = app
            .send(
                Method::GET,
                "/api/v1/me",
                &As::Nobody,
                None,
                Vec::new(),
                &[("authorization", bad)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(r.headers.contains_key("www-authenticate"));
    }
    // An admin creates a token on the users page: shown once, works, is revoked.
    let vera = app.user("vera").await;
    let admin = app.sign_in("ada", PASSWORD).await.expect("ada");
    let r = app
        .form(
            "/tokens",
            &admin,
            &[("user", &vera.id.to_string()), ("name", "phone")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let start = r.body.find("lft_").expect("token shown");
    let secret: String = r.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let phone = As::Token(secret.clone());
    assert_eq!(app.get("/api/v1/me", &phone).await.json()["name"], "vera");
    // The store holds only its hash.
    let tokens = app
        .store()
        .list_credentials(ledgerflow_core::model::CredentialKind::Token, Some(vera.id))
        .await
        .expect("tokens");
    let phone_id = tokens.iter().find(|t| t.name == "phone").expect("phone").id;
    assert!(tokens[0].last_used_at.is_some());
    assert!(
        !app.get("/users", &admin).await.body.contains(&secret),
        "never shown again"
    );
    let r = app
        .form(&format!("/tokens/{phone_id}/revoke"), &admin, &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/me", &phone).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A role change applies to existing tokens at once.
    app.form(
        &format!("/users/{}", vera.id),
        &admin,
        &[("role", "editor")],
    )
    .await;
    assert_eq!(
        app.json(
            Method::POST,
            "/api/v1/accounts",
            &app.viewer,
            json!({"name": "Now"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // An admin cannot lock themself out.
    let ada = app.user("ada").await;
    let r = app
        .form(&format!("/users/{}", ada.id), &admin, &[("role", "viewer")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("cannot demote or disable yourself"));
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let dir = tempfile::tempdir().expect("dir");
    let store = ledgerflow_db::open(
        &ledgerflow_db::Location::sqlite_in(dir.path()),
        ledgerflow_db::OpenMode::Create,
    )
    .await
    .expect("open");
    store
        .initialize(
            &ledgerflow_core::model::Actor::system("t"),
            ledgerflow_core::model::Environment::Dev,
        )
        .await
        .expect("init");
    let web = ledgerflow_web::WebState::default();
    let secret = web.new_setup_secret();
    let state = ledgerflow_web::AppState::new(store, None, web);
    let app = |req: axum::http::Request<axum::body::Body>| {
        let st = state.clone();
        async move {
            use tower::ServiceExt;
            let resp = ledgerflow_web::router(st).oneshot(req).await.expect("resp");
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .expect("body")
                .to_bytes();
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let get = |p: &str| {
        axum::http::Request::get(p)
            .body(axum::body::Body::empty())
            .expect("req")
    };
    // No users: the sign-in page says how to begin; there is no default password.
    let (_, _, body) = app(get("/login")).await;
    assert!(body.contains("ledgerflow user add NAME --role admin"));
    assert_eq!(
        app(get("/setup?token=setup_wrong")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app(get(&format!("/setup?token={secret}"))).await.0,
        StatusCode::OK
    );
    // The setup form: the link's secret, a name, and the password twice.
    let setup = |name: &str, password: &str| {
        let fields = [
            ("token", secret.as_str()),
            ("name", name),
            ("password", password),
            ("password2", password),
        ];
        axum::http::Request::post("/setup")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(form_body(&fields)))
            .expect("req")
    };
    let (status, _, body) = app(setup("root", "short")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("too short"), "{body}");
    let (status, headers, _) = app(setup("root", PASSWORD)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie_value(&headers, "lf_session").expect("signed in");
    let me = axum::http::Request::get("/api/v1/me")
        .header("cookie", format!("lf_session={cookie}"))
        .body(axum::body::Body::empty())
        .expect("req");
    let (_, _, body) = app(me).await;
    assert!(body.contains("\"role\":\"admin\""), "{body}");
    // Used once: refused now.
    let (status, _, _) = app(setup("root2", PASSWORD)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(state.store.list_users().await.expect("users").len(), 1);
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    use ledgerflow_web::auth::client;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        "203.0.113.7, 10.0.0.2".parse().expect("h"),
    );
    headers.insert("x-forwarded-proto", "https".parse().expect("h"));
    let web = ledgerflow_web::WebState {
        trusted_proxies: vec!["10.0.0.0/8".parse().expect("net")],
        ..Default::default()
    };
    let from_proxy = Some("10.0.0.1:5000".parse().expect("addr"));
    let (ip, https) = client(&headers, from_proxy, &web);
    assert_eq!(ip, Some("203.0.113.7".parse().expect("ip")));
    assert!(https, "the proxy says HTTPS: cookies get Secure");
    let stranger = Some("198.51.100.9:5000".parse().expect("addr"));
    let (ip, https) = client(&headers, stranger, &web);
    assert_eq!(
        ip,
        Some("198.51.100.9".parse().expect("ip")),
        "spoofed header ignored"
    );
    assert!(!https);
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = TestApp::sqlite().await;
    let first = app.sign_in("vera", PASSWORD).await.expect("vera");
    let second = app.sign_in("vera", PASSWORD).await.expect("vera again");
    assert!(
        app.get("/account", &first)
            .await
            .body
            .contains("Change my password")
    );
    let new_pw = "a-new-password-42";
    let r = app.change_password(&first, "not-my-password", new_pw).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("current password is wrong"), "{}", r.body);
    let r = app.change_password(&first, PASSWORD, "short").await;
    assert!(r.body.contains("too short"), "{}", r.body);
    let r = app.change_password(&first, PASSWORD, new_pw).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/account?changed=1");
    let renewed = cookie_value(&r.headers, "lf_session").expect("a new session for this browser");
    let renewed = As::Session {
        csrf: ledgerflow_web::auth::csrf_for(&renewed),
        cookie: renewed,
    };
    assert_eq!(app.get("/api/v1/me", &renewed).await.status, StatusCode::OK);
    for old in [&first, &second] {
        assert_eq!(
            app.get("/api/v1/me", old).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(app.sign_in("vera", PASSWORD).await.is_err());
    assert!(app.sign_in("vera", new_pw).await.is_ok());
    // Tokens are not sessions: vera's API token still works.
    assert_eq!(
        app.get("/api/v1/me", &app.viewer).await.status,
        StatusCode::OK
    );
    // An admin resets ed's password on the Users page: ed's sessions end.
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let admin = app.sign_in("ada", PASSWORD).await.expect("ada");
    let ed_id = app.user("ed").await.id;
    let r = app
        .form(&format!("/users/{ed_id}"), &admin, &[("password", new_pw)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/me", &ed).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app.sign_in("ed", new_pw).await.is_ok());
}
