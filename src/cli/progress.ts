/**
 * The live progress line of `distill run`: phase, epoch, step, every loss term, samples/s, ETA.
 * On a terminal it redraws one line; elsewhere (CI, pipes) it prints a line every few seconds.
 */
import type { ProgressMessage } from '../protocol/engine';
import { duration } from './format';

export class ProgressBar {
  private lastPlain = 0;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly plainEveryMs = 5000) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  render(p: ProgressMessage): string {
    const width = 20;
    const frac = p.steps > 0 ? p.step / p.steps : 0;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const losses = Object.entries(p.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' · ');
    return `${p.job.padEnd(11)} epoch ${p.epoch}/${p.epochs} ${bar} ${String(p.step).padStart(String(p.steps).length)}/${p.steps}` +
      `  ${losses}  ${Math.round(p.samplesPerSecond)} samples/s  ETA ${duration(p.etaSeconds)}`;
  }

  update(p: ProgressMessage): void {
    const text = this.render(p);
    if (this.tty) {
      const cols = this.out.columns || 160;
      this.out.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
      this.drawn = true;
    } else {
      const now = Date.now();
      if (now - this.lastPlain >= this.plainEveryMs || p.step === p.steps) {
        this.lastPlain = now;
        this.out.write(text + '\n');
      }
    }
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    if (this.tty && this.drawn) this.out.write('\r\x1b[2K');
    this.out.write(line + '\n');
    this.drawn = false;
  }

  done(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
