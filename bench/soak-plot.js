// The soak's plot as a hand-written SVG (no charting dependency): the gateway's RSS and JS heap
// over time with the ±5 % band around the plateau, and push latency (p99 per sample interval,
// p50 and p99 per minute) below it, on one time axis in minutes.
import { LatencyHistogram } from './soak-histogram.js';

const WIDTH = 900;
const PANEL_HEIGHT = 220;
const MARGIN = { left: 70, right: 150, top: 40, gap: 50, bottom: 40 };
const MiB = 1024 * 1024;

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round tick steps (1, 2, 5 × 10^k) giving about `count` ticks up to `max`. */
function ticks(max, count = 5) {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const values = [];
  for (let v = 0; v <= max + step / 1000; v += step) values.push(Number(v.toPrecision(6)));
  return values;
}

/** Powers of ten from below `min` to above `max`, for a log axis. */
function decades(min, max) {
  const values = [];
  for (let v = 10 ** Math.floor(Math.log10(min)); v <= max * 1.0001; v *= 10) values.push(Number(v.toPrecision(3)));
  return values;
}

function panel({ top, yMax, yMin = 0, log = false, yLabel, xMax, series, band, marks = [] }) {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const x = (minutes) => MARGIN.left + (minutes / xMax) * plotWidth;
  const share = log
    ? (value) => (Math.log10(Math.min(Math.max(value, yMin), yMax)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))
    : (value) => Math.min(value, yMax) / yMax;
  const y = (value) => top + PANEL_HEIGHT - share(value) * PANEL_HEIGHT;
  const parts = [];
  for (const mark of marks) {
    parts.push(`<line x1="${x(mark.at).toFixed(1)}" x2="${x(mark.at).toFixed(1)}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#999" stroke-dasharray="2 3"/>`);
    parts.push(`<text x="${(x(mark.at) + 3).toFixed(1)}" y="${top + PANEL_HEIGHT - 4}" font-size="10" fill="#777">${escape(mark.label)}</text>`);
  }
  if (band) {
    parts.push(`<rect x="${x(band.from).toFixed(1)}" y="${y(band.high).toFixed(1)}" width="${(x(xMax) - x(band.from)).toFixed(1)}" height="${(y(band.low) - y(band.high)).toFixed(1)}" fill="#2a9d8f" fill-opacity="0.12"/>`);
    parts.push(`<text x="${(x(xMax) + 6).toFixed(1)}" y="${top + 14 + series.length * 16}" font-size="11" fill="#2a9d8f">plateau ±5 %</text>`);
  }
  for (const value of log ? decades(yMin, yMax) : ticks(yMax)) {
    parts.push(`<line x1="${MARGIN.left}" x2="${x(xMax)}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#ddd"/>`);
    const label = log && value >= 1000 ? `${value / 1000} s` : String(value);
    parts.push(`<text x="${MARGIN.left - 6}" y="${(y(value) + 4).toFixed(1)}" font-size="11" text-anchor="end">${label}</text>`);
  }
  for (const minute of ticks(xMax, Math.min(10, Math.ceil(xMax)))) {
    parts.push(`<line x1="${x(minute).toFixed(1)}" x2="${x(minute).toFixed(1)}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#eee"/>`);
    parts.push(`<text x="${x(minute).toFixed(1)}" y="${top + PANEL_HEIGHT + 15}" font-size="11" text-anchor="middle">${minute}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#888"/>`);
  parts.push(`<text transform="translate(16 ${top + PANEL_HEIGHT / 2}) rotate(-90)" font-size="12" text-anchor="middle">${escape(yLabel)}</text>`);
  series.forEach((line, index) => {
    const points = line.points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    if (points.length === 0) return;
    const dash = line.dash ? ` stroke-dasharray="${line.dash}"` : '';
    if (line.dots) for (const point of points) parts.push(`<circle cx="${point.split(',')[0]}" cy="${point.split(',')[1]}" r="1.8" fill="${line.color}"/>`);
    else parts.push(`<polyline fill="none" stroke="${line.color}" stroke-width="${line.width ?? 1.5}"${dash} points="${points.join(' ')}"/>`);
    parts.push(`<text x="${x(xMax) + 6}" y="${top + 14 + index * 16}" font-size="11" fill="${line.color}">${escape(line.label)}</text>`);
  });
  return parts.join('\n');
}

/** Stairs: one flat segment per minute at that minute's value. */
const perMinute = (rows, pick) => rows.flatMap((row) => [[row.minute - 1, pick(row)], [row.minute, pick(row)]]);

export function soakSvg(samples, rows, goals, { title, sampleSeconds, snapshotMinutes = [] }) {
  const xMax = Math.max(1, ...rows.map((row) => row.minute), ...samples.map((s) => s.t / 60));
  const rss = samples.map((s) => [s.t / 60, s.gateway.memory.rss / MiB]);
  const heap = samples.map((s) => [s.t / 60, s.gateway.memory.heapUsed / MiB]);
  const memoryMax = Math.max(1, ...rss.map(([, v]) => v)) * 1.15;
  const intervalP99 = samples.map((s) => [s.t / 60, new LatencyHistogram(s.load.latency).quantile(0.99)]);
  const latencyValues = [...intervalP99.map(([, v]) => v), ...rows.flatMap((row) => [row.pushP50Ms, row.pushP99Ms])].filter((v) => Number.isFinite(v) && v > 0);
  // A log axis: a few slow seconds on a shared machine and the usual milliseconds both show.
  const latencyMin = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...latencyValues, 1))));
  const latencyMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...latencyValues)));
  const marks = snapshotMinutes.map((at) => ({ at, label: 'heap snapshot' }));
  const plateau = goals.rssPlateauMiB;
  const top2 = MARGIN.top + PANEL_HEIGHT + MARGIN.gap;
  const height = top2 + PANEL_HEIGHT + MARGIN.bottom;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${MARGIN.left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>
${panel({
  top: MARGIN.top,
  yMax: memoryMax,
  yLabel: 'gateway memory (MiB)',
  xMax,
  marks,
  band: Number.isFinite(plateau) ? { from: Math.min(2, xMax), low: plateau * 0.95, high: plateau * 1.05 } : undefined,
  series: [
    { label: 'RSS', color: '#264653', points: rss, width: 2 },
    { label: 'JS heap used', color: '#e9c46a', points: heap },
  ],
})}
${panel({
  top: top2,
  yMax: latencyMax,
  yMin: latencyMin,
  log: true,
  yLabel: 'push latency (ms, log scale)',
  xMax,
  marks,
  series: [
    { label: `p99 per ${sampleSeconds} s`, color: '#e76f51', points: intervalP99, dots: true },
    { label: 'p99 per minute', color: '#9b2226', points: perMinute(rows, (row) => row.pushP99Ms), width: 2 },
    { label: 'p50 per minute', color: '#2a9d8f', points: perMinute(rows, (row) => row.pushP50Ms), width: 2, dash: '4 3' },
  ],
})}
<text x="${MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2}" y="${height - 8}" font-size="12" text-anchor="middle">minutes of load</text>
</svg>
`;
}
