// @ts-check
// The dashboard's only way to the server: the public REST API, relative to the page (so it also
// works behind a proxy under a path), with the bearer token from sessionStorage and ETags.

const TOKEN_KEY = 'drplan.token';

/** The API refused the request for want of a (right) token. */
export class Unauthorized extends Error {}

/** The API could not be reached, or answered with something that is not the API. */
export class Unreachable extends Error {}

/**
 * @typedef {{ status: number, body: any, changed: boolean }} Result
 */

export class Api {
  constructor() {
    /** @type {Map<string, { etag: string, status: number, body: unknown }>} */
    this.cache = new Map();
  }

  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  /** @param {string} token */
  setToken(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    this.cache.clear();
  }

  /**
   * A GET that revalidates with If-None-Match: `changed` is false when the server answered 304 and
   * the body is the one seen last time.
   * @param {string} path relative to the page, e.g. `v1/services`
   * @returns {Promise<Result>}
   */
  async get(path) {
    const cached = this.cache.get(path);
    const response = await this.send('GET', path, undefined, cached === undefined ? {} : { 'if-none-match': cached.etag });
    if (response.status === 304 && cached !== undefined) return { status: cached.status, body: cached.body, changed: false };
    const body = await readBody(response);
    const etag = response.headers.get('etag');
    if (etag !== null) this.cache.set(path, { etag, status: response.status, body });
    return { status: response.status, body, changed: true };
  }

  /**
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<Result>}
   */
  async post(path, body) {
    const response = await this.send('POST', path, body, {});
    return { status: response.status, body: await readBody(response), changed: true };
  }

  /**
   * @param {string} method @param {string} path @param {unknown} body @param {Record<string, string>} extra
   * @returns {Promise<Response>}
   */
  async send(method, path, body, extra) {
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json', 'x-drplan-client': 'dashboard', ...extra };
    const token = this.token;
    if (token !== null && token !== '') headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      // no-store: the ETag dance is ours, the browser cache would hide 304s for 202 and 417.
      response = await fetch(new URL(path, document.baseURI), { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new Unreachable(`cannot reach the drplan API (${error instanceof Error ? error.message : String(error)})`);
    }
    if (response.status === 401) {
      const answer = await readBody(response);
      throw new Unauthorized(token === null || token === '' ? 'This drplan API needs a bearer token.' : `The token was refused: ${answer?.message ?? 'unauthorized'}.`);
    }
    return response;
  }
}

/** @param {Response} response */
async function readBody(response) {
  const text = await response.text();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new Unreachable(`the server answered ${response.status} with something that is not JSON`);
  }
}

/** `v1/service/<service>/<rest>` with every name encoded. @param {string} service @param {...string} rest */
export function servicePath(service, ...rest) {
  return ['v1', 'service', service, ...rest].map((part, i) => (i < 2 ? part : encodeURIComponent(part))).join('/');
}
