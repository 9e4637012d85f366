//! A picture of one run as SVG: one lane per host and keeper, time left to right.
//!
//! Drawn: fault spans as shaded bands (partition red, hold amber, crash grey) on the hosts
//! they touch; each keeper job as a bar from submit to outcome, coloured by outcome, with a
//! tick per group of streamed events; each hive job as a bar on its hive's lane; arrows for
//! requests (keeper → queen submit, queen → hive forward); violations as red dots on the
//! host they concern, with their message underneath. Hover shows details (`<title>`).

use crate::check::Violation;
use crate::scenario::{FaultKind, Scenario};
use crate::trace::{Trace, What};
use rbee::observer::HubRecord;
use std::collections::BTreeMap;
use svg::node::element::{Circle, Definitions, Group, Line, Marker, Path, Rectangle, Text, Title};
use svg::Document;

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 56.0;
const ROW: f64 = 22.0;
const LANE_PAD: f64 = 14.0;
/// Events closer than this many pixels are drawn as one tick.
const TICK_PX: f64 = 3.0;

struct Lane {
    y: f64,
    height: f64,
}

struct Scale {
    end: f64,
}

impl Scale {
    /// The x of time `t`; later times are clipped to the right edge.
    fn x(&self, t: u64) -> f64 {
        LEFT + ((t as f64).min(self.end) / self.end.max(1.0)) * (WIDTH - LEFT - RIGHT)
    }
}

fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        "done" => "#3a9d5d",
        "error" => "#d9534f",
        "cancelled" => "#f0ad4e",
        "lost" => "#7b4fa0",
        "rejected" => "#8b1a1a",
        _ => "#9e9e9e",
    }
}

fn text(x: f64, y: f64, size: f64, content: impl Into<String>) -> Text {
    Text::new(content)
        .set("x", x)
        .set("y", y)
        .set("font-size", size)
        .set("font-family", "sans-serif")
}

/// A keeper job's bar: (index, operation, submit t, outcome t, outcome, event times).
struct Bar {
    label: String,
    start: u64,
    end: u64,
    outcome: String,
    events: Vec<u64>,
}

/// Packs bars into rows so that neither overlapping bars nor their labels (about 5.5 px
/// a character) cover each other.
fn rows(bars: &[Bar], scale: &Scale) -> Vec<usize> {
    let mut ends: Vec<f64> = Vec::new();
    bars.iter()
        .map(|b| {
            let (x0, x1) = (scale.x(b.start), scale.x(b.end));
            let right = x1.max(x0 + 5.5 * (b.label.chars().count() + 12) as f64);
            match ends.iter().position(|&e| e < x0) {
                Some(r) => {
                    ends[r] = right;
                    r
                }
                None => {
                    ends.push(right);
                    ends.len() - 1
                }
            }
        })
        .collect()
}

