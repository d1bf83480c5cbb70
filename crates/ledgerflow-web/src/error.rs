//! One error type for every handler. A [`Problem`] answers as JSON (`{"error": "…"}`) with its
//! status; on the web pages a middleware ([`html_problems`]) turns the same answer into an
//! HTML page, or a redirect to the sign-in page when nobody is signed in.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use ledgerflow_core::{CoreError, MoneyError, StoreError, ValidationError};
use ledgerflow_import::service::ImportError;

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Problem {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, m)
    }
    /// An internal failure: logged in full, shown as a generic sentence.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (the server log has the details)",
        )
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Problem::not_found(e.to_string()),
            StoreError::Conflict(_) => Problem::conflict(e.to_string()),
            StoreError::Unavailable { .. } => {
                tracing::error!(error = %e, "store unavailable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable")
            }
            other => Problem::internal(other),
        }
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(_) | CoreError::Money(_) => Problem::bad_request(e.to_string()),
            CoreError::NotFound(m) => Problem::not_found(m),
            CoreError::Refused(m) => Problem::conflict(m),
            CoreError::Store(s) => s.into(),
        }
    }
}

impl From<ValidationError> for Problem {
    fn from(e: ValidationError) -> Self {
        Problem::bad_request(e.0)
    }
}

impl From<MoneyError> for Problem {
    fn from(e: MoneyError) -> Self {
        Problem::bad_request(e.to_string())
    }
}

impl From<ImportError> for Problem {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(s) => s.into(),
            ImportError::Io { .. } => Problem::internal(e),
            // The command line's hint names its flag; the web names its own control.
            ImportError::BadRows {
                file,
                first,
                more,
                skippable: true,
                ..
            } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "{file}: {first}{more} (nothing was imported; tick \"Skip unreadable rows\" and upload the file again to import the good rows)"
                ),
            ),
            other => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}

impl From<ledgerflow_backup::BackupError> for Problem {
    fn from(e: ledgerflow_backup::BackupError) -> Self {
        Problem::internal(e)
    }
}

impl From<askama::Error> for Problem {
    fn from(e: askama::Error) -> Self {
        Problem::internal(e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"ledgerflow\""),
            );
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

/// On the pages: a problem becomes an HTML page; "not signed in" becomes a redirect to the
/// sign-in page that comes back here afterwards.
pub async fn html_problems(req: Request, next: Next) -> Response {
    let back = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let is_get = req.method() == axum::http::Method::GET;
    let htmx = req.headers().contains_key("hx-request");
    let resp = next.run(req).await;
    let Some(p) = resp.extensions().get::<Problem>().cloned() else {
        return resp;
    };
    if p.status == StatusCode::UNAUTHORIZED && is_get && !htmx {
        return Redirect::to(&format!("/login?next={}", crate::html::url_encode(&back)))
            .into_response();
    }
    if htmx {
        // htmx swaps only 2xx answers by default: show the message where the swap would go.
        return (
            StatusCode::OK,
            [("hx-retarget", "#flash"), ("hx-reswap", "innerHTML")],
            Html(format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                crate::html::escape(&p.message)
            )),
        )
            .into_response();
    }
    crate::html::problem_page(&p)
}
