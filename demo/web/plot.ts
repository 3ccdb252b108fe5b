/** A small line plot on a canvas: the training page's live loss and accuracy curves. */

export interface Series {
  label: string;
  color: string;
  /** [x, y] points; drawn as a line, or as dots when `dots`. */
  points: Array<[number, number]>;
  dots?: boolean;
}

export class LinePlot {
  readonly series: Series[] = [];
  private xMax = 1;

  /** `yRange` fixed (accuracy: [0, 1]) or null to fit the data (loss). */
  constructor(private readonly canvas: HTMLCanvasElement, private readonly yRange: [number, number] | null) {}

  reset(xMax: number, series: Series[]): void {
    this.xMax = Math.max(1, xMax);
    this.series.splice(0, this.series.length, ...series);
    this.draw();
  }

  draw(): void {
    const ctx = this.canvas.getContext('2d')!;
    const {width, height} = this.canvas;
    const pad = {left: 40, right: 10, top: 18, bottom: 20};
    ctx.clearRect(0, 0, width, height);
    const all = this.series.flatMap(s => s.points.map(p => p[1])).filter(Number.isFinite);
    const [y0, y1] = this.yRange ?? [0, Math.max(1e-3, ...all) * 1.05];
    const px = (x: number) => pad.left + (width - pad.left - pad.right) * x / this.xMax;
    const py = (y: number) => pad.top + (height - pad.top - pad.bottom) * (1 - (y - y0) / (y1 - y0));
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#dde1e8';
    ctx.fillStyle = '#5b6474';
    for (let i = 0; i <= 4; i++) {
      const y = y0 + (y1 - y0) * i / 4;
      ctx.beginPath();
      ctx.moveTo(pad.left, py(y));
      ctx.lineTo(width - pad.right, py(y));
      ctx.stroke();
      ctx.fillText(y.toFixed(y1 - y0 < 2 ? 2 : 1), 4, py(y) + 4);
    }
    ctx.fillText('step', width - pad.right - 24, height - 6);
    let legendX = pad.left;
    for (const s of this.series) {
      ctx.strokeStyle = ctx.fillStyle = s.color;
      ctx.lineWidth = 1.5;
      if (s.dots) {
        for (const [x, y] of s.points) {
          ctx.beginPath();
          ctx.arc(px(x), py(y), 3.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      } else {
        ctx.beginPath();
        s.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(px(x), py(y)) : ctx.lineTo(px(x), py(y))));
        ctx.stroke();
      }
      ctx.fillText(s.label, legendX, 12);
      legendX += ctx.measureText(s.label).width + 16;
    }
    ctx.lineWidth = 1;
  }
}
