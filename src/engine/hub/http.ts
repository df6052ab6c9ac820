// HTTP for the Hub client on node's http/https (no dependency): the endpoint (HF_ENDPOINT), the token
// (HF_TOKEN, else the token file huggingface_hub's login writes), redirects followed by hand so the token
// goes only to the endpoint's own origin (LFS files redirect to a CDN with signed URLs), and an optional
// proxy (an http:// proxy; https targets go through a CONNECT tunnel), from the CLI's environment or from
// VS Code's http.proxy setting. Node's fetch cannot take a proxy without the undici package, hence this.
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import { hfHome } from './cache';
import type { Env } from './cache';

export interface ProxyOptions {
  /** http://[user:pass@]host:port */
  url: string;
  /** Hosts that bypass the proxy (NO_PROXY / http.noProxy): exact names, `.suffix` or `*`. */
  noProxy?: string[];
  /** A Proxy-Authorization header value (VS Code's http.proxyAuthorization). */
  authorization?: string;
}

export interface HubConnection {
  /** Base URL, no trailing slash. */
  endpoint: string;
  token?: string;
  proxy?: ProxyOptions;
  /** Verify TLS certificates (false only when the user turned VS Code's http.proxyStrictSSL off). */
  strictSSL?: boolean;
  /** Seconds without a byte before a request is abandoned (a stalled connection). */
  idleTimeoutMs?: number;
  userAgent?: string;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** The endpoint from HF_ENDPOINT (validated: http or https, no credentials in it), else the Hub. */
export function hubEndpoint(env: Env = process.env): string {
  const raw = env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(`HF_ENDPOINT "${raw}" is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UserError(`HF_ENDPOINT "${raw}" must be an http or https URL.`);
  if (url.username || url.password) throw new UserError('HF_ENDPOINT must not hold credentials; put the token in HF_TOKEN.');
  return raw.replace(/\/+$/, '');
}

/**
 * The token: HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the file HF_TOKEN_PATH, else HF_HOME/token
 * (where `hf auth login` / `huggingface-cli login` write it). Undefined when there is none.
 */
export function hubToken(env: Env = process.env): string | undefined {
  const fromEnv = (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN)?.trim();
  if (fromEnv) return fromEnv;
  const file = env.HF_TOKEN_PATH || join(hfHome(env), 'token');
  try {
    if (!existsSync(file)) return undefined;
    const t = readFileSync(file, 'utf8').trim();
    return t.length > 0 && t.length < 4096 && !/\s/.test(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/** HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), as curl and huggingface_hub's requests read them. */
export function proxyFromEnv(env: Env = process.env): ProxyOptions | undefined {
  const url = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy;
  if (!url) return undefined;
  const noProxy = (env.NO_PROXY || env.no_proxy || '').split(',').map((s) => s.trim()).filter(Boolean);
  return { url, noProxy };
}

/** Everything the CLI needs from its environment to reach the Hub. */
export function connectionFromEnv(env: Env = process.env): HubConnection {
  return { endpoint: hubEndpoint(env), token: hubToken(env), proxy: proxyFromEnv(env) };
}

/** VS Code's proxy settings (http.proxy, http.noProxy, http.proxyAuthorization, http.proxyStrictSSL). */
export interface EditorProxySettings {
  proxy?: string;
  noProxy?: string[];
  proxyAuthorization?: string | null;
  proxyStrictSSL?: boolean;
}

/**
 * The extension's connection: endpoint and token from the environment as the CLI reads them, the proxy
 * from VS Code's settings when one is set there (else HTTPS_PROXY; VS Code itself also routes the extension
 * host's requests through the system proxy when http.proxySupport is on).
 */
export function connectionFromSettings(settings: EditorProxySettings, env: Env = process.env): HubConnection {
  const base = connectionFromEnv(env);
  if (!settings.proxy) return { ...base, strictSSL: settings.proxyStrictSSL ?? true };
  return {
    ...base,
    strictSSL: settings.proxyStrictSSL ?? true,
    proxy: { url: settings.proxy, noProxy: settings.noProxy ?? base.proxy?.noProxy, authorization: settings.proxyAuthorization ?? undefined },
  };
}

function bypassesProxy(host: string, noProxy: string[] | undefined): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  // Loopback never goes through a proxy (curl and requests behave the same with the usual NO_PROXY).
  if (h === 'localhost' || h === '127.0.0.1' || h === '::1') return true;
  return (noProxy ?? []).some((p) => {
    const rule = p.toLowerCase().replace(/:\d+$/, '');
    if (rule === '*') return true;
    const suffix = rule.startsWith('.') ? rule : `.${rule}`;
    return h === rule.replace(/^\./, '') || h.endsWith(suffix);
  });
}

export interface HubResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: string;
  body: http.IncomingMessage;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Redirects to follow (LFS: one hop to the CDN). */
  maxRedirects?: number;
}

/**
 * One request, redirects followed. The token is sent only to the endpoint's origin; a response is returned
 * for any status (the caller decides what a 401 means). The body must be consumed or destroyed.
 */
export async function hubRequest(conn: HubConnection, url: string, options: RequestOptions = {}): Promise<HubResponse> {
  const origin = new URL(conn.endpoint).origin;
  let current = url;
  for (let hop = 0; ; hop++) {
    const u = new URL(current);
    const headers: Record<string, string> = { 'user-agent': conn.userAgent ?? 'mechlens', 'accept-encoding': 'identity', ...options.headers };
    if (conn.token && u.origin === origin) headers.authorization = `Bearer ${conn.token}`;
    const res = await send(conn, u, options.method ?? 'GET', headers, options.signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location && status !== 304) {
      res.resume();
      if (hop >= (options.maxRedirects ?? 5)) throw new UserError(`Too many redirects from ${url}.`);
      const next = new URL(location, u);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new UserError(`${url} redirected to a ${next.protocol} URL, which is refused.`);
      // A redirect from https to plain http would expose what follows.
      if (u.protocol === 'https:' && next.protocol === 'http:') throw new UserError(`${url} redirected from https to plain http, which is refused.`);
      current = next.toString();
      continue;
    }
    return { status, headers: res.headers, url: current, body: res };
  }
}

function send(conn: HubConnection, u: URL, method: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<http.IncomingMessage> {
  return new Promise((resolveResponse, reject) => {
    const isHttps = u.protocol === 'https:';
    const proxy = conn.proxy && !bypassesProxy(u.hostname, conn.proxy.noProxy) ? conn.proxy : undefined;
    const base: https.RequestOptions = {
      method,
      headers,
      signal,
      rejectUnauthorized: conn.strictSSL ?? true,
      servername: isHttps ? u.hostname : undefined,
    };
    let req: http.ClientRequest;
    if (proxy && !isHttps) {
      // Plain http through a proxy: the request line carries the absolute URL.
      const p = new URL(proxy.url);
      const proxyHeaders = { ...headers, host: u.host, ...proxyAuthHeader(proxy) };
      req = http.request({ ...base, host: p.hostname, port: p.port || 80, path: u.toString(), headers: proxyHeaders });
    } else if (proxy) {
      req = https.request({
        ...base,
        host: u.hostname,
        port: u.port || 443,
        path: `${u.pathname}${u.search}`,
        // No agent: with one, node would open its own TLS connection and ignore createConnection.
        createConnection: (_opts, onConnect) => {
          tunnel(proxy, u, conn, signal).then(
            (socket) => onConnect?.(null, socket),
            (e: Error) => onConnect?.(e, undefined as unknown as Duplex),
          );
          return undefined;
        },
      } as https.RequestOptions);
    } else {
      req = (isHttps ? https : http).request({ ...base, host: u.hostname, port: u.port || (isHttps ? 443 : 80), path: `${u.pathname}${u.search}` });
    }
    const idle = conn.idleTimeoutMs ?? 60_000;
    // The socket's idle limit holds until the response body ends: a stalled download fails instead of hanging.
    let response: http.IncomingMessage | undefined;
    req.setTimeout(idle, () => {
      const e = Object.assign(new Error(`no data from ${u.host} for ${idle / 1000} s`), { code: 'ETIMEDOUT' });
      // Once the body streams, its reader must see why it ended (destroying the request alone says "aborted").
      if (response) response.destroy(e);
      req.destroy(e);
    });
    req.on('response', (res) => {
      response = res;
      resolveResponse(res);
    });
    req.on('error', (e) => reject(unreachable(e, u)));
    req.end();
  });
}

/**
 * A failed connection (no network, a refused port, an unknown host, a stalled answer) as a user-facing error
 * naming the host; its errno code is kept, so a dropped download is still resumed and retried. A cancel stays
 * an AbortError.
 */
function unreachable(e: Error, u: URL): Error {
  if (e.name === 'AbortError' || e instanceof UserError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  return Object.assign(new UserError(`Cannot reach ${u.host} (${code ? `${code}: ` : ''}${e.message}). Downloads need the network (or HF_ENDPOINT / HTTPS_PROXY pointing at a reachable server); models already on disk work offline.`), { code });
}

function proxyAuthHeader(proxy: ProxyOptions): Record<string, string> {
  if (proxy.authorization) return { 'proxy-authorization': proxy.authorization };
  const p = new URL(proxy.url);
  if (!p.username) return {};
  const creds = `${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(creds).toString('base64')}` };
}

/** A TLS socket to `target` through the proxy's CONNECT method. */
function tunnel(proxy: ProxyOptions, target: URL, conn: HubConnection, signal: AbortSignal | undefined): Promise<tls.TLSSocket> {
  return new Promise((resolveSocket, reject) => {
    const p = new URL(proxy.url);
    if (p.protocol !== 'http:') {
      reject(new UserError(`Proxy ${p.protocol}// URLs are not supported; give an http:// proxy.`));
      return;
    }
    const authority = `${target.hostname}:${target.port || 443}`;
    const req = http.request({ host: p.hostname, port: p.port || 80, method: 'CONNECT', path: authority, headers: { host: authority, ...proxyAuthHeader(proxy) }, signal });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new UserError(`The proxy ${p.host} refused the connection to ${authority} (HTTP ${res.statusCode}).`));
        return;
      }
      const secure = tls.connect({ socket, servername: target.hostname, rejectUnauthorized: conn.strictSSL ?? true });
      secure.once('secureConnect', () => resolveSocket(secure));
      secure.once('error', (e) => reject(unreachable(e, target)));
    });
    req.on('error', (e) => reject(unreachable(e, p)));
    req.end();
  });
}

/** A response body as text (bounded: API answers are small; a huge one is refused). */
export async function readBody(res: HubResponse, maxBytes = 64 * 2 ** 20): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > maxBytes) {
      res.body.destroy();
      throw new UserError(`${res.url}: the answer is larger than ${maxBytes} bytes.`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
