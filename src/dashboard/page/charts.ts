import { svgElement } from './dom.js';

/** One minute of `/api/v1/stats`'s history (see src/metrics/stats-history.ts). */
export interface MinutePoint {
  at: string;
  webhooks: number;
  webhookMissRate: number | null;
  pushLatencyP99Ms: number | null;
  upstreamCalls: number;
  upstream429: number;
}

export interface ChartSeries {
  /** One value per minute, oldest first; null = nothing to show for that minute. */
  values: Array<number | null>;
  /** A CSS class that colours it (see page-css.ts). */
  className: string;
}

const WIDTH = 300;
const HEIGHT = 90;
const MINUTES = 60;

/**
 * Draws a chart of the last hour into `svg`: bars for counts, a line for rates and latencies,
 * scaled to the largest value shown. The svg's label says what it shows in words (its figure's
 * caption carries the latest value), so the picture is never the only way to read it.
 */
export function drawChart(svg: SVGSVGElement, kind: 'bars' | 'line', series: ChartSeries[], describe: string): void {
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.replaceChildren();
  const all = series.flatMap((each) => each.values.filter((value): value is number => value !== null));
  const max = Math.max(1e-9, ...all);
  const slot = WIDTH / MINUTES;
  const y = (value: number) => HEIGHT - 2 - (value / max) * (HEIGHT - 6);
  svg.append(svgElement('line', { x1: 0, y1: HEIGHT - 1, x2: WIDTH, y2: HEIGHT - 1, class: 'chart-axis' }));
  let drawn = 0;
  for (const each of series) {
    // The newest minute sits at the right edge.
    const offset = MINUTES - each.values.length;
    if (kind === 'bars') {
      each.values.forEach((value, index) => {
        if (value === null || value <= 0) return;
        const top = y(value);
        svg.append(svgElement('rect', { x: (offset + index) * slot + 0.5, y: top, width: Math.max(1, slot - 1), height: HEIGHT - 1 - top, class: each.className }));
        drawn++;
      });
    } else {
      const points = each.values.flatMap((value, index) => (value === null ? [] : [`${((offset + index) * slot + slot / 2).toFixed(1)},${y(value).toFixed(1)}`]));
      if (points.length === 1) points.push(points[0]!.replace(/^[\d.]+/, (x) => String(Number(x) + 1)));
      if (points.length > 0) {
        svg.append(svgElement('polyline', { points: points.join(' '), class: `chart-line ${each.className}` }));
        drawn += points.length;
      }
    }
  }
  svg.dataset.drawn = String(drawn);
  svg.setAttribute('aria-label', describe);
  const title = svgElement('title');
  title.textContent = describe;
  svg.prepend(title);
}
