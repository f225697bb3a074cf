//! The swim lanes drawn as one inline SVG: a shared time axis, a row per broker, partition
//! and consumer, and each fault as a vertical line across every row.
//!
//! The drawing carries its own explanations so it reads without script: every bar has a
//! `<title>` (a tooltip in any browser), and text is only written into a bar it fits in.
//! Groups have stable `data-lane` / `data-fault` attributes so tests (and curious readers of
//! the source) can find them. The height grows with the number of rows; the width is fixed
//! and the browser scales it.

use std::fmt::Write;

use super::escape;
use super::lanes::{Lane, Lanes, Leadership, Mark};

mod look;
pub(crate) use look::broker_colour;
use look::{broker_bar, consumer_bar, partition_bar};

/// The drawing's width in SVG units.
const WIDTH: f64 = 1280.0;
/// The column for row labels.
const LABEL_W: f64 = 200.0;
/// Space right of the plot, so the last tick label fits.
const RIGHT_PAD: f64 = 24.0;
/// One row.
const ROW_H: f64 = 22.0;
/// A bar inside a row.
const BAR_H: f64 = 16.0;
/// A section heading (Brokers, Partitions, Consumers).
const HEAD_H: f64 = 24.0;
/// One row of fault labels above the plot.
const FAULT_ROW_H: f64 = 15.0;
/// Rows of fault labels at most; more faults than fit share the last row.
const FAULT_ROWS: usize = 6;
/// The time axis.
const AXIS_H: f64 = 26.0;
/// Roughly how wide one character of 11px text is.
const CHAR_W: f64 = 6.3;

/// Maps session time to x.
struct Scale {
    start_ms: u64,
    span_ms: f64,
}

impl Scale {
    fn x(&self, at_ms: u64) -> f64 {
        let t = at_ms.saturating_sub(self.start_ms) as f64;
        LABEL_W + (t / self.span_ms).clamp(0.0, 1.0) * (WIDTH - LABEL_W - RIGHT_PAD)
    }
}

/// `t+3.2s`: seconds since the session started, as every table of the report writes them.
pub(crate) fn seconds(at_ms: u64) -> String {
    format!("t+{:.1}s", at_ms as f64 / 1000.0)
}

/// A tick every so many ms, so the axis has at most about a dozen labels.
fn tick_step(span_ms: f64) -> u64 {
    const STEPS: [u64; 14] = [
        100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 1_800_000,
    ];
    STEPS
        .into_iter()
        .find(|s| span_ms / *s as f64 <= 12.0)
        .unwrap_or(3_600_000)
}

fn tick_label(at_ms: u64, step: u64) -> String {
    if step < 1000 {
        format!("t+{:.1}s", at_ms as f64 / 1000.0)
    } else if at_ms % 60_000 == 0 && at_ms > 0 && step >= 60_000 {
        format!("t+{}m", at_ms / 60_000)
    } else {
        format!("t+{}s", at_ms / 1000)
    }
}

/// Text shortened to about `width` units, with an ellipsis.
fn fit(text: &str, width: f64) -> Option<String> {
    let room = (width / CHAR_W).floor() as usize;
    let count = text.chars().count();
    if count <= room {
        Some(text.to_string())
    } else if room >= 4 {
        Some(text.chars().take(room - 1).collect::<String>() + "…")
    } else {
        None
    }
}

/// Where each fault's label goes: the first row where it does not run into the previous one.
fn label_rows(lanes: &Lanes, scale: &Scale) -> Vec<usize> {
    let mut ends = [f64::MIN; FAULT_ROWS];
    lanes
        .faults
        .iter()
        .map(|f| {
            let x = scale.x(f.at_ms);
            let w = f.label.chars().count() as f64 * CHAR_W + 10.0;
            let row = (0..FAULT_ROWS)
                .find(|r| ends[*r] < x)
                .unwrap_or(FAULT_ROWS - 1);
            ends[row] = x + w;
            row
        })
        .collect()
}

/// One bar with its tooltip and, if it fits, its text.
#[allow(clippy::too_many_arguments)]
fn bar(
    out: &mut String,
    scale: &Scale,
    (from_ms, to_ms): (u64, u64),
    y: f64,
    height: f64,
    fill: &str,
    class: &str,
    texts: &[&str],
    tip: &str,
) {
    let x = scale.x(from_ms);
    let w = (scale.x(to_ms) - x).max(1.0);
    let top = y + (ROW_H - height) / 2.0;
    let _ = write!(
        out,
        r#"<g class="{class}"><title>{}</title><rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{height:.1}" rx="2" fill="{fill}"/>"#,
        escape(tip)
    );
    // The longest wording that fits whole, else the shortest cut to fit.
    let room = w - 6.0;
    let whole = texts
        .iter()
        .find(|t| t.chars().count() as f64 * CHAR_W <= room)
        .map(|t| t.to_string());
    if let Some(t) = whole.or_else(|| texts.last().and_then(|t| fit(t, room))) {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 3.0,
            y + ROW_H / 2.0 + 4.0,
            escape(&t)
        );
    }
    out.push_str("</g>");
}

