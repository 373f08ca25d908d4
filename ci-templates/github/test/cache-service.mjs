// A small local stand-in for GitHub's cache service (the v2 twirp API @actions/cache
// talks to: CreateCacheEntry, FinalizeCacheEntryUpload, GetCacheEntryDownloadURL).
// GitHub's service cannot run outside GitHub, so this mocks its HTTP API; the blobs go
// to a real Azurite (Azure Blob emulator) through signed (SAS) upload/download URLs,
// exactly the way the real service hands out URLs of its Azure storage.

import http from 'node:http';
import crypto from 'node:crypto';
import {
  BlobSASPermissions,
  BlobServiceClient,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

// Azurite's well-known development account.
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const SERVICE = '/twirp/github.actions.results.api.v1.CacheService/';

/**
 * Starts the stand-in. `blobEndpoint` is Azurite's, e.g. http://127.0.0.1:10000/devstoreaccount1.
 * Returns { url, entries, calls, close }.
 */
export async function startCacheService({ blobEndpoint, token = 'test-runtime-token', container = 'actions-cache' }) {
  const credential = new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY);
  const blobs = new BlobServiceClient(blobEndpoint, credential).getContainerClient(container);
  await blobs.createIfNotExists();

  const entries = []; // { key, version, blob, size, finalized, id, created }
  const calls = [];
  let nextId = 1;

  const sign = (blob, permissions) => {
    const now = Date.now();
    const sas = generateBlobSASQueryParameters(
      {
        containerName: container,
        blobName: blob,
        permissions: BlobSASPermissions.parse(permissions),
        startsOn: new Date(now - 60_000),
        expiresOn: new Date(now + 3600_000),
        protocol: SASProtocol.HttpsAndHttp,
      },
      credential,
    );
    return `${blobs.getBlobClient(blob).url}?${sas.toString()}`;
  };

  const methods = {
    CreateCacheEntry({ key, version }) {
      if (entries.some((e) => e.key === key && e.version === version && e.finalized)) {
        return { ok: false, message: `cache entry ${key} already exists` };
      }
      const blob = `${crypto.randomUUID()}.tzst`;
      entries.push({ key, version, blob, size: 0, finalized: false, id: nextId++, created: Date.now() });
      return { ok: true, signed_upload_url: sign(blob, 'cw') };
    },
    FinalizeCacheEntryUpload({ key, version, size_bytes: size }) {
      const e = entries.findLast((x) => x.key === key && x.version === version && !x.finalized);
      if (!e) return { ok: false, message: `no upload of ${key} in progress` };
      e.finalized = true;
      e.size = Number(size);
      return { ok: true, entry_id: String(e.id) };
    },
    GetCacheEntryDownloadURL({ key, restore_keys: restoreKeys = [], version }) {
      const done = entries.filter((e) => e.version === version && e.finalized).sort((a, b) => b.created - a.created || b.id - a.id);
      // Like GitHub: the exact key first, then each restore key as a prefix, newest first.
      let hit = done.find((e) => e.key === key);
      for (const prefix of restoreKeys) hit ??= done.find((e) => e.key.startsWith(prefix));
      if (!hit) return { ok: false, signed_download_url: '', matched_key: '' };
      return { ok: true, signed_download_url: sign(hit.blob, 'r'), matched_key: hit.key };
    },
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const reply = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      const method = req.url.startsWith(SERVICE) ? req.url.slice(SERVICE.length) : undefined;
      if (req.method !== 'POST' || !methods[method]) return reply(404, { code: 'bad_route', msg: `no ${req.method} ${req.url}` });
      if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { code: 'unauthenticated', msg: 'bad token' });
      let request;
      try {
        request = JSON.parse(body);
      } catch {
        return reply(400, { code: 'malformed', msg: 'body is not JSON' });
      }
      calls.push({ method, request });
      reply(200, methods[method](request));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    token,
    entries,
    calls,
    blobs,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
