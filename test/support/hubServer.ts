// A stand-in for the Hugging Face Hub on loopback, serving the endpoints MechLens' client uses, for tests
// that must never touch the real network:
//   GET /api/models/ORG/NAME/revision/REV?blobs=true   commit + files with size, git blob id, LFS sha256
//   GET /ORG/NAME/resolve/REV/FILE                     small files directly (ETag = git blob id); LFS files
//                                                      as a 302 to a second server (another origin, like the
//                                                      CDN) with X-Repo-Commit / X-Linked-Etag / X-Linked-Size
// Both honour Range. Faults on demand: a gated repo (401 without the token), a corrupt file (other bytes
// than the listed hash), a connection dropped mid-file, a pause mid-file (to cancel during a download).
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  id: string;
  commit: string;
  /** Branches and tags → commit (main is added). */
  refs?: Record<string, string>;
  files: Record<string, Buffer>;
  gated?: boolean;
  /** Files served with one byte flipped (their listed hash stays the true one). */
  corrupt?: string[];
  /** File → bytes after which the next `times` responses drop the connection. */
  dropAfter?: Record<string, { bytes: number; times: number }>;
  /** File → bytes after which a fresh (not resumed) response pauses until `release()` (cancel, stalls). */
  pauseAfter?: Record<string, number>;
}

export interface RequestLog {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

export interface FakeHub {
  /** HF_ENDPOINT for the tests. */
  url: string;
  requests: RequestLog[];
  release(): void;
  close(): Promise<void>;
}

export const TOKEN = 'hf_test_token_0123456789';

const isLfs = (path: string) => path.endsWith('.safetensors') || path.endsWith('.bin') || path.endsWith('.h5');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitBlobId = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** `port`: where the Hub listens (0: any free port); the e2e suite fixes it so HF_ENDPOINT is known before VS Code starts. */
export async function startFakeHub(repos: FakeRepo[], port = 0): Promise<FakeHub> {
  const requests: RequestLog[] = [];
  const paused: Array<() => void> = [];
  const drops = new Map<string, number>();
  const byId = new Map(repos.map((r) => [r.id, r]));
  // Keyed by repo and hash: repos made from one fixture share blobs but not their faults.
  const byHash = new Map<string, { repo: FakeRepo; path: string }>();
  for (const r of repos) for (const [p, b] of Object.entries(r.files)) if (isLfs(p)) byHash.set(`${r.id}/${sha256(b)}`, { repo: r, path: p });

  const log = (server: 'hub' | 'cdn', req: http.IncomingMessage) =>
    requests.push({ server, method: req.method ?? '', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });

  /** Sends `data` (honouring Range), with the repo's faults for `path`. */
  const sendFile = (req: http.IncomingMessage, res: http.ServerResponse, repo: FakeRepo, path: string, headers: Record<string, string>) => {
    let data = repo.files[path]!;
    if (repo.corrupt?.includes(path)) {
      data = Buffer.from(data);
      data[data.length >> 1] = data[data.length >> 1]! ^ 0xff;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) start = Number(m[1]);
    if (start >= data.length && data.length > 0) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` });
      res.end();
      return;
    }
    const body = data.subarray(start);
    res.writeHead(m ? 206 : 200, { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes', ...(m ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    const key = `${repo.id}/${path}`;
    const drop = repo.dropAfter?.[path];
    const dropped = drops.get(key) ?? 0;
    if (drop && dropped < drop.times && body.length > drop.bytes) {
      drops.set(key, dropped + 1);
      res.write(body.subarray(0, drop.bytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const pause = repo.pauseAfter?.[path];
    if (pause !== undefined && !m && body.length > pause) {
      res.write(body.subarray(0, pause));
      paused.push(() => res.end(body.subarray(pause)));
      return;
    }
    res.end(body);
  };

  const gatedRefusal = (req: http.IncomingMessage, res: http.ServerResponse, repo: FakeRepo | undefined): boolean => {
    if (!repo) {
      // As the Hub: an unknown repo is 401 (a private one would be indistinguishable).
      res.writeHead(401, { 'x-error-code': 'RepositoryNotFound', 'x-error-message': 'Repository not found' });
      res.end('{"error":"Repository not found"}');
      return true;
    }
    if (repo.gated && req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'x-error-code': 'GatedRepo', 'x-error-message': 'Access to this model is restricted' });
      res.end('{"error":"gated"}');
      return true;
    }
    return false;
  };

  const commitOf = (repo: FakeRepo, rev: string) => (rev === repo.commit ? rev : ({ main: repo.commit, ...repo.refs } as Record<string, string>)[rev]);

  const cdn = http.createServer((req, res) => {
    log('cdn', req);
    const m = /^\/blobs\/([^/]+\/[^/]+)\/([0-9a-f]{64})/.exec(req.url ?? '');
    const hash = m?.[2];
    const hit = m ? byHash.get(`${m[1]}/${hash}`) : undefined;
    if (!hit) {
      res.writeHead(404).end();
      return;
    }
    sendFile(req, res, hit.repo, hit.path, { etag: `"${hash}"` });
  });
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;

  const hub = http.createServer((req, res) => {
    log('hub', req);
    const url = new URL(req.url ?? '/', 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) {
      const repo = byId.get(api[1]!);
      if (gatedRefusal(req, res, repo)) return;
      const commit = commitOf(repo!, decodeURIComponent(api[2]!));
      if (!commit) {
        res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
        return;
      }
      const siblings = Object.entries(repo!.files).map(([rfilename, b]) => ({
        rfilename,
        size: b.length,
        blobId: gitBlobId(isLfs(rfilename) ? Buffer.from(`pointer ${sha256(b)}`) : b),
        ...(isLfs(rfilename) ? { lfs: { sha256: sha256(b), size: b.length, pointerSize: 134 } } : {}),
      }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: repo!.id, sha: commit, gated: repo!.gated ? 'manual' : false, siblings }));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const repo = byId.get(resolve[1]!);
      if (gatedRefusal(req, res, repo)) return;
      const commit = commitOf(repo!, decodeURIComponent(resolve[2]!));
      const path = resolve[3]!.split('/').map(decodeURIComponent).join('/');
      const data = repo!.files[path];
      if (!commit || !data) {
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
        return;
      }
      if (isLfs(path)) {
        res.writeHead(302, { location: `${cdnUrl}/blobs/${repo!.id}/${sha256(data)}?signature=abc`, 'x-repo-commit': commit, 'x-linked-etag': `"${sha256(data)}"`, 'x-linked-size': String(data.length) });
        res.end();
        return;
      }
      sendFile(req, res, repo!, path, { etag: `"${gitBlobId(data)}"`, 'x-repo-commit': commit });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => hub.listen(port, '127.0.0.1', r));
  const hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;

  return {
    url: hubUrl,
    requests,
    release() {
      for (const p of paused.splice(0)) p();
    },
    async close() {
      for (const p of paused.splice(0)) p();
      hub.closeAllConnections();
      cdn.closeAllConnections();
      await Promise.all([new Promise((r) => hub.close(r)), new Promise((r) => cdn.close(r))]);
    },
  };
}