fn ticks_on_lane(out: &mut String, scale: &Scale, y: f64, marks: &[Mark], class: &str) {
    for m in marks {
        let x = scale.x(m.at_ms);
        let _ = write!(
            out,
            r#"<g class="{class}"><title>{} {}</title><path d="M{x:.1} {:.1} l-4 -7 h8 z"/></g>"#,
            seconds(m.at_ms),
            escape(&m.text),
            y + ROW_H / 2.0 + 2.0,
        );
    }
}

fn lane_start(out: &mut String, key: &str, label: &str, y: f64, swatch: Option<&str>) {
    let _ = write!(out, r#"<g data-lane="{}">"#, escape(key));
    let mut x = 8.0;
    if let Some(colour) = swatch {
        let _ = write!(
            out,
            r#"<rect x="8" y="{:.1}" width="10" height="10" rx="2" fill="{colour}"/>"#,
            y + 6.0
        );
        x = 24.0;
    }
    let shown = fit(label, LABEL_W - x - 8.0).unwrap_or_default();
    let _ = write!(
        out,
        r#"<text class="label" x="{x}" y="{:.1}"><title>{}</title>{}</text>"#,
        y + ROW_H / 2.0 + 4.0,
        escape(label),
        escape(&shown)
    );
}

fn heading(out: &mut String, title: &str, y: f64) {
    let _ = write!(
        out,
        r#"<text class="heading" x="8" y="{:.1}">{}</text><line class="rule" x1="8" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
        y + HEAD_H - 8.0,
        escape(title),
        WIDTH - RIGHT_PAD,
        y + HEAD_H - 3.0,
        y + HEAD_H - 3.0
    );
}

fn axis(out: &mut String, scale: &Scale, lanes: &Lanes, y: f64, below: bool) {
    let span = scale.span_ms;
    let step = tick_step(span);
    let _ = write!(
        out,
        r#"<g class="axis"><line x1="{LABEL_W}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/>"#,
        WIDTH - RIGHT_PAD
    );
    let first = lanes.start_ms.div_ceil(step) * step;
    let mut t = first;
    while t <= lanes.end_ms {
        let x = scale.x(t);
        let (tick_y, text_y) = if below {
            (y + 4.0, y + 16.0)
        } else {
            (y - 4.0, y - 8.0)
        };
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y:.1}" y2="{tick_y:.1}"/><text x="{x:.1}" y="{text_y:.1}" text-anchor="middle">{}</text>"#,
            tick_label(t, step)
        );
        t += step;
    }
    out.push_str("</g>");
}

/// The lanes as an SVG element, ready to inline in the document. Inline in HTML it needs no
/// `xmlns`: the parser puts it in the SVG namespace, and the file names no address at all.
pub(crate) fn draw(lanes: &Lanes) -> String {
    let scale = Scale {
        start_ms: lanes.start_ms,
        span_ms: (lanes.end_ms.saturating_sub(lanes.start_ms)).max(1) as f64,
    };
    let rows = label_rows(lanes, &scale);
    let fault_rows = rows.iter().max().map_or(0, |r| r + 1);
    let sections = [
        !lanes.brokers.is_empty(),
        !lanes.partitions.is_empty(),
        !lanes.consumers.is_empty(),
        !lanes.send_failures.is_empty(),
    ];
    let lane_rows = lanes.brokers.len()
        + lanes.partitions.len()
        + lanes.consumers.len()
        + usize::from(!lanes.send_failures.is_empty());
    let top = 6.0 + fault_rows as f64 * FAULT_ROW_H + AXIS_H;
    let plot_h =
        sections.iter().filter(|s| **s).count() as f64 * HEAD_H + lane_rows as f64 * ROW_H + 8.0;
    let height = top + plot_h + AXIS_H;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="lanes" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-label="Swim lanes: brokers, partitions and consumers over time, with the faults">"#
    );
    axis(&mut out, &scale, lanes, top, false);
    let mut y = top + 4.0;
    let shade = |out: &mut String, y: f64, i: usize| {
        if i % 2 == 1 {
            let _ = write!(
                out,
                r#"<rect class="shade" x="0" y="{y:.1}" width="{WIDTH}" height="{ROW_H}"/>"#
            );
        }
    };

    if sections[0] {
        heading(&mut out, "Brokers", y);
        y += HEAD_H;
        for (i, lane) in lanes.brokers.iter().enumerate() {
            shade(&mut out, y, i);
            let id: i32 = lane.key.trim_start_matches("broker-").parse().unwrap_or(0);
            lane_start(&mut out, &lane.key, &lane.label, y, Some(broker_colour(id)));
            for s in &lane.segments {
                let (fill, text, tip) = broker_bar(&s.what);
                let tip = format!(
                    "{}: {tip}, {}–{}",
                    lane.label,
                    seconds(s.from_ms),
                    seconds(s.to_ms)
                );
                let class = format!("bar state-{}", text.split(',').next().unwrap_or(text));
                bar(
                    &mut out,
                    &scale,
                    (s.from_ms, s.to_ms),
                    y,
                    BAR_H,
                    fill,
                    &class,
                    &[text],
                    &tip,
                );
            }
            out.push_str("</g>");
            y += ROW_H;
        }
    }
    if sections[1] {
        heading(&mut out, "Partitions: leader · ISR", y);
        y += HEAD_H;
        for (i, lane) in lanes.partitions.iter().enumerate() {
            shade(&mut out, y, i);
            draw_partition(&mut out, &scale, lane, y);
            y += ROW_H;
        }
    }
    if sections[2] {
        heading(&mut out, "Consumers: assigned partitions", y);
        y += HEAD_H;
        for (i, lane) in lanes.consumers.iter().enumerate() {
            shade(&mut out, y, i);
            lane_start(&mut out, &lane.key, &lane.label, y, None);
            for s in &lane.segments {
                let (texts, fill) = consumer_bar(&s.what);
                let tip = format!(
                    "{}: {}, {}–{}",
                    lane.label,
                    texts[0],
                    seconds(s.from_ms),
                    seconds(s.to_ms)
                );
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                bar(
                    &mut out,
                    &scale,
                    (s.from_ms, s.to_ms),
                    y,
                    BAR_H,
                    fill,
                    "bar consumer",
                    &texts,
                    &tip,
                );
            }
            ticks_on_lane(&mut out, &scale, y, &lane.marks, "mark");
            out.push_str("</g>");
            y += ROW_H;
        }
    }
    if sections[3] {
        heading(&mut out, "Producers", y);
        y += HEAD_H;
        lane_start(&mut out, "send-failures", "failed sends", y, None);
        ticks_on_lane(&mut out, &scale, y, &lanes.send_failures, "mark failure");
        out.push_str("</g>");
        y += ROW_H;
    }
    let bottom = y + 4.0;
    axis(&mut out, &scale, lanes, bottom, true);
    draw_steps(&mut out, &scale, lanes, top);
    draw_faults(&mut out, &scale, lanes, &rows, bottom);
    out.push_str("</svg>");
    out
}

