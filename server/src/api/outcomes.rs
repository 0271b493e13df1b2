//! Outcomes: `/v1/programmes/{id}/outcomes/…` and `/v1/outcomes/…` — whether a programme works (retention against a
//! comparison group, the would-recommend curve). Handlers authorise and call `domain::outcomes`; every figure is
//! computed on request from the current data, so answers are `no-store`.

use actix_web::{HttpResponse, get, web};
use uuid::Uuid;

use super::AppState;
use super::problem::{ApiResult, AuthErrors, NotFoundError};
use crate::auth::Principal;
use crate::domain::outcomes::{self, ChangeReport, RecommendCurve, Retention, RetentionQuery};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_retention)
        .service(get_programme_curve)
        .service(get_change)
        .service(get_curve);
}

fn fresh(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// Retention against a comparison group
///
/// For the programme's mentors and for its mentees: the share still employed 3, 6 and 12 months after their pair
/// started, against people who never took part — same department, within `level_band` levels, in the directory and
/// not yet left on the same start date — with the difference and Newcombe's 95% interval for it. A horizon nobody
/// has reached yet says so; one where either group has fewer than `min_group_size` people
/// (`UPWARD_MIN_GROUP_SIZE`, default 5) is suppressed. Admins and the programme's managers.
#[utoipa::path(
    operation_id = "get_programme_retention",
    tag = "Outcomes",
    params(("id" = Uuid, Path, description = "The programme's id"), RetentionQuery),
    responses(
        (status = 200, description = "Retention by side and horizon", body = Retention),
        (status = 400, description = "A query parameter is malformed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`level_band` is out of range", body = super::problem::Problem, content_type = "application/problem+json"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/outcomes/retention")]
async fn get_retention(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<RetentionQuery>,
) -> ApiResult<HttpResponse> {
    let r = outcomes::retention(
        &principal.read_scope(&state.db),
        principal.actor(),
        id.into_inner(),
        &query,
        state.config.min_group_size,
    )
    .await?;
    Ok(fresh(&r))
}

/// The programme's would-recommend curve
///
/// Net promoter score and the share of promoters (9–10) by the number of sessions the pair had held when the answer
/// was given, over every `nps` question of the programme's surveys: "after six sessions, X% would recommend" is the
/// point at 6. A point with fewer than `min_group_size` answers is suppressed. Admins and the programme's managers.
#[utoipa::path(
    operation_id = "get_programme_would_recommend",
    tag = "Outcomes",
    params(("id" = Uuid, Path, description = "The programme's id")),
    responses(
        (status = 200, description = "The curve", body = RecommendCurve),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/outcomes/would-recommend")]
async fn get_programme_curve(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let c = outcomes::would_recommend(
        &principal.read_scope(&state.db),
        principal.actor(),
        Some(id.into_inner()),
        state.config.min_group_size,
    )
    .await?;
    Ok(fresh(&c))
}

/// The would-recommend curve across programmes
///
/// The same curve over every programme of the organisation. Admins.
#[utoipa::path(
    operation_id = "get_would_recommend",
    tag = "Outcomes",
    responses((status = 200, description = "The curve", body = RecommendCurve), AuthErrors),
    security(("bearer" = []))
)]
#[get("/outcomes/would-recommend")]
async fn get_curve(state: web::Data<AppState>, principal: Principal) -> ApiResult<HttpResponse> {
    let c = outcomes::would_recommend(
        &principal.read_scope(&state.db),
        principal.actor(),
        None,
        state.config.min_group_size,
    )
    .await?;
    Ok(fresh(&c))
}

/// Change between the baseline and the follow-up
///
/// For each question (`nps` or `likert`) that both a `baseline` survey (milestone `start`, sent when a pair starts)
/// and a `follow_up` survey (milestone `end`, sent when it completes) ask, matched by question id: the mean change
/// per person with a paired 95% confidence interval, for mentees and mentors apart. A side with fewer than
/// `min_group_size` people answering both is suppressed. Admins and the programme's managers.
#[utoipa::path(
    operation_id = "get_programme_change",
    tag = "Outcomes",
    params(("id" = Uuid, Path, description = "The programme's id")),
    responses(
        (status = 200, description = "The change per question", body = ChangeReport),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/outcomes/change")]
async fn get_change(state: web::Data<AppState>, principal: Principal, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let c = outcomes::change(
        &principal.read_scope(&state.db),
        principal.actor(),
        id.into_inner(),
        state.config.min_group_size,
    )
    .await?;
    Ok(fresh(&c))
}
