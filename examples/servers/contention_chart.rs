//! Draws a chart from the CSV that `deposit --sweep` writes: goodput of the swept strategies
//! (optimistic, adaptive, pessimistic, atomic) by number of concurrent workers, one row of
//! panels per backend and one column per number of hot rows, for one think time.
//!
//! ```text
//! cargo run --release --example contention_chart -- docs/contention.csv docs/contention.svg
//! cargo run --release --example contention_chart -- docs/contention.csv docs/contention-think5.svg 5
//! ```

use std::collections::BTreeMap;
use std::error::Error;

use plotters::prelude::*;

/// (backend, hot rows, strategy) -> [(workers, goodput per second)]
type Series = BTreeMap<(String, u32, String), Vec<(u32, f64)>>;

/// The lines, in the legend's order, with their colours.
const STRATEGIES: [(&str, RGBColor); 5] = [
    ("optimistic", BLUE),
    ("adaptive", GREEN),
    ("pessimistic", RED),
    ("atomic", RGBColor(128, 128, 128)),
    ("combined", MAGENTA),
];

/// The rows of `think_ms`, from a CSV with the header `deposit --sweep` writes.
fn read(path: &str, think_ms: &str) -> Result<Series, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|&cell| cell == name)
            .ok_or(format!("no column `{name}` in {path}"))
    };
    let [backend, think, workers, hot, strategy, goodput] = [
        column("backend")?,
        column("think_ms")?,
        column("workers")?,
        column("hot_rows")?,
        column("strategy")?,
        column("goodput_per_s")?,
    ];
    let mut series = Series::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(format!("malformed line: {line}").into());
        }
        if cells[think] != think_ms {
            continue;
        }
        series
            .entry((
                cells[backend].to_owned(),
                cells[hot].parse()?,
                cells[strategy].to_owned(),
            ))
            .or_default()
            .push((cells[workers].parse()?, cells[goodput].parse()?));
    }
    if series.is_empty() {
        return Err(format!("no rows with think_ms = {think_ms} in {path}").into());
    }
    Ok(series)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "docs/contention.csv".into());
    let output = args.next().unwrap_or_else(|| "docs/contention.svg".into());
    let think_ms = args.next().unwrap_or_else(|| "0".into());
    let series = read(&input, &think_ms)?;
    let mut backends: Vec<String> = series.keys().map(|(b, _, _)| b.clone()).collect();
    backends.dedup();
    let mut hot_rows: Vec<u32> = series.keys().map(|(_, hot, _)| *hot).collect();
    hot_rows.sort();
    hot_rows.dedup();

    let root =
        SVGBackend::new(&output, (1200, 40 + 340 * backends.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        &format!(
            "1,000 deposits, think time {think_ms} ms: goodput (deposits/s) by concurrent workers"
        ),
        ("sans-serif", 22),
    )?;
    let panels = body.split_evenly((backends.len(), hot_rows.len()));
    for (index, panel) in panels.iter().enumerate() {
        let backend = &backends[index / hot_rows.len()];
        let hot = hot_rows[index % hot_rows.len()];
        let lines: Vec<_> = STRATEGIES
            .iter()
            .filter_map(|(strategy, color)| {
                let points = series.get(&(backend.clone(), hot, (*strategy).to_owned()))?;
                Some((*strategy, *color, points))
            })
            .collect();
        // Each panel its own scale: the backends differ by several times.
        let top = lines
            .iter()
            .flat_map(|(_, _, points)| points.iter().map(|(_, goodput)| *goodput))
            .fold(0.0, f64::max)
            * 1.15;
        let most_workers = lines
            .iter()
            .flat_map(|(_, _, points)| points.iter().map(|(workers, _)| *workers))
            .max()
            .unwrap_or(1)
            .max(2);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{backend}, {hot} hot row{}",
                    if hot == 1 { "" } else { "s" }
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d((1u32..most_workers).log_scale(), 0.0..top.max(1.0))?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("deposits/s")
            .x_labels(8)
            .draw()?;
        for (strategy, color, points) in lines {
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(strategy)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart.draw_series(
                points
                    .iter()
                    .map(|&point| Circle::new(point, 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    println!("wrote {output}");
    Ok(())
}
