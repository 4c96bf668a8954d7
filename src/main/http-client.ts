import { AppError } from '../shared/index.js';

export interface ClientOptions {
  url: string;
  token?: string | undefined;
  service?: string | undefined;
}

export interface Response {
  status: number;
  body: unknown;
}

/** A thin client of the public REST API: what the CLI (and scripts) use. */
export class DrplanClient {
  constructor(private readonly options: ClientOptions) {}

  /** `/v1/plans…` or `/v1/service/<service>/plans…`. */
  plansPath(rest = ''): string {
    const base = this.options.service === undefined ? '/v1/plans' : `/v1/service/${encodeURIComponent(this.options.service)}/plans`;
    return `${base}${rest}`;
  }

  /** `/v1/snapshots` or `/v1/service/<service>/snapshots`. */
  snapshotsPath(rest = ''): string {
    return `${this.options.service === undefined ? '/v1/snapshots' : `/v1/service/${encodeURIComponent(this.options.service)}/snapshots`}${rest}`;
  }

  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    // Relative to the base, so a base with a path (behind a proxy: https://host/service/drplan) keeps it.
    const url = new URL(path.replace(/^\//, ''), this.options.url.endsWith('/') ? this.options.url : `${this.options.url}/`);
    const headers: Record<string, string> = { accept: 'application/json', 'x-drplan-client': 'cli' };
    if (this.options.token !== undefined && this.options.token !== '') headers['authorization'] = `Bearer ${this.options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: globalThis.Response;
    try {
      response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new AppError('UNAVAILABLE', `cannot reach drplan at ${this.options.url}: ${cause?.code ?? cause?.message ?? (error as Error).message} (is 'drplan serve' or 'drplan api' running? --url sets the address)`);
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed };
  }
}
