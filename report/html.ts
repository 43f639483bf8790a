/** Small HTML helpers: escaping, number formats, tables. Everything the builder prints goes through them. */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Raw markup, as opposed to text that still needs escaping. */
export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

export function html(strings: TemplateStringsArray, ...values: (Html | string | number | undefined | (Html | string)[])[]): Html {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return new Html(out);
}

function render(v: Html | string | number | undefined | (Html | string)[]): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (v instanceof Html) return v.markup;
  return escapeHtml(String(v));
}

/** JSON inside a `<script>` element: `<` escaped so no string in the data can end the element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Library source inside a `<script>` element: the only sequence that could end it early is `</script`. */
export function scriptSource(source: string): string {
  return source.replace(/<\/script/gi, '<\\/script');
}

export const fmt = {
  accuracy: (x: number | undefined | null) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(4)),
  ms: (x: number | undefined | null) => (x == null || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(3) : x.toFixed(1)),
  seconds: (x: number) => (x < 100 ? `${x.toFixed(1)} s` : `${Math.floor(x / 60)} min ${Math.round(x % 60)} s`),
  /** Millions with two decimals: MACs and parameters of mobile-size networks read best that way. */
  millions: (x: number | undefined | null) => (x == null || !Number.isFinite(x) ? '–' : `${(x / 1e6).toFixed(2)}M`),
  rate: (x: number) => (x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(3) : Number(x.toPrecision(4)).toString()),
  number: (x: number | undefined | null, digits = 4) => (x == null || !Number.isFinite(x) ? '–' : Number(x.toFixed(digits)).toString()),
  /** A share or a relative error (0.123 is `12.3%`); `signed` writes the + of an overestimate too. */
  percent: (x: number | undefined | null, digits = 1, signed = false) =>
    x == null || !Number.isFinite(x) ? '–' : `${signed && x > 0 ? '+' : ''}${Number((100 * x).toFixed(digits)).toString()}%`,
};

export interface Column<T> {
  header: string;
  cell: (row: T) => Html | string | number;
  /** Numbers align right, so columns of them compare at a glance. */
  numeric?: boolean;
}

export function table<T>(columns: Column<T>[], rows: T[], rowClass?: (row: T) => string | undefined): Html {
  const head = columns.map((c) => html`<th${c.numeric ? new Html(' class="num"') : ''}>${c.header}</th>`);
  const body = rows.map((r) => {
    const cls = rowClass?.(r);
    const cells = columns.map((c) => html`<td${c.numeric ? new Html(' class="num"') : ''}>${cellValue(c.cell(r))}</td>`);
    return html`<tr${cls ? new Html(` class="${escapeHtml(cls)}"`) : ''}>${cells}</tr>`;
  });
  return html`<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function cellValue(v: Html | string | number): Html | string {
  return typeof v === 'number' ? String(v) : v;
}
