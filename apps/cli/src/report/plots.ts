// The report's figures: Vega-Lite specs compiled and rendered to SVG in Node by Vega's headless
// view (renderer 'none': no browser, no canvas; text widths are estimated). Every figure is a
// string of SVG to inline in the page.
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite spec as SVG. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const CONFIG = { font: 'sans-serif', view: { stroke: '#ccc' }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelLimit: 260 } };
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export interface CurvePoint {
  run: string;
  step: number;
  value: number;
}

/** Lines (one per run, with a point at each value) of a metric against the step. */
export function curveSpec(title: string, yTitle: string, points: readonly CurvePoint[], xTitle = 'step'): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title, width: 520, height: 260, config: CONFIG,
    data: { values: points.filter((p) => finite(p.value) && finite(p.step)) as unknown as Record<string, unknown>[] },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: xTitle, axis: { format: 'd', tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false }, axis: { format: '.3~f' } },
      color: { field: 'run', type: 'nominal', title: 'run' },
    },
  };
}

export interface IntervalPoint {
  /** The category on the x axis (the method). */
  group: string;
  /** What tells a group's marks apart, as their colour (the seed, e.g. 's2'); side by side within the group in the order given. */
  label: string;
  value: number;
  lo: number;
  hi: number;
  /** A reference beside the value (e.g. the length-only baseline), drawn as a grey tick. */
  reference?: number;
}

/**
 * Each run's value with its 95% interval (a point on a vertical rule) per method, side by side
 * within a method, the bar of the claim as a dashed red rule and an optional reference (grey tick).
 */
export function intervalSpec(title: string, yTitle: string, points: readonly IntervalPoint[], bar: number, referenceTitle?: string): TopLevelSpec {
  const shown = points.filter((p) => finite(p.value));
  // slot: the mark's place within its group, so each group's marks sit side by side in its own band.
  const values = shown.map((p) => ({ ...p, lo: finite(p.lo) ? p.lo : p.value, hi: finite(p.hi) ? p.hi : p.value, slot: shown.filter((q) => q.group === p.group).indexOf(p) }));
  // The methods in the order given; about 40 px per run and 40 per method.
  const groups = [...new Set(values.map((p) => p.group))];
  // A label such as 'repirl (prm.optim.lr=0.003)' on two lines.
  const x = { field: 'group', type: 'nominal' as const, title: 'method', sort: groups, axis: { labelAngle: 0, labelLimit: 240, labelExpr: "split(datum.label, ' (')" } };
  const xOffset = { field: 'slot', type: 'ordinal' as const };
  const colour = { field: 'label', type: 'nominal' as const, title: 'seed' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title, config: CONFIG, width: Math.min(900, Math.max(260, 40 * (values.length + groups.length), 150 * groups.length)), height: 240,
    layer: [
      {
        data: { values: values as unknown as Record<string, unknown>[] },
        layer: [
          { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative', title: yTitle, scale: { zero: false } }, y2: { field: 'hi' }, color: colour } },
          { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, xOffset, y: { field: 'value', type: 'quantitative' }, color: colour } },
          ...(referenceTitle === undefined
            ? []
            : [{
              transform: [{ filter: 'isValid(datum.reference) && isFinite(datum.reference)' }],
              mark: { type: 'tick' as const, color: '#777', thickness: 2, size: 18 },
              encoding: { x, xOffset, y: { field: 'reference', type: 'quantitative' as const }, tooltip: { value: referenceTitle } },
            }]),
        ],
      },
      { data: { values: [{ bar }] }, mark: { type: 'rule', color: '#c0392b', strokeDash: [6, 4], strokeWidth: 1.5 }, encoding: { y: { field: 'bar', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

export interface SearchCurvePoint {
  curve: string;
  method: string;
  prm: string;
  tokens: number;
  tokensLo: number;
  tokensHi: number;
  accuracy: number;
  accuracyLo: number;
  accuracyHi: number;
}

/** Accuracy against generated tokens per problem: one line per PRM and method, both intervals as bars. */
export function searchSpec(title: string, points: readonly SearchCurvePoint[]): TopLevelSpec {
  const values = points.filter((p) => finite(p.accuracy) && finite(p.tokens)) as unknown as Record<string, unknown>[];
  const x = { field: 'tokens', type: 'quantitative' as const, title: 'generated tokens per problem' };
  const y = { field: 'accuracy', type: 'quantitative' as const, title: 'accuracy', scale: { zero: false } };
  const colour = { field: 'curve', type: 'nominal' as const, title: 'PRM: method' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title, config: CONFIG, width: 520, height: 300,
    data: { values },
    layer: [
      { mark: { type: 'rule', opacity: 0.6 }, encoding: { x, y: { field: 'accuracyLo', type: 'quantitative' }, y2: { field: 'accuracyHi' }, color: colour } },
      { mark: { type: 'rule', opacity: 0.4 }, encoding: { x: { field: 'tokensLo', type: 'quantitative' }, x2: { field: 'tokensHi' }, y, color: colour } },
      { mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color: colour, order: { field: 'tokens', type: 'quantitative' } } },
      { mark: { type: 'point', filled: true, size: 50 }, encoding: { x, y, color: colour, shape: { field: 'method', type: 'nominal', title: 'method' } } },
    ],
  } as TopLevelSpec;
}
