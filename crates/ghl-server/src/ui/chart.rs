//! Charts as server-rendered SVG: no script and no chart library to ship, drawn by the same
//! page render that has the numbers. Each chart is a `figure` whose legend gives every series'
//! total in words, and each bar says its bucket and value in a `title` (a tooltip, and what a
//! screen reader reads), so nothing depends on seeing the colours.

use maud::{html, Markup};

/// The drawing's size in SVG units; CSS scales it to the page's width.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
/// Room for the y axis' numbers on the left and the buckets' times below.
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// One coloured series: its name in the legend, its CSS class (the colour), a value per bucket.
pub(crate) struct Series<'a> {
    pub name: &'a str,
    pub class: &'static str,
    pub values: Vec<u64>,
}

struct Bar {
    class: &'static str,
    x: f64,
    y: f64,
    height: f64,
    title: String,
}

/// What a chart's values are, which says how its legend sums them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Counts per bucket (runs ended): the legend gives each series' total.
    Counts,
    /// Levels in each bucket (the queue): the legend gives each series' highest.
    Levels,
}

impl Measure {
    /// A series' values summed up, in words: `12` (a total) or `most 4`.
    fn sum_up(self, values: &[u64]) -> String {
        match self {
            Self::Counts => values.iter().sum::<u64>().to_string(),
            Self::Levels => format!("most {}", values.iter().max().copied().unwrap_or(0)),
        }
    }
}

/// Bars over time, one per bucket, the series stacked in each.
pub(crate) struct StackedBars<'a> {
    pub title: &'a str,
    pub measure: Measure,
    /// Each bucket's label (its start time), as many as each series has values.
    pub buckets: Vec<String>,
    pub series: Vec<Series<'a>>,
}

impl StackedBars<'_> {
    fn stack_height(&self, bucket: usize) -> u64 {
        self.series.iter().map(|series| series.values.get(bucket).copied().unwrap_or(0)).sum()
    }

    pub(crate) fn render(&self) -> Markup {
        let count = self.buckets.len();
        let highest = (0..count).map(|bucket| self.stack_height(bucket)).max().unwrap_or(0);
        let top = nice_ceiling(highest);
        let plot_width = WIDTH - LEFT;
        let plot_height = HEIGHT - BOTTOM - TOP;
        let slot = if count == 0 { plot_width } else { plot_width / count as f64 };
        let scale = plot_height / top as f64;
        let y_of = |value: u64| TOP + plot_height - value as f64 * scale;
        let summary = self.summary();
        html! {
            figure.chart {
                figcaption {
                    strong { (self.title) }
                    ul.legend {
                        @for series in &self.series {
                            li { span class={ "swatch " (series.class) } {} (series.name) ": " (self.measure.sum_up(&series.values)) }
                        }
                    }
                }
                svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(summary) {
                    @for tick in ticks(top) {
                        line.grid x1=(LEFT) x2=(WIDTH) y1=(y_of(tick)) y2=(y_of(tick)) {}
                        text.axis x=(LEFT - 4.0) y=(y_of(tick) + 4.0) text-anchor="end" { (tick) }
                    }
                    @for bar in self.bars(slot, scale, &y_of) {
                        rect class=(bar.class) x=(bar.x) width=(slot * 0.8) y=(bar.y) height=(bar.height) {
                            title { (bar.title) }
                        }
                    }
                    @for bucket in axis_labels(count) {
                        // The first and last labels line up with the plot's edges, inside it.
                        @let (x, anchor) = match bucket {
                            0 => (LEFT, "start"),
                            last if last + 1 == count => (WIDTH, "end"),
                            _ => (LEFT + bucket as f64 * slot + slot / 2.0, "middle"),
                        };
                        text.axis x=(x) y=(HEIGHT - 6.0) text-anchor=(anchor) {
                            (self.buckets[bucket])
                        }
                    }
                }
            }
        }
    }

    /// Each non-zero value as a rectangle, stacked on the values of the series before it.
    fn bars(&self, slot: f64, scale: f64, y_of: &dyn Fn(u64) -> f64) -> Vec<Bar> {
        let mut bars = Vec::new();
        for (bucket, label) in self.buckets.iter().enumerate() {
            let mut base = 0;
            for series in &self.series {
                let value = series.values.get(bucket).copied().unwrap_or(0);
                if value > 0 {
                    bars.push(Bar {
                        class: series.class,
                        x: LEFT + bucket as f64 * slot + slot * 0.1,
                        y: y_of(base + value),
                        height: value as f64 * scale,
                        title: format!("{label} {}: {value}", series.name),
                    });
                }
                base += value;
            }
        }
        bars
    }

    /// What the chart shows, in words: the title, then each series' total.
    fn summary(&self) -> String {
        let totals: Vec<String> = self
            .series
            .iter()
            .map(|series| format!("{} {}", series.name, self.measure.sum_up(&series.values)))
            .collect();
        let first = self.buckets.first().map(String::as_str).unwrap_or("");
        let last = self.buckets.last().map(String::as_str).unwrap_or("");
        format!("{}, {first} to {last}: {}", self.title, totals.join(", "))
    }
}

