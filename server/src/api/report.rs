//! `GET /v1/programmes/{id}/report`: the board report (`domain::report`) in the form the caller asks for with
//! `Accept` — JSON (the default), a zip of CSV tables (`application/zip`), one table (`text/csv` with `?section=`), or
//! a self-contained, printable HTML page with inline SVG charts (`text/html`: no script, no external asset; its
//! Content-Security-Policy, sent as a header and repeated in the page so a saved copy keeps it, forbids loading any).

use std::fmt::Write as _;
use std::io::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::problem::{ApiError, ApiResult, AuthErrors, NotFoundError};
use crate::auth::Principal;
use crate::domain::outcomes::{Change, Horizon, SideRetention};
use crate::domain::report::{self, ProgrammeReport};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_report);
}

/// A table of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Summary,
    Retention,
    WouldRecommend,
    Change,
    SessionsByMonth,
    Cancellations,
}

const SECTIONS: [Section; 6] = [
    Section::Summary,
    Section::Retention,
    Section::WouldRecommend,
    Section::Change,
    Section::SessionsByMonth,
    Section::Cancellations,
];

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Summary => "summary",
            Section::Retention => "retention",
            Section::WouldRecommend => "would_recommend",
            Section::Change => "change",
            Section::SessionsByMonth => "sessions_by_month",
            Section::Cancellations => "cancellations",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// With `Accept: text/csv`, the one table to return (required there; ignored by the other formats).
    #[param(inline)]
    section: Option<Section>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Html,
    Csv,
    Zip,
}

/// The first supported media range of `Accept` in order of preference (`q` honoured); none given, or `*/*`: JSON.
fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::Json);
    };
    let mut ranges: Vec<(f32, usize, &str)> = accept
        .split(',')
        .enumerate()
        .map(|(i, range)| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q, i, media)
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges
        .into_iter()
        .find_map(|(_, _, media)| match media.to_ascii_lowercase().as_str() {
            "application/json" | "application/*" | "*/*" => Some(Format::Json),
            "text/html" | "text/*" => Some(Format::Html),
            "text/csv" => Some(Format::Csv),
            "application/zip" => Some(Format::Zip),
            _ => None,
        })
}

/// The programme's board report
///
/// The programme's health (pairs, sessions, cancellations by side, surveys), retention against the comparison group,
/// the would-recommend curve, the change between baseline and follow-up, and sessions month by month — the figures
/// of the individual outcome routes, with their suppression. Chosen by `Accept`: `application/json` (default),
/// `application/zip` (one CSV table per section), `text/csv` with `?section=` (one table), or `text/html` (a
/// printable page with inline SVG charts and no external assets). Admins and the programme's managers.
#[utoipa::path(
    operation_id = "get_programme_report",
    tag = "Outcomes",
    params(("id" = Uuid, Path, description = "The programme's id"), ReportQuery),
    responses(
        (status = 200, description = "The report, in the format asked for", content(
            (ProgrammeReport = "application/json"),
            (String = "text/html"),
            (String = "text/csv"),
            (Vec<u8> = "application/zip"),
        )),
        (status = 400, description = "`text/csv` without `section`, or a malformed query", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the formats asked for in `Accept` is offered", body = super::problem::Problem, content_type = "application/problem+json"),
        NotFoundError, AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/programmes/{id}/report")]
async fn get_report(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = negotiate(accept).ok_or(ApiError::NotAcceptable(
        "the report is offered as application/json, application/zip, text/csv or text/html",
    ))?;
    if format == Format::Csv && query.section.is_none() {
        return Err(ApiError::BadRequest {
            code: "section_required",
            detail: "text/csv is one table: name it with ?section= (summary, retention, would_recommend, change, \
                     sessions_by_month, cancellations), or ask for application/zip for all of them"
                .into(),
        });
    }
    let r = report::programme(
        &principal.read_scope(&state.db),
        principal.actor(),
        id.into_inner(),
        state.config.min_group_size,
    )
    .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(match format {
        Format::Json => response.json(&r),
        Format::Csv => {
            let section = query.section.unwrap_or(Section::Summary);
            response
                .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.csv\"", section.name()),
                ))
                .body(csv(&r, section))
        }
        Format::Zip => response
            .insert_header((header::CONTENT_TYPE, "application/zip"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"report-{}.zip\"", r.programme.id),
            ))
            .body(zip(&r).map_err(|e| ApiError::Internal(format!("the report could not be zipped: {e}")))?),
        Format::Html => response
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
            ))
            .body(html(&r)),
    })
}

