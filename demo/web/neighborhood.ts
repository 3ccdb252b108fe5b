/**
 * "See the neighborhood": a 2-D token grid; clicking a query shows the keys it attends to for the chosen
 * kernel size, dilation, stride and causal flags, computed by tfjs-natten's own index math (`core`).
 */
import {core} from '../../src/index';

/** One axis of the grid's configuration. */
export interface AxisConfig {
  length: number;
  kernel: number;
  dilation: number;
  stride: number;
  causal: boolean;
}

/** What one axis contributes for one query: the window's slots and the stride group's members. */
interface AxisView {
  /** Coordinate of slot t (t < kernel), or -1 past the axis end (a causal window's masked tail). */
  slotCoord: number[];
  /** Slots t < valid are attended; the rest are masked (causal). */
  valid: number;
  /** Coordinates of the queries whose window starts where this query's does (its stride group). */
  group: number[];
}

function axisView(i: number, a: AxisConfig): AxisView {
  const {length: L, kernel: k, dilation: d, stride: s, causal} = a;
  const w = core.getAxisWindow(i, L, k, s, d, causal);
  const slotCoord = Array.from({length: k}, (_, t) => (w.first + t * d < L ? w.first + t * d : -1));
  const g = core.getDilationGroup(i, d);
  const groupLength = core.getGroupLength(L, d, g);
  const leader = core.getStrideGroupLeader((i - g) / d, s, groupLength, causal);
  const group: number[] = [];
  for (let j = g; j < L; j += d) {
    if (core.getStrideGroupLeader((j - g) / d, s, groupLength, causal) === leader) {
      group.push(j);
    }
  }
  return {slotCoord, valid: w.count, group};
}

/** The rule the ops enforce on each axis (src/ops/checks.ts), as a message, or null when it holds. */
function axisProblem(name: string, a: AxisConfig): string | null {
  const whole = [a.length, a.kernel, a.dilation, a.stride].every(Number.isInteger);
  if (!whole || a.length < 2 || a.length > 24) {
    return `${name}: length must be a whole number from 2 to 24`;
  }
  if (a.kernel < 2 || a.kernel * a.dilation > a.length) {
    return `${name}: kernel ${a.kernel} with dilation ${a.dilation} needs 2 <= kernel and kernel * dilation <= ` +
        `length ${a.length}`;
  }
  if (a.dilation < 1) {
    return `${name}: dilation must be >= 1`;
  }
  if (a.stride < 1 || a.stride > a.kernel) {
    return `${name}: stride must be from 1 to the kernel size ${a.kernel}`;
  }
  return null;
}

/** The controls of one axis: a number input per field, a checkbox for causal. */
const FIELDS: Array<{name: keyof AxisConfig, min: number, max: number}> = [
  {name: 'length', min: 2, max: 24}, {name: 'kernel', min: 2, max: 24}, {name: 'dilation', min: 1, max: 12},
  {name: 'stride', min: 1, max: 24},
];
const START: AxisConfig = {length: 12, kernel: 5, dilation: 1, stride: 1, causal: false};

function controlsTable(): HTMLTableElement {
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  for (const title of ['', ...FIELDS.map(f => f.name), 'causal']) {
    head.append(Object.assign(document.createElement('th'), {textContent: title}));
  }
  const body = table.createTBody();
  ['rows', 'columns'].forEach((axisName, n) => {
    const row = body.insertRow();
    row.append(Object.assign(document.createElement('th'), {textContent: axisName}));
    for (const f of FIELDS) {
      row.insertCell().append(Object.assign(document.createElement('input'), {
        type: 'number', name: `${f.name}${n}`, min: String(f.min), max: String(f.max), value: String(START[f.name]),
      }));
    }
    row.insertCell().append(Object.assign(document.createElement('input'), {type: 'checkbox', name: `causal${n}`}));
  });
  return table;
}

export class NeighborhoodView {
  private axes: [AxisConfig, AxisConfig] | null = null;
  private query: [number, number];
  private cells: HTMLButtonElement[] = [];

