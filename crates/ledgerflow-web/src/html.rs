//! HTML helpers shared by the pages and the error middleware: escaping, URL encoding,
//! rendering a template (400 when it shows a form's error) and the problem page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::Problem;

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What a page handler answers: the page, a redirect, or the problem shown instead.
pub(crate) type Page = Result<Response, Problem>;

pub(crate) fn render(t: impl Template) -> Page {
    Ok(Html(t.render()?).into_response())
}

/// A page that may show a form's error: 400 when it does.
pub(crate) fn render_form(t: impl Template, error: &str) -> Page {
    let mut resp = render(t)?;
    if !error.is_empty() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    status: u16,
    reason: String,
    message: String,
}

pub(crate) fn problem_page(p: &Problem) -> Response {
    let page = ProblemPage {
        status: p.status.as_u16(),
        reason: p.status.canonical_reason().unwrap_or("Error").to_string(),
        message: p.message.clone(),
    };
    match page.render() {
        Ok(html) => (p.status, Html(html)).into_response(),
        Err(_) => (p.status, p.message.clone()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_urls_encoded() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("a b/ü"), "a%20b%2F%C3%BC");
    }
}