/// Renders the run as an SVG document.
///
/// The time axis ends shortly after the last keeper outcome or fault; the settle period
/// after it (e.g. a never-streamed job waiting out its TTL) is clipped and only noted.
pub fn render(scenario: &Scenario, trace: &Trace, violations: &[Violation]) -> String {
    let active_end = trace
        .entries
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                What::Outcome { .. } | What::Fault { .. } | What::TimeLimit
            )
        })
        .map(|e| e.t)
        .max()
        .unwrap_or_else(|| trace.end());
    let end = (active_end + active_end / 20).clamp(1, trace.end().max(1));
    let scale = Scale { end: end as f64 };
    // Keeper job bars.
    let mut keeper_bars: BTreeMap<&str, Vec<Bar>> = BTreeMap::new();
    for (index, plan) in scenario.jobs.iter().enumerate() {
        let mut bar = Bar {
            label: format!("#{index} {}", plan.operation.name()),
            start: plan.at_ms,
            end,
            outcome: "none".into(),
            events: Vec::new(),
        };
        for e in &trace.entries {
            match &e.what {
                What::Submit { index: i, job } if *i == index => {
                    bar.start = e.t;
                    bar.label = format!("#{index} {} {}", plan.operation.name(), job.short());
                }
                What::Received { index: i, .. } if *i == index => bar.events.push(e.t),
                What::Outcome {
                    index: i, outcome, ..
                } if *i == index => {
                    bar.end = e.t;
                    bar.outcome = outcome.clone();
                }
                _ => {}
            }
        }
        keeper_bars
            .entry(plan.keeper.as_str())
            .or_default()
            .push(bar);
    }
    // Hive job bars (Create → Forget on each hive host).
    let mut hive_bars: BTreeMap<&str, Vec<Bar>> = BTreeMap::new();
    let mut open: BTreeMap<(&str, &rbee::ids::JobId), (u64, String)> = BTreeMap::new();
    for e in &trace.entries {
        if e.host == "queen" {
            continue;
        }
        if let What::Hub { record } = &e.what {
            match record {
                HubRecord::Create { job, operation } => {
                    open.insert((e.host.as_str(), job), (e.t, operation.clone()));
                }
                HubRecord::Forget { job } => {
                    if let Some((start, op)) = open.remove(&(e.host.as_str(), job)) {
                        hive_bars.entry(e.host.as_str()).or_default().push(Bar {
                            label: format!("{op} {}", job.short()),
                            start,
                            end: e.t,
                            outcome: "hive".into(),
                            events: Vec::new(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    for ((host, job), (start, op)) in open {
        hive_bars.entry(host).or_default().push(Bar {
            label: format!("{op} {} (never ended)", job.short()),
            start,
            end,
            outcome: "error".into(),
            events: Vec::new(),
        });
    }

    // Lanes.
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    let mut order = Vec::new();
    let mut y = TOP;
    for host in scenario.hosts() {
        let n_rows = keeper_bars
            .get(host.as_str())
            .or(hive_bars.get(host.as_str()))
            .map_or(1, |b| {
                rows(b, &scale).into_iter().max().map_or(1, |m| m + 1)
            });
        let height = LANE_PAD * 2.0 + ROW * n_rows as f64;
        lanes.insert(host.clone(), Lane { y, height });
        order.push(host);
        y += height;
    }
    let lanes_end = y;
    let list_height = 22.0 * (violations.len().min(12) as f64 + 2.0);
    let height = lanes_end + 40.0 + list_height;

    let mut doc = Document::new()
        .set("viewBox", (0, 0, WIDTH, height))
        .set("width", WIDTH)
        .set("height", height)
        .add(
            Rectangle::new()
                .set("width", WIDTH)
                .set("height", height)
                .set("fill", "white"),
        )
        .add(
            Definitions::new().add(
                Marker::new()
                    .set("id", "arrow")
                    .set("markerWidth", 8)
                    .set("markerHeight", 8)
                    .set("refX", 7)
                    .set("refY", 4)
                    .set("orient", "auto")
                    .add(Path::new().set("d", "M0,0 L8,4 L0,8 z").set("fill", "#555")),
            ),
        )
        .add(
            text(
                LEFT,
                24.0,
                16.0,
                format!(
                    "{} — {} mode, seed {}, {} ms simulated{}",
                    scenario.name,
                    scenario.mode.name(),
                    scenario.seed,
                    trace.end(),
                    if trace.end() > end {
                        format!(" (shown: 0–{end} ms)")
                    } else {
                        String::new()
                    }
                ),
            )
            .set("font-weight", "bold"),
        );

    // Legend.
    let legend = [
        ("#3a9d5d", "done"),
        ("#d9534f", "error"),
        ("#f0ad4e", "cancelled"),
        ("#7b4fa0", "lost"),
        ("#9e9e9e", "detached / never connected"),
        ("#5b8bd0", "hive job"),
        ("#f5c6cb", "partition"),
        ("#ffe8a1", "hold"),
        ("#cfcfcf", "crashed"),
    ];
    let mut lx = LEFT;
    for (colour, name) in legend {
        doc = doc
            .add(
                Rectangle::new()
                    .set("x", lx)
                    .set("y", 32)
                    .set("width", 10)
                    .set("height", 10)
                    .set("fill", colour),
            )
            .add(text(lx + 14.0, 41.0, 10.0, name).set("fill", "#333"));
        lx += 30.0 + 6.0 * name.len() as f64;
    }
    // Lane backgrounds and labels.
    for (i, host) in order.iter().enumerate() {
        let lane = &lanes[host];
        let kind = if host == "queen" {
            "queen"
        } else if scenario.keepers.contains(host) {
            "keeper"
        } else {
            "hive"
        };
        doc = doc
            .add(
                Rectangle::new()
                    .set("x", 0)
                    .set("y", lane.y)
                    .set("width", WIDTH)
                    .set("height", lane.height)
                    .set("fill", if i % 2 == 0 { "#f7f7f7" } else { "#ffffff" }),
            )
            .add(
                text(8.0, lane.y + lane.height / 2.0, 13.0, host.clone())
                    .set("font-weight", "bold"),
            )
            .add(text(8.0, lane.y + lane.height / 2.0 + 14.0, 10.0, kind).set("fill", "#777"));
    }
    // Time axis.
    let step = [
        10u64, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000,
    ]
    .into_iter()
    .find(|s| end / s <= 12)
    .unwrap_or(120_000);
    let mut t = 0;
    while t <= end {
        let x = scale.x(t);
        let label = if step >= 1000 {
            format!("{} s", t / 1000)
        } else {
            format!("{t} ms")
        };
        doc = doc
            .add(
                Line::new()
                    .set("x1", x)
                    .set("x2", x)
                    .set("y1", TOP)
                    .set("y2", lanes_end)
                    .set("stroke", "#e0e0e0"),
            )
            .add(text(x - 10.0, lanes_end + 16.0, 10.0, label).set("fill", "#555"));
        t += step;
    }
    // Fault spans.
    let mut active: BTreeMap<(FaultKind, Vec<String>), u64> = BTreeMap::new();
    let mut spans = Vec::new();
    for e in &trace.entries {
        if let What::Fault { fault, hosts } = &e.what {
            let kind = match fault.as_str() {
                "partition" => FaultKind::Partition,
                "hold" => FaultKind::Hold,
                "crash" => FaultKind::Crash,
                "repair" => FaultKind::Partition,
                "release" => FaultKind::Hold,
                _ => FaultKind::Crash,
            };
            let mut key = hosts.clone();
            key.sort();
            if ["partition", "hold", "crash"].contains(&fault.as_str()) {
                active.insert((kind, key), e.t);
            } else if let Some(start) = active.remove(&(kind, key.clone())) {
                spans.push((kind, key, start, e.t));
            }
        }
    }
    spans.extend(
        active
            .into_iter()
            .map(|((kind, hosts), start)| (kind, hosts, start, end)),
    );
    for (kind, hosts, start, stop) in spans {
        let (fill, name) = match kind {
            FaultKind::Partition => ("#f5c6cb", "partition"),
            FaultKind::Hold => ("#ffe8a1", "hold"),
            _ => ("#cfcfcf", "crashed"),
        };
        for h in &hosts {
            let Some(lane) = lanes.get(h) else { continue };
            let (x0, x1) = (scale.x(start), scale.x(stop).max(scale.x(start) + 2.0));
            doc = doc.add(
                Group::new()
                    .add(Title::new(format!(
                        "{name} {} from {start} ms to {stop} ms",
                        hosts.join(" ↔ ")
                    )))
                    .add(
                        Rectangle::new()
                            .set("x", x0)
                            .set("y", lane.y + 2.0)
                            .set("width", x1 - x0)
                            .set("height", lane.height - 4.0)
                            .set("fill", fill)
                            .set("opacity", 0.8),
                    )
                    .add(text(x0 + 3.0, lane.y + 11.0, 9.0, name).set("fill", "#7a3b00")),
            );
        }
    }
    // Bars.
    for (host, bars) in keeper_bars.iter().chain(hive_bars.iter()) {
        let Some(lane) = lanes.get(*host) else {
            continue;
        };
        for (bar, row) in bars.iter().zip(rows(bars, &scale)) {
            let y = lane.y + LANE_PAD + ROW * row as f64;
            let (x0, x1) = (
                scale.x(bar.start),
                scale.x(bar.end).max(scale.x(bar.start) + 3.0),
            );
            let colour = if bar.outcome == "hive" {
                "#5b8bd0"
            } else {
                outcome_colour(&bar.outcome)
            };
            let mut g = Group::new()
                .add(Title::new(format!(
                    "{} on {host}: {} ms → {} ms, {} ({} events)",
                    bar.label,
                    bar.start,
                    bar.end,
                    bar.outcome,
                    bar.events.len()
                )))
                .add(
                    Rectangle::new()
                        .set("x", x0)
                        .set("y", y)
                        .set("width", x1 - x0)
                        .set("height", 8)
                        .set("rx", 2)
                        .set("fill", colour),
                );
            let mut last = f64::MIN;
            for &t in &bar.events {
                let x = scale.x(t);
                if x - last >= TICK_PX {
                    g = g.add(
                        Line::new()
                            .set("x1", x)
                            .set("x2", x)
                            .set("y1", y - 2.0)
                            .set("y2", y + 10.0)
                            .set("stroke", "#222")
                            .set("stroke-width", 1),
                    );
                    last = x;
                }
            }
            let label = if bar.outcome == "hive" {
                bar.label.clone()
            } else {
                format!("{} → {}", bar.label, bar.outcome)
            };
            g = g.add(text(x0, y + 19.0, 9.5, label).set("fill", "#333"));
            doc = doc.add(g);
        }
    }
    // Request arrows: submit (keeper → queen) and forward (queen → hive).
    let centre = |h: &str| lanes.get(h).map(|l| l.y + l.height / 2.0);
    let arrow = |doc: Document, t: u64, from: &str, to: &str| match (centre(from), centre(to)) {
        (Some(y1), Some(y2)) => doc.add(
            Line::new()
                .set("x1", scale.x(t))
                .set("x2", scale.x(t))
                .set("y1", y1)
                .set("y2", y2)
                .set("stroke", "#555")
                .set("stroke-width", 0.8)
                .set("marker-end", "url(#arrow)"),
        ),
        _ => doc,
    };
    for e in &trace.entries {
        match &e.what {
            What::Submit { .. } => doc = arrow(doc, e.t, &e.host, "queen"),
            What::Hub {
                record: HubRecord::Forward { hive, .. },
            } => doc = arrow(doc, e.t, "queen", hive),
            _ => {}
        }
    }
    // Violations.
    for v in violations {
        let lane = lanes.get(&v.host).or(lanes.get("queen"));
        if let Some(lane) = lane {
            doc = doc.add(
                Circle::new()
                    .set("cx", scale.x(v.t))
                    .set("cy", lane.y + 6.0)
                    .set("r", 5)
                    .set("fill", "#e00000")
                    .add(Title::new(v.to_string())),
            );
        }
    }
    let mut y = lanes_end + 40.0;
    let heading = if violations.is_empty() {
        "no violations".to_owned()
    } else {
        format!("{} violation(s)", violations.len())
    };
    doc = doc.add(
        text(LEFT, y, 13.0, heading)
            .set(
                "fill",
                if violations.is_empty() {
                    "#3a9d5d"
                } else {
                    "#e00000"
                },
            )
            .set("font-weight", "bold"),
    );
    for v in violations.iter().take(12) {
        y += 20.0;
        doc = doc.add(text(LEFT, y, 11.0, v.to_string()).set("fill", "#e00000"));
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::two_jobs;

    #[test]
    fn draws_a_lane_per_host_bars_and_marks_violations_in_red() {
        let (scenario, trace) = two_jobs();
        let clean = render(&scenario, &trace, &[]);
        for host in scenario.hosts() {
            assert!(
                clean.contains(&format!(">\n{host}\n</text>")),
                "no lane for {host}"
            );
        }
        assert!(clean.contains("#0 model_download") && clean.contains("→ done"));
        assert!(clean.contains("no violations") && !clean.contains("#e00000\"/>"));
        let v = Violation {
            invariant: "isolation",
            t: 100,
            host: "alice".into(),
            job: "j".into(),
            message: "leaked <event>".into(),
        };
        let broken = render(&scenario, &trace, &[v]);
        assert!(broken.contains("1 violation(s)"));
        assert!(
            broken.contains("leaked &lt;event&gt;"),
            "messages are escaped"
        );
        assert!(broken.contains("<circle"), "a red marker on the lane");
    }
}