/// Where the y axis is marked: 0, the middle and the top, each once.
fn ticks(top: u64) -> Vec<u64> {
    let mut ticks = vec![0, top / 2, top];
    ticks.dedup();
    ticks
}

/// The first, middle and last bucket: enough times under the bars to read the axis.
fn axis_labels(count: usize) -> Vec<usize> {
    let mut labels = vec![0, count / 2, count.saturating_sub(1)];
    labels.retain(|&bucket| bucket < count);
    labels.dedup();
    labels
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1), so the axis
/// reads in round numbers.
fn nice_ceiling(value: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for step in [1, 2, 5] {
            if step * power >= value.max(1) {
                return step * power;
            }
        }
        power = power.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(done: Vec<u64>, dead: Vec<u64>) -> StackedBars<'static> {
        StackedBars {
            title: "Runs per minute",
            measure: Measure::Counts,
            buckets: (0..done.len()).map(|minute| format!("12:{minute:02}")).collect(),
            series: vec![
                Series { name: "done", class: "ok", values: done },
                Series { name: "dead", class: "bad", values: dead },
            ],
        }
    }

    #[test]
    fn a_level_chart_says_its_highest_not_its_total() {
        let mut levels = chart(vec![3, 7, 2], vec![0, 0, 0]);
        levels.measure = Measure::Levels;
        let svg = levels.render().into_string();
        assert!(svg.contains("done: most 7") && !svg.contains("done: 12"), "{svg}");
    }

    #[test]
    fn each_non_zero_value_is_a_bar_whose_height_is_its_share_of_the_axis() {
        let svg = chart(vec![10, 0, 5], vec![0, 0, 5]).render().into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        // The highest stack is 10, so the axis ends at 10 and a bar of 5 is half the plot.
        let plot = HEIGHT - BOTTOM - TOP;
        assert!(svg.contains(&format!("height=\"{}\"", plot)), "{svg}");
        assert!(svg.contains(&format!("height=\"{}\"", plot / 2.0)), "{svg}");
        assert!(svg.contains("<title>12:02 dead: 5</title>"), "{svg}");
    }

    #[test]
    fn the_legend_and_the_label_say_each_series_total_in_words() {
        let svg = chart(vec![3, 4], vec![1, 0]).render().into_string();
        assert!(svg.contains("done: 7"), "{svg}");
        assert!(svg.contains("aria-label=\"Runs per minute, 12:00 to 12:01: done 7, dead 1\""));
    }

    #[test]
    fn an_empty_hour_draws_an_axis_and_no_bars() {
        let svg = chart(vec![0; 60], vec![0; 60]).render().into_string();
        assert_eq!(svg.matches("<rect").count(), 0);
        assert!(svg.contains(">12:00<") && svg.contains(">12:30<") && svg.contains(">12:59<"));
    }

    #[test]
    fn the_axis_ends_on_a_round_number() {
        let ceilings: Vec<u64> = [0, 1, 3, 7, 11, 48, 120].into_iter().map(nice_ceiling).collect();
        assert_eq!(ceilings, [1, 1, 5, 10, 20, 50, 200]);
    }
}
