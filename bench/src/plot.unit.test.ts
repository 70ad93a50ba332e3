// The curve plotting (plot.ts): a curve renders as an SVG document with both sides' lines, its title and its
// axis titles; latency curves also get their percentile dashes and the fell-behind marker.
import { describe, expect, it } from 'vitest';
import { type PlotPoint, renderSvg, vegaLiteSpec } from './plot.js';

const throughput: PlotPoint[] = [1, 4, 16, 64].flatMap((x) => [
  { x, y: 1_000 * x, side: 'library' as const },
  { x, y: 1_200 * x, side: 'raw' as const },
]);

describe('renderSvg', () => {
  it('draws an SVG with a line per side and the titles with their units', async () => {
    const svg = await renderSvg({
      title: 'RabbitMQ: confirmed publish vs concurrent awaiting callers',
      xTitle: 'awaiting callers (both sides)',
      yTitle: 'confirmed publishes, msg/s',
      xLog: true,
      points: throughput,
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('RabbitMQ: confirmed publish vs concurrent awaiting callers');
    expect(svg).toContain('awaiting callers (both sides)');
    expect(svg).toContain('confirmed publishes, msg/s');
    // The legend names both series, and each is drawn as its own path in its own colour.
    expect(svg).toContain('>library<');
    expect(svg).toContain('>raw<');
    const lines = [...svg.matchAll(/<path [^>]*aria-roledescription="line mark"[^>]*>/g)].map((m) => m[0]);
    expect(lines).toHaveLength(2);
    expect(lines.some((l) => l.includes('#1f77b4'))).toBe(true);
    expect(lines.some((l) => l.includes('#e4572e'))).toBe(true);
  });

  it('draws a latency curve with a dashed line per percentile and a cross where a side fell behind', async () => {
    const points: PlotPoint[] = [500, 1_000, 2_000].flatMap((x) =>
      (['library', 'raw'] as const).flatMap((side) =>
        (['p50', 'p99', 'p99.9'] as const).map((series, i) => ({
          x,
          y: (i + 1) * (x / 500),
          side,
          series,
          kept: x < 2_000,
        })),
      ),
    );
    const svg = await renderSvg({
      title: 'Kafka: publish → handler latency vs offered rate',
      xTitle: 'offered rate, msg/s',
      yTitle: 'publish → handler latency, ms',
      xLog: true,
      yLog: true,
      points,
    });
    expect(svg).toContain('offered rate, msg/s');
    expect(svg).toContain('>p99.9<');
    expect(svg).toContain('>fell behind<');
    expect([...svg.matchAll(/aria-roledescription="line mark"/g)]).toHaveLength(6);
  });

  it('puts only the measured x values on a log axis', () => {
    const spec = JSON.stringify(
      vegaLiteSpec({ title: 't', xTitle: 'x', yTitle: 'y', xLog: true, points: throughput }),
    );
    expect(spec).toContain('"type":"log"');
    expect(spec).toContain('"values":[1,4,16,64]');
  });
});
