/**
 * Images per second over the last few seconds, and the ETA it implies: what progress lines show.
 * A window rather than the mean since start, so that a resumed attempt, a worker joining or a
 * loaded machine shows up within seconds.
 */
export class ThroughputMeter {
  private windowStart = Date.now();
  private windowImages = 0;
  /** Undefined until the first window closes. */
  imagesPerSecond?: number;

  constructor(private readonly windowMs = 2000) {}

  add(images: number): void {
    this.windowImages += images;
    const elapsed = Date.now() - this.windowStart;
    if (elapsed >= this.windowMs) {
      this.imagesPerSecond = Math.round((this.windowImages * 1000) / elapsed);
      this.windowStart = Date.now();
      this.windowImages = 0;
    }
  }

  /** Seconds until `imagesLeft` more images are done at the current rate. */
  etaSeconds(imagesLeft: number): number | undefined {
    return this.imagesPerSecond ? Math.round(Math.max(0, imagesLeft) / this.imagesPerSecond) : undefined;
  }
}
