import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface TokenEndpoint {
  /** What to give as AZURE_AUTHORITY_HOST. */
  authorityHost: string;
  /** Token requests seen, without their secrets. */
  requests: Array<{ clientId: string; scope: string; secretMatched: boolean }>;
  stop(): Promise<void>;
}

const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A stand-in for Azure AD's token endpoint over HTTPS: the OpenID configuration MSAL reads, and
 * client-credential tokens for `clientSecret` only (401 invalid_client otherwise). The tokens are
 * unsigned JWTs shaped as Azurite's `--oauth basic` mode checks them: issuer, audience, lifetime.
 */
export async function startTokenEndpoint(options: { cert: Buffer; key: Buffer; tenantId: string; clientSecret: string }): Promise<TokenEndpoint> {
  const requests: TokenEndpoint['requests'] = [];
  let base = '';
  const server: Server = createServer({ cert: options.cert, key: options.key }, (request, response) => {
    const url = new URL(request.url ?? '/', base);
    const send = (status: number, body: object): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method === 'GET' && url.pathname.endsWith('/.well-known/openid-configuration')) {
      const tenant = `${base}/${options.tenantId}`;
      send(200, {
        token_endpoint: `${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${tenant}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${tenant}/oauth2/v2.0/logout`,
        jwks_uri: `${tenant}/discovery/v2.0/keys`,
        issuer: `${tenant}/v2.0`,
        response_types_supported: ['code', 'token'],
      });
      return;
    }
    if (request.method === 'POST' && url.pathname.endsWith('/oauth2/v2.0/token')) {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const form = new URLSearchParams(body);
        const secretMatched = form.get('client_secret') === options.clientSecret;
        requests.push({ clientId: form.get('client_id') ?? '', scope: form.get('scope') ?? '', secretMatched });
        if (!secretMatched) {
          send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.', error_codes: [7000215] });
          return;
        }
        const now = Math.floor(Date.now() / 1000);
        const token = [
          base64url({ alg: 'RS256', typ: 'JWT' }),
          base64url({ aud: 'https://storage.azure.com', iss: `https://sts.windows.net/${options.tenantId}/`, iat: now - 60, nbf: now - 60, exp: now + 3600, appid: form.get('client_id'), tid: options.tenantId }),
          'unsigned',
        ].join('.');
        send(200, { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: token });
      });
      return;
    }
    send(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { authorityHost: base, requests, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
