//! A run's report as one self-contained HTML page (`index.html` beside the
//! history): the verdict, throughput and latency over time with the
//! nemesis's fault intervals shaded, and a timeline of operations per
//! process for one key — the failing key, zoomed on the window where the
//! search got stuck (the last operations of the longest linearization in
//! green, the one that cannot follow them in red), in the manner of
//! Knossos's and Porcupine's visualisations. Plain SVG, no scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checker::{KeyReport, Report, Verdict};
use crate::history::{History, Op, Outcome};

/// One fault the nemesis injected, in history time (ns since the start).
#[derive(Clone, Debug)]
pub struct Fault {
    pub start_ns: u64,
    pub end_ns: u64,
    pub label: String,
}

/// What the page shows.
pub struct Run<'a> {
    pub title: &'a str,
    /// The text report (counts, faults, the checker's explanation).
    pub summary: &'a str,
    pub valid: bool,
    pub history: &'a History,
    pub report: &'a Report,
    pub faults: &'a [Fault],
}

const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 50.0;
/// Most points the latency chart draws (a long run is sampled evenly).
const MAX_POINTS: usize = 20_000;
/// Operations of the linearization shown before the stuck one.
const WINDOW_OPS: usize = 12;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Maps `[lo, hi]` onto the chart's x pixels.
#[derive(Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
}