  constructor(private readonly form: HTMLFormElement, private readonly grid: HTMLElement,
              private readonly stats: HTMLElement, private readonly error: HTMLElement) {
    this.query = [0, 0];
    form.append(controlsTable());
    form.addEventListener('input', () => this.rebuild());
    grid.addEventListener('click', e => {
      const cell = (e.target as HTMLElement).closest('button.cell') as HTMLButtonElement | null;
      if (cell != null) {
        this.query = [Number(cell.dataset.row), Number(cell.dataset.col)];
        this.highlight();
      }
    });
    this.rebuild();
  }

  private readAxis(n: number): AxisConfig {
    const value = (name: string) => Number((this.form.elements.namedItem(`${name}${n}`) as HTMLInputElement).value);
    return {
      length: value('length'), kernel: value('kernel'), dilation: value('dilation'), stride: value('stride'),
      causal: (this.form.elements.namedItem(`causal${n}`) as HTMLInputElement).checked,
    };
  }

  /** Reads the controls, redraws the grid when its size changed, and highlights the current query. */
  private rebuild(): void {
    const axes: [AxisConfig, AxisConfig] = [this.readAxis(0), this.readAxis(1)];
    const problem = axisProblem('rows', axes[0]) ?? axisProblem('columns', axes[1]);
    this.error.hidden = problem == null;
    this.error.textContent = problem ?? '';
    if (problem != null) {
      this.axes = null;
      this.cells.forEach(c => c.className = 'cell');
      this.stats.textContent = '';
      return;
    }
    const [rows, cols] = [axes[0].length, axes[1].length];
    if (this.axes == null || this.cells.length !== rows * cols || this.axes[1].length !== cols) {
      this.grid.replaceChildren();
      this.grid.style.gridTemplateColumns = `repeat(${cols}, 22px)`;
      this.cells = [];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const cell = document.createElement('button');
          cell.type = 'button';
          cell.dataset.row = String(r);
          cell.dataset.col = String(c);
          cell.title = `token (${r}, ${c})`;
          this.grid.append(cell);
          this.cells.push(cell);
        }
      }
    }
    this.axes = axes;
    this.query = [Math.min(this.query[0], rows - 1), Math.min(this.query[1], cols - 1)];
    this.highlight();
  }

  private highlight(): void {
    if (this.axes == null) {
      return;
    }
    const [a0, a1] = this.axes;
    const [qr, qc] = this.query;
    const v0 = axisView(qr, a0), v1 = axisView(qc, a1);
    const slot = (v: AxisView, x: number) => v.slotCoord.indexOf(x);
    const span = (v: AxisView, x: number) => {
      const inside = v.slotCoord.filter(c => c >= 0);
      return x >= inside[0] && x <= inside[inside.length - 1];
    };
    let keys = 0;
    for (const cell of this.cells) {
      const r = Number(cell.dataset.row), c = Number(cell.dataset.col);
      const t0 = slot(v0, r), t1 = slot(v1, c);
      const classes = ['cell'];
      if (t0 >= 0 && t1 >= 0) {
        const attended = t0 < v0.valid && t1 < v1.valid;
        classes.push(attended ? 'key' : 'masked');
        keys += attended ? 1 : 0;
      } else if (span(v0, r) && span(v1, c)) {
        classes.push('gap');
      }
      if (v0.group.includes(r) && v1.group.includes(c)) {
        classes.push('group');
      }
      if (r === qr && c === qc) {
        classes.push('query');
      }
      cell.className = classes.join(' ');
    }
    const slots = a0.kernel * a1.kernel;
    const groupSize = v0.group.length * v1.group.length;
    this.stats.textContent = `query (${qr}, ${qc}): window ${a0.kernel} x ${a1.kernel} = ${slots} slots; attends to ${
        keys} keys${keys < slots ? ` (${slots - keys} slots masked)` : ''}; stride group of ${groupSize} ${
        groupSize === 1 ? 'query' : 'queries'}`;
    this.stats.dataset.keys = String(keys);
    this.stats.dataset.slots = String(slots);
  }
}
