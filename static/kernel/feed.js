// Fetching the model: one request at a time, once per announced version.

export class KernelFeed {
  constructor(url, onModel, onError) {
    this.url = url;
    this.onModel = onModel;
    this.onError = onError;
    this.shown = undefined;      // version of the model last handed on
    this.announced = undefined;  // last version a terminal announced
    this.busy = false;
    this.again = false;
    this.closed = false;
  }

  // Both terminals announce every change: the second announcement of a version is a no-op.
  // Versions only change, they need not grow (a fresh lab host starts again), so compare
  // for equality.
  announce(version) {
    if (version === this.announced || version === this.shown) return;
    this.announced = version;
    this.refresh();
  }

  async refresh() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      do {
        this.again = false;
        const res = await fetch(this.url, {headers: {Accept: "application/json"}});
        if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
        const model = await res.json();
        if (this.closed) return;
        this.shown = model.version;
        this.onModel(model);
        // Announced while the request ran, and not what it brought: ask once more.
      } while (this.again && this.announced !== undefined && this.announced !== this.shown);
    } catch (e) {
      if (!this.closed) this.onError(e);
    } finally {
      this.busy = false;
    }
  }
}
