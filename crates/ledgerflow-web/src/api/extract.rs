//! The API's extractors: a JSON body and query parameters whose rejections are [`Problem`]s
//! that name what is wrong, instead of axum's plain-text ones.

use axum::body::Bytes;
use axum::extract::Query;

use crate::error::Problem;

/// A JSON body, with a 400 that names what is wrong instead of axum's plain-text rejection.
pub(crate) struct Body<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;
    async fn from_request(req: axum::extract::Request, st: &S) -> Result<Self, Problem> {
        let bytes = Bytes::from_request(req, st)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()))?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| Problem::bad_request(format!("the JSON body is not valid: {e}")))
    }
}

/// Query parameters, with a 400 that names what is wrong.
pub(crate) struct Params<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &S,
    ) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, st)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}