impl Axis {
    fn x(&self, t: f64) -> f64 {
        let span = (self.hi - self.lo).max(1e-9);
        MARGIN + (t - self.lo) / span * (WIDTH - 2.0 * MARGIN)
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Shaded fault intervals and their labels, for a chart `height` high.
fn fault_bands(out: &mut String, axis: Axis, faults: &[Fault], height: f64) {
    for f in faults {
        let (a, b) = (axis.x(secs(f.start_ns)), axis.x(secs(f.end_ns)));
        if b < MARGIN || a > WIDTH - MARGIN {
            continue;
        }
        let (a, b) = (a.max(MARGIN), b.min(WIDTH - MARGIN));
        let _ = write!(
            out,
            r##"<rect x="{a:.1}" y="10" width="{:.1}" height="{:.1}" fill="#e74c3c" opacity="0.15"><title>{}</title></rect><text x="{a:.1}" y="20" font-size="9" fill="#c0392b">{}</text>"##,
            (b - a).max(1.0),
            height - 30.0,
            escape(&f.label),
            escape(&f.label),
        );
    }
}

fn time_axis(out: &mut String, axis: Axis, y: f64) {
    let _ = write!(
        out,
        r##"<line x1="{MARGIN}" y1="{y}" x2="{}" y2="{y}" stroke="#333"/>"##,
        WIDTH - MARGIN
    );
    let span = axis.hi - axis.lo;
    let step = [0.001, 0.01, 0.1, 1.0, 5.0, 10.0, 30.0, 60.0]
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(120.0);
    let mut t = (axis.lo / step).ceil() * step;
    while t <= axis.hi {
        let x = axis.x(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="#333"/><text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">{}s</text>"##,
            y + 4.0,
            y + 15.0,
            if step < 1.0 {
                format!("{t:.3}")
            } else {
                format!("{t:.0}")
            }
        );
        t += step;
    }
}

/// Completed and unknown operations per second.
fn throughput(out: &mut String, run: &Run, axis: Axis) {
    let seconds = axis.hi.ceil().max(1.0) as usize;
    let mut ok = vec![0u32; seconds + 1];
    let mut unknown = vec![0u32; seconds + 1];
    for op in &run.history.ops {
        let bin = (secs(op.invoke_ns) as usize).min(seconds);
        match op.outcome {
            Outcome::Done(_) => ok[bin] += 1,
            Outcome::Unknown => unknown[bin] += 1,
        }
    }
    let top = f64::from(ok.iter().chain(&unknown).copied().max().unwrap_or(1).max(1));
    let height = 200.0;
    let _ = write!(
        out,
        r##"<h2>Throughput (operations invoked per second)</h2><svg width="{WIDTH}" height="{height}" font-family="sans-serif">"##
    );
    fault_bands(out, axis, run.faults, height);
    let plot = height - 40.0;
    for (bins, colour, label) in [(&ok, "#2e86c1", "ok"), (&unknown, "#e67e22", "unknown")] {
        let points: Vec<String> = bins
            .iter()
            .enumerate()
            .map(|(s, &n)| {
                let y = 10.0 + plot - f64::from(n) / top * plot;
                format!("{:.1},{y:.1}", axis.x(s as f64 + 0.5))
            })
            .collect();
        let _ = write!(
            out,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"><title>{label}</title></polyline>"##,
            points.join(" ")
        );
    }
    let _ = write!(
        out,
        r##"<text x="5" y="15" font-size="10">{top}</text><text x="{}" y="15" font-size="10" fill="#2e86c1">ok</text><text x="{}" y="28" font-size="10" fill="#e67e22">unknown</text>"##,
        WIDTH - MARGIN + 5.0,
        WIDTH - MARGIN + 5.0
    );
    time_axis(out, axis, height - 30.0);
    out.push_str("</svg>");
}

/// Latency of every completed operation, by invocation time (log scale).
fn latency(out: &mut String, run: &Run, axis: Axis) {
    let done: Vec<&Op> = run
        .history
        .ops
        .iter()
        .filter(|o| o.complete_ns.is_some())
        .collect();
    let every = done.len().div_ceil(MAX_POINTS).max(1);
    let height = 240.0;
    let plot = height - 40.0;
    // 0.1 ms .. 10 s, logarithmic.
    let (lo, hi) = (-1.0f64, 4.0f64);
    let y = |ms: f64| 10.0 + plot - ((ms.max(0.1).log10() - lo) / (hi - lo)).min(1.0) * plot;
    let _ = write!(
        out,
        r##"<h2>Latency (ms, log scale) by invocation time</h2><svg width="{WIDTH}" height="{height}" font-family="sans-serif">"##
    );
    fault_bands(out, axis, run.faults, height);
    for ms in [1.0, 10.0, 100.0, 1000.0] {
        let _ = write!(
            out,
            r##"<line x1="{MARGIN}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="5" y="{0:.1}" font-size="10">{ms}</text>"##,
            y(ms),
            WIDTH - MARGIN
        );
    }
    for op in done.iter().step_by(every) {
        let Some(end) = op.complete_ns else { continue };
        let ms = (end - op.invoke_ns) as f64 / 1e6;
        let colour = if crate::workload::is_read(&op.call) {
            "#2e86c1"
        } else {
            "#27ae60"
        };
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="1.5" fill="{colour}" opacity="0.6"/>"##,
            axis.x(secs(op.invoke_ns)),
            y(ms)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{0}" y="15" font-size="10" fill="#2e86c1">reads</text><text x="{0}" y="28" font-size="10" fill="#27ae60">writes</text>"##,
        WIDTH - MARGIN + 5.0
    );
    time_axis(out, axis, height - 30.0);
    out.push_str("</svg>");
}

/// One key's operations, one row per process.
fn timeline(out: &mut String, run: &Run, key: &KeyReport) {
    let ops: Vec<&Op> = run
        .history
        .ops
        .iter()
        .filter(|o| o.key == key.key)
        .collect();
    if ops.is_empty() {
        return;
    }
    let end_of_history = ops
        .iter()
        .map(|o| o.complete_ns.unwrap_or(o.invoke_ns))
        .max()
        .unwrap_or(0);
    let end = |o: &Op| o.complete_ns.unwrap_or(end_of_history);
    // On failure: the last operations of the longest linearization and the
    // stuck one; the view spans them.
    let tail: Vec<usize> = key.longest.iter().rev().take(WINDOW_OPS).copied().collect();
    let focus: Vec<usize> = tail.iter().copied().chain(key.stuck).collect();
    let (lo, hi) = if focus.is_empty() {
        let lo = ops.iter().map(|o| o.invoke_ns).min().unwrap_or(0);
        (lo, end_of_history)
    } else {
        let lo = focus.iter().map(|&i| ops[i].invoke_ns).min().unwrap_or(0);
        let hi = focus.iter().map(|&i| end(ops[i])).max().unwrap_or(lo);
        (lo, hi)
    };
    let pad = (hi - lo) / 10 + 1;
    let axis = Axis {
        lo: secs(lo.saturating_sub(pad)),
        hi: secs(hi + pad),
    };
    let visible: Vec<(usize, &Op)> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.invoke_ns <= hi + pad && end(o) + pad >= lo)
        .map(|(i, o)| (i, *o))
        .collect();
    let mut rows: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, o) in &visible {
        let next = rows.len();
        rows.entry(o.process).or_insert(next);
    }
    let row_h = 22.0;
    let height = 40.0 + row_h * rows.len() as f64;
    let _ = write!(
        out,
        r##"<h2>Key {} — {}</h2><p>{}</p><svg width="{WIDTH}" height="{height}" font-family="sans-serif">"##,
        escape(&key.key),
        match key.verdict {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not linearizable",
            Verdict::Unknown => "undecided (search budget ran out)",
        },
        if key.stuck.is_some() {
            "Green: the last operations of the longest linearization the checker found; red: the operation that cannot follow them; the dashed line: the moment the history became impossible (the shortest failing prefix ends there). Hover for details."
        } else {
            "Every operation on this key, one row per client process. Hover for details."
        }
    );
    fault_bands(out, axis, run.faults, height);
    for (process, row) in &rows {
        // Harness processes are client << 32 | incarnation: show "c.i".
        let name = if *process >> 32 > 0 {
            format!("{}.{}", process >> 32, process & 0xffff_ffff)
        } else {
            format!("p{process}")
        };
        let _ = write!(
            out,
            r##"<text x="2" y="{:.1}" font-size="10"><title>process {process}</title>{name}</text>"##,
            10.0 + row_h * *row as f64 + 14.0
        );
    }
    for (i, o) in visible {
        let row = rows.get(&o.process).copied().unwrap_or(0);
        let y = 10.0 + row_h * row as f64;
        let (a, b) = (axis.x(secs(o.invoke_ns)), axis.x(secs(end(o))));
        let (fill, dash) = match (Some(i) == key.stuck, tail.contains(&i), &o.outcome) {
            (true, _, _) => ("#e74c3c", ""),
            (_, true, _) => ("#58d68d", ""),
            (_, _, Outcome::Unknown) => ("#f5cba7", r#" stroke-dasharray="4 2""#),
            _ => ("#d5d8dc", ""),
        };
        let _ = write!(
            out,
            r##"<g><title>{}</title><rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="#555"{dash}/><text x="{:.1}" y="{:.1}" font-size="9">{}</text></g>"##,
            escape(&o.to_string()),
            (b - a).max(2.0),
            row_h - 6.0,
            a + 2.0,
            y + 11.0,
            escape(&format!("{:?}", o.call))
                .chars()
                .take(((b - a) / 5.0) as usize)
                .collect::<String>()
        );
    }
    if let Some(t) = key.failed_by_ns {
        let x = axis.x(secs(t));
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="5" x2="{x:.1}" y2="{:.1}" stroke="#c0392b" stroke-dasharray="3 3"><title>already impossible at {:.3} s</title></line>"##,
            height - 28.0,
            secs(t)
        );
    }
    time_axis(out, axis, height - 28.0);
    out.push_str("</svg>");
}

/// The page.
pub fn html(run: &Run) -> String {
    let end = run
        .history
        .ops
        .iter()
        .map(|o| o.complete_ns.unwrap_or(o.invoke_ns))
        .chain(run.faults.iter().map(|f| f.end_ns))
        .max()
        .unwrap_or(0);
    let axis = Axis {
        lo: 0.0,
        hi: secs(end).max(1.0),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<!doctype html><html><head><meta charset="utf-8"><title>{0}</title></head><body style="font-family: sans-serif; max-width: 1040px"><h1>{0}: <span style="color: {1}">{2}</span></h1><pre>{3}</pre>"##,
        escape(run.title),
        if run.valid { "#27ae60" } else { "#c0392b" },
        if run.valid { "VALID" } else { "INVALID" },
        escape(run.summary)
    );
    throughput(&mut out, run, axis);
    latency(&mut out, run, axis);
    // The failing key, else the busiest one.
    let shown = run
        .report
        .keys
        .iter()
        .find(|k| k.verdict == Verdict::NotLinearizable)
        .or(run.report.first_failure())
        .or(run.report.keys.iter().max_by_key(|k| k.ops));
    if let Some(key) = shown {
        timeline(&mut out, run, key);
    }
    out.push_str("</body></html>\n");
    out
}