fn draw_partition(out: &mut String, scale: &Scale, lane: &Lane<Leadership>, y: f64) {
    lane_start(out, &lane.key, &lane.label, y, None);
    for s in &lane.segments {
        let (height, texts, tip, fill) = partition_bar(&s.what);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tip = format!(
            "{}: {tip}, {}–{}",
            lane.label,
            seconds(s.from_ms),
            seconds(s.to_ms)
        );
        let class = if s.what.leader.is_none() {
            "bar offline"
        } else {
            "bar leader"
        };
        bar(
            out,
            scale,
            (s.from_ms, s.to_ms),
            y,
            height,
            fill,
            class,
            &texts,
            &tip,
        );
    }
    out.push_str("</g>");
}

/// Lesson steps: numbered marks on the top axis (their titles are listed under the drawing).
fn draw_steps(out: &mut String, scale: &Scale, lanes: &Lanes, axis_y: f64) {
    // Steps moments apart would cover each other: each sits at least a marker further on.
    let mut last_x = f64::MIN;
    for (i, step) in lanes.steps.iter().enumerate() {
        let x = scale.x(step.at_ms).max(last_x + 15.0);
        last_x = x;
        let _ = write!(
            out,
            r#"<g class="step" data-step="{}"><title>step {}: {} ({})</title><circle cx="{x:.1}" cy="{axis_y:.1}" r="7"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            i + 1,
            i + 1,
            escape(&step.text),
            seconds(step.at_ms),
            axis_y + 3.5,
            i + 1
        );
    }
}

/// Faults as lines across every lane, each labelled above the plot.
fn draw_faults(out: &mut String, scale: &Scale, lanes: &Lanes, rows: &[usize], bottom: f64) {
    for (fault, row) in lanes.faults.iter().zip(rows) {
        let x = scale.x(fault.at_ms);
        let repair = ["start", "restart", "resume", "heal", "elect"]
            .iter()
            .any(|c| fault.label.split(' ').next() == Some(c));
        let class = match (&fault.refused, repair) {
            (Some(_), _) => "fault refused",
            (None, true) => "fault repair",
            (None, false) => "fault",
        };
        let label_y = 6.0 + (*row as f64 + 1.0) * FAULT_ROW_H - 3.0;
        let tip = match &fault.refused {
            Some(e) => format!("{} at {}: refused ({e})", fault.label, seconds(fault.at_ms)),
            None => format!("{} at {}", fault.label, seconds(fault.at_ms)),
        };
        let shown = match &fault.refused {
            Some(_) => format!("{} ✗", fault.label),
            None => fault.label.clone(),
        };
        let _ = write!(
            out,
            r#"<g class="{class}" data-fault="{}"><title>{}</title><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{bottom:.1}"/><text x="{:.1}" y="{label_y:.1}">{}</text></g>"#,
            escape(&fault.label),
            escape(&tip),
            label_y + 3.0,
            x + 3.0,
            escape(&shown)
        );
    }
}