// ---- CSV ----

/// A number, or an empty cell for `null`.
fn cell<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A text cell: quoted when it must be, and never read as a formula by a spreadsheet.
fn text(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(r: &ProgrammeReport, section: Section) -> String {
    let mut out = String::new();
    let mut row = |cells: Vec<String>| {
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    let h = &r.health;
    match section {
        Section::Summary => {
            row(vec!["figure".into(), "value".into()]);
            for (name, value) in [
                ("pairs_total", Some(h.pairs.total as f64)),
                ("pairs_active", Some(h.pairs.active as f64)),
                ("pairs_completed", Some(h.pairs.completed as f64)),
                ("pairs_dissolved", Some(h.pairs.dissolved as f64)),
                ("pairs_at_risk", Some(h.pairs.at_risk as f64)),
                ("pairs_reached_target", Some(h.pairs.reached_target as f64)),
                ("reached_target_share", h.pairs.reached_target_share),
                ("sessions_held", Some(h.sessions.held as f64)),
                ("sessions_scheduled", Some(h.sessions.scheduled as f64)),
                ("no_shows", Some(h.sessions.no_shows as f64)),
                ("survey_response_rate", h.surveys.response_rate),
                ("nps", h.surveys.nps),
                ("would_recommend_share", h.surveys.would_recommend_share),
            ] {
                row(vec![name.into(), cell(value)]);
            }
        }
        Section::Retention => {
            row([
                "side",
                "months",
                "reached",
                "suppressed",
                "not_yet_reached",
                "participants",
                "participants_still_employed",
                "participants_rate",
                "comparison",
                "comparison_still_employed",
                "comparison_rate",
                "difference",
                "ci_low",
                "ci_high",
            ]
            .map(String::from)
            .to_vec());
            for (side, s) in [("mentors", &r.retention.mentors), ("mentees", &r.retention.mentees)] {
                for h in &s.horizons {
                    row(vec![
                        side.into(),
                        h.months.to_string(),
                        h.reached.to_string(),
                        h.suppressed.to_string(),
                        h.not_yet_reached.to_string(),
                        cell(h.participants.people),
                        cell(h.participants.still_employed),
                        cell(h.participants.rate),
                        cell(h.comparison.people),
                        cell(h.comparison.still_employed),
                        cell(h.comparison.rate),
                        cell(h.difference),
                        cell(h.confidence_interval.as_ref().map(|i| i.low)),
                        cell(h.confidence_interval.as_ref().map(|i| i.high)),
                    ]);
                }
            }
        }
        Section::WouldRecommend => {
            row([
                "sessions_held",
                "answers",
                "suppressed",
                "promoters",
                "passives",
                "detractors",
                "nps",
                "would_recommend_share",
            ]
            .map(String::from)
            .to_vec());
            for p in &r.would_recommend.points {
                row(vec![
                    p.sessions_held.to_string(),
                    p.answers.to_string(),
                    p.suppressed.to_string(),
                    cell(p.promoters),
                    cell(p.passives),
                    cell(p.detractors),
                    cell(p.nps),
                    cell(p.would_recommend_share),
                ]);
            }
        }
        Section::Change => {
            row([
                "question_id",
                "kind",
                "side",
                "people",
                "suppressed",
                "baseline_mean",
                "follow_up_mean",
                "mean_change",
                "ci_low",
                "ci_high",
            ]
            .map(String::from)
            .to_vec());
            for q in &r.change.questions {
                for (side, c) in [("mentees", &q.mentees), ("mentors", &q.mentors)] {
                    row(vec![
                        text(&q.question_id),
                        q.kind.as_str().into(),
                        side.into(),
                        c.people.to_string(),
                        c.suppressed.to_string(),
                        cell(c.baseline_mean),
                        cell(c.follow_up_mean),
                        cell(c.mean_change),
                        cell(c.confidence_interval.as_ref().map(|i| i.low)),
                        cell(c.confidence_interval.as_ref().map(|i| i.high)),
                    ]);
                }
            }
        }
        Section::SessionsByMonth => {
            row(["month", "held", "cancelled", "no_shows"].map(String::from).to_vec());
            for m in &r.sessions_by_month {
                row(vec![
                    m.month.clone(),
                    m.held.to_string(),
                    m.cancelled.to_string(),
                    m.no_shows.to_string(),
                ]);
            }
        }
        Section::Cancellations => {
            row(["timing", "by_mentor", "by_mentee", "by_manager", "total"]
                .map(String::from)
                .to_vec());
            for (timing, c) in [
                ("on_time", &h.sessions.cancelled_on_time),
                ("late", &h.sessions.cancelled_late),
            ] {
                row(vec![
                    timing.into(),
                    c.by_mentor.to_string(),
                    c.by_mentee.to_string(),
                    c.by_manager.to_string(),
                    c.total.to_string(),
                ]);
            }
        }
    }
    out
}

fn zip(r: &ProgrammeReport) -> zip::result::ZipResult<Vec<u8>> {
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for section in SECTIONS {
        archive.start_file(format!("{}.csv", section.name()), options)?;
        archive.write_all(csv(r, section).as_bytes())?;
    }
    Ok(archive.finish()?.into_inner())
}

// ---- HTML ----

fn escape(s: &str) -> String {
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

const COLOURS: [&str; 3] = ["#2b6cb0", "#dd6b20", "#718096"];

/// A grouped bar chart: one group per label, one bar per series; a missing value is drawn as a dash and labelled.
fn bars(title: &str, labels: &[String], series: &[(&str, Vec<Option<f64>>)], max: f64, unit: &str) -> String {
    let (width, height, left, bottom, top) = (720.0, 260.0, 48.0, 54.0, 28.0);
    let plot = height - bottom - top;
    // Counts get whole-number ticks (a multiple of 4 at the top); percentages keep their own scale.
    let max = match (max > 0.0, unit.is_empty()) {
        (false, _) => 1.0,
        (true, true) => (max / 4.0).ceil() * 4.0,
        (true, false) => max,
    };
    let group = (width - left - 10.0) / labels.len().max(1) as f64;
    let bar = (group * 0.8 / series.len().max(1) as f64).min(48.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg role="img" aria-label="{t}" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    for tick in 0..=4 {
        let v = max * f64::from(tick) / 4.0;
        let y = top + plot - plot * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{width}" y1="{y:.1}" y2="{y:.1}" stroke="#e2e8f0"/><text x="{x:.1}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#4a5568">{v:.0}{unit}</text>"##,
            x = left - 4.0,
            ty = y + 3.0,
            unit = escape(unit)
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let x0 = left + group * i as f64 + group * 0.1;
        for (j, (_, values)) in series.iter().enumerate() {
            let x = x0 + bar * j as f64;
            match values.get(i).copied().flatten() {
                Some(v) => {
                    let h = plot * (v.max(0.0) / max).min(1.0);
                    let _ = write!(
                        svg,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{v}</title></rect>"#,
                        y = top + plot - h,
                        w = bar - 2.0,
                        c = COLOURS[j % COLOURS.len()]
                    );
                }
                None => {
                    let _ = write!(
                        svg,
                        r##"<text x="{x:.1}" y="{y:.1}" font-size="10" fill="#a0aec0">–</text>"##,
                        x = x + bar / 2.0 - 3.0,
                        y = top + plot - 4.0
                    );
                }
            }
        }
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{y:.1}" font-size="11" text-anchor="middle" fill="#2d3748">{l}</text>"##,
            x = x0 + group * 0.4,
            y = top + plot + 16.0,
            l = escape(label)
        );
    }
    for (j, (name, _)) in series.iter().enumerate() {
        let x = left + 150.0 * j as f64;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="10" height="10" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="#2d3748">{n}</text>"##,
            y = height - 18.0,
            c = COLOURS[j % COLOURS.len()],
            tx = x + 14.0,
            ty = height - 9.0,
            n = escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Mean change per question with its interval, as horizontal bars around zero.
fn change_chart(r: &ProgrammeReport) -> String {
    if r.change.questions.is_empty() {
        return "<p>No question is asked in both a baseline and a follow-up survey yet.</p>".into();
    }
    let rows: Vec<(String, &Change)> = r
        .change
        .questions
        .iter()
        .flat_map(|q| {
            [
                (format!("{} (mentees)", q.question_id), &q.mentees),
                (format!("{} (mentors)", q.question_id), &q.mentors),
            ]
        })
        .collect();
    let extent = rows
        .iter()
        .filter_map(|(_, c)| c.confidence_interval.as_ref().map(|i| i.low.abs().max(i.high.abs())))
        .chain(rows.iter().filter_map(|(_, c)| c.mean_change.map(f64::abs)))
        .fold(1.0_f64, f64::max);
    let (width, row_height, label) = (720.0, 26.0, 220.0);
    let height = 30.0 + row_height * rows.len() as f64;
    let zero = label + (width - label - 20.0) / 2.0;
    let scale = (width - label - 20.0) / 2.0 / extent;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg role="img" aria-label="Change per question" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg"><title>Change per question</title><line x1="{zero}" x2="{zero}" y1="10" y2="{h:.1}" stroke="#4a5568"/>"##,
        h = height - 10.0
    );
    for (i, (name, c)) in rows.iter().enumerate() {
        let y = 20.0 + row_height * i as f64;
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#2d3748">{n}</text>"##,
            x = label - 8.0,
            ty = y + 12.0,
            n = escape(name)
        );
        match (c.mean_change, &c.confidence_interval) {
            (Some(d), interval) => {
                let (x, w) = if d >= 0.0 {
                    (zero, d * scale)
                } else {
                    (zero + d * scale, -d * scale)
                };
                let _ = write!(
                    svg,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="14" fill="#2b6cb0"><title>{d}</title></rect>"##
                );
                if let Some(i) = interval {
                    let _ = write!(
                        svg,
                        r##"<line x1="{a:.1}" x2="{b:.1}" y1="{m:.1}" y2="{m:.1}" stroke="#1a202c" stroke-width="1.5"/>"##,
                        a = zero + i.low * scale,
                        b = zero + i.high * scale,
                        m = y + 7.0
                    );
                }
            }
            (None, _) => {
                let _ = write!(
                    svg,
                    r##"<text x="{x:.1}" y="{ty:.1}" font-size="10" fill="#a0aec0">suppressed (fewer than {k})</text>"##,
                    x = zero + 6.0,
                    ty = y + 11.0,
                    k = r.min_group_size
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

fn retention_chart(r: &ProgrammeReport) -> String {
    let mut labels = Vec::new();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut add = |side: &str, s: &SideRetention| {
        for h in &s.horizons {
            labels.push(format!("{side}, {} mo", h.months));
            ours.push(h.participants.rate);
            theirs.push(h.comparison.rate);
        }
    };
    add("Mentors", &r.retention.mentors);
    add("Mentees", &r.retention.mentees);
    bars(
        "Retention against the comparison group",
        &labels,
        &[("Participants", ours), ("Comparison group", theirs)],
        100.0,
        "%",
    )
}

fn horizon_note(side: &str, h: &Horizon, k: u64) -> String {
    let what = if !h.reached {
        "not reached yet".to_string()
    } else if h.suppressed {
        format!("suppressed (a group under {k})")
    } else {
        match (&h.difference, &h.confidence_interval) {
            (Some(d), Some(i)) => format!("{d:+.1} points (95% CI {:.1} to {:.1})", i.low, i.high),
            _ => "—".into(),
        }
    };
    format!("<li>{} at {} months: {}</li>", escape(side), h.months, escape(&what))
}

fn html(r: &ProgrammeReport) -> String {
    let h = &r.health;
    let curve_labels: Vec<String> = r
        .would_recommend
        .points
        .iter()
        .map(|p| p.sessions_held.to_string())
        .collect();
    let curve = bars(
        "Would recommend, by sessions held",
        &curve_labels,
        &[(
            "Would recommend (9–10), %",
            r.would_recommend
                .points
                .iter()
                .map(|p| p.would_recommend_share)
                .collect(),
        )],
        100.0,
        "%",
    );
    let month_labels: Vec<String> = r.sessions_by_month.iter().map(|m| m.month.clone()).collect();
    let month_max = r
        .sessions_by_month
        .iter()
        .map(|m| m.held.max(m.cancelled).max(m.no_shows))
        .max()
        .unwrap_or(0) as f64;
    let months = bars(
        "Sessions per month",
        &month_labels,
        &[
            (
                "Held",
                r.sessions_by_month.iter().map(|m| Some(m.held as f64)).collect(),
            ),
            (
                "Cancelled",
                r.sessions_by_month.iter().map(|m| Some(m.cancelled as f64)).collect(),
            ),
            (
                "No-show",
                r.sessions_by_month.iter().map(|m| Some(m.no_shows as f64)).collect(),
            ),
        ],
        month_max.max(1.0),
        "",
    );
    let (on_time, late) = (&h.sessions.cancelled_on_time, &h.sessions.cancelled_late);
    let cancel_max = [
        on_time.by_mentor,
        on_time.by_mentee,
        on_time.by_manager,
        late.by_mentor,
        late.by_mentee,
        late.by_manager,
    ]
    .into_iter()
    .max()
    .unwrap_or(0) as f64;
    let cancellations = bars(
        "Cancellations by side",
        &["Mentor".into(), "Mentee".into(), "Manager".into()],
        &[
            (
                "24 h or more ahead",
                vec![
                    Some(on_time.by_mentor as f64),
                    Some(on_time.by_mentee as f64),
                    Some(on_time.by_manager as f64),
                ],
            ),
            (
                "Late (under 24 h)",
                vec![
                    Some(late.by_mentor as f64),
                    Some(late.by_mentee as f64),
                    Some(late.by_manager as f64),
                ],
            ),
        ],
        cancel_max.max(1.0),
        "",
    );
    let mut notes = String::new();
    for (side, s) in [("Mentors", &r.retention.mentors), ("Mentees", &r.retention.mentees)] {
        for horizon in &s.horizons {
            notes.push_str(&horizon_note(side, horizon, r.min_group_size));
        }
    }
    let figure = |v: Option<f64>, unit: &str| v.map_or("—".to_string(), |v| format!("{v:.1}{unit}"));
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{name} — programme report</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a202c; max-width: 960px; margin: 2rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #e2e8f0; }}
.meta {{ color: #4a5568; }} .figures {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
.figure {{ border: 1px solid #e2e8f0; border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; }}
.figure b {{ display: block; font-size: 1.4rem; }} p.method {{ color: #4a5568; font-size: .85rem; }}
section {{ break-inside: avoid; }} @media print {{ body {{ margin: 0; max-width: none; }} }}
</style></head>
<body>
<h1>{name}</h1>
<p class="meta">{starts} to {ends} · {state} · computed {computed} · groups under {k} people are not shown</p>
<div class="figures">
<div class="figure"><b>{pairs}</b>pairs</div>
<div class="figure"><b>{held}</b>sessions held</div>
<div class="figure"><b>{reached}</b>reached the target</div>
<div class="figure"><b>{recommend}</b>would recommend</div>
<div class="figure"><b>{nps}</b>NPS</div>
</div>
<section><h2>Retention against colleagues who did not take part</h2>{retention}<ul>{notes}</ul><p class="method">{retention_method}</p></section>
<section><h2>Would recommend, by sessions held</h2>{curve}</section>
<section><h2>Change in the leaders and their mentors</h2>{change}<p class="method">{change_method}</p></section>
<section><h2>Sessions per month</h2>{months}</section>
<section><h2>Cancellations by side</h2>{cancellations}</section>
</body></html>
"##,
        name = escape(&r.programme.name),
        starts = r.programme.starts_on,
        ends = r.programme.ends_on,
        state = escape(r.programme.state.as_str()),
        computed = r.computed_at.format("%Y-%m-%d %H:%M UTC"),
        k = r.min_group_size,
        pairs = h.pairs.total,
        held = h.sessions.held,
        reached = figure(h.pairs.reached_target_share, "%"),
        recommend = figure(h.surveys.would_recommend_share, "%"),
        nps = figure(h.surveys.nps, ""),
        retention = retention_chart(r),
        retention_method = escape(&r.retention.method),
        change = change_chart(r),
        change_method = escape(&r.change.method),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_preferred_supported_format() {
        assert_eq!(negotiate(None), Some(Format::Json));
        assert_eq!(
            negotiate(Some("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")),
            Some(Format::Html)
        );
        assert_eq!(negotiate(Some("application/zip;q=0.5, text/csv")), Some(Format::Csv));
        assert_eq!(negotiate(Some("image/png")), None);
        assert_eq!(negotiate(Some("text/html;q=0, */*")), Some(Format::Json));
    }

    #[test]
    fn text_cells_are_never_formulas() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("-2"), "'-2");
        assert_eq!(text("plain"), "plain");
    }
}
