// Draws one scaling curve (curves.ts) as an SVG with vega-lite compiled to vega and rendered headless: the library
// and the raw client as two coloured lines over the same x points, axes titled with their units, log scales where
// the x values span decades. Latency curves add a dash per percentile; points where a side fell behind the
// offered rate get a cross instead of a dot.
import * as vega from 'vega';
import * as vl from 'vega-lite';

export type Side = 'library' | 'raw';

/** One drawn point. */
export interface PlotPoint {
  x: number;
  y: number;
  side: Side;
  /** A second series per side (latency: 'p50', 'p99', 'p99.9'); drawn with its own dash. */
  series?: string;
  /** false: the side did not keep up at this x (drawn as a cross). Default true. */
  kept?: boolean;
}

export interface PlotSpec {
  title: string;
  subtitle?: string;
  xTitle: string;
  yTitle: string;
  /** Log scale on x (true when the x values span decades). */
  xLog: boolean;
  yLog?: boolean;
  points: readonly PlotPoint[];
}

const COLORS: Record<Side, string> = { library: '#1f77b4', raw: '#e4572e' };

/** The vega-lite spec of a curve (exported for the test; renderSvg is what callers use). */
export function vegaLiteSpec(p: PlotSpec): vl.TopLevelSpec {
  const xs = [...new Set(p.points.map((q) => q.x))].sort((a, b) => a - b);
  const withSeries = p.points.some((q) => q.series !== undefined);
  const values = p.points.map((q) => ({
    x: q.x,
    y: q.y,
    side: q.side,
    series: q.series ?? '',
    line: `${q.side} ${q.series ?? ''}`.trim(),
    point: q.kept === false ? 'fell behind' : 'kept up',
  }));
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: p.xTitle,
    // The x range is the points' own (a log scale would round it out to whole decades), padded a little.
    scale: {
      ...(p.xLog ? { type: 'log' as const } : { zero: false }),
      domain: [xs[0] ?? 0, xs.at(-1) ?? 1],
      nice: false,
      padding: 16,
    },
    axis: { values: xs, labelFlush: false, grid: true },
  };
  const y = {
    field: 'y',
    type: 'quantitative' as const,
    title: p.yTitle,
    scale: p.yLog ? { type: 'log' as const } : { zero: true },
  };
  const color = {
    field: 'side',
    type: 'nominal' as const,
    title: 'side',
    scale: { domain: ['library', 'raw'], range: [COLORS.library, COLORS.raw] },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: p.subtitle === undefined ? p.title : { text: p.title, subtitle: p.subtitle },
    width: 560,
    height: 320,
    background: 'white',
    data: { values },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x,
          y,
          color,
          detail: { field: 'line', type: 'nominal' },
          ...(withSeries
            ? {
                strokeDash: {
                  field: 'series',
                  type: 'nominal' as const,
                  title: 'percentile',
                  sort: ['p50', 'p99', 'p99.9'],
                },
              }
            : {}),
        },
      },
      {
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x,
          y,
          color,
          // Only curves with a rate to keep (latency) say whether each point kept it.
          ...(p.points.some((q) => q.kept !== undefined)
            ? {
                shape: {
                  field: 'point',
                  type: 'nominal' as const,
                  title: 'rate',
                  scale: { domain: ['kept up', 'fell behind'], range: ['circle', 'cross'] },
                },
              }
            : {}),
          tooltip: [
            { field: 'side', type: 'nominal' },
            { field: 'series', type: 'nominal' },
            { field: 'x', type: 'quantitative' },
            { field: 'y', type: 'quantitative', format: ',.3~g' },
          ],
        },
      },
    ],
  };
}

/** The curve as a standalone SVG document. */
export async function renderSvg(p: PlotSpec): Promise<string> {
  const compiled = vl.compile(vegaLiteSpec(p)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
